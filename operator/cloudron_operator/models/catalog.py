"""The AppCatalog kind: a `CloudronVersions.json` catalog of app packages, read from a URL or a
ConfigMap, which apps install from by id (`CloudronApp.spec.source`) and update from."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Final

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from cloudron_operator.models.base import SpecModel, StatusModel, cel, kube_schema
from cloudron_operator.models.conditions import CONDITION_LIST, Condition
from cloudron_operator.models.types import Count, DataKey, DnsLabel, DnsSubdomain

# No `user:password@`: a URL is shown by `kubectl get appcatalogs` and to whoever may read the kind.
CATALOG_URL_PATTERN: Final = r"^https?://[^\s/@]+(/[^\s]*)?$"
# A Go duration of whole hours, minutes and seconds (what `kubectl`, Flux and Argo CD users write).
DURATION_PATTERN: Final = r"^([0-9]+h)?([0-9]+m)?([0-9]+s)?$"
ONE_SOURCE_MESSAGE: Final = "set exactly one of url and configMapRef"
DEFAULT_CATALOG_KEY: Final = "CloudronVersions.json"
MAX_ENTRIES: Final = 1024  # app ids listed in the status
MAX_LISTED_VERSIONS: Final = 256  # versions listed per app id, newest first

Duration = Annotated[str, StringConstraints(min_length=2, max_length=32, pattern=DURATION_PATTERN)]


class CatalogConfigMapRef(SpecModel):
    """A ConfigMap that holds the catalog (a catalog kept in Git beside the apps, or air-gapped)."""

    name: DnsSubdomain = Field(description="Name of the ConfigMap.")
    namespace: DnsLabel = Field(description="Namespace of the ConfigMap.")
    key: DataKey = Field(default=DEFAULT_CATALOG_KEY, description="Key of the ConfigMap holding the JSON.")


class AppCatalogSpec(SpecModel):
    """The desired state of an AppCatalog."""

    model_config = ConfigDict(
        json_schema_extra=kube_schema(cel("has(self.url) != has(self.configMapRef)", ONE_SOURCE_MESSAGE))
    )

    url: Annotated[str, StringConstraints(max_length=2048, pattern=CATALOG_URL_PATTERN)] | None = Field(
        default=None,
        description=(
            "URL of the CloudronVersions.json, http or https, without credentials (a private catalog goes "
            "in a ConfigMap); fetched with conditional requests (If-None-Match, If-Modified-Since)."
        ),
    )
    config_map_ref: CatalogConfigMapRef | None = Field(
        default=None, description="A ConfigMap holding the CloudronVersions.json instead of a URL."
    )
    interval: Duration = Field(
        default="1h",
        description="How often the catalog is read again, as a duration (30s, 10m, 1h); at least 10s.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> AppCatalogSpec:
        if (self.url is None) == (self.config_map_ref is None):
            raise ValueError(ONE_SOURCE_MESSAGE)
        return self


class VersionState(StrEnum):
    """What may be done with one version of a catalog."""

    PUBLISHED = "published"  # installed by id, offered as an update
    TESTING = "testing"  # installed only when spec.source.version names it
    REVOKED = "revoked"  # never installed
    INVALID = "invalid"  # fails the manifest rules (or has no image): never installed


class CatalogVersionStatus(StatusModel):
    version: str = Field(description="The version, as the catalog keys it.")
    state: VersionState = Field(description="published, testing, revoked or invalid.")
    image: str | None = Field(default=None, description="The package's image (its manifest's dockerImage).")
    message: str | None = Field(default=None, description="Why the version is invalid.")
    created: str | None = Field(default=None, description="The catalog's creationDate of the version.")


class CatalogEntryStatus(StatusModel):
    """One app of the catalog."""

    id: str = Field(description="The app's id (its manifest's id), which spec.source.appId names.")
    title: str | None = Field(default=None, description="The newest version's title.")
    tagline: str | None = Field(default=None, description="The newest version's tagline.")
    tags: tuple[str, ...] = Field(default=(), description="The newest version's tags.")
    latest: str | None = Field(
        default=None, description="The newest published, valid version: what an install by id gets."
    )
    versions: tuple[CatalogVersionStatus, ...] = Field(
        default=(), max_length=MAX_LISTED_VERSIONS, description="Its versions, newest first."
    )


class AppCatalogStatus(StatusModel):
    """The observed state of an AppCatalog."""

    observed_generation: Count | None = Field(
        default=None, description="metadata.generation the status is of."
    )
    conditions: tuple[Condition, ...] = Field(
        default=(),
        description=(
            "Ready means the catalog was read and parsed; its message names the versions that are invalid."
        ),
        json_schema_extra=CONDITION_LIST,
    )
    apps: Count | None = Field(default=None, description="App ids in the catalog.")
    versions: Count | None = Field(default=None, description="Versions in the catalog, of every state.")
    invalid: Count | None = Field(default=None, description="Versions that fail the manifest rules.")
    digest: str | None = Field(default=None, description="sha256 of the catalog's bytes, as 'sha256:<hex>'.")
    last_fetched: str | None = Field(default=None, description="When the catalog was last read successfully.")
    last_changed: str | None = Field(default=None, description="When its content last changed.")
    entries: tuple[CatalogEntryStatus, ...] = Field(
        default=(), max_length=MAX_ENTRIES, description="The catalog's apps, by id."
    )
