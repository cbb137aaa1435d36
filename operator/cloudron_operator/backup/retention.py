"""Which of an app's backups its retention prunes. Pure.

Only scheduled backups are pruned by the keep rules, and pre-update backups once they are three
weeks old; manual backups never. The newest complete backup is always kept. The keep rules count
as restic's do: keepDaily N keeps the newest backup of each of the last N days that have one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

PRE_UPDATE_KEPT_FOR: Final = timedelta(weeks=3)


@dataclass(frozen=True)
class BackupEntry:
    name: str
    reason: str  # manual | scheduled | preUpdate
    phase: str  # Pending | Running | Succeeded | Failed
    created: datetime


@dataclass(frozen=True)
class Retention:
    keep_daily: int
    keep_weekly: int
    keep_monthly: int


def to_prune(entries: Iterable[BackupEntry], retention: Retention, now: datetime) -> list[str]:
    """The names of the backups to delete, oldest first."""
    listed = sorted(entries, key=lambda entry: entry.created, reverse=True)
    complete = [entry for entry in listed if entry.phase == "Succeeded"]
    if not complete:
        return []  # nothing is pruned before there is a good backup to fall back on
    kept = {complete[0].name}
    scheduled = [entry for entry in complete if entry.reason == "scheduled"]
    for count, period in (
        (retention.keep_daily, lambda at: at.date().isoformat()),
        (retention.keep_weekly, lambda at: f"{at.isocalendar()[0]}-W{at.isocalendar()[1]:02d}"),
        (retention.keep_monthly, lambda at: f"{at.year}-{at.month:02d}"),
    ):
        kept |= _newest_per_period(scheduled, count, period)
    newest_good = complete[0].created
    prune = []
    for entry in listed:
        if entry.name in kept or entry.reason == "manual" or entry.phase in ("Pending", "Running", ""):
            continue
        if entry.reason == "preUpdate" and now - entry.created < PRE_UPDATE_KEPT_FOR:
            continue
        if entry.phase == "Failed" and entry.created > newest_good:
            continue  # a failure since the last good backup says something: keep it visible
        prune.append(entry.name)
    return list(reversed(prune))


def _newest_per_period(entries: list[BackupEntry], count: int, period: Callable[[datetime], str]) -> set[str]:
    kept: dict[str, str] = {}
    for entry in entries:  # newest first
        key = period(entry.created)
        if key not in kept:
            if len(kept) == count:
                break
            kept[key] = entry.name
    return set(kept.values())
