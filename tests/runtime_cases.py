"""A runtime for tests that call handlers directly, without kopf: an API client that is never used
unless the test says so, an empty store, the standard addon backends."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from cloudron_operator.addons.logins import AdminSecrets
from cloudron_operator.addons.registry import standard_backends
from cloudron_operator.config import OperatorConfig
from cloudron_operator.kopf_adapters.workers import Workers
from cloudron_operator.metrics import Metrics
from cloudron_operator.reconcile.passes import LastPasses
from cloudron_operator.reconcile.refresh import AppRefreshes
from cloudron_operator.runtime import MEMO_KEY, Runtime
from cloudron_operator.store import Store


def runtime_for_tests(api: client.ApiClient | None = None, **fields: Any) -> Runtime:
    api = api or client.ApiClient()
    defaults: dict[str, Any] = {
        "config": OperatorConfig(),
        "metrics": Metrics(),
        "api": api,
        "store": Store(api, ()),
        "backends": standard_backends(AdminSecrets(lambda namespace, name: None)),
        "passes": LastPasses(),
        "workers": Workers(2),
        "refreshes": AppRefreshes(),
    }
    return Runtime(**(defaults | fields))


def memo_of(runtime: Runtime) -> dict[str, Any]:
    """What kopf hands a handler as its memo."""
    return {MEMO_KEY: runtime}
