"""One app's addons: pick the Addon, keep the credentials, write the Secret, provision the server.

The order makes every step restart-safe: the password is read from the app's Secret or generated,
the Secret is written *before* the server is told the password, and the server is converged to
the Secret's password on every pass. A kill at any line leaves a state the next pass completes,
and a password, once written, never changes unless its Secret is deleted.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cloudron_operator import builders
from cloudron_operator.addon_plan import (
    AddonProblem,
    AddonRecord,
    addon_options,
    choose_addon,
    provisioned_addons,
)
from cloudron_operator.builders.memory import effective_memory_limit
from cloudron_operator.builders.redis import build_redis_children, redis_env
from cloudron_operator.builders.secrets import (
    RESERVED_PREFIX,
    addon_env_names,
    addon_secret_name,
    build_addon_secret,
    secret_values,
)
from cloudron_operator.builders.sendmail import sendmail_env
from cloudron_operator.handlers.addon_access import (
    AdminSecrets,
    backend_for,
    redis_options,
    relay,
    server_access,
)
from cloudron_operator.manifest import Manifest
from cloudron_operator.metrics import Metrics
from cloudron_operator.models import AddonType, CloudronAppSpec
from cloudron_operator.provisioners import AppDatabase, ProvisioningFailed, ServerUnreachable
from cloudron_operator.status import FALSE, TRUE, ConditionUpdate

PASSWORD_BYTES = 24  # 32 URL-safe characters
ApplyChild = Callable[[Mapping[str, Any]], None]


@dataclass
class AddonOutcome:
    """What one addon gave the app, or why it could not."""

    addon_type: AddonType
    addon: str | None = None
    secret_name: str | None = None
    env: dict[str, str] | None = None  # the Secret's content: None when there is no Secret to mount
    problem: AddonProblem | None = None

    def status(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"ready": self.problem is None}
        if self.addon is not None:
            entry["addon"] = self.addon
        if self.secret_name is not None:
            entry["secretName"] = self.secret_name
        if self.problem is not None:
            entry["message"] = str(self.problem)
        return entry


@dataclass
class AddonsResult:
    outcomes: list[AddonOutcome] = field(default_factory=list)
    children: list[dict[str, Any]] = field(default_factory=list)  # the app's own Redis, if any
    # Database addon type -> the Addon holding a database the manifest no longer asks for. It is
    # kept, with its data, and dropped with the app: the record is what finds it then.
    left_behind: dict[str, str] = field(default_factory=dict)

    @property
    def secrets(self) -> dict[str, dict[str, str]]:
        """Secret name -> content of every addon Secret the workload mounts."""
        return {o.secret_name: o.env for o in self.outcomes if o.secret_name and o.env is not None}

    @property
    def complete(self) -> bool:
        """Whether every addon has its Secret, so the workload can start with all its variables."""
        return all(o.env is not None for o in self.outcomes)

    @property
    def retriable(self) -> bool:
        """Whether some addon waits for a server or an Addon, which a later pass may find ready."""
        return any(o.problem is not None for o in self.outcomes)

    def status(self) -> dict[str, Any]:
        left_behind = {
            addon_type: {
                "ready": True,
                "addon": addon,
                "message": "no longer in the manifest: its database is kept until the app is deleted",
            }
            for addon_type, addon in self.left_behind.items()
        }
        return {**left_behind, **{str(o.addon_type): o.status() for o in self.outcomes}}

    def condition(self) -> ConditionUpdate:
        problems = [o for o in self.outcomes if o.problem is not None]
        if problems:
            first = problems[0]
            assert first.problem is not None
            message = "; ".join(f"{o.addon_type}: {o.problem}" for o in problems)
            return ConditionUpdate("AddonsReady", FALSE, first.problem.reason, message)
        if not self.outcomes:
            return ConditionUpdate("AddonsReady", TRUE, "NoAddons", "the app needs no provisioned addon")
        names = ", ".join(str(o.addon_type) for o in self.outcomes)
        return ConditionUpdate("AddonsReady", TRUE, "Provisioned", f"provisioned: {names}")


def provision_addons(
    admin_secrets: AdminSecrets,
    *,
    identity: builders.AppIdentity,
    spec: CloudronAppSpec,
    manifest: Manifest,
    addons: Iterable[AddonRecord],
    existing_secrets: Mapping[str, Mapping[str, Any]],
    apply_child: ApplyChild,
    metrics: Metrics,
    recorded: Mapping[str, Any],
) -> AddonsResult:
    """Provision every addon of the manifest that needs a server; problems are reported, not raised.

    `recorded`: the app's status.addons, which says in which Addon each of its databases is. An
    entry stays there as long as the database may exist, also while no Addon can be chosen (the
    Addon deleted for a while, a second default) and once the manifest stops asking for it.
    """
    known = list(addons)
    result = AddonsResult()
    wanted = provisioned_addons(manifest)
    holders = recorded_databases(recorded)
    result.left_behind = {
        addon_type: addon for addon_type, addon in holders.items() if addon_type not in wanted
    }
    for addon_type in wanted:
        secret_name = addon_secret_name(identity.name, addon_type)
        outcome = AddonOutcome(addon_type, secret_name=secret_name)
        current = secret_values(existing_secrets.get(secret_name))
        result.outcomes.append(outcome)
        try:
            addon = choose_addon(addon_type, spec, known, holding=holders.get(addon_type))
            outcome.addon = addon.name
            if addon_type == AddonType.SENDMAIL:
                env = addon_env_names(
                    sendmail_env(
                        identity,
                        spec,
                        manifest,
                        addon_options(manifest, addon_type),
                        relay(admin_secrets, addon),
                    ),
                    manifest,
                )
                apply_child(build_addon_secret(identity, addon_type, env))
                outcome.env = env
            elif addon_type == AddonType.REDIS:
                result.children += _redis(
                    identity,
                    spec,
                    manifest=manifest,
                    addon=addon,
                    current=current,
                    outcome=outcome,
                    apply=apply_child,
                )
            else:
                with metrics.provisioning(addon_type):
                    _database(
                        admin_secrets,
                        identity,
                        manifest=manifest,
                        addon=addon,
                        current=current,
                        outcome=outcome,
                        apply=apply_child,
                    )
        except AddonProblem as problem:
            outcome.problem = problem
            if outcome.addon is None:
                outcome.addon = holders.get(addon_type)
            if outcome.env is None and current:
                outcome.env = current  # keep the app running on the credentials it has
    return result


def _database(
    admin_secrets: AdminSecrets,
    identity: builders.AppIdentity,
    *,
    manifest: Manifest,
    addon: AddonRecord,
    current: Mapping[str, str],
    outcome: AddonOutcome,
    apply: ApplyChild,
) -> None:
    backend = backend_for(addon)
    access = server_access(admin_secrets, addon)
    database = AppDatabase(app_uid=identity.uid, options=dict(addon_options(manifest, outcome.addon_type)))
    password = _password(current, f"CLOUDRON_{outcome.addon_type.upper()}_PASSWORD")
    env = addon_env_names(backend.env(access, database, password), manifest)
    apply(build_addon_secret(identity, outcome.addon_type, env))
    outcome.env = env
    try:
        backend.provision(access, database, password)
    except ServerUnreachable as error:
        admin_secrets.forget(addon)  # the admin password may have changed: the retry reads it again
        raise AddonProblem("AddonUnreachable", f"Addon {addon.name}: {error}") from error
    except ProvisioningFailed as error:
        admin_secrets.forget(addon)
        raise AddonProblem("AddonFailed", f"Addon {addon.name}: {error}") from error


def _redis(
    identity: builders.AppIdentity,
    spec: CloudronAppSpec,
    *,
    manifest: Manifest,
    addon: AddonRecord,
    current: Mapping[str, str],
    outcome: AddonOutcome,
    apply: ApplyChild,
) -> list[dict[str, Any]]:
    options = redis_options(addon)
    no_password = addon_options(manifest, AddonType.REDIS).get("noPassword") is True
    password = None if no_password else _password(current, "CLOUDRON_REDIS_PASSWORD")
    env = addon_env_names(redis_env(identity, password), manifest)
    secret = build_addon_secret(identity, AddonType.REDIS, env)
    apply(secret)
    outcome.env = env
    password_key = None if no_password else manifest.env_prefix + "REDIS_PASSWORD"
    return build_redis_children(
        identity,
        options,
        secret_name=secret["metadata"]["name"],
        password_key=password_key,
        password=password,
        app_memory=effective_memory_limit(spec, manifest),
        running=spec.running,
    )


def _password(current: Mapping[str, str], key: str) -> str:
    """The password the app's Secret holds (under either naming), else a new one."""
    existing = current.get(key) or current.get(key.removeprefix(RESERVED_PREFIX))
    return existing or secrets.token_urlsafe(PASSWORD_BYTES)


