"""updatePolicy.schedule and .window: when an automatic update may start, when the next window
opens, and which schedules and windows the spec refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cloudron_operator.catalog.windows import UpdateWindow, update_window
from cloudron_operator.manifest.cron import latest_due, next_due
from cloudron_operator.models.app import UpdatePolicy
from cloudron_operator.models.conditions import Reason
from cloudron_operator.reconcile.errors import InvalidApp
from cloudron_operator.reconcile.updates import _spec_model, window_opened

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 3, 21, 40, 30, tzinfo=UTC)  # a Thursday
CLOUDRON_DEFAULT = "30 1,3,5,23 * * *"
MANIFEST = {"id": "org.example.wiki", "version": "1.0.0", "manifestVersion": 2, "httpPort": 8000}


def at(day: int, hour: int, minute: int, month: int = 12, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "after", "due"),
    [
        (CLOUDRON_DEFAULT, NOW, at(3, 23, 30)),
        (CLOUDRON_DEFAULT, at(3, 23, 30), at(4, 1, 30)),  # strictly after
        ("*/15 * * * *", NOW, at(3, 21, 45)),
        ("0 3 * * sun", NOW, at(6, 3, 0)),
        ("0 3 * * 7", NOW, at(6, 3, 0)),  # 7 is Sunday too
        ("@monthly", NOW, at(1, 0, 0, month=1, year=2027)),  # across the year
        ("0 0 29 2 *", NOW, at(29, 0, 0, month=2, year=2028)),  # the next leap day
        ("0 3 13 * fri", NOW, at(4, 3, 0)),  # both day fields: either matches (cron's rule)
        ("0 0 30 2 *", NOW, None),  # names no date
    ],
)
def test_the_next_time_a_schedule_names(schedule: str, after: datetime, due: datetime | None) -> None:
    assert next_due(schedule, after) == due


SCHEDULES = [CLOUDRON_DEFAULT, "*/7 * * * *", "0 4 * * mon-fri", "15 2 1,15 * *", "@weekly", "0 3 13 * fri"]


@given(
    schedule=st.sampled_from(SCHEDULES),
    after=st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)),
)
def test_next_due_is_the_first_time_latest_due_finds(schedule: str, after: datetime) -> None:
    due = next_due(schedule, after)
    assert due is not None and due > after
    assert latest_due(schedule, after, due) == due
    assert latest_due(schedule, after, due - timedelta(minutes=1)) is None, "nothing named in between"


@pytest.mark.parametrize(
    ("window", "now", "expected"),
    [
        (None, at(3, 23, 30), UpdateWindow(open=True)),  # the scheduled minute
        (None, at(4, 0, 29), UpdateWindow(open=True)),  # within the default hour
        (None, at(4, 0, 30), UpdateWindow(open=False, opens_at=at(4, 1, 30))),  # it closed
        ("10m", at(3, 23, 39), UpdateWindow(open=True)),
        ("10m", at(3, 23, 40), UpdateWindow(open=False, opens_at=at(4, 1, 30))),
        ("3h", at(4, 2, 0), UpdateWindow(open=True)),  # windows may overlap
        (None, NOW, UpdateWindow(open=False, opens_at=at(3, 23, 30))),
    ],
)
def test_an_update_starts_only_in_a_window_of_the_schedule(
    window: str | None, now: datetime, expected: UpdateWindow
) -> None:
    assert update_window(CLOUDRON_DEFAULT, window, now) == expected


def test_the_update_check_runs_a_pass_once_the_window_has_opened() -> None:
    waiting = {"availableUpdate": "2.1.0", "nextUpdateAt": "2026-12-03T23:30:00Z"}
    assert not window_opened(waiting, at(3, 23, 29))
    assert window_opened(waiting, at(3, 23, 30))
    assert not window_opened({"availableUpdate": "2.1.0"}, at(3, 23, 30))


def test_a_schedule_and_window_the_spec_accepts() -> None:
    policy = UpdatePolicy.model_validate({"automatic": True, "schedule": CLOUDRON_DEFAULT, "window": "2h"})
    assert (policy.schedule, policy.window) == (CLOUDRON_DEFAULT, "2h")


@pytest.mark.parametrize(
    ("policy", "says"),
    [
        ({"automatic": True, "schedule": "@reboot"}, "names no times"),
        ({"automatic": True, "schedule": "0 0 30 2 *"}, "names no date"),
        ({"automatic": True, "schedule": "0 25 * * *"}, "hour field"),
        ({"automatic": True, "schedule": "0 1 * * *", "window": "30s"}, "shorter than a minute"),
        ({"schedule": "0 1 * * *"}, "set automatic: true"),  # accepted, it would do nothing
        ({"automatic": True, "window": "2h"}, "set both"),
    ],
)
def test_a_schedule_or_window_that_would_never_start_an_update_is_refused(
    policy: dict[str, object], says: str
) -> None:
    with pytest.raises(ValidationError, match=says):
        UpdatePolicy.model_validate(policy)


def test_an_installed_app_with_a_schedule_that_names_no_time_is_told_which_field() -> None:
    spec = {
        "source": {"catalog": "community", "appId": "org.example.wiki"},
        "updatePolicy": {"automatic": True, "schedule": "@reboot"},
        "domain": "wiki.example.com",
    }
    package = {"appId": "org.example.wiki", "version": "1.0.0", "image": "wiki:1", "manifest": MANIFEST}
    with pytest.raises(InvalidApp) as refused:
        _spec_model({"metadata": {"name": "wiki"}, "spec": spec, "status": {"package": package}})
    assert refused.value.reason == Reason.INVALID_SPEC
    assert "spec.updatePolicy.schedule" in str(refused.value) and "names no times" in str(refused.value)
