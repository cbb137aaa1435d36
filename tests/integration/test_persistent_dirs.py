"""Cloudron 9.1's persistentDirs on the real control plane: a volume of their own, each directory a
sub-path of it in the pod the ReplicaSet controller makes, seeded from the image at the first start.
(kwok runs no container, so the seeding script is checked as the pod carries it.)"""

from __future__ import annotations

from kubernetes import client

from cloudron_operator.k8s import api as k8s
from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import wait_until
from tests.integration.apps_support import WAIT, example, kubectl_apply

DIRS = ["/var/lib/znc", "/var/lib/znc/modules", "/opt/state"]  # the second is inside the first


def test_persistent_dirs_get_their_own_volume_mounted_by_sub_path(
    api_client: client.ApiClient,
    cluster: LocalEnv,
    namespace: str,
    app_operator: OperatorProcess,
    data_volume: None,
) -> None:
    app = example("znc", namespace)
    app["spec"]["manifest"]["persistentDirs"] = DIRS
    app["spec"]["storage"] = {**app["spec"].get("storage", {}), "persistentDirsSize": "3Gi"}
    kubectl_apply(cluster.cluster, app)

    wait_until(
        lambda: k8s.get(api_client, "v1", "PersistentVolumeClaim", namespace, "znc-dirs") is not None,
        WAIT,
        "the persistentDirs' claim",
    )
    claim = k8s.get(api_client, "v1", "PersistentVolumeClaim", namespace, "znc-dirs") or {}
    assert claim["spec"]["resources"]["requests"]["storage"] == "3Gi"

    def pod() -> client.V1Pod | None:
        pods = client.CoreV1Api(api_client).list_namespaced_pod(
            namespace, label_selector="app.kubernetes.io/component=app"
        )
        return pods.items[0] if pods.items else None

    wait_until(lambda: pod() is not None, WAIT, "the app's pod")
    spec = pod().spec  # type: ignore[union-attr]
    claims = {
        volume.name: volume.persistent_volume_claim.claim_name
        for volume in spec.volumes
        if volume.persistent_volume_claim
    }
    assert claims == {"data": "znc-data", "persistent": "znc-dirs"}
    mounts = {m.mount_path: m.sub_path for m in spec.containers[0].volume_mounts if m.name == "persistent"}
    assert mounts == {"/var/lib/znc": "dirs/var/lib/znc", "/opt/state": "dirs/opt/state"}
    seed, logs = spec.init_containers  # the seeding, then the log follower (builders/logs.py)
    assert (seed.name, logs.name, logs.restart_policy) == ("seed-runtime-dirs", "logs", "Always")
    script = seed.command[-1]
    for directory in ("/var/lib/znc", "/opt/state"):
        assert f"if [ ! -e /seed-persistent/seeded{directory} ]" in script
        assert f"cp -a {directory}/. /seed-persistent/dirs{directory}/" in script
