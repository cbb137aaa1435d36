"""Operator start-up: apply the config to kopf's settings and keep it in the memo."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import kopf

from cloudron_operator.config import OperatorConfig

FIELD_MANAGER = "cloudron-operator"


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config: OperatorConfig = memo["config"]
    settings.execution.executor = concurrent.futures.ThreadPoolExecutor(max_workers=config.max_workers)
    settings.posting.reporting_component = FIELD_MANAGER
    settings.persistence.finalizer = "cloudron.io/finalizer"
    # Handler progress lives in an annotation, not in status: status belongs to our conditions.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="cloudron.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="cloudron.io")
