"""CloudronApp lifecycle with the operator running as a subprocess against the local cluster."""

from __future__ import annotations

import copy

from kubernetes import client

from cloudron_operator.k8s import api as k8s
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import wait_until
from tests.integration.apps_support import WAIT, certificate_ready, condition, example, get_app


def test_an_app_gets_its_children_and_becomes_ready(
    api_client: client.ApiClient, namespace: str, app_operator: OperatorProcess, data_volume: None
) -> None:
    k8s.create(api_client, example("znc", namespace))
    wait_until(
        # The Ingress is the last child a pass applies: once it exists, every other one does.
        lambda: k8s.get(api_client, "networking.k8s.io/v1", "Ingress", namespace, "znc") is not None,
        WAIT,
        "the operator to create the children",
    )
    deployment = k8s.get(api_client, "apps/v1", "Deployment", namespace, "znc")
    assert deployment is not None
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["APP_DOMAIN"] == "znc.example.com"  # manifestVersion 1: no CLOUDRON_ prefix
    assert env["ZNC_PORT"] == "6697"
    ports = k8s.get(api_client, "v1", "Service", namespace, "znc-ports")
    assert ports is not None and ports["spec"]["ports"][0]["port"] == 6697
    for kind, api_version, name in (
        ("Service", "v1", "znc"),
        ("Ingress", "networking.k8s.io/v1", "znc"),
        ("NetworkPolicy", "networking.k8s.io/v1", "znc"),
        ("PersistentVolumeClaim", "v1", "znc-data"),
    ):
        assert k8s.get(api_client, api_version, kind, namespace, name) is not None, kind

    def ready() -> bool:
        return condition(get_app(api_client, namespace, "znc"), "Ready").get("status") == "True"

    wait_until(ready, WAIT, "the app to become Ready")
    app = get_app(api_client, namespace, "znc")
    # Ready only once cert-manager had issued the certificate, and the status says so.
    issued = certificate_ready(api_client, namespace, "znc-tls")
    assert issued, "the app is Ready, its certificate not issued"
    assert condition(app, "Ready")["lastTransitionTime"] >= issued["lastTransitionTime"]
    assert condition(app, "CertificateReady")["reason"] == "Issued"
    assert app["status"]["phase"] == "Running"
    assert app["status"]["url"] == "https://znc.example.com"
    assert app["status"]["observedGeneration"] == app["metadata"]["generation"]


def test_a_deleted_child_is_restored_by_the_resync(
    api_client: client.ApiClient, namespace: str, app_operator: OperatorProcess
) -> None:
    k8s.create(api_client, example("znc", namespace))
    wait_until(
        lambda: k8s.get(api_client, "v1", "Service", namespace, "znc") is not None, WAIT, "the Service"
    )
    k8s.delete(api_client, "v1", "Service", namespace, "znc")
    wait_until(
        lambda: k8s.get(api_client, "v1", "Service", namespace, "znc") is not None,
        WAIT,
        "the resync to restore the deleted Service",
    )


def test_a_port_the_manifest_does_not_declare_is_reported_not_retried(
    api_client: client.ApiClient, namespace: str, app_operator: OperatorProcess
) -> None:
    app = copy.deepcopy(example("znc", namespace))
    app["spec"]["ports"] = {"SSH_PORT": 2222}
    k8s.create(api_client, app)

    def reported() -> bool:
        return condition(get_app(api_client, namespace, "znc"), "Ready").get("reason") == "InvalidSpec"

    wait_until(reported, WAIT, "Ready=False with reason InvalidSpec")
    ready = condition(get_app(api_client, namespace, "znc"), "Ready")
    assert ready["status"] == "False"
    assert "SSH_PORT" in ready["message"]
    assert k8s.get(api_client, "apps/v1", "Deployment", namespace, "znc") is None
    events = k8s.list_objects(api_client, "v1", "Event", namespace)
    warnings = [e for e in events if e.get("reason") == "InvalidSpec" and e.get("type") == "Warning"]
    assert warnings, "a Warning Event tells the user"
    assert all(e.get("count", 1) == 1 for e in warnings), "the same problem is not reported again and again"
