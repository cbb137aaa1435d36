"""One full pass of an app, in phases: check → provision addons → build → apply and prune → status.

A pass is level-based: it recomputes the whole desired state from the spec, whatever changed.
"""

from __future__ import annotations

import kopf
from kubernetes import client

from cloudron_operator import builders, metrics
from cloudron_operator.addons.base import AddonRecord
from cloudron_operator.addons.flow import deprovision_addons, provision_addons
from cloudron_operator.addons.plan import provisioned_addons
from cloudron_operator.addons.registry import AddonBackends
from cloudron_operator.builders.secrets import addon_secret_name
from cloudron_operator.config import OperatorConfig
from cloudron_operator.handlers.applied_children import AppliedChildren
from cloudron_operator.handlers.child_states import ChildStates
from cloudron_operator.handlers.known_apps import KnownApps
from cloudron_operator.reconcile.children import AppChildren, Logger, certificate_revision, existing_children
from cloudron_operator.reconcile.parse import checked_app
from cloudron_operator.reconcile.status import newest_status, write_pass_status

ADDON_RETRY_DELAY = 15.0  # a database server that comes back is used again within this


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
    identity, spec, manifest = checked_app(body, backends, known)
    existing = None if first_attempt else existing_children(api, identity)
    children = AppChildren(
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
            recorded=newest_status(known, body).get("addons") or {},
        )
        if addons_result.complete:
            desired = builders.desired_children(
                identity,
                spec,
                manifest,
                config,
                addons_result.secrets,
                certificate_revision=certificate_revision(existing, identity),
            )
            for obj in [*desired, *addons_result.children]:
                children.apply(obj)
            # A Secret the workload mounts stays, also one an addon with a problem did not rewrite.
            children.prune(keep={("Secret", name) for name in addons_result.secrets})
    finally:
        children.report()  # what was changed, also when the pass stopped half-way
    # A pass that raises (addons to wait for) is retried by kopf: its generation is not reconciled.
    reconciled = mark_reconciled and not addons_result.retriable
    write_pass_status(api, body, addons_result, known, child_states, reconciled=reconciled)
    if addons_result.retriable:
        raise kopf.TemporaryError(
            f"waiting for addons: {addons_result.condition().message}", delay=ADDON_RETRY_DELAY
        )


def drop_databases(
    backends: AddonBackends, body: kopf.Body, addons: list[AddonRecord], logger: Logger
) -> list[str]:
    """Drop the app's data in the Addons' servers; the problems that stopped it."""
    identity = builders.AppIdentity(body.meta["name"], body.meta["namespace"], body.meta["uid"])
    problems = deprovision_addons(backends, identity, body, addons)
    if not problems:
        logger.info("dropped the databases and users of %s", body.meta["name"])
    return problems
