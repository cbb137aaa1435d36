"""AppCatalog: kopf wiring for `reconcile.catalogs`.

A catalog is read when it is created or its spec changes and when the operator starts; then again
at its spec.interval, by a daemon of its own: an async loop that holds no thread while it waits and
logs nothing per round (kopf logs every run of a timer), and sees a changed interval within a few
seconds. A ConfigMap source is read again at the interval too (no ConfigMap is watched).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import kopf

from cloudron_operator.catalog.cache import LoadedCatalog
from cloudron_operator.k8s import api as k8s
from cloudron_operator.metrics import Metrics
from cloudron_operator.models import GROUP, VERSION
from cloudron_operator.reconcile.catalogs import catalog_interval, post_event, refresh_catalog
from cloudron_operator.runtime import runtime

logger = logging.getLogger(__name__)

CATALOGS = (GROUP, VERSION, "appcatalogs")
TICK_SECONDS: Final = 5.0  # the longest the daemon sleeps before it looks at the spec again
FAILED_RETRY_SECONDS: Final = 60.0  # a catalog whose last read failed is tried again this soon
API_RETRY_SECONDS: Final = 30.0


def register(registry: kopf.OperatorRegistry, metrics: Metrics) -> None:
    read = metrics.instrumented("AppCatalog")(catalog_changed)
    for on in (kopf.on.create, kopf.on.resume):
        on(*CATALOGS, registry=registry)(read)
    kopf.on.update(*CATALOGS, field="spec", registry=registry)(read)
    kopf.daemon(*CATALOGS, registry=registry)(read_at_interval)
    # kopf puts its finalizer on the catalogs for the daemon; the cache entry needs none.
    kopf.on.delete(*CATALOGS, optional=True, registry=registry)(catalog_deleted)


def catalog_changed(body: kopf.Body, memo: Any, **_: Any) -> None:
    context = runtime(memo)
    try:
        refreshed = refresh_catalog(context.api, context.catalogs, body)
    except k8s.ApiError as error:
        if error.retriable:
            raise kopf.TemporaryError(f"the API server answered {error}", delay=API_RETRY_SECONDS) from error
        raise
    post_event(body, refreshed.event)


def catalog_deleted(name: str, memo: Any, **_: Any) -> None:
    runtime(memo).catalogs.forget(name)


async def read_at_interval(stopped: kopf.DaemonStopped, body: kopf.Body, memo: Any, **_: Any) -> None:
    context = runtime(memo)
    name, uid = body.meta["name"], body.meta["uid"]
    last_read = datetime.now(UTC)  # the create or resume handler reads it as the daemon starts
    api_failed = False
    while not stopped:
        loaded = context.catalogs.get(name)
        failed = api_failed or context.catalogs.problem(name) is not None
        due = next_read(body.spec, last_read, loaded if loaded and loaded.uid == uid else None, failed=failed)
        wait = (due - datetime.now(UTC)).total_seconds()
        if wait > 0:
            await stopped.wait(min(wait, TICK_SECONDS))
            continue
        last_read = datetime.now(UTC)
        try:
            refreshed = await asyncio.to_thread(refresh_catalog, context.api, context.catalogs, body)
        except k8s.ApiError as error:
            logger.warning("AppCatalog %s: reading it again failed: %s", name, error)
            api_failed = True
            continue
        api_failed = False
        post_event(body, refreshed.event)


def next_read(
    spec: Mapping[str, Any], last_read: datetime, loaded: LoadedCatalog | None, *, failed: bool
) -> datetime:
    """When the catalog is due to be read again: an interval after the last read (the daemon's, or
    a handler's that succeeded), sooner after a failure."""
    try:
        seconds = float(catalog_interval(str(spec.get("interval", "1h"))).seconds)
    except ValueError:
        seconds = 3600.0  # its Ready says the spec is invalid; a new spec is read by the update handler
    if failed:
        seconds = min(seconds, FAILED_RETRY_SECONDS)
    since = max(last_read, loaded.fetched_at) if loaded is not None else last_read
    return since + timedelta(seconds=seconds)
