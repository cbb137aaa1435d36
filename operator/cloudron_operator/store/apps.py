"""An app as the store keeps it: what its status is computed from and what the operator counts by.

Child events compare with it before anything is read; a status write starts from it (conditionally
on that version, so one that turns out old costs a refused write and a read, never a lost update);
the Addons count their apps and the metrics their phases from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cloudron_operator.backup.package import running_package
from cloudron_operator.reconcile.reasons import INVALID_REASONS, ready_reason

AppKey = tuple[str, str]  # (namespace, name) of a CloudronApp
CHILD_CONDITIONS = ("WorkloadAvailable", "CertificateReady", "Routed")


@dataclass(frozen=True)
class AppSeen:
    """One version of an app: what its status says of its children, and what a refresh reads."""

    app: Mapping[str, Any]  # metadata, the spec fields and the status that `refresh_status` reads
    uid: str
    resource_version: str
    running: bool
    conditions: Mapping[str, tuple[Any, Any, Any]]  # child condition type -> (status, reason, message)
    first_pass_done: bool  # its status has AddonsReady: the first pass wrote it whole
    being_deleted: bool  # it has a deletionTimestamp
    invalid: bool  # Ready=False for a reason in the spec, which no child changes
    phase: str | None
    addons: frozenset[str]  # the Addons its status says its addons are provisioned in
    hosts: frozenset[str]  # the hosts its spec names: domain, aliases, redirects, httpPorts' and aliases


def app_seen(app: Mapping[str, Any]) -> AppSeen:
    """What this version of the app (a watch event, a read, a write's answer) is, reduced."""
    meta, spec, status = app["metadata"], running_package(app), app.get("status", {})
    reduced = {
        "metadata": {
            key: meta[key]
            for key in (
                "name",
                "namespace",
                "uid",
                "generation",
                "resourceVersion",
                "creationTimestamp",
                "deletionTimestamp",
            )
            if key in meta
        },
        "spec": {
            "access": spec.get("access"),
            "addons": spec.get("addons"),
            "domain": spec.get("domain"),
            "running": spec.get("running", True),
            "manifest": {"version": (spec.get("manifest") or {}).get("version", "")},
            "image": spec.get("image"),
            "restoreFrom": spec.get("restoreFrom"),
            "source": spec.get("source"),  # small; the package it resolved to is in the status
        },
        "status": dict(status),
    }
    entries = (status.get("addons") or {}).values()
    return AppSeen(
        app=reduced,
        uid=meta["uid"],
        resource_version=str(meta.get("resourceVersion", "")),
        running=spec.get("running", True) is not False,
        conditions={
            c["type"]: (c.get("status"), c.get("reason"), c.get("message"))
            for c in status.get("conditions", [])
            if c.get("type") in CHILD_CONDITIONS
        },
        first_pass_done=first_pass_done(status),
        being_deleted=bool(meta.get("deletionTimestamp")),
        invalid=ready_reason(app) in INVALID_REASONS,
        phase=str(status["phase"]) if status.get("phase") else None,
        addons=frozenset(
            str(entry["addon"]) for entry in entries if isinstance(entry, Mapping) and entry.get("addon")
        ),
        hosts=spec_hosts(spec),
    )


def spec_hosts(spec: Mapping[str, Any]) -> frozenset[str]:
    """Every host an app's spec names. The httpPorts services' default hosts (from the manifest) are
    not among them: the store keeps no manifest."""
    hosts = [spec.get("domain"), *(spec.get("aliases") or ()), *(spec.get("redirects") or ())]
    hosts += (spec.get("httpPorts") or {}).values()
    hosts += (host for aliases in (spec.get("httpPortAliases") or {}).values() for host in aliases or ())
    return frozenset(host.lower() for host in hosts if isinstance(host, str) and host)


def first_pass_done(status: Mapping[str, Any]) -> bool:
    """The app's first pass wrote its whole status, AddonsReady included, when it ended."""
    return any(c.get("type") == "AddonsReady" for c in status.get("conditions", []))
