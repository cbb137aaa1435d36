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


# Where the builds and the local environments live. Not CLOUDRON_OPERATOR_*: the operator, which the
# harness starts with the same environment, refuses every variable of that prefix it does not know.
CACHE_VARIABLE = "CLOUDRON_CACHE"
OLD_CACHE_VARIABLE = "CLOUDRON_OPERATOR_CACHE"


def cache_dir() -> Path:
    if OLD_CACHE_VARIABLE in os.environ:
        raise HarnessError(
            f"{OLD_CACHE_VARIABLE} is now {CACHE_VARIABLE}: the operator refuses every CLOUDRON_OPERATOR_* "
            f"variable it does not know; unset {OLD_CACHE_VARIABLE} and set {CACHE_VARIABLE}"
        )
    return Path(os.environ.get(CACHE_VARIABLE, Path.home() / ".cache" / "cloudron-operator"))


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


def built(name: str, pin: str) -> Path:
    """A binary hack/build-binaries.sh built at the version `pin` of hack/versions.env names; fail
    loudly, naming the build command, when it is missing or stale."""
    wanted = pinned_versions()[pin]
    path = bin_dir() / name
    stamp = bin_dir() / f".{name}.version"
    if not path.exists() or not stamp.exists() or stamp.read_text().strip() != wanted:
        raise HarnessError(f"{name} {wanted} is not built in {bin_dir()}: run hack/build-binaries.sh")
    return path


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
