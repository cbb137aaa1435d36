"""One kind's objects as the store keeps them, reduced, by (namespace, name).

Fed from two sides:
- the kind's watch (`store.informer`): a list replaces everything (what it does not return is
  gone, also after a re-list that follows a broken watch), then each event in order;
- this process's own writes (`record`): the answer to an apply or a status write, usually ahead
  of the watch. It is kept beside the watched version until the watch brings that very version
  (same resourceVersion), then dropped. An answer that comes after the watch brought its version
  (and maybe newer ones) is not kept at all: the table remembers the last few versions the watch
  brought of each object. resourceVersions are opaque: they are only ever compared for equality.

Used from the informers' threads and the handlers' threads: one lock per table.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

Key = tuple[str, str]  # (namespace, name); "" for a cluster-scoped object's namespace
# How many of an object's versions the watch brought are remembered: an answer to our write that
# comes this many watch events of the object late would be taken for news (none comes that late).
REMEMBERED_VERSIONS = 8


class Reduced(Protocol):
    @property
    def uid(self) -> str: ...

    @property
    def resource_version(self) -> str: ...


T = TypeVar("T", bound=Reduced)


def key_of(obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return str(meta.get("namespace") or ""), str(meta["name"])


@dataclass(frozen=True)
class Change(Generic[T]):
    """What one watch event or write changed: the object as it was and as it is (None: absent)."""

    before: T | None
    after: T | None


class Table(Generic[T]):
    def __init__(
        self, reduce: Callable[[Mapping[str, Any]], T], index: Callable[[T], Iterable[str]] = lambda _: ()
    ) -> None:
        """`index`: the terms an object is found by (`find`): a child's owner, an app's hosts."""
        self._reduce, self._terms = reduce, index
        self._watched: dict[Key, T] = {}
        self._written: dict[Key, T] = {}  # our writes the watch has not brought back yet
        self._delivered: dict[Key, tuple[str, ...]] = {}  # the versions the watch brought last
        self._by_term: dict[str, set[Key]] = {}
        self._lock = threading.Lock()

    def replace(self, objects: Iterable[Mapping[str, Any]], namespace: str | None = None) -> list[Change[T]]:
        """A list of the kind (in `namespace`, or in all): the whole truth there at that moment.

        What changed, also what is gone. Our writes there not yet watched are dropped: the list is
        newer, or the watch that follows it brings them.
        """
        listed = {key_of(obj): self._reduce(obj) for obj in objects}
        with self._lock:
            scope = {key for key in {*self._watched, *self._written} if namespace in (None, key[0])}
            before = {key: self._current(key) for key in scope | set(listed)}
            for key in scope:
                self._written.pop(key, None)
                self._delivered.pop(key, None)
                watched = self._watched.pop(key, None)
                if watched is not None:
                    self._unindex(key, watched)
            for key, reduced in listed.items():
                self._set_watched(key, reduced)
                self._delivered[key] = (reduced.resource_version,)
            return [Change(before[key], listed.get(key)) for key in before if before[key] != listed.get(key)]

    def upsert(self, obj: Mapping[str, Any]) -> Change[T]:
        """A watch event: the object was added or modified."""
        key, reduced = key_of(obj), self._reduce(obj)
        with self._lock:
            before = self._current(key)
            self._set_watched(key, reduced)
            delivered = (*self._delivered.get(key, ()), reduced.resource_version)
            self._delivered[key] = delivered[-REMEMBERED_VERSIONS:]
            written = self._written.get(key)
            if written is not None and written.resource_version == reduced.resource_version:
                del self._written[key]
            return Change(before, self._current(key))

    def remove(self, obj: Mapping[str, Any]) -> Change[T]:
        """A watch event: the object was deleted."""
        key, uid = key_of(obj), str(obj["metadata"].get("uid", ""))
        with self._lock:
            before = self._current(key)
            watched = self._watched.pop(key, None)
            if watched is not None:
                self._unindex(key, watched)
            # Kept: an answer to our write of it that comes only now must not bring it back.
            deleted = str(obj["metadata"].get("resourceVersion", ""))
            self._delivered[key] = (*self._delivered.get(key, ()), deleted)[-REMEMBERED_VERSIONS:]
            written = self._written.get(key)
            if written is not None and written.uid == uid:
                del self._written[key]
            return Change(before, self._current(key))

    def record(self, obj: Mapping[str, Any]) -> Change[T]:
        """The answer to a write of ours: kept until the watch brings the same version."""
        key, reduced = key_of(obj), self._reduce(obj)
        with self._lock:
            before = self._current(key)
            if reduced.resource_version in self._delivered.get(key, ()):
                self._written.pop(key, None)  # the watch brought it already, and maybe newer ones
            else:
                self._written[key] = reduced
            return Change(before, self._current(key))

    def get(self, key: Key) -> T | None:
        with self._lock:
            return self._current(key)

    def find(self, term: str) -> dict[Key, T]:
        """The objects the table's `index` gives `term` for."""
        with self._lock:
            keys = set(self._by_term.get(term, ()))
            keys |= {key for key, reduced in self._written.items() if term in self._terms(reduced)}
            found = {key: self._current(key) for key in keys}
        return {
            key: reduced
            for key, reduced in found.items()
            if reduced is not None and term in self._terms(reduced)
        }

    def values(self) -> list[T]:
        with self._lock:
            return [reduced for key in {*self._watched, *self._written} if (reduced := self._current(key))]

    def __len__(self) -> int:
        with self._lock:
            return len({*self._watched, *self._written})

    def _current(self, key: Key) -> T | None:
        written = self._written.get(key)
        return written if written is not None else self._watched.get(key)

    def _set_watched(self, key: Key, reduced: T) -> None:
        old = self._watched.get(key)
        if old is not None:
            self._unindex(key, old)
        self._watched[key] = reduced
        self._index(key, reduced)

    def _index(self, key: Key, reduced: T) -> None:
        for term in self._terms(reduced):
            self._by_term.setdefault(term, set()).add(key)

    def _unindex(self, key: Key, reduced: T) -> None:
        for term in self._terms(reduced):
            keys = self._by_term.get(term)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_term[term]
