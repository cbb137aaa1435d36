"""The login service in tests: `python -m cloudron_operator login` as a process on loopback, as the
chart runs it in a pod, against the session's cluster, the directory server and the provider."""

from __future__ import annotations

import os
import secrets
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from tests.harness.processes import LOOPBACK, free_port, spawn, stop_process_group, wait_until

START_TIMEOUT: Final = 30.0


@dataclass
class LoginService:
    kubeconfig: Path
    log: Path
    ldap_url: str
    users_namespace: str
    port: int = field(default_factory=free_port)
    hydra_admin_url: str = ""  # known once the provider is started, which needs this service's URL
    session_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    pid: int = 0

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> LoginService:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "CLOUDRON_LOGIN_ADDRESS": f"{LOOPBACK}:{self.port}",
            "CLOUDRON_LOGIN_PUBLIC_URL": self.url,
            "CLOUDRON_LOGIN_HYDRA_ADMIN_URL": self.hydra_admin_url,
            "CLOUDRON_LOGIN_LDAP_URL": self.ldap_url,
            "CLOUDRON_LOGIN_USERS_NAMESPACE": self.users_namespace,
            "CLOUDRON_LOGIN_SESSION_KEY": self.session_key,
        }
        process = spawn([sys.executable, "-m", "cloudron_operator", "login"], self.log, env=env)
        self.pid = process.pid
        wait_until(self.ready, START_TIMEOUT, f"the login service on {self.url} (log {self.log})")
        return self

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as answer:  # noqa: S310
            return bool(answer.status == 200)

    def stop(self) -> None:
        if self.pid:
            stop_process_group(self.pid)
            self.pid = 0
