"""The API layer against the real server: server-side apply writes nothing when nothing changes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from kubernetes import client

from cloudron_operator import builders
from cloudron_operator.config import OperatorConfig
from cloudron_operator.k8s import api as k8s
from cloudron_operator.manifest.validation import validate_manifest
from cloudron_operator.models import CloudronAppSpec
from tests.integration.apps_support import example


def _secret(namespace: str, value: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": namespace},
        "stringData": {"PASSWORD": value},
    }


def test_applying_the_same_object_again_does_not_write(api_client: client.ApiClient, namespace: str) -> None:
    first = k8s.apply(api_client, _secret(namespace, "one"))
    again = k8s.apply(api_client, _secret(namespace, "one"))
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    changed = k8s.apply(api_client, _secret(namespace, "two"))
    assert changed["metadata"]["resourceVersion"] != first["metadata"]["resourceVersion"]
    assert changed["metadata"]["managedFields"][0]["manager"] == k8s.FIELD_MANAGER


def test_an_apply_says_whether_it_created_the_object(api_client: client.ApiClient, namespace: str) -> None:
    created, was_created = k8s.apply_reporting_creation(api_client, _secret(namespace, "one"))
    assert was_created
    same, was_created = k8s.apply_reporting_creation(api_client, _secret(namespace, "one"))
    assert not was_created and same["metadata"]["uid"] == created["metadata"]["uid"]
    _, was_created = k8s.apply_reporting_creation(api_client, _secret(namespace, "two"))
    assert not was_created, "an update is not a creation"


def test_get_and_delete_of_a_missing_object(api_client: client.ApiClient, namespace: str) -> None:
    assert k8s.get(api_client, "v1", "Secret", namespace, "creds") is None
    k8s.apply(api_client, _secret(namespace, "one"))
    assert k8s.get(api_client, "v1", "Secret", namespace, "creds") is not None
    assert [s["metadata"]["name"] for s in k8s.list_objects(api_client, "v1", "Secret", namespace)] == [
        "creds"
    ]
    assert k8s.delete(api_client, "v1", "Secret", namespace, "creds") is True
    assert k8s.delete(api_client, "v1", "Secret", namespace, "creds") is False


def test_an_invalid_object_is_a_permanent_error_naming_the_field(
    api_client: client.ApiClient, namespace: str
) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "bad", "namespace": namespace},
        "spec": {"ports": [{"port": 70000}]},
    }
    with pytest.raises(k8s.ApiError) as refused:
        k8s.apply(api_client, service)
    assert refused.value.status == 422
    assert not refused.value.retriable
    assert "spec.ports[0].port" in refused.value.message


def _claim(namespace: str, labels: dict[str, str]) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": namespace, "labels": labels},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }


def _listed(api: client.ApiClient, obj: Mapping[str, Any]) -> k8s.KubeObject:
    """`obj` as it is now on the server, read the way the reconciler reads children: from a list."""
    meta = obj["metadata"]
    found = k8s.list_objects(api, obj["apiVersion"], obj["kind"], meta["namespace"])
    return next(item for item in found if item["metadata"]["name"] == meta["name"])


def test_a_fresh_claim_is_not_rewritten_by_the_same_apply(
    api_client: client.ApiClient, namespace: str
) -> None:
    # A plain second apply would write: the claim was stored with an empty status.phase (see the docstring).
    created = k8s.apply(api_client, _claim(namespace, {"a": "1"}))
    live = _listed(api_client, created)
    same = k8s.apply_unless_unchanged(api_client, _claim(namespace, {"a": "1"}), live)
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    now = k8s.get(api_client, "v1", "PersistentVolumeClaim", namespace, "data")
    assert now is not None and now["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]

    relabelled = k8s.apply_unless_unchanged(api_client, _claim(namespace, {"a": "2"}), live)
    assert relabelled["metadata"]["labels"] == {"a": "2"}
    assert relabelled["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]


def test_an_unchanged_app_child_takes_a_dry_run_and_no_write(
    api_client: client.ApiClient, namespace: str, installed_crds: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every child of an example app equals its dry run once stored, so a resync sends no real apply."""
    app = k8s.create(api_client, example("znc", namespace))  # the owner: without it GC removes the children
    spec = CloudronAppSpec.model_validate(app["spec"])
    manifest = validate_manifest(spec.manifest).manifest
    assert manifest is not None
    identity = builders.AppIdentity("znc", namespace, app["metadata"]["uid"])
    children = builders.desired_children(identity, spec, manifest, OperatorConfig(), addon_secrets={})
    for child in children:
        k8s.apply(api_client, child)

    writes: list[str] = []
    dry_apply = k8s.apply

    def counting_apply(api: client.ApiClient, obj: Mapping[str, Any], **options: Any) -> k8s.KubeObject:
        if not options.get("dry_run"):
            writes.append(f"{obj['kind']}/{obj['metadata']['name']}")
        return dry_apply(api, obj, **options)

    monkeypatch.setattr(k8s, "apply", counting_apply)
    for child in children:
        k8s.apply_unless_unchanged(api_client, child, _listed(api_client, child))
    assert writes == []
