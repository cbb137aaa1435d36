"""What a real cluster has and the local one lacks, done plainly for the demo.

The local cluster has no volume provisioner and no mail relay (cert-manager it has: the demo runs
its controllers). This loop does the least each would: it binds every Pending
PersistentVolumeClaim to a new hostPath PersistentVolume made for it (kwok runs no container, so
the path is never used), and runs an SMTP server on loopback that keeps the mail it gets, for the
demo's sendmail Addon. It runs beside the demo, never in tests of the operator's own behaviour,
which set these states themselves where they matter.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from kubernetes import client, config

from cloudron_operator.k8s import api as k8s
from tests.harness.smtp_sink import SmtpSink

POLL_SECONDS = 1.0


def bind_claims(api: client.ApiClient) -> int:
    bound = 0
    for claim in k8s.list_objects(api, "v1", "PersistentVolumeClaim", None):
        if claim.get("status", {}).get("phase") != "Pending" or claim["spec"].get("volumeName"):
            continue
        meta = claim["metadata"]
        name = f"demo-{meta['uid']}"
        if k8s.get(api, "v1", "PersistentVolume", None, name) is None:
            k8s.create(api, _volume_for(name, claim))
            bound += 1
    return bound


def _volume_for(name: str, claim: dict[str, Any]) -> dict[str, Any]:
    meta = claim["metadata"]
    spec: dict[str, Any] = {
        "capacity": {"storage": claim["spec"]["resources"]["requests"]["storage"]},
        "accessModes": claim["spec"]["accessModes"],
        "persistentVolumeReclaimPolicy": "Delete",
        "hostPath": {"path": f"/var/lib/cloudron-demo/{name}"},
        "claimRef": {"namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]},
    }
    if storage_class := claim["spec"].get("storageClassName"):
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name}, "spec": spec}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.harness.stand_ins", description=__doc__)
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    args = parser.parse_args()
    api = config.new_client_from_config(config_file=str(args.kubeconfig))
    SmtpSink(port=args.smtp_port).start()
    while True:
        try:
            bind_claims(api)
        except k8s.ApiError as error:
            print(f"stand-ins: {error}", flush=True)  # the next round tries again
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    main()
