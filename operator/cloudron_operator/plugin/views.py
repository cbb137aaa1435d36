"""Pure table rows of `list` (CloudronApps) and `users` (CloudronUsers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from cloudron_operator.plugin.output import NONE, cell

APP_HEADERS: Final = ["NAME", "DOMAIN", "VERSION", "STATE", "UPDATE"]
APP_WIDE_HEADERS: Final = [*APP_HEADERS, "CATALOG", "APP ID", "URL"]
USER_HEADERS: Final = ["USERNAME", "EMAIL", "ROLE", "GROUPS", "ACTIVE"]
USER_WIDE_HEADERS: Final = [*USER_HEADERS, "NAME", "DISPLAY NAME"]


def condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    """The object's condition of type `kind`; empty when it has none."""
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == kind), {})


def app_state(app: Mapping[str, Any]) -> str:
    """The app's phase, with the Ready condition's reason when it is not Ready: `Installing/PodsNotReady`."""
    phase = (app.get("status") or {}).get("phase")
    ready = condition(app, "Ready")
    reason = ready.get("reason")
    if ready.get("status") == "True" or not reason or reason == phase:
        return phase or NONE
    return f"{phase}/{reason}" if phase else str(reason)


def app_row(app: Mapping[str, Any], *, wide: bool, with_namespace: bool) -> list[str]:
    spec, status = app.get("spec") or {}, app.get("status") or {}
    source = spec.get("source") or {}
    row = [
        app["metadata"]["name"],
        cell(spec.get("domain")),
        cell(status.get("version")),
        app_state(app),
        cell(status.get("availableUpdate")),
    ]
    if wide:
        row += [cell(source.get("catalog")), cell(source.get("appId")), cell(status.get("url"))]
    return [app["metadata"]["namespace"], *row] if with_namespace else row


def app_headers(*, wide: bool, with_namespace: bool) -> list[str]:
    headers = APP_WIDE_HEADERS if wide else APP_HEADERS
    return ["NAMESPACE", *headers] if with_namespace else list(headers)


def user_row(user: Mapping[str, Any], *, wide: bool) -> list[str]:
    spec = user.get("spec") or {}
    row = [
        cell(spec.get("username")),
        cell(spec.get("email")),
        cell(spec.get("role", "user")),
        cell(",".join(spec.get("groups") or [])),
        cell(spec.get("active", True)),
    ]
    return [*row, user["metadata"]["name"], cell(spec.get("displayName"))] if wide else row


def sort_key(obj: Mapping[str, Any]) -> tuple[str, str]:
    """kubectl's order: by namespace, then name."""
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
