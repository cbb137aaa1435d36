"""What this process last applied to each child, and the version of the child that apply left.

A resync asks the API server, child by child, what an apply would change (a dry run: the whole
write path but the storage). For a child whose listed resourceVersion is still the one an earlier
apply of this process left, and whose desired object is still the one applied then, the answer is
known without asking: nothing. Any write to the child since (a hand edit, a controller's status
update) gives it a new resourceVersion, and the child is asked about again. Kept in memory only:
after a restart every child is asked about once.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from typing import Any

ChildKey = tuple[str, str]  # (kind, name)


def desired_digest(obj: Mapping[str, Any]) -> str:
    """SHA-256 of the object to apply, in a canonical JSON form (any key order gives the same)."""
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class AppliedChildren:
    """By app uid and child: the digest of the object last applied and the resourceVersion it left.

    Each record is true whenever it was made: an apply of that object to the child at that version
    changes nothing. So records from passes of the same app that overlap (a resync and an update)
    can only make a later pass ask once more, never skip a change.
    """

    def __init__(self) -> None:
        self._by_app: dict[str, dict[ChildKey, tuple[str, str]]] = {}
        self._lock = threading.Lock()

    def unchanged_since_applied(self, uid: str, desired: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
        """`live` is the version an apply of `desired` left: applying it again would change nothing."""
        with self._lock:
            record = self._by_app.get(uid, {}).get(_key(desired))
        return record is not None and record == (desired_digest(desired), _version(live))

    def record(self, uid: str, desired: Mapping[str, Any], live: Mapping[str, Any]) -> None:
        """Applying `desired` to `live` changes nothing: it was just applied, or a dry run said so."""
        if version := _version(live):
            with self._lock:
                self._by_app.setdefault(uid, {})[_key(desired)] = (desired_digest(desired), version)

    def forget(self, uid: str) -> None:
        with self._lock:
            self._by_app.pop(uid, None)


def _key(obj: Mapping[str, Any]) -> ChildKey:
    return (str(obj["kind"]), str(obj["metadata"]["name"]))


def _version(obj: Mapping[str, Any]) -> str:
    return str(obj["metadata"].get("resourceVersion") or "")
