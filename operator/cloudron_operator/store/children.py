"""An app's child as the store keeps it: what a pass, a prune and the app's status need of it, no more.

Whole objects would cost the store most of the operator's memory at thousands of apps (a Deployment
with its managed fields is several kilobytes). What is kept:
- who it is and whose: kind, name, uid, resourceVersion, the owning CloudronApp's uid;
- whether applying the desired object again would change it (`owned`: see `k8s.managed_fields`);
- what the app's conditions are computed from (a Deployment's replicas and rollout, a Certificate's
  conditions and revision, the conditions a Gateway controller wrote on routes and listeners: `state`);
- a Secret's data (an addon Secret holds the passwords an app keeps for life).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cloudron_operator.k8s.api import FIELD_MANAGER
from cloudron_operator.k8s.managed_fields import owned_view


@dataclass(frozen=True)
class ChildSeen:
    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str
    resource_version: str
    app_uid: str | None  # the CloudronApp that owns it (its ownerReference)
    app_name: str | None
    owned: tuple[str, str] | None = field(repr=False)  # our fields and the live object seen through them
    state: Mapping[str, Any] = field(default_factory=dict)  # Deployment and Certificate: see `_state`
    data: Mapping[str, str] | None = field(default=None, repr=False)  # a Secret's data, as stored (base64)

    def as_object(self) -> dict[str, Any]:
        """The child in the shape the condition readers (`children.workload_condition`, ...) take."""
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": {
                "namespace": self.namespace,
                "name": self.name,
                "uid": self.uid,
                "resourceVersion": self.resource_version,
                "generation": self.state.get("generation", 0),
            },
            "spec": dict(self.state.get("spec", {})),
            "status": dict(self.state.get("status", {})),
            **({"data": dict(self.data)} if self.data is not None else {}),
        }


def child_seen(obj: Mapping[str, Any], api_version: str, kind: str) -> ChildSeen:
    meta = obj["metadata"]
    owner = next((ref for ref in meta.get("ownerReferences") or [] if ref.get("kind") == "CloudronApp"), None)
    return ChildSeen(
        api_version=api_version,
        kind=kind,
        namespace=str(meta.get("namespace") or ""),
        name=str(meta["name"]),
        uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        app_uid=str(owner["uid"]) if owner is not None else None,
        app_name=str(owner["name"]) if owner is not None else None,
        owned=owned_view(obj, FIELD_MANAGER),
        state=_state(obj, kind),
        data=dict(obj.get("data") or {}) if kind == "Secret" else None,
    )


def _state(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    generation = obj["metadata"].get("generation", 0)
    if kind == "Deployment":
        return {
            "generation": generation,
            "spec": {"replicas": spec["replicas"]} if "replicas" in spec else {},
            "status": {
                **{
                    key: status[key]
                    for key in ("observedGeneration", "updatedReplicas", "readyReplicas")
                    if key in status
                },
                # Pods the ReplicaSet cannot create (Pod Security, a quota): say why, not just 0/1.
                **({"conditions": failures} if (failures := _replica_failures(status)) else {}),
            },
        }
    if kind == "Certificate":
        kept = {key: status[key] for key in ("conditions", "revision") if key in status}
        return {"generation": generation, "status": kept}
    if kind == "HTTPRoute":
        parents = [
            {"parentRef": parent.get("parentRef", {}), "conditions": _conditions(parent)}
            for parent in status.get("parents") or []
        ]
        return {"generation": generation, "status": {"parents": parents}}
    if kind in ("ListenerSet", "Gateway"):
        hosts = {listener.get("name"): listener.get("hostname") for listener in spec.get("listeners") or []}
        listeners = [
            {"name": listener.get("name"), "conditions": _conditions(listener)}
            for listener in status.get("listeners") or []
        ]
        return {
            "generation": generation,
            "spec": {"listeners": [{"name": name, "hostname": host} for name, host in hosts.items()]},
            "status": {"conditions": _conditions(status), "listeners": listeners},
        }
    return {}


def _conditions(holder: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Conditions without their transition times: what they say, and of which generation."""
    kept = ("type", "status", "reason", "message", "observedGeneration")
    return [{key: c[key] for key in kept if key in c} for c in holder.get("conditions") or []]


def _replica_failures(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "type": c.get("type"),
            "status": c.get("status"),
            "reason": c.get("reason"),
            "message": c.get("message"),
        }
        for c in status.get("conditions") or []
        if c.get("type") == "ReplicaFailure" and c.get("status") == "True"
    ]
