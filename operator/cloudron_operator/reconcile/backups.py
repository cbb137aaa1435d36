"""Backups as the operator drives them: a store's check and import, a backup's Job and its result,
retention, the stored data's deletion, and the app's schedule.

The operator never reads an app's data: it writes Jobs, reads their end, and reads or deletes
objects of the store (indexes; whole backup folders on deletion).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from kubernetes import client

from cloudron_operator.addons.plan import provisioned_addons
from cloudron_operator.addons.registry import AddonBackends
from cloudron_operator.backup.access import (
    StoreAccess,
    StoreProblem,
    ensure_namespace_secret,
    read_store,
    store_access,
)
from cloudron_operator.backup.index import INDEX_NAME, BackupIndex, IndexError_, backup_folder
from cloudron_operator.backup.package import running_package
from cloudron_operator.backup.retention import BackupEntry, Retention, to_prune
from cloudron_operator.backup.store import S3Store, StoreError
from cloudron_operator.builders.backup_job import JobVolumes, app_container_env, backup_job
from cloudron_operator.builders.identity import AppIdentity, app_label_value, child_name
from cloudron_operator.builders.volumes import nested_out
from cloudron_operator.k8s import api as k8s
from cloudron_operator.manifest import Manifest
from cloudron_operator.manifest.cron import latest_due
from cloudron_operator.models import API_VERSION
from cloudron_operator.models.backup import IMPORT_ANNOTATION, RETAIN_ANNOTATION
from cloudron_operator.models.conditions import Reason
from cloudron_operator.reconcile.errors import InvalidApp
from cloudron_operator.reconcile.parse import parse
from cloudron_operator.status import FALSE, TRUE, UNKNOWN, ConditionUpdate, merge_conditions, status_patch

DUMPED_ADDONS: Final = ("postgresql", "mysql", "redis")  # the database addons a backup dumps
IMPORTED_ANNOTATION: Final = "cloudron.io/imported-from"
APP_LABEL: Final = "cloudron.io/backup-of"
SCHEDULE_MANAGER: Final = "cloudron-operator-schedule"


@dataclass(frozen=True)
class Outcome:
    """What happened, for an Event: Normal or Warning, a reason, a message."""

    warning: bool
    reason: str
    message: str


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def short_name(base: str, suffix: str, limit: int = 63) -> str:
    """`base + suffix` within `limit` characters (a Job's name is a label value too)."""
    if len(base) + len(suffix) <= limit:
        return base + suffix
    digest = hashlib.sha256(base.encode()).hexdigest()[:8]
    return f"{base[: limit - len(suffix) - 9].rstrip('-.')}-{digest}{suffix}"


def write_status(
    api: client.ApiClient, obj: Mapping[str, Any], fields: Mapping[str, Any], ready: ConditionUpdate
) -> None:
    """Merge `fields` and the Ready condition into the object's status; nothing is written if equal."""
    current = obj.get("status") or {}
    desired = {**current, **fields}
    generation = obj["metadata"].get("generation", 1)
    desired["conditions"] = merge_conditions(
        current.get("conditions", []), [ready], generation, datetime.now(UTC)
    )
    if not status_patch(current, desired):
        return
    meta = obj["metadata"]
    target = {"name": meta["name"], **({"namespace": meta["namespace"]} if meta.get("namespace") else {})}
    body = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": target, "status": desired}
    k8s.apply(api, body, subresource="status")


def current_ready(obj: Mapping[str, Any]) -> ConditionUpdate:
    for condition in (obj.get("status") or {}).get("conditions", []):
        if condition.get("type") == "Ready":
            return ConditionUpdate("Ready", condition["status"], condition["reason"], condition["message"])
    return ConditionUpdate("Ready", UNKNOWN, Reason.PENDING, "not checked yet")


# BackupStore


def check_store(api: client.ApiClient, store: Mapping[str, Any]) -> Outcome | None:
    """Probe the store (write, read, delete an object under its prefix) and say so in its status."""
    try:
        access = store_access(api, store)
        S3Store(access.location).probe()
    except StoreProblem as problem:
        ready = ConditionUpdate("Ready", FALSE, problem.reason, problem.message)
    except StoreError as error:
        message = f"cannot write to s3://{store['spec']['s3']['bucket']}: {error}"
        ready = ConditionUpdate("Ready", FALSE, Reason.STORE_UNREACHABLE, message)
    else:
        ready = ConditionUpdate("Ready", TRUE, Reason.STORE_REACHABLE, "the operator can write to the store")
    before = {c.get("type"): c for c in (store.get("status") or {}).get("conditions", [])}.get("Ready", {})
    write_status(api, store, {"observedGeneration": store["metadata"].get("generation")}, ready)
    if before.get("status") != ready.status or before.get("reason") != ready.reason:
        return Outcome(ready.status != TRUE, ready.reason, ready.message)
    return None


def import_requested(store: Mapping[str, Any]) -> str | None:
    """The import annotation's value, if the store's status has not answered it yet."""
    wanted = (store["metadata"].get("annotations") or {}).get(IMPORT_ANNOTATION)
    answered = ((store.get("status") or {}).get("lastImport") or {}).get("request")
    return wanted if wanted and wanted != answered else None


def import_backups(api: client.ApiClient, store: Mapping[str, Any], request: str) -> Outcome:
    """Make a CloudronBackup for each complete backup in the store that the cluster does not list.

    They keep their names and namespaces, and are marked retained: deleting one here does not delete
    what another cluster may still list.
    """
    access = store_access(api, store)
    bucket = S3Store(access.location)
    found = created = 0
    problems: list[str] = []
    for name in sorted(bucket.names()):
        if not name.endswith("/" + INDEX_NAME):
            continue
        data = bucket.read(name)
        if data is None:
            continue
        try:
            index = BackupIndex.from_json(data)
        except IndexError_ as error:
            problems.append(f"{name}: {error}")
            continue
        found += 1
        namespace, backup = index.backup.namespace, index.backup.name
        if k8s.get(api, API_VERSION, "CloudronBackup", namespace, backup) is not None:
            continue
        imported = {
            "apiVersion": API_VERSION,
            "kind": "CloudronBackup",
            "metadata": {
                "name": backup,
                "namespace": namespace,
                "labels": {APP_LABEL: app_label_value(index.app.name)},
                "annotations": {IMPORTED_ANNOTATION: access.name, RETAIN_ANNOTATION: "true"},
            },
            "spec": {"app": index.app.name, "store": access.name, "reason": index.backup.reason},
        }
        try:
            k8s.create(api, imported)
        except k8s.ApiError as error:
            if error.status not in (403, 404, 409):  # no such namespace, not served, made meanwhile
                raise
            problems.append(f"{namespace}/{backup}: {error.message}")
            continue
        created += 1
    message = "; ".join(problems[:10]) or None
    result = {
        "request": request,
        "found": found,
        "created": created,
        **({"message": message} if message else {}),
    }
    ready = current_ready(store)
    write_status(api, store, {"lastImport": result}, ready)
    summary = f"imported {created} of the {found} backups in the store" + (
        f"; not imported: {message}" if message else ""
    )
    return Outcome(bool(problems), Reason.BACKUPS_IMPORTED, summary)


# CloudronBackup


def _phase_fields(phase: str, **fields: Any) -> dict[str, Any]:
    return {"phase": phase, **{key: value for key, value in fields.items() if value is not None}}


class _Waiting(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def advance_backup(
    api: client.ApiClient, backup: Mapping[str, Any], *, image: str, backends: AddonBackends
) -> Outcome | None:
    """One step of a backup: start its Job, follow it, record the result from the store's index.

    Idempotent: the Job's name and the folder are the backup's, and a backup whose index is in the
    store is complete whatever happened to its Job (the operator restarted, or it was imported).
    """
    if (backup.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return None
    try:
        return _advance(api, backup, image=image, backends=backends)
    except _Waiting as waiting:
        pending = ConditionUpdate("Ready", FALSE, waiting.reason, waiting.message)
        write_status(api, backup, _phase_fields("Pending"), pending)
        return None


def _advance(
    api: client.ApiClient, backup: Mapping[str, Any], *, image: str, backends: AddonBackends
) -> Outcome | None:
    meta, spec, status = backup["metadata"], backup["spec"], backup.get("status") or {}
    namespace, name = meta["namespace"], meta["name"]
    app = k8s.get(api, API_VERSION, "CloudronApp", namespace, spec["app"])
    store_name = spec.get("store") or ((app or {}).get("spec", {}).get("backup") or {}).get("store")
    if not store_name:
        raise _Waiting(Reason.STORE_NOT_FOUND, "no store: set spec.store, or spec.backup.store on the app")
    try:
        access = store_access(api, read_store(api, store_name))
    except StoreProblem as problem:
        raise _Waiting(problem.reason, problem.message) from problem
    folder = status.get("location") or backup_folder(namespace, spec["app"], name)
    try:
        index_data = S3Store(access.location).read(folder + INDEX_NAME)
    except StoreError as error:
        raise _Waiting(Reason.STORE_UNREACHABLE, f"cannot read the store {store_name}: {error}") from error
    if index_data is not None:
        return _complete(api, backup, access, folder, index_data)
    if app is None:
        raise _Waiting(Reason.APP_NOT_FOUND, f"there is no CloudronApp {spec['app']} in {namespace}")
    job_name = short_name(name, "-backup")
    job = k8s.get(api, "batch/v1", "Job", namespace, job_name)
    if job is None:
        return _start(
            api,
            backup,
            app=app,
            access=access,
            folder=folder,
            job_name=job_name,
            image=image,
            backends=backends,
        )
    conditions = {c["type"]: c.get("status") for c in (job.get("status") or {}).get("conditions", [])}
    if conditions.get("Failed") == "True":
        message = f"Job {job_name} failed: {termination_message(api, namespace, job_name)}"
    elif conditions.get("Complete") == "True":
        message = f"Job {job_name} completed, but the store has no index at {folder}"
    else:
        running = ConditionUpdate(
            "Ready", FALSE, Reason.BACKUP_RUNNING, f"Job {job_name} is backing up the app"
        )
        write_status(api, backup, _phase_fields("Running"), running)
        return None
    return _failed(api, backup, message)


def _start(
    api: client.ApiClient,
    backup: Mapping[str, Any],
    *,
    app: Mapping[str, Any],
    access: StoreAccess,
    folder: str,
    job_name: str,
    image: str,
    backends: AddonBackends,
) -> Outcome | None:
    meta, spec = backup["metadata"], backup["spec"]
    namespace = meta["namespace"]
    identity = AppIdentity(app["metadata"]["name"], namespace, app["metadata"]["uid"])
    deployment = k8s.get(api, "apps/v1", "Deployment", namespace, child_name(identity.name))
    try:
        app_spec, manifest = parse(app)
    except InvalidApp as invalid:
        message = f"the app cannot be backed up: {invalid}"
        write_status(
            api,
            backup,
            _phase_fields("Pending"),
            ConditionUpdate("Ready", FALSE, Reason.BACKUP_PENDING, message),
        )
        return None
    if deployment is None:
        message = "waiting for the app's Deployment"
        write_status(
            api,
            backup,
            _phase_fields("Pending"),
            ConditionUpdate("Ready", FALSE, Reason.BACKUP_PENDING, message),
        )
        return None
    addons = [
        a.value for a in provisioned_addons(manifest, app_spec, backends.types) if a.value in DUMPED_ADDONS
    ]
    env, env_from = app_container_env(deployment)
    package = running_package(app)
    record = {
        "backup": {
            "name": meta["name"],
            "namespace": namespace,
            "uid": meta["uid"],
            "reason": spec.get("reason", "manual"),
        },
        "app": {
            "name": identity.name,
            "namespace": namespace,
            "uid": identity.uid,
            "version": str(manifest.version),
            "image": app_spec.package_image,
            "manifest": app_spec.package_manifest,
            "spec": recorded_spec(package),
        },
    }
    secret = ensure_namespace_secret(api, access, namespace)
    target = access.target(folder)
    assert target.secret_name == secret
    job = backup_job(
        identity,
        name=job_name,
        action="create",
        owner={"apiVersion": API_VERSION, "kind": "CloudronBackup", "name": meta["name"], "uid": meta["uid"]},
        image=image,
        app_env=env,
        app_env_from=env_from,
        volumes=job_volumes(manifest),
        store=target,
        task_env={"CLOUDRON_BACKUP_RECORD": json.dumps(record, sort_keys=True)},
        addons=addons,
        beside_app=bool(package.get("running", True)),
    )
    k8s.apply(api, job)
    fields = _phase_fields("Running", store=access.name, location=folder, job=job_name, startedAt=_now())
    fields |= {
        "appUid": identity.uid,
        "appVersion": str(manifest.version),
        "encrypted": access.password is not None,
    }
    write_status(
        api, backup, fields, ConditionUpdate("Ready", FALSE, Reason.BACKUP_RUNNING, f"Job {job_name} started")
    )
    return Outcome(
        False, Reason.BACKUP_RUNNING, f"Job {job_name} backs up app {identity.name} to {access.name}"
    )


def recorded_spec(package: Mapping[str, Any]) -> dict[str, Any]:
    """The spec a backup describes its app with: not how to restore it, not spec.env's values (they
    may be secrets, and the index is plain JSON even in an encrypted backup): their names only."""
    spec = {key: value for key, value in package.items() if key not in ("restoreFrom", "running")}
    if spec.get("env"):
        spec["env"] = dict.fromkeys(spec["env"], "")
    return spec


def job_volumes(manifest: Manifest) -> JobVolumes:
    localstorage = manifest.addons.localstorage
    sqlite = localstorage.sqlite.paths if localstorage is not None and localstorage.sqlite is not None else []
    return JobVolumes(
        data_claim=localstorage is not None,
        dirs_claim=bool(nested_out(manifest.persistent_dirs)),
        sqlite_paths=tuple(path.removeprefix("/app/data/").lstrip("/") for path in sqlite),
    )


def _complete(
    api: client.ApiClient, backup: Mapping[str, Any], access: StoreAccess, folder: str, index_data: bytes
) -> Outcome:
    meta = backup["metadata"]
    try:
        index = BackupIndex.from_json(index_data)
    except IndexError_ as error:
        message = f"the store's index at {folder} is not readable: {error}"
        return _failed(api, backup, message)
    imported = IMPORTED_ANNOTATION in (meta.get("annotations") or {})
    if index.backup.uid != meta["uid"] and not imported:
        message = f"the store already holds another backup at {folder}: give this backup another name"
        return _failed(api, backup, message)
    fields = _phase_fields(
        "Succeeded",
        store=access.name,
        location=folder,
        size=index.size,
        appUid=index.app.uid,
        appVersion=index.app.version,
        contents=index.contents,
        encrypted=index.encryption is not None,
        startedAt=index.backup.started_at,
        completedAt=index.backup.completed_at,
    )
    message = f"{index.size} bytes in {access.name}: {', '.join(index.contents)}"
    write_status(api, backup, fields, ConditionUpdate("Ready", TRUE, Reason.BACKUP_SUCCEEDED, message))
    return Outcome(False, Reason.BACKUP_SUCCEEDED, f"backup complete: {message}")


def _failed(api: client.ApiClient, backup: Mapping[str, Any], message: str) -> Outcome:
    failed = ConditionUpdate("Ready", FALSE, Reason.BACKUP_FAILED, message)
    write_status(api, backup, _phase_fields("Failed", completedAt=_now()), failed)
    return Outcome(True, Reason.BACKUP_FAILED, message)


def termination_message(api: client.ApiClient, namespace: str, job_name: str) -> str:
    """What the Job's last pod said as it ended (its termination message, or its last log lines)."""
    pods = k8s.list_objects(api, "v1", "Pod", namespace, f"batch.kubernetes.io/job-name={job_name}")
    pods.sort(key=lambda pod: pod["metadata"].get("creationTimestamp", ""), reverse=True)
    for pod in pods:
        for container in (pod.get("status") or {}).get("containerStatuses", []):
            terminated = (container.get("state") or {}).get("terminated") or {}
            if terminated:
                text = (terminated.get("message") or "").strip().splitlines()
                return text[-1] if text else f"exit status {terminated.get('exitCode')}"
    return "no pod reported why"


def delete_stored(api: client.ApiClient, backup: Mapping[str, Any]) -> Outcome | None:
    """The backup's folder in its store, deleted (not with the retain annotation, not if never written)."""
    meta, status = backup["metadata"], backup.get("status") or {}
    if (meta.get("annotations") or {}).get(RETAIN_ANNOTATION) == "true":
        return Outcome(False, Reason.BACKUP_DATA_KEPT, f"{RETAIN_ANNOTATION}: the stored backup is kept")
    if not status.get("location") or not status.get("store"):
        return None
    try:
        store = read_store(api, status["store"])
    except StoreProblem:
        message = f"BackupStore {status['store']} is gone: its data at {status['location']} is left as it is"
        return Outcome(True, Reason.BACKUP_DATA_KEPT, message)
    deleted = S3Store(store_access(api, store).location).delete_under(status["location"])
    return Outcome(False, Reason.DELETED, f"deleted {deleted} objects of the backup from {status['store']}")


# Retention and schedule


def prune(api: client.ApiClient, namespace: str, app_name: str, retention: Retention) -> list[str]:
    """Delete the app's backups its retention no longer keeps; their names."""
    entries = []
    for item in k8s.list_objects(api, API_VERSION, "CloudronBackup", namespace):
        if item["spec"].get("app") != app_name or item["metadata"].get("deletionTimestamp"):
            continue
        created = datetime.fromisoformat(item["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
        stamp = (item.get("status") or {}).get("completedAt") or (item.get("status") or {}).get("startedAt")
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else created
        reason, phase = item["spec"].get("reason", "manual"), (item.get("status") or {}).get("phase") or ""
        entries.append(BackupEntry(item["metadata"]["name"], reason, phase, when))
    names = to_prune(entries, retention, datetime.now(UTC))
    for name in names:
        k8s.delete(api, API_VERSION, "CloudronBackup", namespace, name)
    return names


def retention_of(app: Mapping[str, Any]) -> Retention:
    retention = ((app.get("spec") or {}).get("backup") or {}).get("retention") or {}
    return Retention(
        int(retention.get("keepDaily", 7)),
        int(retention.get("keepWeekly", 4)),
        int(retention.get("keepMonthly", 0)),
    )


def create_backup(
    api: client.ApiClient, app_meta: Mapping[str, Any], name: str, *, store: str, reason: str
) -> bool:
    """Make the CloudronBackup `name` of the app, unless it exists; whether it was made now."""
    backup = {
        "apiVersion": API_VERSION,
        "kind": "CloudronBackup",
        "metadata": {
            "name": name,
            "namespace": app_meta["namespace"],
            "labels": {APP_LABEL: app_label_value(app_meta["name"])},
        },
        "spec": {"app": app_meta["name"], "store": store, "reason": reason},
    }
    try:
        k8s.create(api, backup)
    except k8s.ApiError as error:
        if error.status != 409:
            raise
        return False
    return True


def apply_app_status(
    api: client.ApiClient, app_meta: Mapping[str, Any], fields: Mapping[str, Any], *, field_manager: str
) -> Mapping[str, Any]:
    """Server-side apply of the app's status `fields` as `field_manager`, which owns exactly these:
    a field it owned and leaves out is removed."""
    obj = {
        "apiVersion": API_VERSION,
        "kind": "CloudronApp",
        "metadata": {"name": app_meta["name"], "namespace": app_meta["namespace"]},
        "status": dict(fields),
    }
    return k8s.apply(api, obj, subresource="status", field_manager=field_manager)


def run_schedule(api: client.ApiClient, app: Mapping[str, Any], now: datetime) -> Outcome | None:
    """Make the scheduled backup that is due, once: its name is the schedule's time, and the time is
    recorded in the app's status (its own field manager) after the backup object exists."""
    policy = (app.get("spec") or {}).get("backup") or {}
    schedule = policy.get("schedule")
    if not schedule:
        return None
    meta = app["metadata"]
    last = (app.get("status") or {}).get("lastScheduledBackup")
    after = datetime.fromisoformat((last or meta["creationTimestamp"]).replace("Z", "+00:00"))
    try:
        due = latest_due(schedule, after, now)
    except ValueError as error:
        return Outcome(True, Reason.INVALID_SPEC, f"spec.backup.schedule: {error}")
    if due is None:
        return None
    name = short_name(meta["name"], due.strftime("-%Y%m%d-%H%M"), limit=253)
    # Not made when it exists: by a pass that stopped before it recorded the time.
    created = create_backup(api, meta, name, store=policy["store"], reason="scheduled")
    stamp = due.strftime("%Y-%m-%dT%H:%M:%SZ")
    apply_app_status(api, meta, {"lastScheduledBackup": stamp}, field_manager=SCHEDULE_MANAGER)
    return Outcome(False, Reason.CREATED, f"scheduled backup {name}") if created else None
