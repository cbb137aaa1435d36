"""The manifest's httpPorts on the real API server: each service's host in the Ingress and the
Certificate, its port in the Service, and a changed host followed."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from cloudron_operator.k8s import api as k8s
from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import wait_until
from tests.integration.apps_support import APP, WAIT, example, kubectl_apply

SERVICE = {
    "title": "Web admin",
    "description": "ZNC's web admin",
    "containerPort": 6697,
    "defaultValue": "irc-admin",
}


def _app(namespace: str, **http_ports: str) -> dict[str, Any]:
    app = example("znc", namespace)
    app["spec"]["manifest"]["httpPorts"] = {"ADMIN_DOMAIN": SERVICE}
    if http_ports:
        app["spec"]["httpPorts"] = http_ports
    return app


def _hosts(api: client.ApiClient, namespace: str) -> tuple[list[str], list[str]]:
    ingress = k8s.get(api, "networking.k8s.io/v1", "Ingress", namespace, "znc") or {"spec": {"rules": []}}
    certificate = k8s.get(api, "cert-manager.io/v1", "Certificate", namespace, "znc-tls") or {"spec": {}}
    return [rule["host"] for rule in ingress["spec"]["rules"]], certificate["spec"].get("dnsNames", [])


def test_a_service_is_served_on_its_default_host_then_on_the_one_the_spec_gives(
    api_client: client.ApiClient,
    cluster: LocalEnv,
    namespace: str,
    app_operator: OperatorProcess,
    data_volume: None,
) -> None:
    kubectl_apply(cluster.cluster, _app(namespace))
    wait_until(
        lambda: _hosts(api_client, namespace) == (["znc.example.com", "irc-admin.example.com"],) * 2,
        WAIT,
        "the service's default host in the Ingress and the Certificate",
    )
    service = k8s.get(api_client, "v1", "Service", namespace, "znc") or {}
    assert {"name": "http-6697", "port": 6697, "targetPort": 6697, "protocol": "TCP"} in service["spec"][
        "ports"
    ]
    deployment = k8s.get(api_client, "apps/v1", "Deployment", namespace, "znc") or {}
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["ADMIN_DOMAIN"] == "irc-admin.example.com"

    kubectl_apply(cluster.cluster, _app(namespace, ADMIN_DOMAIN="admin.example.org"))
    wait_until(
        lambda: _hosts(api_client, namespace) == (["znc.example.com", "admin.example.org"],) * 2,
        WAIT,
        "the host the spec gives",
    )

    # An aliasableDomain service is served on its aliases too; the API server keeps them a set.
    aliased = _app(namespace, ADMIN_DOMAIN="admin.example.org")
    aliased["spec"]["manifest"]["httpPorts"]["ADMIN_DOMAIN"]["aliasableDomain"] = True
    aliased["spec"]["httpPortAliases"] = {"ADMIN_DOMAIN": ["*.admin.example.org"]}
    kubectl_apply(cluster.cluster, aliased)
    hosts = ["znc.example.com", "admin.example.org", "*.admin.example.org"]
    wait_until(lambda: _hosts(api_client, namespace) == (hosts, hosts), WAIT, "the service's alias")
    twice = {"ADMIN_DOMAIN": ["*.admin.example.org", "*.admin.example.org"]}
    with pytest.raises(k8s.ApiError, match="Duplicate value"):
        k8s.json_patch(
            api_client, *APP, namespace, "znc",
            operations=[{"op": "replace", "path": "/spec/httpPortAliases", "value": twice}],
        )  # fmt: skip
