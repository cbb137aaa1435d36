"""A Job's container run as a local process by the harness, its end reported on the pod as a kubelet
would: the real job controller then marks the Job Complete or Failed, and kwok leaves the pod as reported."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.harness.job_process import JobRun, run_job, wait_for_job_condition
from tests.integration.apps_support import pre_bound_volume

pytestmark = pytest.mark.integration

CLAIM = "app-data"
SECRET = "backup-credentials"
TOKEN = "s3cr3t-t0ken"
WAIT = 60.0
# kwok's stages act within a second of a change (its pod-complete stage made a Job's pod Succeeded
# within one): a status it would overwrite is overwritten by then.
KWOK_GRACE = 3.0

WRITER = """
import json, os, pathlib, sys
target = pathlib.Path(sys.argv[1])
target.parent.mkdir(parents=True, exist_ok=True)
target.write_text(os.environ["TOKEN"])
mounts = json.loads(os.environ["CLOUDRON_TEST_MOUNTS"])
seen = os.environ["S3_ACCESS_KEY"] + " " + os.environ["WORK"]
pathlib.Path(mounts["/app/data"], "seen.txt").write_text(seen)
pathlib.Path(os.environ["WORK"], "scratch").write_text("x")
print("backup written")
"""
FAILING = """
import sys
sys.stderr.write("backup failed: the bucket is gone\\n")
sys.exit(3)
"""


@pytest.fixture
def claim(api_client: client.ApiClient, namespace: str) -> Iterator[str]:
    """A claim bound to a pre-bound PersistentVolume (the local cluster has no provisioner)."""
    core = client.CoreV1Api(api_client)
    volume = pre_bound_volume(api_client, namespace, CLAIM)
    core.create_namespaced_persistent_volume_claim(
        namespace,
        {
            "metadata": {"name": CLAIM},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    yield CLAIM
    core.delete_persistent_volume(volume)


@pytest.fixture
def credentials(api_client: client.ApiClient, namespace: str) -> str:
    client.CoreV1Api(api_client).create_namespaced_secret(
        namespace,
        {"metadata": {"name": SECRET}, "stringData": {"token": TOKEN, "ACCESS_KEY": "AKIA-TEST"}},
    )
    return SECRET


def _job(name: str, script: str, *, args: list[str], backoff_limit: int) -> dict[str, Any]:
    """A Job of the backups' shape: the operator's command, env from a Secret, the app's claim mounted."""
    container = {
        "name": "backup",
        "image": "cloudron-operator:test",
        "command": ["python", "-c", script],
        "args": args,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "env": [
            {"name": "WORK", "value": "/scratch"},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": SECRET, "key": "token"}}},
        ],
        "envFrom": [{"secretRef": {"name": SECRET}, "prefix": "S3_"}],
        "volumeMounts": [
            {"name": "data", "mountPath": "/app/data", "subPath": "app"},
            {"name": "work", "mountPath": "/scratch"},
        ],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [container],
                    "volumes": [
                        {"name": "data", "persistentVolumeClaim": {"claimName": CLAIM}},
                        {"name": "work", "emptyDir": {}},
                    ],
                }
            },
        },
    }


def _run(api: client.ApiClient, namespace: str, job: dict[str, Any], claim_dir: Path, root: Path) -> JobRun:
    client.BatchV1Api(api).create_namespaced_job(namespace, job)
    return run_job(
        api,
        namespace,
        job["metadata"]["name"],
        programs={"python": [sys.executable]},
        claims={CLAIM: claim_dir},
        root=root,
        timeout=WAIT,
    )


def _settled_pod(api: client.ApiClient, namespace: str, name: str) -> Any:
    """The pod once kwok has had the time to act on it."""
    time.sleep(KWOK_GRACE)
    return client.CoreV1Api(api).read_namespaced_pod(name, namespace)


def test_a_job_that_exits_0_writes_to_its_claim_and_completes(
    api_client: client.ApiClient, namespace: str, claim: str, credentials: str, tmp_path: Path
) -> None:
    claim_dir = tmp_path / "claim"
    claim_dir.mkdir()
    root = tmp_path / "runs"
    job = _job("backup-ok", WRITER, args=["/app/data/backups/token.txt"], backoff_limit=2)

    run = _run(api_client, namespace, job, claim_dir, root)

    assert run.exit_code == 0, run.output
    assert run.output == "backup written\n"
    assert (claim_dir / "app" / "backups" / "token.txt").read_text() == TOKEN, (
        "the argument's mount path mapped"
    )
    access_key, work = (claim_dir / "app" / "seen.txt").read_text().split(" ")
    assert access_key == "AKIA-TEST", "envFrom with its prefix"
    assert Path(work).is_relative_to(root / run.pod_name) and (Path(work) / "scratch").exists(), "an emptyDir"

    wait_for_job_condition(api_client, namespace, "backup-ok", "Complete", WAIT)
    pod = _settled_pod(api_client, namespace, run.pod_name)
    assert pod.status.phase == "Succeeded"
    (status,) = pod.status.container_statuses
    terminated = status.state.terminated
    assert (terminated.exit_code, terminated.reason, terminated.message) == (0, "Completed", None)
    assert terminated.started_at <= terminated.finished_at
    assert not status.ready
    ready = {c.type: c.status for c in pod.status.conditions}
    assert ready["Ready"] == ready["ContainersReady"] == "False"
    job_status = client.BatchV1Api(api_client).read_namespaced_job(job["metadata"]["name"], namespace).status
    assert (job_status.succeeded, job_status.failed, job_status.active) == (1, None, None)


def test_a_job_that_exits_3_fails_with_its_output_as_the_message(
    api_client: client.ApiClient, namespace: str, claim: str, credentials: str, tmp_path: Path
) -> None:
    claim_dir = tmp_path / "claim"
    claim_dir.mkdir()
    job = _job("backup-fails", FAILING, args=[], backoff_limit=0)

    run = _run(api_client, namespace, job, claim_dir, tmp_path / "runs")

    assert run.exit_code == 3
    assert run.output == "backup failed: the bucket is gone\n"
    wait_for_job_condition(api_client, namespace, "backup-fails", "Failed", WAIT)
    pod = _settled_pod(api_client, namespace, run.pod_name)
    assert pod.status.phase == "Failed"
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (3, "Error")
    assert terminated.message == "backup failed: the bucket is gone\n", (
        "FallbackToLogsOnError: the output's tail"
    )
    conditions = (
        client.BatchV1Api(api_client).read_namespaced_job("backup-fails", namespace).status.conditions
    )
    (failed,) = [c for c in conditions if c.type == "Failed"]
    assert (failed.status, failed.reason) == ("True", "BackoffLimitExceeded")
