"""Parse and check: the app's spec and manifest as models, or InvalidApp saying what to fix."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import kopf
from pydantic import ValidationError

from cloudron_operator import builders
from cloudron_operator.addons.plan import refused_addons, unsupported_addons
from cloudron_operator.addons.registry import AddonBackends
from cloudron_operator.backup.package import running_package
from cloudron_operator.builders.gateway import check_gateway_limits, route_hosts
from cloudron_operator.builders.http_ports import http_services
from cloudron_operator.builders.identity import apps_sharing_child_names
from cloudron_operator.config import OperatorConfig
from cloudron_operator.manifest import Manifest
from cloudron_operator.manifest.fidelity import unhonoured
from cloudron_operator.manifest.validation import validate_manifest
from cloudron_operator.models import CloudronAppSpec
from cloudron_operator.models.app import RESOLVED_PACKAGE
from cloudron_operator.models.conditions import Reason
from cloudron_operator.reconcile.errors import InvalidApp
from cloudron_operator.store import Store


class CheckedApp(NamedTuple):
    identity: builders.AppIdentity
    spec: CloudronAppSpec
    manifest: Manifest
    warnings: tuple[str, ...]  # what the validator warned of, and the fields accepted and not honoured


def checked_app(body: kopf.Body, backends: AddonBackends, store: Store, config: OperatorConfig) -> CheckedApp:
    """The app's identity, spec and manifest, once everything that can be checked before any addon is
    provisioned holds: a valid spec and manifest, addons this operator serves, names and hosts of its
    own, routes the Gateway API can hold."""
    spec, manifest, warnings = parse_with_warnings(body)
    if refused := refused_addons(manifest, spec):
        reasons = "; ".join(f"{name}: {why}" for name, why in refused.items())
        raise InvalidApp(
            Reason.ADDON_REFUSED,
            f"the manifest asks for {', '.join(refused)}, which this operator does not offer ({reasons})",
        )
    if unsupported := unsupported_addons(manifest, spec, backends.types):
        raise InvalidApp(
            Reason.UNSUPPORTED_ADDON,
            f"the manifest asks for {', '.join(unsupported)}, which this operator does not provide; "
            "the app cannot run without it",
        )
    services = http_services(spec, manifest)
    try:
        builders.check_spec(spec, manifest)  # before any database is made for it
        if config.routing == "gateway":
            check_gateway_limits(spec, services)
    except builders.InvalidSpec as invalid:
        raise InvalidApp(Reason.INVALID_SPEC, str(invalid)) from invalid
    if conflict := name_conflict(store, body):
        raise InvalidApp(Reason.NAME_CONFLICT, conflict)
    if conflict := host_conflict(store, body, route_hosts(spec, services)):
        raise InvalidApp(Reason.HOST_IN_USE, conflict)
    identity = builders.AppIdentity(body.meta["name"], body.meta["namespace"], body.meta["uid"])
    return CheckedApp(identity, spec, manifest, warnings)


def parse(body: Mapping[str, Any]) -> tuple[CloudronAppSpec, Manifest]:
    spec, manifest, _ = parse_with_warnings(body)
    return spec, manifest


def parse_with_warnings(body: Mapping[str, Any]) -> tuple[CloudronAppSpec, Manifest, tuple[str, ...]]:
    """The spec and manifest as models, and what the admin should know of the manifest: the
    validator's warnings, then each field that is accepted and not honoured, with why."""
    try:
        spec = CloudronAppSpec.model_validate(running_package(body), context=RESOLVED_PACKAGE)
    except ValidationError as error:
        raise InvalidApp(Reason.INVALID_SPEC, _first_errors(str(e) for e in error.errors())) from error
    if spec.image is None:
        message = "waiting for the backup's image and manifest (spec.restoreFrom)"
        raise InvalidApp(Reason.RESTORE_PENDING, message)
    result = validate_manifest(spec.package_manifest)
    if result.manifest is None:
        raise InvalidApp(
            Reason.INVALID_MANIFEST, "spec.manifest: " + _first_errors(str(e) for e in result.errors)
        )
    unused = unhonoured(spec.package_manifest)
    ignored = (f"{path}: accepted, not honoured: {why}" for path, why in unused.items())
    return spec, result.manifest, (*map(str, result.warnings), *ignored)


def _first_errors(messages: Any, limit: int = 5) -> str:
    listed = list(messages)
    more = f" (and {len(listed) - limit} more)" if len(listed) > limit else ""
    return "; ".join(listed[:limit]) + more


def name_conflict(store: Store, body: kopf.Body) -> str | None:
    """Why this app may not have its children: an app of the namespace made before it has their names.

    Each apply would take the child over from the other app, and the other would take it back.
    """
    namespace, name = body.meta["namespace"], body.meta["name"]
    mine = _creation_order(body.meta)
    for other_name in apps_sharing_child_names(name):
        other = store.app((namespace, other_name))
        if other is not None and _creation_order(other.app["metadata"]) < mine:
            shared = max(name, other_name, key=len)
            return (
                f"app {other_name} in this namespace was made first, and children of both apps would be "
                f"named {shared}: give this app another name"
            )
    return None


def host_conflict(store: Store, body: kopf.Body, hosts: Iterable[str]) -> str | None:
    """Why this app may not have one of its hosts: an app made before it has it, and keeps it.

    Two apps on one host would be served by whichever the ingress controller picks (or by neither,
    as Gateway listeners in conflict); Cloudron refuses the second install.
    """
    mine = _creation_order(body.meta)
    for host in hosts:
        for other in store.apps_with_host(host):
            meta = other.app["metadata"]
            if other.uid != body.meta["uid"] and not other.being_deleted and _creation_order(meta) < mine:
                return (
                    f"{host} is already an app's host: {meta['namespace']}/{meta['name']}, made first, keeps "
                    "it; give this app another host, or remove it from the other"
                )
    return None


def _creation_order(meta: Mapping[str, Any]) -> tuple[str, str, str]:
    """Which of two apps was made first; made in the same second, the first by namespace and name."""
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("namespace") or ""), str(meta["name"]))
