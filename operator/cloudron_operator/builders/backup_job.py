"""The Job that backs up or restores one app: the operator's image running `backup create|restore`.

The Job gets the app's own environment (its addon Secrets: the program logs in to the databases as
the app does), the app's volumes, the store's location and a copy of the store's credentials in
the app's namespace. A backup runs beside the running app, on its pod's node (a ReadWriteOnce
volume is mounted by one node only); a restore runs while the app is stopped, anywhere.
The program runs as root with only the capabilities it needs to read every file of the app and
to give restored files back their owners.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from cloudron_operator.builders.identity import (
    APP_LABEL,
    COMPONENT_LABEL,
    DATA_SUFFIX,
    DIRS_SUFFIX,
    AppIdentity,
    app_label_value,
    child_name,
    common_labels,
    workload_selector,
)
from cloudron_operator.builders.volumes import DATA_DIR

BACKUP_COMPONENT: Final = "backup"  # the label of backup and restore pods (the app's Redis lets them in)
PERSISTENT_MOUNT: Final = "/app/persistent"
SCRATCH: Final = "/tmp"  # noqa: S108 - an emptyDir of the Job's own
BACKUP_DEADLINE_SECONDS: Final = 6 * 3600
FINISHED_TTL_SECONDS: Final = 7 * 24 * 3600
# DAC_OVERRIDE already reads every file and searches every directory: DAC_READ_SEARCH would add
# nothing but would put the Job beyond Pod Security's baseline level (docs/reliability.md).
CAPABILITIES: Final = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID")
STORE_SECRET_KEYS: Final = {
    "CLOUDRON_BACKUP_ACCESS_KEY_ID": "accessKeyId",
    "CLOUDRON_BACKUP_SECRET_ACCESS_KEY": "secretAccessKey",
}
PASSWORD_KEY: Final = "password"  # noqa: S105 - a key name


@dataclass(frozen=True)
class StoreTarget:
    """Where in which store, without credentials: those are in `secret_name`, in the namespace."""

    endpoint: str
    bucket: str
    prefix: str
    region: str
    folder: str
    secret_name: str
    encrypted: bool


@dataclass(frozen=True)
class JobVolumes:
    data_claim: bool  # the manifest has localstorage
    dirs_claim: bool  # and persistentDirs
    sqlite_paths: tuple[str, ...] = ()  # under /app/data, from localstorage.sqlite


def job_labels(identity: AppIdentity) -> dict[str, str]:
    return {**common_labels(identity), COMPONENT_LABEL: BACKUP_COMPONENT}


def backup_client_labels(identity: AppIdentity) -> dict[str, str]:
    """What a backup or restore pod carries, for the app's Redis policy to let it in."""
    return {APP_LABEL: app_label_value(identity.name), COMPONENT_LABEL: BACKUP_COMPONENT}


def app_container_env(deployment: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The app container's env and envFrom (its addon Secrets among them) from its Deployment."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return copy.deepcopy(container.get("env", [])), copy.deepcopy(container.get("envFrom", []))


def backup_job(
    identity: AppIdentity,
    *,
    name: str,
    action: Literal["create", "restore"],
    owner: Mapping[str, Any],
    image: str,
    app_env: Sequence[Mapping[str, Any]],
    app_env_from: Sequence[Mapping[str, Any]],
    volumes: JobVolumes,
    store: StoreTarget,
    task_env: Mapping[str, str],
    addons: Sequence[str],
    beside_app: bool,
) -> dict[str, Any]:
    """The Job; `owner` is its controller (the CloudronBackup, or the app for a restore),
    `task_env` the CLOUDRON_BACKUP_* values of the action (record, app uid, clone)."""
    directories: dict[str, str] = {}
    pod_volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": SCRATCH}]
    if volumes.data_claim:
        pod_volumes.append(
            {"name": "data", "persistentVolumeClaim": {"claimName": child_name(identity.name, DATA_SUFFIX)}}
        )
        mounts.append({"name": "data", "mountPath": DATA_DIR})
        directories["data"] = DATA_DIR
    if volumes.dirs_claim:
        claim = {"claimName": child_name(identity.name, DIRS_SUFFIX)}
        pod_volumes.append({"name": "persistent", "persistentVolumeClaim": claim})
        mounts.append({"name": "persistent", "mountPath": PERSISTENT_MOUNT})
        directories["persistent"] = PERSISTENT_MOUNT
    env: list[dict[str, Any]] = [dict(entry) for entry in app_env]
    plain = {
        "CLOUDRON_BACKUP_ENDPOINT": store.endpoint,
        "CLOUDRON_BACKUP_BUCKET": store.bucket,
        "CLOUDRON_BACKUP_PREFIX": store.prefix,
        "CLOUDRON_BACKUP_REGION": store.region,
        "CLOUDRON_BACKUP_FOLDER": store.folder,
        **{f"CLOUDRON_BACKUP_DIR_{folder.upper()}": path for folder, path in directories.items()},
        "CLOUDRON_BACKUP_SQLITE_PATHS": json.dumps(list(volumes.sqlite_paths)),
        "CLOUDRON_BACKUP_ADDONS": json.dumps(list(addons)),
        "TMPDIR": SCRATCH,
        **task_env,
    }
    env += [{"name": key, "value": value} for key, value in plain.items()]
    keys = dict(STORE_SECRET_KEYS)
    if store.encrypted:
        keys["CLOUDRON_BACKUP_PASSWORD"] = PASSWORD_KEY
    env += [
        {"name": variable, "valueFrom": {"secretKeyRef": {"name": store.secret_name, "key": key}}}
        for variable, key in keys.items()
    ]
    container: dict[str, Any] = {
        "name": BACKUP_COMPONENT,
        "image": image,
        "command": ["python", "-m", "cloudron_operator", "backup", action],
        "env": env,
        "volumeMounts": mounts,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": {
            "runAsUser": 0,
            "runAsNonRoot": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"], "add": list(CAPABILITIES)},
        },
    }
    if app_env_from:
        container["envFrom"] = [dict(entry) for entry in app_env_from]
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "containers": [container],
        "volumes": pod_volumes,
    }
    if beside_app and volumes.data_claim:
        term = {
            "labelSelector": {"matchLabels": workload_selector(identity)},
            "topologyKey": "kubernetes.io/hostname",
        }
        pod["affinity"] = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    labels = job_labels(identity)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": identity.namespace,
            "labels": labels,
            "ownerReferences": [{**owner, "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": {
            "backoffLimit": 2,
            "activeDeadlineSeconds": BACKUP_DEADLINE_SECONDS,
            "ttlSecondsAfterFinished": FINISHED_TTL_SECONDS,
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


def store_credentials_secret(
    namespace: str,
    name: str,
    *,
    owner: Mapping[str, Any],
    access_key_id: str,
    secret_access_key: str,
    password: str | None,
) -> dict[str, Any]:
    """The store's credentials where the Job can read them: a Secret in the app's namespace, owned by
    the (cluster-scoped) BackupStore, so it goes with the store."""
    data = {"accessKeyId": access_key_id, "secretAccessKey": secret_access_key}
    if password is not None:
        data[PASSWORD_KEY] = password
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "cloudron-operator",
                COMPONENT_LABEL: BACKUP_COMPONENT,
            },
            "ownerReferences": [{**owner, "blockOwnerDeletion": False}],
        },
        "type": "Opaque",
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }
