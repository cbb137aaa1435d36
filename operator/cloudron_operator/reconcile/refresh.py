"""A status refresh after a child changed: the app's conditions from the children in the store.

At most one refresh per app at a time (`AppRefreshes`, in the event loop), in a thread under the
app's lock (`_locked_refresh`): the app's status has one writer at a time.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from cloudron_operator.k8s import api as k8s
from cloudron_operator.models import GROUP, VERSION
from cloudron_operator.reconcile.reasons import INVALID_REASONS, ready_reason
from cloudron_operator.reconcile.status import refresh_status
from cloudron_operator.store import AppKey, AppSeen, Store
from cloudron_operator.store.apps import first_pass_done

if TYPE_CHECKING:
    from cloudron_operator.runtime import Runtime


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


async def refresh(runtime: Runtime, key: AppKey, *, uid: str) -> None:
    store = runtime.store
    for attempt, delay in enumerate(RETRY_DELAYS):
        seen = store.app(key)
        if seen is not None and (seen.uid != uid or seen.invalid):
            return  # another app of the same name now, or an app whose spec must be fixed first
        # Until its first pass wrote the status, a refresh would write it without the addons' part,
        # and the pass may have taken the children's state just before this event: the refresh
        # waits for the pass's write. The pass records it in this process; the watch brings it too.
        # From READ_AFTER_TRIES on (another replica wrote it, say), the app is read instead.
        known = seen if seen is not None and seen.first_pass_done else None
        if known is not None or attempt >= READ_AFTER_TRIES:
            refreshed = await asyncio.to_thread(_locked_refresh, runtime, key, uid=uid, known=known)
            if refreshed:
                return
        await asyncio.sleep(delay)


def _locked_refresh(runtime: Runtime, key: AppKey, *, uid: str, known: AppSeen | None) -> bool:
    """The refresh under the app's lock: the app's status has one writer at a time, and a pass that
    runs now writes the status from these children itself at its end."""
    with runtime.passes.lock(uid):
        if runtime.passes.was_deleted(uid):
            return True
        # What the pass under way may have written meanwhile: start from the store's newest.
        newest = runtime.store.app(key)
        fresher = newest if newest is not None and newest.uid == uid and newest.first_pass_done else known
        return refresh_app_status(runtime.api, key, uid=uid, known=fresher, store=runtime.store)


def refresh_app_status(
    api: Any,
    key: AppKey,
    *,
    uid: str,
    known: AppSeen | None,
    store: Store,
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
            store.record(app)
        if app["metadata"].get("deletionTimestamp") or ready_reason(app) in INVALID_REASONS:
            return True
        if not first_pass_done(app.get("status", {})):
            return False
        written = refresh_status(api, app, store)
        if written is not None:
            store.record(written)
            return True
        app = None
    return False
