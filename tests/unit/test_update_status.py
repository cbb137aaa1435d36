"""An app with spec.source: the package it runs (status.package, or a rollback's backup), when it is
held, and its Updated condition, from its status alone."""

from __future__ import annotations

from typing import Any

import pytest

from cloudron_operator.backup.package import held_for_restore, running_package, wanted_restore
from cloudron_operator.models.conditions import Reason
from cloudron_operator.reconcile.status import update_condition

SOURCE = {"source": {"catalog": "community", "appId": "org.example.wiki"}, "domain": "wiki.example.com"}
PACKAGE = {
    "appId": "org.example.wiki",
    "version": "2.0.0",
    "image": "wiki:2.0.0",
    "manifest": {"version": "2.0.0"},
}
ROLLBACK = {
    "phase": "RollingBack",
    "fromVersion": "1.0.0",
    "toVersion": "2.0.0",
    "backup": "wiki-preupdate-abc123",
    "message": "version 2.0.0 was not Ready by ...",
}
RESTORE = {"backup": "wiki-preupdate-abc123", "image": "wiki:1.0.0", "manifest": {"version": "1.0.0"}}


def app(status: dict[str, Any], spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "wiki"}, "spec": spec or dict(SOURCE), "status": status}


def test_an_app_with_source_runs_the_package_recorded_for_it() -> None:
    spec = running_package(app({"package": PACKAGE}))
    assert (spec["image"], spec["manifest"]) == ("wiki:2.0.0", {"version": "2.0.0"})
    assert spec["source"] == SOURCE["source"], "the spec keeps its source"


def test_a_package_recorded_for_a_source_is_ignored_once_the_spec_has_its_own() -> None:
    own = {"image": "mine:1", "manifest": {"version": "1.0.0"}, "domain": "wiki.example.com"}
    assert running_package(app({"package": PACKAGE}, own))["image"] == "mine:1"


@pytest.mark.parametrize(
    ("restore_phase", "image", "held"),
    [
        (None, "wiki:2.0.0", True),  # not recorded yet: stopped
        ("Pending", "wiki:1.0.0", True),
        ("Running", "wiki:1.0.0", True),
        ("Succeeded", "wiki:1.0.0", False),  # the previous version, on its restored data
        ("Failed", "wiki:2.0.0", False),  # the data is as it was: the new version runs on
    ],
)
def test_a_rollback_restores_the_pre_update_backup_and_runs_its_package(
    restore_phase: str | None, image: str, held: bool
) -> None:
    status: dict[str, Any] = {"package": PACKAGE, "update": ROLLBACK}
    if restore_phase:
        status["restore"] = {**RESTORE, "phase": restore_phase}
    rolling_back = app(status)
    assert wanted_restore(rolling_back) == "wiki-preupdate-abc123"
    assert running_package(rolling_back)["image"] == image
    assert held_for_restore(rolling_back) is held


def test_no_restore_is_wanted_once_the_rollback_ended() -> None:
    ended = app({"package": PACKAGE, "update": {**ROLLBACK, "phase": "RolledBack"}, "restore": RESTORE})
    assert wanted_restore(ended) is None and not held_for_restore(ended)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"package": PACKAGE}, ("True", Reason.UP_TO_DATE)),
        ({"package": PACKAGE, "availableUpdate": "2.1.0"}, ("True", Reason.UPDATE_AVAILABLE)),
        (
            {"package": PACKAGE, "availableUpdate": "2.1.0", "nextUpdateAt": "2026-12-04T01:30:00Z"},
            ("True", Reason.UPDATE_SCHEDULED),
        ),
        (
            {"package": PACKAGE, "update": {**ROLLBACK, "phase": "BackingUp"}},
            ("Unknown", Reason.UPDATE_IN_PROGRESS),
        ),
        (
            {"package": PACKAGE, "update": {**ROLLBACK, "phase": "Updating"}},
            ("Unknown", Reason.UPDATE_IN_PROGRESS),
        ),
        ({"package": PACKAGE, "update": ROLLBACK}, ("Unknown", Reason.UPDATE_IN_PROGRESS)),
        (
            {
                "package": {**PACKAGE, "version": "1.0.0"},
                "availableUpdate": "2.0.0",
                "update": {**ROLLBACK, "phase": "RolledBack", "reason": "UpdateRolledBack"},
            },
            ("False", Reason.UPDATE_ROLLED_BACK),
        ),
        (
            {
                "package": PACKAGE,
                "availableUpdate": "3.0.0",
                "updateBlocked": {
                    "version": "3.0.0",
                    "reason": "MajorVersionChange",
                    "message": "3.0.0 is new",
                },
            },
            ("False", Reason.MAJOR_VERSION_CHANGE),
        ),
        (
            {"package": PACKAGE, "update": {**ROLLBACK, "phase": "Succeeded", "message": "updated"}},
            ("True", Reason.UPDATE_SUCCEEDED),
        ),
    ],
)
def test_the_updated_condition_says_where_the_app_is(
    status: dict[str, Any], expected: tuple[str, str]
) -> None:
    condition = update_condition(app(status))
    assert condition is not None and (condition.status, condition.reason) == expected


def test_an_app_without_source_has_no_updated_condition() -> None:
    assert update_condition(app({}, {"image": "x", "manifest": {}, "domain": "a.example.com"})) is None
