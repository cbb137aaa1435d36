"""A status refresh from what the operator has seen, against the real API server; one writer of an
app's status at a time, with the operator running.

A refresh starts from the newest version of the app the process knows, without reading it. When
something wrote the app since, the API server refuses the conditional write; the refresh then
reads the app and merges into what is stored, never into the old copy.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from kubernetes import client

from cloudron_operator.k8s import api as k8s
from cloudron_operator.reconcile.refresh import refresh_app_status
from cloudron_operator.store import Store
from cloudron_operator.store.apps import app_seen
from tests.harness import cert_manager
from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import wait_until
from tests.integration.apps_support import (
    RESYNC_SECONDS,
    WAIT,
    condition,
    example,
    get_app,
    wait_for_certificate,
)


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


def _ready_children(api: client.ApiClient, namespace: str, name: str) -> Store:
    """A store whose children are as the watch events showed them: the pods ready, the certificate
    issued."""
    children = Store(api, (namespace,))
    children.children["Deployment"].upsert(
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
    children.children["Certificate"].upsert(
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
    known = _ready_children(api_client, namespace, name)

    refreshed = refresh_app_status(api_client, (namespace, name), uid=uid, known=app_seen(old), store=known)

    assert refreshed
    app = get_app(api_client, namespace, name)
    assert app["metadata"]["resourceVersion"] != stored["metadata"]["resourceVersion"]
    assert condition(app, "Ready")["status"] == "True"
    assert condition(app, "WorkloadAvailable")["status"] == "True"
    assert condition(app, "CertificateReady")["reason"] == "Issued"
    assert condition(app, "AddonsReady")["message"] == "provisioned: a later pass"  # not the old copy's
    newest = known.app((namespace, name))
    assert newest is not None and newest.resource_version == app["metadata"]["resourceVersion"]


def test_a_refresh_that_changes_nothing_writes_nothing(
    api_client: client.ApiClient, namespace: str, installed_crds: None
) -> None:
    created = k8s.apply(api_client, example("znc", namespace))
    name, uid = created["metadata"]["name"], created["metadata"]["uid"]
    _write_status(api_client, created, "provisioned")
    known = _ready_children(api_client, namespace, name)
    key = (namespace, name)
    assert refresh_app_status(api_client, key, uid=uid, known=None, store=known)
    settled = get_app(api_client, namespace, name)

    again = refresh_app_status(api_client, key, uid=uid, known=known.app(key), store=known)

    assert again
    assert (
        get_app(api_client, namespace, name)["metadata"]["resourceVersion"]
        == settled["metadata"]["resourceVersion"]
    )


def _status_writes(audit_log: Path, namespace: str, name: str) -> list[tuple[datetime, datetime]]:
    """When each of the operator's writes of the app's status was received and answered."""
    writes = []
    for line in audit_log.read_text().splitlines():
        event = json.loads(line)
        ref = event.get("objectRef", {})
        if (
            event.get("stage") == "ResponseComplete"
            and (ref.get("namespace"), ref.get("name"), ref.get("subresource")) == (namespace, name, "status")
            and f"fieldManager={k8s.FIELD_MANAGER}" in event.get("requestURI", "")
        ):
            received = datetime.fromisoformat(event["requestReceivedTimestamp"])
            writes.append((received, datetime.fromisoformat(event["stageTimestamp"])))
    return sorted(writes)


def test_an_apps_status_has_one_writer_at_a_time_while_child_events_resyncs_and_a_spec_change_race(
    *,
    api_client: client.ApiClient,
    cluster: LocalEnv,
    namespace: str,
    installed_crds: None,
    data_volume: None,
    tmp_path: Path,
) -> None:
    # The app's issuer appears only when the test says: then cert-manager issues the certificate
    # (a child event) while the spec changes (an update pass) and the resync ticks every few seconds.
    issuer = f"later-{namespace[-6:]}"
    env = {"CLOUDRON_OPERATOR_NAMESPACES": namespace, "CLOUDRON_OPERATOR_RESYNC_SECONDS": str(RESYNC_SECONDS)}
    operator = OperatorProcess(
        cluster.cluster.kubeconfig,
        tmp_path / "operator.log",
        env={**env, "CLOUDRON_OPERATOR_CLUSTER_ISSUER": issuer},
    )
    operator.start()
    try:
        _race(api_client, cluster, namespace, issuer)
    finally:
        operator.stop()
        cluster.cluster.kubectl("delete", "clusterissuer", issuer, "--ignore-not-found")


def _race(api_client: client.ApiClient, cluster: LocalEnv, namespace: str, issuer: str) -> None:
    k8s.create(api_client, example("znc", namespace))
    wait_for_certificate(api_client, namespace, "znc-tls")
    assert condition(get_app(api_client, namespace, "znc"), "Ready").get("status") != "True"
    patch = {"spec": {"env": {"RACE": "1"}}}
    issue = json.dumps(cert_manager.ca_issuer(issuer))
    changes = [
        threading.Thread(target=cluster.cluster.kubectl, args=("apply", "-f", "-"), kwargs={"stdin": issue}),
        threading.Thread(
            target=client.CustomObjectsApi(api_client).patch_namespaced_custom_object,
            args=("cloudron.io", "v1alpha1", namespace, "cloudronapps", "znc", patch),
        ),
    ]
    for change in changes:
        change.start()
    for change in changes:
        change.join()

    def ready_at_the_new_generation() -> bool:
        app = get_app(api_client, namespace, "znc")
        current = app["status"].get("observedGeneration") == app["metadata"]["generation"] == 2
        return current and condition(app, "Ready").get("status") == "True"

    wait_until(ready_at_the_new_generation, WAIT, "Ready at generation 2")
    time.sleep(3 * RESYNC_SECONDS)  # resyncs at rest

    writes = _status_writes(cluster.cluster.audit_log, namespace, "znc")
    assert len(writes) >= 3, writes  # the first pass, the refresh, the update pass
    for (_, answered), (received, _) in itertools.pairwise(writes):
        assert received >= answered, "two writes of the app's status overlapped"
