"""What the store keeps for routing=gateway: which kinds hold an app's listeners, and the parent they
need (the shared Gateway of the ListenerSets, or the GatewayClass of the apps' own Gateways)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cloudron_operator.builders.gateway import GATEWAY_API
from cloudron_operator.config import OperatorConfig
from cloudron_operator.k8s.resources import Kind, kind_of


@dataclass(frozen=True)
class GatewayRouting:
    listeners_kind: str  # ListenerSet or Gateway: the kind of the app's child that holds its listeners
    parent: Kind  # the shared Gateway's kind, or GatewayClass
    parent_namespace: str  # "" for a GatewayClass
    parent_name: str

    def describe_parent(self) -> str:
        where = f"{self.parent_namespace}/" if self.parent_namespace else ""
        return f"{self.parent.kind} {where}{self.parent_name}"


def gateway_routing(config: OperatorConfig) -> GatewayRouting | None:
    """None with routing=ingress."""
    if config.routing != "gateway":
        return None
    if config.gateway_listeners == "Gateway":
        return GatewayRouting("Gateway", kind_of(GATEWAY_API, "GatewayClass"), "", config.gateway_class)
    namespace, name = config.gateway_ref
    return GatewayRouting("ListenerSet", kind_of(GATEWAY_API, "Gateway"), namespace, name)


@dataclass(frozen=True)
class ParentSeen:
    """The parent as the store keeps it: that it exists and, of a Gateway, whom it lets attach."""

    uid: str
    resource_version: str
    name: str
    namespace: str
    allowed_listeners: str  # spec.allowedListeners.namespaces.from of a Gateway: None (the default), ...


def parent_seen(obj: Mapping[str, Any]) -> ParentSeen:
    meta, spec = obj["metadata"], obj.get("spec") or {}
    allowed = ((spec.get("allowedListeners") or {}).get("namespaces") or {}).get("from") or "None"
    return ParentSeen(
        uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        name=str(meta["name"]),
        namespace=str(meta.get("namespace") or ""),
        allowed_listeners=str(allowed),
    )
