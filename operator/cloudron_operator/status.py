"""Pure status computation: conditions with stable transition times, phase, and the status patch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"
# metav1.Condition's limit, which the Addon CRD enforces and tools reading conditions assume: a
# message built from absurd input (a 30 000-character manifest key) must not make the write fail.
MAX_MESSAGE_LENGTH = 32768
_CUT_MARK = " [...]"


@dataclass(frozen=True)
class ConditionUpdate:
    type: str
    status: str
    reason: str
    message: str


def merge_conditions(
    current: Sequence[Mapping[str, Any]], updates: Sequence[ConditionUpdate], generation: int, now: datetime
) -> list[dict[str, Any]]:
    """The new condition list in the order of `updates`, keeping lastTransitionTime unless status changes."""
    previous = {c.get("type"): c for c in current}
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    merged = []
    for update in updates:
        before = previous.get(update.type)
        unchanged = before is not None and before.get("status") == update.status
        since = before.get("lastTransitionTime", stamp) if unchanged and before is not None else stamp
        merged.append(
            {
                "type": update.type,
                "status": update.status,
                "reason": update.reason,
                "message": bounded(update.message),
                "observedGeneration": generation,
                "lastTransitionTime": since,
            }
        )
    return merged


def bounded(message: str) -> str:
    if len(message) <= MAX_MESSAGE_LENGTH:
        return message
    return message[: MAX_MESSAGE_LENGTH - len(_CUT_MARK)] + _CUT_MARK


def ready_condition(
    parts: Sequence[ConditionUpdate], ready_reason: str, ready_message: str
) -> ConditionUpdate:
    """Ready is True when every part is True; otherwise it carries the first part that is not."""
    for part in parts:
        if part.status != TRUE:
            return ConditionUpdate(
                "Ready", FALSE if part.status == FALSE else UNKNOWN, part.reason, part.message
            )
    return ConditionUpdate("Ready", TRUE, ready_reason, ready_message)


def with_stalled(
    updates: Sequence[ConditionUpdate], stalled_reasons: frozenset[str]
) -> list[ConditionUpdate]:
    """`updates`, and `Stalled=True` with Ready's reason and message when Ready is False for one of
    `stalled_reasons` (kstatus's convention: waiting will not help; someone must act). Otherwise no
    Stalled condition at all, as kstatus reads an absent one as not stalled."""
    ready = next((update for update in updates if update.type == "Ready"), None)
    if ready is None or ready.status != FALSE or ready.reason not in stalled_reasons:
        return list(updates)
    return [*updates, ConditionUpdate("Stalled", TRUE, ready.reason, ready.message)]


def status_patch(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """Only the top-level status fields that differ, so an unchanged status writes nothing."""
    return {key: value for key, value in desired.items() if current.get(key) != value}
