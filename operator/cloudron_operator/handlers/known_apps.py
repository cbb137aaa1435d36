"""The newest version of each app this process knows, reduced to what its status is computed from.

One map, fed by kopf's watch of the apps and by the versions this process read and wrote itself
(under load those are often newer than the watch's): child events compare with it before anything
is read, a status write starts from it (conditionally on that version, so one that turns out old
costs a refused write and a read, never a lost update), the Addons count their apps and the
metrics their phases from it.

It is not a kopf index on purpose. kopf holds every handler back until each indexed object has
been indexed, and wakes every waiting object for each one indexed: at start-up with a thousand apps
that was half a minute of one core and 50 MiB of queued events. The map is filled instead by one
paged list of the apps at start-up, before kopf's watches begin (`load`), and then by the watch.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from cloudron_operator.k8s.api import older_version
from cloudron_operator.reconcile.reasons import INVALID_REASONS, ready_reason

AppKey = tuple[str | None, str]  # (namespace, name) of a CloudronApp
CHILD_CONDITIONS = ("WorkloadAvailable", "CertificateReady")


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


def app_seen(app: Mapping[str, Any]) -> AppSeen:
    """What this version of the app (a watch event, a read, a write's answer) is, reduced."""
    meta, spec, status = app["metadata"], app.get("spec", {}), app.get("status", {})
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
            "domain": spec.get("domain"),
            "running": spec.get("running", True),
            "manifest": {"version": (spec.get("manifest") or {}).get("version", "")},
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
    )


def first_pass_done(status: Mapping[str, Any]) -> bool:
    """The app's first pass wrote its whole status, AddonsReady included, when it ended."""
    return any(c.get("type") == "AddonsReady" for c in status.get("conditions", []))


class KnownApps:
    """The newest version of each app this process has seen, by (namespace, name).

    Recorded from kopf's event loop (watch events) and from handler threads (reads and writes): a
    lock keeps an older version from replacing a newer one.
    """

    def __init__(self) -> None:
        self._seen: dict[AppKey, AppSeen] = {}
        self._lock = threading.Lock()

    def record(self, app: Mapping[str, Any]) -> None:
        key = (app["metadata"].get("namespace"), app["metadata"]["name"])
        seen = app_seen(app)
        with self._lock:
            before = self._seen.get(key)
            # An app of another uid: the one this process knew was deleted and made again.
            if before is None or before.uid != seen.uid or not _newer(before, seen):
                self._seen[key] = seen

    def load(self, apps: Iterable[Mapping[str, Any]]) -> None:
        for app in apps:
            self.record(app)

    def forget(self, key: AppKey, uid: str) -> None:
        """Forget the app of that name if it is still the app of that uid (not one made again)."""
        with self._lock:
            known = self._seen.get(key)
            if known is not None and known.uid == uid:
                del self._seen[key]

    def newest(self, key: AppKey, candidate: AppSeen | None = None) -> AppSeen | None:
        """The app as last recorded, or `candidate` (kopf's copy of it) unless the recorded one is newer."""
        with self._lock:
            known = self._seen.get(key)
        if known is None or candidate is None:
            return known or candidate
        return known if _newer(known, candidate) else candidate

    def phases(self) -> Counter[str]:
        """How many apps are in each status.phase."""
        with self._lock:
            return Counter(seen.phase for seen in self._seen.values() if seen.phase)

    def serving(self, addon: str) -> int:
        """How many apps have their addons provisioned in the Addon of that name."""
        with self._lock:
            return sum(1 for seen in self._seen.values() if addon in seen.addons)


async def app_event(body: kopf.Body, type: str | None, memo: Any, **_: Any) -> None:
    """Every watch event of an app (a coroutine: kopf runs plain functions in the handlers' threads)."""
    known: KnownApps = memo["known_apps"]
    if type == "DELETED":
        known.forget((body.meta.get("namespace"), body.meta["name"]), body.meta["uid"])
    else:
        known.record(body)


def _newer(candidate: AppSeen, than: AppSeen) -> bool:
    """`candidate` is a later version of the same app than `than`.

    Versions that cannot be compared are not: the version at hand is taken (watch events come in order).
    """
    return candidate.uid == than.uid and older_version(than.resource_version, candidate.resource_version)
