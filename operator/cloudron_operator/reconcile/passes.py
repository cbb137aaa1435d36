"""One pass of an app at a time, and when its resync is due."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

RESYNC_SLACK = 0.9
# How long a deleted app's uid is remembered: longer than any pass queued before the deletion waits.
DELETED_KEPT_SECONDS = 3600.0


def resync_due(since_last_pass: float | None, resync_seconds: float, *, others_waiting: bool = False) -> bool:
    """No pass of the app in this process yet, or its last one ended (about) an interval ago.

    kopf's first tick comes an interval after it first saw the app, not after its first pass: at a
    thousand new apps, the first passes wait minutes for a thread, and many resyncs would fall
    among them. A resync also yields, once, to passes waiting for a thread (`others_waiting`): it
    runs at the next tick, an interval later, whatever waits then, so no resync comes more than
    about two intervals after the app's last pass. The slack: kopf's next tick comes an interval
    after the tick's handler returned, a moment after the pass ended, and asyncio may wake a timer
    a hair early.
    """
    if since_last_pass is None or since_last_pass >= (1 + RESYNC_SLACK) * resync_seconds:
        return True
    return since_last_pass >= RESYNC_SLACK * resync_seconds and not others_waiting


class LastPasses:
    """When each app's last full pass in this process ended, by uid (monotonic seconds), and a lock
    per app that its passes take: one pass of an app at a time.

    kopf runs an app's changing handlers one at a time, but its timers beside them: the resync's
    tick can come while the app's create pass still runs or waits for a thread. Two passes of a new
    app at once would each find no addon Secret and generate a password, and the last to write would
    replace the one the other had given the database.
    """

    def __init__(self) -> None:
        self._ended: dict[str, float] = {}
        self._locks: dict[str, tuple[threading.Lock, int]] = {}  # uid -> its lock, and how many use it
        self._deleted: dict[str, float] = {}  # uid -> when its deletion was handled
        self._guard = threading.Lock()

    @staticmethod
    def now() -> float:
        return time.monotonic()

    def ended(self, uid: str) -> None:
        self._ended[uid] = time.monotonic()

    def since(self, uid: str) -> float | None:
        ended = self._ended.get(uid)
        return None if ended is None else time.monotonic() - ended

    def ended_after(self, uid: str, moment: float) -> bool:
        ended = self._ended.get(uid)
        return ended is not None and ended > moment

    @contextmanager
    def lock(self, uid: str) -> Iterator[None]:
        """Hold the app's lock. It exists while a pass holds or waits for it, and no longer."""
        with self._guard:
            lock, users = self._locks.get(uid, (threading.Lock(), 0))
            self._locks[uid] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[uid]
                if users > 1:
                    self._locks[uid] = (lock, users - 1)
                else:
                    del self._locks[uid]

    def deleted(self, uid: str) -> None:
        """The app's deletion was handled: a pass of it still queued must not run."""
        now = time.monotonic()
        with self._guard:
            self._ended.pop(uid, None)
            self._deleted[uid] = now
            for gone in [uid for uid, when in self._deleted.items() if now - when > DELETED_KEPT_SECONDS]:
                del self._deleted[gone]

    def was_deleted(self, uid: str) -> bool:
        with self._guard:
            return uid in self._deleted
