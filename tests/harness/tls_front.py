"""TLS in front of a plain HTTP server on loopback, as the ingress controller is in front of an app's
Service: a browser test reaches https://<app host> (mapped to this port) and the app's pod gets the
plain request. Bytes are copied both ways; nothing is read or changed."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness.processes import LOOPBACK
from tests.harness.traefik import self_signed


@dataclass
class TlsFront:
    host: str  # the name its certificate is for
    port: int
    backend_port: int
    directory: Path
    _listener: socket.socket | None = None
    _stopped: threading.Event = field(default_factory=threading.Event)

    def start(self) -> TlsFront:
        certificate, key = self_signed([self.host])
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "tls.crt").write_bytes(certificate)
        (self.directory / "tls.key").write_bytes(key)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.directory / "tls.crt", self.directory / "tls.key")
        listener = socket.create_server((LOOPBACK, self.port))
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener, context), daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._listener is not None:
            self._listener.close()

    def _accept(self, listener: socket.socket, context: ssl.SSLContext) -> None:
        while not self._stopped.is_set():
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw, context), daemon=True).start()

    def _serve(self, raw: socket.socket, context: ssl.SSLContext) -> None:
        try:
            front = context.wrap_socket(raw, server_side=True)
            back = socket.create_connection((LOOPBACK, self.backend_port), timeout=10)
        except OSError:
            raw.close()
            return
        threading.Thread(target=_copy, args=(back, front), daemon=True).start()
        _copy(front, back)


def _copy(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        for end in (source, target):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()
