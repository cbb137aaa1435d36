"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives: the relay of tests and demo."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.harness.processes import LOOPBACK, free_port


@dataclass
class Received:
    sender: str
    recipients: list[str]
    content: bytes


@dataclass
class SmtpSink:
    """Accepts mail (after AUTH when a login is set) and records it in `received`."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    _controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), content))
        return "250 Message accepted for delivery"

    def _authenticate(self, *args: Any) -> AuthResult:
        data = args[-1]  # aiosmtpd calls (server, session, envelope, mechanism, data)
        if isinstance(data, LoginPassword):
            ok = data.login.decode() == self.username and data.password.decode() == self.password
            return AuthResult(success=ok, handled=False)
        return AuthResult(success=False, handled=False)

    def start(self) -> SmtpSink:
        auth: dict[str, Any] = {}
        if self.username is not None:
            auth = {"authenticator": self._authenticate, "auth_required": True, "auth_require_tls": False}
        self._controller = Controller(self, hostname=LOOPBACK, port=self.port, **auth)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
