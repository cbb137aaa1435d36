"""The API layer against the real server: server-side apply writes nothing when nothing changes."""

from __future__ import annotations

import pytest
from kubernetes import client

from cloudron_operator.k8s import api as k8s


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
