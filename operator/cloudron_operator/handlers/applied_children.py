"""What this process last applied to each child, and what that apply left this operator owning.

A resync asks the API server, child by child, what an apply would change (a dry run: the whole
write path but the storage). Server-side apply changes nothing when the object to apply is the
one applied before and every field it sets still holds the value it set. The child's managed
fields entry of this operator tells: another writer that changed one of those fields took it
over (an update takes the fields it changes from every other manager, a forced apply the fields
it sets), and an apply of ours that changed a value moved the entry's time. A controller writing
the child's status or fields of its own, as the Deployment, claim and Certificate controllers do,
leaves the entry as it was, so such a child is known without asking: nothing to change. Kept in
memory only: after a restart every child is asked about once.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from typing import Any

from cloudron_operator.k8s.api import FIELD_MANAGER

ChildKey = tuple[str, str]  # (kind, name)


def desired_digest(obj: Mapping[str, Any]) -> str:
    """SHA-256 of the object to apply, in a canonical JSON form (any key order gives the same)."""
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class AppliedChildren:
    """By app uid and child: the digest of the object last applied and the fields that apply left ours.

    Each record is true when it is made: an apply of that object to the child as it is then changes
    nothing. An app's passes run one at a time (`apps.LastPasses`), so its records are made in the
    order of its applies.
    """

    def __init__(self) -> None:
        self._by_app: dict[str, dict[ChildKey, tuple[str, str]]] = {}
        self._lock = threading.Lock()

    def unchanged_since_applied(self, uid: str, desired: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
        """`desired` was applied to `live` and all it set is still ours: applying it again changes nothing."""
        with self._lock:
            record = self._by_app.get(uid, {}).get(_key(desired))
        return record is not None and record == (desired_digest(desired), owned_fields(live))

    def record(self, uid: str, desired: Mapping[str, Any], live: Mapping[str, Any]) -> None:
        """Applying `desired` to `live` changes nothing: it was just applied, or a dry run said so."""
        if owned := owned_fields(live):
            with self._lock:
                self._by_app.setdefault(uid, {})[_key(desired)] = (desired_digest(desired), owned)

    def forget(self, uid: str) -> None:
        with self._lock:
            self._by_app.pop(uid, None)


def _key(obj: Mapping[str, Any]) -> ChildKey:
    return (str(obj["kind"]), str(obj["metadata"]["name"]))


def owned_fields(obj: Mapping[str, Any]) -> str:
    """Digest of the object's uid and its managed fields entry of this operator's applies ("": none)."""
    meta = obj["metadata"]
    entries = [
        {key: entry.get(key) for key in ("apiVersion", "fieldsV1", "time")}
        for entry in meta.get("managedFields") or []
        if entry.get("manager") == FIELD_MANAGER
        and entry.get("operation") == "Apply"
        and not entry.get("subresource")
    ]
    if not entries or not meta.get("uid"):
        return ""
    return desired_digest({"uid": meta["uid"], "entries": entries})
