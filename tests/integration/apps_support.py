"""Helpers for the CloudronApp tests: the example apps, their status, and what cert-manager would do."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from cloudron_operator.k8s import api as k8s
from tests.harness import cert_manager
from tests.harness.cluster import LocalCluster
from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import wait_until
from tests.paths import REPO

WAIT = 60.0
RESYNC_SECONDS = 3.0
APP = ("cloudron.io/v1alpha1", "CloudronApp")


def install_crds(env: LocalEnv) -> None:
    """Apply our CRDs and cert-manager's; return once the API server serves each kind.

    Established is not enough: the API server may answer `404 page not found` for a moment after,
    until its handler for the new resource is in place.
    """
    api = config.new_client_from_config(config_file=str(env.cluster.kubeconfig))
    try:
        for path in (REPO / "crds", cert_manager.crds()):
            env.cluster.kubectl("apply", "--server-side", "-f", str(path))
            env.cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(path))
            for crd_file in sorted(path.glob("*.yaml")):
                for crd in yaml.safe_load_all(crd_file.read_text()):
                    if crd and crd.get("kind") == "CustomResourceDefinition":
                        name = crd["metadata"]["name"]
                        wait_until(functools.partial(served, api, crd), WAIT, f"{name} served")
    finally:
        api.close()


def served(api: client.ApiClient, crd: dict[str, Any]) -> bool:
    """Whether the API server answers a list of the CRD's resource (in its first served version)."""
    spec = crd["spec"]
    version = next(v["name"] for v in spec["versions"] if v.get("served", True))
    path = f"/apis/{spec['group']}/{version}/{spec['names']['plural']}"
    try:
        k8s.request(api, "GET", path, query=[("limit", "1")])
    except k8s.ApiError as error:
        if error.not_found:
            return False
        raise
    return True


def namespaced_operator(
    kubeconfig: Path, log: Path, namespace: str, settings: dict[str, str] | None = None
) -> OperatorProcess:
    """The operator (not started) watching `namespace`, resyncing every few seconds; `settings` are
    more CLOUDRON_OPERATOR_* variables."""
    env = {"CLOUDRON_OPERATOR_NAMESPACES": namespace, "CLOUDRON_OPERATOR_RESYNC_SECONDS": str(RESYNC_SECONDS)}
    return OperatorProcess(kubeconfig, log, env={**env, **(settings or {})})


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


def certificate_ready(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    """The Certificate's Ready condition when it is True (cert-manager issued it); empty before."""
    certificate = k8s.get(api, "cert-manager.io/v1", "Certificate", namespace, name) or {}
    conditions: list[dict[str, Any]] = certificate.get("status", {}).get("conditions", [])
    ready = next((c for c in conditions if c["type"] == "Ready"), {})
    return ready if ready.get("status") == "True" else {}


def wait_for_certificate(api: client.ApiClient, namespace: str, name: str) -> None:
    wait_until(
        lambda: k8s.get(api, "cert-manager.io/v1", "Certificate", namespace, name) is not None,
        WAIT,
        f"the operator to create Certificate {name}",
    )


def wait_until_ready(api: client.ApiClient, namespace: str, name: str, tls_secret: str) -> None:
    """Wait for cert-manager to issue the app's certificate, then for the app to be Ready."""
    wait_for_certificate(api, namespace, tls_secret)
    wait_until(
        lambda: bool(certificate_ready(api, namespace, tls_secret)),
        WAIT,
        f"cert-manager to issue {tls_secret}",
    )
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


# How many of its own resyncs the operator must run through while nothing may change.
QUIET_RESYNCS = 3
STARTING_MARKER = "--- operator starting ---"


def timer_runs(operator: OperatorProcess, namespace: str, app: str) -> int:
    """How often the resync timer reconciled the app since the operator last started (from its log)."""
    log = operator.log.read_text(errors="replace").rsplit(STARTING_MARKER, 1)[-1]
    return sum(1 for line in log.splitlines() if f"[{namespace}/{app}]" in line and "Timer 'resync'" in line)


def wait_for_resyncs(
    operator: OperatorProcess, namespace: str, *apps: str, count: int = QUIET_RESYNCS
) -> None:
    """Wait until the operator's timer has reconciled each of the apps `count` more times."""
    targets = {app: timer_runs(operator, namespace, app) + count for app in apps}
    wait_until(
        lambda: all(timer_runs(operator, namespace, app) >= target for app, target in targets.items()),
        WAIT,
        f"{count} resyncs of {', '.join(apps)}",
    )
