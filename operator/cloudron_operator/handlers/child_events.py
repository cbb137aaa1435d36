"""Child events: a Deployment or Certificate of an app changed, so may the app's status.

Most events change nothing the app reports (a replica count on the way, a resync of the child):
what each app's status says of its children lets those pass without a request. That is known from
the apps this process has seen in the watch and in its own reads and writes (`known_apps`). The
other events refresh the app's status from the children's states kept in memory
(`child_states`), one refresh per app at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import kopf

from cloudron_operator import builders
from cloudron_operator.children import certificate_condition, workload_condition
from cloudron_operator.handlers.child_states import ChildStates
from cloudron_operator.handlers.known_apps import AppKey, AppSeen, KnownApps, first_pass_done
from cloudron_operator.k8s import api as k8s
from cloudron_operator.models import GROUP, VERSION
from cloudron_operator.reconcile.reasons import INVALID_REASONS, ready_reason
from cloudron_operator.reconcile.status import refresh_status
from cloudron_operator.status import ConditionUpdate


async def child_changed(body: kopf.Body, memo: Any, type: str | None, **_: Any) -> None:
    """A Deployment or Certificate of an app changed: recompute that app's status, if it must change.

    The app's status is compared with the condition this child gives *before* anything is read:
    most child events (a replica count, a resync of the child) change nothing the app reports.
    """
    children: ChildStates = memo["child_states"]
    if type == "DELETED":
        children.forget(body.meta["namespace"], body["kind"], body.meta["name"])
    else:
        children.record(body)
    owner = next(
        (ref for ref in body.meta.get("ownerReferences", []) if ref.get("kind") == "CloudronApp"), None
    )
    if owner is None:
        return
    key = (body.meta["namespace"], owner["name"])
    known: KnownApps = memo["known_apps"]
    seen = known.newest(key)
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
        return  # the refresh under way takes one more round, with this child's state, before it ends
    try:
        while True:
            await _refresh(memo["api"], key, uid=owner["uid"], apps=known, children=children)
            if not refreshes.another_round(key):
                return
    finally:
        refreshes.end(key)


# kopf does not retry event handlers, so the refresh waits itself, without holding a thread: for the
# app's first pass to write its status, or after a conditional status write that lost a race (409).
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)
READ_AFTER_TRIES = 3


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


async def _refresh(
    api: Any,
    key: AppKey,
    *,
    uid: str,
    apps: KnownApps,
    children: ChildStates,
) -> None:
    for attempt, delay in enumerate(RETRY_DELAYS):
        seen = apps.newest(key)
        if seen is not None and (seen.uid != uid or seen.invalid):
            return  # another app of the same name now, or an app whose spec must be fixed first
        # Until its first pass wrote the status, a refresh would write it without the addons' part,
        # and the pass may have taken the children's state just before this event: the refresh
        # waits for the pass's write. The pass records it in this process; the watch brings it too.
        # From READ_AFTER_TRIES on (another replica wrote it, say), the app is read instead.
        known = seen if seen is not None and seen.first_pass_done else None
        if known is not None or attempt >= READ_AFTER_TRIES:
            refreshed = await asyncio.to_thread(
                refresh_app_status, api, key, uid=uid, known=known, apps=apps, children=children
            )
            if refreshed:
                return
        await asyncio.sleep(delay)


def refresh_app_status(
    api: Any,
    key: AppKey,
    *,
    uid: str,
    known: AppSeen | None,
    apps: KnownApps,
    children: ChildStates,
) -> bool:
    """Refresh the app's status from its children's states, in a thread; False to try again later.

    Starts from `known` without a read, or from a read when there is none or it turned out old
    (the conditional write refused).
    """
    app = known.app if known is not None else None
    for _ in range(2):
        if app is None:
            app = k8s.get(api, f"{GROUP}/{VERSION}", "CloudronApp", *key)
            if app is None or app["metadata"]["uid"] != uid:
                return True
            apps.record(app)
        if app["metadata"].get("deletionTimestamp") or ready_reason(app) in INVALID_REASONS:
            return True
        if not first_pass_done(app.get("status", {})):
            return False
        written = refresh_status(api, app, children)
        if written is not None:
            apps.record(written)
            return True
        app = None
    return False


def _condition_of_child(child: Mapping[str, Any], app_name: str, running: bool) -> ConditionUpdate | None:
    """The condition `child` gives its app, or None if it is not the app's workload or certificate."""
    name = child["metadata"]["name"]
    if child.get("kind") == "Deployment" and name == builders.child_name(app_name):
        return workload_condition(child, running)
    if child.get("kind") == "Certificate" and name == builders.tls_name(app_name):
        return certificate_condition(child)
    return None
