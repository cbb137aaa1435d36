"""Pure builders of what the plugin writes: CloudronApp and CloudronBackup bodies, the patches of
`update` and `restore`, and the names it makes up."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cloudron_operator.plugin.resources import APPS, BACKUPS

DNS_LABEL_MAX: Final = 63
# The dot-parts of Cloudron app ids that say nothing about the app: org.wikijs.cloudronapp is "wikijs".
GENERIC_ID_PARTS: Final = frozenset({"cloudronapp", "cloudron", "app"})
FALLBACK_APP_NAME: Final = "app"
BACKUP_STAMP_FORMAT: Final = "%Y%m%d-%H%M%S"


class UsageError(ValueError):
    """A command line that cannot be carried out as written: exit code 2."""


@dataclass(frozen=True)
class AppReference:
    """APPID[@VERSION] as `install` takes it."""

    app_id: str
    version: str | None = None


def parse_app_reference(text: str) -> AppReference:
    app_id, at, version = text.partition("@")
    if not app_id or (at and not version):
        raise UsageError(f"{text!r} is not APPID or APPID@VERSION")
    return AppReference(app_id, version or None)


def dns_label(text: str) -> str:
    """`text` as a DNS-1035 label (lower case, [a-z0-9-], a letter first, at most 63 characters).

    DNS-1035, the strictest rule of the app's children (Services), keeps their names the app's own.
    """
    label = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if label and not label[0].isalpha():
        label = f"{FALLBACK_APP_NAME}-{label}"
    return label[:DNS_LABEL_MAX].rstrip("-") or FALLBACK_APP_NAME


def default_app_name(app_id: str) -> str:
    """The app's name when `install` is given none: the id's last dot-part that names the app.

    org.wikijs.cloudronapp is "wikijs", com.github.chatwoot "chatwoot". Most Cloudron ids end in
    .cloudronapp (or .app), so the literal last part would give every app the same name.
    """
    parts = [part for part in app_id.split(".") if part]
    telling = [part for part in parts if part.lower() not in GENERIC_ID_PARTS]
    return dns_label((telling or parts or [FALLBACK_APP_NAME])[-1])


def app_body(
    *,
    name: str,
    namespace: str,
    domain: str,
    catalog: str,
    app_id: str,
    version: str | None = None,
    automatic_updates: bool = False,
    health_timeout: str | None = None,
    update_schedule: str | None = None,
    update_window: str | None = None,
    backup_store: str | None = None,
) -> dict[str, Any]:
    """A CloudronApp installed from `catalog` by id; updatePolicy and backup only when asked for."""
    source: dict[str, Any] = {"catalog": catalog, "appId": app_id}
    if version is not None:
        source["version"] = version
    spec: dict[str, Any] = {"domain": domain, "source": source}
    update_policy: dict[str, Any] = {}
    if automatic_updates:
        update_policy["automatic"] = True
    if health_timeout is not None:
        update_policy["healthTimeout"] = health_timeout
    if update_schedule is not None:
        update_policy["schedule"] = update_schedule
    if update_window is not None:
        update_policy["window"] = update_window
    if update_policy:
        spec["updatePolicy"] = update_policy
    if backup_store is not None:
        spec["backup"] = {"store": backup_store}
    return {
        "apiVersion": APPS.api_version,
        "kind": APPS.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def backup_name(app: str, now: datetime) -> str:
    """`<app>-<UTC yyyymmdd-hhmmss>`, the app's part cut so the whole fits 63 characters."""
    stamp = now.astimezone(UTC).strftime(BACKUP_STAMP_FORMAT)
    room = DNS_LABEL_MAX - len(stamp) - 1
    return f"{app[:room].rstrip('-.')}-{stamp}"


def backup_body(*, name: str, namespace: str, app: str, store: str) -> dict[str, Any]:
    return {
        "apiVersion": BACKUPS.api_version,
        "kind": BACKUPS.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"app": app, "store": store, "reason": "manual"},
    }


def version_patch(version: str) -> dict[str, Any]:
    """The merge patch of `update`: the version of spec.source; its catalog and appId stay."""
    return {"spec": {"source": {"version": version}}}


def restore_patch(backup: str) -> dict[str, Any]:
    return {"spec": {"restoreFrom": {"backup": backup}}}
