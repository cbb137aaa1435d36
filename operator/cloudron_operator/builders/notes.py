"""What the package tells the admin: its title, icon, settings page, post-install message and
checklist, as the app's status carries them (Cloudron's dashboard shows the same after an install)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from cloudron_operator.builders.http_ports import location_and_zone
from cloudron_operator.builders.identity import AppIdentity
from cloudron_operator.manifest import Manifest
from cloudron_operator.models import CloudronAppSpec
from cloudron_operator.models.app import MAX_CHECKLIST, MAX_NOTE_LENGTH, MAX_WARNING_LENGTH, MAX_WARNINGS

SSO_BLOCK = re.compile(r"<sso>(.*?)</sso>", re.DOTALL)
NO_SSO_BLOCK = re.compile(r"<nosso>(.*?)</nosso>", re.DOTALL)
# A manifest in a package's source names a file the Cloudron CLI inlines when it publishes; the
# text is not in the manifest, so there is nothing to show.
FILE_REFERENCE = "file://"
TRUNCATED = "\n\n[cut: longer than the status can carry; see the package's manifest]"


def package_notes(
    identity: AppIdentity,
    spec: CloudronAppSpec,
    manifest: Manifest,
    api_origin: str,
    *,
    warnings: Sequence[str] = (),
) -> dict[str, Any]:
    """The status fields `title`, `iconUrl`, `configureUrl`, `postInstallMessage`, `checklist` and
    `checklistPending`, from the manifest's store metadata; a field it does not give is left out.
    `manifestWarnings`: `warnings` (what the validator warned of, the fields not honoured), if any.

    Placeholders this cluster cannot know (`$CLOUDRON-USERNAME`, the installing admin's;
    `$CLOUDRON-API-*` without an API origin) stay as written.
    """
    sso = _uses_sso(spec, manifest)
    values = _placeholders(identity, spec, api_origin)
    notes: dict[str, Any] = {}
    if manifest.title:
        notes["title"] = manifest.title
    if manifest.icon_url:
        notes["iconUrl"] = str(manifest.icon_url)
    if manifest.configure_path:
        notes["configureUrl"] = f"https://{spec.domain}/{manifest.configure_path.lstrip('/')}"
    message = manifest.post_install_message
    if message and not message.startswith(FILE_REFERENCE):
        notes["postInstallMessage"] = _render(message, values, sso)
    checklist = [
        {"key": key, "message": _render(item.message, values, sso), "done": key in spec.checklist_done}
        for key, item in (manifest.checklist or {}).items()
        if item.sso is None or item.sso is sso  # sso: true only with single sign-on on, false only off
    ][:MAX_CHECKLIST]
    if checklist:
        notes["checklist"] = checklist
        notes["checklistPending"] = sum(1 for item in checklist if not item["done"])
    if warnings:
        listed = [_cut(warning, MAX_WARNING_LENGTH) for warning in warnings[:MAX_WARNINGS]]
        if len(warnings) > MAX_WARNINGS:
            listed[-1] = (
                f"... and {len(warnings) - MAX_WARNINGS + 1} more: python -m cloudron_operator manifest check"
            )
        notes["manifestWarnings"] = listed
    return notes


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _uses_sso(spec: CloudronAppSpec, manifest: Manifest) -> bool:
    """Whether the app logs its users in through the cluster's directory, as Cloudron's `app.sso`."""
    addons = manifest.addons
    return spec.sso and any(
        getattr(addons, name, None) is not None for name in ("ldap", "oidc", "proxy_auth")
    )


def _placeholders(identity: AppIdentity, spec: CloudronAppSpec, api_origin: str) -> dict[str, str]:
    location, zone = location_and_zone(spec.domain)
    values = {
        "$CLOUDRON-APP-LOCATION": location,
        "$CLOUDRON-APP-DOMAIN": zone,
        "$CLOUDRON-APP-FQDN": spec.domain,
        "$CLOUDRON-APP-ORIGIN": f"https://{spec.domain}",
        "$CLOUDRON-APP-ID": identity.uid,
    }
    if api_origin:
        values["$CLOUDRON-API-ORIGIN"] = api_origin
        values["$CLOUDRON-API-DOMAIN"] = api_origin.split("://", 1)[-1].rstrip("/")
    return values


def _render(text: str, values: Mapping[str, str], sso: bool) -> str:
    kept, dropped = (SSO_BLOCK, NO_SSO_BLOCK) if sso else (NO_SSO_BLOCK, SSO_BLOCK)
    text = kept.sub(lambda block: block.group(1), dropped.sub("", text))
    for placeholder in sorted(values, key=len, reverse=True):
        text = text.replace(placeholder, values[placeholder])
    text = text.strip()
    if len(text) > MAX_NOTE_LENGTH:
        text = text[: MAX_NOTE_LENGTH - len(TRUNCATED)] + TRUNCATED
    return text
