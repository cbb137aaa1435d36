"""A CloudronApp's status: computed from its addons and children, written only when it changes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes import client

from cloudron_operator import builders
from cloudron_operator.addons.flow import AddonsResult
from cloudron_operator.backup.package import (
    held_for_restore,
    restore_record,
    restoring,
    running_package,
    wanted_restore,
)
from cloudron_operator.children import certificate_condition, routing_condition, workload_condition
from cloudron_operator.k8s import api as k8s
from cloudron_operator.models import GROUP, VERSION
from cloudron_operator.models.conditions import STALLED_REASONS, Reason
from cloudron_operator.status import (
    FALSE,
    TRUE,
    UNKNOWN,
    ConditionUpdate,
    merge_conditions,
    ready_condition,
    status_patch,
    with_stalled,
)
from cloudron_operator.store import Store

# The generation whose spec the app's last complete pass reconciled: kopf's record of what it handled
# (`kopf_adapters/storage.py`). Only a pass sets it; every other status write keeps it.
RECONCILED_GENERATION = "reconciledGeneration"
# What the package tells the admin (`builders.notes`): a pass writes them, a refresh keeps them.
NOTE_FIELDS = (
    "title",
    "iconUrl",
    "configureUrl",
    "postInstallMessage",
    "checklist",
    "checklistPending",
    "manifestWarnings",
)


def reconciled_generation(status: Mapping[str, Any]) -> int | None:
    value = status.get(RECONCILED_GENERATION)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def refresh_status(
    api: client.ApiClient,
    app: Mapping[str, Any],
    store: Store,
    addons: AddonsResult | None = None,
    *,
    notes: Mapping[str, Any] | None = None,
    reconciled: bool = False,
) -> Mapping[str, Any] | None:
    """Write the app's status from its addons and children's observed state, if anything in it changed.

    Without `addons` (a child changed, no pass ran) the addons' part is kept as `app` has it; without
    `notes`, the package's notes too.
    `reconciled`: a pass that ends well writes it, and marks the app's generation reconciled. The
    write is conditional on `app` being current (None if it was not): whatever wrote since knows
    better, and the caller reads the app again. Otherwise the answer is the app as stored now.
    The children are taken as the store has them.
    """
    name, namespace = app["metadata"]["name"], app["metadata"]["namespace"]
    deployment = store.child(namespace, "Deployment", builders.child_name(name))
    certificate = store.child(namespace, "Certificate", builders.tls_name(name))
    desired = desired_status(
        app,
        deployment.as_object() if deployment is not None else None,
        certificate.as_object() if certificate is not None else None,
        addons,
        datetime.now(UTC),
        notes=notes,
        reconciled=reconciled,
        routed=routed_condition(store, app["metadata"]),
        access=access_condition(store, app["spec"]),
    )
    return write_status(api, app, desired, only_if_current=True)


def access_condition(store: Store, spec: Mapping[str, Any]) -> ConditionUpdate | None:
    """`AccessResolved` when spec.access names users or groups: whether each is a user or group of
    the directory now. Informative: Ready does not wait for it, as a name nobody has yet is allowed
    (a user made later with it counts at once)."""
    access = spec.get("access")
    if not isinstance(access, Mapping):
        return None
    specs = [seen.record.spec for seen in store.users.values()]
    usernames = {str(user.get("username")) for user in specs}
    groups = {str(group) for user in specs for group in user.get("groups") or ()}
    unknown_users = sorted(set(access.get("users") or ()) - usernames)
    unknown_groups = sorted(set(access.get("groups") or ()) - groups)
    if not unknown_users and not unknown_groups:
        return ConditionUpdate(
            "AccessResolved", TRUE, Reason.ACCESS_RESOLVED, "every user and group in spec.access exists"
        )
    named = [
        f"no user {', '.join(unknown_users)}" if unknown_users else "",
        f"no group {', '.join(unknown_groups)}" if unknown_groups else "",
    ]
    message = "; ".join(part for part in named if part) + " (yet: one made later counts at once)"
    return ConditionUpdate("AccessResolved", FALSE, Reason.UNKNOWN_NAMES, message)


def routed_condition(store: Store, app_meta: Mapping[str, Any]) -> ConditionUpdate | None:
    """The app's `Routed` condition from its listeners and routes in the store; None with routing=ingress."""
    routing = store.routing
    if routing is None:
        return None
    children = store.children_of(app_meta["uid"])
    listeners = children.get((routing.listeners_kind, builders.child_name(app_meta["name"])))
    routes = [child.as_object() for (kind, _), child in sorted(children.items()) if kind == "HTTPRoute"]
    return routing_condition(
        listeners.as_object() if listeners is not None else None,
        routes,
        store.gateway_parent(),
        routing,
        app_meta["namespace"],
    )


