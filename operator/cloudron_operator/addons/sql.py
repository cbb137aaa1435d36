"""postgresql and mysql: a database and a user per app in a shared server (CLOUDRON.md §2.2, §2.3).

The server work is the `provisioners` backend's; this module fits it into the addon lifecycle: the
admin login from the Addon's Secret, the app's database named from its uid, and the backend's
errors as conditions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudron_operator.addons.base import AddonCheck, AddonProblem, AddonRecord, AddonRequest
from cloudron_operator.addons.logins import AdminSecrets, server_access
from cloudron_operator.builders.identity import AppIdentity
from cloudron_operator.models import AddonType
from cloudron_operator.models.conditions import Reason
from cloudron_operator.provisioners import (
    AppDatabase,
    DatabaseBackend,
    ProvisioningFailed,
    ServerAccess,
    ServerUnreachable,
)


class SqlAddon:
    """A database addon served by a `DatabaseBackend`; the app's data lives in the Addon's server."""

    holds_data = True

    def __init__(self, backend: DatabaseBackend, logins: AdminSecrets) -> None:
        self.backend, self.logins = backend, logins
        self.addon_type = AddonType(backend.addon_type)

    def check(self, addon: AddonRecord) -> AddonCheck:
        # The admin Secret is read afresh: the condition says whether the Secret as it is now works.
        try:
            checked = self.backend.check(server_access(self.logins, addon, fresh=True))
        except ServerUnreachable as error:
            raise AddonProblem(Reason.UNREACHABLE, str(error)) from error
        detail = f"; {checked.detail}" if checked.detail else ""
        return AddonCheck(f"logged in to {addon.type} {checked.version}{detail}", checked.version)

    def env(self, request: AddonRequest) -> dict[str, str]:
        return self.backend.env(self._access(request.addon), _database(request), self._password(request))

    def provision(self, request: AddonRequest) -> list[dict[str, Any]]:
        access, database = self._access(request.addon), _database(request)
        try:
            self.backend.provision(access, database, self._password(request))
        except (ServerUnreachable, ProvisioningFailed) as error:
            raise self._problem(request.addon, error, f"Addon {request.addon.name}: ") from error
        return []

    def deprovision(self, identity: AppIdentity, addon: AddonRecord, options: Mapping[str, Any]) -> None:
        try:
            self.backend.deprovision(self._access(addon), AppDatabase(identity.uid, dict(options)))
        except (ServerUnreachable, ProvisioningFailed) as error:
            raise self._problem(addon, error) from error
        except AddonProblem:
            self.logins.forget(addon)
            raise

    def _password(self, request: AddonRequest) -> str:
        return request.password(f"CLOUDRON_{self.addon_type.upper()}_PASSWORD")

    def _access(self, addon: AddonRecord) -> ServerAccess:
        return server_access(self.logins, addon)

    def _problem(self, addon: AddonRecord, error: Exception, prefix: str = "") -> AddonProblem:
        """The backend's error as a condition; the admin login is read again by the retry (it may
        have changed)."""
        self.logins.forget(addon)
        reason = "AddonUnreachable" if isinstance(error, ServerUnreachable) else "AddonFailed"
        return AddonProblem(reason, f"{prefix}{error}")


def _database(request: AddonRequest) -> AppDatabase:
    return AppDatabase(app_uid=request.identity.uid, options=dict(request.options))
