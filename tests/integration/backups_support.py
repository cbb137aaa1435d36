"""Helpers of the operator's backup tests: a BackupStore in front of the session's S3 server, the
backup and restore Jobs run as a kubelet would (tests/harness/job_process.py), an app's data."""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kubernetes import client

from cloudron_operator.k8s import api as k8s
from tests.harness.job_process import JobRun, run_job
from tests.harness.processes import wait_until
from tests.harness.s3 import S3Server
from tests.integration.addon_support import secret_data

STORE = ("cloudron.io/v1alpha1", "BackupStore")
BACKUP = ("cloudron.io/v1alpha1", "CloudronBackup")
WAIT = 90.0


@contextmanager
def backup_store(
    api: client.ApiClient,
    namespace: str,
    name: str,
    s3: S3Server,
    bucket: str,
    *,
    password: str | None = None,
    secret_key: str | None = None,
) -> Iterator[dict[str, Any]]:
    """A BackupStore (cluster-scoped) whose credentials (and password) are Secrets in `namespace`."""
    k8s.create(
        api,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{name}-s3", "namespace": namespace},
            "stringData": {"accessKeyId": s3.access_key, "secretAccessKey": secret_key or s3.secret_key},
        },
    )
    spec: dict[str, Any] = {
        "s3": {
            "endpoint": s3.endpoint,
            "bucket": bucket,
            "prefix": "cluster-a/",
            "credentialsSecretRef": {"name": f"{name}-s3", "namespace": namespace},
        }
    }
    if password is not None:
        k8s.create(
            api,
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": f"{name}-key", "namespace": namespace},
                "stringData": {"password": password},
            },
        )
        spec["encryption"] = {"passwordSecretRef": {"name": f"{name}-key", "namespace": namespace}}
    store = k8s.create(
        api, {"apiVersion": STORE[0], "kind": STORE[1], "metadata": {"name": name}, "spec": spec}
    )
    try:
        yield store
    finally:
        k8s.delete(api, *STORE, None, name)


def store_ready(api: client.ApiClient, name: str) -> bool:
    return ready(k8s.get(api, *STORE, None, name)).get("status") == "True"


def ready(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    conditions = ((obj or {}).get("status") or {}).get("conditions", [])
    return next((c for c in conditions if c["type"] == "Ready"), {})


def get_backup(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    backup = k8s.get(api, *BACKUP, namespace, name)
    assert backup is not None, f"CloudronBackup {name}"
    return backup


def make_backup(api: client.ApiClient, namespace: str, name: str, app: str, **spec: str) -> dict[str, Any]:
    return k8s.create(
        api,
        {
            "apiVersion": BACKUP[0],
            "kind": BACKUP[1],
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"app": app, **spec},
        },
    )


def wait_for_phase(api: client.ApiClient, namespace: str, name: str, phase: str) -> dict[str, Any]:
    wait_until(
        lambda: (get_backup(api, namespace, name).get("status") or {}).get("phase") == phase,
        WAIT,
        f"backup {name} to be {phase}",
    )
    return get_backup(api, namespace, name)


def redis_env(port: int) -> dict[str, str]:
    """The app's Redis on loopback: there is no pod network, so the Job's process is pointed there."""
    return {"CLOUDRON_REDIS_HOST": "127.0.0.1", "CLOUDRON_REDIS_PORT": str(port)}


def redis_password(api: client.ApiClient, namespace: str, app: str) -> str:
    return secret_data(api, namespace, f"{app}-redis")["CLOUDRON_REDIS_PASSWORD"]


def clone_of(name: str, namespace: str, backup: str, addon_names: Mapping[str, str]) -> dict[str, Any]:
    """A new CloudronApp restoring another app's backup: neither image nor manifest, its own addons."""
    return {
        "apiVersion": "cloudron.io/v1alpha1",
        "kind": "CloudronApp",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "domain": f"{name}.example.com",
            "restoreFrom": {"backup": backup},
            "addons": {addon_type: {"addonRef": addon} for addon_type, addon in addon_names.items()},
        },
    }


def restore_status(api: client.ApiClient, namespace: str, app: str) -> dict[str, Any]:
    found = k8s.get(api, "cloudron.io/v1alpha1", "CloudronApp", namespace, app) or {}
    return dict((found.get("status") or {}).get("restore") or {})


def wait_for_restore_job(api: client.ApiClient, namespace: str, app: str) -> str:
    wait_until(lambda: bool(restore_status(api, namespace, app).get("job")), WAIT, f"a restore Job of {app}")
    return str(restore_status(api, namespace, app)["job"])


def run_restore(
    api: client.ApiClient,
    namespace: str,
    app: str,
    *,
    claims: Mapping[str, Path],
    root: Path,
    redis_port: int,
) -> None:
    """Wait for the app's restore Job, run it, and wait for the restore to be recorded Succeeded."""
    job = wait_for_restore_job(api, namespace, app)
    run = run_backup_program(api, namespace, job, claims=claims, root=root, env=redis_env(redis_port))
    assert run.exit_code == 0, run.output
    wait_until(
        lambda: restore_status(api, namespace, app).get("phase") == "Succeeded", WAIT, f"the restore of {app}"
    )


def complete_backup(
    api: client.ApiClient,
    namespace: str,
    name: str,
    *,
    claims: Mapping[str, Path],
    root: Path,
    env: Mapping[str, str],
) -> dict[str, Any]:
    """Run the backup's Job (`<name>-backup`) and wait for the operator to record it Succeeded."""
    run = run_backup_program(api, namespace, f"{name}-backup", claims=claims, root=root, env=env)
    assert run.exit_code == 0, run.output
    return wait_for_phase(api, namespace, name, "Succeeded")


def run_backup_program(
    api: client.ApiClient,
    namespace: str,
    job: str,
    *,
    claims: Mapping[str, Path],
    root: Path,
    env: Mapping[str, str],
) -> JobRun:
    """The Job's container (the operator's own `python -m cloudron_operator backup ...`) run here."""
    return run_job(
        api, namespace, job, programs={"python": [sys.executable]}, claims=claims, root=root, env=dict(env)
    )


def decoded(secret: Mapping[str, Any]) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}
