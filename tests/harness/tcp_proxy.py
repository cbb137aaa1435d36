"""A loopback TCP proxy in front of one server, whose network can be cut and healed at will.

An Addon that points at the proxy's port instead of the server's reaches the server through it, and
so does every app credential the operator writes from that Addon. `cut()` is the network to the
server failing: every open connection is closed at once (clients see the server close on them, as
after a reset) and every new one is accepted and closed before a byte goes through, until `heal()`.
The server itself keeps running; only the path to it is gone. Bytes are copied both ways unchanged.

Threads, not asyncio: the proxy runs beside blocking code (the chaos run, a test), and each
connection is two blocking copies. A connection is ended by shutting its sockets down, which wakes
the copying threads; the last of the two closes the sockets, so no descriptor is closed under a
thread still using it.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from tests.harness.processes import LOOPBACK

ACCEPT_POLL_SECONDS = 0.2  # how soon the accepting thread notices `stop`
CONNECT_TIMEOUT = 5.0
CHUNK = 65536


@dataclass
class ProxyCounts:
    accepted: int = 0  # connections the proxy took, forwarded or not
    forwarded: int = 0  # connected through to the server
    dropped: int = 0  # new connections closed because the network was cut
    cut: int = 0  # open connections closed by a cut
    unreachable: int = 0  # closed because the server did not answer the connect


class _Link:
    """One client connection and its connection to the server."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client, self.upstream = client, upstream
        self._lock = threading.Lock()
        self._running = 2  # the two copying threads

    def shut(self) -> None:
        """End both directions now: the copying threads wake from their reads and finish."""
        for end in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def copy(self, source: socket.socket, target: socket.socket, done: Callable[[_Link], None]) -> None:
        try:
            while chunk := source.recv(CHUNK):
                target.sendall(chunk)
        except OSError:
            pass
        self.shut()
        with self._lock:
            self._running -= 1
            last = self._running == 0
        if last:
            self.client.close()
            self.upstream.close()
            done(self)


class TcpProxy:
    """Forwards connections on `port` (a free loopback port by default) to `upstream_host:upstream_port`."""

    def __init__(self, upstream_host: str, upstream_port: int, *, port: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.counts = ProxyCounts()
        self._listener = socket.create_server((LOOPBACK, port))
        self._listener.settimeout(ACCEPT_POLL_SECONDS)
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._cut = False
        self._stopping = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, daemon=True, name=f"proxy-{self.port}")

    @property
    def host(self) -> str:
        return LOOPBACK

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def is_cut(self) -> bool:
        return self._cut

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._links)

    def start(self) -> TcpProxy:
        self._acceptor.start()
        return self

    def cut(self) -> None:
        """Close every open connection and drop every new one, until `heal`."""
        with self._lock:
            self._cut = True
            links = list(self._links)
            self.counts.cut += len(links)
        for link in links:
            link.shut()

    def heal(self) -> None:
        with self._lock:
            self._cut = False

    def stop(self) -> None:
        self._stopping.set()
        self._acceptor.join(timeout=5)
        self._listener.close()
        with self._lock:
            links = list(self._links)
        for link in links:
            link.shut()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.counts.accepted += 1
                cut = self._cut
                self.counts.dropped += cut
            if cut:
                _reset(client)
                continue
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=CONNECT_TIMEOUT)
        except OSError:
            with self._lock:
                self.counts.unreachable += 1
            _reset(client)
            return
        upstream.settimeout(None)
        link = _Link(client, upstream)
        with self._lock:
            if self._cut:  # cut while connecting: this one goes too
                self.counts.dropped += 1
                cut = True
            else:
                self._links.add(link)
                self.counts.forwarded += 1
                cut = False
        if cut:
            upstream.close()
            _reset(client)
            return
        threading.Thread(target=link.copy, args=(upstream, client, self._forget), daemon=True).start()
        link.copy(client, upstream, self._forget)

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)


def _reset(sock: socket.socket) -> None:
    """Close with a reset (SO_LINGER 0), as a network that drops the connection leaves it."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
