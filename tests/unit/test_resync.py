"""The resync timer counts from an app's last full pass, not from when kopf first saw the app,
yields to passes waiting for a thread, and never runs beside another pass of the same app or
after the app's deletion began."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import kopf
import pytest
from kubernetes import client

from cloudron_operator.handlers import apps
from cloudron_operator.kopf_adapters.workers import Workers
from cloudron_operator.reconcile.passes import LastPasses, resync_due
from cloudron_operator.store import Store
from tests.runtime_cases import memo_of, runtime_for_tests

pytestmark = pytest.mark.unit


def test_a_resync_less_than_an_interval_after_a_pass_is_skipped() -> None:
    assert resync_due(None, 300)  # no pass in this process yet: after a restart, say
    assert not resync_due(20, 300)  # the create pass just ended
    assert not resync_due(200, 300)  # kopf's first tick, 300 s after it saw the app, whose pass waited 100 s
    assert resync_due(299.9, 300)  # the tick after a resync: asyncio may wake it a hair early
    assert resync_due(301, 300)


def test_a_due_resync_yields_once_to_passes_waiting_for_a_thread() -> None:
    assert not resync_due(300, 300, others_waiting=True)  # the next tick comes 300 s later
    assert resync_due(600, 300, others_waiting=True)  # then it runs, whatever waits
    assert resync_due(300, 300, others_waiting=False)
    assert not resync_due(20, 300, others_waiting=False)
    assert resync_due(None, 300, others_waiting=True)


def test_workers_count_the_calls_that_wait_for_a_thread() -> None:
    release = threading.Event()
    with Workers(1) as workers:
        running = workers.submit(release.wait, 10)
        queued = [workers.submit(lambda: None) for _ in range(3)]
        wait_for(lambda: workers.waiting == 3)
        assert queued[0].cancel(), "a call that has not started can be cancelled"
        assert workers.waiting == 2
        release.set()
        running.result(10)
        for future in queued[1:]:
            future.result(10)
        assert workers.waiting == 0
    with pytest.raises(RuntimeError):
        workers.submit(lambda: None)  # shut down
    assert workers.waiting == 0


def test_workers_run_a_call_with_the_callers_context_variables() -> None:
    request: contextvars.ContextVar[str] = contextvars.ContextVar("request")

    async def caller() -> str:
        request.set("from the event loop")
        with Workers(2) as workers:
            return await workers.run(lambda **kwargs: f"{request.get()} {kwargs['name']}", name="app-1")

    assert asyncio.run(caller()) == "from the event loop app-1"


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_last_pass_is_remembered_per_app_until_the_app_is_deleted() -> None:
    passes = LastPasses()
    assert passes.since("u1") is None
    passes.ended("u1")
    since = passes.since("u1")
    assert since is not None and 0 <= since < 5
    assert passes.since("u2") is None
    passes.deleted("u1")
    assert passes.since("u1") is None
    assert passes.was_deleted("u1") and not passes.was_deleted("u2")


def test_an_apps_lock_lives_while_a_pass_holds_or_waits_for_it() -> None:
    """A lock dropped while a pass still waits for it would let a second pass run beside the first."""
    passes = LastPasses()
    holding, release = threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        with passes.lock("u1"):
            holding.set()
            release.wait(5)
            order.append("first")

    thread = threading.Thread(target=first)
    thread.start()
    assert holding.wait(5)
    passes.deleted("u1")  # the app's deletion was handled meanwhile: the lock must stay
    with_second = threading.Thread(target=_second_pass, args=(passes, order))
    with_second.start()
    time.sleep(0.1)
    assert order == []
    release.set()
    thread.join(5)
    with_second.join(5)
    assert order == ["first", "second"]
    assert passes._locks == {}, "no lock is kept once nobody holds or waits for it"


def _second_pass(passes: LastPasses, order: list[str]) -> None:
    with passes.lock("u1"):
        order.append("second")


def test_a_resync_due_during_an_apps_create_pass_waits_for_it_and_then_has_nothing_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two passes of a new app at once would each generate a password for its database."""
    passes = LastPasses()
    running: list[str] = []
    ran: list[str] = []
    create_started = threading.Event()

    def slow_pass(body: Any, memo: Any, logger: Any, **kwargs: Any) -> None:
        running.append(body.meta["uid"])
        assert running.count(body.meta["uid"]) == 1, "two passes of one app at once"
        create_started.set()
        time.sleep(0.2)
        ran.append(kwargs.get("reason", "resync"))
        running.remove(body.meta["uid"])

    monkeypatch.setattr(apps, "_reconcile_handler", slow_pass)
    body = kopf.Body({"metadata": {"uid": "u1", "name": "wiki", "namespace": "apps"}})
    other = kopf.Body({"metadata": {"uid": "u2", "name": "chat", "namespace": "apps"}})
    memo = memo_of(runtime_for_tests(passes=passes, store=store_of(body, other)))
    logger = logging.getLogger("test")
    create = threading.Thread(target=lambda: apps.reconcile_handler(body, memo, logger, reason="create"))
    create.start()
    assert create_started.wait(5)
    due_at = passes.now()  # the resync found a pass due while the create pass ran
    apps.reconcile_handler(body, memo, logger, resync_due_at=due_at)
    create.join()
    assert ran == ["create"], "the resync waited for the create pass, then had nothing left to do"

    apps.reconcile_handler(body, memo, logger, resync_due_at=passes.now())
    assert ran == ["create", "resync"], "a resync due after the last pass ended runs"
    apps.reconcile_handler(other, memo, logger, resync_due_at=due_at)
    assert ran == ["create", "resync", "resync"], "another app's passes do not count"


