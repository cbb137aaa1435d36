"""An image from a private registry: the app's `imagePullSecrets` reach every pod the cluster makes for
it (kube-controller-manager's ReplicaSet and CronJob controllers), follow a change and go with it.
kwok pulls nothing, so what is checked is what the kubelet would be given."""

from __future__ import annotations

import base64
import json
from typing import Any

from kubernetes import client

from cloudron_operator.k8s import api as k8s
from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import wait_until
from tests.integration.apps_support import WAIT, example, kubectl_apply

DEPLOYMENT = ("apps/v1", "Deployment")
CRONJOB = ("batch/v1", "CronJob")
TASK = "znc-task-rotate"


def _registry_secret(api: client.ApiClient, namespace: str, name: str) -> None:
    auth = base64.b64encode(b"robot:token").decode()
    config = {"auths": {"registry.example.com": {"auth": auth}}}
    client.CoreV1Api(api).create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name=name),
            type="kubernetes.io/dockerconfigjson",
            string_data={".dockerconfigjson": json.dumps(config)},
        ),
    )


def _app(namespace: str, pull_secrets: list[str]) -> dict[str, Any]:
    app = example("znc", namespace)
    manifest = app["spec"]["manifest"]
    manifest["addons"] = {
        **manifest.get("addons", {}),
        "scheduler": {"rotate": {"schedule": "0 3 * * *", "command": "true"}},
    }
    if pull_secrets:
        app["spec"]["imagePullSecrets"] = [{"name": name} for name in pull_secrets]
    return app


def _pull_secrets(pod_spec: dict[str, Any]) -> list[str]:
    return [ref["name"] for ref in pod_spec.get("imagePullSecrets", [])]


def _templates(api: client.ApiClient, namespace: str) -> tuple[list[str], list[str]]:
    """The pull secrets of the Deployment's and the CronJob's pod templates."""
    deployment = k8s.get(api, *DEPLOYMENT, namespace, "znc") or {"spec": {"template": {"spec": {}}}}
    cronjob = k8s.get(api, *CRONJOB, namespace, TASK) or {
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {}}}}}
    }
    return (
        _pull_secrets(deployment["spec"]["template"]["spec"]),
        _pull_secrets(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]),
    )


def _app_pods_pull_with(api: client.ApiClient, namespace: str, names: list[str]) -> bool:
    pods = client.CoreV1Api(api).list_namespaced_pod(
        namespace, label_selector="app.kubernetes.io/component=app"
    )
    live = [pod for pod in pods.items if pod.metadata.deletion_timestamp is None]
    return bool(live) and all(
        [ref.name for ref in pod.spec.image_pull_secrets or []] == names for pod in live
    )


def test_the_pull_secrets_reach_every_pod_of_the_app_and_follow_the_spec(
    api_client: client.ApiClient,
    cluster: LocalEnv,
    namespace: str,
    app_operator: OperatorProcess,
    data_volume: None,
) -> None:
    for name in ("registry-old", "registry-new"):
        _registry_secret(api_client, namespace, name)

    kubectl_apply(cluster.cluster, _app(namespace, ["registry-old"]))
    wait_until(
        lambda: _templates(api_client, namespace) == (["registry-old"], ["registry-old"]),
        WAIT,
        "the Deployment and the CronJob to name the pull secret",
    )
    wait_until(
        lambda: _app_pods_pull_with(api_client, namespace, ["registry-old"]),
        WAIT,
        "the ReplicaSet controller's pod to carry the pull secret",
    )

    kubectl_apply(cluster.cluster, _app(namespace, ["registry-new"]))
    wait_until(
        lambda: _templates(api_client, namespace) == (["registry-new"], ["registry-new"]),
        WAIT,
        "the templates to follow the changed secret",
    )
    wait_until(
        lambda: _app_pods_pull_with(api_client, namespace, ["registry-new"]),
        WAIT,
        "the rolled-out pod to carry the new secret",
    )

    kubectl_apply(cluster.cluster, _app(namespace, []))
    wait_until(
        lambda: _templates(api_client, namespace) == ([], []),
        WAIT,
        "the templates to drop the secret once the spec names none",
    )
