"""kubectl-cloudron's reading of AppCatalogs: the rows of `catalog list`, search, and which catalog
and version `install` takes."""

from __future__ import annotations

from typing import Any

import pytest

from cloudron_operator.plugin.catalog import (
    LIST_HEADERS,
    CatalogError,
    catalog_apps,
    check_version,
    choose_app,
    entry_document,
    list_row,
    search,
)

pytestmark = pytest.mark.unit

WIKI: dict[str, Any] = {
    "id": "org.wikijs.cloudronapp",
    "title": "Wiki.js",
    "tagline": "A modern and powerful wiki app",
    "tags": ["wiki", "knowledge"],
    "latest": "2.5.300",
    "versions": [
        {"version": "2.5.301", "state": "testing", "image": "cloudron/wiki:2.5.301"},
        {"version": "2.5.300", "state": "published", "image": "cloudron/wiki:2.5.300"},
        {"version": "2.5.299", "state": "revoked", "image": "cloudron/wiki:2.5.299"},
        {"version": "2.5.298", "state": "invalid", "message": "httpPort is missing"},
    ],
}
GITEA: dict[str, Any] = {
    "id": "io.gitea.cloudronapp",
    "title": "Gitea",
    "tagline": "Painless self-hosted Git",
    "tags": ["dev"],
    "latest": "1.22.0",
    "versions": [{"version": "1.22.0", "state": "published", "image": "cloudron/gitea:1.22.0"}],
}
DRAFT: dict[str, Any] = {
    "id": "com.example.draft",
    "title": "Draft",
    "versions": [{"version": "0.1.0", "state": "testing"}],
}


def catalog(name: str, *entries: dict[str, Any]) -> dict[str, Any]:
    status = {"entries": list(entries)} if entries else {}
    return {
        "apiVersion": "cloudron.io/v1alpha1",
        "kind": "AppCatalog",
        "metadata": {"name": name},
        "status": status,
    }


def test_catalog_apps_are_every_entry_by_catalog_then_id() -> None:
    apps = catalog_apps([catalog("team", WIKI), catalog("community", WIKI, GITEA), catalog("empty")])
    assert [(app.catalog, app.app_id) for app in apps] == [
        ("community", "io.gitea.cloudronapp"),
        ("community", "org.wikijs.cloudronapp"),
        ("team", "org.wikijs.cloudronapp"),
    ]


def test_a_row_has_catalog_id_title_latest_and_the_count_of_versions() -> None:
    (wiki, draft) = catalog_apps([catalog("community", WIKI, DRAFT)])[::-1]
    assert LIST_HEADERS == ["CATALOG", "APP ID", "TITLE", "LATEST", "VERSIONS"]
    assert list_row(wiki, wide=False) == ["community", "org.wikijs.cloudronapp", "Wiki.js", "2.5.300", "4"]
    assert list_row(draft, wide=True) == [
        "community",
        "com.example.draft",
        "Draft",
        "<none>",
        "1",
        "<none>",
        "<none>",
    ]
    assert list_row(wiki, wide=True)[5:] == ["A modern and powerful wiki app", "wiki,knowledge"]


@pytest.mark.parametrize(
    ("term", "found"),
    [
        ("WIKI", ["org.wikijs.cloudronapp"]),  # id, title and tag, any case
        ("painless", ["io.gitea.cloudronapp"]),  # tagline
        ("dev", ["io.gitea.cloudronapp"]),  # tag
        ("cloudronapp", ["io.gitea.cloudronapp", "org.wikijs.cloudronapp"]),
        ("nextcloud", []),
    ],
)
def test_search_matches_id_title_tagline_and_tags_ignoring_case(term: str, found: list[str]) -> None:
    apps = catalog_apps([catalog("community", WIKI, GITEA)])
    assert [app.app_id for app in search(apps, term)] == found


def test_an_entry_document_names_its_catalog_first() -> None:
    (gitea,) = catalog_apps([catalog("community", GITEA)])
    document = entry_document(gitea)
    assert list(document)[:2] == ["catalog", "id"]
    assert document == {"catalog": "community", **GITEA}


def test_install_takes_the_only_catalog_that_has_the_app() -> None:
    chosen = choose_app([catalog("community", WIKI, GITEA), catalog("team", DRAFT)], "io.gitea.cloudronapp")
    assert (chosen.catalog, chosen.app_id) == ("community", "io.gitea.cloudronapp")


def test_an_app_in_several_catalogs_needs_catalog_and_the_error_names_them() -> None:
    catalogs = [catalog("team", WIKI), catalog("community", WIKI)]
    with pytest.raises(
        CatalogError, match=r"several catalogs \(community, team\): choose one with --catalog"
    ):
        choose_app(catalogs, "org.wikijs.cloudronapp")
    assert choose_app(catalogs, "org.wikijs.cloudronapp", "team").catalog == "team"


def test_an_app_no_catalog_has_is_an_error_naming_the_catalogs_not_read_yet() -> None:
    with pytest.raises(
        CatalogError, match=r"^no catalog has app com.example.none \(catalogs not read yet, or empty: new\)$"
    ):
        choose_app([catalog("community", WIKI), catalog("new")], "com.example.none")


def test_a_catalog_named_must_exist_and_have_the_app() -> None:
    with pytest.raises(CatalogError, match=r'appcatalogs\.cloudron\.io "other" not found'):
        choose_app([catalog("community", WIKI)], "org.wikijs.cloudronapp", "other")
    with pytest.raises(CatalogError, match=r"catalog community has no app io\.gitea\.cloudronapp"):
        choose_app([catalog("community", WIKI)], "io.gitea.cloudronapp", "community")


def test_published_and_testing_versions_install_revoked_invalid_and_unknown_ones_do_not() -> None:
    (wiki,) = catalog_apps([catalog("community", WIKI)])
    check_version(wiki, None)
    check_version(wiki, "2.5.300")
    check_version(wiki, "2.5.301")
    with pytest.raises(
        CatalogError, match=r"version 2\.5\.299 of org\.wikijs\.cloudronapp is revoked in catalog community"
    ):
        check_version(wiki, "2.5.299")
    with pytest.raises(CatalogError, match="is invalid in catalog community: httpPort is missing"):
        check_version(wiki, "2.5.298")
    with pytest.raises(
        CatalogError, match=r"has no version 3.0.0 .* \(versions: 2.5.301, 2.5.300, 2.5.299, 2.5.298\)"
    ):
        check_version(wiki, "3.0.0")


def test_an_app_without_a_published_version_installs_only_by_version() -> None:
    (draft,) = catalog_apps([catalog("community", DRAFT)])
    with pytest.raises(
        CatalogError, match="no published version in catalog community: name a testing version"
    ):
        check_version(draft, None)
    check_version(draft, "0.1.0")
