"""Operator start-up: apply the config to kopf's settings and open the API client."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import kopf

from cloudron_operator.config import OperatorConfig
from cloudron_operator.k8s.api import FIELD_MANAGER, new_api_client


def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **kwargs: Any) -> None:
    config: OperatorConfig = memo["config"]
    settings.execution.executor = concurrent.futures.ThreadPoolExecutor(max_workers=config.max_workers)
    settings.posting.reporting_component = FIELD_MANAGER
    settings.persistence.finalizer = "cloudron.io/finalizer"
    # Handler progress lives in annotations, not in status: status belongs to our conditions.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="cloudron.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="cloudron.io")
    memo["api"] = new_api_client()
    # kopf hands its indexes to start-up handlers too: the apps-by-phase gauge reads this one.
    memo["metrics"].app_phases.attach(kwargs["apps_by_phase"])
    if config.metrics_address:
        memo["metrics"].serve(config.metrics_address)


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.on.startup(registry=registry)(configure)
    # A registry of our own has none of kopf's default login handlers: log in as the API client does.
    kopf.on.login(registry=registry)(kopf.login_via_client)
