"""`python -m cloudron_operator backup create|restore`: the program a backup or restore Job runs.

It reads its task from CLOUDRON_BACKUP_* variables (written by the operator into the Job) and
the addon credentials from the app's own CLOUDRON_* variables. A backup writes its parts and
then its index, once; a restore checks every part before it changes anything, imports the
databases, and swaps the app's directories for the restored ones last.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from cloudron_operator.backup.archive import ArchiveError, extract_tree, write_tree
from cloudron_operator.backup.crypto import (
    CHUNK_SIZE,
    CIPHER,
    BackupKey,
    DecryptingReader,
    DecryptionError,
    Encryptor,
    KeyParameters,
)
from cloudron_operator.backup.dumps import DUMPERS, DumpError
from cloudron_operator.backup.index import (
    ADDON_OBJECTS,
    FILES_OBJECT,
    INDEX_NAME,
    AppRecord,
    BackupIndex,
    BackupRecord,
    IndexError_,
    StoredObject,
)
from cloudron_operator.backup.store import AlreadyExists, S3Store, StoreError, StoreLocation

STAGING: Final = ".cloudron-restore"  # next to the app's files, on the same volume: a rename swaps them
RETIRED: Final = ".cloudron-replaced"
HIDDEN: Final = frozenset({STAGING, RETIRED})
READ_SIZE: Final = 1024 * 1024
DIRECTORY_PREFIX: Final = "CLOUDRON_BACKUP_DIR_"


class BackupFailed(Exception):
    """What the Job's termination message says: one line, no secret."""


@dataclass(frozen=True)
class Task:
    store: StoreLocation
    folder: str  # the backup's folder under the store's prefix
    password: str | None
    directories: dict[str, Path]  # archive folder -> directory (data: /app/data, ...)
    sqlite_paths: list[Path]
    addons: list[str]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Task:
        def need(name: str) -> str:
            value = env.get(name)
            if not value:
                raise BackupFailed(f"{name} is not set")
            return value

        # One variable per directory (CLOUDRON_BACKUP_DIR_DATA=/app/data): plain paths, not JSON.
        directories = {
            name.removeprefix(DIRECTORY_PREFIX).lower(): Path(value)
            for name, value in sorted(env.items())
            if name.startswith(DIRECTORY_PREFIX) and value
        }
        missing = [str(path) for path in directories.values() if not path.is_dir()]
        if missing:
            raise BackupFailed(
                f"the app's directory {', '.join(missing)} is not there (is its volume mounted?)"
            )
        sqlite = env.get("CLOUDRON_BACKUP_SQLITE_PATHS")  # relative to the data directory
        store = StoreLocation(
            endpoint=need("CLOUDRON_BACKUP_ENDPOINT"),
            bucket=need("CLOUDRON_BACKUP_BUCKET"),
            prefix=env.get("CLOUDRON_BACKUP_PREFIX", ""),
            access_key_id=need("CLOUDRON_BACKUP_ACCESS_KEY_ID"),
            secret_access_key=need("CLOUDRON_BACKUP_SECRET_ACCESS_KEY"),
            region=env.get("CLOUDRON_BACKUP_REGION") or "us-east-1",
        )
        return cls(
            store=store,
            folder=need("CLOUDRON_BACKUP_FOLDER"),
            password=env.get("CLOUDRON_BACKUP_PASSWORD") or None,
            directories=directories,
            sqlite_paths=[directories.get("data", Path("/")) / p for p in json.loads(sqlite or "[]")],
            addons=list(json.loads(env.get("CLOUDRON_BACKUP_ADDONS", "[]"))),
        )


class _Sink:
    """Where a part is written: encrypted first when the backup has a key."""

    def __init__(self, store: S3Store, name: str, key: BackupKey | None, object_name: str) -> None:
        self._writer = store.writer(name)
        self._encryptor = Encryptor(key.object_key(object_name)) if key else None
        self.content_size = 0

    def write(self, data: bytes) -> int:
        self.content_size += len(data)
        self._writer.write(self._encryptor.update(data) if self._encryptor else data)
        return len(data)

    def finish(self, name: str, kind: str) -> StoredObject:
        if self._encryptor:
            self._writer.write(self._encryptor.finish())
        self._writer.close()
        return StoredObject(name, kind, self._writer.size, self._writer.sha256, self.content_size)

    def abort(self) -> None:
        self._writer.abort()


