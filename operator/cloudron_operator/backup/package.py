"""Which package an app runs, given spec.restoreFrom and the restore's progress. Pure.

A restore runs the package that made the data: the backup's image and manifest, which the
restore's first step records in status.restore. The app is stopped while its data is replaced.
A failed restore leaves the data as it was, so the app runs its spec's own package again (a
clone, which has none, stays stopped). The app's Redis runs throughout: the restore fills it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

IN_PROGRESS: Final = frozenset({"Pending", "Running"})


def restore_record(app: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """status.restore if it is the restore the spec asks for now, else None."""
    wanted = ((app.get("spec") or {}).get("restoreFrom") or {}).get("backup")
    restore = (app.get("status") or {}).get("restore") or {}
    return restore if wanted and restore.get("backup") == wanted else None


def restoring(app: Mapping[str, Any]) -> bool:
    """The app's data is being replaced (or about to be): it must not run."""
    spec = app.get("spec") or {}
    if not (spec.get("restoreFrom") or {}).get("backup"):
        return False
    record = restore_record(app)
    return record is None or record.get("phase") in IN_PROGRESS


def running_package(app: Mapping[str, Any]) -> dict[str, Any]:
    """The spec the app's children are built from: the image and manifest of the restore when it
    gives them (also after a failed restore of an app without a package of its own, which stays
    stopped: `held_for_restore`)."""
    spec = dict(app.get("spec") or {})
    record = restore_record(app)
    if record is not None and record.get("image") and not (_failed(record) and spec.get("image")):
        spec |= {"image": record["image"], "manifest": record.get("manifest") or {}}
    return spec


def held_for_restore(app: Mapping[str, Any]) -> bool:
    """The app's workload must not run: its data is being replaced, or a clone's restore failed."""
    if restoring(app):
        return True
    record = restore_record(app)
    return record is not None and _failed(record) and not (app.get("spec") or {}).get("image")


def _failed(record: Mapping[str, Any]) -> bool:
    return record.get("phase") == "Failed"
