"""What an AppCatalog's status says of a catalog (`catalog.listing`): entries the CRD accepts, bounded
in count and size; Ready with the invalid versions named, bounded too."""

from __future__ import annotations

import json

import pytest

from cloudron_operator.catalog.document import Catalog, CatalogApp, CatalogVersion, parse_catalog
from cloudron_operator.catalog.listing import ENTRIES_BUDGET_BYTES, SHOWN_INVALID, listed_entries, ready_of
from cloudron_operator.models.catalog import MAX_ENTRIES, MAX_LISTED_VERSIONS, AppCatalogStatus, VersionState
from cloudron_operator.models.conditions import Reason
from tests.catalog_corpus import NO_IMAGE, CorpusCatalog, corpus_catalogs

pytestmark = pytest.mark.unit

CORPUS = corpus_catalogs()
SOURCE = "https://example.com/CloudronVersions.json"


@pytest.mark.parametrize("corpus", CORPUS, ids=[c.name for c in CORPUS])
def test_every_corpus_catalog_is_listed_whole_in_a_status_the_crd_accepts(corpus: CorpusCatalog) -> None:
    catalog = parse_catalog(corpus.path.read_bytes())
    entries, note = listed_entries(catalog)
    assert note is None
    status = AppCatalogStatus.model_validate(
        {"apps": len(catalog.apps), "versions": len(catalog.versions), "entries": entries}
    )
    assert [e.id for e in status.entries] == ([corpus.app_id] if corpus.app_id else [])
    for entry in status.entries:
        assert entry.latest == corpus.latest
        assert entry.versions[0].version == corpus.newest_version
        assert len(entry.versions) == corpus.versions
        assert entry.title, "from the newest version's manifest"
    ready = ready_of(catalog, SOURCE)
    assert ready.status == "True"
    if corpus.name == NO_IMAGE:
        assert ready.reason == Reason.SOME_VERSIONS_INVALID
        assert ready.message == (
            f"1 version of 1 app from {SOURCE}; 1 invalid, never installed: com.toldyouso.omniroute 0.1.0: "
            "its manifest has no dockerImage: there is no image to run"
        )
        assert entries[0]["versions"][0] == {
            "version": "0.1.0",
            "state": "invalid",
            "message": "its manifest has no dockerImage: there is no image to run",
            "created": catalog.versions[0].created,
        }
    else:
        assert ready.reason == Reason.FETCHED


def test_an_empty_catalog_says_so() -> None:
    catalog = parse_catalog(b'{"stable": true, "versions": {}}')
    assert listed_entries(catalog) == ([], None)
    assert ready_of(catalog, SOURCE).message == f"{SOURCE} lists no versions"


def _version(number: int, state: VersionState, *, text: int = 10) -> CatalogVersion:
    manifest = {"id": "x", "title": "T" * text, "tagline": "tagline", "tags": ["a", 3, "b"]}
    problem = "bad" * text if state is VersionState.INVALID else None
    return CatalogVersion(f"1.0.{number}", state, "registry.example.com/app:" + "x" * text, manifest, problem)


def _catalog(
    apps: int, versions: int, state: VersionState = VersionState.PUBLISHED, *, text: int = 10
) -> Catalog:
    listed = {
        f"org.example.app{a:05}": CatalogApp(
            f"org.example.app{a:05}", tuple(_version(v, state, text=text) for v in reversed(range(versions)))
        )
        for a in range(apps)
    }
    return Catalog(listed, "sha256:" + "0" * 64)


def test_the_entries_are_bounded_by_the_crd_and_a_size_budget_and_say_so() -> None:
    catalog = _catalog(apps=MAX_ENTRIES + 10, versions=40)
    entries, note = listed_entries(catalog)
    assert len(json.dumps(entries, separators=(",", ":"))) <= ENTRIES_BUDGET_BYTES
    assert len(entries) == MAX_ENTRIES, "every app listed, with fewer versions each"
    assert all(0 < len(e["versions"]) < 40 for e in entries)
    assert entries[0]["versions"][0]["version"] == "1.0.39", "the newest first"
    listed = sum(len(e["versions"]) for e in entries)
    assert note == (
        f"the status lists {listed} of the {len(catalog.versions)} versions (of {MAX_ENTRIES} of the "
        f"{MAX_ENTRIES + 10} apps, newest first); all of them are in use"
    )
    AppCatalogStatus.model_validate({"entries": entries})


def test_apps_are_left_out_when_one_version_each_is_still_too_much() -> None:
    entries, note = listed_entries(_catalog(apps=MAX_ENTRIES, versions=2, text=400))
    assert 0 < len(entries) < MAX_ENTRIES
    assert len(json.dumps(entries, separators=(",", ":"))) <= ENTRIES_BUDGET_BYTES
    assert all(len(e["versions"]) == 1 for e in entries)
    assert note is not None and f"(of {len(entries)} of the {MAX_ENTRIES} apps" in note


def test_long_texts_are_cut() -> None:
    ((entry,), _) = listed_entries(_catalog(apps=1, versions=1, state=VersionState.INVALID, text=2000))
    status = AppCatalogStatus.model_validate({"entries": [entry]})
    listed = status.entries[0]
    assert listed.title is not None and len(listed.title) == 512 and listed.title.endswith("...")
    assert listed.tags == ("a", "b")
    assert listed.versions[0].image is not None and len(listed.versions[0].image) == 512
    assert listed.versions[0].message is not None and len(listed.versions[0].message) == 512


def test_a_small_catalog_over_the_crds_version_limit_is_cut_to_it() -> None:
    entries, note = listed_entries(_catalog(apps=1, versions=MAX_LISTED_VERSIONS + 1))
    assert len(entries[0]["versions"]) == MAX_LISTED_VERSIONS
    assert (
        note is not None and f"lists {MAX_LISTED_VERSIONS} of the {MAX_LISTED_VERSIONS + 1} versions" in note
    )


def test_ready_names_a_few_invalid_versions_and_counts_the_rest() -> None:
    catalog = _catalog(apps=1, versions=20, state=VersionState.INVALID)
    ready = ready_of(catalog, SOURCE, ["a note"])
    assert (ready.status, ready.reason) == ("True", Reason.SOME_VERSIONS_INVALID)
    assert ready.message.startswith(f"20 versions of 1 app from {SOURCE}; 20 invalid, never installed: ")
    assert ready.message.count("org.example.app00000 1.0.") == SHOWN_INVALID
    assert ready.message.endswith(f" (and {20 - SHOWN_INVALID} more: see status.entries); a note")
    assert len(ready.message) < 2500
