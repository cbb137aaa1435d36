"""A real TURN server on loopback: Debian's coturn `turnserver`, with a shared secret (use-auth-secret),
in a temp directory of its own; and coturn's own client to try an allocation against it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cloudron_operator.addons.base import AddonProblem
from cloudron_operator.addons.turn import stun_binding
from tests.harness.processes import LOOPBACK, HarnessError, free_port, spawn, stop_process_group, wait_until

REALM = "cloudron.test"
RELAY_PORTS = 50  # relay ports per server, from a free range above the listening port
CREDENTIAL_SECONDS = 3600


@dataclass
class TurnServer:
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    port: int = field(default_factory=free_port)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cloudron-turn-")))
    _pid: int | None = None

    def start(self) -> TurnServer:
        binary = shutil.which("turnserver")
        if binary is None:
            raise HarnessError("turnserver is not installed: run hack/install-deps.sh (Debian's coturn)")
        relay_low = 49152 + (self.port % 10000)
        argv = [
            binary,
            "-n",  # no configuration file
            f"--listening-ip={LOOPBACK}",
            f"--listening-port={self.port}",
            f"--relay-ip={LOOPBACK}",
            f"--min-port={relay_low}",
            f"--max-port={relay_low + RELAY_PORTS}",
            "--use-auth-secret",
            f"--static-auth-secret={self.secret}",
            f"--realm={REALM}",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--allow-loopback-peers",
            f"--pidfile={self.directory / 'turnserver.pid'}",
            f"--log-file={self.directory / 'turnserver.log'}",
            "--simple-log",
            "--no-stdout-log",
        ]
        self.directory.mkdir(parents=True, exist_ok=True)
        self._pid = spawn(argv, self.directory / "output.log").pid
        wait_until(self._answers, 15, f"turnserver on {LOOPBACK}:{self.port}")
        return self

    @property
    def pid(self) -> int:
        if self._pid is None:
            raise HarnessError("turnserver is not running")
        return self._pid

    def _answers(self) -> bool:
        try:
            stun_binding(LOOPBACK, self.port)
        except AddonProblem:
            return False
        return True

    def stop(self) -> None:
        if self._pid is not None:
            stop_process_group(self._pid)
            self._pid = None
        shutil.rmtree(self.directory, ignore_errors=True)


def credentials(secret: str, name: str) -> tuple[str, str]:
    """Time-limited TURN credentials derived from the shared secret, as an app derives them."""
    user = f"{int(time.time()) + CREDENTIAL_SECONDS}:{name}"
    password = base64.b64encode(hmac.new(secret.encode(), user.encode(), hashlib.sha1).digest()).decode()
    return user, password


def allocate(host: str, port: int, user: str, password: str) -> bool:
    """Whether coturn's client gets a relay allocation (and echoes a few packets through it)."""
    client = shutil.which("turnutils_uclient")
    if client is None:
        raise HarnessError("turnutils_uclient is not installed: run hack/install-deps.sh (Debian's coturn)")
    argv = [client, "-y", "-n", "1", "-m", "1", "-l", "10", "-u", user, "-w", password, "-p", str(port)]
    result = subprocess.run(
        [*argv, "-e", host, host], capture_output=True, text=True, timeout=60, check=False
    )
    return result.returncode == 0 and "Cannot complete Allocation" not in result.stdout + result.stderr
