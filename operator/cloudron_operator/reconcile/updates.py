"""spec.source: the package an app runs from its catalog, and how it moves to newer versions.

Before a pass builds anything, `prepare` decides which package the app runs and records it in
status.package, which the pass builds from (`backup.package.running_package`). An installed app
moves to another version (the one spec.source.version pins, or with updatePolicy.automatic the
newest one the rules allow: `catalog.rules`) in steps recorded in status.update:
1. BackingUp: a preUpdate CloudronBackup of the app as it runs; the app keeps running. A failed
   backup ends the update (Failed): the app stays on its version.
2. Updating: status.package is the new version and the pass rolls it out. Ready on it within
   updatePolicy.healthTimeout: Succeeded.
3. Not Ready by then: RollingBack. The pre-update backup is restored (`reconcile.restore`: the
   previous image, manifest and data), then RolledBack. The version is not tried again until the
   catalog or the spec changes.

With updatePolicy.schedule an automatic update starts only in a window of it (`catalog.windows`);
until then status.nextUpdateAt says when the next opens, and the update check runs a pass then.

status.package, .update, .availableUpdate, .updateBlocked and .nextUpdateAt are written together, by
one field manager; status.restore of a rollback by the restore's.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import kopf
from kubernetes import client
from pydantic import ValidationError

from cloudron_operator.backup.package import running_package
from cloudron_operator.catalog.cache import Catalogs, CatalogUnavailable, LoadedCatalog
from cloudron_operator.catalog.document import CatalogApp, CatalogVersion, manifest_digest
from cloudron_operator.catalog.durations import duration_seconds
from cloudron_operator.catalog.rules import Block, Running, update_block
from cloudron_operator.catalog.versions import Version
from cloudron_operator.catalog.windows import ALWAYS_OPEN, UpdateWindow, update_window
from cloudron_operator.k8s import api as k8s
from cloudron_operator.models import API_VERSION, CloudronAppSpec, VersionState
from cloudron_operator.models.app import RESOLVED_PACKAGE
from cloudron_operator.models.conditions import Reason
from cloudron_operator.reconcile.backups import apply_app_status, create_backup, short_name
from cloudron_operator.reconcile.catalogs import read_catalog
from cloudron_operator.reconcile.errors import InvalidApp
from cloudron_operator.store import Store

UPDATE_MANAGER: Final = "cloudron-operator-update"
UPDATE_FIELDS: Final = ("package", "update", "availableUpdate", "updateBlocked", "nextUpdateAt")
IN_PROGRESS: Final = frozenset({"BackingUp", "Updating", "RollingBack"})
ENDED_BADLY: Final = frozenset({"Failed", "RolledBack"})
CATALOG_RETRY_SECONDS: Final = 30.0  # a catalog that cannot be read, for an app that has no package yet
DEFAULT_HEALTH_TIMEOUT: Final = "10m"
STOPPED_MESSAGE: Final = (
    "the app is stopped (spec.running: false): it updates once it runs, so the update is health-checked"
)


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def in_progress(status: Mapping[str, Any]) -> bool:
    return ((status.get("update") or {}).get("phase")) in IN_PROGRESS


def window_opened(status: Mapping[str, Any], now: datetime) -> bool:
    """An automatic update waits for updatePolicy.schedule's window, which has opened by `now`."""
    opens_at = status.get("nextUpdateAt")
    return bool(opens_at) and _parse_stamp(str(opens_at)) <= now


def prepare(
    api: client.ApiClient, catalogs: Catalogs, body: kopf.Body, store: Store | None = None
) -> kopf.Body:
    """Decide the app's package and take the next step of its update; the app as it is then.

    Raises InvalidApp when the spec cannot be run: a catalog, app or version that is not there, a
    pinned version a rule refuses. An installed app keeps running its package meanwhile.
    """
    status = body.get("status") or {}
    if not body["spec"].get("source"):
        if any(field in status for field in UPDATE_FIELDS):
            return _write(api, body, {})  # the app runs an image and manifest of its own now
        return body
    # kopf's copy may be a watch event behind: an update step recorded since must not be taken again.
    stored = k8s.get(api, API_VERSION, "CloudronApp", body.meta["namespace"], body.meta["name"]) or {}
    if (stored.get("metadata") or {}).get("uid") == body.meta["uid"]:
        fresh = copy.deepcopy(dict(body))
        fresh["status"] = stored.get("status") or {}
        body = kopf.Body(fresh)  # type: ignore[arg-type]
    before = _records(body)
    decided = _prepared(api, catalogs, body)
    # The pass merges its status into the store's newest copy of the app: it must hold these
    # records, or the pass's conditions (Updated) would be computed from the older ones.
    written = (
        k8s.get(api, API_VERSION, "CloudronApp", body.meta["namespace"], body.meta["name"])
        if store is not None and _records(decided) != before
        else None
    )
    if store is not None and written is not None:
        store.record(written)
    return decided


