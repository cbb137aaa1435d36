"""The bench's apps, and the objects the operator would make for each, built by its own pure builders."""

from __future__ import annotations

import secrets
from typing import Any

from tests.harness.databases import DatabaseServer

from cloudron_operator import builders
from cloudron_operator.builders.secrets import addon_env_names, build_addon_secret
from cloudron_operator.config import OperatorConfig
from cloudron_operator.manifest.validation import validate_manifest
from cloudron_operator.models import API_VERSION, CloudronAppSpec
from cloudron_operator.provisioners import BACKENDS, AppDatabase, ServerAccess

IMAGE = "registry.example.com/bench:1.0.0"


def app_name(index: int) -> str:
    return f"app-{index:04d}"


def uses_postgresql(index: int) -> bool:
    """Half the apps have a postgresql addon: a database and user in the shared server."""
    return index % 2 == 0


def data_claim(name: str) -> str:
    return builders.child_name(name, "-data")


def manifest(postgresql: bool) -> dict[str, Any]:
    addons: dict[str, Any] = {"localstorage": {}}
    if postgresql:
        addons["postgresql"] = {}
    return {
        "manifestVersion": 2,
        "version": "1.0.0",
        "httpPort": 8000,
        "healthCheckPath": "/",
        "addons": addons,
    }


def app_object(index: int, namespace: str) -> dict[str, Any]:
    name = app_name(index)
    return {
        "apiVersion": API_VERSION,
        "kind": "CloudronApp",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "image": IMAGE,
            "domain": f"{name}.bench.example.com",
            "manifest": manifest(uses_postgresql(index)),
        },
    }


def operator_children(app: dict[str, Any], server: DatabaseServer) -> list[dict[str, Any]]:
    """What the operator applies for the created `app`, in its order: addon Secret, then the children.

    The same builders and the same (default) settings as the operator; the password is generated here
    as the operator would for a new app.
    """
    meta = app["metadata"]
    identity = builders.AppIdentity(meta["name"], meta["namespace"], meta["uid"])
    spec = CloudronAppSpec.model_validate(app["spec"])
    parsed = validate_manifest(spec.package_manifest).manifest
    assert parsed is not None, "the bench's manifest is valid"
    objects: list[dict[str, Any]] = []
    addon_secrets: dict[str, dict[str, str]] = {}
    if parsed.addons.postgresql is not None:
        access = ServerAccess(server.host, server.port, server.admin_user, server.admin_password)
        env = BACKENDS["postgresql"].env(access, AppDatabase(meta["uid"]), secrets.token_urlsafe(24))
        secret = build_addon_secret(identity, "postgresql", addon_env_names(env, parsed))
        addon_secrets[secret["metadata"]["name"]] = env
        objects.append(secret)
    objects += builders.desired_children(identity, spec, parsed, OperatorConfig(), addon_secrets)
    return objects
