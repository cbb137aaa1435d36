"""Both routing modes, read by a real controller: Traefik 3.7 (tests/harness/traefik.py) in the local
cluster, with certificates cert-manager issued.

- Ingress mode with class `nginx`, which Traefik serves through its ingress-nginx provider (ingress-
  nginx's own annotations read as ingress-nginx reads them: Traefik's way off the retired controller).
- Gateway mode with a Gateway of the app's own (Traefik has no ListenerSet yet; the ListenerSet mode
  is checked against the API server and the operator's own reading of the shared Gateway).

What is checked is the controller's own view: the routers its API lists for each host and the
servers they send to (the app's pod, on the container's port), the status it writes, the
certificate it serves for each host (a TLS handshake with its entry point), and the redirects it
answers. kwok runs no pod, so no request reaches an app: docs/ingress.md.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from cryptography import x509
from kubernetes import client

from cloudron_operator.k8s import api as k8s
from tests.harness import gateway_api
from tests.harness import traefik as traefik_harness
from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import wait_until
from tests.harness.traefik import TraefikProcess
from tests.integration.apps_support import (
    WAIT,
    condition,
    get_app,
    kubectl_apply,
    namespaced_operator,
)

MANIFEST = {
    "manifestVersion": 2,
    "version": "1.0.0",
    "httpPort": 8000,
    "healthCheckPath": "/",
    "multiDomain": True,
    "httpPorts": {
        "API_DOMAIN": {
            "title": "API",
            "description": "The API server",
            "containerPort": 3000,
            "defaultValue": "api",
        }
    },
}
# Each test's hosts are its own (under a zone of its mode): Traefik serves a certificate by name from
# every Secret it has loaded, and the namespace of a test that ended goes some time after it.
ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute")


@pytest.fixture(scope="module")
def traefik(cluster: LocalEnv, installed_crds: None) -> Iterator[TraefikProcess]:
    """Traefik watching the cluster, with its IngressClasses, GatewayClass and a shared Gateway."""
    gateway_api.install_crds(cluster.cluster)
    process = traefik_harness.start(cluster.cluster.kubeconfig, cluster.root / "traefik.log")
    try:
        traefik_harness.install_classes(cluster.cluster, process)
        yield process
    finally:
        traefik_harness.stop(process)


def mode_settings(mode: str, traefik: TraefikProcess) -> dict[str, str]:
    if mode == "ingress":
        return {"CLOUDRON_OPERATOR_INGRESS_CLASS": traefik_harness.NGINX_INGRESS_CLASS}
    return {
        "CLOUDRON_OPERATOR_ROUTING": "gateway",
        "CLOUDRON_OPERATOR_GATEWAY_LISTENERS": "Gateway",
        "CLOUDRON_OPERATOR_GATEWAY_CLASS": traefik_harness.GATEWAY_CLASS,
        # Traefik puts a listener on the entry point of its port.
        "CLOUDRON_OPERATOR_GATEWAY_HTTPS_PORT": str(traefik.websecure_port),
    }


class Routing(NamedTuple):
    mode: str
    operator: OperatorProcess


@pytest.fixture(params=["ingress", "gateway"])
def routing(
    request: pytest.FixtureRequest, traefik: TraefikProcess, kubeconfig: Path, namespace: str, tmp_path: Path
) -> Iterator[Routing]:
    mode: str = request.param
    operator = namespaced_operator(
        kubeconfig, tmp_path / "operator.log", namespace, mode_settings(mode, traefik)
    )
    operator.start()
    yield Routing(mode, operator)
    operator.stop()


def wiki(
    namespace: str, domain: str, aliases: list[str], redirects: list[str], running: bool = True
) -> dict[str, Any]:
    return {
        "apiVersion": "cloudron.io/v1alpha1",
        "kind": "CloudronApp",
        "metadata": {"name": "wiki", "namespace": namespace},
        "spec": {
            "image": "registry.example.com/wiki:1.0.0",
            "domain": domain,
            "aliases": aliases,
            "redirects": redirects,
            "running": running,
            "manifest": MANIFEST,
        },
    }


def wait_for_generation(
    api: client.ApiClient, namespace: str, name: str, ready: str = "True"
) -> dict[str, Any]:
    """The app once its status speaks of its current spec with Ready `ready`."""

    def current() -> bool:
        app = get_app(api, namespace, name)
        generation = app["metadata"]["generation"]
        found = condition(app, "Ready")
        return found.get("status") == ready and found.get("observedGeneration") == generation

    wait_until(current, WAIT, f"app {name} Ready={ready} at its current generation")
    return get_app(api, namespace, name)


def served_certificate(api: client.ApiClient, namespace: str) -> x509.Certificate:
    secret = k8s.get(api, "v1", "Secret", namespace, "wiki-tls") or {}
    return x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))


def pod_ips(api: client.ApiClient, namespace: str) -> set[str]:
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector="cloudron.io/app=wiki")
    return {pod.status.pod_ip for pod in pods.items if pod.status.pod_ip}


def api_host(domain: str) -> str:
    """The httpPorts service's default host: `api` in the domain's zone."""
    return "api." + domain.split(".", 1)[1]


def assert_served(
    traefik: TraefikProcess, api: client.ApiClient, namespace: str, hosts: list[str], redirects: list[str]
) -> None:
    """Each host routes to the app's pod on its port, with the app's certificate; each redirect host
    gets the app's certificate and is answered by the controller with a redirect to the domain."""
    certificate = served_certificate(api, namespace)
    names = set(
        certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName
        )
    )
    assert names == {*hosts, *redirects, api_host(hosts[0])}, "cert-manager issued it for every host"
    expected = [*((host, 8000) for host in hosts), (api_host(hosts[0]), 3000)]

    def routed_to_the_pod() -> bool:
        """Each host has one router, to the current pod on its port: after a change of domain the
        Deployment rolls out a new pod, and Traefik follows its EndpointSlice a moment later."""
        ips = pod_ips(api, namespace)
        return all(
            list(traefik.backends(host, namespace).values()) == [{f"http://{ip}:{port}" for ip in ips}]
            for host, port in expected
        )

    wait_until(routed_to_the_pod, WAIT, "Traefik to send each host to the app's pod on its port")
    for host, _ in expected:
        assert len(traefik.backends(host, namespace)) == 1, f"exactly one router of Traefik's serves {host}"
    probes = [
        "probe" + host[1:] if host.startswith("*.") else host
        for host in [*hosts, *redirects, api_host(hosts[0])]
    ]
    # Traefik loads a renewed Secret on its next reload, shortly after the watch brings it.
    wait_until(
        lambda: all(
            x509.load_der_x509_certificate(traefik.certificate(probe)) == certificate for probe in probes
        ),
        WAIT,
        f"Traefik to serve the app's certificate for {', '.join(probes)}",
    )


