"""Every object the chart renders is accepted by the real API server (server-side dry-run apply),
for the default values and for a namespaced, two-replica install with its own ingress class."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.harness.localenv import LocalEnv
from tests.integration.chart_support import apply, install_chart_crds, render


@pytest.fixture(scope="module")
def chart_crds(cluster: LocalEnv) -> None:
    install_chart_crds(cluster)


@pytest.fixture
def more_namespaces(api_client: client.ApiClient, namespace: str) -> Iterator[list[str]]:
    """Two namespaces for the apps besides the test's own (which plays the operator's)."""
    core = client.CoreV1Api(api_client)
    names = [f"{namespace}-a", f"{namespace}-b"]
    for name in names:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield names
    for name in names:
        core.delete_namespace(name)


def _accepted(cluster: LocalEnv, objects: list[dict[str, object]]) -> None:
    lines = apply(cluster, objects, dry_run=True)
    assert len(lines) == len(objects), lines
    assert all("(server dry run)" in line for line in lines), lines


# A dry run cannot put a Role in a namespace the same dry run creates: the users' namespace is the test's.
USERS_HERE = ("--set", "users.createNamespace=false")


def test_the_default_install_is_accepted(chart_crds: None, cluster: LocalEnv, namespace: str) -> None:
    objects = render("default", namespace, *USERS_HERE, "--set", f"users.namespace={namespace}")
    assert {obj["kind"] for obj in objects} >= {"Deployment", "ClusterRole", "ClusterKopfPeering"}
    _accepted(cluster, objects)


def test_a_namespaced_two_replica_install_is_accepted(
    chart_crds: None, cluster: LocalEnv, namespace: str, more_namespaces: list[str]
) -> None:
    objects = render(
        "namespaced",
        namespace,
        *("--set", f"watchNamespaces={{{','.join(more_namespaces)}}}"),
        *("--set", "replicas=2", "--set", "ingressClass=nginx"),
        *USERS_HERE, *("--set", f"users.namespace={namespace}"),
    )  # fmt: skip
    kinds = sorted(str(obj["kind"]) for obj in objects)
    assert kinds.count("Role") == 5 and kinds.count("KopfPeering") == 2
    _accepted(cluster, objects)
