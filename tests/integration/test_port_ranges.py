"""A manifest's portCount range on the real API server: every port of it in the Service, the pod and
the NetworkPolicy (as one `endPort` range), and the app told how many it has."""

from __future__ import annotations

from kubernetes import client

from cloudron_operator.k8s import api as k8s
from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import wait_until
from tests.integration.apps_support import WAIT, example, kubectl_apply

RANGE = {"title": "Media", "description": "RTP media ports", "defaultValue": 40000, "portCount": 5}


def test_every_port_of_a_range_is_served_and_the_app_reads_the_count(
    api_client: client.ApiClient,
    cluster: LocalEnv,
    namespace: str,
    app_operator: OperatorProcess,
    data_volume: None,
) -> None:
    app = example("znc", namespace)
    app["spec"]["manifest"]["tcpPorts"] = {**app["spec"]["manifest"].get("tcpPorts", {}), "RTP_PORT": RANGE}
    app["spec"]["ports"] = {**app["spec"].get("ports", {}), "RTP_PORT": 41000}
    kubectl_apply(cluster.cluster, app)

    wait_until(
        lambda: (
            k8s.get(api_client, "v1", "Service", namespace, "znc-ports") is not None
            and k8s.get(api_client, "networking.k8s.io/v1", "NetworkPolicy", namespace, "znc") is not None
            and k8s.get(api_client, "apps/v1", "Deployment", namespace, "znc") is not None
        ),
        WAIT,
        "the app's Service, NetworkPolicy and Deployment",
    )
    service = k8s.get(api_client, "v1", "Service", namespace, "znc-ports") or {}
    served = {(port["port"], port["targetPort"]) for port in service["spec"]["ports"]}
    assert {(41000 + i, 41000 + i) for i in range(5)} <= served

    policy = k8s.get(api_client, "networking.k8s.io/v1", "NetworkPolicy", namespace, "znc") or {}
    admitted = [port for rule in policy["spec"]["ingress"] for port in rule.get("ports", [])]
    assert {"protocol": "TCP", "port": 41000, "endPort": 41004} in admitted

    deployment = k8s.get(api_client, "apps/v1", "Deployment", namespace, "znc") or {}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert (env["RTP_PORT"], env["RTP_PORT_COUNT"]) == ("41000", "5")
    listed = {port["containerPort"] for port in container["ports"]}
    assert {41000 + i for i in range(5)} <= listed
