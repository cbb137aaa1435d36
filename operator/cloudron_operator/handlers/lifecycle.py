"""Operator start-up: apply the config to kopf's settings and open the API client."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

import kopf
from kubernetes import client

from cloudron_operator import builders
from cloudron_operator.addons.ldap import ldap_login
from cloudron_operator.addons.logins import AdminSecrets
from cloudron_operator.addons.registry import standard_backends
from cloudron_operator.config import OperatorConfig
from cloudron_operator.directory.service import Directory
from cloudron_operator.directory.user_status import user_status_writer
from cloudron_operator.handlers.child_events import child_listener
from cloudron_operator.k8s import api as k8s
from cloudron_operator.k8s.api import FIELD_MANAGER, new_api_client
from cloudron_operator.kopf_adapters.late_crd import RestartWhenServed
from cloudron_operator.kopf_adapters.peering import CLUSTER_PEERING, NAMESPACED_PEERING, Identity, PeeringView
from cloudron_operator.kopf_adapters.storage import (
    AppStatusDiffBaseStorage,
    ProgressAnnotationsStorage,
    status_keeps_reconciled_generation,
)
from cloudron_operator.kopf_adapters.workers import Workers
from cloudron_operator.metrics import Metrics
from cloudron_operator.reconcile.passes import LastPasses
from cloudron_operator.reconcile.refresh import AppRefreshes
from cloudron_operator.runtime import MEMO_KEY, Runtime
from cloudron_operator.store import Store
from cloudron_operator.store.routing import gateway_routing

APPS_CRD = "cloudronapps.cloudron.io"
CONSISTENCY_TIMEOUT_SECONDS = 60.0
DAEMON_EXIT_POLL_SECONDS = 1.0
LIST_CHUNK_SIZE = 100  # objects per page of kopf's and the store's lists: one page is parsed at once
Logger = logging.Logger | logging.LoggerAdapter[Any]


async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: Logger, **_: Any) -> None:
    """kopf's settings, then the runtime; the store is complete before any other handler runs.

    A coroutine, to know kopf's event loop (child changes are handled there); its blocking part,
    the first list of every kind, runs in a thread.
    """
    config: OperatorConfig = memo["config"]
    metrics: Metrics = memo["metrics"]
    workers = Workers(config.max_workers)
    settings.execution.executor = workers
    settings.posting.reporting_component = FIELD_MANAGER
    settings.persistence.finalizer = "cloudron.io/finalizer"
    # Handler progress lives in annotations, not in status: status belongs to our conditions.
    settings.persistence.progress_storage = ProgressAnnotationsStorage(prefix="cloudron.io")
    # After a patch of its own (a finalizer, a retry's progress, an Addon's diff base), kopf waits
    # this long for the watch to bring that version back before it trusts an older event. Its
    # default, 5 s, is shorter than the watch lags when hundreds of apps arrive at once.
    settings.persistence.consistency_timeout = CONSISTENCY_TIMEOUT_SECONDS
    # kopf's first listing of each kind comes in pages, parsed one at a time.
    settings.watching.chunk_size = LIST_CHUNK_SIZE
    # A deleted object keeps kopf's finalizer until its daemons and timers have exited. One that is
    # busy when told to stop (a catalog read, an app's pass) is looked at again this soon; kopf's
    # default, 60 s, held `kubectl delete appcatalog` for a minute whenever it met a read.
    settings.background.cancellation_polling = DAEMON_EXIT_POLL_SECONDS
    # One connection per thread that calls the API: kopf's handlers and the child-event refreshes in
    # asyncio's default executor (min(32, CPUs + 4) threads). The store's informers hold one each for
    # as long as a watch lasts: they get a client of their own.
    api = new_api_client(connections=config.max_workers + min(32, (os.cpu_count() or 1) + 4))
    kinds, routing = builders.child_kinds(config), gateway_routing(config)
    watches = new_api_client(
        connections=Store.informers_needed(
            config.namespaces, kinds, peering=bool(config.peering), routing=routing is not None, users=True
        )
    )
    store = Store(
        watches,
        config.namespaces,
        kinds,
        routing,
        users_namespace=config.users_namespace,
        page_size=LIST_CHUNK_SIZE,
    )
    paused = _peering(store, config, memo)
    logins = AdminSecrets.from_api(api)
    directory = Directory(
        store,
        login_of=lambda addon: ldap_login(logins, addon),
        full_sync_seconds=config.resync_seconds,
        write_user_statuses=user_status_writer(api, store, config.users_namespace, config.login_url),
        paused=paused,
    )
    diff_base = await asyncio.to_thread(_diffbase_storage, api, store, logger)
    settings.persistence.diffbase_storage = diff_base
    runtime = Runtime(
        config=config,
        metrics=metrics,
        api=api,
        store=store,
        backends=standard_backends(logins, api, directory),
        passes=LastPasses(),
        workers=workers,
        refreshes=AppRefreshes(),
        status_keeps_reconciled=isinstance(diff_base, AppStatusDiffBaseStorage),
        paused=paused,
    )
    # Before kopf's watches start: every app and child is known before any handler runs, so an
    # Addon's first count of its apps and the first passes are complete.
    await asyncio.to_thread(store.sync)
    late_crd = memo.get("late_crd")
    unserved = [informer for informer in store.app_informers if not informer.served]
    if unserved and isinstance(late_crd, RestartWhenServed):
        late_crd.watch(api, unserved[0].kind, unserved[0].namespace)
    store.on_child_change = child_listener(runtime, asyncio.get_running_loop())
    store.on_directory_change = directory.request
    store.start()
    directory.start()
    memo[MEMO_KEY] = runtime
    metrics.app_phases.attach(store.phases)
    if config.metrics_address:
        metrics.serve(config.metrics_address)


def _peering(store: Store, config: OperatorConfig, memo: kopf.Memo) -> Callable[[], bool]:
    """With peering, whether kopf pauses this replica, read from the peering objects the store watches."""
    identity = memo.get("peering_identity")
    if not config.peering or not isinstance(identity, Identity):
        return lambda: False
    view = PeeringView(identity, config.peering)
    store.watch(NAMESPACED_PEERING if config.namespaces else CLUSTER_PEERING, config.namespaces, view)
    return view.paused


def stop(memo: kopf.Memo, **_: Any) -> None:
    found = memo.get(MEMO_KEY)
    if isinstance(found, Runtime):
        found.store.stop()


def _diffbase_storage(api: client.ApiClient, store: Store, logger: Logger) -> kopf.DiffBaseStorage:
    """What kopf handled of an app is in its status, written by the pass: kopf has nothing to patch.

    Unless the installed CRD is older than the operator (Helm does not upgrade a chart's CRDs).
    """
    annotations = kopf.AnnotationsDiffBaseStorage(prefix="cloudron.io")
    found = k8s.list_objects(
        api,
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        None,
        field_selector=f"metadata.name={APPS_CRD}",
    )
    if status_keeps_reconciled_generation(found[0] if found else None):
        return AppStatusDiffBaseStorage(store, others=annotations)
    logger.warning(
        "the installed CRD %s has no status.reconciledGeneration: it is older than this operator. kopf "
        "keeps what it handled of each app in annotations, one more write per app, until the CRDs are "
        "applied (kubectl apply --server-side -f crds/) and the operator restarted",
        APPS_CRD,
    )
    return annotations


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.on.startup(registry=registry)(configure)
    kopf.on.cleanup(registry=registry)(stop)
    # A registry of our own has none of kopf's default login handlers: log in as the API client does.
    kopf.on.login(registry=registry)(kopf.login_via_client)
