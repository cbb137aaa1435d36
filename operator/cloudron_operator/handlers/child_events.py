"""Child changes: a Deployment, Certificate, HTTPRoute or the listeners of an app changed, so may the
app's status.

The store's watches report every change of a child (`Store.on_child_change`, in an informer's
thread); it is handed to kopf's event loop here. Most changes alter nothing the app reports (a
replica count on the way, a resync of the child): what each app's status says of its children lets
those pass without a request. The others refresh the app's status from the children in the store,
one refresh per app at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from cloudron_operator import builders
from cloudron_operator.children import certificate_condition, workload_condition
from cloudron_operator.reconcile.refresh import AppRefreshes, refresh
from cloudron_operator.reconcile.status import routed_condition
from cloudron_operator.status import ConditionUpdate
from cloudron_operator.store import Change, ChildSeen

if TYPE_CHECKING:
    from cloudron_operator.runtime import Runtime

logger = logging.getLogger(__name__)


def child_listener(runtime: Runtime, loop: asyncio.AbstractEventLoop) -> Callable[[Change[ChildSeen]], None]:
    """What the store calls with each change of a child, in an informer's thread: on to the loop."""

    def changed(change: Change[ChildSeen]) -> None:
        child = change.after or change.before
        if child is None or child.kind not in WATCHED_KINDS or child.app_name is None:
            return
        loop.call_soon_threadsafe(_spawn, runtime, child)

    return changed


ROUTING_KINDS: Final = frozenset({"HTTPRoute", "ListenerSet", "Gateway"})
WATCHED_KINDS: Final = frozenset({"Deployment", "Certificate"}) | ROUTING_KINDS
_tasks: set[asyncio.Task[None]] = set()  # strong references: the loop keeps only weak ones


def _spawn(runtime: Runtime, child: ChildSeen) -> None:
    task = asyncio.get_running_loop().create_task(child_changed(runtime, child))
    _tasks.add(task)
    task.add_done_callback(_done)


def _done(task: asyncio.Task[None]) -> None:
    _tasks.discard(task)
    if not task.cancelled() and (error := task.exception()) is not None:
        logger.error("refreshing the status after a child changed failed: %s", error, exc_info=error)


async def child_changed(runtime: Runtime, child: ChildSeen) -> None:
    """A child the app's status reads changed: recompute that app's status, if it must change.

    The app's status is compared with the condition this child gives *before* anything is read:
    most child changes (a replica count, a resync of the child) change nothing the app reports.
    A deleted child is judged by its last state: the app's next pass makes it again.
    """
    assert child.app_name is not None and child.app_uid is not None
    if runtime.paused():
        return  # another replica is active: its store sees the same change
    key = (child.namespace, child.app_name)
    store = runtime.store
    seen = store.app(key)
    if child.kind in ROUTING_KINDS:
        app_meta = {"uid": child.app_uid, "name": child.app_name, "namespace": child.namespace}
        condition = routed_condition(store, app_meta)
    else:
        running = seen.running if seen is not None else True
        condition = _condition_of_child(child.as_object(), child.app_name, running)
    if condition is None:
        return  # another child of the app, such as its Redis: not part of its status
    if seen is not None and (
        seen.invalid  # the spec is what is wrong; the children's state does not change that
        or seen.conditions.get(condition.type) == (condition.status, condition.reason, condition.message)
    ):
        return
    refreshes: AppRefreshes = runtime.refreshes
    if not refreshes.begin(key):
        return  # the refresh under way takes one more round, with this child's state, before it ends
    try:
        while True:
            await refresh(runtime, key, uid=child.app_uid)
            if not refreshes.another_round(key):
                return
    finally:
        refreshes.end(key)


def _condition_of_child(child: Mapping[str, Any], app_name: str, running: bool) -> ConditionUpdate | None:
    """The condition `child` gives its app, or None if it is not the app's workload or certificate."""
    name = child["metadata"]["name"]
    if child.get("kind") == "Deployment" and name == builders.child_name(app_name):
        return workload_condition(child, running)
    if child.get("kind") == "Certificate" and name == builders.tls_name(app_name):
        return certificate_condition(child)
    return None