def assert_redirects(traefik: TraefikProcess, mode: str, redirects: list[str], domain: str) -> None:
    for host in redirects:
        answer = traefik.request(host, "/some/page?q=1", tls=True)
        if mode == "gateway":  # RequestRedirect keeps the path, as Cloudron does
            assert (answer.status, answer.headers["Location"]) == (302, f"https://{domain}/some/page?q=1")
        else:  # ingress-nginx's permanent-redirect: to the root (docs/ingress.md)
            assert (answer.status, answer.headers["Location"]) == (301, f"https://{domain}")


def assert_status_written(api: client.ApiClient, mode: str, namespace: str) -> None:
    """The controller wrote that it serves the app's objects."""
    if mode == "ingress":
        for name in ("wiki", "wiki-redirects"):
            ingress = k8s.get(api, "networking.k8s.io/v1", "Ingress", namespace, name) or {}
            assert ingress["status"]["loadBalancer"]["ingress"] == [{"ip": "127.0.0.1"}]
        return
    app = get_app(api, namespace, "wiki")
    assert condition(app, "Routed")["status"] == "True"
    for name in ("wiki", "wiki.http-3000", "wiki-redirects"):
        route = k8s.get(api, *ROUTE, namespace, name) or {}
        (parent,) = route["status"]["parents"]
        assert parent["controllerName"] == traefik_harness.GATEWAY_CONTROLLER
        assert {c["type"]: c["status"] for c in parent["conditions"]} == {
            "Accepted": "True",
            "ResolvedRefs": "True",
        }


