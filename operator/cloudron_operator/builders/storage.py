"""The localstorage volume, mounted at /app/data."""

from __future__ import annotations

from typing import Any

from cloudron_operator.builders.identity import DATA_SUFFIX, AppIdentity, child_name, object_meta
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
    claim: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": str(spec.storage.size)}},
    }
    if spec.storage.storage_class_name is not None:
        claim["storageClassName"] = spec.storage.storage_class_name
    meta = object_meta(identity, child_name(identity.name, DATA_SUFFIX))
    if spec.storage.when_deleted is VolumeDeletePolicy.RETAIN:
        del meta["ownerReferences"]
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": claim}
