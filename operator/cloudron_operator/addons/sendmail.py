"""sendmail: the app is told the cluster's SMTP relay, which the Addon names (CLOUDRON.md §2.9)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudron_operator.addons.base import AddonCheck, AddonProblem, AddonRecord, AddonRequest
from cloudron_operator.addons.logins import AdminSecrets, relay
from cloudron_operator.builders.identity import AppIdentity
from cloudron_operator.builders.sendmail import sendmail_env
from cloudron_operator.models import AddonType
from cloudron_operator.models.conditions import Reason
from cloudron_operator.provisioners.base import ServerUnreachable
from cloudron_operator.provisioners.smtp_relay import check_relay


class SendmailAddon:
    addon_type = AddonType.SENDMAIL
    holds_data = False

    def __init__(self, logins: AdminSecrets) -> None:
        self.logins = logins

    def check(self, addon: AddonRecord) -> AddonCheck:
        try:
            greeting = check_relay(relay(self.logins, addon, fresh=True))
        except ServerUnreachable as error:
            raise AddonProblem(Reason.UNREACHABLE, str(error)) from error
        return AddonCheck(f"the relay answers: {greeting}")

    def env(self, request: AddonRequest) -> dict[str, str]:
        return sendmail_env(
            request.identity,
            request.spec,
            request.manifest,
            request.options,
            relay(self.logins, request.addon),
        )

    def provision(self, request: AddonRequest) -> list[dict[str, Any]]:
        return []  # the relay is the cluster's: nothing to make on it per app

    def deprovision(self, identity: AppIdentity, addon: AddonRecord, options: Mapping[str, Any]) -> None:
        return None
