"""The newest state this process has seen of each app's Deployment and Certificate.

An app's status is computed from its two children. Reading them for every status refresh was the
operator's largest cost at a thousand apps: two GETs per child event and per pass. Their state
arrives anyway, in kopf's watch events (in order, per object) and in the answers to our own
applies; it is kept here, reduced to what the app's conditions are computed from.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from cloudron_operator.k8s.api import older_version

ChildKey = tuple[str, str, str]  # (namespace, kind, name)
CHILD_KINDS = frozenset({"Deployment", "Certificate"})


class ChildStates:
    """Reduced Deployments and Certificates by (namespace, kind, name); a newer version wins.

    Recorded from kopf's event loop (watch events) and from handler threads (apply answers,
    reads): a lock keeps an older version from replacing a newer one.
    """

    def __init__(self) -> None:
        self._states: dict[ChildKey, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def record(self, child: Mapping[str, Any]) -> None:
        kind = child.get("kind", "")
        if kind not in CHILD_KINDS:
            return
        meta = child["metadata"]
        key = (meta["namespace"], kind, meta["name"])
        reduced = _reduced(child)
        with self._lock:
            known = self._states.get(key)
            if known is None or not _older(reduced, known):
                self._states[key] = reduced

    def forget(self, namespace: str, kind: str, name: str) -> None:
        with self._lock:
            self._states.pop((namespace, kind, name), None)

    def get(
        self,
        namespace: str,
        kind: str,
        name: str,
        read: Callable[[], Mapping[str, Any] | None],
    ) -> Mapping[str, Any] | None:
        """The child as last seen, or `read` from the API server (and kept) if it never was."""
        with self._lock:
            known = self._states.get((namespace, kind, name))
        if known is not None:
            return known
        child = read()
        if child is not None:
            self.record({**child, "kind": kind})
        return child


def _reduced(child: Mapping[str, Any]) -> dict[str, Any]:
    """What the app's conditions are computed from (`cloudron_operator.children`), nothing more."""
    meta, spec, status = child["metadata"], child.get("spec", {}), child.get("status", {})
    reduced_status: dict[str, Any] = {"conditions": status.get("conditions", [])}
    if child["kind"] == "Deployment":
        reduced_status = {
            key: status[key]
            for key in ("observedGeneration", "updatedReplicas", "readyReplicas")
            if key in status
        }
    return {
        "kind": child["kind"],
        "metadata": {
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta.get("uid"),
            "generation": meta.get("generation", 0),
            "resourceVersion": meta.get("resourceVersion", ""),
        },
        "spec": {"replicas": spec["replicas"]} if "replicas" in spec else {},
        "status": reduced_status,
    }


def _older(candidate: Mapping[str, Any], known: Mapping[str, Any]) -> bool:
    """`candidate` is an earlier version of the object `known` is (not another object of its name).

    Versions that cannot be compared count as newer: watch events come in order.
    """
    if candidate["metadata"]["uid"] != known["metadata"]["uid"]:
        return False
    return older_version(candidate["metadata"]["resourceVersion"], known["metadata"]["resourceVersion"])