def create(env: Mapping[str, str]) -> BackupIndex:
    """Write a backup; its index last. Re-running a backup that completed changes nothing."""
    task = Task.from_env(env)
    try:
        record = json.loads(env["CLOUDRON_BACKUP_RECORD"])
        backup = BackupRecord(**{**record["backup"], "started_at": _now()})
        app = AppRecord(**record["app"])
    except (KeyError, TypeError, ValueError) as error:
        raise BackupFailed(f"CLOUDRON_BACKUP_RECORD is missing or not a backup's record: {error}") from error
    store = S3Store(task.store)
    existing = _read_index(store, task.folder)
    if existing is not None:
        if existing.backup.uid != backup.uid:
            raise BackupFailed(f"the store already has a different backup at {task.folder}")
        return existing
    key = None
    encryption = None
    if task.password:
        key = BackupKey.derive(task.password, KeyParameters.new())
        encryption = {
            "cipher": CIPHER,
            "chunkSize": CHUNK_SIZE,
            "kdf": key.parameters.to_json(),
            "keyCheck": key.check_value(),
        }
    objects: list[StoredObject] = []
    for addon in task.addons:
        dump = DUMPERS.get(addon)
        if dump is None:
            raise BackupFailed(f"no backup for the {addon} addon")
        name = ADDON_OBJECTS[addon]
        sink = _Sink(store, task.folder + name, key, name)
        try:
            dump[0](env, sink)
        except BaseException:
            sink.abort()
            raise
        objects.append(sink.finish(name, addon))
    sink = _Sink(store, task.folder + FILES_OBJECT, key, FILES_OBJECT)
    try:
        report = write_tree(sink, task.directories, task.sqlite_paths, skip=HIDDEN)
    except BaseException:
        sink.abort()
        raise
    objects.append(sink.finish(FILES_OBJECT, "files"))
    files = {"count": report.files, "bytes": report.bytes, "changedWhileRead": report.changed_while_read[:50]}
    index = BackupIndex(replace(backup, completed_at=_now()), app, tuple(objects), encryption, files)
    try:
        store.put_once(task.folder + INDEX_NAME, index.to_json())
    except AlreadyExists as error:
        raise BackupFailed(f"another run completed {task.folder} first") from error
    return index


def _read_index(store: S3Store, folder: str) -> BackupIndex | None:
    data = store.read(folder + INDEX_NAME)
    return None if data is None else BackupIndex.from_json(data)


class _Digest:
    """The object as it is downloaded: read a few MiB ahead by a thread of its own, which hashes
    what passes (to compare with the index at the end) while the caller extracts or imports."""

    def __init__(self, body: Any, depth: int = 8) -> None:
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=depth)
        self._digest = hashlib.sha256()
        self.size = 0
        self._chunk, self._offset, self._ended = b"", 0, False
        threading.Thread(target=self._download, args=(body,), daemon=True).start()

    def _download(self, body: Any) -> None:
        try:
            while data := body.read(READ_SIZE):
                self._digest.update(data)
                self.size += len(data)
                self._queue.put(data)
            self._queue.put(None)
        except BaseException as error:  # noqa: BLE001 - handed to the reader, which raises it
            self._queue.put(error)

    def read(self, size: int = -1, /) -> bytes:
        parts: list[bytes] = []
        wanted = size
        while wanted != 0 and not self._ended:
            if self._offset >= len(self._chunk):
                item = self._queue.get()
                if isinstance(item, BaseException):
                    raise StoreError(f"the download failed: {item}") from item
                if item is None:
                    self._ended = True
                    break
                self._chunk, self._offset = item, 0
                continue
            end = len(self._chunk) if wanted < 0 else min(len(self._chunk), self._offset + wanted)
            parts.append(self._chunk[self._offset : end])
            wanted -= end - self._offset if wanted > 0 else 0
            self._offset = end
        return b"".join(parts)

    def check(self, expected: StoredObject) -> None:
        while self.read(READ_SIZE):
            pass
        if self.size != expected.size or self._digest.hexdigest() != expected.sha256:
            raise BackupFailed(
                f"{expected.name} is corrupted or truncated (its checksum differs from the index)"
            )


def _open(store: S3Store, folder: str, item: StoredObject, key: BackupKey | None) -> tuple[_Digest, Any]:
    digest = _Digest(store.open(folder + item.name))
    return digest, (DecryptingReader(digest, key.object_key(item.name)) if key else digest)


def _drain(reader: Any) -> None:
    while reader.read(READ_SIZE):
        pass


