"""What the backup tests share: an app's files with every awkward case, a fingerprint of a tree,
databases provisioned as the operator does, a private Redis, and the program run as a process."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.harness.app_redis import redis_from_builder
from tests.harness.processes import LOOPBACK

ODD_NAMES = [
    "space name.txt",
    "ünïcödé-名前.bin",
    "new\nline",
    "quote'\"back\\slash",
    "-dash",
    "tab\there",
    "x" * 200,
]


def make_tree(root: Path, *, files: int, total_bytes: int, seed: int = 7) -> None:
    """`files` files holding `total_bytes` in all: binary, empty, deep, oddly named, linked, with
    modes and sub-second mtimes of their own, plus a SQLite database at `db/app.sqlite`."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    big = total_bytes // 2  # half the bytes in a few big files, the rest spread over the others
    sizes = [0] * files
    for index in range(4):
        sizes[index] = big // 4
    spread = total_bytes - big
    for index in range(4, files):
        sizes[index] = 0 if index % 17 == 0 else rng.randint(1, max(2, 2 * spread // files))
    for index, size in enumerate(sizes):
        depth = index % 9
        folder = root.joinpath(*[f"d{(index + level) % 5}-{level}" for level in range(depth)])
        folder.mkdir(parents=True, exist_ok=True)
        name = ODD_NAMES[index % len(ODD_NAMES)] + f".{index}" if index % 11 == 0 else f"f{index}.dat"
        path = folder / name
        path.write_bytes(os.urandom(size) if size > 4096 else rng.randbytes(size))
        os.chmod(path, rng.choice([0o600, 0o644, 0o755, 0o444, 0o640]))
        _touch(path, rng)
    (root / "links").mkdir()
    os.symlink("../f9.dat", root / "links" / "relative")
    os.symlink("/app/code/config.json", root / "links" / "absolute")
    os.symlink("missing-target", root / "links" / "dangling")
    os.symlink("../d1-0", root / "links" / "to-directory")
    os.link(root / "f9.dat", root / "links" / "hard")
    (root / "empty-dir").mkdir()
    os.chmod(root / "empty-dir", 0o750)  # noqa: S103 - a mode to restore
    (root / "db").mkdir()
    with sqlite3.connect(root / "db" / "app.sqlite") as db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        db.executemany("INSERT INTO notes (body) VALUES (?)", [(f"note {i}",) for i in range(1000)])
    db.close()
    for directory, _subdirs, _files in os.walk(root, topdown=False):
        _touch(Path(directory), rng)


def _touch(path: Path, rng: random.Random) -> None:
    microseconds = rng.randint(1_500_000_000_000_000, 1_700_000_000_000_000)
    os.utime(path, ns=(microseconds * 1000, microseconds * 1000), follow_symlinks=False)


def fingerprint(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under root (root itself as "."): kind, mode, mtime (ns), and bytes or link target."""
    entries: dict[str, tuple[Any, ...]] = {}
    for directory, subdirs, files in os.walk(root):
        for name in [".", *subdirs, *files] if directory == str(root) else [*subdirs, *files]:
            path = Path(directory) / name
            relative = os.path.normpath(os.path.relpath(path, root))
            info = path.lstat()
            mtime = info.st_mtime_ns
            if path.is_symlink():
                entries[relative] = ("link", os.readlink(path), mtime)
            elif path.is_dir():
                entries[relative] = ("dir", oct(info.st_mode), mtime)
            else:
                # A SQLite database is copied with SQLite's backup API: the same rows, not the same bytes.
                content = _sqlite_rows(path) if path.suffix == ".sqlite" else path.read_bytes()
                digest = hashlib.sha256(content).hexdigest()
                entries[relative] = ("file", oct(info.st_mode), mtime, info.st_size, digest, info.st_nlink)
    return entries


def _sqlite_rows(path: Path) -> bytes:
    with sqlite3.connect(path) as db:
        rows = "\n".join(db.iterdump()).encode()
    db.close()
    return rows


def change_everything(root: Path) -> None:
    """Edit, add and delete files so that a restore has something to undo."""
    victims = sorted(root.rglob("*.dat"))[:50]
    for path in victims[:25]:
        path.unlink()
    for path in victims[25:]:
        os.chmod(path, 0o600)
        path.write_bytes(b"changed")
    (root / "new-file").write_bytes(b"added after the backup")
    shutil.rmtree(root / "links")
    os.chmod(root, 0o700)


@contextmanager
def private_redis(data: Path, password: str) -> Iterator[dict[str, str]]:
    """An app's Redis (tests/harness/app_redis.py) with its password, as its CLOUDRON_REDIS_*."""
    with redis_from_builder(password, data) as port:
        yield {
            "CLOUDRON_REDIS_HOST": LOOPBACK,
            "CLOUDRON_REDIS_PORT": str(port),
            "CLOUDRON_REDIS_PASSWORD": password,
        }


def run_program(
    action: str, env: Mapping[str, str], *, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """`python -m cloudron_operator backup <action>` with exactly `env` (plus PATH, HOME)."""
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", tempfile.gettempdir())}
    return subprocess.run(
        [sys.executable, "-m", "cloudron_operator", "backup", action],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
