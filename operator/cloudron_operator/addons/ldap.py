"""ldap: the platform's directory, which the Addon's server holds (CLOUDRON.md §2.6, §5.1).

Each app gets a bind account and a view of its own (`directory.dit`): the users allowed to it
(spec.access) and their groups, under its own base DNs. The server's ACLs let the account read its
view only, and the users in it bind with their password; a user not allowed is not there at all.
docs/identity.md says why views and not one tree filtered by ACLs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudron_operator.addons.base import AddonCheck, AddonProblem, AddonRecord, AddonRequest
from cloudron_operator.addons.logins import AdminSecrets, server_access
from cloudron_operator.builders.identity import AppIdentity
from cloudron_operator.directory.dit import BASE_DN, DirectoryApp, bind_dn, groups_dn, users_dn
from cloudron_operator.directory.passwords import bind_password_hash
from cloudron_operator.directory.service import Directory
from cloudron_operator.directory.state import BIND_PASSWORD_KEY
from cloudron_operator.directory.sync import DirectoryError, DirectoryLogin, connected, exists
from cloudron_operator.models import AddonType
from cloudron_operator.models.conditions import Reason


def ldap_login(logins: AdminSecrets, addon: AddonRecord, *, fresh: bool = False) -> DirectoryLogin:
    """The admin login of the Addon's server, from its Secret (username: the admin DN)."""
    access = server_access(logins, addon, fresh=fresh)
    return DirectoryLogin(access.host, access.port, access.username, access.password)


class LdapAddon:
    addon_type = AddonType.LDAP
    holds_data = False  # the directory is derived: deleting an app drops its view, nothing is lost

    def __init__(self, logins: AdminSecrets, directory: Directory) -> None:
        self.logins, self.directory = logins, directory

    def check(self, addon: AddonRecord) -> AddonCheck:
        login = ldap_login(self.logins, addon, fresh=True)
        try:
            with connected(login) as connection:
                populated = exists(connection, BASE_DN)
        except DirectoryError as error:
            reason = Reason.UNREACHABLE if error.unreachable else Reason.ADDON_NOT_READY
            raise AddonProblem(reason, str(error)) from None
        self.directory.remember(addon)
        state = "holds the directory" if populated else "is empty: the operator writes the directory into it"
        return AddonCheck(f"{login.where} takes the admin login and {state}")

    def env(self, request: AddonRequest) -> dict[str, str]:
        connection = request.addon.connection
        host, port, key = (
            str(connection.get("host", "")),
            str(connection.get("port", "")),
            request.identity.uid,
        )
        return {
            "CLOUDRON_LDAP_SERVER": host,
            "CLOUDRON_LDAP_HOST": host,
            "CLOUDRON_LDAP_PORT": port,
            "CLOUDRON_LDAP_URL": f"ldap://{host}:{port}",
            "CLOUDRON_LDAP_USERS_BASE_DN": users_dn(key),
            "CLOUDRON_LDAP_GROUPS_BASE_DN": groups_dn(key),
            "CLOUDRON_LDAP_BIND_DN": bind_dn(key),
            BIND_PASSWORD_KEY: request.password(BIND_PASSWORD_KEY),
        }

    def provision(self, request: AddonRequest) -> list[dict[str, Any]]:
        key = request.identity.uid
        password = request.password(BIND_PASSWORD_KEY)
        app = DirectoryApp(key, request.spec.access, bind_password_hash(password, key))
        try:
            self.directory.sync_app(request.addon, app)
        except DirectoryError as error:
            raise _problem(error) from None
        return []

    def deprovision(self, identity: AppIdentity, addon: AddonRecord, options: Mapping[str, Any]) -> None:
        try:
            self.directory.drop_app(addon, identity.uid)
        except DirectoryError as error:
            raise _problem(error) from None


def _problem(error: DirectoryError) -> AddonProblem:
    return AddonProblem(Reason.ADDON_UNREACHABLE if error.unreachable else Reason.ADDON_FAILED, str(error))
