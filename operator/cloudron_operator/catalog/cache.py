"""The catalogs this process has read, by AppCatalog name: the last good parse of each, with what a
conditional request needs, and the last read's failure.

Kept in memory only: a restarted operator reads each catalog again (unconditionally) before it
decides anything from it; apps keep running meanwhile on the package recorded in their status.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from cloudron_operator.catalog.document import Catalog
from cloudron_operator.models.conditions import Reason


class CatalogUnavailable(Exception):
    """The catalog cannot be read now (or does not exist): why, as a condition reason and message."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class LoadedCatalog:
    catalog: Catalog
    uid: str  # of the AppCatalog it was read for: one deleted and made again is read again
    generation: int  # of its spec: a changed URL is read again
    fetched_at: datetime
    changed_at: datetime
    etag: str | None = None  # the validators of the last 200, for If-None-Match / If-Modified-Since
    last_modified: str | None = None


class Catalogs:
    """Thread-safe: kopf's handler threads read and write it."""

    def __init__(self) -> None:
        self._loaded: dict[str, LoadedCatalog] = {}
        self._problems: dict[str, CatalogUnavailable] = {}
        self._decided: dict[str, str] = {}  # app uid -> digest of the catalog its last pass decided from
        self._guard = threading.Lock()
        self._reads: dict[str, threading.Lock] = {}

    def get(self, name: str) -> LoadedCatalog | None:
        with self._guard:
            return self._loaded.get(name)

    def problem(self, name: str) -> CatalogUnavailable | None:
        """Why the last read of the catalog failed; None if it succeeded."""
        with self._guard:
            return self._problems.get(name)

    def loaded(self, name: str, catalog: LoadedCatalog) -> None:
        with self._guard:
            self._loaded[name] = catalog
            self._problems.pop(name, None)

    def failed(self, name: str, problem: CatalogUnavailable) -> None:
        """The read failed: the last good content stays in use."""
        with self._guard:
            self._problems[name] = problem

    def reading(self, name: str) -> threading.Lock:
        """Held while the catalog is read and its status written: one read of a catalog at a time
        (its handlers, its timer and an app's pass may all want it at once)."""
        with self._guard:
            return self._reads.setdefault(name, threading.Lock())

    def forget(self, name: str) -> None:
        with self._guard:
            self._loaded.pop(name, None)
            self._problems.pop(name, None)

    def decided(self, app_uid: str, digest: str) -> None:
        """An app's pass decided its package from the catalog content of `digest`."""
        with self._guard:
            self._decided[app_uid] = digest

    def decided_from(self, app_uid: str) -> str | None:
        with self._guard:
            return self._decided.get(app_uid)

    def app_gone(self, app_uid: str) -> None:
        with self._guard:
            self._decided.pop(app_uid, None)
