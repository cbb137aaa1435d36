"""The sendmail addon (CLOUDRON.md §2.9): the app is told the SMTP relay its Addon names.

Cloudron gives each app a mailbox on its own mail server. Here the relay is the cluster's (a
Postfix, a cloud mail service): the Addon names it and, optionally, the relay login every app
uses. The From address is the app's own, `<app>.app@<domain>`, as Cloudron's default mailbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cloudron_operator.builders.identity import AppIdentity
from cloudron_operator.manifest import Manifest
from cloudron_operator.models import CloudronAppSpec


@dataclass(frozen=True)
class Relay:
    """Where the apps' mail goes: from the sendmail Addon and its optional login Secret."""

    host: str
    port: int
    smtps_port: int | None = None
    from_domain: str | None = None
    username: str = ""
    password: str = field(default="", repr=False)

    @classmethod
    def from_addon(cls, spec: Mapping[str, Any], username: str = "", password: str = "") -> Relay:
        connection: Mapping[str, Any] = spec.get("connection") or {}
        options: Mapping[str, Any] = spec.get("options") or {}
        smtps = options.get("smtpsPort")
        domain = options.get("fromDomain")
        return cls(
            host=str(connection.get("host", "")),
            port=int(connection.get("port", 0)),
            smtps_port=int(smtps) if isinstance(smtps, int) else None,
            from_domain=str(domain) if domain else None,
            username=username,
            password=password,
        )


def sendmail_env(
    identity: AppIdentity, spec: CloudronAppSpec, manifest: Manifest, options: Mapping[str, Any], relay: Relay
) -> dict[str, str]:
    """CLOUDRON_MAIL_*; SMTPS only when the relay has such a port, the display name when the app asks."""
    domain = relay.from_domain or spec.domain
    env = {
        "CLOUDRON_MAIL_SMTP_SERVER": relay.host,
        "CLOUDRON_MAIL_SMTP_PORT": str(relay.port),
        "CLOUDRON_MAIL_SMTP_USERNAME": relay.username,
        "CLOUDRON_MAIL_SMTP_PASSWORD": relay.password,
        "CLOUDRON_MAIL_FROM": f"{identity.name}.app@{domain}",
        "CLOUDRON_MAIL_DOMAIN": domain,
    }
    if relay.smtps_port is not None:
        env["CLOUDRON_MAIL_SMTPS_PORT"] = str(relay.smtps_port)
    if options.get("supportsDisplayName") is True:
        env["CLOUDRON_MAIL_FROM_DISPLAY_NAME"] = manifest.title or identity.name
    return env
