"""Child events: a Deployment or Certificate of an app changed, so may the app's status.

Most events change nothing the app reports (a replica count on the way, a resync of the child):
an index of what each app's status says of its children lets those pass without a request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import kopf

from cloudron_operator import builders
from cloudron_operator.children import certificate_condition, workload_condition
from cloudron_operator.handlers.app_status import INVALID_REASONS, ready_reason, refresh_status
from cloudron_operator.k8s import api as k8s
from cloudron_operator.models import GROUP, VERSION
from cloudron_operator.status import ConditionUpdate


def children_seen_by_apps(
    namespace: str | None, name: str, spec: Mapping[str, Any], status: Mapping[str, Any], **_: Any
) -> dict[tuple[str | None, str], ChildrenSeen]:
    """Index: (namespace, app) -> what the app's status says of its Deployment and Certificate."""
    recorded = {
        c["type"]: (c.get("status"), c.get("reason"), c.get("message"))
        for c in status.get("conditions", [])
        if c.get("type") in CHILD_CONDITIONS
    }
    return {(namespace, name): ChildrenSeen(spec.get("running", True) is not False, recorded)}


async def child_changed(body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    """A Deployment or Certificate of an app changed: recompute that app's status, if it must change.

    The app's status is compared with the condition this child gives *before* anything is read:
    most child events (a replica count, a resync of the child) change nothing the app reports.
    """
    owner = next(
        (ref for ref in body.meta.get("ownerReferences", []) if ref.get("kind") == "CloudronApp"), None
    )
    if owner is None:
        return
    namespace = body.meta["namespace"]
    index: kopf.Index[tuple[str | None, str], ChildrenSeen] = kwargs["children_seen_by_apps"]
    seen = next(iter(index.get((namespace, owner["name"]), ())), None)
    condition = _condition_of_child(body, owner["name"], seen.running if seen is not None else True)
    if condition is None:
        return  # another child of the app, such as its Redis: not part of its status
    if seen is not None and seen.conditions.get(condition.type) == (
        condition.status,
        condition.reason,
        condition.message,
    ):
        return
    # kopf does not retry event handlers, so this one waits itself, without holding a thread:
    # for the app's first pass to write its status, or after a write that lost a race (409).
    for delay in RETRY_DELAYS:
        if await asyncio.to_thread(_refresh, memo["api"], namespace, owner) is _Outcome.DONE:
            return
        await asyncio.sleep(delay)


RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)


class _Outcome(Enum):
    DONE = "done"
    RETRY = "retry"


def _refresh(api: Any, namespace: str, owner: Mapping[str, Any]) -> _Outcome:
    app = k8s.get(api, f"{GROUP}/{VERSION}", "CloudronApp", namespace, owner["name"])
    if app is None or app["metadata"].get("deletionTimestamp") or app["metadata"]["uid"] != owner["uid"]:
        return _Outcome.DONE
    if ready_reason(app) in INVALID_REASONS:
        return _Outcome.DONE  # the spec is what is wrong; the children's state does not change that
    if not any(c.get("type") == "AddonsReady" for c in app.get("status", {}).get("conditions", [])):
        return _Outcome.RETRY  # the first pass is still running
    return _Outcome.DONE if refresh_status(api, app) else _Outcome.RETRY


CHILD_CONDITIONS = ("WorkloadAvailable", "CertificateReady")


@dataclass(frozen=True)
class ChildrenSeen:
    running: bool
    conditions: Mapping[str, tuple[Any, Any, Any]]  # type -> (status, reason, message)


def _condition_of_child(child: Mapping[str, Any], app_name: str, running: bool) -> ConditionUpdate | None:
    """The condition `child` gives its app, or None if it is not the app's workload or certificate."""
    name = child["metadata"]["name"]
    if child.get("kind") == "Deployment" and name == builders.child_name(app_name):
        return workload_condition(child, running)
    if child.get("kind") == "Certificate" and name == builders.tls_name(app_name):
        return certificate_condition(child)
    return None
