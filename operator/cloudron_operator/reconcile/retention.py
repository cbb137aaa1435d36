"""What a deleted app leaves behind when its spec says so: its volume (`storage.whenDeleted: Retain`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes import client

from cloudron_operator import builders
from cloudron_operator.builders.identity import DATA_SUFFIX
from cloudron_operator.k8s import api as k8s
from cloudron_operator.models import VolumeDeletePolicy

CLAIM = ("v1", "PersistentVolumeClaim")


def keep_volume(api: client.ApiClient, app: Mapping[str, Any]) -> str | None:
    """If the deleted app's spec keeps its volume: the volume's claim, no longer owned by the app.

    A pass builds the claim without an owner once the spec says Retain; this covers a spec changed
    just before the deletion, with no pass between. The claim is read from the API server, not the
    store, which may lag. None when the spec does not keep it or there is no claim.
    """
    storage = app.get("spec", {}).get("storage") or {}
    if storage.get("whenDeleted") != VolumeDeletePolicy.RETAIN:
        return None
    meta = app["metadata"]
    name = builders.child_name(meta["name"], DATA_SUFFIX)
    claim = k8s.get(api, *CLAIM, meta["namespace"], name)
    if claim is None:
        return None
    for index, ref in enumerate(claim["metadata"].get("ownerReferences") or []):
        if ref.get("uid") == meta["uid"]:
            at = f"/metadata/ownerReferences/{index}"
            k8s.json_patch(
                api,
                *CLAIM,
                meta["namespace"],
                name,
                operations=[
                    {"op": "test", "path": f"{at}/uid", "value": meta["uid"]},
                    {"op": "remove", "path": at},
                ],
            )
            break
    return name
