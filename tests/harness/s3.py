"""A throwaway S3-compatible server on loopback: versitygw (hack/build-binaries.sh builds it from its
Go module), the backup tests' object store.

It is real software, not a mock: versitygw's posix backend serves the buckets as directories and the
objects as files under the server's data directory, and checks every request's AWS Signature V4
against its root account's access key and generated secret.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import boto3
from botocore.config import Config

from tests.harness.binaries import built
from tests.harness.processes import LOOPBACK, HarnessError, free_port, spawn, stop_process_group, wait_until

START_TIMEOUT: Final = 30.0
REGION: Final = "us-east-1"
HEALTH_PATH: Final = "/health"  # answered 200 without authentication


def binary() -> Path:
    return built("versitygw", "VERSITYGW_VERSION")


@dataclass(frozen=True)
class S3Server:
    """How to reach a running server as its root account; serialisable to the state file."""

    endpoint: str  # http://127.0.0.1:<port>
    access_key: str
    secret_key: str
    directory: str
    pid: int

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> S3Server:
        return cls(**json.loads(text))


def start_s3(directory: Path) -> S3Server:
    """Start a fresh server whose buckets live in `directory`/data, its log in `directory`/server.log."""
    data, log = directory / "data", directory / "server.log"
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = S3Server(
        endpoint=f"http://{LOOPBACK}:{port}",
        access_key=f"AK{secrets.token_hex(9).upper()}",
        secret_key=secrets.token_urlsafe(30),
        directory=str(directory),
        pid=0,
    )
    env = {
        **os.environ,
        "ROOT_ACCESS_KEY_ID": server.access_key,
        "ROOT_SECRET_ACCESS_KEY": server.secret_key,
        "VGW_PORT": f"{LOOPBACK}:{port}",
        "VGW_HEALTH": HEALTH_PATH,
        "VGW_QUIET": "true",
    }
    process = spawn([str(binary()), "posix", str(data)], log, env=env)
    server = S3Server(**{**asdict(server), "pid": process.pid})
    try:
        wait_until(lambda: is_running(server), START_TIMEOUT, f"versitygw on {server.endpoint}")
    except HarnessError as error:
        stop_process_group(server.pid)
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
        raise HarnessError(f"{error}\n--- {log} ---\n{tail}") from error
    return server


def stop_s3(server: S3Server, *, remove_data: bool = True) -> None:
    stop_process_group(server.pid)
    if remove_data:
        shutil.rmtree(server.directory, ignore_errors=True)


def is_running(server: S3Server) -> bool:
    """The server answers its health check (it listens and serves HTTP)."""
    try:
        with urllib.request.urlopen(f"{server.endpoint}{HEALTH_PATH}", timeout=3) as response:  # noqa: S310 - our loopback URL
            return int(response.status) == 200
    except Exception:  # noqa: BLE001 - any failure to answer means "not usable"
        return False


def s3_client(server: S3Server, *, secret_key: str | None = None) -> Any:
    """A boto3 S3 client of the server's root account (or of another `secret_key`, to be refused)."""
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key if secret_key is None else secret_key,
        config=Config(s3={"addressing_style": "path"}),
    )


def create_bucket(server: S3Server, name: str) -> None:
    s3_client(server).create_bucket(Bucket=name)
