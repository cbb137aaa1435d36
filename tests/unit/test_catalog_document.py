"""Catalogs as `catalog.document` reads them: every file of the catalog corpus, with what its
SOURCES.tsv says of it; the version checks (manifest rules, image, version key, publishState); what
is not a catalog; semver order; the digests."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from cloudron_operator.catalog.document import (
    UNKNOWN_APP,
    CatalogInvalid,
    digest_of,
    manifest_digest,
    parse_catalog,
)
from cloudron_operator.catalog.versions import Version, is_semver
from cloudron_operator.models.catalog import VersionState
from tests.catalog_corpus import EMPTY, LIST_FORM, NO_IMAGE, TESTING_ONLY, CorpusCatalog, corpus_catalogs

pytestmark = pytest.mark.unit

CORPUS = corpus_catalogs()
BIND = next(c for c in CORPUS if c.name.startswith("0dataapp__bind"))


def _bind() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(BIND.path.read_bytes())
    return document


def _with_version(document: dict[str, Any], key: str, **changes: Any) -> dict[str, Any]:
    """`document` with a copy of its 0.0.1 entry under `key`, its manifest's version `key`, and
    `changes` to the entry (`manifest` changes merged into the manifest)."""
    entry = copy.deepcopy(document["versions"]["0.0.1"])
    entry["manifest"]["version"] = key
    entry["manifest"].update(changes.pop("manifest", {}))
    entry.update(changes)
    document["versions"][key] = entry
    return document


def _parse(document: Any) -> Any:
    return parse_catalog(json.dumps(document).encode())


@pytest.mark.parametrize("corpus", CORPUS, ids=[c.name for c in CORPUS])
def test_every_corpus_catalog_reads_as_its_sources_row_says(corpus: CorpusCatalog) -> None:
    data = corpus.path.read_bytes()
    catalog = parse_catalog(data)
    assert catalog.digest == digest_of(data)
    assert len(catalog.versions) == corpus.versions
    assert len(catalog.invalid) == corpus.invalid
    if corpus.name in EMPTY:
        assert catalog.apps == {}
        return
    assert list(catalog.apps) == [corpus.app_id], "one app per catalog, every version with its id"
    app = catalog.apps[corpus.app_id]
    assert app.versions[0].version == corpus.newest_version
    assert [Version(v.version) for v in app.versions] == sorted(
        (Version(v.version) for v in app.versions), reverse=True
    )
    assert (app.latest.version if app.latest else None) == corpus.latest
    for version in app.versions:
        if version.state is not VersionState.INVALID:
            assert version.image and version.manifest and version.problem is None
            assert version.manifest["version"] == version.version
    assert catalog.notes == (
        ('"versions" is a list, not an object keyed by version: read leniently',)
        if corpus.name == LIST_FORM
        else ()
    )


def test_the_omniroute_version_has_no_image_and_is_listed_invalid() -> None:
    corpus = next(c for c in CORPUS if c.name == NO_IMAGE)
    ((app_id, version),) = parse_catalog(corpus.path.read_bytes()).invalid
    assert (app_id, version.version, version.state) == (corpus.app_id, "0.1.0", VersionState.INVALID)
    assert version.image is None
    assert version.problem == "its manifest has no dockerImage: there is no image to run"
    assert not version.installable


def test_bluesky_pds_has_only_a_testing_version_so_no_latest() -> None:
    corpus = next(c for c in CORPUS if c.name == TESTING_ONLY)
    app = parse_catalog(corpus.path.read_bytes()).apps[corpus.app_id]
    assert [v.state for v in app.versions] == [VersionState.TESTING]
    assert app.latest is None
    assert app.versions[0].installable, "a testing version installs when pinned by spec.source.version"
    assert app.published_newer_than("0.0.1") == ()


def test_the_list_form_is_read_with_the_image_beside_the_manifest() -> None:
    corpus = next(c for c in CORPUS if c.name == LIST_FORM)
    app = parse_catalog(corpus.path.read_bytes()).apps[corpus.app_id]
    assert [(v.version, v.state, v.image) for v in app.versions] == [
        ("1.0.0", VersionState.PUBLISHED, "ghcr.io/noahconhfinal/merca:latest")
    ]


def test_a_version_whose_manifest_fails_the_rules_is_invalid_with_the_rule() -> None:
    catalog = _parse(_with_version(_bind(), "0.0.2", manifest={"httpPort": "eighty"}))
    app = catalog.apps["app.0data.bind"]
    assert [(v.version, v.state) for v in app.versions] == [
        ("0.0.2", VersionState.INVALID),
        ("0.0.1", VersionState.PUBLISHED),
    ]
    assert app.versions[0].problem == "manifest: httpPort: must be an integer"
    assert app.latest is not None and app.latest.version == "0.0.1", "an invalid version is never the latest"


def test_a_revoked_version_is_listed_but_never_installed_or_offered() -> None:
    catalog = _parse(_with_version(_bind(), "0.0.2", publishState="revoked"))
    app = catalog.apps["app.0data.bind"]
    revoked = app.version("0.0.2")
    assert revoked is not None and revoked.state is VersionState.REVOKED and not revoked.installable
    assert revoked.problem is None and revoked.image == "0data/bind:cloudron"
    assert app.latest is not None and app.latest.version == "0.0.1"
    assert app.published_newer_than("0.0.1") == ()
    assert catalog.invalid == ()


def test_an_unknown_publish_state_is_invalid() -> None:
    app = _parse(_with_version(_bind(), "0.0.2", publishState="draft")).apps["app.0data.bind"]
    assert app.versions[0].state is VersionState.INVALID
    assert app.versions[0].problem == "publishState 'draft' is not published, testing or revoked"


def test_a_version_key_that_is_not_its_manifests_version_is_invalid() -> None:
    document = _bind()
    document["versions"]["0.0.2"] = copy.deepcopy(document["versions"]["0.0.1"])  # manifest says 0.0.1
    version = _parse(document).apps["app.0data.bind"].version("0.0.2")
    assert version is not None and version.state is VersionState.INVALID
    assert version.problem == "its manifest's version is '0.0.1', the catalog lists it as '0.0.2'"


def test_an_entry_without_a_manifest_is_invalid() -> None:
    document = _bind()
    document["versions"]["0.0.2"] = {"publishState": "published"}
    version = _parse(document).apps["app.0data.bind"].version("0.0.2")
    assert version is not None and version.state is VersionState.INVALID
    assert version.problem == "has no manifest object"


def test_an_aggregate_catalog_lists_each_app_id() -> None:
    document = _with_version(_bind(), "1.0.0", manifest={"id": "org.example.other", "title": "Other"})
    catalog = _parse(document)
    assert list(catalog.apps) == ["app.0data.bind", "org.example.other"]
    assert [v.version for v in catalog.apps["org.example.other"].versions] == ["1.0.0"]
    assert UNKNOWN_APP not in catalog.apps


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "not valid JSON: "),
        (b"\xff\xfe", "not valid JSON: "),
        (b"[]", 'not a CloudronVersions.json: no "versions" object'),
        (b'{"stable": true}', 'not a CloudronVersions.json: no "versions" object'),
        (b'{"versions": 3}', '"versions" must be an object keyed by version'),
    ],
    ids=["invalid-json", "not-utf8", "a-list", "no-versions", "versions-a-number"],
)
def test_what_is_not_a_catalog_is_refused_whole(data: bytes, message: str) -> None:
    with pytest.raises(CatalogInvalid) as refused:
        parse_catalog(data)
    assert str(refused.value).startswith(message)


# The order semver 2.0.0 gives as its example (section 11), and the store's x.y.z == x.y.z-0.
SEMVER_ORDER = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.9.0",
    "1.10.0",
    "2.0.0",
]


def test_versions_order_as_semver() -> None:
    shuffled = SEMVER_ORDER[::2] + SEMVER_ORDER[1::2]
    assert [v.text for v in sorted(Version(v) for v in shuffled)] == SEMVER_ORDER


@pytest.mark.parametrize(
    ("left", "right"),
    [("1.0.0", "1.0.0-0"), ("1.0.0+build.5", "1.0.0"), ("v1.2.3", "1.2.3")],
)
def test_equal_versions(left: str, right: str) -> None:
    assert Version(left) == Version(right)
    assert hash(Version(left)) == hash(Version(right))


def test_a_version_that_is_not_semver_sorts_below_every_semver() -> None:
    assert not is_semver("latest") and not is_semver("1.0")
    assert Version("latest") < Version("0.0.0-0") < Version("0.0.1")
    assert Version("3.1.2-14") < Version("3.1.2"), "a pre-release, as semver reads it"


def test_the_store_finds_x_y_z_as_x_y_z_0() -> None:
    catalog = _parse(_with_version(_bind(), "0.0.2-0"))
    found = catalog.apps["app.0data.bind"].version("0.0.2")
    assert found is not None and found.version == "0.0.2-0"


def test_manifest_digest_is_stable_across_key_order_and_changes_with_content() -> None:
    manifest = _bind()["versions"]["0.0.1"]["manifest"]
    reordered = dict(reversed(list(manifest.items())))
    assert manifest_digest(manifest) == manifest_digest(reordered)
    assert manifest_digest(manifest) == manifest_digest(json.loads(json.dumps(manifest, indent=4)))
    assert manifest_digest(manifest) != manifest_digest({**manifest, "httpPort": 3001})
    assert manifest_digest(manifest).startswith("sha256:") and len(manifest_digest(manifest)) == 71
    # Pinned: a digest recorded in an app's status keeps its meaning across releases.
    assert manifest_digest({"b": [1, "é"], "a": None}) == digest_of('{"a":null,"b":[1,"é"]}'.encode())
