"""How HTTPS reaches the app: the Ingress for its hosts, one for redirect hosts, and their certificate.

docs/ingress.md says which ingress controllers honour what.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from cloudron_operator.builders.deployment import HTTP_PORT_NAME
from cloudron_operator.builders.http_ports import HttpService
from cloudron_operator.builders.identity import (
    REDIRECTS_SUFFIX,
    AppIdentity,
    child_name,
    object_meta,
    tls_name,
)
from cloudron_operator.builders.services import http_port_name
from cloudron_operator.config import NGINX_INGRESS_CLASS, OperatorConfig
from cloudron_operator.models import CloudronAppSpec

# Cloudron's proxy puts no limit on request bodies; ingress-nginx's default is 1 MiB.
BODY_SIZE_ANNOTATION: Final = "nginx.ingress.kubernetes.io/proxy-body-size"
# ingress-nginx answers every request with a 301 to this URL. It cannot keep the path: its
# annotation validation (on by default since controller 1.12) refuses `$request_uri` there.
REDIRECT_ANNOTATION: Final = "nginx.ingress.kubernetes.io/permanent-redirect"


def build_ingress(
    identity: AppIdentity, spec: CloudronAppSpec, config: OperatorConfig, services: Sequence[HttpService] = ()
) -> dict[str, Any]:
    """The Ingress that serves the app on its domain and aliases, and each httpPorts service on its
    host and the service's own aliases."""
    hosts = [spec.domain, *spec.aliases]
    annotations = {BODY_SIZE_ANNOTATION: "0"} if _nginx(config) else {}
    ingress = _ingress(identity, child_name(identity.name), hosts, annotations, config)
    for service in services:
        backend = {
            "service": {
                "name": child_name(identity.name),
                "port": {"name": http_port_name(service.container_port)},
            }
        }
        path = {"path": "/", "pathType": "Prefix", "backend": backend}
        for host in (service.host, *service.aliases):
            ingress["spec"]["rules"].append({"host": host, "http": {"paths": [path]}})
            ingress["spec"]["tls"][0]["hosts"].append(host)
    return ingress


def build_redirect_ingress(
    identity: AppIdentity, spec: CloudronAppSpec, config: OperatorConfig
) -> dict[str, Any] | None:
    """The Ingress of the redirect hosts, None without any. ingress-nginx answers them with a permanent
    redirect to the domain; other controllers serve the app there (docs/ingress.md)."""
    if not spec.redirects:
        return None
    annotations = {REDIRECT_ANNOTATION: f"https://{spec.domain}"} if _nginx(config) else {}
    return _ingress(
        identity, child_name(identity.name, REDIRECTS_SUFFIX), spec.redirects, annotations, config
    )


def build_certificate(
    identity: AppIdentity, spec: CloudronAppSpec, config: OperatorConfig, services: Sequence[HttpService] = ()
) -> dict[str, Any]:
    """The cert-manager Certificate for every host of the app, in the Secret both Ingresses use."""
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": object_meta(identity, tls_name(identity.name)),
        "spec": {
            "secretName": tls_name(identity.name),
            "dnsNames": [
                spec.domain,
                *spec.aliases,
                *spec.redirects,
                *(host for service in services for host in (service.host, *service.aliases)),
            ],
            "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": config.cluster_issuer},
        },
    }


def _ingress(
    identity: AppIdentity,
    name: str,
    hosts: Sequence[str],
    annotations: dict[str, str],
    config: OperatorConfig,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"ingressClassName": config.ingress_class} if config.ingress_class else {}
    spec["tls"] = [{"hosts": list(hosts), "secretName": tls_name(identity.name)}]
    spec["rules"] = [{"host": host, "http": {"paths": [_root_path(identity)]}} for host in hosts]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": object_meta(identity, name, annotations={**config.ingress_annotations, **annotations}),
        "spec": spec,
    }


def _nginx(config: OperatorConfig) -> bool:
    return config.ingress_class == NGINX_INGRESS_CLASS


def _root_path(identity: AppIdentity) -> dict[str, Any]:
    # The redirect Ingress needs a backend too; ingress-nginx never sends to it.
    backend = {"service": {"name": child_name(identity.name), "port": {"name": HTTP_PORT_NAME}}}
    return {"path": "/", "pathType": "Prefix", "backend": backend}
