"""The Helm chart on the local cluster: its CRDs, its rendered objects, and the operator run the way
the chart's Deployment runs it (its environment, its ServiceAccount's token)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from cloudron_operator.config import ENV_PREFIX
from tests.harness import cert_manager
from tests.harness.localenv import LocalEnv
from tests.harness.tools import CHART, helm_template

KubeObject = dict[str, Any]
# Objects that the local cluster cannot run usefully (kwok starts no container) and that the
# tests replace with an operator subprocess.
NOT_APPLIED = {"Deployment"}


def install_chart_crds(cluster: LocalEnv) -> None:
    """The chart's crds/ (as `helm install` applies them) and cert-manager's CRDs."""
    for path in (CHART / "crds", cert_manager.crds()):
        cluster.cluster.kubectl("apply", "--server-side", "-f", str(path))
        cluster.cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(path))


def render(release: str, namespace: str, *args: str) -> list[KubeObject]:
    text = helm_template(*args, namespace=namespace, release=release)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def apply(cluster: LocalEnv, objects: Iterable[KubeObject], *, dry_run: bool = False) -> list[str]:
    """Server-side apply as the cluster admin; returns kubectl's line per object."""
    items = list(objects)
    args = ["apply", "--server-side", "--field-manager=chart-test", "-f", "-"]
    if dry_run:
        args.insert(1, "--dry-run=server")
    out = cluster.cluster.kubectl(
        *args, stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )
    return [line for line in out.splitlines() if line.strip()]


def delete(cluster: LocalEnv, objects: Iterable[KubeObject]) -> None:
    items = list(objects)
    cluster.cluster.kubectl(
        "delete",
        "--ignore-not-found",
        "--wait=false",
        "-f",
        "-",
        stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
    )


@contextmanager
def installed(cluster: LocalEnv, objects: list[KubeObject]) -> Iterator[list[KubeObject]]:
    """The chart's objects but the Deployment, applied for the duration of the block."""
    applied = [obj for obj in objects if obj["kind"] not in NOT_APPLIED]
    apply(cluster, applied)
    try:
        yield applied
    finally:
        delete(cluster, applied)


def operator_env(objects: Iterable[KubeObject]) -> dict[str, str]:
    """The CLOUDRON_OPERATOR_* variables of the rendered Deployment, but the listen addresses (the
    test's OperatorProcess serves /healthz and /metrics on free loopback ports instead)."""
    (container,) = [
        container
        for obj in objects
        if obj["kind"] == "Deployment"
        for container in obj["spec"]["template"]["spec"]["containers"]
        if container["name"] == "operator"
    ]
    addresses = {f"{ENV_PREFIX}HEALTH_ADDRESS", f"{ENV_PREFIX}METRICS_ADDRESS"}
    return {
        e["name"]: e["value"]
        for e in container["env"]
        if e["name"].startswith(ENV_PREFIX) and e["name"] not in addresses
    }


def service_account_kubeconfig(api: client.ApiClient, namespace: str, name: str, path: Path) -> Path:
    """A kubeconfig that authenticates as ServiceAccount `name` with a token from the TokenRequest API,
    as a pod of the chart's Deployment would (its projected token)."""
    token = (
        client.CoreV1Api(api)
        .create_namespaced_service_account_token(
            name,
            namespace,
            client.AuthenticationV1TokenRequest(
                spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
            ),
        )
        .status.token
    )
    settings = api.configuration
    ca = Path(settings.ssl_ca_cert).read_bytes()
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {
                    "server": settings.host,
                    "certificate-authority-data": base64.b64encode(ca).decode(),
                },
            }
        ],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": "local", "user": name, "namespace": namespace}}],
        "current-context": name,
    }
    path.write_text(yaml.safe_dump(kubeconfig))
    path.chmod(0o600)
    return path