def _prepared(api: client.ApiClient, catalogs: Catalogs, body: kopf.Body) -> kopf.Body:
    if in_progress(body.get("status") or {}):
        body = _advance(api, catalogs, body)
        if in_progress(body.get("status") or {}):
            return body
    return _decide(api, catalogs, body)  # also right after an update ended: what is newer now


def _records(body: Mapping[str, Any]) -> dict[str, Any]:
    status = body.get("status") or {}
    return {field: status[field] for field in UPDATE_FIELDS if status.get(field) is not None}


def _write(api: client.ApiClient, body: kopf.Body, records: Mapping[str, Any]) -> kopf.Body:
    """The fields this manager owns as `records` (one left out is removed); nothing written if equal."""
    wanted = {key: value for key, value in records.items() if value is not None}
    if wanted == _records(body):
        return body
    apply_app_status(api, body["metadata"], wanted, field_manager=UPDATE_MANAGER)
    updated = copy.deepcopy(dict(body))
    status = {key: value for key, value in (updated.get("status") or {}).items() if key not in UPDATE_FIELDS}
    updated["status"] = status | copy.deepcopy(wanted)
    return kopf.Body(updated)  # type: ignore[arg-type]


def _package(source: Mapping[str, Any], version: CatalogVersion) -> dict[str, Any]:
    manifest = dict(version.manifest or {})
    return {
        "catalog": source["catalog"],
        "appId": source["appId"],
        "version": version.version,
        "image": version.image,
        "manifest": manifest,
        "manifestDigest": manifest_digest(manifest),
        "resolvedAt": _stamp(_now()),
    }


def _same_package(package: Mapping[str, Any], source: Mapping[str, Any], version: CatalogVersion) -> bool:
    return (
        package.get("appId") == source["appId"]
        and package.get("version") == version.version
        and package.get("image") == version.image
        and package.get("manifestDigest") == manifest_digest(version.manifest or {})
    )


def _satisfies(package: Mapping[str, Any] | None, source: Mapping[str, Any]) -> bool:
    """The recorded package is what the source asks for, as far as can be told without the catalog."""
    if not package or package.get("appId") != source["appId"]:
        return False
    pinned = source.get("version")
    return pinned is None or Version(str(package.get("version"))) == Version(str(pinned))