def desired_status(
    app: Mapping[str, Any],
    deployment: Mapping[str, Any] | None,
    certificate: Mapping[str, Any] | None,
    addons: AddonsResult | None,
    now: datetime,
    *,
    notes: Mapping[str, Any] | None = None,
    reconciled: bool = False,
    routed: ConditionUpdate | None = None,
    access: ConditionUpdate | None = None,
) -> dict[str, Any]:
    """The status of `app` (its metadata, spec and status as the store keeps them) now; `routed` is
    the Routed condition with routing=gateway.

    A pass (`addons` given) reports on the app's generation. A refresh (no `addons`) while the pass
    of a newer spec is still to come reports on the children made from the older one: it keeps the
    generation, url and version the status has. A status never claims a generation whose spec is
    not applied yet (GitOps tools take Ready at the current generation for done); the pass does that.
    """
    spec = running_package(app)
    generation = app["metadata"]["generation"]
    current = app.get("status", {})
    observed = generation if addons is not None else current.get("observedGeneration", generation)
    pending = observed != generation
    url = f"https://{spec['domain']}"
    if pending:
        url = current.get("url", url)
    running = bool(spec.get("running", True))
    addons_ready = addons.condition() if addons is not None else current_condition(current, "AddonsReady")
    parts = [addons_ready, workload_condition(deployment, running), certificate_condition(certificate)]
    parts += [routed] if routed is not None else []
    ready = ready_condition(parts, Reason.RUNNING, f"{url} is served")
    informative = [access] if access is not None else []
    phase = "Running" if ready.status == "True" else ("Stopped" if not running else "Installing")
    updated = update_condition(app)
    if updated is not None:
        informative.append(updated)
    restored = restore_condition(app)
    if restored is not None:
        informative.append(restored)
        if held_for_restore(app):
            ready = ConditionUpdate("Ready", FALSE, restored.reason, restored.message)
            phase = "Restoring" if restoring(app) else "Stopped"
    desired = {
        "observedGeneration": observed,
        "phase": phase,
        "url": url,
        "conditions": merge_conditions(
            current.get("conditions", []), app_updates([ready, *parts, *informative]), observed, now
        ),
        "addons": addons.status() if addons is not None else current.get("addons", {}),
    }
    version = current.get("version") if pending else str(spec["manifest"].get("version", ""))
    if ready.status == "True" and version is not None:
        desired["version"] = version
    kept_notes = {field: current[field] for field in NOTE_FIELDS if field in current}
    desired.update(kept_notes if notes is None else notes)
    handled = generation if reconciled else reconciled_generation(current)
    if handled is not None:
        desired[RECONCILED_GENERATION] = handled
    return desired


def restore_condition(app: Mapping[str, Any]) -> ConditionUpdate | None:
    """`Restored`: how far the restore wanted (spec.restoreFrom's, or an update's rollback) is, or how
    it ended."""
    backup = wanted_restore(app)
    if not backup:
        return None
    record = restore_record(app) or {}
    phase = record.get("phase")
    if phase == "Succeeded":
        return ConditionUpdate("Restored", TRUE, Reason.RESTORED, f"restored from backup {backup}")
    if phase == "Failed":
        message = f"the restore from backup {backup} failed: {record.get('message') or 'see its Job'}"
        return ConditionUpdate("Restored", FALSE, Reason.RESTORE_FAILED, message)
    if phase == "Running":
        message = f"the app is stopped while Job {record.get('job')} restores backup {backup}"
        return ConditionUpdate("Restored", UNKNOWN, Reason.RESTORING, message)
    message = f"restore from backup {backup} is pending"
    return ConditionUpdate("Restored", UNKNOWN, Reason.RESTORE_PENDING, message)


