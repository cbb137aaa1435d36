"""spec.restoreFrom: an app brought back to a backup, or a new app cloned from another's.

Three steps, each recorded in status.restore (written by its own field manager, so the pass's
status never drops it):
1. `prepare`: before the pass builds anything, the backup's index is read from its store; its
   image and manifest become the app's package (`backup.package`), phase Pending.
2. The pass provisions the addons as usual (a clone gets databases and passwords of its own) and
   keeps the workload at zero replicas; once no app pod runs, `advance` starts the restore Job,
   phase Running. The Job checks the whole backup before it changes anything.
3. The Job's end: Succeeded (the workload starts on the restored data) or Failed with the Job's
   reason (the data is as it was; the app runs its spec's own package again).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import kopf
from kubernetes import client

from cloudron_operator.addons.plan import provisioned_addons
from cloudron_operator.addons.registry import AddonBackends
from cloudron_operator.backup.access import StoreProblem, ensure_namespace_secret, read_store, store_access
from cloudron_operator.backup.index import INDEX_NAME, BackupIndex, IndexError_
from cloudron_operator.backup.package import held_for_restore, restore_record, wanted_restore
from cloudron_operator.backup.store import S3Store, StoreError
from cloudron_operator.builders.backup_job import app_container_env, backup_job
from cloudron_operator.builders.identity import AppIdentity, child_name, owner_reference, workload_selector
from cloudron_operator.k8s import api as k8s
from cloudron_operator.manifest import Manifest
from cloudron_operator.models import API_VERSION, CloudronAppSpec
from cloudron_operator.models.conditions import Reason
from cloudron_operator.reconcile.backups import (
    DUMPED_ADDONS,
    apply_app_status,
    job_volumes,
    short_name,
    termination_message,
)
from cloudron_operator.reconcile.errors import InvalidApp

RESTORE_MANAGER: Final = "cloudron-operator-restore"
RESTORE_POLL_SECONDS: Final = 5.0  # how often a pass looks at a restore in progress


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write(
    api: client.ApiClient, body: Mapping[str, Any], record: Mapping[str, Any] | None
) -> dict[str, Any]:
    """status.restore as `record` (None removes it); the app with that status, for the rest of the pass."""
    status = {"restore": dict(record)} if record is not None else {}
    apply_app_status(api, body["metadata"], status, field_manager=RESTORE_MANAGER)
    updated = copy.deepcopy(dict(body))
    updated.setdefault("status", {})
    if record is None:
        updated["status"].pop("restore", None)
    else:
        updated["status"]["restore"] = dict(record)
    return updated


def prepare(api: client.ApiClient, body: kopf.Body) -> kopf.Body:
    """Record the restore wanted (spec.restoreFrom's, or an update's rollback), with the backup's
    package; the app as it is then."""
    wanted = wanted_restore(body)
    current = (body.get("status") or {}).get("restore")
    if not wanted:
        return kopf.Body(_write(api, body, None)) if current else body  # type: ignore[arg-type]
    # kopf's copy may be a watch event behind: a restore recorded since must not be started again.
    stored = k8s.get(api, API_VERSION, "CloudronApp", body.meta["namespace"], body.meta["name"]) or {}
    current = (stored.get("status") or {}).get("restore")
    if current and current.get("backup") == wanted:
        fresh = copy.deepcopy(dict(body))
        fresh.setdefault("status", {})["restore"] = current
        return kopf.Body(fresh)  # type: ignore[arg-type]
    if current and current.get("phase") == "Running" and current.get("job"):
        # Another backup is asked for while one is being restored: its Job must not go on beside the new one.
        k8s.delete(api, "batch/v1", "Job", body.meta["namespace"], current["job"])
    namespace = body.meta["namespace"]
    backup = k8s.get(api, API_VERSION, "CloudronBackup", namespace, wanted)
    if backup is None:
        raise InvalidApp(
            Reason.BACKUP_NOT_FOUND, f"spec.restoreFrom: there is no CloudronBackup {wanted} in {namespace}"
        )
    status = backup.get("status") or {}
    if status.get("phase") != "Succeeded":
        message = f"spec.restoreFrom: backup {wanted} is not complete yet"
        raise InvalidApp(Reason.BACKUP_NOT_READY, message, retry_after=RESTORE_POLL_SECONDS)
    index = _index(api, status, wanted)
    clone = index.app.uid != body.meta["uid"]
    if clone and _has_run(body):
        raise InvalidApp(
            Reason.RESTORE_REFUSED,
            f"spec.restoreFrom: backup {wanted} is of another app ({index.app.namespace}/{index.app.name}); "
            "only a new app can be its clone: create a new CloudronApp with this restoreFrom",
        )
    record = {
        "backup": wanted,
        "backupUid": backup["metadata"]["uid"],
        "clone": clone,
        "phase": "Pending",
        "image": index.app.image,
        "manifest": index.app.manifest,
        "startedAt": _now(),
    }
    kopf.info(
        body,
        reason=Reason.RESTORE_PENDING,
        message=f"restoring backup {wanted} (version {index.app.version})",
    )
    return kopf.Body(_write(api, body, record))  # type: ignore[arg-type]


def _has_run(body: Mapping[str, Any]) -> bool:
    """The app ran a package of its own already: its data is not a clone's to overwrite."""
    status = body.get("status") or {}
    return bool(status.get("version")) or bool((status.get("restore") or {}).get("phase") == "Succeeded")


