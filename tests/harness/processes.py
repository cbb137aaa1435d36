"""Small process and network helpers shared by the local servers."""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

LOOPBACK = "127.0.0.1"


class HarnessError(RuntimeError):
    """A local server could not be built, started or reached."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    """Poll `check` until it returns True; raise HarnessError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as error:  # noqa: BLE001 - any failure means "not yet"; the last one is reported
            last_error = error
        time.sleep(interval)
    detail = f": {last_error}" if last_error else ""
    raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")


def run(
    argv: Sequence[str],
    *,
    user: str | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 600,
) -> str:
    """Run a command to completion, returning stdout; raise HarnessError with its output on failure,
    or when it has not ended after `timeout` seconds (it is killed then)."""
    try:
        result = subprocess.run(
            as_user(argv, user),
            capture_output=True,
            text=True,
            env=env,
            input=stdin,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as error:
        raise HarnessError(f"{' '.join(argv)} did not end within {timeout:.0f}s") from error
    if result.returncode != 0:
        raise HarnessError(
            f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout[-2000:]}{result.stderr[-4000:]}"
        )
    return result.stdout


def spawn(
    argv: Sequence[str], log: Path, *, user: str | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a long-running server in its own session, its output appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            as_user(argv, user),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop_process_group(pid: int, timeout: float = 20) -> None:
    """SIGTERM a process group, then SIGKILL it if it is still there after `timeout` seconds."""
    for sig, grace in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def service_user(name: str) -> str | None:
    """The account a database server must run as: itself when we are not root (servers refuse root)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(name)
    except KeyError as error:
        raise HarnessError(f"user {name!r} is missing; install the server's Debian package") from error
    return name


def as_user(argv: Sequence[str], user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--", *argv] if user else list(argv)


def chown_tree(path: Path, user: str | None) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)]:
            os.chown(name, entry.pw_uid, entry.pw_gid)
