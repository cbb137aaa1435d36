"""The whole set of children: which exist, in what order, owned and labelled, built purely."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from cloudron_operator.builders import (
    CHILD_KINDS,
    ChildRef,
    InvalidSpec,
    child_ref,
    desired_children,
    possible_children,
)
from cloudron_operator.builders.env import platform_env_names, runtime_env
from cloudron_operator.models import CloudronAppSpec
from tests.builder_cases import BASE_MANIFEST, CONFIG, PORT, identity, manifest_of, spec

pytestmark = pytest.mark.unit

FULL_MANIFEST = {
    **BASE_MANIFEST,
    "multiDomain": True,
    "addons": {"localstorage": {}, "postgresql": {}},
    "tcpPorts": {"SSH_PORT": {**PORT, "defaultValue": 2222, "portCount": 2}},
    "persistentDirs": ["/var/lib/wiki"],
}
FULL_SPEC = spec(FULL_MANIFEST, aliases=["alias.example.com"], redirects=["old.example.com"])
SECRETS = {"wiki-postgresql": {"CLOUDRON_POSTGRESQL_PASSWORD": "cGFzcw=="}}


def children(app_spec: CloudronAppSpec = FULL_SPEC) -> list[dict[str, Any]]:
    return desired_children(identity(), app_spec, manifest_of(app_spec), CONFIG, SECRETS)


def refs(app_spec: CloudronAppSpec) -> list[tuple[str, str]]:
    return [(child["kind"], child["metadata"]["name"]) for child in children(app_spec)]


def test_a_full_app_has_every_child_in_apply_order() -> None:
    assert refs(FULL_SPEC) == [
        ("PersistentVolumeClaim", "wiki-data"),
        ("PersistentVolumeClaim", "wiki-dirs"),
        ("NetworkPolicy", "wiki"),
        ("Deployment", "wiki"),
        ("Service", "wiki"),
        ("Service", "wiki-ports"),
        ("Certificate", "wiki-tls"),
        ("Ingress", "wiki"),
        ("Ingress", "wiki-redirects"),
    ]


def test_a_minimal_app_has_no_volume_ports_service_or_redirects() -> None:
    assert refs(spec()) == [
        ("NetworkPolicy", "wiki"),
        ("Deployment", "wiki"),
        ("Service", "wiki"),
        ("Certificate", "wiki-tls"),
        ("Ingress", "wiki"),
    ]


def test_a_stopped_app_keeps_its_data_volume_and_everything_else() -> None:
    stopped = spec(FULL_MANIFEST, aliases=["alias.example.com"], redirects=["old.example.com"], running=False)
    assert refs(stopped) == refs(FULL_SPEC)
    [deployment] = [child for child in children(stopped) if child["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 0


def test_a_disabled_port_drops_the_ports_service() -> None:
    assert ("Service", "wiki-ports") not in refs(spec(FULL_MANIFEST, ports={"SSH_PORT": None}))


def test_every_child_is_in_the_apps_namespace_labelled_and_owned_by_it() -> None:
    for child in children():
        meta = child["metadata"]
        assert meta["namespace"] == "team-a"
        assert meta["labels"]["cloudron.io/app"] == "wiki"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "cloudron-operator"
        assert [owner["uid"] for owner in meta["ownerReferences"]] == [identity().uid]
        assert (child["apiVersion"], child["kind"]) in CHILD_KINDS


def test_every_child_is_one_of_the_apps_possible_children() -> None:
    possible = possible_children(identity())
    assert len(set(possible)) == len(possible)
    assert {child_ref(child) for child in children()} == set(possible)
    assert child_ref(children()[0]) == ChildRef("v1", "PersistentVolumeClaim", "wiki-data")


def test_an_invalid_spec_builds_nothing() -> None:
    with pytest.raises(InvalidSpec, match=r"^spec\.sso: "):
        children(spec(sso=False))


def test_the_same_inputs_give_the_same_objects_and_are_left_unchanged() -> None:
    before = copy.deepcopy((FULL_SPEC, SECRETS))
    assert children() == children()
    assert before == (FULL_SPEC, SECRETS)


def test_no_two_places_in_the_output_share_an_object() -> None:
    # Shared dicts or lists would let a change to one child (by the caller) show up in another.
    seen: set[int] = set()
    for node in _containers(children()):
        assert id(node) not in seen, node
        seen.add(id(node))


def test_every_runtime_variable_is_reserved_against_the_custom_env() -> None:
    manifest = manifest_of(FULL_SPEC)
    assert set(runtime_env(identity(), FULL_SPEC, manifest, CONFIG)) <= platform_env_names(manifest)


def _containers(node: Any) -> Iterator[dict[str, Any] | list[Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _containers(value)
    elif isinstance(node, list):
        yield node
        for item in node:
            yield from _containers(item)