def test_an_apps_hosts_are_routed_by_the_controller_through_its_whole_life(
    routing: Routing, traefik: TraefikProcess, cluster: LocalEnv, api_client: client.ApiClient, namespace: str
) -> None:
    mode = routing.mode
    zone = f"{mode}.example.com"
    hosts, redirects = [f"wiki.{zone}", f"www.{zone}", f"*.wiki.{mode}.example.org"], [f"old.{zone}"]
    kubectl_apply(cluster.cluster, wiki(namespace, hosts[0], hosts[1:], redirects))
    wait_for_generation(api_client, namespace, "wiki")
    wait_until(
        lambda: all(traefik.backends(h, namespace) for h in hosts), WAIT, "Traefik to route every host"
    )
    assert_served(traefik, api_client, namespace, hosts, redirects)
    assert_redirects(traefik, mode, redirects, hosts[0])
    assert_status_written(api_client, mode, namespace)

    # Another domain, aliases and redirect host: the old hosts are no longer routed.
    new_hosts, new_redirects = [f"wiki2.{zone}", f"docs.{zone}"], [f"older.{zone}"]
    kubectl_apply(cluster.cluster, wiki(namespace, new_hosts[0], new_hosts[1:], new_redirects))
    wait_for_generation(api_client, namespace, "wiki")
    wait_until(
        lambda: (
            all(traefik.backends(h, namespace) for h in new_hosts)
            and not any(traefik.backends(h, namespace) for h in hosts)
        ),
        WAIT,
        "Traefik to route the new hosts only",
    )
    assert_served(traefik, api_client, namespace, new_hosts, new_redirects)
    assert_redirects(traefik, mode, new_redirects, new_hosts[0])
    assert traefik.request(redirects[0], tls=True).status == 404, "the old redirect host is gone"

    # Stopped: the hosts stay routed, to no server (Traefik answers 503), and keep their certificate.
    kubectl_apply(cluster.cluster, wiki(namespace, new_hosts[0], new_hosts[1:], new_redirects, running=False))
    wait_until(
        lambda: get_app(api_client, namespace, "wiki").get("status", {}).get("phase") == "Stopped",
        WAIT,
        "the app to be Stopped",
    )
    wait_until(lambda: not pod_ips(api_client, namespace), WAIT, "the pod to go")
    wait_until(
        lambda: all(
            traefik.backends(h, namespace) and not any(traefik.backends(h, namespace).values())
            for h in new_hosts
        ),
        WAIT,
        "Traefik to route the hosts to no server",
    )
    assert traefik.request(new_hosts[0], tls=True).status == 503

    # Deleted: nothing of the app is routed.
    k8s.delete(api_client, "cloudron.io/v1alpha1", "CloudronApp", namespace, "wiki")
    wait_until(
        lambda: (
            not any(
                traefik.backends(h, namespace) for h in [*new_hosts, *new_redirects, api_host(new_hosts[0])]
            )
        ),
        WAIT,
        "Traefik to route none of the app's hosts",
    )


