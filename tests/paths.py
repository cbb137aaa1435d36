"""Where the tests find their data."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"
# Real published manifests live in the project's shared folder beside the repository (CI lays it
# there too); they are third-party files, so they are read in place rather than copied in.
CORPUS = Path(os.environ.get("CLOUDRON_CORPUS", REPO.parent / "shared" / "corpus" / "manifests"))


def corpus_files() -> list[Path]:
    files = sorted(CORPUS.glob("*.json"))
    if not files:
        raise FileNotFoundError(
            f"no manifest corpus at {CORPUS}: set CLOUDRON_CORPUS to its manifests folder"
        )
    return files
