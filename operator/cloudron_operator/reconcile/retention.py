"""What a deleted app leaves behind when its spec says so: its volumes (`storage.whenDeleted: Retain`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes import client

from cloudron_operator import builders
from cloudron_operator.builders.identity import DATA_SUFFIX, DIRS_SUFFIX
from cloudron_operator.k8s import api as k8s
from cloudron_operator.models import VolumeDeletePolicy

CLAIM = ("v1", "PersistentVolumeClaim")


def keep_volumes(api: client.ApiClient, app: Mapping[str, Any]) -> list[str]:
    """If the deleted app's spec keeps its volumes: their claims, no longer owned by the app.

    A pass builds the claims without an owner once the spec says Retain; this covers a spec changed
    just before the deletion, with no pass between. The claims are read from the API server, not the
    store, which may lag. Empty when the spec does not keep them or there is none.
    """
    storage = app.get("spec", {}).get("storage") or {}
    if storage.get("whenDeleted") != VolumeDeletePolicy.RETAIN:
        return []
    meta = app["metadata"]
    kept = []
    for suffix in (DATA_SUFFIX, DIRS_SUFFIX):
        name = builders.child_name(meta["name"], suffix)
        claim = k8s.get(api, *CLAIM, meta["namespace"], name)
        if claim is not None:
            _disown(api, claim, meta["uid"])
            kept.append(name)
    return kept


def _disown(api: client.ApiClient, claim: Mapping[str, Any], app_uid: str) -> None:
    meta = claim["metadata"]
    for index, ref in enumerate(meta.get("ownerReferences") or []):
        if ref.get("uid") == app_uid:
            at = f"/metadata/ownerReferences/{index}"
            k8s.json_patch(
                api,
                *CLAIM,
                meta["namespace"],
                meta["name"],
                operations=[
                    {"op": "test", "path": f"{at}/uid", "value": app_uid},
                    {"op": "remove", "path": at},
                ],
            )
            return