def deprovision_addons(
    admin_secrets: AdminSecrets,
    identity: builders.AppIdentity,
    app: Mapping[str, Any],
    addons: Iterable[AddonRecord],
) -> list[str]:
    """Drop the app's databases and users in every server it was provisioned in; the problems left.

    The servers come from status.addons, or, when the app was deleted before any status was
    written, from the Addons the manifest's addons would have chosen. Redis needs nothing here:
    the app's own Redis is a child and goes with it.
    """
    known = {a.name: a for a in addons}
    raw_addons: Mapping[str, Any] = (app.get("spec", {}).get("manifest") or {}).get("addons") or {}
    problems = []
    for addon_type, candidates in _provisioned_in(app, known.values(), raw_addons).items():
        options = raw_addons.get(addon_type)
        database = AppDatabase(identity.uid, dict(options) if isinstance(options, Mapping) else {})
        for addon in candidates:
            try:
                backend_for(addon).deprovision(server_access(admin_secrets, addon), database)
            except (AddonProblem, ServerUnreachable, ProvisioningFailed) as error:
                admin_secrets.forget(addon)
                problems.append(f"{addon_type} in Addon {addon.name}: {error}")
    missing = _missing_addons(app, known)
    problems += [f"{addon_type}: Addon {name} no longer exists" for addon_type, name in missing.items()]
    return problems


