"""The platform's OpenID provider in tests: Ory Hydra (hack/build-binaries.sh builds it from its Go
module), run as a process on loopback against a database of its own in the harness's PostgreSQL,
with its login, consent and logout URLs pointing at the login service.

`--dev` is the one difference from a cluster's install: it lets the issuer be http on loopback (a
browser test has no certificate for 127.0.0.1), and with it Hydra's cookies lose Secure. A cluster
serves the issuer over https (docs/identity.md); nothing else changes.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import psycopg2
import yaml

from tests.harness.binaries import built
from tests.harness.databases import DatabaseServer
from tests.harness.processes import LOOPBACK, free_port, spawn, stop_process_group, wait_until

START_TIMEOUT: Final = 60.0


def binary() -> Path:
    return built("hydra", "HYDRA_VERSION")


@dataclass
class HydraServer:
    directory: Path
    public_port: int
    admin_port: int
    login_url: str  # the login service's base URL
    dsn: str
    pid: int = 0
    # Hydra encrypts its keys with it: the same across restarts, or it cannot read them again.
    system_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)

    @property
    def issuer(self) -> str:
        return f"http://{LOOPBACK}:{self.public_port}/"

    @property
    def admin_url(self) -> str:
        return f"http://{LOOPBACK}:{self.admin_port}"

    def config(self) -> dict[str, object]:
        return {
            "dsn": self.dsn,
            "serve": {
                "public": {"host": LOOPBACK, "port": self.public_port},
                "admin": {"host": LOOPBACK, "port": self.admin_port},
                "cookies": {"same_site_mode": "Lax"},
            },
            "urls": {
                "self": {"issuer": self.issuer},
                "login": f"{self.login_url}/login",
                "consent": f"{self.login_url}/consent",
                "logout": f"{self.login_url}/logout",
                "post_logout_redirect": f"{self.login_url}/account",
                "error": f"{self.login_url}/error",
            },
            "secrets": {"system": [self.system_secret]},
            "oidc": {"subject_identifiers": {"supported_types": ["public"]}},
            "log": {"level": "info", "format": "text", "leak_sensitive_values": False},
            "sqa": {"opt_out": True},
        }

    def start(self) -> HydraServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "hydra.yml"
        config.write_text(yaml.safe_dump(self.config()))
        log = self.directory / "hydra.log"
        subprocess.run(
            [str(binary()), "migrate", "sql", "up", "-e", "--yes", "-c", str(config)],
            check=True, capture_output=True, env={"DSN": self.dsn, "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        process = spawn([str(binary()), "serve", "all", "--dev", "-c", str(config)], log)
        self.pid = process.pid
        wait_until(self.ready, START_TIMEOUT, f"hydra on {self.admin_url} (log {log})")
        return self

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.admin_url}/health/ready", timeout=2) as answer:  # noqa: S310
            return bool(answer.status == 200)

    def stop(self) -> None:
        if self.pid:
            stop_process_group(self.pid)
            self.pid = 0

    def client(self, client_id: str) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"{self.admin_url}/admin/clients/{client_id}", timeout=5) as answer:  # noqa: S310
                found: dict[str, Any] = json.load(answer)
                return found
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise

    def clients(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.admin_url}/admin/clients?page_size=500", timeout=5) as answer:  # noqa: S310
            found: list[dict[str, Any]] = json.load(answer)
            return found


def hydra_database(server: DatabaseServer) -> str:
    """A new database and login of its own in the harness's PostgreSQL: Hydra's DSN."""
    name = f"hydra_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(18)
    connection = psycopg2.connect(
        host=server.host,
        port=server.port,
        user=server.admin_user,
        password=server.admin_password,
        dbname="postgres",
    )
    connection.autocommit = True  # CREATE DATABASE runs in no transaction (nor in `with connection`)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE ROLE {name} LOGIN PASSWORD %s", (password,))
            cursor.execute(f"CREATE DATABASE {name} OWNER {name}")
    finally:
        connection.close()
    return f"postgres://{name}:{password}@{server.host}:{server.port}/{name}?sslmode=disable&max_conns=10"


def start_hydra(directory: Path, database: DatabaseServer, login_url: str) -> HydraServer:
    return HydraServer(directory, free_port(), free_port(), login_url, hydra_database(database)).start()