def store_of(*bodies: kopf.Body) -> Store:
    store = Store(client.ApiClient(), ())
    store.apps.replace([{**body, "metadata": {"resourceVersion": "1", **body.meta}} for body in bodies])
    return store


def test_deleting_an_app_waits_for_its_running_pass_and_no_pass_runs_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pass beside the drop of an app's databases could provision its user again: an orphan."""
    passes = LastPasses()
    events: list[str] = []
    pass_started = threading.Event()

    def slow_pass(body: Any, memo: Any, logger: Any, **kwargs: Any) -> None:
        pass_started.set()
        time.sleep(0.2)
        events.append("pass ended")

    def drop_databases(backends: Any, body: Any, addons: Any, logger: Any) -> list[str]:
        events.append("databases dropped")
        return []

    monkeypatch.setattr(apps, "_reconcile_handler", slow_pass)
    monkeypatch.setattr(apps, "drop_databases", drop_databases)
    body = kopf.Body({"metadata": {"uid": "u1", "name": "wiki", "namespace": "apps", "resourceVersion": "1"}})
    known = store_of(body)
    memo = memo_of(runtime_for_tests(passes=passes, store=known))
    logger = logging.getLogger("test")

    resync = threading.Thread(
        target=lambda: apps.reconcile_handler(body, memo, logger, resync_due_at=passes.now())
    )
    resync.start()
    assert pass_started.wait(5)
    deleting: dict[str, Any] = {
        "metadata": {**body.meta, "resourceVersion": "2", "deletionTimestamp": "2026-11-29T21:00:00Z"}
    }
    known.apps.upsert(deleting)  # the watch event of the deletion
    deleting_body = kopf.Body(deleting)  # type: ignore[arg-type]
    apps.delete_handler(deleting_body, memo, logger, addons_by_type={})
    resync.join()
    assert events == ["pass ended", "databases dropped"], "the drop waited for the pass"

    apps.reconcile_handler(
        body, memo, logger, resync_due_at=passes.now()
    )  # a tick queued before the deletion
    known.apps.remove(deleting)  # the watch reports the app gone
    apps.reconcile_handler(body, memo, logger, resync_due_at=passes.now())
    assert events == ["pass ended", "databases dropped"], "no pass after the deletion began"
    assert passes.since("u1") is None, "nothing is kept of a deleted app"

    again = kopf.Body(
        {"metadata": {"uid": "u9", "name": "wiki", "namespace": "apps", "resourceVersion": "5"}}
    )
    apps.reconcile_handler(again, memo, logger, reason="create")  # before the store has it: a new app
    apps.reconcile_handler(body, memo, logger, resync_due_at=passes.now())  # the old app's, queued still
    assert events == ["pass ended", "databases dropped", "pass ended"], (
        "an app made again under the name runs"
    )


def test_a_pass_works_on_the_app_as_it_was_when_it_started(monkeypatch: pytest.MonkeyPatch) -> None:
    """kopf replaces the body it handed a handler on every watch event of the app (for kinds with
    timers): a pass that read the newer spec's generation at its end would report it applied."""
    generation_5: dict[str, Any] = {
        "metadata": {"uid": "u1", "name": "wiki", "namespace": "apps", "generation": 5},
        "spec": {"manifest": {"version": "1.0"}},
    }
    live = kopf.Body(generation_5)  # type: ignore[arg-type]
    seen: list[tuple[int, str]] = []

    def a_pass(body: Any, memo: Any, logger: Any, **kwargs: Any) -> None:
        seen.append((body.meta["generation"], body["spec"]["manifest"]["version"]))
        live._replace_with(  # what kopf does with a watch event of generation 6 meanwhile
            {
                "metadata": {"uid": "u1", "name": "wiki", "namespace": "apps", "generation": 6},
                "spec": {"manifest": {"version": "2.0"}},
            }
        )
        seen.append((body.meta["generation"], body["spec"]["manifest"]["version"]))

    monkeypatch.setattr(apps, "_reconcile_handler", a_pass)
    memo = memo_of(runtime_for_tests(store=store_of(live)))
    apps.reconcile_handler(live, memo, logging.getLogger("test"), reason="update")

    assert seen == [(5, "1.0"), (5, "1.0")]
    assert live.meta["generation"] == 6
