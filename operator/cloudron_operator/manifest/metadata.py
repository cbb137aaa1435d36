"""The manifest fields that only describe an app (App Store listing, dashboard texts).

None of them changes how the app runs, so a value that breaks its rule is reported as a
warning and left out of the parsed manifest, instead of rejecting the whole manifest.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import AfterValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from cloudron_operator.manifest.formats import (
    EmailAddress,
    ManifestModel,
    NonEmptyString,
    NoRepeats,
    ReverseDomain,
    SemVer,
    WebUrl,
)

_CHECKLIST_KEY: Final = re.compile(r"[a-zA-Z0-9_-]+")


def _checklist_key(key: str) -> str:
    if not _CHECKLIST_KEY.fullmatch(key):
        raise PydanticCustomError("checklist_key", "checklist keys must match ^[a-zA-Z0-9_-]+$")
    return key


class ChecklistItem(ManifestModel):
    """A post-install to-do; `sso` limits it to installs with (True) or without (False) Cloudron login."""

    message: str
    sso: bool | None = None


class StoreMetadata(ManifestModel):
    model_config = ConfigDict(extra="ignore")  # checked on its own, before the whole manifest

    id: ReverseDomain | None = None
    title: Annotated[str, Field(min_length=2)] | None = None
    author: Annotated[str, Field(min_length=2)] | None = None
    tagline: Annotated[str, Field(min_length=5)] | None = None
    description: Annotated[str, Field(min_length=5)] | None = None
    changelog: Annotated[str, Field(min_length=5)] | None = None
    website: WebUrl | None = None
    contact_email: EmailAddress | None = None
    documentation_url: WebUrl | None = None
    forum_url: WebUrl | None = None
    icon: str | None = None
    tags: Annotated[list[str], NoRepeats] | None = None
    media_links: Annotated[list[WebUrl], NoRepeats] | None = None
    upstream_version: NonEmptyString | None = None
    configure_path: NonEmptyString | None = None
    post_install_message: Annotated[str, Field(min_length=5)] | None = None
    checklist: dict[Annotated[str, AfterValidator(_checklist_key)], ChecklistItem] | None = None
    min_box_version: SemVer | None = None
    max_box_version: SemVer | None = None
    target_box_version: SemVer | None = None
    # Documented by Cloudron for box 9.1 community catalogues; not in cloudron-manifestformat 5.27.0.
    icon_url: WebUrl | None = None
    packager_name: NonEmptyString | None = None
    packager_url: WebUrl | None = None
