"""The files the chart ships for GitOps tools, used as docs/gitops.md says, on the real API server."""

from __future__ import annotations

from kubernetes import client

from tests.harness.localenv import LocalEnv
from tests.health_cases import ARGOCD_HEALTH_KEY, ARGOCD_PATCH, health_script

ARGOCD_URL = "https://argocd.example.com"


def test_the_argocd_patch_adds_the_health_check_and_keeps_the_configmaps_other_keys(
    api_client: client.ApiClient, cluster: LocalEnv, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="argocd-cm", labels={"app.kubernetes.io/part-of": "argocd"}),
            data={"url": ARGOCD_URL},
        ),
    )

    cluster.cluster.kubectl(
        "-n",
        namespace,
        "patch",
        "configmap",
        "argocd-cm",
        "--type",
        "merge",
        "--patch-file",
        str(ARGOCD_PATCH),
    )

    data = core.read_namespaced_config_map("argocd-cm", namespace).data
    assert data == {"url": ARGOCD_URL, ARGOCD_HEALTH_KEY: health_script()}
