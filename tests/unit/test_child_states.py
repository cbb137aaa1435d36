"""The children's states kept in memory: newer versions win, and they compute what the objects do."""

from __future__ import annotations

from typing import Any

from cloudron_operator.children import certificate_condition, workload_condition
from cloudron_operator.handlers.child_states import ChildStates


def _deployment(version: str, ready: int, uid: str = "d1") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "namespace": "apps",
            "name": "wiki",
            "uid": uid,
            "generation": 2,
            "resourceVersion": version,
            "labels": {"cloudron.io/app": "wiki"},
            "managedFields": [{"manager": "kube-controller-manager"}],
        },
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "app"}]}}},
        "status": {"observedGeneration": 2, "updatedReplicas": 1, "readyReplicas": ready, "replicas": 1},
    }


def _certificate(version: str, ready: str) -> dict[str, Any]:
    return {
        "kind": "Certificate",
        "metadata": {"namespace": "apps", "name": "wiki-tls", "uid": "c1", "resourceVersion": version},
        "spec": {"secretName": "wiki-tls"},
        "status": {"conditions": [{"type": "Ready", "status": ready, "reason": "Issued", "message": "ok"}]},
    }


def _never_read() -> dict[str, Any]:
    raise AssertionError("a child known in memory was read from the API server")


def _get(states: ChildStates, kind: str, name: str) -> Any:
    return states.get("apps", kind, name, _never_read)


def test_a_kept_child_gives_the_same_conditions_as_the_whole_object() -> None:
    states = ChildStates()
    for deployment in (_deployment("5", 0), _deployment("6", 1)):
        states.record(deployment)
        kept = _get(states, "Deployment", "wiki")
        assert workload_condition(kept, True) == workload_condition(deployment, True)
        assert "template" not in kept["spec"] and "managedFields" not in kept["metadata"]
    for certificate in (_certificate("7", "False"), _certificate("8", "True")):
        states.record(certificate)
        assert certificate_condition(_get(states, "Certificate", "wiki-tls")) == certificate_condition(
            certificate
        )


def test_an_older_version_arriving_late_does_not_replace_a_newer_one() -> None:
    states = ChildStates()
    states.record(_deployment("20", 1))  # an apply's answer
    states.record(_deployment("19", 0))  # a watch event sent before it
    assert _get(states, "Deployment", "wiki")["status"]["readyReplicas"] == 1


def test_a_deployment_made_again_replaces_the_old_one_whatever_its_version() -> None:
    states = ChildStates()
    states.record(_deployment("20", 1, uid="old"))
    states.record(_deployment("3", 0, uid="new"))
    assert _get(states, "Deployment", "wiki")["metadata"]["uid"] == "new"


def test_an_unknown_child_is_read_once_and_then_kept() -> None:
    states = ChildStates()
    reads: list[str] = []

    def read() -> dict[str, Any]:
        reads.append("read")
        return _deployment("4", 1)

    assert states.get("apps", "Deployment", "wiki", read) is not None
    assert states.get("apps", "Deployment", "wiki", read) is not None
    assert reads == ["read"]
    assert states.get("apps", "Certificate", "wiki-tls", lambda: None) is None  # absent: not kept
    states.forget("apps", "Deployment", "wiki")
    states.get("apps", "Deployment", "wiki", read)
    assert reads == ["read", "read"]


def test_other_kinds_are_not_kept() -> None:
    states = ChildStates()
    states.record({"kind": "Service", "metadata": {"namespace": "apps", "name": "wiki", "uid": "s1"}})
    assert states.get("apps", "Service", "wiki", lambda: None) is None
