"""Where the control-plane binaries built by hack/build-binaries.sh live."""

from __future__ import annotations

import os
from pathlib import Path

from tests.harness.processes import HarnessError

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTROL_PLANE = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "etcd",
    "kwok",
    "kwokctl",
)


def cache_dir() -> Path:
    return Path(os.environ.get("CLOUDRON_OPERATOR_CACHE", Path.home() / ".cache" / "cloudron-operator"))


def bin_dir() -> Path:
    return cache_dir() / "bin"


def pinned_versions() -> dict[str, str]:
    """hack/versions.env as a dict: KUBE_VERSION, ETCD_VERSION, KWOK_VERSION."""
    pins: dict[str, str] = {}
    for line in (REPO_ROOT / "hack" / "versions.env").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            pins[key.strip()] = value.strip()
    return pins


def binary(name: str) -> Path:
    """The path of a built binary; fail loudly, naming the build command, when it is missing or stale."""
    pins = pinned_versions()
    wanted = {
        "etcd": pins["ETCD_VERSION"],
        "kwok": pins["KWOK_VERSION"],
        "kwokctl": pins["KWOK_VERSION"],
    }.get(name, pins["KUBE_VERSION"])
    path = bin_dir() / name
    stamp = bin_dir() / f".{name}.version"
    if not path.exists() or not stamp.exists() or stamp.read_text().strip() != wanted:
        raise HarnessError(f"{name} {wanted} is not built in {bin_dir()}: run hack/build-binaries.sh")
    return path
