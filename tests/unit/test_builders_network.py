"""Services, Ingresses, the Certificate and the NetworkPolicy."""

from __future__ import annotations

from typing import Any

import pytest

from cloudron_operator.builders.ingress import build_certificate, build_ingress, build_redirect_ingress
from cloudron_operator.builders.network_policy import build_network_policy
from cloudron_operator.builders.services import build_http_service, build_ports_service
from cloudron_operator.config import OperatorConfig
from cloudron_operator.models import CloudronAppSpec
from tests.builder_cases import BASE_MANIFEST, CONFIG, PORT, identity, manifest_of, spec

pytestmark = pytest.mark.unit

PORTS_MANIFEST = {
    **BASE_MANIFEST,
    "tcpPorts": {
        "SSH_PORT": {**PORT, "defaultValue": 2222, "containerPort": 22},
        "IRC_PORT": {**PORT, "defaultValue": 6697},
    },
    "udpPorts": {"VOICE_PORT": {**PORT, "defaultValue": 9987}},
}
SELECTOR = {"cloudron.io/app": "wiki", "app.kubernetes.io/component": "app"}


def ports_service(app_spec: CloudronAppSpec, config: OperatorConfig = CONFIG) -> dict[str, Any] | None:
    return build_ports_service(identity(), app_spec, manifest_of(app_spec), config)


def network_policy(app_spec: CloudronAppSpec, config: OperatorConfig = CONFIG) -> dict[str, Any]:
    return build_network_policy(identity(), app_spec, manifest_of(app_spec), config)


def test_the_http_service_sends_port_80_to_the_apps_http_port() -> None:
    service = build_http_service(identity())
    assert service["metadata"]["name"] == "wiki"
    assert service["spec"] == {
        "type": "ClusterIP",
        "selector": SELECTOR,
        "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
    }


def test_the_ports_service_exposes_each_enabled_port_on_its_external_number() -> None:
    service = ports_service(spec(PORTS_MANIFEST, ports={"SSH_PORT": 2022, "IRC_PORT": None}))
    assert service is not None
    assert service["metadata"]["name"] == "wiki-ports"
    assert service["spec"] == {
        "type": "LoadBalancer",
        "selector": SELECTOR,
        "ports": [
            {"name": "tcp-2022", "port": 2022, "targetPort": 22, "protocol": "TCP"},
            {"name": "udp-9987", "port": 9987, "targetPort": 9987, "protocol": "UDP"},
        ],
    }


def test_a_port_range_is_exposed_port_by_port_and_admitted_as_one_range() -> None:
    manifest = {
        **BASE_MANIFEST,
        "tcpPorts": {"RTP_PORT": {**PORT, "defaultValue": 40000, "containerPort": 10000, "portCount": 3}},
    }
    service = ports_service(spec(manifest, ports={"RTP_PORT": 50000}))
    assert service is not None
    assert service["spec"]["ports"] == [
        {"name": f"tcp-{50000 + i}", "port": 50000 + i, "targetPort": 10000 + i, "protocol": "TCP"}
        for i in range(3)
    ]
    policy = network_policy(spec(manifest, ports={"RTP_PORT": 50000}), CONFIG)
    assert policy["spec"]["ingress"][1] == {"ports": [{"protocol": "TCP", "port": 10000, "endPort": 10002}]}


def test_with_node_ports_the_node_port_is_the_external_port() -> None:
    service = ports_service(
        spec(PORTS_MANIFEST, ports={"IRC_PORT": None, "VOICE_PORT": None}),
        CONFIG.model_copy(update={"port_service_type": "NodePort"}),
    )
    assert service is not None
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"] == [
        {"name": "tcp-2222", "port": 2222, "targetPort": 22, "protocol": "TCP", "nodePort": 2222}
    ]


def test_no_ports_service_when_no_port_is_enabled() -> None:
    assert ports_service(spec()) is None
    assert (
        ports_service(spec(PORTS_MANIFEST, ports=dict.fromkeys(["SSH_PORT", "IRC_PORT", "VOICE_PORT"])))
        is None
    )


def test_the_ingress_serves_the_domain_and_aliases_with_one_tls_secret() -> None:
    app_spec = spec(
        {**BASE_MANIFEST, "multiDomain": True}, aliases=["alias.example.com"], redirects=["old.example.com"]
    )
    ingress = build_ingress(identity(), app_spec, CONFIG)
    assert ingress["metadata"]["name"] == "wiki"
    assert ingress["metadata"]["annotations"] == {"nginx.ingress.kubernetes.io/proxy-body-size": "0"}
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [
        {"hosts": ["wiki.example.com", "alias.example.com"], "secretName": "wiki-tls"}
    ]
    backend = {"service": {"name": "wiki", "port": {"name": "http"}}}
    assert ingress["spec"]["rules"] == [
        {"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}
        for host in ("wiki.example.com", "alias.example.com")
    ]


def test_the_cluster_default_ingress_class_is_used_when_none_is_configured() -> None:
    assert "ingressClassName" not in build_ingress(identity(), spec(), OperatorConfig())["spec"]


def test_redirect_hosts_get_their_own_ingress_redirecting_to_the_domain() -> None:
    app_spec = spec(redirects=["old.example.com", "www.example.org"])
    ingress = build_redirect_ingress(identity(), app_spec, CONFIG)
    assert ingress is not None
    assert ingress["metadata"]["name"] == "wiki-redirects"
    assert ingress["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/permanent-redirect": "https://wiki.example.com"
    }
    assert ingress["spec"]["tls"] == [
        {"hosts": ["old.example.com", "www.example.org"], "secretName": "wiki-tls"}
    ]
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == ["old.example.com", "www.example.org"]
    assert build_redirect_ingress(identity(), spec(), CONFIG) is None


def test_the_certificate_covers_every_host_from_the_configured_issuer() -> None:
    app_spec = spec(
        {**BASE_MANIFEST, "aliasableDomain": True},
        aliases=["*.wiki.example.com"],
        redirects=["old.example.com"],
    )
    certificate = build_certificate(identity(), app_spec, CONFIG)
    assert certificate["metadata"]["name"] == "wiki-tls"
    assert certificate["spec"] == {
        "secretName": "wiki-tls",
        "dnsNames": ["wiki.example.com", "*.wiki.example.com", "old.example.com"],
        "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "letsencrypt-prod"},
    }


def test_the_network_policy_admits_http_from_the_ingress_namespace_and_the_enabled_ports() -> None:
    config = CONFIG.model_copy(update={"ingress_namespace_labels": {"role": "edge"}})
    policy = network_policy(spec(PORTS_MANIFEST, ports={"IRC_PORT": None}), config)
    assert policy["metadata"]["name"] == "wiki"
    assert policy["spec"] == {
        "podSelector": {"matchLabels": SELECTOR},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [{"namespaceSelector": {"matchLabels": {"role": "edge"}}}],
                "ports": [{"protocol": "TCP", "port": 8000}],
            },
            {"ports": [{"protocol": "TCP", "port": 22}, {"protocol": "UDP", "port": 9987}]},
        ],
    }


def test_without_enabled_ports_only_the_ingress_controller_reaches_the_app() -> None:
    assert network_policy(spec())["spec"]["ingress"] == [
        {
            "from": [
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
            ],
            "ports": [{"protocol": "TCP", "port": 8000}],
        }
    ]
