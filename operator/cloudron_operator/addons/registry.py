"""The addon types this operator serves, each with its backend: built at start-up and passed in."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from kubernetes import client

from cloudron_operator.addons.base import AddonBackend
from cloudron_operator.addons.ldap import LdapAddon
from cloudron_operator.addons.logins import AdminSecrets
from cloudron_operator.addons.oidc import OidcAddon
from cloudron_operator.addons.proxy_auth import ProxyAuthAddon
from cloudron_operator.addons.redis import RedisAddon
from cloudron_operator.addons.sendmail import SendmailAddon
from cloudron_operator.addons.sql import SqlAddon
from cloudron_operator.addons.turn import TurnAddon
from cloudron_operator.directory.service import Directory
from cloudron_operator.models import AddonType
from cloudron_operator.provisioners import BACKENDS


class AddonBackends:
    """Backends by addon type, in the order an app's addons are provisioned and reported."""

    def __init__(self, backends: Iterable[AddonBackend]) -> None:
        self._by_type: dict[AddonType, AddonBackend] = {}
        for backend in backends:
            if backend.addon_type in self._by_type:
                raise ValueError(f"two backends for {backend.addon_type}")
            self._by_type[backend.addon_type] = backend

    @property
    def types(self) -> tuple[AddonType, ...]:
        return tuple(self._by_type)

    def get(self, addon_type: str) -> AddonBackend | None:
        try:
            return self._by_type.get(AddonType(addon_type))
        except ValueError:  # a type no Addon may have
            return None

    def holding_data(self) -> tuple[AddonType, ...]:
        """The types whose app data lives in the Addon's server (see `AddonBackend.holds_data`)."""
        return tuple(addon_type for addon_type, backend in self._by_type.items() if backend.holds_data)

    def __iter__(self) -> Iterator[AddonBackend]:
        return iter(self._by_type.values())


def standard_backends(
    logins: AdminSecrets, api: client.ApiClient | None = None, directory: Directory | None = None
) -> AddonBackends:
    """Every addon type this operator serves, logging in to the Addons' servers through `logins`;
    `api` writes what an addon keeps in the cluster (the relay's app logins); with `directory` (the
    store's users, kept synced), the ldap addon too."""
    backends: list[AddonBackend] = [
        SqlAddon(BACKENDS[AddonType.POSTGRESQL], logins),
        SqlAddon(BACKENDS[AddonType.MYSQL], logins),
        RedisAddon(),
        SendmailAddon(logins, api),
        TurnAddon(logins),
        OidcAddon(logins),
        ProxyAuthAddon(logins),
    ]
    if directory is not None:
        backends.append(LdapAddon(logins, directory))
    return AddonBackends(backends)
