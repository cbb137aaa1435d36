"""The catalog corpus (`../shared/corpus/catalogs`: real CloudronVersions.json files, read in place)
and what its SOURCES.tsv says of each file, with the files whose reading differs from that said."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tests.paths import CORPUS

CATALOGS = CORPUS.parent / "catalogs"

# Where the catalog reads differently from SOURCES.tsv's columns, and why.
LIST_FORM: Final = "noahconhfinal__Merca__CloudronVersions.json"  # "versions" is a list: read leniently
NO_IMAGE: Final = "vRobM__omniroute-cloudron__CloudronVersions.json"  # its one version has no dockerImage
TESTING_ONLY: Final = "sfeldkamp__cloudron-bluesky-pds__CloudronVersions.json"  # no published version
EMPTY: Final = frozenset(
    {
        "jojojo__cloudron-zammad__CloudronVersions.json",
        "pronetivity__cloudron-smokeping__CloudronVersions.json",
    }
)


@dataclass(frozen=True)
class CorpusCatalog:
    path: Path
    versions: int
    app_id: str  # empty for an empty catalog
    newest_version: str

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def invalid(self) -> int:
        return 1 if self.name == NO_IMAGE else 0

    @property
    def latest(self) -> str | None:
        """The newest published, valid version: none where the only version is testing or invalid."""
        return None if self.name in (NO_IMAGE, TESTING_ONLY) or not self.app_id else self.newest_version


def corpus_catalogs() -> list[CorpusCatalog]:
    """Every *.json of the catalog corpus, with its SOURCES.tsv row; a file without one is an error."""
    files = sorted(CATALOGS.glob("*.json"))
    if not files:
        raise FileNotFoundError(
            f"no catalog corpus at {CATALOGS}: set CLOUDRON_CORPUS to its manifests folder"
        )
    with (CATALOGS / "SOURCES.tsv").open(newline="") as sources:
        rows = {row["file"]: row for row in csv.DictReader(sources, delimiter="\t")}
    missing = [f.name for f in files if f.name not in rows]
    if missing:
        raise LookupError(f"catalogs without a SOURCES.tsv row: {missing}")
    return [
        CorpusCatalog(
            f, int(rows[f.name]["versions"]), rows[f.name]["app_id"], rows[f.name]["newest_version"]
        )
        for f in files
    ]
