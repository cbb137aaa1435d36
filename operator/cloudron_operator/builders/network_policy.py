"""The app's NetworkPolicy: HTTP only from the ingress controller, the enabled ports from anywhere."""

from __future__ import annotations

from typing import Any

from cloudron_operator.builders.http_ports import http_services
from cloudron_operator.builders.identity import AppIdentity, child_name, object_meta, workload_selector
from cloudron_operator.builders.ports import EnabledPort, enabled_ports
from cloudron_operator.builders.proxy_auth import AUTH_PORT, proxy_auth_on
from cloudron_operator.config import OperatorConfig
from cloudron_operator.manifest import Manifest
from cloudron_operator.models import CloudronAppSpec


def build_network_policy(
    identity: AppIdentity, spec: CloudronAppSpec, manifest: Manifest, config: OperatorConfig
) -> dict[str, Any]:
    """Admits what Cloudron's firewall admits to an app, and nothing from other apps' pods.

    The ports are the pod's (container) ports: a NetworkPolicy applies after the Service's
    translation. Egress is not restricted, as on Cloudron.
    """
    # With the proxyAuth wall, HTTP reaches the wall only: never the app's port past it.
    front = AUTH_PORT if proxy_auth_on(spec, manifest) else manifest.http_port
    http_from_ingress = {
        "from": [{"namespaceSelector": {"matchLabels": dict(config.ingress_namespace_labels)}}],
        "ports": [
            {"protocol": "TCP", "port": number}
            for number in dict.fromkeys(
                [front, *(service.container_port for service in http_services(spec, manifest))]
            )
        ],
    }
    rules = [http_from_ingress]
    if exposed := enabled_ports(spec, manifest):
        rules.append({"ports": [_policy_port(port) for port in exposed]})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_meta(identity, child_name(identity.name)),
        "spec": {
            "podSelector": {"matchLabels": workload_selector(identity)},
            "policyTypes": ["Ingress"],
            "ingress": rules,
        },
    }


def _policy_port(port: EnabledPort) -> dict[str, Any]:
    """The container port, or a portCount range as one entry (`endPort`)."""
    entry: dict[str, Any] = {"protocol": port.protocol, "port": port.container_port}
    if port.port_count > 1:
        entry["endPort"] = port.container_port + port.port_count - 1
    return entry
