"""AppCatalogs: read each catalog (conditionally), keep the last good parse in the process's cache,
report it in the AppCatalog's status; and hand an app's pass the catalog it names.

The status is written only when it changes: a read answered 304, or with the same bytes, writes
nothing, except that `lastFetched` is renewed once it is an hour old (LAST_FETCHED_RENEWAL): it is
never more than an hour behind the last successful read, at one write an hour at most.
A read that fails keeps the last good content, in the cache and in the status, and says why in Ready.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final, cast

import kopf
from kubernetes import client

from cloudron_operator.catalog.cache import Catalogs, CatalogUnavailable, LoadedCatalog
from cloudron_operator.catalog.document import CatalogInvalid, digest_of, parse_catalog
from cloudron_operator.catalog.durations import duration_seconds
from cloudron_operator.catalog.fetch import Fetched, Validators, read_source, source_name
from cloudron_operator.catalog.listing import listed_entries, ready_of
from cloudron_operator.k8s import api as k8s
from cloudron_operator.models import API_VERSION
from cloudron_operator.models.catalog import AppCatalogSpec
from cloudron_operator.models.conditions import Reason
from cloudron_operator.status import FALSE, TRUE, ConditionUpdate, merge_conditions, status_patch

logger = logging.getLogger(__name__)

KIND: Final = "AppCatalog"
LAST_FETCHED_RENEWAL: Final = 3600.0  # seconds after which an unchanged read still renews lastFetched
MIN_INTERVAL_SECONDS: Final = 10
_SPEC_MESSAGE_CHARS: Final = 500


@dataclass(frozen=True)
class Interval:
    seconds: int
    note: str | None = None  # said in Ready when the spec asked for less than the floor


def catalog_interval(text: str) -> Interval:
    """spec.interval in seconds, raised to the floor (said in the note); ValueError if not a duration."""
    seconds = duration_seconds(text)
    if seconds < MIN_INTERVAL_SECONDS:
        floor = f"{MIN_INTERVAL_SECONDS}s"
        note = f"spec.interval {text} is below the {floor} floor: read every {floor}"
        return Interval(MIN_INTERVAL_SECONDS, note)
    return Interval(seconds)


@dataclass(frozen=True)
class CatalogEvent:
    warning: bool
    reason: str
    message: str


@dataclass(frozen=True)
class Refreshed:
    """What a read left: the good content for the AppCatalog's current spec (if any), why the read
    failed (if it did), and the Event to post."""

    loaded: LoadedCatalog | None
    problem: CatalogUnavailable | None = None
    event: CatalogEvent | None = None


def refresh_catalog(api: client.ApiClient, catalogs: Catalogs, body: Mapping[str, Any]) -> Refreshed:
    """Read the AppCatalog `body` names again and write its status. The object is read from the
    API first: kopf's copy may be an event behind the status the last read wrote."""
    name = body["metadata"]["name"]
    with catalogs.reading(name):
        current = k8s.get(api, API_VERSION, KIND, None, name)
        if current is None:
            catalogs.forget(name)
            return Refreshed(
                None, CatalogUnavailable(Reason.CATALOG_NOT_FOUND, f"there is no AppCatalog {name}")
            )
        return _refresh(api, catalogs, current)


def read_catalog(api: client.ApiClient, catalogs: Catalogs, name: str) -> LoadedCatalog:
    """The catalog an app's pass installs or updates from: the cached one if it was read for the
    AppCatalog as it is now (uid and generation), else read now. CatalogUnavailable when there is
    no good content for it; a retriable ApiError passes (the pass tries again)."""
    with catalogs.reading(name):
        try:
            current = k8s.get(api, API_VERSION, KIND, None, name)
        except k8s.ApiError as error:
            if error.retriable:
                raise
            raise CatalogUnavailable(
                Reason.CATALOG_UNREACHABLE, f"cannot read AppCatalog {name}: {error.message}"
            ) from None
        if current is None:
            raise CatalogUnavailable(Reason.CATALOG_NOT_FOUND, f"there is no AppCatalog {name}")
        cached = catalogs.get(name)
        if cached is not None and _read_for(cached, current):
            return cached
        refreshed = _refresh(api, catalogs, current)
    post_event(current, refreshed.event)
    if refreshed.loaded is not None:
        return refreshed.loaded
    assert refreshed.problem is not None
    raise refreshed.problem


def post_event(body: Mapping[str, Any], event: CatalogEvent | None) -> None:
    """An Event on the AppCatalog; outside kopf's handlers (a script, a test) a log line instead."""
    if event is None:
        return
    target = body if isinstance(body, kopf.Body) else kopf.Body(cast(kopf.RawBody, dict(body)))
    try:
        (kopf.warn if event.warning else kopf.info)(target, reason=event.reason, message=event.message)
    except LookupError:
        logger.info("AppCatalog %s: %s: %s", body["metadata"]["name"], event.reason, event.message)


def _read_for(loaded: LoadedCatalog, obj: Mapping[str, Any]) -> bool:
    meta = obj["metadata"]
    return loaded.uid == meta["uid"] and loaded.generation == int(meta.get("generation", 1))


