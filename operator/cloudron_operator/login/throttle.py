"""Password attempts, slowed down: after a few failures for one username or from one address, each
next attempt waits twice as long as the one before (up to a cap), until a success or a quiet while.

Kept in the process's memory: one login service replica is one throttle (docs/identity.md says what
more replicas mean). The password is never seen here, nor logged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

FREE_FAILURES: Final = 5  # failures before any wait
MAX_DELAY_SECONDS: Final = 60.0
FORGET_SECONDS: Final = 15 * 60.0  # a key with no failure for this long starts afresh
MAX_KEYS: Final = 100_000  # past this, the oldest keys are forgotten (an attacker's spray of names)


@dataclass
class _Failures:
    count: int
    last: float


class Throttle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, _Failures] = {}

    def wait_seconds(self, *keys: str) -> float:
        """How long before an attempt for these keys (a username, an address) is checked; 0: now."""
        now = self._clock()
        longest = 0.0
        for key in keys:
            seen = self._failures.get(key)
            if seen is None:
                continue
            if now - seen.last >= FORGET_SECONDS:
                del self._failures[key]
                continue
            longest = max(longest, seen.last + delay_after(seen.count) - now)
        return max(longest, 0.0)

    def failed(self, *keys: str) -> int:
        """Record a failed attempt; the most failures any of the keys now has."""
        now = self._clock()
        worst = 0
        for key in keys:
            seen = self._failures.pop(key, None)  # re-inserted last: the dict stays in age order
            if seen is None or now - seen.last >= FORGET_SECONDS:
                seen = _Failures(0, now)
            seen.count, seen.last = seen.count + 1, now
            self._failures[key] = seen
            worst = max(worst, seen.count)
        while len(self._failures) > MAX_KEYS:
            del self._failures[next(iter(self._failures))]
        return worst

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)


def delay_after(failures: int) -> float:
    """The wait after `failures` failures in a row: none for the first few, then 1 s, 2 s, 4 s…"""
    if failures < FREE_FAILURES:
        return 0.0
    return min(float(2 ** (failures - FREE_FAILURES)), MAX_DELAY_SECONDS)
