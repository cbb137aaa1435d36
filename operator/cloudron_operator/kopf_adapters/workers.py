"""The threads that run the blocking handlers, and how many calls wait for one."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

R = TypeVar("R")


class Workers(ThreadPoolExecutor):
    """kopf's executor for sync handlers, which also says how many submitted calls wait for a thread."""

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="handler")
        self._lock = threading.Lock()
        self._waiting = 0

    @property
    def waiting(self) -> int:
        with self._lock:
            return self._waiting

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        left = _Once(self._left_queue)
        with self._lock:
            self._waiting += 1

        def started() -> R:
            left()
            return fn(*args, **kwargs)

        try:
            future = super().submit(started)
        except BaseException:  # shut down: nothing was queued
            left()
            raise
        future.add_done_callback(lambda _: left())  # cancelled before it started
        return future

    def _left_queue(self) -> None:
        with self._lock:
            self._waiting -= 1

    async def run(self, fn: Callable[..., R], /, **kwargs: Any) -> R:
        """Call `fn` in a worker thread with this task's context variables, as kopf calls a sync handler."""
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self, functools.partial(context.run, fn, **kwargs))


class _Once:
    def __init__(self, call: Callable[[], None]) -> None:
        self._call = call
        self._done = False
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        self._call()
