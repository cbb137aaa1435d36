"""The newest version of each app this process knows, reduced to what its status is computed from.

kopf's index of the apps follows its watch, which under load runs behind the writes; the versions
this process read and wrote itself are often newer. Child events compare with the newer of the two
before anything is read, and a status write starts from it: the write is conditional on that
version, so one that turns out old costs a refused write and a read, never a lost update.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from cloudron_operator.handlers.app_status import INVALID_REASONS, ready_reason
from cloudron_operator.k8s.api import older_version

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
    invalid: bool  # Ready=False for a reason in the spec, which no child changes


def app_seen(app: Mapping[str, Any]) -> AppSeen:
    """What this version of the app (a watch event, a read, a write's answer) is, reduced."""
    meta, spec, status = app["metadata"], app.get("spec", {}), app.get("status", {})
    reduced = {
        "metadata": {
            key: meta[key]
            for key in ("name", "namespace", "uid", "generation", "resourceVersion", "deletionTimestamp")
            if key in meta
        },
        "spec": {
            "domain": spec.get("domain"),
            "running": spec.get("running", True),
            "manifest": {"version": (spec.get("manifest") or {}).get("version", "")},
        },
        "status": dict(status),
    }
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
        invalid=ready_reason(app) in INVALID_REASONS,
    )


def first_pass_done(status: Mapping[str, Any]) -> bool:
    """The app's first pass wrote its whole status, AddonsReady included, when it ended."""
    return any(c.get("type") == "AddonsReady" for c in status.get("conditions", []))


async def apps_seen(body: kopf.Body, **_: Any) -> dict[AppKey, AppSeen]:
    """Index: (namespace, app) -> the app as kopf's watch last showed it."""
    return {(body.meta.get("namespace"), body.meta["name"]): app_seen(body)}


class RecordedApps:
    """The newest version of each app this process read or wrote itself.

    Passes run in kopf's threads and refreshes in asyncio's: a lock keeps an older version from
    replacing a newer one.
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
            if before is None or before.uid != seen.uid or _newer(seen, before):
                self._seen[key] = seen

    def forget(self, key: AppKey) -> None:
        with self._lock:
            self._seen.pop(key, None)

    def newest(self, key: AppKey, indexed: AppSeen | None) -> AppSeen | None:
        """The newer of `indexed` (kopf's version of the app) and the one recorded here."""
        with self._lock:
            recorded = self._seen.get(key)
        if recorded is None or (indexed is not None and not _newer(recorded, indexed)):
            return indexed
        return recorded


def _newer(candidate: AppSeen, than: AppSeen) -> bool:
    """`candidate` is a later version of the same app than `than`.

    Versions that cannot be compared are not: kopf's version is trusted instead.
    """
    return candidate.uid == than.uid and older_version(than.resource_version, candidate.resource_version)
