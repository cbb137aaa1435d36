"""CloudronApp: parse -> build the children -> apply them -> prune the stale ones -> status.

One level-based reconcile serves create, update, resume and the resync timer. Child events
(the Deployment becoming available, the Certificate being issued) only refresh the status.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import kopf
from kubernetes import client
from pydantic import ValidationError

from cloudron_operator import builders, metrics
from cloudron_operator.addons.base import AddonRecord
from cloudron_operator.addons.flow import AddonsResult, deprovision_addons, provision_addons
from cloudron_operator.addons.plan import provisioned_addons, unsupported_addons
from cloudron_operator.addons.registry import AddonBackends
from cloudron_operator.builders.identity import apps_sharing_child_names
from cloudron_operator.builders.secrets import addon_secret_name
from cloudron_operator.config import OperatorConfig
from cloudron_operator.handlers.app_status import (
    app_conditions,
    refresh_status,
    report_invalid,
    write_status,
)
from cloudron_operator.handlers.applied_children import AppliedChildren
from cloudron_operator.handlers.child_events import child_changed
from cloudron_operator.handlers.child_states import ChildStates
from cloudron_operator.handlers.known_apps import KnownApps, app_event, app_seen
from cloudron_operator.handlers.workers import Workers
from cloudron_operator.k8s import api as k8s
from cloudron_operator.manifest.validation import validate_manifest
from cloudron_operator.metrics import Metrics
from cloudron_operator.models import GROUP, VERSION, CloudronAppSpec
from cloudron_operator.status import (
    FALSE,
    ConditionUpdate,
)

APPS = (GROUP, VERSION, "cloudronapps")
MANAGED = {"app.kubernetes.io/managed-by": "cloudron-operator"}
RETRY_DELAY = 10.0
ADDON_RETRY_DELAY = 15.0  # a database server that comes back is used again within this
RESYNC_SLACK = 0.9
# On an app: its databases and users stay in their servers when the app is deleted.
RETAIN_ANNOTATION = "cloudron.io/retain-databases"
# kopf's ids of the handlers that follow every watch event of the apps and of their children.
APP_EVENT, CHILD_EVENT = "app_event", "child_changed"
WATCH_EVENT_HANDLERS = (APP_EVENT, CHILD_EVENT)

Logger = logging.Logger | logging.LoggerAdapter[Any]


class InvalidApp(Exception):
    """The app's spec or manifest cannot be run; `reason` and the message tell the user what to fix."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def register(registry: kopf.OperatorRegistry, config: OperatorConfig, metrics: Metrics) -> None:
    reconcile_app = metrics.instrumented("CloudronApp")(reconcile_handler)
    for on in (kopf.on.create, kopf.on.resume):
        on(*APPS, registry=registry)(reconcile_app)
    kopf.on.update(*APPS, field="spec", registry=registry)(reconcile_app)
    every = config.resync_seconds

    async def resync_handler(body: kopf.Body, memo: Any, **kwargs: Any) -> None:
        """The resync timer: a full pass if `resync_due`, run in the handlers' threads.

        A coroutine, so that it decides when the timer ticks, not after waiting for a thread
        behind the passes it would yield to.
        """
        workers: Workers = memo["workers"]
        passes: LastPasses = memo["last_passes"]
        uid = body.meta["uid"]
        if resync_due(passes.since(uid), every, others_waiting=workers.waiting > 0):
            await workers.run(reconcile_app, body=body, memo=memo, resync_due_at=passes.now(), **kwargs)

    kopf.timer(*APPS, id="resync", interval=every, initial_delay=every, registry=registry)(resync_handler)
    kopf.on.delete(*APPS, registry=registry)(metrics.instrumented("CloudronApp")(delete_handler))
    # Coroutines, run in the event loop: kopf runs plain functions in the handlers' threads, where
    # each event of an app would wait behind every queued pass (minutes at a thousand apps).
    kopf.on.event(*APPS, id=APP_EVENT, registry=registry)(app_event)
    for group, version, plural in (("apps", "v1", "deployments"), ("cert-manager.io", "v1", "certificates")):
        kopf.on.event(
            group,
            version,
            plural,
            id=CHILD_EVENT,
            labels={builders.APP_LABEL: kopf.PRESENT, **MANAGED},
            registry=registry,
        )(child_changed)


