"""From an Addon to the login its backend uses: the admin (or relay) credentials in the Addon's Secret."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from kubernetes import client

from cloudron_operator.addons.base import AddonProblem, AddonRecord
from cloudron_operator.builders.secrets import secret_values
from cloudron_operator.builders.sendmail import Relay
from cloudron_operator.k8s import api as k8s
from cloudron_operator.models.conditions import Reason
from cloudron_operator.provisioners import ServerAccess

# The admin user when the Secret names only a password key (the servers' own superusers).
DEFAULT_ADMIN_USERS: Final = {"postgresql": "postgres", "mysql": "root", "ldap": "cn=admin,dc=cloudron"}
ADMIN_SECRET_MAX_AGE: Final = 60.0  # seconds an app's passes go on using an admin Secret they read

SecretReader = Callable[[str, str], k8s.KubeObject | None]  # (namespace, name) -> the Secret, or None


class AdminSecrets:
    """The Addons' admin Secrets, as read at most `max_age` seconds ago, by (namespace, name).

    Every pass of an app with a database logs in to its server as the Addon's admin; reading the
    Secret for each was one request per pass (500 per resync interval at a thousand apps, half of
    them with a database). A changed Secret is used within `max_age`, and sooner if the old login
    stops working: a pass that fails at the server drops the Secret (`forget`), and its retry reads
    it again. The Addon's own check always reads it (`fresh`): its Ready condition speaks of the
    Secret as it is now. A Secret that is missing or unreadable is not kept, so it is asked for
    again by every pass until it is there.
    """

    def __init__(
        self,
        read: SecretReader,
        *,
        max_age: float = ADMIN_SECRET_MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read, self._max_age, self._clock = read, max_age, clock
        self._kept: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_api(cls, api: client.ApiClient) -> AdminSecrets:
        return cls(lambda namespace, name: k8s.get(api, "v1", "Secret", namespace, name))

    def values(self, namespace: str, name: str, *, fresh: bool = False) -> dict[str, str] | None:
        """The Secret's decoded values; None when it does not exist."""
        key = (namespace, name)
        now = self._clock()
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and not fresh and now - kept[0] < self._max_age:
            return kept[1]
        secret = self._read(namespace, name)
        with self._lock:
            if secret is None:
                self._kept.pop(key, None)
                return None
            values = secret_values(secret)
            self._kept[key] = (now, values)
        return values

    def forget(self, addon: AddonRecord) -> None:
        """Read the Addon's Secret again next time: a login with it failed."""
        ref = (addon.spec.get("connection") or {}).get("adminSecretRef") or {}
        with self._lock:
            self._kept.pop((str(ref.get("namespace")), str(ref.get("name"))), None)


def relay(secrets: AdminSecrets, addon: AddonRecord, *, fresh: bool = False) -> Relay:
    """The SMTP relay of a sendmail Addon, with its login when the Addon names a Secret."""
    connection: Mapping[str, Any] = addon.spec.get("connection") or {}
    if not connection:
        raise AddonProblem(
            Reason.ADDON_NOT_READY, f"Addon {addon.name} has no connection: name the relay's host and port"
        )
    if not connection.get("adminSecretRef"):
        return Relay.from_addon(addon.spec)
    username, password = _login(secrets, addon, DEFAULT_ADMIN_USERS.get(addon.type, ""), fresh=fresh)
    return Relay.from_addon(addon.spec, username, password)


def server_access(secrets: AdminSecrets, addon: AddonRecord, *, fresh: bool = False) -> ServerAccess:
    """The admin login of a database Addon, from its Secret; AddonProblem says what is missing."""
    connection: Mapping[str, Any] = addon.spec.get("connection") or {}
    if not connection or not connection.get("adminSecretRef"):
        raise AddonProblem(Reason.ADDON_NOT_READY, f"Addon {addon.name} has no connection.adminSecretRef")
    username, password = _login(secrets, addon, DEFAULT_ADMIN_USERS.get(addon.type, ""), fresh=fresh)
    return ServerAccess(
        host=str(connection["host"]),
        port=int(connection["port"]),
        username=username,
        password=password,
        options=dict(addon.spec.get("options") or {}),
    )


def shared_secret(secrets: AdminSecrets, addon: AddonRecord, *, fresh: bool = False) -> str:
    """The one secret value of the Addon's Secret: under its `key`, else under `secret`."""
    ref, where, values = _secret_of(secrets, addon, fresh=fresh)
    key = ref.get("key") or "secret"
    value = values.get(key)
    if not value:
        raise AddonProblem(Reason.ADDON_NOT_READY, f"the {where} lacks key {key}")
    return value


def basic_login(secrets: AdminSecrets, addon: AddonRecord, *, fresh: bool = False) -> tuple[str, str]:
    """User name and password of the Addon's Secret (an HTTP API's basic-auth login)."""
    return _login(secrets, addon, "", fresh=fresh)


def _secret_of(
    secrets: AdminSecrets, addon: AddonRecord, *, fresh: bool
) -> tuple[Mapping[str, Any], str, dict[str, str]]:
    """The Addon's adminSecretRef, how to name its Secret in a message, and the Secret's values."""
    ref: Mapping[str, Any] = (addon.spec.get("connection") or {}).get("adminSecretRef") or {}
    if not ref:
        raise AddonProblem(Reason.ADDON_NOT_READY, f"Addon {addon.name} has no connection.adminSecretRef")
    where = f"Secret {ref.get('namespace')}/{ref.get('name')} of Addon {addon.name}"
    try:
        values = secrets.values(ref["namespace"], ref["name"], fresh=fresh)
    except k8s.ApiError as error:
        if error.status == 403:
            raise AddonProblem(Reason.ADDON_NOT_READY, f"the operator may not read the {where}") from error
        raise
    if values is None:
        raise AddonProblem(Reason.ADDON_NOT_READY, f"the {where} does not exist")
    return ref, where, values


def _login(secrets: AdminSecrets, addon: AddonRecord, default_user: str, *, fresh: bool) -> tuple[str, str]:
    """User name and password from the Addon's Secret: basic-auth keys, or the password under `key`."""
    ref, where, values = _secret_of(secrets, addon, fresh=fresh)
    key = ref.get("key")
    password = values.get(key) if key else values.get("password")
    username = values.get("username") if not key else None
    username = username or str(addon.spec.get("options", {}).get("adminUser") or "")
    username = username or default_user
    if not password or not username:
        missing = f"key {key}" if key else "keys username and password"
        raise AddonProblem(Reason.ADDON_NOT_READY, f"the {where} lacks {missing}")
    return username, password
