"""One app's addons: pick the Addon, keep the credentials, write the Secret, provision the server.

The order makes every step restart-safe: the password is read from the app's Secret or generated,
the Secret is written *before* the server is told the password, and the server is converged to
the Secret's password on every pass. A kill at any line leaves a state the next pass completes,
and a password, once written, never changes unless its Secret is deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cloudron_operator import builders
from cloudron_operator.addons.base import AddonProblem, AddonRecord, AddonRequest
from cloudron_operator.addons.plan import addon_options, choose_addon, provisioned_addons
from cloudron_operator.addons.registry import AddonBackends
from cloudron_operator.builders.secrets import (
    addon_env_names,
    addon_secret_name,
    build_addon_secret,
    secret_values,
)
from cloudron_operator.manifest import Manifest
from cloudron_operator.metrics import Metrics
from cloudron_operator.models import AddonType, CloudronAppSpec
from cloudron_operator.models.conditions import Reason
from cloudron_operator.status import FALSE, TRUE, ConditionUpdate

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
    # Addon types that hold no data, no longer in the manifest, whose Addon could not release what
    # the app had there (a relay login): type -> (Addon, why). The record makes the next pass retry.
    unreleased: dict[str, tuple[str, str]] = field(default_factory=dict)

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
        unreleased = {
            addon_type: {"ready": False, "addon": addon, "message": f"no longer in the manifest: {why}"}
            for addon_type, (addon, why) in self.unreleased.items()
        }
        return {**left_behind, **unreleased, **{str(o.addon_type): o.status() for o in self.outcomes}}

    def condition(self) -> ConditionUpdate:
        problems = [o for o in self.outcomes if o.problem is not None]
        if problems:
            first = problems[0]
            assert first.problem is not None
            message = "; ".join(f"{o.addon_type}: {o.problem}" for o in problems)
            return ConditionUpdate("AddonsReady", FALSE, first.problem.reason, message)
        if not self.outcomes:
            return ConditionUpdate(
                "AddonsReady", TRUE, Reason.NO_ADDONS, "the app needs no provisioned addon"
            )
        names = ", ".join(str(o.addon_type) for o in self.outcomes)
        return ConditionUpdate("AddonsReady", TRUE, Reason.PROVISIONED, f"provisioned: {names}")


def provision_addons(
    backends: AddonBackends,
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
    wanted = provisioned_addons(manifest, spec, backends.types)
    holders = recorded_databases(recorded, backends)
    result.left_behind = {
        addon_type: addon for addon_type, addon in holders.items() if addon_type not in wanted
    }
    known_by_name = {a.name: a for a in known}
    for addon_type, (addon, *_) in _recorded_without_data(recorded, known_by_name, backends).items():
        if addon_type not in wanted:
            backend = backends.get(addon_type)
            assert backend is not None  # _recorded_without_data names only types with a backend
            try:
                backend.deprovision(identity, addon, {})
            except AddonProblem as problem:
                result.unreleased[addon_type] = (addon.name, str(problem))
    for addon_type in wanted:
        secret_name = addon_secret_name(identity.name, addon_type)
        outcome = AddonOutcome(addon_type, secret_name=secret_name)
        current = secret_values(existing_secrets.get(secret_name))
        result.outcomes.append(outcome)
        try:
            addon = choose_addon(addon_type, spec, known, holding=holders.get(addon_type))
            outcome.addon = addon.name
            result.children += _provision(
                backends,
                AddonRequest(identity, spec, manifest, addon, addon_options(manifest, addon_type), current),
                outcome,
                apply_child,
                metrics,
            )
        except AddonProblem as problem:
            outcome.problem = problem
            if outcome.addon is None:
                outcome.addon = holders.get(addon_type)
            if outcome.env is None and current:
                outcome.env = current  # keep the app running on the credentials it has
    return result


def _provision(
    backends: AddonBackends,
    request: AddonRequest,
    outcome: AddonOutcome,
    apply_child: ApplyChild,
    metrics: Metrics,
) -> list[dict[str, Any]]:
    """The one lifecycle: the app's variables, its Secret written, *then* the server converged to them."""
    backend = backends.get(outcome.addon_type)
    if backend is None:
        raise AddonProblem(
            Reason.UNSUPPORTED_ADDON, f"this operator cannot provision {outcome.addon_type} addons"
        )
    env = addon_env_names(backend.env(request), request.manifest)
    apply_child(build_addon_secret(request.identity, outcome.addon_type, env))
    outcome.env = env
    if not backend.holds_data:
        return backend.provision(request)
    with metrics.provisioning(outcome.addon_type):
        return backend.provision(request)


