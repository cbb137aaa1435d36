"""The commands that write: `install`, `update`, `backup` and `restore`, each with its `--wait`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from cloudron_operator.plugin import objects, waiting
from cloudron_operator.plugin.catalog import CatalogApp, CatalogError, check_version, choose_app
from cloudron_operator.plugin.kube import KubeObject, PluginError
from cloudron_operator.plugin.output import document
from cloudron_operator.plugin.resources import APPS, BACKUPS, CATALOGS, Resource
from cloudron_operator.plugin.session import Session

PINNED_AUTOMATIC = "--automatic-updates follows the newest published version: it cannot go with APPID@VERSION"
SCHEDULE_WITHOUT_AUTOMATIC = "--update-schedule says when automatic updates start: add --automatic-updates"
WINDOW_WITHOUT_SCHEDULE = "--update-window is the length of each window of --update-schedule: it needs it"


def install(session: Session) -> int:
    args = session.args
    reference = objects.parse_app_reference(args.app)
    if args.automatic_updates and reference.version is not None:
        raise objects.UsageError(PINNED_AUTOMATIC)
    if args.update_schedule is not None and not args.automatic_updates:
        raise objects.UsageError(SCHEDULE_WITHOUT_AUTOMATIC)
    if args.update_window is not None and args.update_schedule is None:
        raise objects.UsageError(WINDOW_WITHOUT_SCHEDULE)
    if args.output and args.wait:
        raise objects.UsageError("-o prints the CloudronApp and writes nothing: it cannot go with --wait")
    chosen = choose_app(session.cluster.list(CATALOGS), reference.app_id, args.catalog)
    check_version(chosen, reference.version)
    name = args.name or objects.default_app_name(reference.app_id)
    body = objects.app_body(
        name=name,
        namespace=session.namespace,
        domain=args.domain,
        catalog=chosen.catalog,
        app_id=reference.app_id,
        version=reference.version,
        automatic_updates=args.automatic_updates,
        health_timeout=args.health_timeout,
        update_schedule=args.update_schedule,
        update_window=args.update_window,
        backup_store=args.backup_store,
    )
    if args.output:
        session.out.write(document(body, args.output))
        return 0
    session.cluster.create(APPS, body)
    session.out.write(f"{APPS.reference(name)} created\n")
    if args.wait:
        _wait(session, APPS, name, waiting.installed, f"{name} to become Ready")
    return 0


def update(session: Session) -> int:
    args, namespace = session.args, session.namespace
    app = session.cluster.get(APPS, args.name, namespace)
    spec, status = app.get("spec") or {}, app.get("status") or {}
    source = spec.get("source")
    if not source:
        raise PluginError(f"{args.name} has no spec.source: apps of a custom image get no updates")
    target = args.to or status.get("availableUpdate")
    if not target:
        raise PluginError(f"{args.name} is up to date")
    if (spec.get("updatePolicy") or {}).get("automatic"):
        raise PluginError(
            f"{args.name} updates itself (spec.updatePolicy.automatic is true) and a pinned version never "
            f"moves: set automatic to false to pin it to {target}"
        )
    check_version(_catalog_app(session, source), target)
    before = app["metadata"].get("generation")
    patched = session.cluster.patch(APPS, namespace, args.name, objects.version_patch(target))
    _report_patch(session, args.name, patched, before, field="spec.source.version", value=target)
    if args.wait:
        judge = waiting.updated(target, int(patched["metadata"]["generation"]))
        _wait(session, APPS, args.name, judge, f"{args.name} to run {target}")
    return 0


def _catalog_app(session: Session, source: Mapping[str, Any]) -> CatalogApp:
    catalog = session.cluster.get(CATALOGS, source["catalog"])
    try:
        return choose_app([catalog], source["appId"], source["catalog"])
    except CatalogError as error:
        raise PluginError(str(error)) from error


def backup(session: Session) -> int:
    args, namespace = session.args, session.namespace
    app = session.cluster.get(APPS, args.name, namespace)
    store = args.store or ((app.get("spec") or {}).get("backup") or {}).get("store")
    if not store:
        raise PluginError(f"{args.name} has no spec.backup.store: name a BackupStore with --store")
    name = objects.backup_name(args.name, datetime.now(UTC))
    session.cluster.create(
        BACKUPS, objects.backup_body(name=name, namespace=namespace, app=args.name, store=store)
    )
    session.out.write(f"{BACKUPS.reference(name)} created\n")
    if args.wait:
        _wait(session, BACKUPS, name, waiting.backed_up, f"backup {name}")
    return 0


def restore(session: Session) -> int:
    args, namespace = session.args, session.namespace
    app = session.cluster.get(APPS, args.name, namespace)
    session.cluster.get(BACKUPS, args.backup, namespace)
    before = app["metadata"].get("generation")
    patched = session.cluster.patch(APPS, namespace, args.name, objects.restore_patch(args.backup))
    _report_patch(session, args.name, patched, before, field="spec.restoreFrom.backup", value=args.backup)
    if args.wait:
        judge = waiting.restored(args.backup, int(patched["metadata"]["generation"]))
        _wait(session, APPS, args.name, judge, f"{args.name} to be restored from {args.backup}")
    return 0


def _report_patch(
    session: Session, name: str, patched: KubeObject, before: Any, *, field: str, value: str
) -> None:
    """As kubectl reports a patch, with the field it set; a patch that changed nothing says so."""
    if patched["metadata"].get("generation") == before:
        session.out.write(f"{APPS.reference(name)} patched (no change: {field} is already {value})\n")
    else:
        session.out.write(f"{APPS.reference(name)} patched ({field}: {value})\n")


def _wait(
    session: Session,
    resource: Resource,
    name: str,
    judge: Callable[[waiting.Obj], waiting.Verdict],
    subject: str,
) -> None:
    namespace = session.namespace
    waiting.wait_for(
        lambda: session.cluster.get(resource, name, namespace),
        judge,
        subject=subject,
        timeout=session.args.timeout,
        progress=waiting.Progress(session.err),
    )
