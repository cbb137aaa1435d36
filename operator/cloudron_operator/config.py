"""Operator settings: one frozen model, loaded once from the environment at start-up."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ENV_PREFIX = "CLOUDRON_OPERATOR_"
# The class whose controller the Ingresses' ingress-nginx annotations are written for.
NGINX_INGRESS_CLASS: Final = "nginx"
_GATEWAY_REF: Final = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-.a-z0-9]*[a-z0-9])?")


class OperatorConfig(BaseModel):
    """What a cluster admin sets for the whole operator (env `CLOUDRON_OPERATOR_<FIELD>`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    namespaces: tuple[str, ...] = Field(
        default=(), description="Namespaces to watch; empty means every namespace (comma-separated in env)."
    )
    health_address: str = Field(
        default="0.0.0.0:8080",
        description="host:port of the liveness endpoint (/healthz).",
    )
    metrics_address: str = Field(
        default="0.0.0.0:9090",
        description="host:port of the Prometheus endpoint (/metrics); empty turns it off.",
    )
    max_workers: int = Field(default=8, ge=1, le=256, description="Threads for the blocking handlers.")
    resync_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How often every app is reconciled again to repair drift, counted from its last "
        "full pass (a resync due less than this after one, with 10% slack, is skipped; one due while "
        "other passes wait for a thread is put off once, by an interval).",
    )
    routing: Literal["ingress", "gateway"] = Field(
        default="ingress",
        description="How HTTPS reaches the apps: an Ingress per app, or the Gateway API (an HTTPRoute per "
        "app and its TLS listeners: gateway_listeners).",
    )
    ingress_class: str | None = Field(
        default=None, description="ingressClassName of the apps' Ingresses; unset uses the cluster default."
    )
    ingress_annotations: dict[str, str] = Field(
        default_factory=dict,
        description="Annotations on every app's Ingress, for the controller in use (env: a JSON object, as "
        "values such as Traefik's middleware lists have commas). ingress-nginx's own (no body size "
        f"limit, redirects) are written only when ingress_class is {NGINX_INGRESS_CLASS!r}.",
    )
    gateway_listeners: Literal["ListenerSet", "Gateway"] = Field(
        default="ListenerSet",
        description="Where each app's HTTPS listeners (one per host, with its certificate) go: a ListenerSet "
        "of the app attached to the shared Gateway `gateway`, or a Gateway of the app's own of class "
        "`gateway_class` (for implementations without ListenerSet, such as Traefik 3.7).",
    )
    gateway: str = Field(
        default="",
        description="namespace/name of the shared Gateway the apps' ListenerSets attach to "
        "(gateway_listeners=ListenerSet); it must allow ListenerSets from the apps' namespaces.",
    )
    gateway_class: str = Field(
        default="", description="GatewayClass of the apps' own Gateways (gateway_listeners=Gateway)."
    )
    gateway_https_port: int = Field(
        default=443, ge=1, le=65535, description="Port of the apps' HTTPS listeners."
    )
    cluster_issuer: str = Field(
        default="letsencrypt", description="cert-manager ClusterIssuer for apps that name no issuer."
    )
    users_namespace: str = Field(
        default="cloudron-users",
        description="Namespace of the users' password Secrets (one each); nothing else should be there.",
    )
    login_url: str = Field(
        default="",
        description="The login service's URL (https://login.example.com): every user without a password "
        "gets an invite link under it, in a Secret in users_namespace. Empty: no invites.",
    )
    proxy_auth_image: str = Field(
        default="quay.io/oauth2-proxy/oauth2-proxy:v7.15.6",
        description="Image of the login wall beside every proxyAuth app (oauth2-proxy, the version the "
        "operator's configuration is written for).",
    )
    backup_image: str = Field(
        default="cloudron-operator:latest",
        description="Image of backup and restore Jobs: the operator's own image, whose "
        "`python -m cloudron_operator backup` they run (the chart sets it to the operator's).",
    )
    port_service_type: Literal["LoadBalancer", "NodePort"] = Field(
        default="LoadBalancer", description="Service type that exposes the manifest's TCP/UDP ports."
    )
    api_origin: str = Field(
        default="", description="CLOUDRON_API_ORIGIN given to apps, e.g. https://my.example.com."
    )
    proxy_ip: str = Field(
        default="",
        description="CLOUDRON_PROXY_IP given to apps: the address the ingress proxy connects from.",
    )
    ingress_namespace_labels: dict[str, str] = Field(
        default_factory=lambda: {"kubernetes.io/metadata.name": "ingress-nginx"},
        description=(
            "Labels of the ingress controller's namespace; apps accept HTTP only from there "
            "(env: comma-separated key=value pairs)."
        ),
    )

    peering: str = Field(
        default="",
        description=(
            "Name of the kopf peering object the replicas share (a KopfPeering in each watched namespace, "
            "or a ClusterKopfPeering when watching all): only the replica with the highest (random) "
            "priority acts. Empty runs standalone, for exactly one replica."
        ),
    )
    peering_lifetime_seconds: int = Field(
        default=60,
        ge=5,
        le=3600,
        description="How long a replica's peering keep-alive counts: a killed active replica is replaced "
        "after at most this long.",
    )
    log_level: Literal["debug", "info", "warning"] = Field(
        default="info", description="Log level of the operator and of kopf."
    )

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("ingress_annotations", mode="before")
    @classmethod
    def _parse_json(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as error:
                raise ValueError(f"not a JSON object of annotations: {error}") from error
        return value

    @field_validator("ingress_namespace_labels", mode="before")
    @classmethod
    def _split_labels(cls, value: object) -> object:
        if isinstance(value, str):
            pairs = (part.strip().split("=", 1) for part in value.split(",") if part.strip())
            return {key.strip(): (rest[0].strip() if rest else "") for key, *rest in pairs}
        return value

    @model_validator(mode="after")
    def _gateway_named(self) -> Self:
        if self.routing != "gateway":
            return self
        if self.gateway_listeners == "ListenerSet" and not _GATEWAY_REF.fullmatch(self.gateway):
            raise ValueError(
                f"routing=gateway with gateway_listeners=ListenerSet needs gateway=<namespace>/<name>, "
                f"not {self.gateway!r}"
            )
        if self.gateway_listeners == "Gateway" and not self.gateway_class:
            raise ValueError("routing=gateway with gateway_listeners=Gateway needs gateway_class")
        return self

    @property
    def gateway_ref(self) -> tuple[str, str]:
        """(namespace, name) of the shared Gateway."""
        namespace, _, name = self.gateway.partition("/")
        return namespace, name


class ConfigError(ValueError):
    """The operator's environment does not describe a valid configuration."""


def load_config(environ: Mapping[str, str] | None = None) -> OperatorConfig:
    """Build the config from `CLOUDRON_OPERATOR_*` variables; unknown ones are an error, not ignored."""
    environ = os.environ if environ is None else environ
    values = {
        key[len(ENV_PREFIX) :].lower(): value for key, value in environ.items() if key.startswith(ENV_PREFIX)
    }
    try:
        return OperatorConfig.model_validate(values)
    except ValidationError as error:
        raise ConfigError(f"invalid operator configuration from {ENV_PREFIX}* variables:\n{error}") from error