def recorded_databases(recorded: Mapping[str, Any]) -> dict[str, str]:
    """Database addon type -> the Addon that status.addons says holds the app's database."""
    return {
        str(addon_type): str(entry["addon"])
        for addon_type, entry in recorded.items()
        if addon_type in (AddonType.POSTGRESQL, AddonType.MYSQL)
        and isinstance(entry, Mapping)
        and entry.get("addon")
    }


def _provisioned_in(
    app: Mapping[str, Any], addons: Iterable[AddonRecord], raw_addons: Mapping[str, Any]
) -> dict[str, list[AddonRecord]]:
    """Database addon type -> the Addons the app's database may be in.

    The one recorded in its status; with no record (the app was deleted before its first status
    was written), the one its spec names, else every default of the type: dropping a database
    that is not there changes nothing, and the names come from the app's uid alone.
    """
    known = {a.name: a for a in addons}
    recorded = recorded_databases(app.get("status", {}).get("addons") or {})
    found: dict[str, list[AddonRecord]] = {}
    for addon_type in (AddonType.POSTGRESQL, AddonType.MYSQL):
        if addon_type not in raw_addons and addon_type not in recorded:
            continue
        name = recorded.get(addon_type)
        if name is not None:
            if name in known:
                found[addon_type] = [known[name]]
            continue
        selections = (app.get("spec", {}).get("addons") or {}).get(addon_type) or {}
        ref = selections.get("addonRef")
        defaults = [a for a in known.values() if a.type == addon_type and a.default]
        found[addon_type] = [known[ref]] if ref in known else defaults
    return found


def _missing_addons(app: Mapping[str, Any], known: Mapping[str, AddonRecord]) -> dict[str, str]:
    recorded = recorded_databases(app.get("status", {}).get("addons") or {})
    return {addon_type: name for addon_type, name in recorded.items() if name not in known}