def update_condition(app: Mapping[str, Any]) -> ConditionUpdate | None:
    """`Updated` of an app with spec.source: an update under way, the rule that blocks the newest
    version, how the last update ended, or that the app runs the version it should."""
    if not (app.get("spec") or {}).get("source"):
        return None
    status = app.get("status") or {}
    update = status.get("update") or {}
    phase, to = update.get("phase"), update.get("toVersion")
    if under_way := _update_under_way(update):
        return ConditionUpdate("Updated", UNKNOWN, Reason.UPDATE_IN_PROGRESS, under_way)
    if blocked := status.get("updateBlocked"):
        return ConditionUpdate("Updated", FALSE, str(blocked["reason"]), str(blocked["message"]))
    if phase in ("Failed", "RolledBack") and to != (status.get("package") or {}).get("version"):
        return ConditionUpdate("Updated", FALSE, str(update.get("reason")), str(update.get("message")))
    return _update_settled(status, update)


def _update_settled(status: Mapping[str, Any], update: Mapping[str, Any]) -> ConditionUpdate:
    if (available := status.get("availableUpdate")) and (opens_at := status.get("nextUpdateAt")):
        message = (
            f"version {available} is installed by itself in the next window of updatePolicy.schedule, "
            f"which opens at {opens_at}"
        )
        return ConditionUpdate("Updated", TRUE, Reason.UPDATE_SCHEDULED, message)
    if available:
        message = f"version {available} is available: set spec.source.version to {available} to update"
        return ConditionUpdate("Updated", TRUE, Reason.UPDATE_AVAILABLE, message)
    if update.get("phase") == "Succeeded":
        return ConditionUpdate("Updated", TRUE, Reason.UPDATE_SUCCEEDED, str(update.get("message")))
    return ConditionUpdate("Updated", TRUE, Reason.UP_TO_DATE, "the app runs the newest published version")


def _update_under_way(update: Mapping[str, Any]) -> str | None:
    since, to = update.get("fromVersion"), update.get("toVersion")
    return {
        "BackingUp": f"updating from {since} to {to}: backing up first ({update.get('backup')})",
        "Updating": f"updating from {since} to {to}: it must be Ready by {update.get('deadline')}",
        "RollingBack": str(update.get("message")),
    }.get(str(update.get("phase")))


def current_condition(status: Mapping[str, Any], kind: str) -> ConditionUpdate:
    found = next((c for c in status.get("conditions", []) if c.get("type") == kind), None)
    if found is None:
        return ConditionUpdate(kind, UNKNOWN, Reason.PENDING, "not checked yet")
    return ConditionUpdate(kind, found["status"], found.get("reason", ""), found.get("message", ""))


def report_invalid(
    api: client.ApiClient, body: kopf.Body, reason: str, message: str, *, mark_reconciled: bool = True
) -> Mapping[str, Any] | None:
    """Ready=False with what the user must fix; the Warning Event only when that changed.

    The pass ends here, and the app's generation counts as reconciled: the next pass comes with a
    new spec (or the resync).
    """
    ready = ConditionUpdate("Ready", FALSE, reason, message)
    warn_of_new_problem(body, ready, body.get("status", {}))
    generation = body["metadata"]["generation"]
    desired = {
        "observedGeneration": generation,
        "phase": "Error",
        "conditions": app_conditions(body, [ready]),
    }
    if addons := body.get("status", {}).get("addons"):
        desired["addons"] = addons  # where the app's databases are: its deletion drops them there
    if mark_reconciled:
        desired[RECONCILED_GENERATION] = generation
    return write_status(api, body, desired)


