"""When an automatic update may start: updatePolicy.schedule names times (cron, UTC), and each opens
a window of updatePolicy.window. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from cloudron_operator.catalog.durations import duration_seconds
from cloudron_operator.manifest.cron import latest_due, next_due
from cloudron_operator.models.app import DEFAULT_UPDATE_WINDOW


class UpdateWindow(NamedTuple):
    """Whether a window is open now; if not, when the next one opens (None: the schedule names no
    time within four years)."""

    open: bool
    opens_at: datetime | None = None


ALWAYS_OPEN = UpdateWindow(open=True)  # no updatePolicy.schedule


def update_window(schedule: str, window: str | None, now: datetime) -> UpdateWindow:
    """Open when `schedule` named a time in (now - window, now]: each window is [time, time + window)."""
    length = timedelta(seconds=duration_seconds(window or DEFAULT_UPDATE_WINDOW))
    if latest_due(schedule, now - length, now) is not None:
        return UpdateWindow(open=True)
    return UpdateWindow(open=False, opens_at=next_due(schedule, now))
