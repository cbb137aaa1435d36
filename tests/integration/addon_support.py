"""Helpers of the addon tests: Addons in front of the session's real servers, apps that use them."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg2
import pymysql
from kubernetes import client

from cloudron_operator.k8s import api as k8s
from cloudron_operator.provisioners import BACKENDS, ServerAccess
from tests.harness.databases import DatabaseServer
from tests.integration.apps_support import APP, condition, get_app

ADDON = ("cloudron.io/v1alpha1", "Addon")
MANIFEST: dict[str, Any] = {
    "manifestVersion": 2,
    "version": "1.0.0",
    "httpPort": 8000,
    "healthCheckPath": "/",
    "addons": {"postgresql": {}, "mysql": {}, "redis": {}},
}


@dataclass(frozen=True)
class AddonSet:
    """Addons of this test, by type: apps name them in spec.addons, so no default is involved."""

    names: dict[str, str]
    servers: dict[str, DatabaseServer]

    def access(self, addon_type: str) -> ServerAccess:
        server = self.servers[addon_type]
        return ServerAccess(server.host, server.port, server.admin_user, server.admin_password, {})

    def app_uids(self, addon_type: str) -> set[str]:
        """Apps that have a database and user in the server (the backend reads the catalogs)."""
        return BACKENDS[addon_type].app_uids(self.access(addon_type))


def addon_object(
    name: str, addon_type: str, server: DatabaseServer | None, secret_namespace: str
) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": addon_type}
    if server is not None:
        spec["connection"] = {
            "host": server.host,
            "port": server.port,
            "adminSecretRef": {"name": name, "namespace": secret_namespace},
        }
    return {"apiVersion": ADDON[0], "kind": "Addon", "metadata": {"name": name}, "spec": spec}


def admin_secret(name: str, namespace: str, server: DatabaseServer) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/basic-auth",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": {"username": server.admin_user, "password": server.admin_password},
    }


@contextmanager
def addons_for_test(
    api: client.ApiClient, namespace: str, servers: dict[str, DatabaseServer | None]
) -> Iterator[AddonSet]:
    """An Addon per type (its admin Secret in `namespace`), deleted afterwards."""
    suffix = secrets.token_hex(3)
    names = {addon_type: f"{addon_type}-{suffix}" for addon_type in servers}
    for addon_type, server in servers.items():
        if server is not None:
            k8s.create(api, admin_secret(names[addon_type], namespace, server))
        k8s.create(api, addon_object(names[addon_type], addon_type, server, namespace))
    try:
        yield AddonSet(names, {t: s for t, s in servers.items() if s is not None})
    finally:
        for name in names.values():
            k8s.delete(api, *ADDON, None, name)


def app_object(
    name: str, namespace: str, addons: AddonSet, manifest_addons: dict[str, Any] | None = None
) -> dict[str, Any]:
    manifest = {**MANIFEST, "addons": manifest_addons if manifest_addons is not None else MANIFEST["addons"]}
    selections = {t: {"addonRef": addons.names[t]} for t in manifest["addons"] if t in addons.names}
    return {
        "apiVersion": APP[0],
        "kind": "CloudronApp",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "image": "registry.example.com/app:1.0.0",
            "domain": f"{name}.example.com",
            "manifest": manifest,
            "addons": selections,
        },
    }


def addons_ready(api: client.ApiClient, namespace: str, name: str) -> bool:
    return condition(get_app(api, namespace, name), "AddonsReady").get("status") == "True"


def secret_data(api: client.ApiClient, namespace: str, name: str) -> dict[str, str]:
    secret = k8s.get(api, "v1", "Secret", namespace, name)
    assert secret is not None, f"Secret {namespace}/{name} does not exist"
    return {key: base64.b64decode(value).decode() for key, value in secret.get("data", {}).items()}


# Logins with an app's CLOUDRON_* variables, as the app itself would.
def pg_login(env: dict[str, str], database: str | None = None) -> psycopg2.extensions.connection:
    return psycopg2.connect(
        host=env["CLOUDRON_POSTGRESQL_HOST"],
        port=int(env["CLOUDRON_POSTGRESQL_PORT"]),
        user=env["CLOUDRON_POSTGRESQL_USERNAME"],
        password=env["CLOUDRON_POSTGRESQL_PASSWORD"],
        dbname=database or env["CLOUDRON_POSTGRESQL_DATABASE"],
        connect_timeout=5,
    )


def mysql_login(env: dict[str, str]) -> pymysql.connections.Connection:
    return pymysql.connect(
        host=env["CLOUDRON_MYSQL_HOST"],
        port=int(env["CLOUDRON_MYSQL_PORT"]),
        user=env["CLOUDRON_MYSQL_USERNAME"],
        password=env["CLOUDRON_MYSQL_PASSWORD"],
        connect_timeout=5,
    )
