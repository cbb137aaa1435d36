"""When a resync may skip asking the API server about a child: only when its apply cannot change it."""

from __future__ import annotations

import copy
from typing import Any

from cloudron_operator.handlers.applied_children import AppliedChildren, desired_digest


def service(port: int = 80) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "wiki", "namespace": "apps", "labels": {"cloudron.io/app": "wiki"}},
        "spec": {"selector": {"cloudron.io/app": "wiki"}, "ports": [{"name": "http", "port": port}]},
    }


OURS: dict[str, Any] = {
    "f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:name": {}, "f:port": {}}}}
}


def live(
    version: str = "41",
    *,
    owned: dict[str, Any] | None = None,
    time: str = "2026-11-29T10:00:00Z",
    uid: str = "child-uid",
    others: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The child as the API server answers (a list item has no kind), with its managed fields."""
    answer = service()
    del answer["kind"]
    ours = {
        "manager": "cloudron-operator",
        "operation": "Apply",
        "apiVersion": "v1",
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": OURS if owned is None else owned,
    }
    answer["metadata"] |= {"resourceVersion": version, "uid": uid, "managedFields": [ours, *(others or [])]}
    return answer


STATUS_WRITE = {
    "manager": "kube-controller-manager",
    "operation": "Update",
    "apiVersion": "v1",
    "time": "2026-11-29T10:05:00Z",
    "fieldsType": "FieldsV1",
    "fieldsV1": {"f:status": {"f:loadBalancer": {}}},
    "subresource": "status",
}


def test_a_child_as_its_apply_left_it_is_known_unchanged() -> None:
    applied = AppliedChildren()
    applied.record("app-1", service(), live())
    assert applied.unchanged_since_applied("app-1", service(), live())


def test_a_controllers_write_of_its_own_fields_leaves_it_known() -> None:
    applied = AppliedChildren()
    applied.record("app-1", service(), live("41"))
    assert applied.unchanged_since_applied("app-1", service(), live("57", others=[STATUS_WRITE]))


def test_a_field_another_writer_took_over_makes_it_unknown() -> None:
    applied = AppliedChildren()
    applied.record("app-1", service(), live("41"))
    edited = {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": OURS}
    assert not applied.unchanged_since_applied("app-1", service(), live("42", owned={}, others=[edited]))


def test_a_value_our_own_later_apply_changed_makes_it_unknown() -> None:
    applied = AppliedChildren()
    applied.record("app-1", service(), live("41"))
    assert not applied.unchanged_since_applied("app-1", service(), live("42", time="2026-11-29T10:09:00Z"))


def test_a_child_made_again_makes_it_unknown() -> None:
    applied = AppliedChildren()
    applied.record("app-1", service(), live("41"))
    assert not applied.unchanged_since_applied("app-1", service(), live("90", uid="new-child-uid"))


def test_a_new_desired_object_makes_it_unknown() -> None:
    applied = AppliedChildren()
    applied.record("app-1", service(), live())
    assert not applied.unchanged_since_applied("app-1", service(port=8080), live())


def test_records_are_per_app_and_go_with_it() -> None:
    applied = AppliedChildren()
    applied.record("app-1", service(), live())
    assert not applied.unchanged_since_applied("app-2", service(), live())
    applied.forget("app-1")
    assert not applied.unchanged_since_applied("app-1", service(), live())


def test_an_answer_without_an_entry_of_ours_records_nothing() -> None:
    applied = AppliedChildren()
    without = live()
    without["metadata"]["managedFields"] = [STATUS_WRITE]
    applied.record("app-1", service(), without)
    assert not applied.unchanged_since_applied("app-1", service(), without)


def test_the_digest_does_not_depend_on_key_order() -> None:
    reordered = copy.deepcopy(service())
    reordered["spec"] = dict(reversed(list(reordered["spec"].items())))
    assert desired_digest(reordered) == desired_digest(service())
    assert desired_digest(service(port=8080)) != desired_digest(service())
