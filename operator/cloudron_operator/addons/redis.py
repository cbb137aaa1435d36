"""redis: a Redis of the app's own, built as children of the app (CLOUDRON.md §2.5).

No shared server: the Addon only says how every app's Redis is made (image, memory, volume).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudron_operator.addons.base import AddonCheck, AddonProblem, AddonRecord, AddonRequest
from cloudron_operator.builders.identity import AppIdentity
from cloudron_operator.builders.memory import effective_memory_limit
from cloudron_operator.builders.redis import RedisOptions, build_redis_children, redis_env
from cloudron_operator.builders.secrets import addon_secret_name
from cloudron_operator.models import AddonType
from cloudron_operator.models.conditions import Reason

PASSWORD_KEY = "CLOUDRON_REDIS_PASSWORD"  # noqa: S105 - a variable's name


class RedisAddon:
    addon_type = AddonType.REDIS
    holds_data = False  # the app's Redis and its volume are the app's children, and go with it

    def check(self, addon: AddonRecord) -> AddonCheck:
        redis_options(addon)
        return AddonCheck("each app that asks for redis gets a Redis of its own")

    def env(self, request: AddonRequest) -> dict[str, str]:
        return redis_env(request.identity, _password(request))

    def provision(self, request: AddonRequest) -> list[dict[str, Any]]:
        password = _password(request)
        return build_redis_children(
            request.identity,
            redis_options(request.addon),
            secret_name=addon_secret_name(request.identity.name, self.addon_type),
            password_key=None if password is None else request.manifest.env_prefix + "REDIS_PASSWORD",
            password=password,
            app_memory=effective_memory_limit(request.spec, request.manifest),
            running=request.spec.running,
            task_pods=bool(request.manifest.addons.scheduler),
        )

    def deprovision(self, identity: AppIdentity, addon: AddonRecord, options: Mapping[str, Any]) -> None:
        return None


def redis_options(addon: AddonRecord) -> RedisOptions:
    """What every app's own Redis is made with, from a redis Addon's options."""
    try:
        return RedisOptions.from_addon(addon.options)
    except ValueError as error:
        raise AddonProblem(Reason.INVALID_OPTIONS, f"Addon {addon.name}: spec.{error}") from error


def _password(request: AddonRequest) -> str | None:
    """None with the manifest's noPassword: the app's Redis then takes no password at all."""
    return None if request.options.get("noPassword") is True else request.password(PASSWORD_KEY)
