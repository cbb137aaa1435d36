"""The resync timer counts from an app's last full pass, not from when kopf first saw the app."""

from __future__ import annotations

import pytest

from cloudron_operator.handlers.apps import LastPasses, resync_due

pytestmark = pytest.mark.unit


def test_a_resync_right_after_a_pass_is_skipped() -> None:
    assert resync_due(None, 300)  # no pass in this process yet: after a restart, say
    assert not resync_due(20, 300)  # the create pass just ended
    assert resync_due(150, 300)
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