def deprovision_addons(
    backends: AddonBackends,
    identity: builders.AppIdentity,
    app: Mapping[str, Any],
    addons: Iterable[AddonRecord],
) -> list[str]:
    """Drop the app's data in every server it was provisioned in; the problems left.

    The servers come from status.addons, or, when the app was deleted before any status was
    written, from the Addons the manifest's addons would have chosen. The Addons of types that
    hold no data are asked too when status.addons names them and they still exist (a relay's
    per-app login; the app's own Redis is a child and goes with it): theirs is the say.
    """
    known = {a.name: a for a in addons}
    raw = (app.get("spec", {}).get("manifest") or {}).get("addons")
    # A manifest whose addons are not an object was refused (InvalidManifest): nothing was provisioned.
    raw_addons: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    problems = []
    provisioned = _provisioned_in(app, known.values(), raw_addons, backends)
    provisioned.update(_recorded_without_data(app.get("status", {}).get("addons") or {}, known, backends))
    for addon_type, candidates in provisioned.items():
        backend = backends.get(addon_type)
        assert backend is not None  # _provisioned_in names only types with a backend
        options = raw_addons.get(addon_type)
        for addon in candidates:
            try:
                backend.deprovision(identity, addon, options if isinstance(options, Mapping) else {})
            except AddonProblem as problem:
                problems.append(f"{addon_type} in Addon {addon.name}: {problem}")
    missing = _missing_addons(app, known, backends)
    problems += [f"{addon_type}: Addon {name} no longer exists" for addon_type, name in missing.items()]
    return problems


def recorded_databases(recorded: Mapping[str, Any], backends: AddonBackends) -> dict[str, str]:
    """Addon type -> the Addon that status.addons says holds the app's data (for types that hold data)."""
    holding = backends.holding_data()
    return {
        str(addon_type): str(entry["addon"])
        for addon_type, entry in recorded.items()
        if addon_type in holding and isinstance(entry, Mapping) and entry.get("addon")
    }


def _provisioned_in(
    app: Mapping[str, Any],
    addons: Iterable[AddonRecord],
    raw_addons: Mapping[str, Any],
    backends: AddonBackends,
) -> dict[str, list[AddonRecord]]:
    """Addon type -> the Addons the app's data may be in, for the types that hold data.

    The one recorded in its status; with no record (the app was deleted before its first status
    was written), the one its spec names, else every default of the type: dropping a database
    that is not there changes nothing, and the names come from the app's uid alone.
    """
    known = {a.name: a for a in addons}
    recorded = recorded_databases(app.get("status", {}).get("addons") or {}, backends)
    found: dict[str, list[AddonRecord]] = {}
    for addon_type in backends.holding_data():
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


def _recorded_without_data(
    recorded: Mapping[str, Any], known: Mapping[str, AddonRecord], backends: AddonBackends
) -> dict[str, list[AddonRecord]]:
    """Addon type -> the existing Addon `recorded` (status.addons) names, for types holding no data."""
    holding = backends.holding_data()
    found: dict[str, list[AddonRecord]] = {}
    for addon_type, entry in recorded.items():
        name = str(entry.get("addon")) if isinstance(entry, Mapping) else ""
        if addon_type not in holding and backends.get(addon_type) is not None and name in known:
            found[addon_type] = [known[name]]
    return found


def _missing_addons(
    app: Mapping[str, Any], known: Mapping[str, AddonRecord], backends: AddonBackends
) -> dict[str, str]:
    recorded = recorded_databases(app.get("status", {}).get("addons") or {}, backends)
    return {addon_type: name for addon_type, name in recorded.items() if name not in known}
