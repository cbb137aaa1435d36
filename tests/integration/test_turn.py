"""The turn addon against a real TURN server (coturn on loopback): an app's credentials, derived from
the secret the operator gives it, get a relay allocation; any others do not."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from cloudron_operator.k8s import api as k8s
from tests.harness.processes import LOOPBACK, free_port, wait_until
from tests.harness.turn import TurnServer, allocate, credentials
from tests.integration.addon_support import addons_ready
from tests.integration.apps_support import APP, WAIT, condition, get_app

ADDON = ("cloudron.io/v1alpha1", "Addon")
MANIFEST = {"manifestVersion": 2, "version": "1.0.0", "httpPort": 8000, "addons": {"turn": {}}}


@pytest.fixture
def turn_server() -> Iterator[TurnServer]:
    server = TurnServer().start()
    yield server
    server.stop()


def _addon(name: str, namespace: str, port: int, secret: str) -> dict[str, Any]:
    ref = {"name": secret, "namespace": namespace, "key": "secret"}
    return {
        "apiVersion": ADDON[0],
        "kind": "Addon",
        "metadata": {"name": name},
        "spec": {
            "type": "turn",
            "connection": {"host": LOOPBACK, "port": port, "adminSecretRef": ref},
            "options": {"tlsPort": 5349},
        },
    }


def _addon_ready(api: client.ApiClient, name: str) -> dict[str, Any]:
    return condition(k8s.get(api, *ADDON, None, name) or {}, "Ready")


def test_an_apps_turn_credentials_get_an_allocation_and_others_do_not(
    api_client: client.ApiClient, namespace: str, app_operator: Any, turn_server: TurnServer
) -> None:
    name = f"turn-{secrets.token_hex(3)}"
    secret_name = f"{name}-secret"
    secret_data = {"secret": base64.b64encode(turn_server.secret.encode()).decode()}
    metadata = {"name": secret_name, "namespace": namespace}
    k8s.create(api_client, {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "data": secret_data})
    k8s.create(api_client, _addon(name, namespace, turn_server.port, secret_name))
    k8s.create(api_client, _addon(f"{name}-down", namespace, free_port(), secret_name))
    try:
        wait_until(
            lambda: _addon_ready(api_client, name).get("status") == "True", WAIT, "the turn Addon Ready"
        )
        assert "answers STUN" in _addon_ready(api_client, name)["message"]
        wait_until(
            lambda: _addon_ready(api_client, f"{name}-down").get("reason") == "Unreachable",
            WAIT,
            "an Addon whose server does not answer reported Unreachable",
        )

        app = {
            "apiVersion": APP[0],
            "kind": "CloudronApp",
            "metadata": {"name": "meet", "namespace": namespace},
            "spec": {
                "image": "registry.example.com/meet:1",
                "domain": "meet.example.com",
                "manifest": MANIFEST,
                "addons": {"turn": {"addonRef": name}},
            },
        }
        k8s.create(api_client, app)
        wait_until(lambda: addons_ready(api_client, namespace, "meet"), WAIT, "the app's turn addon")
        secret = k8s.get(api_client, "v1", "Secret", namespace, "meet-turn")
        assert secret is not None
        env = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
        assert env["CLOUDRON_TURN_SERVER"] == LOOPBACK
        assert env["CLOUDRON_TURN_PORT"] == str(turn_server.port)
        assert env["CLOUDRON_TURN_TLS_PORT"] == "5349"
        assert env["CLOUDRON_TURN_SECRET"] == turn_server.secret

        port = int(env["CLOUDRON_TURN_PORT"])
        assert allocate(env["CLOUDRON_TURN_SERVER"], port, *credentials(env["CLOUDRON_TURN_SECRET"], "meet"))
        assert not allocate(LOOPBACK, port, *credentials("not the secret", "meet"))
        assert turn_server.secret not in str(get_app(api_client, namespace, "meet"))
    finally:
        for addon in (name, f"{name}-down"):
            k8s.delete(api_client, *ADDON, None, addon)
