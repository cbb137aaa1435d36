"""The operator code a run measures: a copy of the package and its CRDs, taken when the run starts.

From the working tree by default, or from a git ref (`--operator-ref HEAD`), so that edits made
while a long run goes on do not mix into it, and a figure can be traced to the code behind it.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from tests.paths import REPO

PACKAGE = "operator/cloudron_operator"
CRDS = "crds"


@dataclass(frozen=True)
class Snapshot:
    pythonpath: Path  # holds cloudron_operator/
    crds: Path
    digest: str  # of the package's files: equal digests, equal code
    description: str  # commit and changes, for the report


def take(destination: Path, ref: str | None) -> Snapshot:
    destination.mkdir(parents=True)
    if ref is None:
        for part in (PACKAGE, CRDS):
            shutil.copytree(REPO / part, destination / part, ignore=shutil.ignore_patterns("__pycache__"))
        description = _working_tree()
    else:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", ref, PACKAGE, CRDS],
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(destination, filter="data")
        description = f"git {ref} = commit {_git('rev-parse', '--short', ref).strip()}"
    package = destination / PACKAGE
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return Snapshot(package.parent, destination / CRDS, digest.hexdigest()[:12], description)


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout


def _working_tree() -> str:
    """The commit, and which operator files differ from it."""
    try:
        commit = _git("rev-parse", "--short", "HEAD").strip()
        changed = _git("status", "--porcelain", "--", PACKAGE).splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "working tree (not under git)"
    files = sorted(Path(line[3:]).name for line in changed if line.strip())
    return f"working tree at commit {commit}" + (
        f" + uncommitted changes to {', '.join(files)}" if files else ""
    )
