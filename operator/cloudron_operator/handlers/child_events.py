"""Child events: a Deployment or Certificate of an app changed, so may the app's status.

Most events change nothing the app reports (a replica count on the way, a resync of the child):
an index of what each app's status says of its children lets those pass without a request. The
others refresh the app's status, one refresh per app at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from cloudron_operator import builders
from cloudron_operator.children import certificate_condition, workload_condition
from cloudron_operator.handlers.app_status import INVALID_REASONS, ready_reason, refresh_status
from cloudron_operator.k8s import api as k8s
from cloudron_operator.models import GROUP, VERSION
from cloudron_operator.status import ConditionUpdate

AppKey = tuple[str | None, str]  # (namespace, name) of a CloudronApp


def children_seen_by_apps(
    namespace: str | None,
    name: str,
    uid: str,
    spec: Mapping[str, Any],
    status: Mapping[str, Any],
    **_: Any,
) -> dict[AppKey, ChildrenSeen]:
    """Index: (namespace, app) -> what the app's status says of its Deployment and Certificate."""
    recorded = {
        c["type"]: (c.get("status"), c.get("reason"), c.get("message"))
        for c in status.get("conditions", [])
        if c.get("type") in CHILD_CONDITIONS
    }
    seen = ChildrenSeen(
        uid=uid,
        running=spec.get("running", True) is not False,
        conditions=recorded,
        first_pass_done=_first_pass_done(status),
        invalid=ready_reason({"status": status}) in INVALID_REASONS,
    )
    return {(namespace, name): seen}


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
    key = (body.meta["namespace"], owner["name"])
    index: kopf.Index[AppKey, ChildrenSeen] = kwargs["children_seen_by_apps"]
    seen = _seen(index, key)
    condition = _condition_of_child(body, owner["name"], seen.running if seen is not None else True)
    if condition is None:
        return  # another child of the app, such as its Redis: not part of its status
    if seen is not None and (
        seen.invalid  # the spec is what is wrong; the children's state does not change that
        or seen.conditions.get(condition.type) == (condition.status, condition.reason, condition.message)
    ):
        return
    refreshes: AppRefreshes = memo["app_refreshes"]
    if not refreshes.begin(key):
        return  # the refresh under way reads the children once more before it ends
    try:
        while True:
            await _refresh(memo["api"], key, owner["uid"], index)
            if not refreshes.another_round(key):
                return
    finally:
        refreshes.end(key)


# kopf does not retry event handlers, so the refresh waits itself, without holding a thread: for the
# app's first pass to write its status, or after a conditional status write that lost a race (409).
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)
INDEX_TRIES = 3


class AppRefreshes:
    """At most one status refresh per app at a time; events during one ask it for another round.

    A burst of child events (a Deployment rolling out, a Certificate issued meanwhile) costs one
    or two refreshes instead of one each. Used only from the event loop's thread: no lock.
    """

    def __init__(self) -> None:
        self._another: dict[AppKey, bool] = {}  # apps being refreshed -> an event came meanwhile

    def begin(self, key: AppKey) -> bool:
        if key in self._another:
            self._another[key] = True
            return False
        self._another[key] = False
        return True

    def another_round(self, key: AppKey) -> bool:
        wanted = self._another[key]
        self._another[key] = False
        return wanted

    def end(self, key: AppKey) -> None:
        self._another.pop(key, None)


async def _refresh(api: Any, key: AppKey, uid: str, index: kopf.Index[AppKey, ChildrenSeen]) -> None:
    for attempt, delay in enumerate(RETRY_DELAYS):
        seen = _seen(index, key)
        if seen is not None and (seen.uid != uid or seen.invalid):
            return  # another app of the same name now, or an app whose spec must be fixed first
        # Until its first pass wrote the status, that pass reads the children itself; it may have
        # read them just before this event, so the refresh waits for its write. The index shows it
        # without a request, but only once kopf processed the app's later events, which waits while
        # another pass of the app runs: from INDEX_TRIES on, the app is read instead.
        ready_to_refresh = (seen is not None and seen.first_pass_done) or attempt >= INDEX_TRIES
        if ready_to_refresh and await asyncio.to_thread(_refresh_now, api, key, uid):
            return
        await asyncio.sleep(delay)


def _refresh_now(api: Any, key: AppKey, uid: str) -> bool:
    """Refresh the app's status from its children now; False if it must be tried again later."""
    namespace, name = key
    app = k8s.get(api, f"{GROUP}/{VERSION}", "CloudronApp", namespace, name)
    if app is None or app["metadata"].get("deletionTimestamp") or app["metadata"]["uid"] != uid:
        return True
    if ready_reason(app) in INVALID_REASONS:
        return True
    if not _first_pass_done(app.get("status", {})):
        return False
    return refresh_status(api, app)


def _first_pass_done(status: Mapping[str, Any]) -> bool:
    """The app's first pass wrote its whole status, AddonsReady included, when it ended."""
    return any(c.get("type") == "AddonsReady" for c in status.get("conditions", []))


CHILD_CONDITIONS = ("WorkloadAvailable", "CertificateReady")


@dataclass(frozen=True)
class ChildrenSeen:
    uid: str
    running: bool
    conditions: Mapping[str, tuple[Any, Any, Any]]  # type -> (status, reason, message)
    first_pass_done: bool  # its status has AddonsReady: the first pass wrote it whole
    invalid: bool  # Ready=False for a reason in the spec, which no child changes


def _seen(index: kopf.Index[AppKey, ChildrenSeen], key: AppKey) -> ChildrenSeen | None:
    return next(iter(index.get(key, ())), None)


def _condition_of_child(child: Mapping[str, Any], app_name: str, running: bool) -> ConditionUpdate | None:
    """The condition `child` gives its app, or None if it is not the app's workload or certificate."""
    name = child["metadata"]["name"]
    if child.get("kind") == "Deployment" and name == builders.child_name(app_name):
        return workload_condition(child, running)
    if child.get("kind") == "Certificate" and name == builders.tls_name(app_name):
        return certificate_condition(child)
    return None
