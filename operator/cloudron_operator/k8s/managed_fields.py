"""Whether applying an object again would change the live one, from the live object alone. Pure.

Server-side apply records, in the object's managed fields, the exact set of fields each apply
manager owns (`fieldsV1`). Applying the same object again as the same manager changes nothing when:
- every field of the object to apply is in our set (nothing of it was taken over by another
  writer, and nothing is new), and
- the live object, seen through our set, holds exactly the object to apply (no value of ours was
  changed, and we own no field the object no longer sets: the apply would remove it).

Both are read from the live object, so the answer holds after a restart, without a request and
without any record of what was applied. The fieldsV1 format is structured-merge-diff's: a tree
whose keys are `f:<field>`, `k:<list item key as JSON>`, `v:<set value as JSON>`, `i:<index>` and
`.` (the node itself); an empty tree is a leaf, owned whole.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

# Set by the API server on every object, never by an apply: not part of what we own.
IDENTITY_FIELDS = ("apiVersion", "kind")
IDENTITY_METADATA = ("name", "namespace")


def our_fields(obj: Mapping[str, Any], manager: str) -> dict[str, Any] | None:
    """The fieldsV1 of `manager`'s apply entry on the object's main resource; None if it has none."""
    for entry in obj.get("metadata", {}).get("managedFields") or []:
        if (
            entry.get("manager") == manager
            and entry.get("operation") == "Apply"
            and not entry.get("subresource")
        ):
            fields = entry.get("fieldsV1")
            return dict(fields) if isinstance(fields, Mapping) else {}
    return None


def applied_part(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The part of an object to apply that its manager comes to own: all but kind and name."""
    meta = {key: value for key, value in obj.get("metadata", {}).items() if key not in IDENTITY_METADATA}
    part = {key: value for key, value in obj.items() if key not in (*IDENTITY_FIELDS, "metadata")}
    if meta:
        part["metadata"] = meta
    return part


def project(value: Any, fields: Mapping[str, Any]) -> Any:
    """`value` seen through a fieldsV1 tree: only what the tree names, in the value's own order."""
    if not fields or all(key == "." for key in fields):
        return value
    if isinstance(value, Mapping):
        projected = {}
        for key, sub in fields.items():
            if key.startswith("f:") and key[2:] in value:
                projected[key[2:]] = project(value[key[2:]], sub)
        return projected
    if isinstance(value, list):
        return [
            project(item, sub)
            for index, item in enumerate(value)
            if (sub := _list_node(fields, index, item)) is not None
        ]
    return value


def _list_node(fields: Mapping[str, Any], index: int, item: Any) -> Mapping[str, Any] | None:
    for key, sub in fields.items():
        kind, _, raw = key.partition(":")
        if kind == "k" and isinstance(item, Mapping):
            if all(item.get(name) == wanted for name, wanted in json.loads(raw).items()):
                return dict(sub)
        elif (kind == "v" and item == json.loads(raw)) or (kind == "i" and raw == str(index)):
            return dict(sub)
    return None


def digest(value: Any) -> str:
    """SHA-256 of `value` in a canonical JSON form (any key order gives the same)."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def owned_view(live: Mapping[str, Any], manager: str) -> tuple[str, str] | None:
    """What an unchanged apply is judged by, kept instead of the live object: our fieldsV1 (as compact
    JSON) and the digest of the live object seen through it. None: the manager applied nothing here."""
    fields = our_fields(live, manager)
    if fields is None:
        return None
    return json.dumps(fields, separators=(",", ":")), digest(project(applied_part(live), fields))


def apply_changes_nothing(desired: Mapping[str, Any], view: tuple[str, str] | None) -> bool:
    """Whether applying `desired` as the manager changes nothing on the object whose `owned_view` this is.

    False when it cannot be told (no apply of ours on record): the caller applies.
    """
    if view is None:
        return False
    fields = json.loads(view[0])
    wanted = applied_part(desired)
    seen = project(wanted, fields)
    return bool(seen == wanted and digest(seen) == view[1])
