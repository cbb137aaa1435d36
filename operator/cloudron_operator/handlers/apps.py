"""CloudronApp: kopf wiring. A pass (`reconcile.app_pass`) for create, update, resume and the resync
timer, one at a time per app; the deletion's teardown after the app's running pass.

Child events (the Deployment becoming available, the Certificate being issued) only refresh the
status (`child_events`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import kopf
from kubernetes import client

from cloudron_operator import builders, metrics
from cloudron_operator.addons.base import AddonRecord
from cloudron_operator.config import OperatorConfig
from cloudron_operator.handlers.child_events import child_changed
from cloudron_operator.handlers.known_apps import KnownApps, app_event
from cloudron_operator.handlers.workers import Workers
from cloudron_operator.k8s import api as k8s
from cloudron_operator.metrics import Metrics
from cloudron_operator.models import GROUP, VERSION
from cloudron_operator.reconcile.app_pass import ADDON_RETRY_DELAY, drop_databases, reconcile
from cloudron_operator.reconcile.children import Logger
from cloudron_operator.reconcile.errors import InvalidApp
from cloudron_operator.reconcile.passes import LastPasses, resync_due
from cloudron_operator.reconcile.status import app_conditions, report_invalid, write_status
from cloudron_operator.status import FALSE, ConditionUpdate

APPS = (GROUP, VERSION, "cloudronapps")
MANAGED = {"app.kubernetes.io/managed-by": "cloudron-operator"}
RETRY_DELAY = 10.0
# On an app: its databases and users stay in their servers when the app is deleted.
RETAIN_ANNOTATION = "cloudron.io/retain-databases"
# kopf's ids of the handlers that follow every watch event of the apps and of their children.
APP_EVENT, CHILD_EVENT = "app_event", "child_changed"
WATCH_EVENT_HANDLERS = (APP_EVENT, CHILD_EVENT)


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
        workers: Workers = memo["workers"]
        passes: LastPasses = memo["last_passes"]
        uid = body.meta["uid"]
        if resync_due(passes.since(uid), every, others_waiting=workers.waiting > 0):
            await workers.run(reconcile_app, body=body, memo=memo, resync_due_at=passes.now(), **kwargs)

    kopf.timer(*APPS, id="resync", interval=every, initial_delay=every, registry=registry)(resync_handler)
    kopf.on.delete(*APPS, registry=registry)(metrics.instrumented("CloudronApp")(delete_handler))
    # Coroutines, run in the event loop: kopf runs plain functions in the handlers' threads, where
    # each event of an app would wait behind every queued pass (minutes at a thousand apps).
    kopf.on.event(*APPS, id=APP_EVENT, registry=registry)(app_event)
    for group, version, plural in (("apps", "v1", "deployments"), ("cert-manager.io", "v1", "certificates")):
        kopf.on.event(
            group,
            version,
            plural,
            id=CHILD_EVENT,
            labels={builders.APP_LABEL: kopf.PRESENT, **MANAGED},
            registry=registry,
        )(child_changed)


def reconcile_handler(
    body: kopf.Body, memo: Any, logger: Logger, resync_due_at: float | None = None, **kwargs: Any
) -> None:
    """A full pass, after any other pass of the app in this process has ended.

    `resync_due_at`: the resync timer found a pass due at that moment. If one ended since (the pass
    this one waited for), the resync has nothing left to do.
    """
    passes: LastPasses = memo["last_passes"]
    uid = body.meta["uid"]
    with passes.lock(uid):
        if resync_due_at is not None and passes.ended_after(uid, resync_due_at):
            return
        app = snapshot(body)
        if _going_or_gone(memo["known_apps"], app):
            return  # queued before the deletion: its databases may be dropped already
        try:
            _reconcile_handler(app, memo, logger, **kwargs)
        finally:
            passes.ended(uid)


def _reconcile_handler(body: kopf.Body, memo: Any, logger: Logger, **kwargs: Any) -> None:
    api: client.ApiClient = memo["api"]
    config: OperatorConfig = memo["config"]
    known: KnownApps = memo["known_apps"]
    mark_reconciled: bool = memo["status_keeps_reconciled"]
    try:
        reconcile(
            api,
            config,
            body,
            logger=logger,
            addons=_all_addons(kwargs),
            app_metrics=metrics.of(memo),
            known=known,
            backends=memo["addon_backends"],
            child_states=memo["child_states"],
            applied_children=memo["applied_children"],
            first_attempt=_first_create_attempt(kwargs),
            mark_reconciled=mark_reconciled,
        )
    except InvalidApp as invalid:
        _record(
            known, report_invalid(api, body, invalid.reason, str(invalid), mark_reconciled=mark_reconciled)
        )
    except k8s.ApiError as error:
        if error.retriable:
            raise kopf.TemporaryError(f"the API server answered {error}", delay=RETRY_DELAY) from error
        message = f"the API server refused a child: {error.message}"
        _record(known, report_invalid(api, body, "ApplyFailed", message, mark_reconciled=mark_reconciled))


def snapshot(body: kopf.Body) -> kopf.Body:
    """The app as it is now, for a whole pass.

    kopf hands every handler of a kind with timers the same live body, which each watch event of
    the app replaces: a pass reading it at its end could write, for a spec it never applied, the
    status of the one it did (and kopf would then take the newer spec as handled).
    """
    return kopf.Body(copy.deepcopy(dict(body)))  # type: ignore[arg-type]


def _going_or_gone(known: KnownApps, body: kopf.Body) -> bool:
    """The app is being deleted, or was: its newest known version says so, or there is none of its uid.

    Every app is known from the start-up list or the watch before kopf hands it to a handler, and
    forgotten only when the watch reports it deleted.
    """
    if body.meta.get("deletionTimestamp"):
        return True
    newest = known.newest((body.meta["namespace"], body.meta["name"]))
    return newest is None or newest.uid != body.meta["uid"] or newest.being_deleted


def _first_create_attempt(handler_kwargs: Mapping[str, Any]) -> bool:
    """kopf's first try at an app it has never handled to the end.

    Its children exist only if an operator was killed during an earlier first try.
    """
    return handler_kwargs.get("reason") == kopf.Reason.CREATE and handler_kwargs.get("retry") == 0


def _record(known: KnownApps, app: Mapping[str, Any] | None) -> None:
    if app is not None:
        known.record(app)


def delete_handler(body: kopf.Body, memo: Any, logger: Logger, **kwargs: Any) -> None:
    """Drop the app's databases and users, unless the app says to keep them; children go by GC.

    After the app's pass that may still run (a resync that started before the deletion): else it
    could provision a user again once dropped. Passes queued behind find the app going and do nothing.
    """
    passes: LastPasses = memo["last_passes"]
    uid = body.meta["uid"]
    with passes.lock(uid):
        _drop_databases(snapshot(body), memo, logger, kwargs)
    passes.forget(uid)
    memo["applied_children"].forget(uid)


def _drop_databases(body: kopf.Body, memo: Any, logger: Logger, handler_kwargs: Mapping[str, Any]) -> None:
    if body.meta.annotations.get(RETAIN_ANNOTATION) == "true":
        kopf.info(body, reason="DatabasesRetained", message=f"{RETAIN_ANNOTATION}: databases and users kept")
        return
    problems = drop_databases(memo["addon_backends"], body, _all_addons(handler_kwargs), logger)
    if problems:
        message = (
            f"cannot drop the app's databases: {'; '.join(problems)} "
            f"(annotate the app {RETAIN_ANNOTATION}=true to delete it and keep them)"
        )
        ready = ConditionUpdate("Ready", FALSE, "DeprovisionFailed", message)
        write_status(
            memo["api"], body, {**body.get("status", {}), "conditions": app_conditions(body, [ready])}
        )
        raise kopf.TemporaryError(message, delay=ADDON_RETRY_DELAY)


def _all_addons(handler_kwargs: Mapping[str, Any]) -> list[AddonRecord]:
    """Every Addon, from the index kopf passes as the `addons_by_type` keyword argument."""
    index: kopf.Index[str, AddonRecord] = handler_kwargs["addons_by_type"]
    return [record for addon_type in index for record in index[addon_type]]
