"""The app's own Redis as its pod would run it: the builder's command line, run by the real
redis-server on a free loopback port (kwok runs no container)."""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cloudron_operator.builders.redis import redis_server_args
from tests.harness.processes import LOOPBACK, free_port, wait_until


@contextmanager
def redis_from_builder(password: str | None, data: Path) -> Iterator[int]:
    """Run the command the builder gives the pod, on a free loopback port, with the password in env."""
    binary = shutil.which("redis-server")
    assert binary is not None, "redis-server is installed by hack/install-deps.sh"
    argv = redis_server_args("REDIS_PASSWORD" if password is not None else None)
    port = free_port()
    script = argv[-1].replace("--dir /data", f"--dir {shlex.quote(str(data))}")
    script += f" --port {port} --bind {LOOPBACK} --daemonize no"
    env = {**os.environ, **({"REDIS_PASSWORD": password} if password is not None else {})}
    process = subprocess.Popen(
        [*argv[:-1], script], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_until(lambda: _answers(port), 20, f"redis-server on {port}")
        yield port
    finally:
        process.terminate()
        process.wait(10)


def _answers(port: int) -> bool:
    try:
        socket.create_connection((LOOPBACK, port), timeout=0.5).close()
    except OSError:
        return False
    return True
