"""Operator start-up: apply the config to kopf's settings and open the API client."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import kopf
from kubernetes import client

from cloudron_operator.addons.logins import AdminSecrets
from cloudron_operator.addons.registry import standard_backends
from cloudron_operator.config import OperatorConfig
from cloudron_operator.handlers.applied_children import AppliedChildren
from cloudron_operator.handlers.child_events import AppRefreshes
from cloudron_operator.handlers.child_states import ChildStates
from cloudron_operator.handlers.known_apps import KnownApps
from cloudron_operator.handlers.kopf_storage import (
    AppStatusDiffBaseStorage,
    OwnKindsOnly,
    ProgressAnnotationsStorage,
    status_keeps_reconciled_generation,
)
from cloudron_operator.handlers.workers import Workers
from cloudron_operator.k8s import api as k8s
from cloudron_operator.k8s.api import FIELD_MANAGER, new_api_client
from cloudron_operator.models import API_VERSION
from cloudron_operator.reconcile.passes import LastPasses

APPS_CRD = "cloudronapps.cloudron.io"
CONSISTENCY_TIMEOUT_SECONDS = 60.0
LIST_CHUNK_SIZE = 100
Logger = logging.Logger | logging.LoggerAdapter[Any]


def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: Logger, **kwargs: Any) -> None:
    config: OperatorConfig = memo["config"]
    settings.execution.executor = memo["workers"] = Workers(config.max_workers)
    settings.posting.reporting_component = FIELD_MANAGER
    settings.persistence.finalizer = "cloudron.io/finalizer"
    # Handler progress lives in annotations, not in status: status belongs to our conditions.
    settings.persistence.progress_storage = ProgressAnnotationsStorage(prefix="cloudron.io")
    # After a patch of its own (a finalizer, a retry's progress, an Addon's diff base), kopf waits
    # this long for the watch to bring that version back before it trusts an older event. Its
    # default, 5 s, is shorter than the watch lags when hundreds of apps arrive at once.
    settings.persistence.consistency_timeout = CONSISTENCY_TIMEOUT_SECONDS
    # kopf's first listing of each kind comes in pages, parsed one at a time: with a thousand apps
    # their Deployments are about 5 MB of JSON, parsed at once without pages.
    settings.watching.chunk_size = LIST_CHUNK_SIZE
    # One connection per thread that calls the API: kopf's handlers, and the child-event refreshes
    # in asyncio's default executor (min(32, CPUs + 4) threads).
    memo["api"] = new_api_client(connections=config.max_workers + min(32, (os.cpu_count() or 1) + 4))
    memo["addon_backends"] = standard_backends(AdminSecrets.from_api(memo["api"]))
    memo["app_refreshes"] = AppRefreshes()  # shared: handlers get shallow copies of this memo
    memo["known_apps"] = known_apps = KnownApps()
    diff_base = _diffbase_storage(memo["api"], known_apps, logger)
    settings.persistence.diffbase_storage = OwnKindsOnly(diff_base)
    memo["status_keeps_reconciled"] = isinstance(diff_base, AppStatusDiffBaseStorage)
    # Before kopf's watches start, as its indexes would be: every app is known before any handler
    # runs, so an Addon's first count of its apps and the first child events are complete.
    known_apps.load(_all_apps(memo["api"], config.namespaces))
    memo["child_states"] = ChildStates()
    memo["last_passes"] = LastPasses()
    memo["applied_children"] = AppliedChildren()
    memo["metrics"].app_phases.attach(known_apps.phases)
    if config.metrics_address:
        memo["metrics"].serve(config.metrics_address)


def _diffbase_storage(api: client.ApiClient, apps: KnownApps, logger: Logger) -> kopf.DiffBaseStorage:
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
        return AppStatusDiffBaseStorage(apps, others=annotations)
    logger.warning(
        "the installed CRD %s has no status.reconciledGeneration: it is older than this operator. kopf "
        "keeps what it handled of each app in annotations, one more write per app, until the CRDs are "
        "applied (kubectl apply --server-side -f crds/) and the operator restarted",
        APPS_CRD,
    )
    return annotations


def _all_apps(api: client.ApiClient, namespaces: tuple[str, ...]) -> Iterator[k8s.KubeObject]:
    for namespace in namespaces or (None,):
        try:
            yield from k8s.list_pages(api, API_VERSION, "CloudronApp", namespace, LIST_CHUNK_SIZE)
        except k8s.ApiError as error:
            if not error.not_found:  # no CRD yet: no apps; kopf reports the missing kind itself
                raise


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.on.startup(registry=registry)(configure)
    # A registry of our own has none of kopf's default login handlers: log in as the API client does.
    kopf.on.login(registry=registry)(kopf.login_via_client)
