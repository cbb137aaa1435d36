"""How HTTPS reaches the app through the Gateway API: its HTTPRoutes and its TLS listeners.

The routes attach to the app's listeners, one HTTPS listener per host with the app's certificate
(the Secret of `ingress.build_certificate`), in one of two places (operator setting
`gateway_listeners`):
- a `ListenerSet` of the app, attached to the shared Gateway `gateway`: the Gateway API's own answer
  to many tenants sharing one Gateway (no 64-listener limit per Gateway, no ReferenceGrant, nothing
  of the app's written into the admin's Gateway);
- a `Gateway` of the app's own, of class `gateway_class`: for implementations without ListenerSet
  (Traefik 3.7), which run every Gateway of their class on the same proxy.

docs/ingress.md compares this with the Ingress mode.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Final

from cloudron_operator.builders.errors import InvalidSpec
from cloudron_operator.builders.http_ports import HttpService
from cloudron_operator.builders.identity import (
    REDIRECTS_SUFFIX,
    AppIdentity,
    child_name,
    object_meta,
    tls_name,
)
from cloudron_operator.builders.services import HTTP_SERVICE_PORT
from cloudron_operator.config import OperatorConfig
from cloudron_operator.models import CloudronAppSpec

GATEWAY_API: Final = "gateway.networking.k8s.io/v1"
GATEWAY_GROUP: Final = "gateway.networking.k8s.io"
# The Gateway API's limits (its CRDs' maxItems), checked before anything is applied.
MAX_ROUTE_HOSTNAMES: Final = 16
MAX_LISTENERS: Final = 64
# Cloudron answers a redirect host with a temporary redirect to the same path on the app's domain.
REDIRECT_STATUS: Final = 302


def service_route_name(app_name: str, container_port: int) -> str:
    """The HTTPRoute of the httpPorts services on `container_port`. Children's base names never have
    a dot (`child_name`), so no other app's child can have this name, whatever the app names."""
    return f"{child_name(app_name)}.http-{container_port}"


def build_routes(
    identity: AppIdentity, spec: CloudronAppSpec, config: OperatorConfig, services: Sequence[HttpService] = ()
) -> list[dict[str, Any]]:
    """The app's HTTPRoutes: its domain and aliases to its Service, the httpPorts services' hosts to
    their ports (one route per container port), the redirect hosts to the domain."""
    name = child_name(identity.name)
    routes = [
        _route(identity, name, [spec.domain, *spec.aliases], _backend_rule(name, HTTP_SERVICE_PORT), config)
    ]
    for port, hosts in _hosts_by_port(services).items():
        rule = _backend_rule(name, port)
        routes.append(_route(identity, service_route_name(identity.name, port), hosts, rule, config))
    if spec.redirects:
        redirect = {
            "type": "RequestRedirect",
            "requestRedirect": {"scheme": "https", "hostname": spec.domain, "statusCode": REDIRECT_STATUS},
        }
        redirects_name = child_name(identity.name, REDIRECTS_SUFFIX)
        routes.append(_route(identity, redirects_name, spec.redirects, {"filters": [redirect]}, config))
    return routes


def build_listeners(
    identity: AppIdentity, spec: CloudronAppSpec, config: OperatorConfig, services: Sequence[HttpService] = ()
) -> dict[str, Any]:
    """The app's HTTPS listeners, one per host, in its ListenerSet or its own Gateway."""
    listeners = [https_listener(host, identity, config) for host in route_hosts(spec, services)]
    meta = object_meta(identity, child_name(identity.name))
    if config.gateway_listeners == "Gateway":
        spec_: dict[str, Any] = {"gatewayClassName": config.gateway_class, "listeners": listeners}
        return {"apiVersion": GATEWAY_API, "kind": "Gateway", "metadata": meta, "spec": spec_}
    namespace, gateway = config.gateway_ref
    parent = {"group": GATEWAY_GROUP, "kind": "Gateway", "namespace": namespace, "name": gateway}
    return {
        "apiVersion": GATEWAY_API,
        "kind": "ListenerSet",
        "metadata": meta,
        "spec": {"parentRef": parent, "listeners": listeners},
    }


def https_listener(host: str, identity: AppIdentity, config: OperatorConfig) -> dict[str, Any]:
    """The listener that terminates TLS for `host` with the app's certificate; only routes of the
    app's namespace attach to it."""
    return {
        "name": listener_name(host),
        "hostname": host,
        "port": config.gateway_https_port,
        "protocol": "HTTPS",
        "tls": {
            "mode": "Terminate",
            "certificateRefs": [{"kind": "Secret", "name": tls_name(identity.name)}],
        },
        "allowedRoutes": {
            "namespaces": {
                "from": "Selector",
                "selector": {"matchLabels": {"kubernetes.io/metadata.name": identity.namespace}},
            },
            "kinds": [{"group": GATEWAY_GROUP, "kind": "HTTPRoute"}],
        },
    }


def listener_name(host: str) -> str:
    """A listener's name, the same for the same host whatever else the app has (a wildcard host's
    `*` is not allowed in a name, so the name is a digest)."""
    return "https-" + hashlib.sha256(host.encode()).hexdigest()[:16]


def route_hosts(spec: CloudronAppSpec, services: Sequence[HttpService] = ()) -> list[str]:
    """Every host the app's routes serve or redirect, once each, in a stable order."""
    hosts = [spec.domain, *spec.aliases, *spec.redirects]
    hosts += [host for service in services for host in (service.host, *service.aliases)]
    return list(dict.fromkeys(hosts))


def check_gateway_limits(spec: CloudronAppSpec, services: Sequence[HttpService] = ()) -> None:
    """Refuse what the Gateway API cannot hold: at most 16 hostnames per route, 64 listeners."""
    groups = {
        "domain and aliases": [spec.domain, *spec.aliases],
        "redirects": list(spec.redirects),
        **{
            f"the httpPorts services on port {port}": hosts
            for port, hosts in _hosts_by_port(services).items()
        },
    }
    for what, hosts in groups.items():
        if len(hosts) > MAX_ROUTE_HOSTNAMES:
            raise InvalidSpec(
                f"routing=gateway: {what} have {len(hosts)} hosts; an HTTPRoute holds at most "
                f"{MAX_ROUTE_HOSTNAMES}"
            )
    count = len(route_hosts(spec, services))
    if count > MAX_LISTENERS:
        raise InvalidSpec(
            f"routing=gateway: the app has {count} hosts, each an HTTPS listener; at most {MAX_LISTENERS}"
        )


def _hosts_by_port(services: Sequence[HttpService]) -> dict[int, list[str]]:
    by_port: dict[int, list[str]] = {}
    for service in services:
        by_port.setdefault(service.container_port, []).extend((service.host, *service.aliases))
    return {port: list(dict.fromkeys(hosts)) for port, hosts in by_port.items()}


def _backend_rule(service: str, port: int) -> dict[str, Any]:
    return {"backendRefs": [{"name": service, "port": port}]}


def _route(
    identity: AppIdentity, name: str, hosts: Sequence[str], rule: dict[str, Any], config: OperatorConfig
) -> dict[str, Any]:
    parent = {"group": GATEWAY_GROUP, "kind": _listeners_kind(config), "name": child_name(identity.name)}
    return {
        "apiVersion": GATEWAY_API,
        "kind": "HTTPRoute",
        "metadata": object_meta(identity, name),
        "spec": {"parentRefs": [parent], "hostnames": list(hosts), "rules": [rule]},
    }


def _listeners_kind(config: OperatorConfig) -> str:
    return "Gateway" if config.gateway_listeners == "Gateway" else "ListenerSet"