def restore(env: Mapping[str, str]) -> BackupIndex:
    """Bring the app's databases and files back to the backup, checking everything first."""
    task = Task.from_env(env)
    store = S3Store(task.store)
    index = _read_index(store, task.folder)
    if index is None:
        raise BackupFailed(f"the store has no complete backup at {task.folder}")
    app_uid = env.get("CLOUDRON_BACKUP_APP_UID", "")
    if index.app.uid != app_uid and env.get("CLOUDRON_BACKUP_CLONE") != "true":
        raise BackupFailed(
            f"the backup is of another app ({index.app.namespace}/{index.app.name}): "
            "only a new app may clone it"
        )
    key = _restore_key(index, task.password)
    parts = {item.kind: item for item in index.objects}
    missing = [addon for addon in task.addons if addon not in parts]
    if missing:
        raise BackupFailed(f"the backup has no {', '.join(missing)} dump, which the app's manifest asks for")
    # 1. Check every database dump whole, and extract the files beside the app's, before any change.
    for kind, item in parts.items():
        if kind != "files":
            digest, reader = _open(store, task.folder, item, key)
            _drain(reader)
            digest.check(item)
    with _staged(task.directories) as staging:
        if "files" in parts:
            digest, reader = _open(store, task.folder, parts["files"], key)
            extract_tree(reader, staging)
            _drain(reader)
            digest.check(parts["files"])
        # 2. Import the databases: each import empties its database first.
        for addon in task.addons:
            digest, reader = _open(store, task.folder, parts[addon], key)
            DUMPERS[addon][1](env, reader)
            _drain(reader)
            digest.check(parts[addon])
        # 3. Swap the directories: the app's entries aside, the restored ones in, the old ones gone.
        for folder, directory in task.directories.items():
            _swap(directory, staging[folder])
    return index


@contextmanager
def _staged(directories: Mapping[str, Path]) -> Iterator[dict[str, Path]]:
    """A restore's working folder beside each of the app's directories (on the same volume, so a
    rename moves it in). If the restore stops before the swap, they go, and each directory gets its
    own times back: the app's files are as they were, to the directory's mtime."""
    times = {directory: directory.stat() for directory in directories.values()}
    staging = {folder: directory / STAGING for folder, directory in directories.items()}
    for directory in directories.values():  # what a killed restore left
        shutil.rmtree(directory / STAGING, ignore_errors=True)
        shutil.rmtree(directory / RETIRED, ignore_errors=True)
    for path in staging.values():
        path.mkdir()
    try:
        yield staging
    except BaseException:
        for folder, directory in directories.items():
            shutil.rmtree(staging[folder], ignore_errors=True)
            before = times[directory]
            os.utime(directory, ns=(before.st_atime_ns, before.st_mtime_ns))
        raise


def _restore_key(index: BackupIndex, password: str | None) -> BackupKey | None:
    if index.encryption is None:
        return None
    if not password:
        raise BackupFailed("the backup is encrypted and the store has no password")
    try:
        key = BackupKey.derive(password, KeyParameters.from_json(index.encryption["kdf"]))
    except (KeyError, TypeError, ValueError) as error:
        raise BackupFailed(f"the backup's encryption parameters are not readable: {error}") from error
    if not key.matches(str(index.encryption.get("keyCheck", ""))):
        raise BackupFailed("wrong encryption password: it is not the one this backup was made with")
    return key


def _swap(directory: Path, staging: Path) -> None:
    retired = directory / RETIRED
    retired.mkdir(exist_ok=True)
    stat = staging.stat()  # the backed-up root's own mode and times, before renames change them
    for entry in os.listdir(directory):
        if entry not in HIDDEN:
            os.rename(directory / entry, retired / entry)
    for entry in os.listdir(staging):
        os.rename(staging / entry, directory / entry)
    staging.rmdir()
    shutil.rmtree(retired)
    if os.geteuid() == 0:
        os.chown(directory, stat.st_uid, stat.st_gid)
    os.chmod(directory, stat.st_mode & 0o7777)
    os.utime(directory, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def main(command: str, env: Mapping[str, str] | None = None) -> int:
    """Run `create` or `restore`. A failure ends with one line on stderr, the last of the Job's log,
    which becomes the reason the operator reports; what this program expects says only that, an
    unexpected error comes after its traceback. Exit status 1 either way."""
    environment = os.environ if env is None else env
    try:
        index = create(environment) if command == "create" else restore(environment)
    except (BackupFailed, StoreError, DumpError, DecryptionError, ArchiveError, IndexError_) as error:
        print(f"{command} failed: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - a database or the network said no: its words, last
        traceback.print_exc()
        print(f"{command} failed: {type(error).__name__}: {error}".replace("\n", " "), file=sys.stderr)
        return 1
    summary = {"backup": index.backup.name, "size": index.size, "contents": index.contents}
    print(json.dumps(summary))
    return 0
