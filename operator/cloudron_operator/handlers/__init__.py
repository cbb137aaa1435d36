"""kopf handlers, registered into a registry built from the config (no import-time side effects)."""

from __future__ import annotations

import kopf

from cloudron_operator.config import OperatorConfig
from cloudron_operator.handlers import addons, apps, backups, catalogs, lifecycle
from cloudron_operator.metrics import Metrics


def build_registry(config: OperatorConfig, metrics: Metrics) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    lifecycle.register(registry)
    addons.register(registry, config, metrics)
    apps.register(registry, config, metrics)
    backups.register(registry, config, metrics)
    catalogs.register(registry, metrics)
    return registry
