"""The reasons an app's Ready condition gives, as far as the code must tell them apart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INVALID_REASONS = frozenset(
    {
        "InvalidSpec",
        "InvalidManifest",
        "ApplyFailed",
        "KindNotServed",
        "UnsupportedAddon",
        "DeprovisionFailed",
        "NameConflict",
    }
)


def ready_reason(app: Mapping[str, Any]) -> str:
    for condition in app.get("status", {}).get("conditions", []):
        if condition.get("type") == "Ready":
            return str(condition.get("reason", ""))
    return ""
