"""The CloudronUser kind: one person of the platform's central directory (cluster-scoped).

The directory the apps bind to (the `ldap` Addon) is derived from these objects and the password
hashes the operator keeps in Secrets: no password is ever in a spec.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Final, Self

from pydantic import ConfigDict, Field, StrictBool, StringConstraints, field_validator, model_validator

from cloudron_operator.models.base import SpecModel, StatusModel, cel, kube_schema
from cloudron_operator.models.conditions import CONDITION_LIST, Condition
from cloudron_operator.models.types import Count

# Cloudron's rules (CLOUDRON.md §5.4): lowercase letters, digits, '.' and '-', beginning and ending
# with a letter or digit, at most 32 characters; the same for group names.
NAME_PATTERN: Final = r"^[a-z0-9]([a-z0-9.-]{0,30}[a-z0-9])?$"
RESERVED_USERNAMES: Final = ("admin", "admins", "users", "no-reply", "postmaster", "mailer-daemon")
EMAIL_PATTERN: Final = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
MAX_GROUPS: Final = 64

DirectoryName = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=NAME_PATTERN)]
Email = Annotated[str, StringConstraints(max_length=254, pattern=EMAIL_PATTERN)]

_RESERVED_CEL = "[" + ", ".join(f"'{name}'" for name in RESERVED_USERNAMES) + "]"


class UserRole(StrEnum):
    """What the user may do on the platform; admins and owners may use every app."""

    USER = "user"
    USER_MANAGER = "usermanager"
    ADMIN = "admin"
    OWNER = "owner"


ADMIN_ROLES: Final = frozenset({UserRole.ADMIN, UserRole.OWNER})


class CloudronUserSpec(SpecModel):
    """The desired state of a CloudronUser."""

    model_config = ConfigDict(
        json_schema_extra=kube_schema(
            cel(
                f"!(self.username in {_RESERVED_CEL})",
                "username is reserved: " + ", ".join(RESERVED_USERNAMES) + " are the platform's",
                field_path=".username",
            ),
            cel(
                "!has(self.fallbackEmail) || self.fallbackEmail != self.email",
                "fallbackEmail must differ from email",
            ),
        )
    )

    username: DirectoryName = Field(
        json_schema_extra=kube_schema(cel("self == oldSelf", "username is immutable")),
        description=(
            "Login name, for life: lowercase letters, digits, '.' and '-', beginning and ending with a "
            "letter or digit, at most 32 characters. Apps see it as `username`, `uid` and `cn`."
        ),
    )
    email: Email = Field(description="Primary email address; users may log in with it too.")
    fallback_email: Email | None = Field(
        default=None, description="Address for password resets; apps see it as `mailAlternateAddress`."
    )
    display_name: Annotated[str, StringConstraints(max_length=256)] | None = Field(
        default=None, description="Full name as shown to others; empty: the username."
    )
    role: UserRole = Field(
        default=UserRole.USER,
        description="user, usermanager, admin or owner. Admins and owners may use every app.",
    )
    groups: tuple[DirectoryName, ...] = Field(
        default=(),
        max_length=MAX_GROUPS,
        json_schema_extra=kube_schema(list_type="set"),
        description="Groups the user is in; a group exists while a user names it.",
    )
    active: StrictBool = Field(
        default=True, description="false: the user cannot log in anywhere; the object and password are kept."
    )

    # The same rules as the CEL ones above, for a spec parsed outside the API server.
    @field_validator("username")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_USERNAMES:
            raise ValueError("username is reserved: " + ", ".join(RESERVED_USERNAMES) + " are the platform's")
        return value

    @model_validator(mode="after")
    def _two_emails(self) -> Self:
        if self.fallback_email is not None and self.fallback_email == self.email:
            raise ValueError("fallbackEmail must differ from email")
        return self


class CloudronUserStatus(StatusModel):
    """What the operator observed of a CloudronUser."""

    observed_generation: Count | None = Field(
        default=None, description="metadata.generation of the spec this status describes."
    )
    password_set: bool | None = Field(
        default=None,
        description="Whether the user has a password (its hash is in a Secret the operator owns).",
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra=CONDITION_LIST,
        description="Ready: the user is in the directory (or why not).",
    )
