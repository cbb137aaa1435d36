"""The app's files as one tar stream, and back: written and read in a single pass, never staged.

Each directory of the app (its data volume, its persistent directories) is a top-level folder
of the archive. PAX headers keep long and non-ASCII names, sub-second mtimes, modes, owners
(numeric), symlinks, hard links and empty files. The app keeps running meanwhile: a file that
shrinks as it is read is padded to the size its header announced (and counted), and the SQLite
databases the manifest lists are copied with SQLite's backup API, which gives a consistent copy.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO, Final

COPY_SIZE: Final = 1024 * 1024  # tarfile's stream buffer
# What tarfile copies a file's data in. Its default (16 KiB) re-copies the whole pending stream
# buffer at each piece; a larger one allocates a fresh buffer per read. Measured in bench/backup.py.
PIECE_SIZE: Final = 256 * 1024


class ArchiveError(Exception):
    """The archive holds something that must not be extracted (a path outside its folder)."""


@dataclass
class ArchiveReport:
    files: int = 0
    bytes: int = 0
    changed_while_read: list[str] = field(default_factory=list)
    sqlite_copies: int = 0


class _Steady:
    """A file read for exactly `size` bytes: if it shrank meanwhile, the rest is zeros."""

    def __init__(self, source: BinaryIO, size: int, name: str, report: ArchiveReport) -> None:
        self._source, self._left, self._name, self._report = source, size, name, report

    def read(self, size: int = -1) -> bytes:
        wanted = self._left if size < 0 else min(size, self._left)
        data = self._source.read(wanted)
        if len(data) < wanted:
            if self._name not in self._report.changed_while_read:
                self._report.changed_while_read.append(self._name)
            data += bytes(wanted - len(data))
        self._left -= len(data)
        return data


def write_tree(
    sink: Any, roots: Mapping[str, Path], sqlite_paths: Iterable[Path] = (), skip: Iterable[str] = ()
) -> ArchiveReport:
    """Write every root (folder name -> directory) into `sink` as a tar stream; `skip`: names at a
    root's top level that are not the app's (a restore's working folders)."""
    skipped = set(skip)
    report = ArchiveReport()
    sqlite_files = {os.path.realpath(path) for path in sqlite_paths}
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT, bufsize=COPY_SIZE) as archive:
        archive.copybufsize = PIECE_SIZE  # type: ignore[attr-defined] # typeshed lacks it
        for folder, root in roots.items():
            if not root.is_dir():
                continue
            for directory, subdirs, files in os.walk(root):
                at_root = Path(directory) == root
                subdirs[:] = sorted(d for d in subdirs if not (at_root and d in skipped))
                names = sorted(f for f in files if not (at_root and f in skipped))
                base = PurePosixPath(folder) / Path(directory).relative_to(root).as_posix()
                _add(archive, Path(directory), str(base), report, sqlite_files)
                for name in names + sorted(d for d in subdirs if os.path.islink(os.path.join(directory, d))):
                    _add(archive, Path(directory) / name, str(base / name), report, sqlite_files)
    return report


def _add(
    archive: tarfile.TarFile, path: Path, arcname: str, report: ArchiveReport, sqlite_files: set[str]
) -> None:
    try:
        info = archive.gettarinfo(str(path), arcname)
    except FileNotFoundError:
        return  # deleted since it was listed: the app is running
    if info is None:  # a socket: nothing to keep
        return
    with suppress(FileNotFoundError):  # the exact time, not the float tarfile would write
        info.pax_headers = {**info.pax_headers, "mtime": _decimal_seconds(os.lstat(path).st_mtime_ns)}
    if not info.isreg():
        archive.addfile(info)
        return
    report.files += 1
    report.bytes += info.size
    if os.path.realpath(path) in sqlite_files:
        _add_sqlite(archive, path, info, report)
        return
    try:
        with path.open("rb") as source:
            archive.addfile(info, _Steady(source, info.size, arcname, report))
    except FileNotFoundError:
        return


