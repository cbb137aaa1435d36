"""What every handler works with, made once at start-up: one typed object in kopf's memo."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from cloudron_operator.addons.registry import AddonBackends
from cloudron_operator.catalog.cache import Catalogs
from cloudron_operator.config import OperatorConfig
from cloudron_operator.kopf_adapters.workers import Workers
from cloudron_operator.metrics import Metrics
from cloudron_operator.reconcile.passes import LastPasses
from cloudron_operator.reconcile.refresh import AppRefreshes
from cloudron_operator.store import Store

MEMO_KEY = "runtime"


@dataclass
class Runtime:
    config: OperatorConfig
    metrics: Metrics
    api: client.ApiClient
    store: Store
    backends: AddonBackends
    passes: LastPasses
    workers: Workers
    refreshes: AppRefreshes  # used in kopf's event loop only
    catalogs: Catalogs = field(default_factory=Catalogs)  # the AppCatalogs read, by name
    # Whether the installed CRD keeps status.reconciledGeneration (see `kopf_adapters.storage`): the
    # pass then writes there which generation it handled.
    status_keeps_reconciled: bool = True
    # Whether kopf pauses this replica in favour of another (peering): nothing is written outside
    # kopf's handlers then either.
    paused: Callable[[], bool] = field(default=lambda: False)


def runtime(memo: Any) -> Runtime:
    """The process's runtime, from the memo kopf hands every handler."""
    found = memo[MEMO_KEY]
    assert isinstance(found, Runtime), "the start-up handler sets the runtime before any other runs"
    return found
