"""Which version of its catalog an app may move to, by Cloudron's rules (CLOUDRON.md §4.4). Pure.

Any update: never a version that is revoked or invalid, never another app id, never a downgrade.
Automatic updates also: never across a major version (unless the running major is 0), never to a
manifest that drops a TCP/UDP port the app has enabled; a pinned version (the admin's explicit
choice) may do both, as a manual update on Cloudron may.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from cloudron_operator.builders.ports import enabled_ports
from cloudron_operator.catalog.document import CatalogVersion
from cloudron_operator.catalog.versions import Version
from cloudron_operator.manifest.validation import validate_manifest
from cloudron_operator.models import CloudronAppSpec, VersionState
from cloudron_operator.models.conditions import Reason


class Block(NamedTuple):
    """A rule that keeps the app off a version: the condition reason, and why, for the admin."""

    reason: Reason
    message: str


class Running(NamedTuple):
    """What the app runs now."""

    app_id: str
    version: str
    manifest: Mapping[str, Any]


def update_block(
    running: Running, candidate: CatalogVersion, spec: CloudronAppSpec, *, automatic: bool
) -> Block | None:
    """The first rule that blocks moving from `running` to `candidate`; None if the move is allowed."""
    return _any_update_block(running, candidate, automatic=automatic) or (
        _automatic_update_block(running, candidate, spec) if automatic else None
    )


def _any_update_block(running: Running, candidate: CatalogVersion, *, automatic: bool) -> Block | None:
    to = candidate.version
    if candidate.state is VersionState.REVOKED:
        return Block(Reason.VERSION_REVOKED, f"version {to} is revoked in the catalog")
    if candidate.state is VersionState.INVALID or candidate.manifest is None:
        return Block(Reason.VERSION_INVALID, f"version {to} is invalid: {candidate.problem}")
    if automatic and candidate.state is VersionState.TESTING:
        return Block(Reason.VERSION_INVALID, f"version {to} is a testing version: only a pin installs it")
    new_id = candidate.manifest.get("id")
    if new_id != running.app_id:
        return Block(
            Reason.OTHER_APP_ID,
            f"version {to} is of app {new_id}, not of {running.app_id}: another app cannot update this one",
        )
    if Version(to) < Version(running.version):
        return Block(
            Reason.DOWNGRADE,
            f"{to} is older than the running {running.version}: an update never goes back (restore the "
            "pre-update backup with spec.restoreFrom to return to an older version with its data)",
        )
    return None


def _automatic_update_block(
    running: Running, candidate: CatalogVersion, spec: CloudronAppSpec
) -> Block | None:
    to, current = candidate.version, Version(running.version)
    if current.valid and current.major != 0 and Version(to).major != current.major:
        return Block(
            Reason.MAJOR_VERSION_CHANGE,
            f"{to} is a new major version (running {running.version}): pin it in spec.source.version",
        )
    if dropped := dropped_ports(running.manifest, candidate.manifest or {}, spec):
        return Block(
            Reason.PORT_DROPPED,
            f"{to} drops {', '.join(dropped)}, enabled now: pin it in spec.source.version to update anyway",
        )
    return None


def dropped_ports(old: Mapping[str, Any], new: Mapping[str, Any], spec: CloudronAppSpec) -> tuple[str, ...]:
    """The TCP/UDP ports enabled under the `old` manifest that the `new` one no longer declares."""
    old_manifest, new_manifest = validate_manifest(old).manifest, validate_manifest(new).manifest
    if old_manifest is None or new_manifest is None:
        return ()
    declared = {port.env_name for port in new_manifest.declared_ports}
    return tuple(port.env_name for port in enabled_ports(spec, old_manifest) if port.env_name not in declared)
