"""The localstorage volume, mounted at /app/data."""

from __future__ import annotations

from typing import Any

from cloudron_operator.builders.identity import DATA_SUFFIX, DIRS_SUFFIX, AppIdentity, child_name, object_meta
from cloudron_operator.manifest import Manifest
from cloudron_operator.models import CloudronAppSpec, VolumeDeletePolicy


def build_data_claim(
    identity: AppIdentity, spec: CloudronAppSpec, manifest: Manifest
) -> dict[str, Any] | None:
    """The PersistentVolumeClaim of /app/data; None when the manifest has no localstorage addon.

    It stays while the app is stopped (running: false). The app owns it, so it is deleted with
    the app, as Cloudron deletes an app's data on uninstall; unless `storage.whenDeleted` is Retain:
    then it has no owner, and nothing deletes it whatever the deletion's propagation policy.
    """
    if manifest.addons.localstorage is None:
        return None
    return _claim(identity, spec, child_name(identity.name, DATA_SUFFIX), str(spec.storage.size))


def build_dirs_claim(
    identity: AppIdentity, spec: CloudronAppSpec, manifest: Manifest
) -> dict[str, Any] | None:
    """The PersistentVolumeClaim of the manifest's persistentDirs (Cloudron 9.1): kept across updates
    like /app/data, but apart from it, because Cloudron leaves them out of the app's file backup
    (its backupCommand dumps them into /app/data instead). None when the manifest has none."""
    if not manifest.persistent_dirs:
        return None
    return _claim(
        identity, spec, child_name(identity.name, DIRS_SUFFIX), str(spec.storage.persistent_dirs_size)
    )


def _claim(identity: AppIdentity, spec: CloudronAppSpec, name: str, size: str) -> dict[str, Any]:
    claim: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if spec.storage.storage_class_name is not None:
        claim["storageClassName"] = spec.storage.storage_class_name
    meta = object_meta(identity, name)
    if spec.storage.when_deleted is VolumeDeletePolicy.RETAIN:
        del meta["ownerReferences"]
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": claim}
