"""A static HTTP server on loopback for catalogs: serves the files of a directory with an ETag and a
Last-Modified, answers 304 to a request whose conditions match, and keeps a log of the requests.

A test can make a path answer an error status, redirect it, slow it down, and stop the server (its
port then refuses connections) and start it again on the same port.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.server
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tests.harness.processes import LOOPBACK

CONTENT_TYPE: Final = "application/json"


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    status: int
    if_none_match: str | None
    if_modified_since: str | None

    @property
    def conditional(self) -> bool:
        return self.if_none_match is not None or self.if_modified_since is not None


class CatalogServer:
    """Serves `root`'s files at http://127.0.0.1:<port>/<name>."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self._log: list[LoggedRequest] = []
        self._arrivals: dict[str, int] = {}
        self._failures: dict[str, int] = {}
        self._redirects: dict[str, str] = {}
        self._delays: dict[str, float] = {}
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen (on the port of the last start, if there was one) and serve in a thread."""
        server = http.server.ThreadingHTTPServer((LOOPBACK, self.port), _handler_for(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="catalog server", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening: a request to the port is refused until `start`."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def url(self, name: str) -> str:
        return f"http://{LOOPBACK}:{self.port}/{name}"

    def publish(self, name: str, data: bytes) -> Path:
        """Write the file (whole, by a rename), with a modification time later than the last one's."""
        path = self.root / name
        previous = path.stat().st_mtime if path.exists() else 0.0
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(data)
        moment = max(time.time(), previous + 1.0)
        os.utime(partial, (moment, moment))
        partial.replace(path)
        return path

    def fail(self, name: str, status: int) -> None:
        """Answer `status` (and no body worth reading) to every request of `name`."""
        with self._lock:
            self._failures[name] = status

    def redirect(self, name: str, target: str) -> None:
        """Answer 302 with `target` (a URL or a path) as the Location."""
        with self._lock:
            self._redirects[name] = target

    def delay(self, name: str, seconds: float) -> None:
        """Wait this long after the headers before the body of `name`."""
        with self._lock:
            self._delays[name] = seconds

    def heal(self, name: str) -> None:
        """Serve the file again, as it is."""
        with self._lock:
            self._failures.pop(name, None)
            self._redirects.pop(name, None)
            self._delays.pop(name, None)

    def requests(self, name: str | None = None) -> list[LoggedRequest]:
        """The requests so far, oldest first; of `name` only when given."""
        with self._lock:
            return [r for r in self._log if name is None or r.path == f"/{name}"]

    def arrivals(self, name: str) -> int:
        """How many requests of `name` have arrived, answered or not (the log has the answered ones)."""
        with self._lock:
            return self._arrivals.get(name, 0)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def _record(self, request: LoggedRequest) -> None:
        with self._lock:
            self._log.append(request)

    def _rule(self, name: str) -> tuple[int | None, str | None, float]:
        with self._lock:
            return self._failures.get(name), self._redirects.get(name), self._delays.get(name, 0.0)


def etag_of(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def _handler_for(server: CatalogServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def _answer(self, *, send_body: bool) -> None:
            name = self.path.split("?", 1)[0].lstrip("/")
            with server._lock:
                server._arrivals[name] = server._arrivals.get(name, 0) + 1
            failure, redirect, delay = server._rule(name)
            if failure is not None:
                self._send(failure, b"failing on purpose\n", {"Content-Type": "text/plain"}, send_body)
            elif redirect is not None:
                self._send(302, b"", {"Location": redirect}, send_body)
            else:
                self._serve_file(name, delay, send_body)

        def _serve_file(self, name: str, delay: float, send_body: bool) -> None:
            path = server.root / name
            if not name or "/" in name or name.startswith(".") or not path.is_file():
                self._send(404, b"not found\n", {"Content-Type": "text/plain"}, send_body)
                return
            data = path.read_bytes()
            etag = etag_of(data)
            modified = int(path.stat().st_mtime)
            headers = {
                "Content-Type": CONTENT_TYPE,
                "ETag": etag,
                "Last-Modified": email.utils.formatdate(modified, usegmt=True),
            }
            if self._not_modified(etag, modified):
                self._send(304, b"", headers, send_body=False)
                return
            if delay:
                self._send_headers(200, {**headers, "Content-Length": str(len(data))})
                time.sleep(delay)
                if send_body:
                    self.wfile.write(data)
                return
            self._send(200, data, headers, send_body)

        def _not_modified(self, etag: str, modified: int) -> bool:
            # RFC 9110: If-None-Match decides when present; If-Modified-Since only without it.
            tags = self.headers.get("If-None-Match")
            if tags is not None:
                return tags.strip() == "*" or etag in [t.strip() for t in tags.split(",")]
            since = self.headers.get("If-Modified-Since")
            if since is None:
                return False
            try:
                stamp = email.utils.parsedate_to_datetime(since).timestamp()
            except (TypeError, ValueError):
                return False
            return modified <= stamp

        def _send(self, status: int, body: bytes, headers: dict[str, str], send_body: bool) -> None:
            sized = headers if status == 304 else {**headers, "Content-Length": str(len(body))}
            self._send_headers(status, sized)
            if send_body and body:
                self.wfile.write(body)

        def _send_headers(self, status: int, headers: dict[str, str]) -> None:
            server._record(
                LoggedRequest(
                    self.command,
                    self.path,
                    status,
                    self.headers.get("If-None-Match"),
                    self.headers.get("If-Modified-Since"),
                )
            )
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the request log is kept in `server.requests()`."""

    return Handler