def test_a_host_another_app_has_stays_with_the_app_made_first(
    routing: Routing, traefik: TraefikProcess, cluster: LocalEnv, api_client: client.ApiClient, namespace: str
) -> None:
    shared = f"shared.{routing.mode}.example.com"
    kubectl_apply(cluster.cluster, wiki(namespace, f"wiki.{routing.mode}.example.com", [shared], []))
    wait_for_generation(api_client, namespace, "wiki")
    time.sleep(1.0)  # creationTimestamp counts seconds: apps made in the same one are ordered by name
    blog = wiki(namespace, f"blog.{routing.mode}.example.com", [shared], [])
    blog["metadata"]["name"] = "blog"
    kubectl_apply(cluster.cluster, blog)
    refused = wait_for_generation(api_client, namespace, "blog", ready="False")
    ready, stalled = condition(refused, "Ready"), condition(refused, "Stalled")
    assert ready["reason"] == "HostInUse" and stalled["status"] == "True"
    assert f"{shared} is already an app's host: {namespace}/wiki, made first, keeps it" in ready["message"]
    kind = ("networking.k8s.io/v1", "Ingress") if routing.mode == "ingress" else ROUTE
    assert k8s.get(api_client, *kind, namespace, "blog") is None, "the second app routes nothing"
    (servers,) = traefik.backends(shared, namespace).values()
    assert servers == {f"http://{ip}:8000" for ip in pod_ips(api_client, namespace)}, "to the first app's pod"

    # The first app gone, the second gets the host on its next pass (a resync at the latest).
    k8s.delete(api_client, "cloudron.io/v1alpha1", "CloudronApp", namespace, "wiki")
    wait_for_generation(api_client, namespace, "blog")
    wait_until(
        lambda: bool(traefik.backends(f"blog.{routing.mode}.example.com", namespace)),
        WAIT,
        "Traefik to route the second app",
    )
    assert len(traefik.backends(shared, namespace)) == 1


SHARED_GATEWAY = f"{traefik_harness.GATEWAY_NAMESPACE}/{traefik_harness.GATEWAY}"
PARENT_CASES = {
    "class": (
        {"CLOUDRON_OPERATOR_GATEWAY_LISTENERS": "Gateway", "CLOUDRON_OPERATOR_GATEWAY_CLASS": "absent"},
        "GatewayClass absent does not exist: create it",
    ),
    "gateway": (
        {"CLOUDRON_OPERATOR_GATEWAY": "nowhere/absent"},
        "Gateway nowhere/absent does not exist: create it",
    ),
    # Traefik's shared Gateway allows no ListenerSet (spec.allowedListeners left out).
    "closed": (
        {"CLOUDRON_OPERATOR_GATEWAY": SHARED_GATEWAY},
        f"Gateway {SHARED_GATEWAY} does not allow ListenerSets from namespace {{namespace}}: "
        "set its spec.allowedListeners.namespaces (from: None)",
    ),
}


@pytest.mark.usefixtures("traefik")
@pytest.mark.parametrize("case", list(PARENT_CASES))
def test_the_parent_of_the_listeners_is_named_when_it_is_missing_or_closed(
    case: str, cluster: LocalEnv, api_client: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    settings, expected = PARENT_CASES[case]
    message = expected.format(namespace=namespace)
    operator = namespaced_operator(
        cluster.cluster.kubeconfig,
        tmp_path / "operator.log",
        namespace,
        {"CLOUDRON_OPERATOR_ROUTING": "gateway", **settings},
    )
    operator.start()
    try:
        kubectl_apply(cluster.cluster, wiki(namespace, f"{case}.example.com", [], [f"{case}.example.org"]))
        wait_for_generation(api_client, namespace, "wiki", ready="False")
        wait_until(
            lambda: condition(get_app(api_client, namespace, "wiki"), "Routed").get("message") == message,
            WAIT,
            f"Routed to say: {message}",
        )
        # Once cert-manager issued the certificate, the route is what keeps the app from being Ready.
        wait_until(
            lambda: condition(get_app(api_client, namespace, "wiki"), "Ready").get("reason") == "NotRouted",
            WAIT,
            "Ready=False for the route",
        )
        found = get_app(api_client, namespace, "wiki")
        assert (condition(found, "Routed")["status"], condition(found, "Ready")["reason"]) == (
            "False",
            "NotRouted",
        )
        listeners_kind = "Gateway" if case == "class" else "ListenerSet"
        # The API server took the operator's objects: the Gateway API's schema accepts them.
        assert k8s.get(api_client, gateway_api.API_VERSION, listeners_kind, namespace, "wiki") is not None
        assert k8s.get(api_client, *ROUTE, namespace, "wiki-redirects") is not None
    finally:
        operator.stop()
