"""From an Addon to what a backend needs: the admin login from its Secret, and the backend itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from kubernetes import client

from cloudron_operator.addon_plan import AddonProblem, AddonRecord
from cloudron_operator.builders.redis import RedisOptions
from cloudron_operator.builders.secrets import secret_values
from cloudron_operator.builders.sendmail import Relay
from cloudron_operator.k8s import api as k8s
from cloudron_operator.provisioners import BACKENDS, DatabaseBackend, ServerAccess

# The admin user when the Secret names only a password key (the servers' own superusers).
DEFAULT_ADMIN_USERS: Final = {"postgresql": "postgres", "mysql": "root"}


def backend_for(addon: AddonRecord) -> DatabaseBackend:
    backend = BACKENDS.get(addon.type)
    if backend is None:
        raise AddonProblem("UnsupportedAddon", f"this operator cannot provision {addon.type} addons")
    return backend


def relay(api: client.ApiClient, addon: AddonRecord) -> Relay:
    """The SMTP relay of a sendmail Addon, with its login when the Addon names a Secret."""
    connection: Mapping[str, Any] = addon.spec.get("connection") or {}
    if not connection:
        raise AddonProblem(
            "AddonNotReady", f"Addon {addon.name} has no connection: name the relay's host and port"
        )
    if not connection.get("adminSecretRef"):
        return Relay.from_addon(addon.spec)
    username, password = _login(api, addon, DEFAULT_ADMIN_USERS.get(addon.type, ""))
    return Relay.from_addon(addon.spec, username, password)


def redis_options(addon: AddonRecord) -> RedisOptions:
    """What every app's own Redis is made with, from a redis Addon's options."""
    try:
        return RedisOptions.from_addon(addon.spec.get("options") or {})
    except ValueError as error:
        raise AddonProblem("InvalidOptions", f"Addon {addon.name}: spec.{error}") from error


def server_access(api: client.ApiClient, addon: AddonRecord) -> ServerAccess:
    """The admin login of a database Addon, read from its Secret; AddonProblem says what is missing."""
    connection: Mapping[str, Any] = addon.spec.get("connection") or {}
    if not connection or not connection.get("adminSecretRef"):
        raise AddonProblem("AddonNotReady", f"Addon {addon.name} has no connection.adminSecretRef")
    username, password = _login(api, addon, DEFAULT_ADMIN_USERS.get(addon.type, ""))
    return ServerAccess(
        host=str(connection["host"]),
        port=int(connection["port"]),
        username=username,
        password=password,
        options=dict(addon.spec.get("options") or {}),
    )


def _login(api: client.ApiClient, addon: AddonRecord, default_user: str) -> tuple[str, str]:
    """User name and password from the Addon's Secret: basic-auth keys, or the password under `key`."""
    ref: Mapping[str, Any] = addon.spec["connection"]["adminSecretRef"]
    where = f"Secret {ref.get('namespace')}/{ref.get('name')} of Addon {addon.name}"
    try:
        secret = k8s.get(api, "v1", "Secret", ref["namespace"], ref["name"])
    except k8s.ApiError as error:
        if error.status == 403:
            raise AddonProblem("AddonNotReady", f"the operator may not read the {where}") from error
        raise
    if secret is None:
        raise AddonProblem("AddonNotReady", f"the {where} does not exist")
    values = secret_values(secret)
    key = ref.get("key")
    password = values.get(key) if key else values.get("password")
    username = values.get("username") if not key else None
    username = username or str(addon.spec.get("options", {}).get("adminUser") or "")
    username = username or default_user
    if not password or not username:
        missing = f"key {key}" if key else "keys username and password"
        raise AddonProblem("AddonNotReady", f"the {where} lacks {missing}")
    return username, password
