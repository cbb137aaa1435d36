"""Addon: check the server it names, report Ready, its version and how many apps it serves.

A kopf index keeps the Addons by type for the app handlers; how many apps each Addon serves is
counted from the apps in the store, without a request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from cloudron_operator.addons.base import AddonCheck, AddonProblem, AddonRecord
from cloudron_operator.addons.ldap import LdapAddon
from cloudron_operator.addons.registry import AddonBackends
from cloudron_operator.config import OperatorConfig
from cloudron_operator.k8s import api as k8s
from cloudron_operator.metrics import Metrics
from cloudron_operator.models import API_VERSION, GROUP, VERSION
from cloudron_operator.models.conditions import Reason
from cloudron_operator.runtime import runtime
from cloudron_operator.status import FALSE, TRUE, ConditionUpdate, merge_conditions, status_patch

ADDONS = (GROUP, VERSION, "addons")


def register(registry: kopf.OperatorRegistry, config: OperatorConfig, metrics: Metrics) -> None:
    kopf.index(*ADDONS, registry=registry)(addons_by_type)
    check = metrics.instrumented("Addon")(check_addon)
    for on in (kopf.on.create, kopf.on.resume):
        on(*ADDONS, registry=registry)(check)
    kopf.on.update(*ADDONS, field="spec", registry=registry)(check)
    every = config.resync_seconds
    kopf.timer(*ADDONS, interval=every, initial_delay=every, registry=registry)(check)
    kopf.daemon(*ADDONS, registry=registry)(keep_app_count)
    # Optional: no finalizer on the Addons for it; a deletion kopf misses only leaves a log line.
    kopf.on.delete(*ADDONS, optional=True, registry=registry)(addon_deleted)


def addon_deleted(name: str, spec: Mapping[str, Any], memo: Any, **_: Any) -> None:
    """An ldap Addon's server is no longer kept synced once the Addon is gone."""
    backend = runtime(memo).backends.get(str(spec.get("type", "")))
    if isinstance(backend, LdapAddon):
        backend.directory.forget(name)


APP_COUNT_SECONDS = 5.0
CONSISTENCY_SECONDS = 60.0
# The count's own field manager: its writes carry the count alone, so a body the watch has not
# brought up to date cannot put back the conditions a check just replaced.
APP_COUNT_MANAGER = f"{k8s.FIELD_MANAGER}-app-count"


async def keep_app_count(stopped: kopf.DaemonStopped, body: kopf.Body, memo: Any, **_: Any) -> None:
    """Keep status.appCount in step with the apps, a few seconds after they change, between checks.

    Counting is free (the apps in memory); the server check runs only at the resync interval, so without
    this the count would lag by up to that long and be written while everything else is at rest.
    An async daemon: it holds no worker thread, and kopf logs nothing per round.
    """
    context = runtime(memo)
    name = body.meta["name"]
    written = _OwnWrite()
    while not stopped:
        count = context.store.serving(name)
        status = dict(body.status)  # a live view: kopf updates it from the watch
        stored_count = written.count_or(status.get("appCount"), body.meta.get("resourceVersion"))
        if status.get("conditions") and stored_count != count:
            answer = await asyncio.to_thread(
                k8s.apply,
                context.api,
                _status_object(name, {"appCount": count}),
                subresource="status",
                field_manager=APP_COUNT_MANAGER,
            )
            written.made(str(answer["metadata"]["resourceVersion"]), count)
        await stopped.wait(APP_COUNT_SECONDS)


class _OwnWrite:
    """The daemon's last write of the count, until kopf's copy of the Addon is seen to have it.

    resourceVersions are compared for equality only: kopf's copy has our write once it carries the
    version our write was answered with. A copy that moved past it unseen (another write came right
    after) is trusted once the write is older than kopf's consistency window.
    """

    def __init__(self) -> None:
        self._version: str | None = None
        self._count = 0
        self._at = 0.0

    def made(self, version: str, count: int) -> None:
        self._version, self._count, self._at = version, count, time.monotonic()

    def count_or(self, stored: Any, version: Any) -> Any:
        """The count kopf's copy has, or ours if that copy may predate our write."""
        if self._version is None:
            return stored
        if version == self._version or time.monotonic() - self._at > CONSISTENCY_SECONDS:
            self._version = None
            return stored
        return self._count


async def addons_by_type(name: str, spec: Mapping[str, Any], **_: Any) -> dict[str, AddonRecord]:
    """Index: Addon type -> the Addons of that type."""
    return {str(spec.get("type", "")): AddonRecord.from_object(name, spec)}


def check_addon(body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    # kopf passes its indexes as keyword arguments named after the index functions.
    addons_by_type: kopf.Index[str, AddonRecord] = kwargs["addons_by_type"]
    context = runtime(memo)
    record = AddonRecord.from_object(body.meta["name"], body.spec)
    ready, version = _readiness(context.backends, record, list(addons_by_type.get(record.type, [])))
    desired: dict[str, Any] = {
        "observedGeneration": body.meta["generation"],
        "conditions": merge_conditions(
            body.status.get("conditions", []), [ready], body.meta["generation"], datetime.now(UTC)
        ),
        "appCount": context.store.serving(record.name),
    }
    if version is not None:
        desired["serverVersion"] = version
    previous = {c.get("type"): c for c in body.status.get("conditions", [])}.get("Ready", {})
    if ready.status == FALSE and previous.get("reason") != ready.reason:
        kopf.warn(body, reason=ready.reason, message=ready.message)
    if status_patch(body.status, desired):
        k8s.apply(
            context.api,
            _status_object(record.name, desired),
            subresource="status",
        )


def _status_object(name: str, status: Mapping[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "Addon", "metadata": {"name": name}, "status": dict(status)}


def _readiness(
    backends: AddonBackends, record: AddonRecord, same_type: list[AddonRecord]
) -> tuple[ConditionUpdate, str | None]:
    """The Ready condition and the server's version, from logging in as the apps' provisioner will."""
    if record.default:
        others = sorted(a.name for a in same_type if a.default and a.name != record.name)
        if others:
            message = (
                f"Addons {', '.join(others)} are also the default for {record.type}: "
                "keep spec.default: true on one of them"
            )
            return ConditionUpdate("Ready", FALSE, Reason.AMBIGUOUS_DEFAULT, message), None
    try:
        checked = _check(backends, record)
    except AddonProblem as problem:
        return ConditionUpdate("Ready", FALSE, problem.reason, str(problem)), None
    return ConditionUpdate("Ready", TRUE, Reason.CONNECTED, checked.message), checked.server_version


def _check(backends: AddonBackends, record: AddonRecord) -> AddonCheck:
    backend = backends.get(record.type)
    if backend is None:
        raise AddonProblem(
            Reason.UNSUPPORTED_ADDON, f"this operator cannot provision {record.type} addons yet"
        )
    return backend.check(record)
