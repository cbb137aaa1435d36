"""CloudronApp: kopf wiring. A pass (`reconcile.app_pass`) for create, update, resume and the resync
timer, one at a time per app; the deletion's teardown after the app's running pass.

Child changes (the Deployment becoming available, the Certificate being issued) come from the
store's watches and only refresh the status (`child_events`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from cloudron_operator.addons.base import AddonRecord
from cloudron_operator.config import OperatorConfig
from cloudron_operator.metrics import Metrics
from cloudron_operator.models import GROUP, VERSION
from cloudron_operator.models.conditions import Reason
from cloudron_operator.reconcile.app_pass import ADDON_RETRY_DELAY, drop_databases, reconcile
from cloudron_operator.reconcile.children import Logger
from cloudron_operator.reconcile.errors import reported
from cloudron_operator.reconcile.passes import resync_due
from cloudron_operator.reconcile.retention import keep_volumes
from cloudron_operator.reconcile.status import (
    app_conditions,
    newest_status,
    warn_of_new_problem,
    write_status,
)
from cloudron_operator.reconcile.updates import in_progress, window_opened
from cloudron_operator.runtime import Runtime, runtime
from cloudron_operator.status import FALSE, ConditionUpdate

APPS = (GROUP, VERSION, "cloudronapps")
# On an app: its databases and users stay in their servers when the app is deleted.
RETAIN_ANNOTATION = "cloudron.io/retain-databases"
# How often an app with spec.source looks whether its catalog changed or its update moved on.
UPDATE_CHECK_SECONDS = 10.0


def register(registry: kopf.OperatorRegistry, config: OperatorConfig, metrics: Metrics) -> None:
    reconcile_app = metrics.instrumented("CloudronApp")(reconcile_handler)
    for on in (kopf.on.create, kopf.on.resume):
        on(*APPS, registry=registry)(reconcile_app)
    kopf.on.update(*APPS, field="spec", registry=registry)(reconcile_app)
    every = config.resync_seconds

    async def resync_handler(body: kopf.Body, memo: Any, **kwargs: Any) -> None:
        """The resync timer: a full pass if `resync_due`, run in the handlers' threads.

        A coroutine, so that it decides when the timer ticks, not after waiting for a thread
        behind the passes it would yield to.
        """
        context = runtime(memo)
        passes, uid = context.passes, body.meta["uid"]
        if resync_due(passes.since(uid), every, others_waiting=context.workers.waiting > 0):
            await context.workers.run(
                reconcile_app, body=body, memo=memo, resync_due_at=passes.now(), **kwargs
            )

    kopf.timer(*APPS, id="resync", interval=every, initial_delay=every, registry=registry)(resync_handler)

    async def update_check_handler(body: kopf.Body, memo: Any, **kwargs: Any) -> None:
        """A pass of an app with spec.source when its catalog's content changed since its last pass
        decided from it, while an update of it is under way (its backup, its deadline), or once the
        update window it waits for has opened."""
        context = runtime(memo)
        if update_check_due(context, body):
            await context.workers.run(reconcile_app, body=body, memo=memo, **kwargs)

    kopf.timer(
        *APPS,
        id="update-check",
        interval=min(UPDATE_CHECK_SECONDS, every),
        when=_has_source,
        registry=registry,
    )(update_check_handler)
    kopf.on.delete(*APPS, registry=registry)(metrics.instrumented("CloudronApp")(delete_handler))


def _has_source(spec: Mapping[str, Any], **_: Any) -> bool:
    return bool(spec.get("source"))


def update_check_due(context: Runtime, body: kopf.Body) -> bool:
    status = body.get("status") or {}
    if in_progress(status) or window_opened(status, datetime.now(UTC)):
        return True
    loaded = context.catalogs.get(str(body["spec"]["source"].get("catalog")))
    return loaded is not None and context.catalogs.decided_from(body.meta["uid"]) != loaded.catalog.digest


def reconcile_handler(
    body: kopf.Body, memo: Any, logger: Logger, resync_due_at: float | None = None, **kwargs: Any
) -> None:
    """A full pass, after any other pass of the app in this process has ended.

    `resync_due_at`: the resync timer found a pass due at that moment. If one ended since (the pass
    this one waited for), the resync has nothing left to do.
    """
    context = runtime(memo)
    passes, uid = context.passes, body.meta["uid"]
    with passes.lock(uid):
        if resync_due_at is not None and passes.ended_after(uid, resync_due_at):
            return
        app = snapshot(body)
        if _going_or_gone(context, app):
            return  # queued before the deletion: its databases may be dropped already
        try:
            _reconcile_handler(app, context, logger, **kwargs)
        finally:
            passes.ended(uid)


def _reconcile_handler(body: kopf.Body, context: Runtime, logger: Logger, **kwargs: Any) -> None:
    with reported(context, body):
        reconcile(context, body, logger=logger, addons=_all_addons(kwargs))


def snapshot(body: kopf.Body) -> kopf.Body:
    """The app as it is now, for a whole pass.

    kopf hands every handler of a kind with timers the same live body, which each watch event of
    the app replaces: a pass reading it at its end could write, for a spec it never applied, the
    status of the one it did (and kopf would then take the newer spec as handled).
    """
    return kopf.Body(copy.deepcopy(dict(body)))  # type: ignore[arg-type]


def _going_or_gone(context: Runtime, body: kopf.Body) -> bool:
    """The app is being deleted, or was: its snapshot or the store says so, or its deletion was handled.

    An app the store does not have yet (kopf's watch brought it first) is a new one, not a gone one.
    """
    if body.meta.get("deletionTimestamp") or context.passes.was_deleted(body.meta["uid"]):
        return True
    newest = context.store.app((body.meta["namespace"], body.meta["name"]))
    return newest is not None and (newest.uid != body.meta["uid"] or newest.being_deleted)


def delete_handler(body: kopf.Body, memo: Any, logger: Logger, **kwargs: Any) -> None:
    """Drop the app's databases and users, unless the app says to keep them; children go by GC, but
    volumes the spec keeps.

    After the app's pass that may still run (a resync that started before the deletion): else it
    could provision a user again once dropped. Passes queued behind find the app going and do nothing.
    """
    context = runtime(memo)
    uid = body.meta["uid"]
    with context.passes.lock(uid):
        app = snapshot(body)
        kept = keep_volumes(context.api, app)
        if kept:
            claims = ", ".join(f"PersistentVolumeClaim {name}" for name in kept)
            kopf.info(
                app, reason=Reason.VOLUME_RETAINED, message=f"{claims} kept (storage.whenDeleted: Retain)"
            )
        _drop_databases(app, context, logger, kwargs)
        context.passes.deleted(uid)
        context.catalogs.app_gone(uid)


def _drop_databases(
    body: kopf.Body, context: Runtime, logger: Logger, handler_kwargs: Mapping[str, Any]
) -> None:
    if body.meta.annotations.get(RETAIN_ANNOTATION) == "true":
        message = f"{RETAIN_ANNOTATION}: databases and users kept"
        kopf.info(body, reason=Reason.DATABASES_RETAINED, message=message)
        return
    problems = drop_databases(context.backends, body, _all_addons(handler_kwargs), logger)
    if problems:
        message = (
            f"cannot drop the app's databases: {'; '.join(problems)} "
            f"(annotate the app {RETAIN_ANNOTATION}=true to delete it and keep them)"
        )
        ready = ConditionUpdate("Ready", FALSE, Reason.DEPROVISION_FAILED, message)
        warn_of_new_problem(body, ready, newest_status(context.store, body) or body.get("status", {}))
        write_status(
            context.api, body, {**body.get("status", {}), "conditions": app_conditions(body, [ready])}
        )
        raise kopf.TemporaryError(message, delay=ADDON_RETRY_DELAY)


def _all_addons(handler_kwargs: Mapping[str, Any]) -> list[AddonRecord]:
    """Every Addon, from the index kopf passes as the `addons_by_type` keyword argument."""
    index: kopf.Index[str, AddonRecord] = handler_kwargs["addons_by_type"]
    return [record for addon_type in index for record in index[addon_type]]
