"""Real and synthetic manifests get the verdicts docs/manifest.md predicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudron_operator.manifest.validation import ManifestResult, parse_manifest
from tests.paths import corpus_files

pytestmark = pytest.mark.unit

DATA = Path(__file__).parents[1] / "data"
CORPUS = corpus_files()
SYNTHETIC = sorted((DATA / "manifests").glob("*/*.json"))

# The corpus files we reject, each with the start of its first error.
CORPUS_INVALID = {
    "Fataplus__Fataplus-Agritech-Platform__CloudronManifest@f6cb689c.json": (
        "addons: unknown addon filemanager;"
    ),
    "Mekafirst__github-ci__CloudronManifest@06fcf9b8.json": "not valid JSON: line 20, column 2: ",
    "Mekafirst__github-ci__CloudronManifest@0f922433.json": "not valid JSON: line 20, column 2: ",
    "OmenApps__cookiecutter-cloudron__{{cookiecutter.project_slug}}_CloudronManifest.json": (
        "not valid JSON: line 11, column 21: expected a property name in double quotes, found '{' "
        "(this looks like an unrendered template placeholder)"
    ),
    "cloudron-io__meemo__CloudronManifest@62283622.json": "addons: unknown addon simpleauth;",
}

# The corpus files with warnings: (code, path) of each warning. Every other file has none.
CORPUS_WARNINGS = {
    "0dataapp__armadietto-cloudron__CloudronManifest.json": [("duplicate_key", "postInstallMessage")],
    "Cherycoco__fastapi-ci-cd__CloudronManifest@b8dbaedc.json": [("json_comment", "")],
    "KalyaSante__risu_server__CloudronManifest.json": [
        ("duplicate_key", "website"),
        ("duplicate_key", "contactEmail"),
        ("store_metadata", "mediaLinks[0]"),
        ("store_metadata", "mediaLinks[1]"),
        ("unknown_field", "screenshot"),
        ("unknown_field", "repository"),
    ],
    "SinesysTech__zattar-os__CloudronManifest.json": [("memory_limit_below_minimum", "memoryLimit")],
    "cloudron-io__meemo__CloudronManifest@62283622.json": [
        ("duplicate_key", "changelog"),
        ("unknown_field", "developmentMode"),
        ("unknown_field", "singleUser"),
    ],
    "cloudron-io__phabricator-app__CloudronManifest@dc4935fd.json": [("unknown_field", "developmentMode")],
    "cloudron-io__sogo-app__CloudronManifest.json": [("unknown_field", "developmentMode")],
    "cloudron-io__taiga-app__CloudronManifest.json": [("unknown_field", "developmentMode")],
    "mitchellurgero__cloudron-codiad__CloudronManifest.json": [("duplicate_key", "addons.sendmail")],
}


def parse_file(path: Path) -> ManifestResult:
    return parse_manifest(path.read_text(encoding="utf-8"))


def test_the_corpus_is_all_there() -> None:
    assert len(CORPUS) == 85
    assert {*CORPUS_INVALID, *CORPUS_WARNINGS} <= {path.name for path in CORPUS}


@pytest.mark.parametrize("path", CORPUS, ids=lambda path: path.name)
def test_corpus_verdict(path: Path) -> None:
    result = parse_file(path)
    if path.name in CORPUS_INVALID:
        assert not result.valid
        assert str(result.errors[0]).startswith(CORPUS_INVALID[path.name])
    else:
        assert result.valid, [str(error) for error in result.errors]
    assert [(warning.code, warning.path) for warning in result.warnings] == CORPUS_WARNINGS.get(path.name, [])


@pytest.mark.parametrize("path", SYNTHETIC, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_synthetic_verdict_matches_its_directory(path: Path) -> None:
    result = parse_file(path)
    assert result.valid == (path.parent.name == "valid"), [str(error) for error in result.errors]


def test_synthetic_manifests_cover_both_verdicts() -> None:
    assert {path.parent.name for path in SYNTHETIC} == {"valid", "invalid"}
