"""The bench's own environment: a fresh cluster per run with an audit log, the operator's identity,
the CRDs, a PostgreSQL Addon in front of the harness's real server, and the namespaces.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from tests.harness import cert_manager
from tests.harness.databases import DatabaseServer
from tests.harness.localenv import LocalEnv
from tests.harness.processes import wait_until
from tests.integration.addon_support import addon_object, admin_secret
from tests.integration.apps_support import pre_bound_volume

from bench.audit import OPERATOR_ACCOUNT, OPERATOR_NAMESPACE, POLICY
from cloudron_operator.k8s import api as k8s

ENV_NAME = "bench"
APPS_NAMESPACE = "bench-apps"
CEILING_NAMESPACE = "bench-ceiling"
ADDON_NAME = "bench-postgresql"
TOKEN_SECONDS = 24 * 3600
# kwokctl's nodes take 110 pods each; the bench adds nodes that take this many.
PODS_PER_EXTRA_NODE = 1000
BASE_NODES = 2
APISERVER_ARGS = {
    # kwokctl's default Service range (a /24) holds about 250 Services: one per app needs more.
    "service-cluster-ip-range": "10.96.0.0/16",
    # The audit log is rotated at 100 MB by default, which a run of 1000 apps passes: never rotate.
    "audit-log-maxsize": "1000000",
}


@dataclass(frozen=True)
class BenchCluster:
    env: LocalEnv
    admin_kubeconfig: Path
    operator_kubeconfig: Path
    postgres: DatabaseServer

    def admin_client(self) -> client.ApiClient:
        return config.new_client_from_config(config_file=str(self.admin_kubeconfig))

    @property
    def audit_log(self) -> Path:
        return self.env.cluster.audit_log

    def control_plane_pid_files(self) -> list[Path]:
        return [self.env.cluster.directory / "pids" / f"{name}.pid" for name in ("kube-apiserver", "etcd")]


def prepare(env: LocalEnv, apps: int, crds: Path, *, qps_limits: bool = True) -> BenchCluster:
    """A new cluster (the previous bench cluster, if any, is deleted) ready for `apps` apps twice over.

    Without `qps_limits`, kube-controller-manager, the scheduler and kwok run without their client
    rate limits (kwokctl's disableQPSLimits), so the Deployment -> Pod path is not throttled.
    """
    env.cluster.delete()
    env.root.mkdir(parents=True, exist_ok=True)
    policy = env.root / "audit-policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    options = {"kubeAuditPolicy": str(policy), "disableQPSLimits": not qps_limits}
    env.cluster.create(options=options, apiserver_args=APISERVER_ARGS)
    # The ceiling's pods and the operator's pods may coexist for a while: room for both.
    extra = math.ceil(2 * apps / PODS_PER_EXTRA_NODE)
    env.cluster.scale_nodes(
        BASE_NODES + extra, f".allocatable.pods = {PODS_PER_EXTRA_NODE}", '.allocatable.memory = "2Ti"'
    )
    kubectl = env.cluster.kubectl
    # cert-manager's CRDs, not its controllers: the bench plays cert-manager itself (bench/watchers.py).
    for path in (crds, cert_manager.crds()):
        kubectl("apply", "--server-side", "-f", str(path))
        kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(path))
    postgres = env.database("postgresql")
    bench = BenchCluster(env, env.cluster.kubeconfig, env.root / "operator.kubeconfig", postgres)
    api = bench.admin_client()
    try:
        core = client.CoreV1Api(api)
        for name in (OPERATOR_NAMESPACE, APPS_NAMESPACE, CEILING_NAMESPACE):
            core.create_namespace({"metadata": {"name": name}})
        _write_operator_kubeconfig(api, env.cluster.kubeconfig, bench.operator_kubeconfig)
        k8s.create(api, admin_secret(ADDON_NAME, OPERATOR_NAMESPACE, postgres))
        addon = addon_object(ADDON_NAME, "postgresql", postgres, OPERATOR_NAMESPACE)
        addon["spec"]["default"] = True
        k8s.create(api, addon)
    finally:
        api.close()
    return bench


def _write_operator_kubeconfig(api: client.ApiClient, admin_kubeconfig: Path, path: Path) -> None:
    """The operator's own identity: a ServiceAccount bound to cluster-admin, its token in a kubeconfig.

    The audit policy logs this user's requests only, so they can be counted apart from everyone else's.
    """
    core = client.CoreV1Api(api)
    core.create_namespaced_service_account(OPERATOR_NAMESPACE, {"metadata": {"name": OPERATOR_ACCOUNT}})
    client.RbacAuthorizationV1Api(api).create_cluster_role_binding(
        {
            "metadata": {"name": "bench-cloudron-operator"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": OPERATOR_ACCOUNT, "namespace": OPERATOR_NAMESPACE}
            ],
        }
    )
    request = {"spec": {"audiences": [], "expirationSeconds": TOKEN_SECONDS}}
    token = core.create_namespaced_service_account_token(OPERATOR_ACCOUNT, OPERATOR_NAMESPACE, request)
    admin: dict[str, Any] = yaml.safe_load(admin_kubeconfig.read_text())
    cluster = admin["clusters"][0]["cluster"]
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "bench", "cluster": cluster}],
        "users": [{"name": OPERATOR_ACCOUNT, "user": {"token": token.status.token}}],
        "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": OPERATOR_ACCOUNT}}],
        "current-context": "bench",
    }
    path.write_text(json.dumps(kubeconfig))
    path.chmod(0o600)


def create_volumes(
    api: client.ApiClient, namespace: str, claims: list[str], workers: int, timeout: float
) -> None:
    """PersistentVolumes pre-bound to the apps' data claims (the local cluster has no provisioner),
    once kube-controller-manager's volume binder has taken each in (phase Available).

    The binder handles volumes one at a time, and a claim that arrives before its volume was taken
    in fails to bind until the binder's next periodic sync, with an Event each time: waiting here
    keeps that set-up work out of the clock that follows.
    """
    with ThreadPoolExecutor(workers) as pool:
        names = set(pool.map(lambda claim: pre_bound_volume(api, namespace, claim), claims))
    core = client.CoreV1Api(api)
    wait_until(
        lambda: names <= {pv.metadata.name for pv in core.list_persistent_volume().items if _available(pv)},
        timeout,
        f"{len(names)} PersistentVolumes to be Available",
        1.0,
    )


def _available(volume: client.V1PersistentVolume) -> bool:
    return volume.status is not None and volume.status.phase == "Available"


def delete_volumes(api: client.ApiClient, namespace: str, workers: int, timeout: float) -> None:
    """Delete the PersistentVolumes made for `namespace`'s claims (kept after their claims, as
    Released), and wait until they are gone.

    Left in place they would cost the next run: the volume controller and the scheduler look through
    every volume for each claim. Gone, not only deleted: removing each one's protection finalizer is
    kube-controller-manager's work, which must not overlap the next run's clock.
    """
    core = client.CoreV1Api(api)

    def ours() -> list[str]:
        return [
            pv.metadata.name
            for pv in core.list_persistent_volume().items
            if pv.spec.claim_ref is not None and pv.spec.claim_ref.namespace == namespace
        ]

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(core.delete_persistent_volume, ours()))
    wait_until(lambda: not ours(), timeout, f"the PersistentVolumes of {namespace} to be deleted", 1.0)


def delete_namespace(api: client.ApiClient, name: str, timeout: float) -> None:
    """Delete a namespace and wait until kube-controller-manager has emptied and removed it."""
    core = client.CoreV1Api(api)
    core.delete_namespace(name)
    wait_until(lambda: name not in _namespaces(core), timeout, f"namespace {name} to be deleted", 1.0)


def _namespaces(core: client.CoreV1Api) -> set[str]:
    return {ns.metadata.name for ns in core.list_namespace().items}


def addon_ready(api: client.ApiClient) -> bool:
    addon = k8s.get(api, "cloudron.io/v1alpha1", "Addon", None, ADDON_NAME) or {}
    conditions = addon.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
