"""BackupStore, CloudronBackup and the apps' backup schedules: kopf wiring for `reconcile.backups`.

A backup is followed by a short timer while it is not finished (its Job is not watched); stores
are checked on every change and at the resync interval; schedules are looked at every half minute.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import kopf

from cloudron_operator.backup.access import StoreProblem
from cloudron_operator.backup.store import StoreError
from cloudron_operator.config import OperatorConfig
from cloudron_operator.k8s import api as k8s
from cloudron_operator.metrics import Metrics
from cloudron_operator.models import API_VERSION, GROUP, VERSION
from cloudron_operator.models.conditions import Reason
from cloudron_operator.reconcile.backups import (
    Outcome,
    advance_backup,
    check_store,
    delete_stored,
    import_backups,
    import_requested,
    prune,
    retention_of,
    run_schedule,
)
from cloudron_operator.runtime import runtime

STORES = (GROUP, VERSION, "backupstores")
BACKUPS = (GROUP, VERSION, "cloudronbackups")
APPS = (GROUP, VERSION, "cloudronapps")
FOLLOW_SECONDS: Final = 5.0  # how often an unfinished backup's Job is looked at
SCHEDULE_SECONDS: Final = 30.0
STORE_RETRY_SECONDS: Final = 60.0


def register(registry: kopf.OperatorRegistry, config: OperatorConfig, metrics: Metrics) -> None:
    store = metrics.instrumented("BackupStore")(store_handler)
    for on in (kopf.on.create, kopf.on.resume):
        on(*STORES, registry=registry)(store)
    kopf.on.update(*STORES, registry=registry)(store)  # the spec, or the import annotation
    every = config.resync_seconds
    kopf.timer(*STORES, interval=every, initial_delay=every, registry=registry)(store)

    backup = metrics.instrumented("CloudronBackup")(backup_handler)
    for on in (kopf.on.create, kopf.on.resume):
        on(*BACKUPS, registry=registry)(backup)
    kopf.timer(*BACKUPS, id="follow", interval=FOLLOW_SECONDS, when=_unfinished, registry=registry)(backup)
    kopf.on.delete(*BACKUPS, registry=registry)(metrics.instrumented("CloudronBackup")(backup_deleted))

    schedule_every = min(SCHEDULE_SECONDS, every)  # a resync shorter than that looks as often
    kopf.timer(*APPS, id="backup-schedule", interval=schedule_every, when=_scheduled, registry=registry)(
        schedule_handler
    )


def _unfinished(status: Mapping[str, Any], meta: Mapping[str, Any], **_: Any) -> bool:
    return status.get("phase") not in ("Succeeded", "Failed") and not meta.get("deletionTimestamp")


def _scheduled(spec: Mapping[str, Any], **_: Any) -> bool:
    return bool((spec.get("backup") or {}).get("schedule"))


def _event(body: kopf.Body, outcome: Outcome | None) -> None:
    if outcome is not None:
        (kopf.warn if outcome.warning else kopf.info)(body, reason=outcome.reason, message=outcome.message)


def store_handler(body: kopf.Body, memo: Any, **_: Any) -> None:
    """Check the store; answer an import request."""
    context = runtime(memo)
    _event(body, check_store(context.api, body))
    request = import_requested(body)
    if request is None:
        return
    current = k8s.get(context.api, API_VERSION, "BackupStore", None, body.meta["name"]) or body
    try:
        _event(body, import_backups(context.api, current, request))
    except (StoreProblem, StoreError) as error:
        raise kopf.TemporaryError(
            f"cannot import from the store: {error}", delay=STORE_RETRY_SECONDS
        ) from error


def backup_handler(body: kopf.Body, memo: Any, **_: Any) -> None:
    """A step of the backup; after it succeeds, the app's retention."""
    context = runtime(memo)
    outcome = advance_backup(context.api, body, image=context.config.backup_image, backends=context.backends)
    _event(body, outcome)
    if outcome is not None and outcome.reason == Reason.BACKUP_SUCCEEDED:
        app = k8s.get(context.api, API_VERSION, "CloudronApp", body.meta["namespace"], body["spec"]["app"])
        if app is not None and (app.get("spec") or {}).get("backup"):
            pruned = prune(context.api, body.meta["namespace"], body["spec"]["app"], retention_of(app))
            if pruned:
                kopf.info(body, reason=Reason.BACKUP_PRUNED, message=f"retention deleted {', '.join(pruned)}")


def backup_deleted(body: kopf.Body, memo: Any, **_: Any) -> None:
    """The stored data goes with the object, unless it is to be kept; a store that does not answer
    keeps the object until it does (annotate it cloudron.io/retain=true to let it go)."""
    try:
        _event(body, delete_stored(runtime(memo).api, body))
    except (StoreProblem, StoreError) as error:
        message = (
            f"cannot delete the stored backup: {error} (annotate it cloudron.io/retain=true to delete "
            "the object and keep the data)"
        )
        kopf.warn(body, reason=Reason.STORE_UNREACHABLE, message=message)
        raise kopf.TemporaryError(message, delay=STORE_RETRY_SECONDS) from error


def schedule_handler(body: kopf.Body, memo: Any, **_: Any) -> None:
    _event(body, run_schedule(runtime(memo).api, body, datetime.now(UTC)))
