"""The reason an app's Ready condition gives now (the reasons themselves: `models.conditions.Reason`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudron_operator.models.conditions import INVALID_REASONS

__all__ = ["INVALID_REASONS", "ready_reason"]


def ready_reason(app: Mapping[str, Any]) -> str:
    for condition in app.get("status", {}).get("conditions", []):
        if condition.get("type") == "Ready":
            return str(condition.get("reason", ""))
    return ""
