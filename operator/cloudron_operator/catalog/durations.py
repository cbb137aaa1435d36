"""Durations as the specs write them (`30s`, `10m`, `1h30m`: Go's notation, whole units). Pure."""

from __future__ import annotations

import re
from typing import Final

_PART: Final = re.compile(r"([0-9]+)([hms])")
_SECONDS: Final = {"h": 3600, "m": 60, "s": 1}


def duration_seconds(text: str) -> int:
    """The seconds `text` stands for; ValueError if it is not a duration of hours, minutes, seconds."""
    if not text or re.fullmatch(r"([0-9]+h)?([0-9]+m)?([0-9]+s)?", text) is None:
        raise ValueError(f"{text!r} is not a duration such as 30s, 10m or 1h30m")
    return sum(int(amount) * _SECONDS[unit] for amount, unit in _PART.findall(text))
