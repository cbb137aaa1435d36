"""The ldap Addon's directory server in tests: Debian's slapd, run as a process on a loopback port with
the project's own configuration (`addons/openldap/slapd.conf` and its schema, the same files the
image uses), never the system's service. `wipe` throws its database away, as a lost volume would."""

from __future__ import annotations

import base64
import hashlib
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tests.harness.binaries import REPO_ROOT
from tests.harness.processes import LOOPBACK, HarnessError, free_port, spawn, stop_process_group, wait_until

SLAPD: Final = Path("/usr/sbin/slapd")
CONFIG_DIR: Final = REPO_ROOT / "addons" / "openldap"
ADMIN_DN: Final = "cn=admin,dc=cloudron"
START_TIMEOUT: Final = 30.0


@dataclass
class LdapServer:
    directory: Path
    port: int
    admin_password: str
    pid: int = 0

    @property
    def host(self) -> str:
        return LOOPBACK

    @property
    def url(self) -> str:
        return f"ldap://{LOOPBACK}:{self.port}"

    def start(self) -> LdapServer:
        if not SLAPD.exists():
            raise HarnessError(f"{SLAPD} is missing: install Debian's slapd (make deps)")
        for sub in ("data", "run"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        config = self.directory / "slapd.conf"
        config.write_text(self._config())
        log = self.directory / "slapd.log"
        # -d 0: in the foreground, so that the harness owns the process; nothing logged but errors.
        process = spawn([str(SLAPD), "-f", str(config), "-h", f"{self.url}/", "-d", "0"], log)
        self.pid = process.pid
        wait_until(lambda: self._answers(process, log), START_TIMEOUT, f"slapd on {self.url} (log {log})")
        return self

    def stop(self) -> None:
        if self.pid:
            stop_process_group(self.pid)
            self.pid = 0

    def wipe(self) -> None:
        """Stop, throw the database away, start empty: what a lost volume does to the server."""
        self.stop()
        shutil.rmtree(self.directory / "data")
        self.start()

    def _config(self) -> str:
        replacements = {
            "SCHEMA_DIR": "/etc/ldap/schema",
            "CLOUDRON_SCHEMA": str(CONFIG_DIR / "cloudron.schema"),
            "RUN_DIR": str(self.directory / "run"),
            "MODULE_DIR": "/usr/lib/ldap",
            "DATA_DIR": str(self.directory / "data"),
            "ADMIN_PASSWORD_HASH": ssha(self.admin_password),
        }
        text = (CONFIG_DIR / "slapd.conf").read_text()
        for name, value in replacements.items():
            text = text.replace(f"@@{name}@@", value)
        return text

    def _answers(self, process: subprocess.Popen[bytes], log: Path) -> bool:
        if process.poll() is not None:
            raise HarnessError(
                f"slapd exited {process.returncode}: {log.read_text(errors='replace')[-2000:]}"
            )
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=1):
                return True
        except OSError:
            return False


def start_ldap_server(directory: Path) -> LdapServer:
    """A new slapd with an empty database and a new admin password."""
    return LdapServer(directory, free_port(), secrets.token_hex(16)).start()


def ssha(password: str) -> str:
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt, usedforsecurity=False).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()
