"""Two replicas are safe: with kopf peering (CLOUDRON_OPERATOR_PEERING) only the replica with the
higher priority acts on CloudronApps, and the other takes over when the first is killed."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from cloudron_operator.k8s import api as k8s
from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import wait_until
from tests.integration.apps_support import WAIT, example
from tests.integration.chart_support import install_chart_crds, installed, operator_env, render

LIFETIME = 10  # seconds a keep-alive counts: how long a killed replica blocks the other one


@pytest.fixture(scope="module")
def chart_crds(cluster: LocalEnv) -> None:
    install_chart_crds(cluster)


@pytest.fixture
def replicas(
    chart_crds: None, cluster: LocalEnv, kubeconfig: Path, namespace: str, tmp_path: Path
) -> Iterator[dict[str, OperatorProcess]]:
    """Two operators configured as the chart's two-replica Deployment, the peering object applied
    from the chart; each with its own identity (the pod name, as the chart passes it in POD_ID)."""
    objects = render(
        "peers",
        namespace,
        *("--set", f"watchNamespaces={{{namespace}}}", "--set", "replicas=2"),
        *("--set", f"peering.lifetimeSeconds={LIFETIME}", "--set", "rbac.create=false"),
        *("--set", "serviceAccount.create=false", "--set", "serviceAccount.name=default"),
        *("--set", "users.createNamespace=false", "--set", f"users.namespace={namespace}"),
    )
    env = {**operator_env(objects), "CLOUDRON_OPERATOR_RESYNC_SECONDS": "3"}
    assert env["CLOUDRON_OPERATOR_PEERING"] == "peers-cloudron-operator"
    with installed(cluster, objects):
        processes = {
            name: OperatorProcess(kubeconfig, tmp_path / f"{name}.log", env={**env, "POD_ID": name})
            for name in ("replica-a", "replica-b")
        }
        try:
            for process in processes.values():
                process.start()
            yield processes
        finally:
            for process in processes.values():
                process.stop()


def peers(api: client.ApiClient, namespace: str) -> dict[str, dict[str, Any]]:
    """The keep-alives in the namespace's peering object: identity -> {priority, lifetime, lastseen}."""
    peering = client.CustomObjectsApi(api).get_namespaced_custom_object(
        "kopf.dev", "v1", namespace, "kopfpeerings", "peers-cloudron-operator"
    )
    status: dict[str, dict[str, Any]] = peering.get("status") or {}
    return status


def handled(process: OperatorProcess, app: str) -> bool:
    """Whether the replica ran a handler for the app (kopf logs each one with the object's name)."""
    pattern = re.compile(rf"\[[^/\]]+/{re.escape(app)}\] Handler '\w+' succeeded")
    return bool(pattern.search(process.log.read_text(errors="replace")))


def active(process: OperatorProcess) -> bool:
    """Whether kopf's peering last let the replica act. A replica starts paused (the peering is
    mandatory) and logs only its changes: "Resuming ..." when it may act, "Pausing ..." when not."""
    log = process.log.read_text(errors="replace")
    return log.rfind("Resuming operations") > log.rfind("Pausing operations")


def children_exist(api: client.ApiClient, namespace: str, app: str) -> bool:
    return k8s.get(api, "apps/v1", "Deployment", namespace, app) is not None


def test_one_replica_acts_and_the_other_takes_over_when_it_is_killed(
    api_client: client.ApiClient, namespace: str, replicas: dict[str, OperatorProcess]
) -> None:
    wait_until(lambda: set(peers(api_client, namespace)) == set(replicas), WAIT, "both replicas to peer")
    priorities = {name: int(info["priority"]) for name, info in peers(api_client, namespace).items()}
    assert len(set(priorities.values())) == 2, f"the replicas drew distinct priorities: {priorities}"
    leader, follower = sorted(replicas, key=lambda name: priorities[name], reverse=True)
    wait_until(
        lambda: active(replicas[leader]) and not active(replicas[follower]),
        WAIT,
        f"{leader} to act and {follower} to stand by",
    )

    first = example("znc", namespace)
    first["metadata"]["name"] = "first"
    k8s.create(api_client, first)
    wait_until(
        lambda: children_exist(api_client, namespace, "first"), WAIT, f"{leader} to create the children"
    )
    wait_until(lambda: handled(replicas[leader], "first"), WAIT, f"{leader} to log its handler")
    time.sleep(2 * 3)  # two resync periods: a follower that was not paused would have run its timer
    assert not handled(replicas[follower], "first"), f"{follower} acted while {leader} was alive"

    killed_at = time.monotonic()
    replicas[leader].kill()
    second = example("znc", namespace)
    second["metadata"]["name"] = "second"
    second["spec"]["domain"] = "second.example.com"  # a host is one app's
    k8s.create(api_client, second)
    wait_until(
        lambda: children_exist(api_client, namespace, "second"),
        WAIT,
        f"{follower} to take over from {leader}",
    )
    took = time.monotonic() - killed_at
    print(f"{follower} took over {took:.1f}s after {leader} was killed (keep-alive lifetime {LIFETIME}s)")
    # The children exist a moment before the pass that made them ends and kopf logs it.
    wait_until(lambda: handled(replicas[follower], "second"), WAIT, f"{follower} to log its handler")
    assert active(replicas[follower])
    assert took < LIFETIME + 20, f"the takeover took {took:.0f}s for a keep-alive lifetime of {LIFETIME}s"
