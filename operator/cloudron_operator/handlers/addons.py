"""Addon: check the server it names, report Ready, its version and how many apps it serves.

A kopf index keeps the Addons by type for the app handlers; how many apps each Addon serves is
counted from the apps this process knows (`known_apps`), without a request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes import client

from cloudron_operator.addons.base import AddonCheck, AddonProblem, AddonRecord
from cloudron_operator.addons.registry import AddonBackends
from cloudron_operator.config import OperatorConfig
from cloudron_operator.handlers.known_apps import KnownApps
from cloudron_operator.k8s import api as k8s
from cloudron_operator.metrics import Metrics
from cloudron_operator.models import API_VERSION, GROUP, VERSION
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


APP_COUNT_SECONDS = 5.0
# The count's own field manager: its writes carry the count alone, so a body the watch has not
# brought up to date cannot put back the conditions a check just replaced.
APP_COUNT_MANAGER = f"{k8s.FIELD_MANAGER}-app-count"


async def keep_app_count(stopped: kopf.DaemonStopped, body: kopf.Body, memo: Any, **_: Any) -> None:
    """Keep status.appCount in step with the apps, a few seconds after they change, between checks.

    Counting is free (the apps in memory); the server check runs only at the resync interval, so without
    this the count would lag by up to that long and be written while everything else is at rest.
    An async daemon: it holds no worker thread, and kopf logs nothing per round.
    """
    apps: KnownApps = memo["known_apps"]
    name = body.meta["name"]
    written: tuple[str, int] | None = None  # resourceVersion and appCount of this daemon's last write
    while not stopped:
        count = apps.serving(name)
        status = dict(body.status)  # a live view: kopf updates it from the watch
        stored_count = status.get("appCount")
        if written is not None and k8s.older_version(body.meta.get("resourceVersion"), written[0]):
            stored_count = written[1]  # the watch has not brought our own write back yet
        if status.get("conditions") and stored_count != count:
            answer = await asyncio.to_thread(
                k8s.apply,
                memo["api"],
                _status_object(name, {"appCount": count}),
                subresource="status",
                field_manager=APP_COUNT_MANAGER,
            )
            written = (str(answer["metadata"]["resourceVersion"]), count)
        await stopped.wait(APP_COUNT_SECONDS)


async def addons_by_type(name: str, spec: Mapping[str, Any], **_: Any) -> dict[str, AddonRecord]:
    """Index: Addon type -> the Addons of that type."""
    return {str(spec.get("type", "")): AddonRecord.from_object(name, spec)}


def check_addon(body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    # kopf passes its indexes as keyword arguments named after the index functions.
    addons_by_type: kopf.Index[str, AddonRecord] = kwargs["addons_by_type"]
    api: client.ApiClient = memo["api"]
    record = AddonRecord.from_object(body.meta["name"], body.spec)
    ready, version = _readiness(memo["addon_backends"], record, list(addons_by_type.get(record.type, [])))
    desired: dict[str, Any] = {
        "observedGeneration": body.meta["generation"],
        "conditions": merge_conditions(
            body.status.get("conditions", []), [ready], body.meta["generation"], datetime.now(UTC)
        ),
        "appCount": memo["known_apps"].serving(record.name),
    }
    if version is not None:
        desired["serverVersion"] = version
    previous = {c.get("type"): c for c in body.status.get("conditions", [])}.get("Ready", {})
    if ready.status == FALSE and previous.get("reason") != ready.reason:
        kopf.warn(body, reason=ready.reason, message=ready.message)
    if status_patch(body.status, desired):
        k8s.apply(
            api,
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
            return ConditionUpdate("Ready", FALSE, "AmbiguousDefault", message), None
    try:
        checked = _check(backends, record)
    except AddonProblem as problem:
        return ConditionUpdate("Ready", FALSE, problem.reason, str(problem)), None
    return ConditionUpdate("Ready", TRUE, "Connected", checked.message), checked.server_version


def _check(backends: AddonBackends, record: AddonRecord) -> AddonCheck:
    backend = backends.get(record.type)
    if backend is None:
        raise AddonProblem("UnsupportedAddon", f"this operator cannot provision {record.type} addons yet")
    return backend.check(record)
