"""When a resync may skip asking the API server about a child: only when nothing can have changed."""

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


def live(version: str) -> dict[str, Any]:
    """The child as the API server answers (a list item has no kind)."""
    answer = service()
    del answer["kind"]
    answer["metadata"] |= {"resourceVersion": version, "uid": "child-uid"}
    return answer


def test_a_child_at_the_version_its_apply_left_is_known_unchanged() -> None:
    applied = AppliedChildren()
    applied.record("app-1", service(), live("41"))
    assert applied.unchanged_since_applied("app-1", service(), live("41"))


def test_a_write_to_the_child_since_makes_it_unknown() -> None:
    applied = AppliedChildren()
    applied.record("app-1", service(), live("41"))
    assert not applied.unchanged_since_applied("app-1", service(), live("42"))


def test_a_new_desired_object_makes_it_unknown() -> None:
    applied = AppliedChildren()
    applied.record("app-1", service(), live("41"))
    assert not applied.unchanged_since_applied("app-1", service(port=8080), live("41"))


def test_records_are_per_app_and_go_with_it() -> None:
    applied = AppliedChildren()
    applied.record("app-1", service(), live("41"))
    assert not applied.unchanged_since_applied("app-2", service(), live("41"))
    applied.forget("app-1")
    assert not applied.unchanged_since_applied("app-1", service(), live("41"))


def test_an_answer_without_a_version_records_nothing() -> None:
    applied = AppliedChildren()
    without = live("41")
    del without["metadata"]["resourceVersion"]
    applied.record("app-1", service(), without)
    assert not applied.unchanged_since_applied("app-1", service(), without)


def test_the_digest_does_not_depend_on_key_order() -> None:
    reordered = copy.deepcopy(service())
    reordered["spec"] = dict(reversed(list(reordered["spec"].items())))
    assert desired_digest(reordered) == desired_digest(service())
    assert desired_digest(service(port=8080)) != desired_digest(service())
