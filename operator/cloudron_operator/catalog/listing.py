"""What an AppCatalog's status says of a parsed catalog: its entries, bounded, and its Ready
condition. Pure.

Every version is read and used whatever the status lists: the bounds keep the object within what
the API server stores (the CRD's maxItems, and well under etcd's 1.5 MiB for the whole object).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from cloudron_operator.catalog.document import Catalog, CatalogApp, CatalogVersion
from cloudron_operator.models.catalog import MAX_ENTRIES, MAX_LISTED_VERSIONS
from cloudron_operator.models.conditions import Reason
from cloudron_operator.status import TRUE, ConditionUpdate

ENTRIES_BUDGET_BYTES: Final = 512 * 1024  # of the entries' JSON
MAX_TEXT: Final = 512  # characters of a title, tagline, image or message
MAX_SHORT_TEXT: Final = 128  # of a version, a date, a tag
MAX_TAGS: Final = 16
SHOWN_INVALID: Final = 5  # invalid versions named in Ready's message
MAX_PROBLEM: Final = 300  # characters of each one's reason there

Entry = dict[str, Any]


def listed_entries(catalog: Catalog) -> tuple[list[Entry], str | None]:
    """The status's entries (by id, versions newest first) and, when they do not list every
    version, a note saying how many they do."""
    entries = [_entry(app) for app in list(catalog.apps.values())[:MAX_ENTRIES]]
    heads = [_size({**entry, "versions": []}) + 1 for entry in entries]
    versions = [[_size(version) + 1 for version in entry["versions"]] for entry in entries]

    def size(limit: int, count: int) -> int:
        return sum(heads[i] + sum(versions[i][:limit]) for i in range(count))

    limit, count = MAX_LISTED_VERSIONS, len(entries)
    while size(limit, count) > ENTRIES_BUDGET_BYTES and limit > 1:
        limit = max(1, limit // 4)
    while size(limit, count) > ENTRIES_BUDGET_BYTES and count > 1:
        count //= 2
    entries = [{**entry, "versions": entry["versions"][:limit]} for entry in entries[:count]]
    listed = sum(len(entry["versions"]) for entry in entries)
    total = len(catalog.versions)
    if listed == total and count == len(catalog.apps):
        return entries, None
    note = (
        f"the status lists {listed} of the {total} versions (of {count} of the "
        f"{len(catalog.apps)} apps, newest first); all of them are in use"
    )
    return entries, note


def _entry(app: CatalogApp) -> Entry:
    described: Mapping[str, Any] = next((v.manifest for v in app.versions if v.manifest is not None), {})
    tags = described.get("tags")
    entry: Entry = {"id": _clip(app.app_id, MAX_TEXT)}
    for field in ("title", "tagline"):
        if isinstance(described.get(field), str):
            entry[field] = _clip(described[field], MAX_TEXT)
    if isinstance(tags, list) and any(isinstance(tag, str) for tag in tags):
        entry["tags"] = [_clip(tag, MAX_SHORT_TEXT) for tag in tags if isinstance(tag, str)][:MAX_TAGS]
    if app.latest is not None:
        entry["latest"] = app.latest.version
    entry["versions"] = [_version(v) for v in app.versions[:MAX_LISTED_VERSIONS]]
    return entry


def _version(version: CatalogVersion) -> Entry:
    listed: Entry = {"version": _clip(version.version, MAX_SHORT_TEXT), "state": version.state.value}
    if version.image is not None:
        listed["image"] = _clip(version.image, MAX_TEXT)
    if version.problem is not None:
        listed["message"] = _clip(version.problem, MAX_TEXT)
    if version.created is not None:
        listed["created"] = _clip(version.created, MAX_SHORT_TEXT)
    return listed


def ready_of(catalog: Catalog, source: str, notes: Sequence[str] = ()) -> ConditionUpdate:
    """Ready of a catalog that was read: True, reason Fetched, or SomeVersionsInvalid naming them."""
    total = len(catalog.versions)
    said = f"{_count(total, 'version')} of {_count(len(catalog.apps), 'app')} from {source}"
    if total == 0:
        said = f"{source} lists no versions"
    invalid = catalog.invalid
    if not invalid:
        return ConditionUpdate("Ready", TRUE, Reason.FETCHED, "; ".join([said, *notes]))
    named = [
        f"{app_id} {_clip(v.version, MAX_SHORT_TEXT)}: {_clip(v.problem or 'invalid', MAX_PROBLEM)}"
        for app_id, v in invalid[:SHOWN_INVALID]
    ]
    more = (
        f" (and {len(invalid) - SHOWN_INVALID} more: see status.entries)"
        if len(invalid) > SHOWN_INVALID
        else ""
    )
    why = f"{len(invalid)} invalid, never installed: {'; '.join(named)}{more}"
    return ConditionUpdate("Ready", TRUE, Reason.SOME_VERSIONS_INVALID, "; ".join([said, why, *notes]))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _size(value: object) -> int:
    return len(json.dumps(value, separators=(",", ":")))