def _index(api: client.ApiClient, backup_status: Mapping[str, Any], name: str) -> BackupIndex:
    try:
        access = store_access(api, read_store(api, backup_status.get("store", "")))
        data = S3Store(access.location).read(str(backup_status.get("location", "")) + INDEX_NAME)
    except StoreProblem as problem:
        raise InvalidApp(problem.reason, f"spec.restoreFrom: {problem.message}") from problem
    except StoreError as error:
        raise InvalidApp(
            Reason.STORE_UNREACHABLE,
            f"spec.restoreFrom: cannot read backup {name}: {error}",
            retry_after=RESTORE_POLL_SECONDS,
        ) from error
    if data is None:
        raise InvalidApp(
            Reason.BACKUP_NOT_FOUND, f"spec.restoreFrom: the store has no backup {name} any more"
        )
    try:
        return BackupIndex.from_json(data)
    except IndexError_ as error:
        raise InvalidApp(Reason.RESTORE_REFUSED, f"spec.restoreFrom: {error}") from error


def hold_workload(
    body: Mapping[str, Any], identity: AppIdentity, desired: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The desired children with the app's workload at zero and its tasks suspended, while held."""
    if not held_for_restore(body):
        return desired
    held = copy.deepcopy(desired)
    for obj in held:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == child_name(identity.name):
            obj["spec"]["replicas"] = 0
        elif obj["kind"] == "CronJob":
            obj["spec"]["suspend"] = True
    return held


def advance(
    api: client.ApiClient,
    body: kopf.Body,
    *,
    identity: AppIdentity,
    spec: CloudronAppSpec,
    manifest: Manifest,
    deployment: Mapping[str, Any],
    backends: AddonBackends,
    image: str,
) -> kopf.Body | None:
    """Start the restore Job once the workload is down, and record how it ends: the app then (None
    while the restore goes on)."""
    record = restore_record(body)
    if record is None or record.get("phase") not in ("Pending", "Running"):
        return None
    job_name = short_name(
        identity.name,
        "-restore-" + hashlib.sha256(f"{record['backupUid']}/{record['startedAt']}".encode()).hexdigest()[:6],
    )
    job = k8s.get(api, "batch/v1", "Job", identity.namespace, job_name)
    if job is None:
        if _workload_down(api, identity):  # else the next look starts it
            _start(
                api,
                body,
                record,
                identity=identity,
                spec=spec,
                manifest=manifest,
                deployment=deployment,
                backends=backends,
                image=image,
                job_name=job_name,
            )
        return None
    conditions = {c["type"]: c.get("status") for c in (job.get("status") or {}).get("conditions", [])}
    if conditions.get("Complete") == "True":
        ended = _write(api, body, {**record, "phase": "Succeeded", "job": job_name, "completedAt": _now()})
        kopf.info(body, reason=Reason.RESTORED, message=f"restored from backup {record['backup']}")
        return kopf.Body(ended)  # type: ignore[arg-type]
    if conditions.get("Failed") == "True":
        message = termination_message(api, identity.namespace, job_name)
        failed = {**record, "phase": "Failed", "job": job_name, "completedAt": _now(), "message": message}
        ended = _write(api, body, failed)
        why = f"the restore from backup {record['backup']} failed: {message}"
        kopf.warn(body, reason=Reason.RESTORE_FAILED, message=why)
        return kopf.Body(ended)  # type: ignore[arg-type]
    if record.get("phase") != "Running":
        _write(api, body, {**record, "phase": "Running", "job": job_name})
    return None


def _workload_down(api: client.ApiClient, identity: AppIdentity) -> bool:
    selector = ",".join(f"{key}={value}" for key, value in workload_selector(identity).items())
    return not k8s.list_objects(api, "v1", "Pod", identity.namespace, selector)


def _start(
    api: client.ApiClient,
    body: Mapping[str, Any],
    record: Mapping[str, Any],
    *,
    identity: AppIdentity,
    spec: CloudronAppSpec,
    manifest: Manifest,
    deployment: Mapping[str, Any],
    backends: AddonBackends,
    image: str,
    job_name: str,
) -> None:
    backup = k8s.get(api, API_VERSION, "CloudronBackup", identity.namespace, record["backup"])
    if backup is None:
        _write(api, body, {**record, "phase": "Failed", "message": f"backup {record['backup']} is gone"})
        return
    status = backup["status"]
    try:
        access = store_access(api, read_store(api, status["store"]))
    except StoreProblem as problem:
        _write(api, body, {**record, "phase": "Failed", "message": problem.message})
        return
    ensure_namespace_secret(api, access, identity.namespace)
    addons = [a.value for a in provisioned_addons(manifest, spec, backends.types) if a.value in DUMPED_ADDONS]
    env, env_from = app_container_env(deployment)
    job = backup_job(
        identity,
        name=job_name,
        action="restore",
        owner={
            key: value
            for key, value in owner_reference(identity).items()
            if key in ("apiVersion", "kind", "name", "uid")
        },
        image=image,
        app_env=env,
        app_env_from=env_from,
        volumes=job_volumes(manifest),
        store=access.target(status["location"]),
        task_env={
            "CLOUDRON_BACKUP_APP_UID": identity.uid,
            "CLOUDRON_BACKUP_CLONE": json.dumps(bool(record.get("clone"))),
        },
        addons=addons,
        beside_app=False,
    )
    k8s.apply(api, job)
    _write(api, body, {**record, "phase": "Running", "job": job_name})
