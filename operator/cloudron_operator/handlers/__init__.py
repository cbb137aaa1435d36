"""kopf handlers, registered into a registry built from the config (no import-time side effects)."""

from __future__ import annotations

import kopf

from cloudron_operator.config import OperatorConfig
from cloudron_operator.handlers import addons, apps, lifecycle


def build_registry(config: OperatorConfig) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    lifecycle.register(registry)
    addons.register(registry, config)
    apps.register(registry, config)
    return registry
