"""The bookkeeping that keeps child events cheap: one refresh per app at a time, and the index."""

from __future__ import annotations

from cloudron_operator.handlers.child_events import AppRefreshes, ChildrenSeen, children_seen_by_apps

APP = ("apps", "wiki")
OTHER = ("apps", "chat")


def test_an_event_during_a_refresh_asks_for_exactly_one_more_round() -> None:
    refreshes = AppRefreshes()
    assert refreshes.begin(APP)
    assert not refreshes.begin(APP)  # a second event: no second refresh
    assert not refreshes.begin(APP)  # a third one: still only one more round
    assert refreshes.another_round(APP)
    assert not refreshes.another_round(APP)
    refreshes.end(APP)
    assert refreshes.begin(APP)  # once ended, the next event refreshes again


def test_refreshes_of_different_apps_do_not_wait_for_each_other() -> None:
    refreshes = AppRefreshes()
    assert refreshes.begin(APP)
    assert refreshes.begin(OTHER)
    assert not refreshes.another_round(OTHER)


def _seen(status: dict[str, object], spec: dict[str, object] | None = None) -> ChildrenSeen:
    entry = children_seen_by_apps(namespace="apps", name="wiki", uid="u1", spec=spec or {}, status=status)
    return entry[APP]


def test_the_index_tells_a_first_pass_still_running_from_one_that_wrote_the_status() -> None:
    running = _seen({})
    written = _seen(
        {
            "conditions": [
                {"type": "AddonsReady", "status": "True", "reason": "Provisioned", "message": ""},
                {"type": "WorkloadAvailable", "status": "False", "reason": "Progressing", "message": "0/1"},
            ]
        },
        spec={"running": False},
    )
    assert not running.first_pass_done
    assert written.first_pass_done
    assert written.conditions == {"WorkloadAvailable": ("False", "Progressing", "0/1")}
    assert not written.running


def test_the_index_marks_an_app_whose_spec_must_be_fixed() -> None:
    invalid = _seen({"conditions": [{"type": "Ready", "status": "False", "reason": "InvalidSpec"}]})
    waiting = _seen({"conditions": [{"type": "Ready", "status": "False", "reason": "AddonsNotReady"}]})
    assert invalid.invalid
    assert not waiting.invalid
