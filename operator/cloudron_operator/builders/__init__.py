"""Pure builders: an app's identity, spec, manifest, the operator config and the inputs the handler
gathered -> every Kubernetes object the app needs, as plain dicts ready for server-side apply.

No I/O, no clock, no randomness: the same inputs give the same objects, byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from cloudron_operator.builders.deployment import HTTP_PORT_NAME, build_deployment
from cloudron_operator.builders.errors import InvalidSpec
from cloudron_operator.builders.gateway import (
    GATEWAY_API,
    build_listeners,
    build_routes,
    check_gateway_limits,
    service_route_name,
)
from cloudron_operator.builders.http_ports import http_services
from cloudron_operator.builders.identity import (
    APP_LABEL,
    DATA_SUFFIX,
    DIRS_SUFFIX,
    PORTS_SUFFIX,
    REDIRECTS_SUFFIX,
    AppIdentity,
    app_label_value,
    child_name,
    tls_name,
)
from cloudron_operator.builders.ingress import build_certificate, build_ingress, build_redirect_ingress
from cloudron_operator.builders.memory import effective_memory_limit
from cloudron_operator.builders.network_policy import build_network_policy
from cloudron_operator.builders.proxy_auth import AUTH_PORT_NAME, proxy_auth_on
from cloudron_operator.builders.scheduler import build_task_cronjobs
from cloudron_operator.builders.services import build_http_service, build_ports_service
from cloudron_operator.builders.storage import build_data_claim, build_dirs_claim
from cloudron_operator.builders.validation import check_spec
from cloudron_operator.config import OperatorConfig
from cloudron_operator.manifest import Manifest
from cloudron_operator.models import CloudronAppSpec

# Every (apiVersion, kind) a child of an app can have in either routing mode (`child_kinds`).
CHILD_KINDS: Final = (
    ("v1", "Secret"),
    ("v1", "PersistentVolumeClaim"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("cert-manager.io/v1", "Certificate"),
    ("networking.k8s.io/v1", "Ingress"),
    ("batch/v1", "CronJob"),
)


def child_kinds(config: OperatorConfig) -> tuple[tuple[str, str], ...]:
    """The kinds of the apps' children with these settings: with routing=gateway, the HTTPRoutes and
    the kind that holds the app's listeners too (Ingress stays: switching modes prunes the Ingresses)."""
    if config.routing != "gateway":
        return CHILD_KINDS
    return (*CHILD_KINDS, (GATEWAY_API, "HTTPRoute"), (GATEWAY_API, config.gateway_listeners))


class ChildRef(NamedTuple):
    api_version: str
    kind: str
    name: str


def desired_children(
    identity: AppIdentity,
    spec: CloudronAppSpec,
    manifest: Manifest,
    config: OperatorConfig,
    addon_secrets: Mapping[str, Mapping[str, str]],
    *,
    certificate_revision: int | None = None,
) -> list[dict[str, Any]]:
    """Every object the app needs, in the order to apply them: volume and policy before the pods.

    `addon_secrets` maps the name of each addon Secret in the app's namespace to its data; the
    app gets every key as an env var, and restarts when any value changes. `certificate_revision`
    is the app's Certificate's status.revision when known: a tls addon app restarts when it is
    renewed. Raises InvalidSpec when the spec asks for what the manifest does not allow.
    """
    check_spec(spec, manifest)
    deployment = build_deployment(
        identity, spec, manifest, config, addon_secrets, certificate_revision=certificate_revision
    )
    services = http_services(spec, manifest)
    routing: list[dict[str, Any] | None]
    if config.routing == "gateway":
        check_gateway_limits(spec, services)
        routing = [
            build_listeners(identity, spec, config, services),
            *build_routes(identity, spec, config, services),
        ]
    else:
        routing = [
            build_ingress(identity, spec, config, services),
            build_redirect_ingress(identity, spec, config),
        ]
    children = [
        build_data_claim(identity, spec, manifest),
        build_dirs_claim(identity, spec, manifest),
        build_network_policy(identity, spec, manifest, config),
        deployment,
        *build_task_cronjobs(identity, spec, manifest, deployment),
        build_http_service(
            identity, services, target=AUTH_PORT_NAME if proxy_auth_on(spec, manifest) else HTTP_PORT_NAME
        ),
        build_ports_service(identity, spec, manifest, config),
        build_certificate(identity, spec, config, services),
        *routing,
    ]
    return [child for child in children if child is not None]


def possible_children(identity: AppIdentity) -> tuple[ChildRef, ...]:
    """Every child an app can have in the Ingress mode, whatever its spec, but the scheduler's CronJobs
    (named by the manifest's tasks: `scheduler.task_name`): those not desired now are to be deleted.

    Deleting the data claim deletes the app's data; Cloudron does that only on uninstall or when
    an update drops the localstorage addon.
    """
    name = identity.name
    return (
        ChildRef("v1", "PersistentVolumeClaim", child_name(name, DATA_SUFFIX)),
        ChildRef("v1", "PersistentVolumeClaim", child_name(name, DIRS_SUFFIX)),
        ChildRef("networking.k8s.io/v1", "NetworkPolicy", child_name(name)),
        ChildRef("apps/v1", "Deployment", child_name(name)),
        ChildRef("v1", "Service", child_name(name)),
        ChildRef("v1", "Service", child_name(name, PORTS_SUFFIX)),
        ChildRef("cert-manager.io/v1", "Certificate", tls_name(name)),
        ChildRef("networking.k8s.io/v1", "Ingress", child_name(name)),
        ChildRef("networking.k8s.io/v1", "Ingress", child_name(name, REDIRECTS_SUFFIX)),
    )


def child_ref(child: Mapping[str, Any]) -> ChildRef:
    return ChildRef(child["apiVersion"], child["kind"], child["metadata"]["name"])


__all__ = [
    "APP_LABEL",
    "CHILD_KINDS",
    "AppIdentity",
    "ChildRef",
    "InvalidSpec",
    "app_label_value",
    "check_spec",
    "child_kinds",
    "child_name",
    "child_ref",
    "desired_children",
    "effective_memory_limit",
    "possible_children",
    "service_route_name",
    "tls_name",
]
