"""The chaos run's network cut (tests/harness/tcp_proxy.py), with real sockets on loopback: it forwards,
a cut closes what is open and drops what comes, a heal lets connections through again."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from tests.harness.processes import LOOPBACK, free_port, wait_until
from tests.harness.tcp_proxy import TcpProxy

TIMEOUT = 5.0


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A server that sends back every line it gets, a thread per connection."""
    listener = socket.create_server((LOOPBACK, 0))
    stopping = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while data := conn.recv(4096):
                conn.sendall(data)

    def accept() -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield int(listener.getsockname()[1])
    stopping.set()
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)
    listener.close()


@pytest.fixture
def proxy(echo_port: int) -> Iterator[TcpProxy]:
    with TcpProxy(LOOPBACK, echo_port) as running:
        yield running


def _connect(port: int) -> socket.socket:
    return socket.create_connection((LOOPBACK, port), timeout=TIMEOUT)


def _echoes(sock: socket.socket, text: bytes = b"ping\n") -> bool:
    sock.sendall(text)
    return sock.recv(4096) == text


def _dropped(port: int) -> bool:
    """Whether a new connection is closed before a byte goes through: the reset may come before
    connect() has returned (on loopback it often does), or at the first read."""
    try:
        sock = _connect(port)
    except ConnectionResetError:
        return True
    with sock:
        return _closed(sock)


def _closed(sock: socket.socket) -> bool:
    """Whether the other end has closed the connection: a read gives EOF or a reset."""
    try:
        return sock.recv(4096) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def test_the_proxy_forwards_both_ways_and_counts(proxy: TcpProxy) -> None:
    with _connect(proxy.port) as first, _connect(proxy.port) as second:
        assert _echoes(first) and _echoes(second, b"pong\n")
        assert _echoes(first, b"again\n")
    assert proxy.counts.forwarded == 2 and proxy.counts.dropped == 0


def test_a_cut_closes_open_connections_and_drops_new_ones_until_healed(proxy: TcpProxy) -> None:
    with _connect(proxy.port) as before:
        assert _echoes(before)
        proxy.cut()
        assert _closed(before), "an open connection is closed by the cut"
    wait_until(lambda: proxy.open_connections == 0, TIMEOUT, "the cut connection to be forgotten")

    assert _dropped(proxy.port), "a new connection is accepted, then closed before a byte goes through"
    assert proxy.counts.dropped == 1 and proxy.counts.cut == 1

    proxy.heal()
    with _connect(proxy.port) as after:
        assert _echoes(after)


def test_a_server_that_does_not_answer_closes_the_client() -> None:
    with TcpProxy(LOOPBACK, free_port()) as proxy:
        assert _dropped(proxy.port)
        wait_until(lambda: proxy.counts.unreachable == 1, TIMEOUT, "the failed connect to be counted")


def test_stop_ends_every_connection(echo_port: int) -> None:
    proxy = TcpProxy(LOOPBACK, echo_port).start()
    port = proxy.port
    with _connect(port) as sock:
        assert _echoes(sock)
        proxy.stop()
        assert _closed(sock)
    with pytest.raises(ConnectionError):  # refused, or reset when the kernel had queued it
        _connect(port).close()
