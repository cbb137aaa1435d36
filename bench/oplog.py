"""The operator's log: which apps kopf handled when, read from its per-object lines.

A pass that changes nothing sends no request (the store has the children, their managed fields
say nothing is to be applied), so the audit log cannot tell which apps a resync or a restart went
through; kopf's log line for each handled object can: `[time] kopf.objects [INFO] [ns/name] ...`.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

STARTING_MARKER = "--- operator starting ---"
_LINE = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\] kopf\.objects\s+\[\w+\s*\] \[[^/\]]+/([^\]]+)\] (.*)$"
)
RESYNC_DONE = "Timer 'resync' succeeded."
RESUME_DONE = "Resuming is processed"


def apps_handled(log: Path, since: float, message: str, *, last_start_only: bool = False) -> dict[str, float]:
    """App name -> when kopf last logged `message` (the start of a line's text) for it, from `since` on.

    Times are the log's local time, as epoch seconds.
    """
    text = log.read_text(errors="replace")
    if last_start_only:
        text = text.rpartition(STARTING_MARKER)[2]
    found: dict[str, float] = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if match is None or not match.group(3).startswith(message):
            continue
        at = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if at >= since:
            found[match.group(2)] = at
    return found
