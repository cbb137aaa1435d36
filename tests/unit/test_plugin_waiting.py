"""kubectl-cloudron's `--wait`: the verdicts on what the operator reports, and the progress line."""

from __future__ import annotations

import io
from typing import Any

import pytest

from cloudron_operator.plugin.kube import PluginError
from cloudron_operator.plugin.waiting import (
    Progress,
    Verdict,
    backed_up,
    installed,
    restored,
    updated,
    wait_for,
)

pytestmark = pytest.mark.unit


def cond(kind: str, status: str, reason: str, message: str = "") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


def app(generation: int = 2, observed: int | None = 2, **status: Any) -> dict[str, Any]:
    if observed is not None:
        status["observedGeneration"] = observed
    return {"metadata": {"name": "wiki", "generation": generation}, "status": status}


def test_install_waits_for_the_operator_then_ready() -> None:
    assert installed(app(observed=None)) == Verdict("waiting for the operator")
    assert installed(app(observed=1, conditions=[cond("Ready", "True", "Running")])).done is False
    pending = installed(
        app(phase="Installing", conditions=[cond("Ready", "False", "PodsNotReady", "0/1 ready")])
    )
    assert pending == Verdict("Installing, Ready=False PodsNotReady: 0/1 ready")
    assert installed(app(phase="Running", conditions=[cond("Ready", "True", "Running")])).done


def test_install_fails_when_the_app_is_stalled() -> None:
    stalled = app(
        phase="Error",
        conditions=[
            cond("Ready", "False", "InvalidManifest", "no httpPort"),
            cond("Stalled", "True", "InvalidManifest"),
        ],
    )
    assert installed(stalled).failure == "wiki cannot become Ready: False InvalidManifest: no httpPort"


def test_update_is_done_when_the_target_runs_and_no_update_to_it_is_under_way() -> None:
    judge = updated("2.5.301", generation=3)
    assert judge(app(generation=3, observed=2, version="2.5.301")).state == "waiting for the operator"
    under_way = {"phase": "Updating", "fromVersion": "2.5.300", "toVersion": "2.5.301"}
    assert judge(app(generation=3, observed=3, version="2.5.301", update=under_way)) == Verdict(
        "Updating 2.5.300 -> 2.5.301"
    )
    assert judge(app(generation=3, observed=3, version="2.5.300")) == Verdict(
        "running 2.5.300, waiting for 2.5.301"
    )
    succeeded = {**under_way, "phase": "Succeeded"}
    assert judge(app(generation=3, observed=3, version="2.5.301", update=succeeded)).done


def test_update_fails_when_rolled_back_or_blocked() -> None:
    judge = updated("3.0.0", generation=3)
    blocked = app(
        generation=3, observed=3, conditions=[cond("Updated", "False", "MajorVersionChange", "2 to 3")]
    )
    assert judge(blocked).failure == "wiki was not updated to 3.0.0: False MajorVersionChange: 2 to 3"
    rolled_back = {
        "phase": "RolledBack",
        "fromVersion": "2.5.300",
        "toVersion": "3.0.0",
        "message": "not Ready in 10m",
    }
    failure = judge(app(generation=3, observed=3, version="2.5.300", update=rolled_back)).failure
    assert failure == "wiki was not updated to 3.0.0: RolledBack: not Ready in 10m"


def test_an_update_that_failed_before_the_spec_asked_again_does_not_count() -> None:
    judge = updated("3.0.0", generation=4)
    old = app(generation=4, observed=3, conditions=[cond("Updated", "False", "UpdateRolledBack")])
    assert judge(old).failure is None


def test_restore_waits_for_the_restored_condition_at_its_generation() -> None:
    judge = restored("wiki-20261203-100405", generation=5)
    assert (
        judge(app(generation=5, observed=4, conditions=[cond("Restored", "True", "Restored")])).done is False
    )
    running = app(
        generation=5, observed=5, conditions=[cond("Restored", "Unknown", "Restoring", "Job x restores")]
    )
    assert judge(running) == Verdict("Unknown Restoring: Job x restores")
    assert judge(app(generation=5, observed=5, conditions=[cond("Restored", "True", "Restored")])).done
    failed = app(
        generation=5, observed=5, conditions=[cond("Restored", "False", "RestoreFailed", "disk full")]
    )
    assert (
        judge(failed).failure
        == "wiki was not restored from wiki-20261203-100405: False RestoreFailed: disk full"
    )


def test_a_backup_is_done_when_it_succeeded_and_failed_when_it_failed() -> None:
    def backup(**status: Any) -> dict[str, Any]:
        return {"metadata": {"name": "wiki-1"}, "status": status}

    assert backed_up(backup()) == Verdict("Pending")
    assert backed_up(backup(phase="Running")) == Verdict("Running")
    assert backed_up(backup(phase="Succeeded")).done
    failed = backed_up(
        backup(phase="Failed", conditions=[cond("Ready", "False", "BackupFailed", "bucket gone")])
    )
    assert failed.failure == "backup wiki-1 failed: False BackupFailed: bucket gone"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_wait_for_prints_a_plain_line_per_new_state_when_not_on_a_terminal() -> None:
    states = iter(["Pending", "Pending", "Running", "Succeeded"])
    stream, clock = io.StringIO(), FakeClock()
    wait_for(
        lambda: {"state": next(states)},
        lambda obj: Verdict(obj["state"], done=obj["state"] == "Succeeded"),
        subject="backup wiki-1",
        timeout=60,
        progress=Progress(stream, tty=False),
        clock=clock,
        sleep=clock.sleep,
    )
    assert stream.getvalue() == "backup wiki-1: Pending\nbackup wiki-1: Running\nbackup wiki-1: Succeeded\n"


def test_wait_for_rewrites_one_line_on_a_terminal_and_ends_it() -> None:
    states = iter(["Pending", "Succeeded"])
    stream, clock = io.StringIO(), FakeClock()
    wait_for(
        lambda: {"state": next(states)},
        lambda obj: Verdict(obj["state"], done=obj["state"] == "Succeeded"),
        subject="b",
        timeout=60,
        progress=Progress(stream, tty=True),
        clock=clock,
        sleep=clock.sleep,
    )
    assert stream.getvalue() == "\r\x1b[Kb: Pending (0s)\r\x1b[Kb: Succeeded (1s)\n"


def test_wait_for_raises_the_failure_and_the_timeout() -> None:
    clock = FakeClock()
    with pytest.raises(PluginError, match=r"^it broke$"):
        wait_for(
            lambda: {},
            lambda _: Verdict("x", failure="it broke"),
            subject="s",
            timeout=5,
            progress=Progress(io.StringIO(), tty=False),
            clock=clock,
            sleep=clock.sleep,
        )
    with pytest.raises(PluginError, match=r"^timed out after 5s waiting for s: Pending$"):
        wait_for(
            lambda: {},
            lambda _: Verdict("Pending"),
            subject="s",
            timeout=5,
            progress=Progress(io.StringIO(), tty=False),
            clock=clock,
            sleep=clock.sleep,
        )
