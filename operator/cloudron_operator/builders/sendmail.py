"""The sendmail addon (CLOUDRON.md §2.9): the app is told the SMTP relay its Addon names.

Cloudron gives each app a mailbox on its own mail server, with a login of its own that may send
only as that mailbox. Here the relay is the cluster's: the Addon names it, and either

- `options.appLoginsSecretRef`: a Secret the operator keeps with one login per app (login = the
  app's address, a password of its own; `provisioners.relay_logins`), which the relay mounts and
  authenticates against, refusing any other sender for that login — Cloudron's model; or
- `connection.adminSecretRef`: one relay login every app shares (a cloud mail service's), so any
  app can send as any other;
- neither: a relay that takes mail from the cluster without a login.

The From address is the app's own, `<app>.app@<domain>`, as Cloudron's default mailbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import ValidationError

from cloudron_operator.builders.identity import AppIdentity
from cloudron_operator.manifest import Manifest
from cloudron_operator.models import CloudronAppSpec
from cloudron_operator.models.addon import SecretKeyRef

APP_LOGINS_OPTION: Final = "appLoginsSecretRef"
DEFAULT_LOGINS_KEY: Final = "passwd"
_MEANINGS: Final = {"name": "a Secret's name", "namespace": "a namespace's name", "key": "a Secret key"}


@dataclass(frozen=True)
class LoginsSecret:
    """Where the operator keeps the apps' logins for the relay to read: one key of one Secret."""

    namespace: str
    name: str
    key: str = DEFAULT_LOGINS_KEY

    @classmethod
    def from_option(cls, value: Any) -> LoginsSecret:
        """From `options.appLoginsSecretRef`, by the rules of every Secret reference of an Addon;
        ValueError says what is wrong with it."""
        where = f"options.{APP_LOGINS_OPTION}"
        if not isinstance(value, Mapping):
            raise ValueError(f"{where} must be an object with name and namespace")
        try:
            ref = SecretKeyRef.model_validate(value)
        except ValidationError as error:
            field = str(error.errors()[0]["loc"][0])
            if field not in _MEANINGS:
                unknown = sorted(set(value) - set(_MEANINGS))
                raise ValueError(f"{where} has unknown fields: {', '.join(unknown)}") from None
            raise ValueError(
                f"{where}.{field} must be {_MEANINGS[field]}, got {value.get(field)!r}"
            ) from None
        return cls(ref.namespace, ref.name, ref.key or DEFAULT_LOGINS_KEY)


@dataclass(frozen=True)
class Relay:
    """Where the apps' mail goes: from the sendmail Addon and its optional login Secret."""

    host: str
    port: int
    smtps_port: int | None = None
    from_domain: str | None = None
    username: str = ""  # the shared relay login, when the Addon names one
    password: str = field(default="", repr=False)
    app_logins: LoginsSecret | None = None  # each app its own login, kept in this Secret

    @classmethod
    def from_addon(cls, spec: Mapping[str, Any], username: str = "", password: str = "") -> Relay:
        """ValueError when `options.appLoginsSecretRef` is not a usable reference."""
        connection: Mapping[str, Any] = spec.get("connection") or {}
        options: Mapping[str, Any] = spec.get("options") or {}
        smtps = options.get("smtpsPort")
        domain = options.get("fromDomain")
        logins = options.get(APP_LOGINS_OPTION)
        return cls(
            host=str(connection.get("host", "")),
            port=int(connection.get("port", 0)),
            smtps_port=int(smtps) if isinstance(smtps, int) else None,
            from_domain=str(domain) if domain else None,
            username=username,
            password=password,
            app_logins=LoginsSecret.from_option(logins) if logins is not None else None,
        )


def app_address(identity: AppIdentity, spec: CloudronAppSpec, relay: Relay) -> str:
    """The app's own mail address: its From, and its login where apps have their own."""
    return f"{identity.name}.app@{relay.from_domain or spec.domain}"


def sendmail_env(
    identity: AppIdentity,
    spec: CloudronAppSpec,
    manifest: Manifest,
    options: Mapping[str, Any],
    relay: Relay,
    *,
    app_password: str = "",
) -> dict[str, str]:
    """CLOUDRON_MAIL_*; SMTPS only when the relay has such a port, the display name when the app asks.

    `app_password`: the app's own password, used when the relay gives each app its login.
    """
    address = app_address(identity, spec, relay)
    own_login = relay.app_logins is not None
    env = {
        "CLOUDRON_MAIL_SMTP_SERVER": relay.host,
        "CLOUDRON_MAIL_SMTP_PORT": str(relay.port),
        "CLOUDRON_MAIL_SMTP_USERNAME": address if own_login else relay.username,
        "CLOUDRON_MAIL_SMTP_PASSWORD": app_password if own_login else relay.password,
        "CLOUDRON_MAIL_FROM": address,
        "CLOUDRON_MAIL_DOMAIN": relay.from_domain or spec.domain,
    }
    if relay.smtps_port is not None:
        env["CLOUDRON_MAIL_SMTPS_PORT"] = str(relay.smtps_port)
    if options.get("supportsDisplayName") is True:
        env["CLOUDRON_MAIL_FROM_DISPLAY_NAME"] = manifest.title or identity.name
    return env
