"""Which package an app runs, given spec.source, spec.restoreFrom and the restore's progress. Pure.

An app with spec.source runs the package its catalog resolved to, recorded in status.package
(`reconcile.updates`). A restore runs the package that made the data: the backup's image and
manifest, which the restore's first step records in status.restore. The restore is the one
spec.restoreFrom names, or the pre-update backup of an update being rolled back. The app is
stopped while its data is replaced.
A failed restore leaves the data as it was, so the app runs its spec's own package again (a
clone, which has none, stays stopped). The app's Redis runs throughout: the restore fills it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

IN_PROGRESS: Final = frozenset({"Pending", "Running"})
ROLLING_BACK: Final = "RollingBack"  # status.update.phase while the pre-update backup is restored


def wanted_restore(app: Mapping[str, Any]) -> str | None:
    """The backup the app's data should be brought back to now: spec.restoreFrom's, or while an
    update is rolled back, its pre-update backup."""
    if wanted := ((app.get("spec") or {}).get("restoreFrom") or {}).get("backup"):
        return str(wanted)
    update = (app.get("status") or {}).get("update") or {}
    return str(update["backup"]) if update.get("phase") == ROLLING_BACK and update.get("backup") else None


def restore_record(app: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """status.restore if it is the restore wanted now, else None."""
    wanted = wanted_restore(app)
    restore = (app.get("status") or {}).get("restore") or {}
    return restore if wanted and restore.get("backup") == wanted else None


def restoring(app: Mapping[str, Any]) -> bool:
    """The app's data is being replaced (or about to be): it must not run."""
    if wanted_restore(app) is None:
        return False
    record = restore_record(app)
    return record is None or record.get("phase") in IN_PROGRESS


def running_package(app: Mapping[str, Any]) -> dict[str, Any]:
    """The spec the app's children are built from: the image and manifest of the restore when it
    gives them (also after a failed restore of an app without a package of its own, which stays
    stopped: `held_for_restore`)."""
    spec = dict(app.get("spec") or {})
    package = (app.get("status") or {}).get("package") or {}
    if spec.get("source") and package.get("image"):
        spec |= {"image": package["image"], "manifest": package.get("manifest") or {}}
    record = restore_record(app)
    if record is not None and record.get("image") and not (_failed(record) and spec.get("image")):
        spec |= {"image": record["image"], "manifest": record.get("manifest") or {}}
    return spec


def held_for_restore(app: Mapping[str, Any]) -> bool:
    """The app's workload must not run: its data is being replaced, or a clone's restore failed."""
    if restoring(app):
        return True
    record = restore_record(app)
    return record is not None and _failed(record) and not _own_package(app)


def _own_package(app: Mapping[str, Any]) -> bool:
    """The app has a package besides the restore's: its spec's, or the one its source resolved to."""
    spec = app.get("spec") or {}
    package = (app.get("status") or {}).get("package") or {}
    return bool(spec.get("image")) or bool(spec.get("source") and package.get("image"))


def _failed(record: Mapping[str, Any]) -> bool:
    return record.get("phase") == "Failed"