def _add_sqlite(archive: tarfile.TarFile, path: Path, info: tarfile.TarInfo, report: ArchiveReport) -> None:
    """A consistent copy through SQLite's backup API, in a temporary file (the one thing staged)."""
    with tempfile.NamedTemporaryFile(prefix="sqlite-", suffix=".db") as copy:
        source = sqlite3.connect(path)
        target = sqlite3.connect(copy.name)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        info.size = os.path.getsize(copy.name)
        with open(copy.name, "rb") as data:
            archive.addfile(info, data)
    report.sqlite_copies += 1


def extract_tree(source: IO[bytes] | Any, destinations: Mapping[str, Path]) -> int:
    """Extract a `write_tree` stream: each top-level folder into its destination; members counted.

    Modes, mtimes and symlinks are restored as they were (owners too when run as root). Names
    that climb out of their folder, absolute names and names through a symlink are refused.
    """
    symlinks: set[str] = set()
    count = 0
    with tarfile.open(fileobj=source, mode="r|", bufsize=COPY_SIZE) as archive:
        archive.copybufsize = PIECE_SIZE  # type: ignore[attr-defined] # typeshed lacks it
        directories: list[tuple[tarfile.TarInfo, Path]] = []
        for member in archive:
            folder, relative = _split(member.name)
            if folder not in destinations:
                raise ArchiveError(f"the archive has a folder {folder!r} this app does not have")
            _refuse_through_symlink(member.name, symlinks)
            if member.issym():
                symlinks.add(member.name)
            target = destinations[folder]
            member_copy = member.replace(name=relative or ".", deep=False)
            if member.islnk():
                link_folder, link_relative = _split(member.linkname)
                if link_folder != folder:
                    raise ArchiveError(f"{member.name}: a hard link across folders")
                member_copy = member_copy.replace(linkname=str(target / link_relative), deep=False)
            if member.isdir():
                directories.append((member_copy, target))
            archive.extract(
                member_copy, target, set_attrs=not member.isdir(), numeric_owner=True, filter="fully_trusted"
            )
            if not member.isdir():  # tarfile sets a float's time, and none on a symlink itself
                _set_mtime(target / member_copy.name, member)
            count += 1
        # Directories last, deepest first, so adding their entries does not change their mtime.
        for member, target in sorted(directories, key=lambda item: item[0].name, reverse=True):
            path = target / member.name
            if os.geteuid() == 0:
                os.lchown(path, member.uid, member.gid)
            os.chmod(path, member.mode)
            _set_mtime(path, member)
    return count


def _decimal_seconds(ns: int) -> str:
    """Nanoseconds as PAX writes a time: decimal seconds, here to the nanosecond."""
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    return f"{sign}{ns // 10**9}.{ns % 10**9:09d}"


def _set_mtime(path: Path, member: tarfile.TarInfo) -> None:
    """The member's time to the nanosecond when its PAX header has one, else tarfile's float."""
    text = member.pax_headers.get("mtime", "")
    match = re.fullmatch(r"(-?)(\d+)(?:\.(\d{1,9}))?", text)
    if match:
        sign = -1 if match[1] else 1
        ns = sign * (int(match[2]) * 10**9 + int((match[3] or "").ljust(9, "0")))
    else:
        ns = round(member.mtime * 10**9)
    os.utime(path, ns=(ns, ns), follow_symlinks=False)


def _split(name: str) -> tuple[str, str]:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ArchiveError(f"{name!r} is not a path inside the archive's folders")
    return path.parts[0], str(PurePosixPath(*path.parts[1:])) if len(path.parts) > 1 else ""


def _refuse_through_symlink(name: str, symlinks: set[str]) -> None:
    parts = PurePosixPath(name).parts
    for depth in range(1, len(parts)):
        if str(PurePosixPath(*parts[:depth])) in symlinks:
            raise ArchiveError(f"{name!r} lies behind a symlink of the archive")
