"""Helpers for the CloudronApp tests: the example apps, their status, and what cert-manager would do."""

from __future__ import annotations

from typing import Any

import yaml
from kubernetes import client

from cloudron_operator.k8s import api as k8s
from tests.harness.cluster import LocalCluster
from tests.harness.processes import wait_until
from tests.paths import REPO

WAIT = 60.0
RESYNC_SECONDS = 3.0
APP = ("cloudron.io/v1alpha1", "CloudronApp")


def example(name: str, namespace: str) -> dict[str, Any]:
    """The CloudronApp of examples/<name>.yaml, in `namespace`."""
    app: dict[str, Any] = yaml.safe_load((REPO / "examples" / f"{name}.yaml").read_text())
    app["metadata"]["namespace"] = namespace
    return app


def get_app(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    found = k8s.get(api, *APP, namespace, name)
    assert found is not None, f"CloudronApp {namespace}/{name} is gone"
    return found


def condition(app: dict[str, Any], kind: str) -> dict[str, Any]:
    """The app's condition of type `kind`; empty when it has none."""
    return next((c for c in app.get("status", {}).get("conditions", []) if c["type"] == kind), {})


def is_ready(api: client.ApiClient, namespace: str, name: str) -> bool:
    return condition(get_app(api, namespace, name), "Ready").get("status") == "True"


def issue_certificate(api: client.ApiClient, namespace: str, name: str) -> None:
    """Mark the Certificate issued, as cert-manager would (the local cluster runs no cert-manager)."""
    status = {"conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "issued"}]}
    k8s.apply(
        api,
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": name, "namespace": namespace},
            "status": status,
        },
        subresource="status",
    )


def wait_until_ready(api: client.ApiClient, namespace: str, name: str, tls_secret: str) -> None:
    """Issue the app's certificate once it exists, then wait for Ready=True."""
    wait_until(
        lambda: k8s.get(api, "cert-manager.io/v1", "Certificate", namespace, tls_secret) is not None,
        WAIT,
        f"the operator to create Certificate {tls_secret}",
    )
    issue_certificate(api, namespace, tls_secret)
    wait_until(lambda: is_ready(api, namespace, name), WAIT, f"app {name} to become Ready")


def kubectl_apply(cluster: LocalCluster, obj: dict[str, Any]) -> None:
    """`kubectl apply --server-side` of `obj`, as a user or a GitOps tool sends a whole spec."""
    cluster.kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(obj))


def pre_bound_volume(api: client.ApiClient, namespace: str, claim: str) -> str:
    """Create a PersistentVolume bound in advance to `claim` (the local cluster has no provisioner)."""
    name = f"{namespace}-{claim}"
    client.CoreV1Api(api).create_persistent_volume(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": f"/cloudron-test-volumes/{name}"},  # kwok runs no container: never used
                "claimRef": {"namespace": namespace, "name": claim},
            },
        }
    )
    return name
