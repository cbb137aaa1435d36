"""A status refresh from what the operator has seen, against the real API server (no operator running).

A refresh starts from the newest version of the app the process knows, without reading it. When
something wrote the app since, the API server refuses the conditional write; the refresh then
reads the app and merges into what is stored, never into the old copy.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from cloudron_operator.handlers.child_events import refresh_app_status
from cloudron_operator.handlers.child_states import ChildStates
from cloudron_operator.handlers.known_apps import KnownApps, app_seen
from cloudron_operator.k8s import api as k8s
from tests.integration.apps_support import condition, example, get_app


def _write_status(api: client.ApiClient, app: dict[str, Any], addons_message: str) -> dict[str, Any]:
    """The status a first pass would have written: addons ready, the children not yet."""
    meta = app["metadata"]
    status = {
        "observedGeneration": meta["generation"],
        "phase": "Installing",
        "conditions": [
            _condition("Ready", "False", "Installing", "waiting for the children"),
            _condition("AddonsReady", "True", "Provisioned", addons_message),
            _condition("WorkloadAvailable", "False", "PodsNotReady", "0/1 pods ready"),
            _condition("CertificateReady", "Unknown", "Issuing", "waiting for cert-manager to issue it"),
        ],
    }
    obj = {
        "apiVersion": app["apiVersion"],
        "kind": "CloudronApp",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
        "status": status,
    }
    return k8s.apply(api, obj, subresource="status")


def _condition(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-11-29T00:00:00Z",
        "observedGeneration": 1,
    }


def _ready_children(namespace: str, name: str) -> ChildStates:
    """The children as the watch events showed them: the pods ready, the certificate issued."""
    children = ChildStates()
    children.record(
        {
            "kind": "Deployment",
            "metadata": {
                "namespace": namespace,
                "name": name,
                "uid": "d",
                "generation": 1,
                "resourceVersion": "1",
            },
            "spec": {"replicas": 1},
            "status": {"observedGeneration": 1, "updatedReplicas": 1, "readyReplicas": 1},
        }
    )
    children.record(
        {
            "kind": "Certificate",
            "metadata": {"namespace": namespace, "name": f"{name}-tls", "uid": "c", "resourceVersion": "1"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }
    )
    return children


def test_a_refresh_from_an_old_version_merges_into_the_stored_one(
    api_client: client.ApiClient, namespace: str, installed_crds: None
) -> None:
    created = k8s.apply(api_client, example("znc", namespace))
    name, uid = created["metadata"]["name"], created["metadata"]["uid"]
    old = _write_status(api_client, created, "provisioned: first pass")
    stored = _write_status(api_client, created, "provisioned: a later pass")  # written since `old`
    known = KnownApps()

    refreshed = refresh_app_status(
        api_client,
        (namespace, name),
        uid=uid,
        known=app_seen(old),
        apps=known,
        children=_ready_children(namespace, name),
    )

    assert refreshed
    app = get_app(api_client, namespace, name)
    assert int(app["metadata"]["resourceVersion"]) > int(stored["metadata"]["resourceVersion"])
    assert condition(app, "Ready")["status"] == "True"
    assert condition(app, "WorkloadAvailable")["status"] == "True"
    assert condition(app, "CertificateReady")["reason"] == "Issued"
    assert condition(app, "AddonsReady")["message"] == "provisioned: a later pass"  # not the old copy's
    newest = known.newest((namespace, name))
    assert newest is not None and newest.resource_version == app["metadata"]["resourceVersion"]


def test_a_refresh_that_changes_nothing_writes_nothing(
    api_client: client.ApiClient, namespace: str, installed_crds: None
) -> None:
    created = k8s.apply(api_client, example("znc", namespace))
    name, uid = created["metadata"]["name"], created["metadata"]["uid"]
    _write_status(api_client, created, "provisioned")
    children = _ready_children(namespace, name)
    known = KnownApps()
    key = (namespace, name)
    assert refresh_app_status(api_client, key, uid=uid, known=None, apps=known, children=children)
    settled = get_app(api_client, namespace, name)

    again = refresh_app_status(
        api_client, key, uid=uid, known=known.newest(key), apps=known, children=children
    )

    assert again
    assert (
        get_app(api_client, namespace, name)["metadata"]["resourceVersion"]
        == settled["metadata"]["resourceVersion"]
    )
