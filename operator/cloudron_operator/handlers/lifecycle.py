"""Operator start-up: apply the config to kopf's settings and open the API client."""

from __future__ import annotations

import concurrent.futures
import os
from typing import Any

import kopf

from cloudron_operator.config import OperatorConfig
from cloudron_operator.handlers.apps import LastPasses
from cloudron_operator.handlers.child_events import AppRefreshes
from cloudron_operator.handlers.child_states import ChildStates
from cloudron_operator.handlers.known_apps import RecordedApps
from cloudron_operator.k8s.api import FIELD_MANAGER, new_api_client

CONSISTENCY_TIMEOUT_SECONDS = 60.0
LIST_CHUNK_SIZE = 100


def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **kwargs: Any) -> None:
    config: OperatorConfig = memo["config"]
    settings.execution.executor = concurrent.futures.ThreadPoolExecutor(max_workers=config.max_workers)
    settings.posting.reporting_component = FIELD_MANAGER
    settings.persistence.finalizer = "cloudron.io/finalizer"
    # Handler progress lives in annotations, not in status: status belongs to our conditions.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="cloudron.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="cloudron.io")
    # After writing its annotations, kopf waits this long for the watch to bring that version back
    # before it trusts an older event (our status write, sent just before). Its default, 5 s, is
    # shorter than the watch lags when hundreds of apps arrive at once: kopf then took the older
    # event, without its own annotations, for a new object and ran the create pass a second time.
    settings.persistence.consistency_timeout = CONSISTENCY_TIMEOUT_SECONDS
    # kopf's first listing of each kind comes in pages, parsed one at a time: with a thousand apps
    # their Deployments are about 5 MB of JSON, parsed at once without pages.
    settings.watching.chunk_size = LIST_CHUNK_SIZE
    # One connection per thread that calls the API: kopf's handlers, and the child-event refreshes
    # in asyncio's default executor (min(32, CPUs + 4) threads).
    memo["api"] = new_api_client(connections=config.max_workers + min(32, (os.cpu_count() or 1) + 4))
    memo["app_refreshes"] = AppRefreshes()  # shared: handlers get shallow copies of this memo
    memo["recorded_apps"] = RecordedApps()
    memo["child_states"] = ChildStates()
    memo["last_passes"] = LastPasses()
    # kopf hands its indexes to start-up handlers too: the apps-by-phase gauge reads this one.
    memo["metrics"].app_phases.attach(kwargs["apps_by_phase"])
    if config.metrics_address:
        memo["metrics"].serve(config.metrics_address)


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.on.startup(registry=registry)(configure)
    # A registry of our own has none of kopf's default login handlers: log in as the API client does.
    kopf.on.login(registry=registry)(kopf.login_via_client)