def warn_of_new_problem(body: kopf.Body, problem: ConditionUpdate, status: Mapping[str, Any]) -> None:
    """A Warning Event with the reason and message of `problem`, a condition that is False, unless
    `status` (the app's newest known) already says it so: a problem is told once, not at every retry.

    Called before the status that names the problem is written: if the operator dies between the
    two, the next pass finds the status without it and tells it again, so no reported problem goes
    without its Event.
    """
    if problem.status != FALSE:
        return
    conditions: list[Mapping[str, Any]] = status.get("conditions", [])
    previous = next((c for c in conditions if c.get("type") == problem.type), {})
    said = (previous.get("status"), previous.get("reason"), previous.get("message"))
    if said != (FALSE, problem.reason, problem.message):
        kopf.warn(body, reason=problem.reason, message=problem.message)


def app_conditions(app: Mapping[str, Any], updates: Sequence[ConditionUpdate]) -> list[dict[str, Any]]:
    current = app.get("status", {}).get("conditions", [])
    return merge_conditions(current, app_updates(updates), app["metadata"]["generation"], datetime.now(UTC))


def app_updates(updates: Sequence[ConditionUpdate]) -> list[ConditionUpdate]:
    """An app's conditions: `updates`, and Stalled when its Ready=False is one waiting does not clear."""
    return with_stalled(updates, STALLED_REASONS)


def write_status(
    api: client.ApiClient,
    app: Mapping[str, Any],
    desired: Mapping[str, Any],
    *,
    only_if_current: bool = False,
) -> Mapping[str, Any] | None:
    """Apply `desired` as the whole status we own, unless it is what `app` has already.

    The answer is the app as stored after the call: `app` itself if nothing was written.
    `only_if_current` sends `app`'s resourceVersion as a precondition: if anything wrote the app
    since it was read, the API server refuses (409), nothing is written and the answer is None.
    """
    if not status_patch(app.get("status", {}), desired):
        return app
    meta = app["metadata"]
    metadata = {"name": meta["name"], "namespace": meta["namespace"]}
    if only_if_current:
        metadata["resourceVersion"] = meta["resourceVersion"]
    obj = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "CloudronApp",
        "metadata": metadata,
        "status": dict(desired),
    }
    try:
        return k8s.apply(api, obj, subresource="status")
    except k8s.ApiError as error:
        if not (only_if_current and error.status == 409):
            raise
        return None


STATUS_ATTEMPTS = 5
RETRY_DELAY = 10.0  # a status write, or a pass the API server stopped, is tried again after this


def newest_app(store: Store, body: kopf.Body) -> Mapping[str, Any] | None:
    """The app as the store has it (reduced): kopf's copy may be older than a status this process wrote."""
    newest = store.app((body.meta["namespace"], body.meta["name"]))
    return newest.app if newest is not None and newest.uid == body.meta["uid"] else None


def newest_status(store: Store, body: kopf.Body) -> Mapping[str, Any]:
    newest = newest_app(store, body)
    return newest.get("status", {}) if newest is not None else {}


def write_pass_status(
    api: client.ApiClient,
    body: kopf.Body,
    addons: AddonsResult,
    store: Store,
    *,
    notes: Mapping[str, Any],
    reconciled: bool,
) -> None:
    """The pass's status, merged into the newest status known, not into kopf's copy of the app.

    Under load kopf's copy can be minutes old: merging into it would reset transition times and
    undo what child events wrote meanwhile. The write is conditional on the version merged into:
    if that was not the stored one, the app is read and the pass's status merged into that.
    """
    key = (body.meta["namespace"], body.meta["name"])
    known = newest_app(store, body)
    # An addon problem (a server down, an Addon missing) is a Warning Event too, as an invalid app's.
    warn_of_new_problem(body, addons.condition(), (known or body).get("status", {}))
    for _ in range(STATUS_ATTEMPTS):
        if known is None:
            known = k8s.get(api, f"{GROUP}/{VERSION}", "CloudronApp", *key)
            if known is None or known["metadata"]["uid"] != body.meta["uid"]:
                return
        app = {
            **dict(body),
            "metadata": {**dict(body.meta), "resourceVersion": known["metadata"]["resourceVersion"]},
            "status": known.get("status", {}),
        }
        written = refresh_status(api, app, store, addons, notes=notes, reconciled=reconciled)
        if written is not None:
            store.record(written)
            return
        known = None
    raise kopf.TemporaryError("the app's status kept changing while this pass wrote it", delay=RETRY_DELAY)
