"""The directory's inputs as the store keeps them: CloudronUsers, and their password hashes (one
Secret per user, in the namespace the operator keeps them in)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cloudron_operator.directory.invites import EXPIRES_KEY, INVITE_LABEL
from cloudron_operator.directory.state import PASSWORD_HASH_KEY, PASSWORD_LABEL, UserRecord


@dataclass(frozen=True)
class UserSeen:
    uid: str
    resource_version: str
    record: UserRecord
    status: Mapping[str, Any] = field(default_factory=dict)
    generation: int = 0


@dataclass(frozen=True)
class PasswordSeen:
    uid: str
    resource_version: str
    username: str
    hash: str = field(repr=False)


def user_seen(obj: Mapping[str, Any]) -> UserSeen:
    meta = obj["metadata"]
    record = UserRecord(
        name=str(meta["name"]),
        uid=str(meta.get("uid", "")),
        created=str(meta.get("creationTimestamp") or ""),
        spec=dict(obj.get("spec") or {}),
    )
    return UserSeen(
        uid=record.uid,
        resource_version=str(meta.get("resourceVersion", "")),
        record=record,
        status=dict(obj.get("status") or {}),
        generation=int(meta.get("generation") or 0),
    )


def password_seen(obj: Mapping[str, Any]) -> PasswordSeen:
    meta = obj["metadata"]
    encoded = (obj.get("data") or {}).get(PASSWORD_HASH_KEY, "")
    return PasswordSeen(
        uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        username=str((meta.get("labels") or {}).get(PASSWORD_LABEL, "")),
        hash=base64.b64decode(encoded).decode(errors="replace") if encoded else "",
    )


@dataclass(frozen=True)
class InviteSeen:
    """A user's open invite: whose, and until when (its token is not kept: the login service reads it)."""

    uid: str
    resource_version: str
    name: str
    username: str
    expires: str


def invite_seen(obj: Mapping[str, Any]) -> InviteSeen:
    meta = obj["metadata"]
    encoded = (obj.get("data") or {}).get(EXPIRES_KEY, "")
    return InviteSeen(
        uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        name=str(meta.get("name", "")),
        username=str((meta.get("labels") or {}).get(INVITE_LABEL, "")),
        expires=base64.b64decode(encoded).decode(errors="replace") if encoded else "",
    )
