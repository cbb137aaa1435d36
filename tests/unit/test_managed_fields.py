"""Reading fieldsV1 trees: what an object looks like through the fields a manager owns."""

from __future__ import annotations

from typing import Any

import pytest

from cloudron_operator.k8s.managed_fields import (
    applied_part,
    apply_changes_nothing,
    owned_view,
    project,
)

pytestmark = pytest.mark.unit

MANAGER = "cloudron-operator"
FIELDS: dict[str, Any] = {
    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
    "f:spec": {
        "f:replicas": {},
        "f:template": {
            "f:spec": {
                "f:containers": {
                    'k:{"name":"app"}': {
                        ".": {},
                        "f:name": {},
                        "f:image": {},
                        "f:ports": {
                            'k:{"containerPort":80,"protocol":"TCP"}': {
                                ".": {},
                                "f:containerPort": {},
                                "f:protocol": {},
                            }
                        },
                        "f:args": {},
                    }
                }
            }
        },
    },
    "f:finalizers": {'v:"a"': {}},
}
DESIRED: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "wiki", "namespace": "team-a", "labels": {"app": "wiki"}},
    "spec": {
        "replicas": 1,
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "wiki:1",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "args": ["--a", "--b"],
                    }
                ]
            }
        },
    },
    "finalizers": ["a"],
}


def _live(desired: dict[str, Any], fields: dict[str, Any] = FIELDS, **changes: Any) -> dict[str, Any]:
    """The object as the API server returns it: defaults and others' fields added, our entry recorded."""
    live: dict[str, Any] = {
        **desired,
        "metadata": {
            **desired["metadata"],
            "uid": "u1",
            "resourceVersion": "7",
            "labels": {**desired["metadata"]["labels"], "added-by": "someone"},
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {"f:status": {}}},
                {"manager": MANAGER, "operation": "Apply", "fieldsV1": fields},
            ],
        },
        "status": {"replicas": 1},
        "finalizers": ["a", "b"],
    }
    container = {**desired["spec"]["template"]["spec"]["containers"][0], "imagePullPolicy": "IfNotPresent"}
    container.update(changes)
    live["spec"] = {**desired["spec"], "template": {"spec": {"containers": [container]}}}
    return live


def test_an_object_seen_through_its_fields_is_what_was_applied() -> None:
    assert project(applied_part(_live(DESIRED)), FIELDS) == applied_part(DESIRED)


def test_an_unchanged_object_changes_nothing() -> None:
    assert apply_changes_nothing(DESIRED, owned_view(_live(DESIRED), MANAGER))


def test_without_an_apply_of_ours_it_cannot_be_told() -> None:
    assert owned_view(_live(DESIRED), "another-manager") is None
    assert not apply_changes_nothing(DESIRED, None)


def test_a_changed_value_of_ours_is_a_change() -> None:
    assert not apply_changes_nothing(DESIRED, owned_view(_live(DESIRED, image="wiki:2"), MANAGER))
    assert not apply_changes_nothing(DESIRED, owned_view(_live(DESIRED, args=["--a"]), MANAGER))


def test_a_new_field_in_the_object_to_apply_is_a_change() -> None:
    desired = {**DESIRED, "metadata": {**DESIRED["metadata"], "annotations": {"x": "y"}}}
    assert not apply_changes_nothing(desired, owned_view(_live(DESIRED), MANAGER))


def test_a_field_taken_over_by_another_writer_is_a_change() -> None:
    container = dict(FIELDS["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"app"}'])
    del container["f:image"]
    fields = {
        **FIELDS,
        "f:spec": {
            **FIELDS["f:spec"],
            "f:template": {"f:spec": {"f:containers": {'k:{"name":"app"}': container}}},
        },
    }
    assert not apply_changes_nothing(DESIRED, owned_view(_live(DESIRED, fields), MANAGER))


def test_a_field_of_ours_the_object_no_longer_sets_is_a_change() -> None:
    fields = {**FIELDS, "f:metadata": {"f:labels": {".": {}, "f:app": {}, "f:old": {}}}}
    live = _live(DESIRED, fields)
    live["metadata"]["labels"]["old"] = "x"
    assert not apply_changes_nothing(DESIRED, owned_view(live, MANAGER))