def resync_due(since_last_pass: float | None, resync_seconds: float, *, others_waiting: bool = False) -> bool:
    """No pass of the app in this process yet, or its last one ended (about) an interval ago.

    kopf's first tick comes an interval after it first saw the app, not after its first pass: at a
    thousand new apps, the first passes wait minutes for a thread, and many resyncs would fall
    among them. A resync also yields, once, to passes waiting for a thread (`others_waiting`): it
    runs at the next tick, an interval later, whatever waits then, so no resync comes more than
    about two intervals after the app's last pass. The slack: kopf's next tick comes an interval
    after the tick's handler returned, a moment after the pass ended, and asyncio may wake a timer
    a hair early.
    """
    if since_last_pass is None or since_last_pass >= (1 + RESYNC_SLACK) * resync_seconds:
        return True
    return since_last_pass >= RESYNC_SLACK * resync_seconds and not others_waiting


class LastPasses:
    """When each app's last full pass in this process ended, by uid (monotonic seconds), and a lock
    per app that its passes take: one pass of an app at a time.

    kopf runs an app's changing handlers one at a time, but its timers beside them: the resync's
    tick can come while the app's create pass still runs or waits for a thread. Two passes of a new
    app at once would each find no addon Secret and generate a password, and the last to write would
    replace the one the other had given the database.
    """

    def __init__(self) -> None:
        self._ended: dict[str, float] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @staticmethod
    def now() -> float:
        return time.monotonic()

    def ended(self, uid: str) -> None:
        self._ended[uid] = time.monotonic()

    def since(self, uid: str) -> float | None:
        ended = self._ended.get(uid)
        return None if ended is None else time.monotonic() - ended

    def ended_after(self, uid: str, moment: float) -> bool:
        ended = self._ended.get(uid)
        return ended is not None and ended > moment

    def lock(self, uid: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(uid, threading.Lock())

    def forget(self, uid: str) -> None:
        with self._guard:
            self._ended.pop(uid, None)
            self._locks.pop(uid, None)


def reconcile_handler(
    body: kopf.Body, memo: Any, logger: Logger, resync_due_at: float | None = None, **kwargs: Any
) -> None:
    """A full pass, after any other pass of the app in this process has ended.

    `resync_due_at`: the resync timer found a pass due at that moment. If one ended since (the pass
    this one waited for), the resync has nothing left to do.
    """
    passes: LastPasses = memo["last_passes"]
    uid = body.meta["uid"]
    with passes.lock(uid):
        if resync_due_at is not None and passes.ended_after(uid, resync_due_at):
            return
        app = snapshot(body)
        if _going_or_gone(memo["known_apps"], app):
            return  # queued before the deletion: its databases may be dropped already
        try:
            _reconcile_handler(app, memo, logger, **kwargs)
        finally:
            passes.ended(uid)


def _reconcile_handler(body: kopf.Body, memo: Any, logger: Logger, **kwargs: Any) -> None:
    api: client.ApiClient = memo["api"]
    config: OperatorConfig = memo["config"]
    known: KnownApps = memo["known_apps"]
    mark_reconciled: bool = memo["status_keeps_reconciled"]
    try:
        reconcile(
            api,
            config,
            body,
            logger=logger,
            addons=_all_addons(kwargs),
            app_metrics=metrics.of(memo),
            known=known,
            backends=memo["addon_backends"],
            child_states=memo["child_states"],
            applied_children=memo["applied_children"],
            first_attempt=_first_create_attempt(kwargs),
            mark_reconciled=mark_reconciled,
        )
    except InvalidApp as invalid:
        _record(
            known, report_invalid(api, body, invalid.reason, str(invalid), mark_reconciled=mark_reconciled)
        )
    except k8s.ApiError as error:
        if error.retriable:
            raise kopf.TemporaryError(f"the API server answered {error}", delay=RETRY_DELAY) from error
        message = f"the API server refused a child: {error.message}"
        _record(known, report_invalid(api, body, "ApplyFailed", message, mark_reconciled=mark_reconciled))


def snapshot(body: kopf.Body) -> kopf.Body:
    """The app as it is now, for a whole pass.

    kopf hands every handler of a kind with timers the same live body, which each watch event of
    the app replaces: a pass reading it at its end could write, for a spec it never applied, the
    status of the one it did (and kopf would then take the newer spec as handled).
    """
    return kopf.Body(copy.deepcopy(dict(body)))  # type: ignore[arg-type]


def _going_or_gone(known: KnownApps, body: kopf.Body) -> bool:
    """The app is being deleted, or was: its newest known version says so, or there is none of its uid.

    Every app is known from the start-up list or the watch before kopf hands it to a handler, and
    forgotten only when the watch reports it deleted.
    """
    if body.meta.get("deletionTimestamp"):
        return True
    newest = known.newest((body.meta["namespace"], body.meta["name"]))
    return newest is None or newest.uid != body.meta["uid"] or newest.being_deleted


def _first_create_attempt(handler_kwargs: Mapping[str, Any]) -> bool:
    """kopf's first try at an app it has never handled to the end.

    Its children exist only if an operator was killed during an earlier first try.
    """
    return handler_kwargs.get("reason") == kopf.Reason.CREATE and handler_kwargs.get("retry") == 0


def _record(known: KnownApps, app: Mapping[str, Any] | None) -> None:
    if app is not None:
        known.record(app)


def reconcile(
    api: client.ApiClient,
    config: OperatorConfig,
    body: kopf.Body,
    *,
    logger: Logger,
    addons: list[AddonRecord],
    app_metrics: metrics.Metrics,
    known: KnownApps,
    backends: AddonBackends,
    child_states: ChildStates,
    applied_children: AppliedChildren,
    first_attempt: bool = False,
    mark_reconciled: bool = True,
) -> None:
    """One full pass. On the `first_attempt` at a new app, the children are not listed first.

    That saves a list per child kind (the pass's longest part at a thousand new apps). What the list
    gives a later pass is not needed then: apply creates or converges each child alike, the addon
    Secrets, whose passwords must survive a killed pass, are read by name, and stale children (left
    by a killed pass over an older spec) are pruned by the app's next full pass.

    `mark_reconciled`: the status says which generation the pass reconciled (unless the installed
    CRD is too old to keep that field: see `kopf_storage`).
    """
    spec, manifest = _parse(body)
    if unsupported := unsupported_addons(manifest, spec, backends.types):
        raise InvalidApp(
            "UnsupportedAddon",
            f"the manifest asks for {', '.join(unsupported)}, which this operator does not provide; "
            "the app cannot run without it",
        )
    identity = builders.AppIdentity(body.meta["name"], body.meta["namespace"], body.meta["uid"])
    try:
        builders.check_spec(spec, manifest)  # before any database is made for it
    except builders.InvalidSpec as invalid:
        raise InvalidApp("InvalidSpec", str(invalid)) from invalid
    if conflict := _name_conflict(known, body):
        raise InvalidApp("NameConflict", conflict)
    existing = None if first_attempt else _existing_children(api, identity)
    certificate_revision = _certificate_revision(existing, identity)
    children = _Children(
        api,
        body,
        logger=logger,
        existing=existing,
        states=child_states,
        applied=applied_children,
        metrics=app_metrics,
    )
    try:
        addons_result = provision_addons(
            backends,
            identity=identity,
            spec=spec,
            manifest=manifest,
            addons=addons,
            existing_secrets=children.existing_secrets(
                addon_secret_name(identity.name, addon_type)
                for addon_type in provisioned_addons(manifest, backends.types)
            ),
            apply_child=children.apply,
            metrics=app_metrics,
            recorded=_newest_status(known, body).get("addons") or {},
        )
        if addons_result.complete:
            desired = builders.desired_children(
                identity,
                spec,
                manifest,
                config,
                addons_result.secrets,
                certificate_revision=certificate_revision,
            )
            for obj in [*desired, *addons_result.children]:
                children.apply(obj)
            # A Secret the workload mounts stays, also one an addon with a problem did not rewrite.
            children.prune(keep={("Secret", name) for name in addons_result.secrets})
    finally:
        children.report()  # what was changed, also when the pass stopped half-way
    # A pass that raises (addons to wait for) is retried by kopf: its generation is not reconciled.
    reconciled = mark_reconciled and not addons_result.retriable
    _write_pass_status(api, body, addons_result, known, child_states, reconciled=reconciled)
    if addons_result.retriable:
        raise kopf.TemporaryError(
            f"waiting for addons: {addons_result.condition().message}", delay=ADDON_RETRY_DELAY
        )


def _name_conflict(known: KnownApps, body: kopf.Body) -> str | None:
    """Why this app may not have its children: an app of the namespace made before it has their names.

    Each apply would take the child over from the other app, and the other would take it back.
    """
    namespace, name = body.meta["namespace"], body.meta["name"]
    mine = _creation_order(body.meta)
    for other_name in apps_sharing_child_names(name):
        other = known.newest((namespace, other_name))
        if other is not None and _creation_order(other.app["metadata"]) < mine:
            shared = max(name, other_name, key=len)
            return (
                f"app {other_name} in this namespace was made first, and children of both apps would be "
                f"named {shared}: give this app another name"
            )
    return None


def _creation_order(meta: Mapping[str, Any]) -> tuple[str, str]:
    return (str(meta.get("creationTimestamp") or ""), str(meta["name"]))


STATUS_ATTEMPTS = 5


def _newest_app(apps: KnownApps, body: kopf.Body) -> Mapping[str, Any] | None:
    """The app as last seen (reduced): kopf's copy may be older than a status this process wrote."""
    newest = apps.newest((body.meta["namespace"], body.meta["name"]), app_seen(body))
    return newest.app if newest is not None and newest.uid == body.meta["uid"] else None


def _newest_status(apps: KnownApps, body: kopf.Body) -> Mapping[str, Any]:
    newest = _newest_app(apps, body)
    return newest.get("status", {}) if newest is not None else {}


def _write_pass_status(
    api: client.ApiClient,
    body: kopf.Body,
    addons: AddonsResult,
    apps: KnownApps,
    children: ChildStates,
    *,
    reconciled: bool,
) -> None:
    """The pass's status, merged into the newest status known, not into kopf's copy of the app.

    Under load kopf's copy can be minutes old: merging into it would reset transition times and
    undo what child events wrote meanwhile. The write is conditional on the version merged into:
    if that was not the stored one, the app is read and the pass's status merged into that.
    """
    key = (body.meta["namespace"], body.meta["name"])
    known = _newest_app(apps, body)
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
        written = refresh_status(api, app, children, addons, reconciled=reconciled)
        if written is not None:
            apps.record(written)
            return
        known = None
    raise kopf.TemporaryError("the app's status kept changing while this pass wrote it", delay=RETRY_DELAY)


class _Children:
    """The app's children as found at the start of a pass: what is applied is taken off, the rest is stale.

    `existing` None: the children were not listed (an app's first pass); nothing is pruned then.
    """

    def __init__(
        self,
        api: client.ApiClient,
        body: kopf.Body,
        *,
        logger: Logger,
        existing: dict[tuple[str, str], k8s.KubeObject] | None,
        states: ChildStates,
        applied: AppliedChildren,
        metrics: Metrics,
    ) -> None:
        self.api, self.body, self.logger = api, body, logger
        self.applied, self.metrics = applied, metrics
        self.listed = existing is not None
        self.existing = existing if existing is not None else {}
        self.states = states  # what the app's status is computed from: kept from the answers
        self.changes: dict[str, list[str]] = {}  # Created/Updated/Deleted -> "Kind name"

    def existing_secrets(self, names: Iterable[str]) -> dict[str, k8s.KubeObject]:
        """The app's Secrets of these names that exist; read one by one if the children were not listed."""
        wanted = set(names)
        if not self.listed:
            for name in wanted:
                secret = k8s.get(self.api, "v1", "Secret", self.body.meta["namespace"], name)
                if secret is not None and _owned_by(secret, self.body.meta["uid"]):
                    self.existing[("Secret", name)] = secret
        return {
            name: obj for (kind, name), obj in self.existing.items() if kind == "Secret" and name in wanted
        }

    def apply(self, obj: Mapping[str, Any]) -> None:
        key = (obj["kind"], obj["metadata"]["name"])
        before = self.existing.pop(key, None)
        after, verb = self._apply(obj, before)
        self.states.record({**after, "kind": obj["kind"]})
        if verb is not None:
            self.changes.setdefault(verb, []).append(f"{obj['kind']} {obj['metadata']['name']}")
            self.logger.info("%s %s %s", verb.lower(), obj["kind"], obj["metadata"]["name"])

    def _apply(
        self, obj: Mapping[str, Any], before: Mapping[str, Any] | None
    ) -> tuple[k8s.KubeObject, str | None]:
        """The child as applied, and Created/Updated if the apply changed it (None: unchanged or unknown)."""
        uid = self.body.meta["uid"]
        if before is not None and self.applied.unchanged_since_applied(uid, obj, before):
            self.metrics.child_applies.labels("known").inc()
            return dict(before), None
        verb: str | None
        if before is not None:
            after = _apply_child(self.api, obj, before)
            changed = before["metadata"]["resourceVersion"] != after["metadata"]["resourceVersion"]
            verb, outcome = ("Updated", "updated") if changed else (None, "unchanged")
        elif self.listed:
            after, verb, outcome = _apply_child(self.api, obj, None), "Created", "created"
        else:
            # Not listed: the child may be there already, from a killed pass; whether this apply
            # changed it is not known, only whether it created it.
            after, created = _apply_child_reporting_creation(self.api, obj)
            verb, outcome = ("Created", "created") if created else (None, "applied")
        self.applied.record(uid, obj, after)
        self.metrics.child_applies.labels(outcome).inc()
        return after, verb

    def prune(self, keep: set[tuple[str, str]]) -> None:
        """Delete the children found and not applied, except those in `keep` (kind, name)."""
        namespace = self.body.meta["namespace"]
        for (kind, name), stale in self.existing.items():
            # The data claim goes only with the app itself, by garbage collection.
            if kind == "PersistentVolumeClaim" or (kind, name) in keep:
                continue
            k8s.delete(self.api, stale["apiVersion"], kind, namespace, name)
            self.changes.setdefault("Deleted", []).append(f"{kind} {name}")
            self.logger.info("deleted %s %s: no longer desired", kind, name)

    def report(self) -> None:
        """One Event per kind of change in this pass, naming every object it touched."""
        for verb, objects in self.changes.items():
            kopf.info(self.body, reason=verb, message=f"{verb} {', '.join(objects)}")


def delete_handler(body: kopf.Body, memo: Any, logger: Logger, **kwargs: Any) -> None:
    """Drop the app's databases and users, unless the app says to keep them; children go by GC.

    After the app's pass that may still run (a resync that started before the deletion): else it
    could provision a user again once dropped. Passes queued behind find the app going and do nothing.
    """
    passes: LastPasses = memo["last_passes"]
    uid = body.meta["uid"]
    with passes.lock(uid):
        _drop_databases(snapshot(body), memo, logger, kwargs)
    passes.forget(uid)
    memo["applied_children"].forget(uid)


def _drop_databases(body: kopf.Body, memo: Any, logger: Logger, handler_kwargs: Mapping[str, Any]) -> None:
    if body.meta.annotations.get(RETAIN_ANNOTATION) == "true":
        kopf.info(body, reason="DatabasesRetained", message=f"{RETAIN_ANNOTATION}: databases and users kept")
        return
    identity = builders.AppIdentity(body.meta["name"], body.meta["namespace"], body.meta["uid"])
    problems = deprovision_addons(memo["addon_backends"], identity, body, _all_addons(handler_kwargs))
    if problems:
        message = (
            f"cannot drop the app's databases: {'; '.join(problems)} "
            f"(annotate the app {RETAIN_ANNOTATION}=true to delete it and keep them)"
        )
        ready = ConditionUpdate("Ready", FALSE, "DeprovisionFailed", message)
        write_status(
            memo["api"], body, {**body.get("status", {}), "conditions": app_conditions(body, [ready])}
        )
        raise kopf.TemporaryError(message, delay=ADDON_RETRY_DELAY)
    logger.info("dropped the databases and users of %s", body.meta["name"])


def _all_addons(handler_kwargs: Mapping[str, Any]) -> list[AddonRecord]:
    """Every Addon, from the index kopf passes as the `addons_by_type` keyword argument."""
    index: kopf.Index[str, AddonRecord] = handler_kwargs["addons_by_type"]
    return [record for addon_type in index for record in index[addon_type]]


def _parse(body: Mapping[str, Any]) -> tuple[CloudronAppSpec, Any]:
    try:
        spec = CloudronAppSpec.model_validate(body["spec"])
    except ValidationError as error:
        raise InvalidApp("InvalidSpec", _first_errors(str(e) for e in error.errors())) from error
    result = validate_manifest(spec.manifest)
    if result.manifest is None:
        raise InvalidApp("InvalidManifest", "spec.manifest: " + _first_errors(str(e) for e in result.errors))
    return spec, result.manifest


def _first_errors(messages: Any, limit: int = 5) -> str:
    listed = list(messages)
    more = f" (and {len(listed) - limit} more)" if len(listed) > limit else ""
    return "; ".join(listed[:limit]) + more


def _apply_child(
    api: client.ApiClient, obj: Mapping[str, Any], live: Mapping[str, Any] | None
) -> k8s.KubeObject:
    with _kind_served(obj):
        return k8s.apply(api, obj) if live is None else k8s.apply_unless_unchanged(api, obj, live)


def _apply_child_reporting_creation(
    api: client.ApiClient, obj: Mapping[str, Any]
) -> tuple[k8s.KubeObject, bool]:
    with _kind_served(obj):
        return k8s.apply_reporting_creation(api, obj)


@contextmanager
def _kind_served(obj: Mapping[str, Any]) -> Iterator[None]:
    try:
        yield
    except k8s.ApiError as error:
        if error.not_found:  # the kind itself is not served: a CRD (cert-manager's) is missing
            raise InvalidApp(
                "KindNotServed",
                f"this cluster does not serve {obj['kind']} ({obj['apiVersion']}): install its CRDs "
                "(cert-manager for Certificates)",
            ) from error
        raise


def _certificate_revision(
    existing: Mapping[tuple[str, str], Mapping[str, Any]] | None, identity: builders.AppIdentity
) -> int | None:
    """The status.revision of the app's Certificate as listed (None: not listed, not issued yet)."""
    certificate = (existing or {}).get(("Certificate", builders.tls_name(identity.name)))
    revision = (certificate or {}).get("status", {}).get("revision")
    return revision if isinstance(revision, int) and not isinstance(revision, bool) else None


def _owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences", []))


def _existing_children(
    api: client.ApiClient, identity: builders.AppIdentity
) -> dict[tuple[str, str], k8s.KubeObject]:
    """The app's children as they are now, by (kind, name): only objects this app owns."""
    selector = f"{builders.APP_LABEL}={builders.app_label_value(identity.name)}"
    found: dict[tuple[str, str], k8s.KubeObject] = {}
    for api_version, kind in builders.CHILD_KINDS:
        try:
            listed = k8s.list_objects(api, api_version, kind, identity.namespace, selector)
        except k8s.ApiError as error:
            if error.not_found:  # a kind this cluster does not serve has no objects
                continue
            raise
        for obj in listed:
            if _owned_by(obj, identity.uid):
                obj.setdefault("apiVersion", api_version)
                found[(kind, obj["metadata"]["name"])] = obj
    return found
