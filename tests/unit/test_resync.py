"""The resync timer counts from an app's last full pass, not from when kopf first saw the app."""

from __future__ import annotations

import pytest

from cloudron_operator.handlers.apps import LastPasses, resync_due

pytestmark = pytest.mark.unit


def test_a_resync_less_than_an_interval_after_a_pass_is_skipped() -> None:
    assert resync_due(None, 300)  # no pass in this process yet: after a restart, say
    assert not resync_due(20, 300)  # the create pass just ended
    assert not resync_due(200, 300)  # kopf's first tick, 300 s after it saw the app, whose pass waited 100 s
    assert resync_due(299.9, 300)  # the tick after a resync: asyncio may wake it a hair early
    assert resync_due(301, 300)


def test_the_last_pass_is_remembered_per_app_until_the_app_is_deleted() -> None:
    passes = LastPasses()
    assert passes.since("u1") is None
    passes.ended("u1")
    since = passes.since("u1")
    assert since is not None and 0 <= since < 5
    assert passes.since("u2") is None
    passes.forget("u1")
    assert passes.since("u1") is None
