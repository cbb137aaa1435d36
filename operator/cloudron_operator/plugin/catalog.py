"""Pure reading of AppCatalogs' status.entries: the rows of `catalog list`, search, and which catalog
and version `install` takes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cloudron_operator.plugin.output import cell

INSTALLABLE_STATES: Final = frozenset({"published", "testing"})


class CatalogError(Exception):
    """The catalogs cannot give what was asked for (no such app or version): exit code 1."""


@dataclass(frozen=True)
class CatalogApp:
    """One entry of one catalog."""

    catalog: str
    entry: Mapping[str, Any]

    @property
    def app_id(self) -> str:
        return str(self.entry.get("id", ""))

    @property
    def title(self) -> str:
        return str(self.entry.get("title") or "")

    @property
    def tagline(self) -> str:
        return str(self.entry.get("tagline") or "")

    @property
    def tags(self) -> list[str]:
        return [str(tag) for tag in self.entry.get("tags") or []]

    @property
    def latest(self) -> str | None:
        latest = self.entry.get("latest")
        return str(latest) if latest else None

    @property
    def versions(self) -> list[Mapping[str, Any]]:
        return list(self.entry.get("versions") or [])


def catalog_apps(catalogs: Iterable[Mapping[str, Any]]) -> list[CatalogApp]:
    """Every entry of every catalog, by catalog name then app id."""
    apps = [
        CatalogApp(catalog["metadata"]["name"], entry)
        for catalog in catalogs
        for entry in (catalog.get("status") or {}).get("entries") or []
    ]
    return sorted(apps, key=lambda app: (app.catalog, app.app_id))


def matches(app: CatalogApp, term: str) -> bool:
    """Whether `term` is in the app's id, title, tagline or one of its tags, ignoring case."""
    wanted = term.casefold()
    return any(wanted in text.casefold() for text in (app.app_id, app.title, app.tagline, *app.tags))


def search(apps: Iterable[CatalogApp], term: str) -> list[CatalogApp]:
    return [app for app in apps if matches(app, term)]


def list_row(app: CatalogApp, *, wide: bool) -> list[str]:
    row = [app.catalog, app.app_id, cell(app.title), cell(app.latest), str(len(app.versions))]
    return [*row, cell(app.tagline), cell(",".join(app.tags))] if wide else row


LIST_HEADERS: Final = ["CATALOG", "APP ID", "TITLE", "LATEST", "VERSIONS"]
WIDE_HEADERS: Final = [*LIST_HEADERS, "TAGLINE", "TAGS"]


def entry_document(app: CatalogApp) -> dict[str, Any]:
    """An entry as `-o yaml|json` prints it: the catalog's name first, then the entry as it is."""
    return {"catalog": app.catalog, **app.entry}


def choose_app(
    catalogs: Sequence[Mapping[str, Any]], app_id: str, catalog_name: str | None = None
) -> CatalogApp:
    """The entry `install` takes: from `catalog_name`, else from the only catalog that lists the id."""
    apps = [app for app in catalog_apps(catalogs) if app.app_id == app_id]
    if catalog_name is not None:
        if not any(catalog["metadata"]["name"] == catalog_name for catalog in catalogs):
            raise CatalogError(f'appcatalogs.cloudron.io "{catalog_name}" not found')
        chosen = [app for app in apps if app.catalog == catalog_name]
        if not chosen:
            raise CatalogError(f"catalog {catalog_name} has no app {app_id}{_unread_note(catalogs)}")
        return chosen[0]
    if len(apps) > 1:
        names = ", ".join(app.catalog for app in apps)
        raise CatalogError(f"app {app_id} is in several catalogs ({names}): choose one with --catalog")
    if not apps:
        raise CatalogError(f"no catalog has app {app_id}{_unread_note(catalogs)}")
    return apps[0]


def _unread_note(catalogs: Sequence[Mapping[str, Any]]) -> str:
    unread = sorted(c["metadata"]["name"] for c in catalogs if not (c.get("status") or {}).get("entries"))
    return f" (catalogs not read yet, or empty: {', '.join(unread)})" if unread else ""


def check_version(app: CatalogApp, version: str | None) -> None:
    """Refuse a version the operator would not install: unknown, revoked or invalid; without one,
    an app with no published version."""
    if version is None:
        if app.latest is None:
            raise CatalogError(
                f"app {app.app_id} has no published version in catalog {app.catalog}: "
                "name a testing version with APPID@VERSION"
            )
        return
    found = next((v for v in app.versions if v.get("version") == version), None)
    if found is None:
        known = ", ".join(str(v.get("version")) for v in app.versions) or "none"
        raise CatalogError(
            f"catalog {app.catalog} has no version {version} of {app.app_id} (versions: {known})"
        )
    state = found.get("state")
    if state not in INSTALLABLE_STATES:
        why = f": {found['message']}" if found.get("message") else ""
        raise CatalogError(f"version {version} of {app.app_id} is {state} in catalog {app.catalog}{why}")