def _spec_model(body: Mapping[str, Any]) -> CloudronAppSpec:
    try:
        return CloudronAppSpec.model_validate(running_package(body), context=RESOLVED_PACKAGE)
    except ValidationError as error:
        problems = (f"spec.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:3])
        raise InvalidApp(Reason.INVALID_SPEC, "; ".join(problems)) from error


def _decide(api: client.ApiClient, catalogs: Catalogs, body: kopf.Body) -> kopf.Body:
    spec, status = body["spec"], body.get("status") or {}
    source: Mapping[str, Any] = spec["source"]
    package: Mapping[str, Any] | None = status.get("package")
    try:
        loaded = read_catalog(api, catalogs, source["catalog"])
    except CatalogUnavailable as problem:
        if _satisfies(package, source):
            return body  # it keeps running what it runs; the AppCatalog's status says what is wrong
        raise InvalidApp(
            problem.reason,
            f"spec.source: catalog {source['catalog']}: {problem.message}",
            retry_after=CATALOG_RETRY_SECONDS,
        ) from problem
    catalogs.decided(body.meta["uid"], loaded.catalog.digest)
    app = loaded.catalog.apps.get(source["appId"])
    if app is None:
        if _satisfies(package, source):
            gone = {"availableUpdate": None, "updateBlocked": None, "nextUpdateAt": None}
            return _write(api, body, {**_records(body), **gone})
        known = ", ".join(list(loaded.catalog.apps)[:10]) or "none"
        raise InvalidApp(
            Reason.APP_NOT_IN_CATALOG,
            f"spec.source.appId: catalog {source['catalog']} has no app {source['appId']} (it has: {known})",
        )
    if package is not None and not package.get("firstReadyAt") and _ready_on(status, package["version"]):
        package = {**package, "firstReadyAt": _stamp(_now())}
        body = _write(api, body, {**_records(body), "package": package})
    if package is None or not package.get("firstReadyAt"):
        return _install(api, body, source, app, package)
    return _update(api, body, loaded, app, package)


def _install(
    api: client.ApiClient,
    body: kopf.Body,
    source: Mapping[str, Any],
    app: CatalogApp,
    package: Mapping[str, Any] | None,
) -> kopf.Body:
    """The package of an app that has not run yet: the pinned version, or the newest published one
    (kept once chosen, while it stays installable)."""
    pinned = source.get("version")
    kept = app.version(str(package["version"])) if _satisfies(package, source) and package else None
    if kept is not None and kept.installable:
        target = kept
    elif pinned is not None:
        target = _pinned_version(app, source, str(pinned))
    elif app.latest is not None:
        target = app.latest
    else:
        raise InvalidApp(
            Reason.NO_PUBLISHED_VERSION,
            f"spec.source: app {app.app_id} has no published, valid version in catalog {source['catalog']} "
            f"({_states(app)}); pin a testing version in spec.source.version to install it",
        )
    newer = app.published_newer_than(target.version)
    records = {
        **_records(body),
        "package": package
        if package and _same_package(package, source, target)
        else _package(source, target),
        "availableUpdate": newer[0].version if newer else None,
        "updateBlocked": None,
        "nextUpdateAt": None,
    }
    return _write(api, body, records)


def _states(app: CatalogApp) -> str:
    return ", ".join(f"{v.version}: {v.state.value}" for v in app.versions[:5]) or "no versions"


def _pinned_version(app: CatalogApp, source: Mapping[str, Any], pinned: str) -> CatalogVersion:
    found = app.version(pinned)
    if found is None:
        listed = ", ".join(v.version for v in app.versions[:10])
        raise InvalidApp(
            Reason.VERSION_NOT_IN_CATALOG,
            f"spec.source.version: catalog {source['catalog']} has no version {pinned} of {app.app_id} "
            f"(it has: {listed})",
        )
    if found.state is VersionState.REVOKED:
        raise InvalidApp(Reason.VERSION_REVOKED, f"spec.source.version: {pinned} is revoked in the catalog")
    if found.state is VersionState.INVALID:
        raise InvalidApp(Reason.VERSION_INVALID, f"spec.source.version: {pinned} is invalid: {found.problem}")
    return found


def _update(
    api: client.ApiClient, body: kopf.Body, loaded: LoadedCatalog, app: CatalogApp, package: Mapping[str, Any]
) -> kopf.Body:
    """Whether the installed app moves to another version now: start its update, or say what blocks it."""
    spec, status = body["spec"], body.get("status") or {}
    source = spec["source"]
    if source["appId"] != package.get("appId"):
        raise InvalidApp(
            Reason.OTHER_APP_ID,
            f"spec.source.appId: the app runs {package.get('appId')}, and another app cannot update it: "
            "install that one as a new CloudronApp",
        )
    running = Running(str(package["appId"]), str(package["version"]), package.get("manifest") or {})
    model = _spec_model(body)
    newer = app.published_newer_than(running.version)
    pinned = source.get("version")
    policy = spec.get("updatePolicy") or {}
    target: CatalogVersion | None = None
    blocked: dict[str, Any] | None = None
    if pinned is not None:
        if Version(str(pinned)) != Version(running.version):
            target = _pinned_version(app, source, str(pinned))
            if block := update_block(running, target, model, automatic=False):
                raise InvalidApp(block.reason, f"spec.source.version: {block.message}")
    elif policy.get("automatic") and spec.get("running") is False and newer:
        blocked = _blocked(newer[0].version, Block(Reason.APP_STOPPED, STOPPED_MESSAGE))
    elif policy.get("automatic"):
        for candidate in newer:
            block = update_block(running, candidate, model, automatic=True)
            if block is None:
                target = candidate
                break
            blocked = blocked or _blocked(candidate.version, block)
    last = status.get("update") or {}
    if target is not None and _failed_before(last, target, body, loaded):
        target = None  # not again until the catalog or the spec changes (its condition says so)
    store = (spec.get("backup") or {}).get("store")
    if target is not None and not store:
        block = Block(
            Reason.NO_BACKUP_STORE,
            f"{target.version} would be installed without a pre-update backup: set spec.backup.store",  # noqa: S608 - prose
        )
        if pinned is not None:
            raise InvalidApp(block.reason, f"spec.source.version: {block.message}")
        blocked, target = _blocked(target.version, block), None
    # A pinned version is the admin's wish now; an automatic update waits for its window.
    window = _window(policy) if target is not None and pinned is None else ALWAYS_OPEN
    records = {
        **_records(body),
        "availableUpdate": newer[0].version if newer else None,
        "updateBlocked": blocked,
        "nextUpdateAt": _stamp(window.opens_at) if window.opens_at else None,
    }
    if target is None or not window.open:
        return _write(api, body, records)
    started = _now()
    backup = short_name(
        body.meta["name"],
        "-preupdate-" + hashlib.sha256(f"{target.version}/{_stamp(started)}".encode()).hexdigest()[:6],
        limit=253,
    )
    records["update"] = {
        "phase": "BackingUp",
        "fromVersion": running.version,
        "toVersion": target.version,
        "backup": backup,
        "startedAt": _stamp(started),
        "catalogDigest": loaded.catalog.digest,
        "generation": body.meta["generation"],
    }
    updated = _write(api, body, records)
    create_backup(api, updated["metadata"], backup, store=str(store), reason="preUpdate")
    message = f"updating from {running.version} to {target.version}: backing up first ({backup})"
    kopf.info(updated, reason=Reason.UPDATE_IN_PROGRESS, message=message)
    return updated


def _window(policy: Mapping[str, Any]) -> UpdateWindow:
    schedule = policy.get("schedule")
    return update_window(str(schedule), policy.get("window"), _now()) if schedule else ALWAYS_OPEN


def _blocked(version: str, block: Block) -> dict[str, Any]:
    return {"version": version, "reason": block.reason.value, "message": block.message}


def _failed_before(
    last: Mapping[str, Any], target: CatalogVersion, body: kopf.Body, loaded: LoadedCatalog
) -> bool:
    return (
        last.get("phase") in ENDED_BADLY
        and last.get("toVersion") == target.version
        and last.get("generation") == body.meta["generation"]
        and last.get("catalogDigest") == loaded.catalog.digest
    )


def _advance(api: client.ApiClient, catalogs: Catalogs, body: kopf.Body) -> kopf.Body:
    update = dict((body.get("status") or {})["update"])
    phase = update["phase"]
    if phase == "BackingUp":
        return _after_backup(api, catalogs, body, update)
    if phase == "Updating":
        return _after_rollout(api, body, update)
    return _after_rollback(api, body, update)


def _ended(
    api: client.ApiClient,
    body: kopf.Body,
    update: Mapping[str, Any],
    *,
    phase: str,
    reason: Reason,
    message: str,
) -> kopf.Body:
    ended = {
        **update,
        "phase": phase,
        "reason": reason.value,
        "message": message,
        "completedAt": _stamp(_now()),
    }
    return _write(api, body, {**_records(body), "update": ended})


def _after_backup(
    api: client.ApiClient, catalogs: Catalogs, body: kopf.Body, update: dict[str, Any]
) -> kopf.Body:
    """Once the pre-update backup is complete, switch the package to the new version."""
    namespace = body.meta["namespace"]
    backup = k8s.get(api, API_VERSION, "CloudronBackup", namespace, update["backup"])
    if backup is None:
        store = ((body["spec"].get("backup") or {}).get("store")) or ""
        create_backup(api, body["metadata"], update["backup"], store=store, reason="preUpdate")
        return body
    backup_status = backup.get("status") or {}
    if backup_status.get("phase") == "Failed":
        ready: Mapping[str, Any] = next(
            (c for c in backup_status.get("conditions", []) if c.get("type") == "Ready"), {}
        )
        message = (
            f"the pre-update backup {update['backup']} failed ({ready.get('message', 'see it')}): "
            f"the app stays on {update['fromVersion']}"
        )
        kopf.warn(body, reason=Reason.PRE_UPDATE_BACKUP_FAILED, message=message)
        return _ended(
            api, body, update, phase="Failed", reason=Reason.PRE_UPDATE_BACKUP_FAILED, message=message
        )
    if backup_status.get("phase") != "Succeeded":
        return body
    source = body["spec"]["source"]
    try:
        loaded = read_catalog(api, catalogs, source["catalog"])
    except CatalogUnavailable:
        return body  # the switch waits for the catalog; the app runs its version meanwhile
    app = loaded.catalog.apps.get(source["appId"])
    target = app.version(update["toVersion"]) if app is not None else None
    if target is None or not target.installable:
        message = f"version {update['toVersion']} is no longer installable in the catalog: the app stays"
        return _ended(
            api, body, update, phase="Failed", reason=Reason.VERSION_NOT_IN_CATALOG, message=message
        )
    timeout = ((body["spec"].get("updatePolicy") or {}).get("healthTimeout")) or DEFAULT_HEALTH_TIMEOUT
    deadline = _now() + timedelta(seconds=duration_seconds(str(timeout)))
    switched = {**update, "phase": "Updating", "deadline": _stamp(deadline)}
    # The app's data has run a version: from now on any other one is an update too.
    ran_since = ((body.get("status") or {}).get("package") or {}).get("firstReadyAt")
    package = {**_package(source, target), "firstReadyAt": ran_since}
    records = {**_records(body), "package": package, "update": switched}
    kopf.info(
        body,
        reason=Reason.UPDATE_IN_PROGRESS,
        message=(
            f"updating from {update['fromVersion']} to {update['toVersion']}: it must be Ready by "
            f"{_stamp(deadline)}"
        ),
    )
    return _write(api, body, records)


def _ready_on(status: Mapping[str, Any], version: str) -> bool:
    """The app is Ready, running `version` (status.version is only there while it is Ready)."""
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", []))
    return ready and status.get("version") == version


def _after_rollout(api: client.ApiClient, body: kopf.Body, update: dict[str, Any]) -> kopf.Body:
    """Ready on the new version: done. Past the deadline: roll back."""
    status = body.get("status") or {}
    stopped = body["spec"].get("running") is False
    if _ready_on(status, update["toVersion"]) or stopped:
        message = f"updated from {update['fromVersion']} to {update['toVersion']}"
        if stopped:
            message += " (the app is stopped: it was not health-checked)"
        kopf.info(body, reason=Reason.UPDATE_SUCCEEDED, message=message)
        return _ended(api, body, update, phase="Succeeded", reason=Reason.UPDATE_SUCCEEDED, message=message)
    deadline = _parse_stamp(str(update["deadline"]))
    if _now() < deadline:
        return body
    message = (
        f"version {update['toVersion']} was not Ready by {update['deadline']}: restoring the pre-update "
        f"backup {update['backup']} (version {update['fromVersion']} and its data)"
    )
    kopf.warn(body, reason=Reason.UPDATE_ROLLED_BACK, message=message)
    rolling = {
        **update,
        "phase": "RollingBack",
        "reason": Reason.UPDATE_ROLLED_BACK.value,
        "message": message,
    }
    return _write(api, body, {**_records(body), "update": rolling})


def _after_rollback(api: client.ApiClient, body: kopf.Body, update: dict[str, Any]) -> kopf.Body:
    """The rollback's restore ended: the app runs the previous package again (or, if the restore
    failed, the new one on its data as it was)."""
    status = body.get("status") or {}
    record = status.get("restore") or {}
    if record.get("backup") != update["backup"] or record.get("phase") not in ("Succeeded", "Failed"):
        return body
    if record["phase"] == "Failed":
        message = (
            f"version {update['toVersion']} was not Ready, and restoring backup {update['backup']} failed "
            f"({record.get('message') or 'see its Job'}): the app runs {update['toVersion']} on its data "
            "as it was"
        )
        kopf.warn(body, reason=Reason.UPDATE_ROLLBACK_FAILED, message=message)
        return _ended(
            api, body, update, phase="Failed", reason=Reason.UPDATE_ROLLBACK_FAILED, message=message
        )
    manifest = dict(record.get("manifest") or {})
    previous = {
        **(status.get("package") or {}),
        "version": str(manifest.get("version", update["fromVersion"])),
        "image": record.get("image"),
        "manifest": manifest,
        "manifestDigest": manifest_digest(manifest),
        "resolvedAt": _stamp(_now()),
    }
    message = (
        f"version {update['toVersion']} was not Ready by {update['deadline']}: restored backup "
        f"{update['backup']}, the app runs {previous['version']} with its data as before the update; "
        f"{update['toVersion']} is not tried again until the catalog or the spec changes"
    )
    kopf.info(body, reason=Reason.UPDATE_ROLLED_BACK, message=message)
    ended_update = {
        **update,
        "phase": "RolledBack",
        "reason": Reason.UPDATE_ROLLED_BACK.value,
        "message": message,
        "completedAt": _stamp(_now()),
    }
    # Its restore record goes in `restore.prepare`, which no longer wants it.
    return _write(api, body, {**_records(body), "package": previous, "update": ended_update})
