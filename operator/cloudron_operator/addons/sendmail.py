"""sendmail: the app is told the cluster's SMTP relay, which the Addon names (CLOUDRON.md §2.9).

With `options.appLoginsSecretRef` each app gets a login of its own: its line in the logins Secret
(`provisioners.relay_logins`) is written after its Secret holds the password, and removed when
the app is deleted. Apps write the one Secret concurrently, so every change is a read, an edit of
the app's own line and a patch that the API server refuses if the Secret changed in between.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any, Final

from kubernetes import client

from cloudron_operator.addons.base import AddonCheck, AddonProblem, AddonRecord, AddonRequest
from cloudron_operator.addons.logins import AdminSecrets, relay
from cloudron_operator.builders.identity import AppIdentity
from cloudron_operator.builders.sendmail import LoginsSecret, Relay, app_address, sendmail_env
from cloudron_operator.k8s import api as k8s
from cloudron_operator.models import AddonType
from cloudron_operator.models.conditions import Reason
from cloudron_operator.provisioners.base import ServerUnreachable
from cloudron_operator.provisioners.relay_logins import AppLogin, LoginTaken, with_login, without_app
from cloudron_operator.provisioners.smtp_relay import check_relay

PASSWORD_KEY: Final = "CLOUDRON_MAIL_SMTP_PASSWORD"  # noqa: S105 - a variable's name
WRITE_ATTEMPTS: Final = 8  # each lost race means another app's line went in: it ends quickly
MERGE_PATCH: Final = "application/merge-patch+json"
MANAGED_BY: Final = {"app.kubernetes.io/managed-by": "cloudron-operator"}


class SendmailAddon:
    addon_type = AddonType.SENDMAIL
    holds_data = False  # the app's login is removed on deletion all the same (`deprovision`)

    def __init__(self, logins: AdminSecrets, api: client.ApiClient | None = None) -> None:
        self.logins, self.api = logins, api

    def check(self, addon: AddonRecord) -> AddonCheck:
        checked = _relay(self.logins, addon, fresh=True)
        try:
            greeting = check_relay(checked, needs_auth=checked.app_logins is not None)
        except ServerUnreachable as error:
            raise AddonProblem(Reason.UNREACHABLE, str(error)) from error
        if checked.app_logins is None:
            return AddonCheck(f"the relay answers: {greeting}")
        where = checked.app_logins
        return AddonCheck(
            f"the relay answers: {greeting}; each app has its own login, in Secret"
            f" {where.namespace}/{where.name} (key {where.key})"
        )

    def env(self, request: AddonRequest) -> dict[str, str]:
        chosen = _relay(self.logins, request.addon)
        password = request.password(PASSWORD_KEY) if chosen.app_logins is not None else ""
        return sendmail_env(
            request.identity, request.spec, request.manifest, request.options, chosen, app_password=password
        )

    def provision(self, request: AddonRequest) -> list[dict[str, Any]]:
        chosen = _relay(self.logins, request.addon)
        if chosen.app_logins is None:
            return []  # a shared login, or none: nothing of the app's on the relay
        identity = request.identity
        login = AppLogin(
            app_address(identity, request.spec, chosen), identity.uid, f"{identity.namespace}/{identity.name}"
        )
        password = request.password(PASSWORD_KEY)
        try:
            self._edit(chosen.app_logins, lambda text: with_login(text, login, password))
        except LoginTaken as taken:
            raise AddonProblem(
                Reason.ADDON_FAILED,
                f"{taken}: the From address is <app name>.app@<mail domain>; rename the app,"
                " or give this Addon's apps different domains (no options.fromDomain)",
            ) from taken
        return []

    def deprovision(self, identity: AppIdentity, addon: AddonRecord, options: Mapping[str, Any]) -> None:
        chosen = _relay(self.logins, addon)
        if chosen.app_logins is not None:
            self._edit(chosen.app_logins, lambda text: without_app(text, identity.uid))

    def _edit(self, where: LoginsSecret, edit: Callable[[str], str | None]) -> None:
        """Apply `edit` (text -> new text, or None for no change) to the logins, as one atomic write."""
        secret = f"Secret {where.namespace}/{where.name}"
        if self.api is None:
            raise AddonProblem(Reason.ADDON_UNREACHABLE, f"no API client to write {secret} with")
        for _ in range(WRITE_ATTEMPTS):
            try:
                _write_once(self.api, where, edit)
            except k8s.ApiError as error:
                if error.status == 409:  # another app's line went in first: read it again
                    continue
                message = f"cannot write {secret}: {error.status} {error.reason}"
                raise AddonProblem(Reason.ADDON_UNREACHABLE, message) from error
            return
        raise AddonProblem(Reason.ADDON_UNREACHABLE, f"{secret} kept changing while it was written")


def _relay(logins: AdminSecrets, addon: AddonRecord, *, fresh: bool = False) -> Relay:
    try:
        return relay(logins, addon, fresh=fresh)
    except ValueError as error:
        raise AddonProblem(Reason.INVALID_OPTIONS, f"Addon {addon.name}: spec.{error}") from error


def _write_once(api: client.ApiClient, where: LoginsSecret, edit: Callable[[str], str | None]) -> None:
    """One read-edit-write; ApiError 409 when another writer came in between."""
    secret = k8s.get(api, "v1", "Secret", where.namespace, where.name)
    current = _decoded(secret, where.key) if secret is not None else ""
    changed = edit(current)
    if changed is None:
        return
    data = {where.key: base64.b64encode(changed.encode()).decode()}
    if secret is None:
        k8s.create(
            api,
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {"name": where.name, "namespace": where.namespace, "labels": MANAGED_BY},
                "data": data,
            },
        )
        return
    patch = {"metadata": {"resourceVersion": secret["metadata"]["resourceVersion"]}, "data": data}
    path = f"/api/v1/namespaces/{where.namespace}/secrets/{where.name}"
    k8s.request(api, "PATCH", path, body=patch, content_type=MERGE_PATCH)


def _decoded(secret: Mapping[str, Any], key: str) -> str:
    value = (secret.get("data") or {}).get(key)
    return base64.b64decode(value).decode() if value else ""
