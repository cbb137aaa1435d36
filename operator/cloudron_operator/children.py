"""Pure readings of the children's observed state, as conditions of the app."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from cloudron_operator.models.conditions import Reason
from cloudron_operator.status import FALSE, TRUE, UNKNOWN, ConditionUpdate
from cloudron_operator.store.routing import GatewayRouting, ParentSeen


def workload_condition(deployment: Mapping[str, Any] | None, running: bool) -> ConditionUpdate:
    if not running:
        return ConditionUpdate(
            "WorkloadAvailable", FALSE, Reason.STOPPED, "spec.running is false: scaled to zero"
        )
    if deployment is None:
        return ConditionUpdate(
            "WorkloadAvailable", UNKNOWN, Reason.CREATING, "the Deployment does not exist yet"
        )
    spec, status = deployment.get("spec", {}), deployment.get("status", {})
    wanted = int(spec.get("replicas", 1))
    current = status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
    updated, ready = int(status.get("updatedReplicas", 0)), int(status.get("readyReplicas", 0))
    if current and updated >= wanted and ready >= wanted:
        return ConditionUpdate("WorkloadAvailable", TRUE, Reason.PODS_READY, f"{ready}/{wanted} pods ready")
    failure = next(
        (
            c
            for c in status.get("conditions") or []
            if c.get("type") == "ReplicaFailure" and c.get("status") == TRUE
        ),
        None,
    )
    if failure is not None:
        # The API server's own words: which Pod Security rule, which quota.
        message = str(failure.get("message") or failure.get("reason") or "no reason given")
        return ConditionUpdate(
            "WorkloadAvailable",
            FALSE,
            Reason.PODS_NOT_CREATED,
            f"{ready}/{wanted} pods ready: the pods cannot be created: {message}",
        )
    # The message changes only with the ready count: every other step of a rollout would be
    # another status write for each app, with nothing a user acts on.
    return ConditionUpdate("WorkloadAvailable", FALSE, Reason.PODS_NOT_READY, f"{ready}/{wanted} pods ready")


def certificate_condition(certificate: Mapping[str, Any] | None) -> ConditionUpdate:
    if certificate is None:
        return ConditionUpdate(
            "CertificateReady", UNKNOWN, Reason.CREATING, "the Certificate does not exist yet"
        )
    for condition in certificate.get("status", {}).get("conditions", []):
        if condition.get("type") == "Ready":
            if condition.get("status") == TRUE:
                return ConditionUpdate(
                    "CertificateReady", TRUE, Reason.ISSUED, "the TLS certificate is issued"
                )
            return ConditionUpdate(
                "CertificateReady",
                FALSE,
                Reason.NOT_ISSUED,
                f"cert-manager: {condition.get('reason', '')}: {condition.get('message', '')}".strip(),
            )
    return ConditionUpdate(
        "CertificateReady", UNKNOWN, Reason.ISSUING, "waiting for cert-manager to issue it"
    )


# A listener's conditions that say it is not serving, with the value that says so.
_LISTENER_PROBLEMS: Final = {
    "Accepted": FALSE,
    "ResolvedRefs": FALSE,
    "Programmed": FALSE,
    "Conflicted": TRUE,
}


def routing_condition(
    listeners: Mapping[str, Any] | None,
    routes: Sequence[Mapping[str, Any]],
    parent: ParentSeen | None,
    routing: GatewayRouting,
    app_namespace: str,
) -> ConditionUpdate:
    """`Routed` (routing=gateway): whether the Gateway controller accepted the app's listeners (its
    ListenerSet or its own Gateway, `listeners`) and every one of its HTTPRoutes, as the controller's
    conditions say. `parent` is the shared Gateway or the GatewayClass, as the store has it."""
    if (problem := _parent_problem(parent, routing, app_namespace)) is not None:
        return problem
    if listeners is None:
        return ConditionUpdate(
            "Routed", UNKNOWN, Reason.CREATING, f"the {routing.listeners_kind} does not exist yet"
        )
    what = f"{listeners['kind']} {listeners['metadata']['name']}"
    problem = _listeners_problem(listeners, what, routing) or _routes_problem(routes, listeners, routing)
    return problem or ConditionUpdate(
        "Routed", TRUE, Reason.ROUTED, f"the Gateway controller accepted {what} and the app's HTTPRoutes"
    )


def _parent_problem(
    parent: ParentSeen | None, routing: GatewayRouting, app_namespace: str
) -> ConditionUpdate | None:
    if parent is None:
        return ConditionUpdate(
            "Routed", FALSE, Reason.NOT_ROUTED, f"{routing.describe_parent()} does not exist: create it"
        )
    if routing.listeners_kind == "ListenerSet" and not _allows_listener_sets(parent, app_namespace):
        return ConditionUpdate(
            "Routed",
            FALSE,
            Reason.NOT_ROUTED,
            f"{routing.describe_parent()} does not allow ListenerSets from namespace {app_namespace}: set "
            f"its spec.allowedListeners.namespaces (from: {parent.allowed_listeners})",
        )
    return None


def _listeners_problem(
    listeners: Mapping[str, Any], what: str, routing: GatewayRouting
) -> ConditionUpdate | None:
    found = _current_conditions(listeners.get("status", {}), listeners)
    if "Accepted" not in found:
        return _waiting(what, routing)
    for kind in ("Accepted", "Programmed"):
        if (problem := found.get(kind)) is not None and problem["status"] == FALSE:
            return _not_routed(what, problem)
    hosts = {entry["name"]: entry.get("hostname") for entry in listeners.get("spec", {}).get("listeners", [])}
    for listener in listeners.get("status", {}).get("listeners", []):
        for condition in _current_conditions(listener, listeners).values():
            if _LISTENER_PROBLEMS.get(condition["type"]) == condition["status"]:
                host = hosts.get(listener.get("name")) or listener.get("name")
                return _not_routed(f"{what}, the listener of {host}", condition)
    return None


def _routes_problem(
    routes: Sequence[Mapping[str, Any]], listeners: Mapping[str, Any], routing: GatewayRouting
) -> ConditionUpdate | None:
    for route in routes:
        what = f"HTTPRoute {route['metadata']['name']}"
        mine = [
            parent_status
            for parent_status in route.get("status", {}).get("parents", [])
            if parent_status.get("parentRef", {}).get("name") == listeners["metadata"]["name"]
            and parent_status.get("parentRef", {}).get("kind", "Gateway") == listeners["kind"]
        ]
        conditions = _current_conditions(mine[0], route) if mine else {}
        if "Accepted" not in conditions:
            return _waiting(what, routing)
        for kind in ("Accepted", "ResolvedRefs"):
            if (problem := conditions.get(kind)) is not None and problem["status"] == FALSE:
                return _not_routed(what, problem)
    return None


def _waiting(what: str, routing: GatewayRouting) -> ConditionUpdate:
    return ConditionUpdate(
        "Routed",
        UNKNOWN,
        Reason.WAITING_FOR_GATEWAY,
        f"waiting for the controller of {routing.describe_parent()} to accept {what}",
    )


def _allows_listener_sets(parent: ParentSeen, namespace: str) -> bool:
    """What the Gateway's allowedListeners says of the namespace; a Selector is the controller's to
    judge (the store keeps no namespace labels)."""
    allowed = parent.allowed_listeners
    return allowed in ("All", "Selector") or (allowed == "Same" and namespace == parent.namespace)


def _current_conditions(holder: Mapping[str, Any], obj: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The conditions the controller wrote for the object's current generation, by type: one about an
    older spec says nothing of this one."""
    generation = obj.get("metadata", {}).get("generation", 0)
    return {
        str(c.get("type")): c
        for c in holder.get("conditions", [])
        if c.get("observedGeneration", generation) >= generation
    }


def _not_routed(what: str, condition: Mapping[str, Any]) -> ConditionUpdate:
    detail = f"{condition.get('type')}={condition.get('status')}: {condition.get('reason', '')}"
    message = f"{what}: {detail}: {condition.get('message', '')}".rstrip(": ")
    return ConditionUpdate("Routed", FALSE, Reason.NOT_ROUTED, message)
