"""The helm binary and the checkers under hack/tools, as hack/build-binaries.sh builds them.

A missing or stale binary is a HarnessError naming the command that builds it, never a skip.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.harness.binaries import REPO_ROOT, bin_dir, pinned_versions
from tests.harness.processes import HarnessError, run

TOOLS_DIR = REPO_ROOT / "hack" / "tools"
CHART = REPO_ROOT / "helm" / "cloudron-operator"


def tool_stamp(directory: Path) -> str:
    """What build-binaries.sh's tool_stamp prints: a hash of the tool's Go sources, go.mod and go.sum."""
    files = sorted(
        "./" + path.relative_to(directory).as_posix()
        for path in directory.rglob("*")
        if path.is_file() and (path.suffix == ".go" or path.name in ("go.mod", "go.sum"))
    )
    digest = hashlib.sha256(b"".join((directory / name).read_bytes() for name in files))
    return digest.hexdigest()[:16]


def _checked(name: str, wanted: str) -> Path:
    path = bin_dir() / name
    stamp = bin_dir() / f".{name}.version"
    if not path.exists() or not stamp.exists() or stamp.read_text().strip() != wanted:
        raise HarnessError(f"{name} {wanted} is not built in {bin_dir()}: run hack/build-binaries.sh")
    return path


def helm() -> Path:
    return _checked("helm", pinned_versions()["HELM_VERSION"])


def tool(name: str) -> Path:
    """A checker built from hack/tools/<name>."""
    return _checked(name, tool_stamp(TOOLS_DIR / name))


def helm_template(*args: str, namespace: str = "cloudron-system", release: str = "cloudron") -> str:
    """`helm template` of the chart; extra args such as --set or --values go after it."""
    return run([str(helm()), "template", release, str(CHART), "--namespace", namespace, *args])
