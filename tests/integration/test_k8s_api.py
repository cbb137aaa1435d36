"""The API layer against the real server: server-side apply writes nothing when nothing changes."""

from __future__ import annotations

import pytest
from kubernetes import client

from cloudron_operator.k8s import api as k8s
from cloudron_operator.k8s.managed_fields import apply_changes_nothing, owned_view


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


def test_a_fresh_claim_is_judged_unchanged_and_not_rewritten(
    api_client: client.ApiClient, namespace: str
) -> None:
    """A plain second apply would rewrite it: the claim is stored with an empty status.phase and read
    back with the default, Pending. Its managed fields tell that nothing is to be applied."""
    created = k8s.apply(api_client, _claim(namespace, {"a": "1"}))
    view = owned_view(created, k8s.FIELD_MANAGER)
    assert apply_changes_nothing(_claim(namespace, {"a": "1"}), view)
    now = k8s.get(api_client, "v1", "PersistentVolumeClaim", namespace, "data")
    assert now is not None and now["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]

    assert not apply_changes_nothing(_claim(namespace, {"a": "2"}), view)
    relabelled = k8s.apply(api_client, _claim(namespace, {"a": "2"}))
    assert relabelled["metadata"]["labels"] == {"a": "2"}
    assert relabelled["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]
