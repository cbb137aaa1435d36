"""Which of an app's addons the operator provisions, in which Addon, and which it cannot serve.

Pure: the manifest, the spec and what the operator knows of the Addons in, a plan or a problem out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from cloudron_operator.addons.base import AddonProblem, AddonRecord
from cloudron_operator.builders.scheduler import UNMAPPED_SCHEDULES
from cloudron_operator.manifest import Manifest
from cloudron_operator.models import AddonType, CloudronAppSpec
from cloudron_operator.models.conditions import Reason

# Addons the app's own children serve: the data volume, the mounted certificate, the task CronJobs.
BUILT_IN: Final = frozenset({"localstorage", "tls", "scheduler"})
# Addon types served by an Addon of another type: proxyAuth's wall is a client of the oidc provider.
SERVED_BY: Final = {AddonType.PROXY_AUTH: AddonType.OIDC}
# Auth addons: with optionalSso and sso off, Cloudron injects none of their variables.
SSO_ADDONS: Final = frozenset({"ldap", "oidc", "proxyAuth"})
RETIRED_LOGIN_ADDONS: Final = frozenset({"oauth"})
# Addons this operator will never serve, and why: an app that needs one is refused for good.
REFUSED: Final = {
    "docker": (
        "it gives the app a Docker API to start containers of its own; a cluster has no safe "
        "counterpart (it would mean a container runtime, or the right to make pods, in the app's hands)"
    ),
    "oauth": "Cloudron retired it (the legacy OAuth addon); a current package uses oidc (or ldap) instead",
}
# simpleauth is refused earlier: Cloudron's manifest format no longer accepts it (`manifest.model`).


def refused_addons(manifest: Manifest, spec: CloudronAppSpec) -> dict[str, str]:
    """The manifest's addons this operator will never serve, with why; the app cannot run without them.

    `oauth` is a login addon: with `optionalSso` and sso off the app does not need it.
    """
    login_off = not spec.sso
    refused = {
        name: why
        for name, why in REFUSED.items()
        if name in manifest.addons.names and not (name in RETIRED_LOGIN_ADDONS and login_off)
    }
    unmapped = [
        f"task {task}: {entry.schedule}"
        for task, entry in sorted((manifest.addons.scheduler or {}).items())
        if entry.schedule in UNMAPPED_SCHEDULES
    ]
    if unmapped:
        refused["scheduler"] = (
            f"{', '.join(unmapped)}: a run when the server boots, or a service kept running beside the "
            "app, has no honest counterpart in a cluster (pods restart and move at any time); "
            "run it in the app's own start script instead"
        )
    return refused


def unsupported_addons(
    manifest: Manifest, spec: CloudronAppSpec, served: Sequence[AddonType]
) -> tuple[str, ...]:
    """The manifest's addons this operator cannot give the app; the app cannot run without them.

    `served`: the addon types this operator has a backend for.
    """
    return tuple(
        name
        for name in manifest.addons.names
        if name not in BUILT_IN
        and name not in served
        and name not in REFUSED
        and not (name in SSO_ADDONS and not spec.sso)
    )


def provisioned_addons(
    manifest: Manifest, spec: CloudronAppSpec, served: Sequence[AddonType]
) -> tuple[AddonType, ...]:
    """The manifest's addons provisioned in an Addon, in the order of `served`: not an optional
    sendmail, and no login addon when the app's single sign-on is off (`optionalSso`, spec.sso)."""
    names = set(manifest.addons.names)
    if _options(manifest, "sendmail").get("optional") is True:
        names.discard("sendmail")
    if not spec.sso:
        names -= SSO_ADDONS
    return tuple(addon_type for addon_type in served if addon_type.value in names)


def addon_options(manifest: Manifest, addon_type: AddonType) -> Mapping[str, Any]:
    """The manifest's options of one addon, e.g. {"multipleDatabases": true}."""
    return _options(manifest, addon_type.value)


def choose_addon(
    addon_type: AddonType,
    spec: CloudronAppSpec,
    addons: Iterable[AddonRecord],
    *,
    holding: str | None = None,
) -> AddonRecord:
    """The Addon the app's `addon_type` is provisioned in: the one spec.addons names, else the one
    `holding` its database (the app's status says which), else the default.

    An app keeps its database where it is when another Addon becomes the default, or a second one
    does: the operator moves no data, and the app would start on an empty database. Naming an
    Addon in spec.addons is how to move it (the data is the app owner's to move).
    Raises AddonProblem saying what the cluster admin or the app's owner has to create or fix.
    """
    known = list(addons)
    selection = spec.addons.get(addon_type)
    served_by = SERVED_BY.get(addon_type, addon_type)
    if selection is None and holding is not None:
        holder = next((addon for addon in known if addon.name == holding), None)
        if holder is None or holder.type != served_by:
            raise AddonProblem(
                Reason.ADDON_NOT_FOUND,
                f"there is no {addon_type} Addon named {holding}, which holds the app's database: "
                f"create it again, or name another in spec.addons.{addon_type}.addonRef",
            )
        return holder
    if selection is not None:
        named = next((addon for addon in known if addon.name == selection.addon_ref), None)
        if named is None:
            raise AddonProblem(
                Reason.ADDON_NOT_FOUND,
                f"spec.addons.{addon_type}.addonRef: there is no Addon named {selection.addon_ref}",
            )
        if named.type != served_by:
            raise AddonProblem(
                Reason.ADDON_TYPE_MISMATCH,
                f"spec.addons.{addon_type}.addonRef: Addon {named.name} is of type {named.type}, "
                f"not {served_by}",
            )
        return named
    defaults = sorted((a for a in known if a.type == served_by and a.default), key=lambda a: a.name)
    of_type = f"{served_by} Addon" + (f" (which serves {addon_type})" if served_by != addon_type else "")
    if not defaults:
        raise AddonProblem(
            Reason.NO_DEFAULT_ADDON,
            f"the manifest asks for {addon_type} and no {of_type} is the default: create one "
            f"with spec.default: true (see addons/), or name one in spec.addons.{addon_type}.addonRef",
        )
    if len(defaults) > 1:
        names = ", ".join(a.name for a in defaults)
        raise AddonProblem(
            Reason.AMBIGUOUS_DEFAULT_ADDON,
            f"Addons {names} are all the default {of_type}: keep spec.default: true on one, "
            f"or name one in spec.addons.{addon_type}.addonRef",
        )
    return defaults[0]


def _options(manifest: Manifest, name: str) -> Mapping[str, Any]:
    value = manifest.addons.model_dump(by_alias=True, exclude_none=True).get(name)
    return value if isinstance(value, Mapping) else {}
