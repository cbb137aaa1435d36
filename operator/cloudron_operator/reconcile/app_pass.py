"""One full pass of an app, in phases: check → provision addons → build → apply and prune → status.

A pass is level-based: it recomputes the whole desired state from the spec, whatever changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import kopf

from cloudron_operator import builders
from cloudron_operator.addons.base import AddonRecord
from cloudron_operator.addons.flow import deprovision_addons, provision_addons
from cloudron_operator.addons.plan import provisioned_addons
from cloudron_operator.addons.registry import AddonBackends
from cloudron_operator.backup.package import restoring
from cloudron_operator.builders.notes import package_notes
from cloudron_operator.builders.secrets import addon_secret_name
from cloudron_operator.reconcile import restore, updates
from cloudron_operator.reconcile.children import AppChildren, Logger, certificate_revision
from cloudron_operator.reconcile.parse import checked_app
from cloudron_operator.reconcile.status import newest_status, write_pass_status

if TYPE_CHECKING:
    from cloudron_operator.runtime import Runtime

ADDON_RETRY_DELAY = 15.0  # a database server that comes back is used again within this


def reconcile(runtime: Runtime, body: kopf.Body, *, logger: Logger, addons: list[AddonRecord]) -> None:
    """One full pass of the app `body` (a snapshot, as it was when the pass began).

    The status says which generation the pass reconciled, unless the installed CRD is too old to keep
    that field (see `kopf_adapters.storage`).
    """
    store, api = runtime.store, runtime.api
    body = updates.prepare(api, runtime.catalogs, body, store)  # before the restore: a rollback is one
    body = restore.prepare(api, body)
    identity, spec, manifest, warnings = checked_app(body, runtime.backends, store, runtime.config)
    children = AppChildren(api, body, logger=logger, store=store, metrics=runtime.metrics)
    try:
        addons_result = provision_addons(
            runtime.backends,
            identity=identity,
            spec=spec,
            manifest=manifest,
            addons=addons,
            existing_secrets=children.existing_secrets(
                addon_secret_name(identity.name, addon_type)
                for addon_type in provisioned_addons(manifest, spec, runtime.backends.types)
            ),
            apply_child=children.apply,
            metrics=runtime.metrics,
            recorded=newest_status(store, body).get("addons") or {},
        )
        if addons_result.complete:
            desired = builders.desired_children(
                identity,
                spec,
                manifest,
                runtime.config,
                addons_result.secrets,
                certificate_revision=certificate_revision(store, identity),
            )
            for obj in [*restore.hold_workload(body, identity, desired), *addons_result.children]:
                children.apply(obj)
            if restoring(body):
                done = restore.advance(
                    api,
                    body,
                    identity=identity,
                    spec=spec,
                    manifest=manifest,
                    deployment=next(o for o in desired if o["kind"] == "Deployment"),
                    backends=runtime.backends,
                    image=runtime.config.backup_image,
                )
                if done is not None:  # the data is back (or as it was): the workload starts now
                    body = done
                    for obj in restore.hold_workload(body, identity, desired):
                        children.apply(obj)
            # A Secret the workload mounts stays, also one an addon with a problem did not rewrite.
            children.prune(keep={("Secret", name) for name in addons_result.secrets})
    finally:
        children.report()  # what was changed, also when the pass stopped half-way
    # A pass that raises (addons to wait for) is retried by kopf: its generation is not reconciled.
    reconciled = runtime.status_keeps_reconciled and not addons_result.retriable
    notes = package_notes(identity, spec, manifest, runtime.config.api_origin, warnings=warnings)
    write_pass_status(api, body, addons_result, store, notes=notes, reconciled=reconciled)
    if addons_result.retriable:
        raise kopf.TemporaryError(
            f"waiting for addons: {addons_result.condition().message}", delay=ADDON_RETRY_DELAY
        )
    if restoring(body):
        raise kopf.TemporaryError("restoring from a backup", delay=restore.RESTORE_POLL_SECONDS)


def drop_databases(
    backends: AddonBackends, body: kopf.Body, addons: list[AddonRecord], logger: Logger
) -> list[str]:
    """Drop the app's data in the Addons' servers; the problems that stopped it."""
    identity = builders.AppIdentity(body.meta["name"], body.meta["namespace"], body.meta["uid"])
    problems = deprovision_addons(backends, identity, body, addons)
    if not problems:
        logger.info("dropped the databases and users of %s", body.meta["name"])
    return problems
