"""A `CloudronVersions.json` catalog, parsed and checked version by version. Pure.

The format (Cloudron 9.1's community catalogs): `{"stable": bool, "versions": {"<version>":
{"manifest": {...}, "creationDate", "ts", "publishState": "published" | "testing" | "revoked"}}}`,
the image in each manifest's `dockerImage`. A catalog may hold several app ids (an aggregate of
packages), grouped by each manifest's `id`.

A version is installable only if its manifest passes our manifest rules, it names an image, and
its manifest's version is the catalog's key for it; otherwise it is listed as invalid, with why.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from cloudron_operator.catalog.versions import Version, is_semver
from cloudron_operator.manifest.validation import validate_manifest
from cloudron_operator.models.catalog import VersionState
from cloudron_operator.models.types import IMAGE_PATTERN

PUBLISH_STATES: Final = {
    "published": VersionState.PUBLISHED,
    "testing": VersionState.TESTING,
    "revoked": VersionState.REVOKED,
}
UNKNOWN_APP: Final = "(unknown)"  # where versions whose manifest has no id are listed
MAX_PROBLEMS: Final = 3  # of a version's manifest errors, shown


class CatalogInvalid(ValueError):
    """The document is not a catalog at all: nothing in it can be listed."""


@dataclass(frozen=True)
class CatalogVersion:
    version: str
    state: VersionState
    image: str | None
    manifest: Mapping[str, Any] | None  # as published
    problem: str | None = None  # why it is invalid
    created: str | None = None

    @property
    def installable(self) -> bool:
        return self.state in (VersionState.PUBLISHED, VersionState.TESTING)


@dataclass(frozen=True)
class CatalogApp:
    app_id: str
    versions: tuple[CatalogVersion, ...]  # newest first

    def version(self, wanted: str) -> CatalogVersion | None:
        """The version `wanted` names (`1.2.3` finds `1.2.3-0` too, as in the store)."""
        exact = next((v for v in self.versions if v.version == wanted), None)
        if exact is not None or not is_semver(wanted):
            return exact
        return next((v for v in self.versions if Version(v.version) == Version(wanted)), None)

    @property
    def latest(self) -> CatalogVersion | None:
        """The newest published, valid version: what an install by id gets."""
        return next((v for v in self.versions if v.state is VersionState.PUBLISHED), None)

    def published_newer_than(self, current: str) -> tuple[CatalogVersion, ...]:
        """Published, valid versions newer than `current`, newest first."""
        floor = Version(current)
        return tuple(
            v for v in self.versions if v.state is VersionState.PUBLISHED and Version(v.version) > floor
        )


@dataclass(frozen=True)
class Catalog:
    apps: Mapping[str, CatalogApp]
    digest: str  # "sha256:<hex>" of the bytes
    notes: tuple[str, ...] = field(default=())  # where the document departs from the format, read leniently

    @property
    def versions(self) -> tuple[CatalogVersion, ...]:
        return tuple(v for app in self.apps.values() for v in app.versions)

    @property
    def invalid(self) -> tuple[tuple[str, CatalogVersion], ...]:
        return tuple(
            (app.app_id, v)
            for app in self.apps.values()
            for v in app.versions
            if v.state is VersionState.INVALID
        )


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest_digest(manifest: Mapping[str, Any]) -> str:
    """sha256 of the manifest's canonical JSON (sorted keys, no spaces): one manifest, one digest."""
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return digest_of(canonical.encode())


def parse_catalog(data: bytes) -> Catalog:
    """The catalog in `data`; CatalogInvalid if it is not one (not JSON, no versions)."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CatalogInvalid(f"not valid JSON: {error}") from error
    except RecursionError as error:
        raise CatalogInvalid("not a catalog: JSON nested too deeply") from error
    if not isinstance(document, dict) or "versions" not in document:
        raise CatalogInvalid('not a CloudronVersions.json: no "versions" object')
    raw_versions = document["versions"]
    notes: list[str] = []
    entries: list[tuple[str, Any]]
    if isinstance(raw_versions, dict):
        entries = list(raw_versions.items())
    elif isinstance(raw_versions, list):
        # Seen in the wild: a list of {version, dockerImage, manifest}. Read, and said so.
        notes.append('"versions" is a list, not an object keyed by version: read leniently')
        entries = [(_listed_version(entry), entry) for entry in raw_versions]
    else:
        raise CatalogInvalid('"versions" must be an object keyed by version')
    by_app: dict[str, list[CatalogVersion]] = defaultdict(list)
    for key, entry in entries:
        app_id, checked = _check_version(key, entry)
        by_app[app_id].append(checked)
    _assign_unknown(by_app)
    apps = {
        app_id: CatalogApp(app_id, tuple(sorted(versions, key=lambda v: Version(v.version), reverse=True)))
        for app_id, versions in sorted(by_app.items())
    }
    return Catalog(apps, digest_of(data), tuple(notes))


def _listed_version(entry: Any) -> str:
    if not isinstance(entry, dict):
        return ""
    manifest = entry.get("manifest")
    version = entry.get("version") or (manifest.get("version") if isinstance(manifest, dict) else None)
    return str(version or "")


def _check_version(key: str, entry: Any) -> tuple[str, CatalogVersion]:
    """The app id a version is of, and the version as listed: invalid with why, or installable."""
    if not isinstance(entry, dict) or not isinstance(entry.get("manifest"), dict):
        return UNKNOWN_APP, CatalogVersion(key, VersionState.INVALID, None, None, "has no manifest object")
    manifest: dict[str, Any] = entry["manifest"]
    given_id = manifest.get("id")
    app_id = given_id if isinstance(given_id, str) and given_id else UNKNOWN_APP
    image = manifest.get("dockerImage") or entry.get("dockerImage")
    image = image if isinstance(image, str) else None
    created = str(entry["creationDate"]) if entry.get("creationDate") is not None else None
    state = PUBLISH_STATES.get(str(entry.get("publishState", "published")))
    problem = _problem(key, entry, manifest, image) if state is not None else None
    if state is None:
        problem = f"publishState {entry.get('publishState')!r} is not published, testing or revoked"
    if problem is not None:
        return app_id, CatalogVersion(key, VersionState.INVALID, image, manifest, problem, created)
    assert state is not None
    return app_id, CatalogVersion(key, state, image, manifest, None, created)


def _problem(key: str, entry: dict[str, Any], manifest: dict[str, Any], image: str | None) -> str | None:
    """Why the version cannot be installed; None if it can."""
    result = validate_manifest(manifest)
    if result.manifest is None:
        shown = "; ".join(str(e) for e in result.errors[:MAX_PROBLEMS])
        more = f" (and {len(result.errors) - MAX_PROBLEMS} more)" if len(result.errors) > MAX_PROBLEMS else ""
        return f"manifest: {shown}{more}"
    if str(manifest.get("version")) != key:
        return f"its manifest's version is {manifest.get('version')!r}, the catalog lists it as {key!r}"
    if image is None:
        return "its manifest has no dockerImage: there is no image to run"
    if not _is_image(image):
        return f"dockerImage {image!r} is not an image reference"
    return None


def _is_image(image: str) -> bool:
    return re.fullmatch(IMAGE_PATTERN, image) is not None and len(image) <= 1024


def _assign_unknown(by_app: dict[str, list[CatalogVersion]]) -> None:
    """Versions without an id belong to the catalog's app when it has only one."""
    known = [app_id for app_id in by_app if app_id != UNKNOWN_APP]
    if UNKNOWN_APP in by_app and len(known) == 1:
        by_app[known[0]].extend(by_app.pop(UNKNOWN_APP))
