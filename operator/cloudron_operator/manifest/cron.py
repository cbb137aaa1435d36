"""Cron schedules as Cloudron's scheduler addon accepts them (five fields or a named pattern), and
when one is due (UTC): the scheduler's tasks, backup schedules and update windows use them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, NamedTuple

NAMED_SCHEDULES: Final = frozenset(
    {"@service", "@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@hourly"}
)

_MONTHS: Final = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS: Final = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# "*" or "a" or "a-b", each optionally "/step"
_ITEM: Final = re.compile(r"(?:(?P<all>\*)|(?P<low>\d+)(?:-(?P<high>\d+))?)(?:/(?P<step>\d+))?")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]


_FIELDS: Final = (
    _Field("minute", 0, 59, {}),
    _Field("hour", 0, 23, {}),
    _Field("day of month", 1, 31, {}),
    _Field("month", 1, 12, {name: number for number, name in enumerate(_MONTHS, start=1)}),
    _Field("day of week", 0, 7, {name: number for number, name in enumerate(_WEEKDAYS)}),  # 0 and 7: Sunday
)


def check_schedule(schedule: str) -> None:
    """Raise `ValueError` saying what is wrong unless `schedule` is a valid scheduler schedule."""
    if schedule in NAMED_SCHEDULES:
        return
    fields = schedule.split(" ")
    if len(fields) != len(_FIELDS):
        raise ValueError(
            "must be 5 space-separated cron fields (minute hour day-of-month month day-of-week, "
            f"no seconds) or one of {', '.join(sorted(NAMED_SCHEDULES))}"
        )
    for text, spec in zip(fields, _FIELDS, strict=True):
        for item in text.split(","):
            _check_item(item, spec)


def kubernetes_schedule(schedule: str) -> str:
    """`schedule` as a CronJob takes it. Kubernetes reads day of week 0-6 only, where Cloudron (and
    `check_schedule`) also take 7 for Sunday: a day-of-week field that names 7 is written as the list
    of its days, 7 as 0 (`0 0 * * 7` -> `0 0 * * 0`, `5-7` -> `0,5,6`); any other schedule as it is.
    `schedule` is one `check_schedule` accepts."""
    if schedule in NAMED_SCHEDULES:
        return schedule
    fields = schedule.split(" ")
    weekday = _FIELDS[4]
    if not any(not item.startswith("*") and 7 in _values(item, weekday) for item in fields[4].split(",")):
        return schedule
    days = sorted({day % 7 for day in _values(fields[4], weekday)})
    return " ".join([*fields[:4], ",".join(map(str, days))])


def _check_item(item: str, spec: _Field) -> None:
    match = _ITEM.fullmatch(_replace_names(item, spec))
    if not match:
        raise ValueError(f"{spec.name} field: cannot read {item!r}")
    if match["step"] is not None and int(match["step"]) == 0:
        raise ValueError(f"{spec.name} field: step must not be 0 in {item!r}")
    if match["all"]:
        return
    low = int(match["low"])
    high = low if match["high"] is None else int(match["high"])
    if low > high:
        raise ValueError(f"{spec.name} field: range {item!r} runs backwards")
    if low < spec.low or high > spec.high:
        raise ValueError(f"{spec.name} field: {item!r} is outside {spec.low}-{spec.high}")


def _replace_names(item: str, spec: _Field) -> str:
    def number(word: re.Match[str]) -> str:
        name = word.group().lower()
        if name not in spec.names:
            raise ValueError(f"{spec.name} field: unknown name {word.group()!r}")
        return str(spec.names[name])

    return re.sub(r"[a-zA-Z]+", number, item)


_NAMED_FIELDS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@hourly": "0 * * * *",
}
LOOK_BACK: Final = timedelta(days=366)  # every schedule names a time within a year (Feb 29 aside)
LOOK_AHEAD: Final = timedelta(days=4 * 366)  # and within four years, or never


class _Times(NamedTuple):
    """The values each field of a schedule names."""

    minutes: set[int]
    hours: set[int]
    days: set[int]
    months: set[int]
    weekdays: set[int]
    both_days_restricted: bool

    def day_matches(self, moment: datetime) -> bool:
        day_match, weekday_match = moment.day in self.days, (moment.isoweekday() % 7) in self.weekdays
        # cron's rule: with both day fields restricted, either one matching is enough
        return (day_match or weekday_match) if self.both_days_restricted else (day_match and weekday_match)


def _times(schedule: str) -> _Times:
    check_schedule(schedule)
    text = _NAMED_FIELDS.get(schedule, schedule)
    if text.startswith("@"):
        raise ValueError(f"{schedule} names no times")
    fields = text.split(" ")
    minutes, hours, days, months, weekdays = (
        _values(field, spec) for field, spec in zip(fields, _FIELDS, strict=True)
    )
    return _Times(
        minutes, hours, days, months, {day % 7 for day in weekdays}, fields[2] != "*" and fields[4] != "*"
    )


def check_timed_schedule(schedule: str) -> None:
    """Raise `ValueError` saying what is wrong unless `schedule` is valid and names times (not
    @service or @reboot)."""
    _times(schedule)


def latest_due(schedule: str, after: datetime | None, now: datetime) -> datetime | None:
    """The latest minute in (after, now] that `schedule` names (UTC), or None; `after` None: the
    schedule starts now, so only the current minute counts. A schedule missed many times (the
    operator was down) is due once, at its latest time. ValueError for a schedule that names no
    times (@service, @reboot) or is invalid."""
    times = _times(schedule)
    moment = now.replace(second=0, microsecond=0)
    floor = max(after or moment - timedelta(minutes=1), now - LOOK_BACK)
    while moment > floor:
        # Walk back a month, a day or an hour at a time past what cannot match, else a minute.
        if moment.month not in times.months:
            moment = moment.replace(day=1, hour=0, minute=0) - timedelta(minutes=1)
        elif not times.day_matches(moment):
            moment = moment.replace(hour=0, minute=0) - timedelta(minutes=1)
        elif moment.hour not in times.hours:
            moment = moment.replace(minute=0) - timedelta(minutes=1)
        elif moment.minute in times.minutes:
            return moment
        else:
            moment -= timedelta(minutes=1)
    return None


def next_due(schedule: str, after: datetime) -> datetime | None:
    """The first minute after `after` that `schedule` names (UTC), within four years (Feb 29 comes
    round), or None: a schedule such as Feb 30 names no time. ValueError as `latest_due`."""
    times = _times(schedule)
    moment = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    ceiling = after + LOOK_AHEAD
    while moment <= ceiling:
        # Walk on a month, a day or an hour at a time past what cannot match, else a minute.
        if moment.month not in times.months:
            moment = _first_of_next_month(moment)
        elif not times.day_matches(moment):
            moment = moment.replace(hour=0, minute=0) + timedelta(days=1)
        elif moment.hour not in times.hours:
            moment = moment.replace(minute=0) + timedelta(hours=1)
        elif moment.minute in times.minutes:
            return moment
        else:
            moment += timedelta(minutes=1)
    return None


def _first_of_next_month(moment: datetime) -> datetime:
    start = moment.replace(day=1, hour=0, minute=0)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def _values(text: str, spec: _Field) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        match = _ITEM.fullmatch(_replace_names(item, spec))
        assert match is not None  # check_schedule has read it
        step = int(match["step"] or 1)
        if match["all"]:
            low, high = spec.low, spec.high
        else:
            low = int(match["low"])
            high = int(match["high"]) if match["high"] is not None else (spec.high if match["step"] else low)
        values.update(range(low, high + 1, step))
    return values
