"""The scheduler addon on the real control plane: kube-controller-manager's CronJob controller makes
the runs, kube-scheduler places each beside the app's pod (its volume), and kwok runs it to the end."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from cloudron_operator.k8s import api as k8s
from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import wait_until
from tests.integration.apps_support import APP, WAIT, example, kubectl_apply

CRONJOB = ("batch/v1", "CronJob")
TASK = "znc-task-say-hello"
FIRST_RUN_WAIT = 150.0  # the next minute boundary, the controller's 10 s loop, scheduling, kwok


def _with_tasks(namespace: str, tasks: dict[str, Any] | None, **spec: Any) -> dict[str, Any]:
    app = example("znc", namespace)
    addons = dict(app["spec"]["manifest"].get("addons") or {})
    if tasks is None:
        addons.pop("scheduler", None)
    else:
        addons["scheduler"] = tasks
    app["spec"]["manifest"]["addons"] = addons
    app["spec"].update(spec)
    return app


def _runs(api: client.ApiClient, namespace: str) -> list[str]:
    """The names of the Jobs the CronJob controller made for the task."""
    jobs = client.BatchV1Api(api).list_namespaced_job(namespace).items
    return [
        job.metadata.name
        for job in jobs
        if any(ref.name == TASK for ref in job.metadata.owner_references or [])
    ]


def _pods(api: client.ApiClient, namespace: str, selector: str) -> list[Any]:
    return list(client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=selector).items)


def test_a_task_runs_on_schedule_beside_the_app_is_suspended_while_stopped_and_goes_with_the_manifest(
    api_client: client.ApiClient,
    cluster: LocalEnv,
    namespace: str,
    app_operator: OperatorProcess,
    data_volume: None,
) -> None:
    tasks = {"say_hello": {"schedule": "* * * * *", "command": "echo hello from $CLOUDRON_APP_DOMAIN"}}
    kubectl_apply(cluster.cluster, _with_tasks(namespace, tasks))
    wait_until(lambda: k8s.get(api_client, *CRONJOB, namespace, TASK) is not None, WAIT, "the task's CronJob")

    wait_until(
        lambda: bool(_runs(api_client, namespace)), FIRST_RUN_WAIT, "the CronJob controller's first run"
    )
    job = _runs(api_client, namespace)[0]

    def succeeded() -> bool:
        pods = _pods(api_client, namespace, f"job-name={job}")
        return bool(pods) and pods[0].status.phase == "Succeeded"

    wait_until(succeeded, WAIT, "the run's pod to complete on a kwok node")
    (pod,) = _pods(api_client, namespace, f"job-name={job}")
    app_pods = _pods(api_client, namespace, "app.kubernetes.io/component=app")
    assert pod.spec.node_name in {app_pod.spec.node_name for app_pod in app_pods}, "beside the app's pod"
    container = pod.spec.containers[0]
    assert container.command == ["/bin/sh", "-c", tasks["say_hello"]["command"]]
    env = {item.name: item.value for item in container.env}
    assert env["APP_DOMAIN"] == "znc.example.com"  # manifestVersion 1: the app's env, un-prefixed
    claims = {v.persistent_volume_claim.claim_name for v in pod.spec.volumes if v.persistent_volume_claim}
    assert claims == {"znc-data"}

    kubectl_apply(cluster.cluster, _with_tasks(namespace, tasks, running=False))
    wait_until(
        lambda: (k8s.get(api_client, *CRONJOB, namespace, TASK) or {}).get("spec", {}).get("suspend") is True,
        WAIT,
        "the CronJob suspended while the app is stopped",
    )

    kubectl_apply(cluster.cluster, _with_tasks(namespace, None, running=True))
    wait_until(lambda: k8s.get(api_client, *CRONJOB, namespace, TASK) is None, WAIT, "the CronJob gone")
    assert k8s.get(api_client, *APP, namespace, "znc") is not None
