"""Semantic versions as Cloudron's store orders them. Pure.

Versions follow semver 2 (`1.2.3`, `1.2.3-beta.1`, build metadata ignored); the store takes
`x.y.z-0` for `x.y.z`. A version that is not semver sorts below every one that is.
"""

from __future__ import annotations

import re
from functools import total_ordering
from typing import Final

_SEMVER: Final = re.compile(
    r"^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+[0-9A-Za-z.-]+)?$"
)


@total_ordering
class Version:
    """A version that compares as semver; `text` is as the catalog wrote it."""

    def __init__(self, text: str) -> None:
        self.text = text
        match = _SEMVER.match(text)
        self.valid = match is not None
        if match is None:
            # Below every semver, ordered among themselves by their text: equal only when the same.
            self.major = -1
            self._key: tuple[object, ...] = (-1, -1, -1, (0, (1, 0, text)))
            return
        major, minor, patch, pre = match.groups()
        release = (int(major), int(minor), int(patch))
        self.major = release[0]
        prerelease = () if pre in (None, "0") else tuple(pre.split("."))
        self._key = (*release, _prerelease_key(prerelease))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key == other._key

    def __lt__(self, other: Version) -> bool:
        return _compare(self._key, other._key) < 0

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"Version({self.text!r})"


def _prerelease_key(parts: tuple[str, ...]) -> tuple[object, ...]:
    # No pre-release ranks above any pre-release: (1,) beats (0, ...).
    if not parts:
        return (1,)
    return (0, *((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts))


def _compare(left: tuple[object, ...], right: tuple[object, ...]) -> int:
    return (left > right) - (left < right)


def is_semver(text: str) -> bool:
    return _SEMVER.match(text) is not None
