"""The app's writable directories (CLOUDRON.md §3.2): the root filesystem itself is read-only."""

from __future__ import annotations

import shlex
from typing import Any, Final, NamedTuple

from cloudron_operator.builders.identity import DATA_SUFFIX, DIRS_SUFFIX, AppIdentity, child_name, tls_name
from cloudron_operator.manifest import Manifest

# Cloudron's anonymous volumes: writable, and lost when the container goes.
SCRATCH_DIRS: Final = {"tmp": "/tmp", "run": "/run"}  # noqa: S108
DATA_DIR: Final = "/app/data"
CERTS_DIR: Final = "/etc/certs"
SEED_DIR: Final = "/seed"
# The persistentDirs volume as the seeding init container sees it: each directory's content under
# dirs/<its path>, and seeded/<its path> once it was seeded from the image.
PERSISTENT_SEED_DIR: Final = "/seed-persistent"
# The `tls` addon's files, named as Cloudron names them, from the keys cert-manager writes.
_CERT_FILES: Final = ({"key": "tls.crt", "path": "tls_cert.pem"}, {"key": "tls.key", "path": "tls_key.pem"})


class Volumes(NamedTuple):
    volumes: list[dict[str, Any]]  # the pod's volumes
    mounts: list[dict[str, Any]]  # the app container's mounts
    seed_mounts: list[dict[str, Any]]  # the seeding init container's mounts; empty with nothing to seed
    seed_script: str  # what the seeding init container runs


def app_volumes(identity: AppIdentity, manifest: Manifest) -> Volumes:
    """Scratch space, /app/data, the runtimeDirs, the persistentDirs and the tls addon's certificate.

    Without the localstorage addon /app/data stays read-only, as on Cloudron. runtimeDirs start as
    the image's content at every start; persistentDirs at the first start only, then keep theirs.
    """
    volumes: list[dict[str, Any]] = [{"name": name, "emptyDir": {}} for name in SCRATCH_DIRS]
    mounts: list[dict[str, Any]] = [{"name": name, "mountPath": path} for name, path in SCRATCH_DIRS.items()]
    if manifest.addons.localstorage is not None:
        claim = {"claimName": child_name(identity.name, DATA_SUFFIX)}
        volumes.append({"name": "data", "persistentVolumeClaim": claim})
        mounts.append({"name": "data", "mountPath": DATA_DIR})
    seed_mounts, copies = [], []
    for index, directory in enumerate(runtime_dirs(manifest)):
        name, seed = f"runtime-{index}", f"{SEED_DIR}/{index}"
        volumes.append({"name": name, "emptyDir": {}})
        mounts.append({"name": name, "mountPath": directory})
        seed_mounts.append({"name": name, "mountPath": seed})
        source = shlex.quote(directory)
        copies.append(f"if [ -d {source} ]; then cp -a {source}/. {seed}/; fi")
    persistent = nested_out(manifest.persistent_dirs)
    if persistent:
        claim = {"claimName": child_name(identity.name, DIRS_SUFFIX)}
        volumes.append({"name": "persistent", "persistentVolumeClaim": claim})
        seed_mounts.append({"name": "persistent", "mountPath": PERSISTENT_SEED_DIR})
    for directory in persistent:
        relative = directory.lstrip("/")
        mounts.append({"name": "persistent", "mountPath": directory, "subPath": f"dirs/{relative}"})
        source = shlex.quote(directory)
        target = shlex.quote(f"{PERSISTENT_SEED_DIR}/dirs/{relative}")
        marker = shlex.quote(f"{PERSISTENT_SEED_DIR}/seeded/{relative}")
        copies.append(
            f'if [ ! -e {marker} ]; then mkdir -p {target} "$(dirname {marker})"; '
            f"if [ -d {source} ]; then cp -a {source}/. {target}/; fi; touch {marker}; fi"
        )
    if manifest.addons.tls is not None:
        secret = {"secretName": tls_name(identity.name), "items": [dict(item) for item in _CERT_FILES]}
        volumes.append({"name": "tls", "secret": secret})
        mounts.append({"name": "tls", "mountPath": CERTS_DIR, "readOnly": True})
    return Volumes(volumes, mounts, seed_mounts, "\n".join(["set -e", *copies]) if copies else "")


def runtime_dirs(manifest: Manifest) -> list[str]:
    """The runtimeDirs that need a volume of their own: one inside another is seeded with its parent."""
    return nested_out(manifest.runtime_dirs)


def nested_out(listed: list[str]) -> list[str]:
    """The directories not inside another listed one (that one's volume holds them), once each."""
    directories = list(dict.fromkeys(directory.rstrip("/") for directory in listed))
    return [
        directory
        for directory in directories
        if not any(directory.startswith(parent + "/") for parent in directories)
    ]
