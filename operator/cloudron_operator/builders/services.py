"""The app's Services: HTTP for the Ingress, and one exposing the enabled TCP/UDP ports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from cloudron_operator.builders.deployment import HTTP_PORT_NAME
from cloudron_operator.builders.http_ports import HttpService
from cloudron_operator.builders.identity import (
    PORTS_SUFFIX,
    AppIdentity,
    child_name,
    object_meta,
    workload_selector,
)
from cloudron_operator.builders.ports import enabled_ports
from cloudron_operator.config import OperatorConfig
from cloudron_operator.manifest import Manifest
from cloudron_operator.models import CloudronAppSpec

HTTP_SERVICE_PORT: Final = 80


def build_http_service(
    identity: AppIdentity, services: Sequence[HttpService] = (), *, target: str = HTTP_PORT_NAME
) -> dict[str, Any]:
    """ClusterIP Service in front of the app's httpPort (`target`: the port named so, the proxyAuth
    wall's when the app has one), and the container port of each httpPorts service (`http-<port>`);
    only the Ingress routes to it."""
    ports = [{"name": HTTP_PORT_NAME, "port": HTTP_SERVICE_PORT, "targetPort": target, "protocol": "TCP"}]
    for number in dict.fromkeys(service.container_port for service in services):
        ports.append(
            {"name": http_port_name(number), "port": number, "targetPort": number, "protocol": "TCP"}
        )
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(identity, child_name(identity.name)),
        "spec": {"type": "ClusterIP", "selector": workload_selector(identity), "ports": ports},
    }


def http_port_name(container_port: int) -> str:
    """The http Service's port for an httpPorts service, which the Ingress names."""
    return f"http-{container_port}"


def build_ports_service(
    identity: AppIdentity, spec: CloudronAppSpec, manifest: Manifest, config: OperatorConfig
) -> dict[str, Any] | None:
    """The Service that exposes the enabled TCP/UDP ports on their external numbers, each port of a
    portCount range; None if none is enabled.

    With type NodePort the node port is the external port too, since that is where clients
    connect and what the app is told; the API server refuses one outside its node port range.
    """
    node_port = config.port_service_type == "NodePort"
    ports = [
        {
            "name": f"{port.protocol.lower()}-{external}",
            "port": external,
            "targetPort": container,
            "protocol": port.protocol,
            **({"nodePort": external} if node_port else {}),
        }
        for port in enabled_ports(spec, manifest)
        for external, container in port.pairs()
    ]
    if not ports:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(identity, child_name(identity.name, PORTS_SUFFIX)),
        "spec": {"type": config.port_service_type, "selector": workload_selector(identity), "ports": ports},
    }
