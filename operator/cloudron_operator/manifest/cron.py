"""The schedules Cloudron's scheduler addon accepts: five cron fields or a named pattern."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

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
