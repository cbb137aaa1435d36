"""The store's tables: what a list, a watch event and our own write each leave, in memory."""

from __future__ import annotations

from typing import Any

import pytest

from cloudron_operator.children import certificate_condition, workload_condition
from cloudron_operator.store.apps import app_seen
from cloudron_operator.store.children import ChildSeen, child_seen
from cloudron_operator.store.table import Table

pytestmark = pytest.mark.unit


def _deployment(version: str, ready: int, uid: str = "d1", namespace: str = "apps") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "namespace": namespace,
            "name": "wiki",
            "uid": uid,
            "generation": 2,
            "resourceVersion": version,
            "labels": {"cloudron.io/app": "wiki"},
            "ownerReferences": [{"kind": "CloudronApp", "name": "wiki", "uid": "app-1"}],
            "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {}}],
        },
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "app"}]}}},
        "status": {"observedGeneration": 2, "updatedReplicas": 1, "readyReplicas": ready, "replicas": 1},
    }


def _certificate(version: str, ready: str) -> dict[str, Any]:
    return {
        "kind": "Certificate",
        "metadata": {"namespace": "apps", "name": "wiki-tls", "uid": "c1", "resourceVersion": version},
        "spec": {"secretName": "wiki-tls"},
        "status": {
            "conditions": [{"type": "Ready", "status": ready, "reason": "Issued", "message": "ok"}],
            "revision": 2,
        },
    }


def _deployments() -> Table[ChildSeen]:
    return Table(
        lambda obj: child_seen(obj, "apps/v1", "Deployment"),
        index=lambda child: (child.app_uid,) if child.app_uid else (),
    )


def _ready(table: Table[ChildSeen], namespace: str = "apps") -> int:
    child = table.get((namespace, "wiki"))
    assert child is not None
    return int(child.state["status"]["readyReplicas"])


def test_a_kept_child_gives_the_same_conditions_as_the_whole_object() -> None:
    refused = _deployment("7", 0)
    refused["status"]["conditions"] = [
        {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "x"},
        {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "forbidden"},
    ]
    for deployment in (_deployment("5", 0), _deployment("6", 1), refused):
        kept = child_seen(deployment, "apps/v1", "Deployment").as_object()
        assert workload_condition(kept, True) == workload_condition(deployment, True)
        assert "template" not in kept["spec"] and "managedFields" not in kept["metadata"]
    for certificate in (_certificate("7", "False"), _certificate("8", "True")):
        kept_certificate = child_seen(certificate, "cert-manager.io/v1", "Certificate")
        assert certificate_condition(kept_certificate.as_object()) == certificate_condition(certificate)
        assert kept_certificate.state["status"]["revision"] == 2


def test_our_write_is_kept_until_the_watch_brings_that_very_version() -> None:
    table = _deployments()
    table.replace([_deployment("19", 0)])
    table.record(_deployment("20", 1))  # an apply's answer, ahead of the watch
    table.upsert(
        _deployment("19", 0)
    )  # a watch event sent before it (versions are only compared for equality)
    assert _ready(table) == 1
    table.upsert(_deployment("20", 1))  # the watch catches up: our write is its version now
    table.upsert(_deployment("21", 0))  # and what comes after it wins
    assert _ready(table) == 0


def test_a_write_that_changed_nothing_is_not_kept_apart() -> None:
    table = _deployments()
    table.replace([_deployment("19", 1)])
    table.record(_deployment("19", 1))  # a no-op apply answers with the stored version
    table.upsert(_deployment("22", 0))
    assert _ready(table) == 0


def test_a_list_removes_what_it_does_not_return_in_its_namespace_only() -> None:
    table = _deployments()
    table.replace([_deployment("1", 1, uid="a", namespace="one")], "one")
    table.replace([_deployment("2", 1, uid="b", namespace="two")], "two")
    table.record(_deployment("3", 1, uid="c", namespace="one"))
    changes = table.replace([], "one")  # the objects of `one` were deleted while no watch ran
    assert table.get(("one", "wiki")) is None
    assert table.get(("two", "wiki")) is not None
    assert [(change.before is not None, change.after) for change in changes] == [(True, None)]
    assert set(table.find("app-1")) == {("two", "wiki")}
    assert len(table) == 1


def test_a_deletion_removes_the_object_and_our_write_of_it() -> None:
    table = _deployments()
    table.replace([_deployment("1", 1)])
    table.record(_deployment("2", 1))
    change = table.remove(_deployment("3", 1))
    assert change.after is None and table.get(("apps", "wiki")) is None
    assert table.find("app-1") == {}


def test_an_object_made_again_replaces_the_old_one_whatever_its_version() -> None:
    table = _deployments()
    table.replace([_deployment("20", 1, uid="old")])
    table.remove(_deployment("21", 1, uid="old"))
    table.upsert(_deployment("3", 0, uid="new"))
    child = table.get(("apps", "wiki"))
    assert child is not None and child.uid == "new"


def test_the_apps_are_found_by_owner_also_from_our_writes() -> None:
    table = _deployments()
    table.record(_deployment("5", 1))
    assert set(table.find("app-1")) == {("apps", "wiki")}
    assert table.find("another app") == {}


def test_a_secret_keeps_its_data_and_other_children_keep_none() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"namespace": "apps", "name": "wiki-postgresql", "uid": "s1", "resourceVersion": "4"},
        "data": {"CLOUDRON_POSTGRESQL_PASSWORD": "c2VjcmV0"},
    }
    kept = child_seen(secret, "v1", "Secret")
    assert kept.as_object()["data"] == secret["data"]
    assert "secret" not in repr(kept) and "c2VjcmV0" not in repr(kept)
    assert child_seen(_deployment("1", 1), "apps/v1", "Deployment").data is None


def test_an_app_is_reduced_to_what_its_status_and_counts_need() -> None:
    app = {
        "apiVersion": "cloudron.io/v1alpha1",
        "kind": "CloudronApp",
        "metadata": {
            "namespace": "apps",
            "name": "wiki",
            "uid": "app-1",
            "resourceVersion": "9",
            "generation": 3,
        },
        "spec": {
            "domain": "wiki.example.com",
            "manifest": {"version": "1.2.0", "addons": {"postgresql": {}}},
        },
        "status": {"phase": "Running", "addons": {"postgresql": {"addon": "pg-main"}}},
    }
    seen = app_seen(app)
    assert (seen.uid, seen.resource_version, seen.phase) == ("app-1", "9", "Running")
    assert seen.addons == frozenset({"pg-main"})
    assert seen.app["spec"]["manifest"] == {"version": "1.2.0"}


def test_an_answer_that_comes_after_the_watch_brought_it_and_more_is_not_kept() -> None:
    """The apply's thread records its answer late: the watch brought that version, then a newer one."""
    table = _deployments()
    table.replace([])
    table.upsert(_deployment("20", 0))  # the watch: our create...
    table.upsert(_deployment("21", 1))  # ...and the controller's status update after it
    table.record(_deployment("20", 0))  # the create's answer, recorded only now
    assert _ready(table) == 1


def test_an_answer_that_comes_after_the_watch_saw_the_object_made_and_deleted_is_not_kept() -> None:
    """Else the store would keep a child that is gone, and no pass would make it again."""
    table = _deployments()
    table.replace([])
    table.upsert(_deployment("20", 1))  # our create, as the watch brought it
    table.remove(_deployment("21", 1))  # someone deleted it
    table.record(_deployment("20", 1))  # the create's answer, recorded only now
    assert table.get(("apps", "wiki")) is None