def _refresh(api: client.ApiClient, catalogs: Catalogs, obj: Mapping[str, Any]) -> Refreshed:
    name = obj["metadata"]["name"]
    cached = catalogs.get(name)
    kept = cached if cached is not None and _read_for(cached, obj) else None
    try:
        spec = AppCatalogSpec.model_validate(obj.get("spec") or {})
        interval = catalog_interval(spec.interval)
    except ValueError as error:  # pydantic's ValidationError too; the CRD lets neither through
        problem = CatalogUnavailable(Reason.INVALID_SPEC, f"spec: {error}"[:_SPEC_MESSAGE_CHARS])
        catalogs.failed(name, problem)
        return Refreshed(kept, problem, _write_failure(api, obj, problem, kept))
    source = source_name(spec)
    now = datetime.now(UTC)
    try:
        validators = Validators(kept.etag, kept.last_modified) if kept is not None else None
        loaded = _loaded(read_source(api, spec, validators), kept, obj, source, now)
    except CatalogUnavailable as problem:
        catalogs.failed(name, problem)
        return Refreshed(kept, problem, _write_failure(api, obj, problem, kept))
    catalogs.loaded(name, loaded)
    return Refreshed(
        loaded, None, _write_success(api, obj, loaded, source=source, interval_note=interval.note, now=now)
    )


def _loaded(
    fetched: Fetched, kept: LoadedCatalog | None, obj: Mapping[str, Any], source: str, now: datetime
) -> LoadedCatalog:
    """The cache's new entry: the kept content when the source did not change, else a new parse."""
    etag, last_modified = fetched.validators.etag, fetched.validators.last_modified
    if fetched.data is None:  # 304: only answered to the conditions the kept content gave
        assert kept is not None
        return replace(kept, fetched_at=now, etag=etag, last_modified=last_modified)
    if kept is not None and kept.catalog.digest == digest_of(fetched.data):
        return replace(kept, fetched_at=now, etag=etag, last_modified=last_modified)
    try:
        catalog = parse_catalog(fetched.data)
    except CatalogInvalid as error:
        raise CatalogUnavailable(Reason.CATALOG_INVALID, f"{source}: {error}") from None
    meta = obj["metadata"]
    return LoadedCatalog(
        catalog,
        uid=meta["uid"],
        generation=meta.get("generation", 1),
        fetched_at=now,
        changed_at=_recorded_change(obj, catalog.digest) or now,
        etag=etag,
        last_modified=last_modified,
    )


def _recorded_change(obj: Mapping[str, Any], digest: str) -> datetime | None:
    """When the status says this content last changed (a restarted operator reads the same bytes)."""
    status = obj.get("status") or {}
    if status.get("digest") != digest or not status.get("lastChanged"):
        return None
    try:
        return datetime.fromisoformat(str(status["lastChanged"]).replace("Z", "+00:00"))
    except ValueError:
        return None


def _write_success(
    api: client.ApiClient,
    obj: Mapping[str, Any],
    loaded: LoadedCatalog,
    *,
    source: str,
    interval_note: str | None,
    now: datetime,
) -> CatalogEvent | None:
    catalog = loaded.catalog
    entries, listing_note = listed_entries(catalog)
    notes = [*catalog.notes, *(n for n in (listing_note, interval_note) if n)]
    ready = ready_of(catalog, source, notes)
    fields = {
        "apps": len(catalog.apps),
        "versions": len(catalog.versions),
        "invalid": len(catalog.invalid),
        "digest": catalog.digest,
        "lastChanged": _stamp(loaded.changed_at),
        "entries": entries,
    }
    before = obj.get("status") or {}
    if not _write_status(api, obj, fields, ready, fetched_at=now):
        return None
    summary = f"{ready.message} ({catalog.digest[:19]})"
    if before.get("digest") is None:
        return CatalogEvent(False, Reason.FETCHED, f"read the catalog: {summary}")
    if before.get("digest") != catalog.digest:
        return CatalogEvent(False, Reason.FETCHED, f"the catalog changed: {summary}")
    if _ready(before).get("status") == FALSE:
        return CatalogEvent(False, Reason.FETCHED, f"the catalog can be read again: {summary}")
    return None


def _write_failure(
    api: client.ApiClient, obj: Mapping[str, Any], problem: CatalogUnavailable, kept: LoadedCatalog | None
) -> CatalogEvent | None:
    message = problem.message
    if kept is not None:
        message += f"; apps keep using the content read before ({kept.catalog.digest[:19]})"
    ready = ConditionUpdate("Ready", FALSE, problem.reason, message)
    before = _ready(obj.get("status") or {})
    _write_status(api, obj, {}, ready, fetched_at=None)
    if before.get("status") != FALSE or before.get("reason") != ready.reason:
        return CatalogEvent(True, ready.reason, message)
    return None


def _write_status(
    api: client.ApiClient,
    obj: Mapping[str, Any],
    fields: Mapping[str, Any],
    ready: ConditionUpdate,
    *,
    fetched_at: datetime | None,
) -> bool:
    """Apply the status with `fields` and Ready if that changes anything but lastFetched; whether it did."""
    current = obj.get("status") or {}
    generation = obj["metadata"].get("generation", 1)
    desired = {**current, **fields, "observedGeneration": generation}
    desired["conditions"] = merge_conditions(
        current.get("conditions", []), [ready], generation, datetime.now(UTC)
    )
    renew = fetched_at is not None and ready.status == TRUE and _older(current.get("lastFetched"), fetched_at)
    if not status_patch(_but_fetched(current), _but_fetched(desired)) and not renew:
        return False
    if fetched_at is not None and ready.status == TRUE:
        desired["lastFetched"] = _stamp(fetched_at)
    target = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": obj["metadata"]["name"]}}
    k8s.apply(api, {**target, "status": desired}, subresource="status")
    return True


def _older(stamp: Any, now: datetime) -> bool:
    """`stamp` (lastFetched) is LAST_FETCHED_RENEWAL or more before `now`, or absent."""
    try:
        then = datetime.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return True
    return (now - then).total_seconds() >= LAST_FETCHED_RENEWAL


def _but_fetched(status: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in status.items() if key != "lastFetched"}


def _ready(status: Mapping[str, Any]) -> Mapping[str, Any]:
    return next((c for c in status.get("conditions", []) if c.get("type") == "Ready"), {})


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
