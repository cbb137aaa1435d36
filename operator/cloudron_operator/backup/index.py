"""The index of a backup: what it is of, what it holds, how it is encrypted. Pure.

A backup is a folder `<namespace>/<app>/<backup>/` under the store's prefix, with one object
per part (`files.tar`, `postgresql.sql`, `mysql.sql`, `redis.keys`) and `index.json`, written
last and once. The index is plain JSON so that a store can be listed (and a backup imported on
another cluster) without the key; it holds the app's spec and manifest, never a secret. The
parts are encrypted when the store has a password: their names say only which addon they are.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Final

FORMAT: Final = "cloudron-operator-backup/1"
INDEX_NAME: Final = "index.json"
FILES_OBJECT: Final = "files.tar"
ADDON_OBJECTS: Final = {"postgresql": "postgresql.sql", "mysql": "mysql.sql", "redis": "redis.keys"}


class IndexError_(Exception):  # IndexError is a builtin
    """The index is not one this program can read."""


def backup_folder(namespace: str, app: str, backup: str) -> str:
    return f"{namespace}/{app}/{backup}/"


@dataclass(frozen=True)
class StoredObject:
    name: str  # relative to the backup's folder
    kind: str  # files | postgresql | mysql | redis
    size: int  # bytes stored
    sha256: str  # of the bytes stored
    content_size: int  # bytes before encryption


@dataclass(frozen=True)
class AppRecord:
    """The app as it was backed up: enough to run it again anywhere."""

    name: str
    namespace: str
    uid: str
    version: str
    image: str
    manifest: dict[str, Any]
    spec: dict[str, Any]


@dataclass(frozen=True)
class BackupRecord:
    name: str
    namespace: str
    uid: str
    reason: str
    started_at: str
    completed_at: str = ""


@dataclass(frozen=True)
class BackupIndex:
    backup: BackupRecord
    app: AppRecord
    objects: tuple[StoredObject, ...] = ()
    encryption: dict[str, Any] | None = None  # {"cipher", "chunkSize", "kdf": {...}, "keyCheck"}
    files: dict[str, Any] = field(default_factory=dict)  # counts from the archive

    @property
    def size(self) -> int:
        return sum(item.size for item in self.objects)

    @property
    def contents(self) -> list[str]:
        return [item.kind for item in self.objects]

    def to_json(self) -> bytes:
        document = {
            "format": FORMAT,
            "backup": _camel(asdict(self.backup)),
            "app": _camel(asdict(self.app)),
            "encryption": self.encryption,
            "objects": [_camel(asdict(item)) for item in self.objects],
            "files": self.files,
        }
        return json.dumps(document, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> BackupIndex:
        try:
            document = json.loads(data)
            if document.get("format") != FORMAT:
                raise IndexError_(
                    f"unknown backup format {document.get('format')!r} (this program reads {FORMAT})"
                )
            return cls(
                backup=BackupRecord(**_snake(document["backup"])),
                app=AppRecord(**_snake(document["app"])),
                objects=tuple(StoredObject(**_snake(item)) for item in document["objects"]),
                encryption=document.get("encryption"),
                files=dict(document.get("files") or {}),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise IndexError_(f"the backup's index is not readable: {error}") from error


def _camel(record: dict[str, Any]) -> dict[str, Any]:
    return {_to_camel(key): value for key, value in record.items()}


def _snake(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "".join(f"_{c.lower()}" if c.isupper() else c for c in key): value for key, value in record.items()
    }


def _to_camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)
