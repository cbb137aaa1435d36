"""Invites: how a new user sets their first password. The operator makes one per user who has no
password yet — a one-time token that expires — in a Secret beside the password Secrets, with the
link to give the user; the login service takes the token once, sets the password, and deletes it."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlencode

from cloudron_operator.directory.state import user_secret

INVITE_LABEL: Final = "cloudron.io/user-invite"  # its value: the username
INVITE_LIFETIME: Final = timedelta(days=7)
TOKEN_BYTES: Final = 32
TOKEN_KEY: Final = "token"  # noqa: S105 - a Secret's key
EXPIRES_KEY: Final = "expires"
LINK_KEY: Final = "link"


def invite_secret_name(username: str) -> str:
    return f"cloudron-invite-{username}"


def invite_link(login_url: str, username: str, token: str) -> str:
    return f"{login_url.rstrip('/')}/invite?{urlencode({'user': username, 'token': token})}"


def invite_secret(
    user: Mapping[str, Any],
    namespace: str,
    login_url: str,
    now: datetime,
    lifetime: timedelta = INVITE_LIFETIME,
) -> dict[str, Any]:
    """A new invite for the CloudronUser `user`: deleted with the user (ownerReference)."""
    username = str(user["spec"]["username"])
    token = secrets.token_urlsafe(TOKEN_BYTES)
    values = {
        TOKEN_KEY: token,
        EXPIRES_KEY: (now + lifetime).strftime("%Y-%m-%dT%H:%M:%SZ"),
        LINK_KEY: invite_link(login_url, username, token),
    }
    return user_secret(user, namespace, invite_secret_name(username), INVITE_LABEL, values)


@dataclass(frozen=True)
class InviteActions:
    """What the operator does about invites after a directory sync."""

    make: list[Mapping[str, Any]] = field(default_factory=list)  # users (as objects) to invite
    drop: list[str] = field(default_factory=list)  # invite Secrets to delete: used up or expired


def invite_actions(
    users: Iterable[tuple[Mapping[str, Any], bool]], invites: Mapping[str, tuple[str, str]], now: datetime
) -> InviteActions:
    """`users`: each user in the directory (as an object with metadata and spec) and whether they have
    a password; `invites`: username -> (invite Secret's name, expires). An active user without a
    password gets an invite, a new one when theirs expired; a user with a password keeps none."""
    actions = InviteActions()
    for user, has_password in users:
        username = str(user["spec"]["username"])
        held = invites.get(username)
        if has_password:
            if held is not None:
                actions.drop.append(held[0])
            continue
        if user["spec"].get("active", True) is False:
            continue
        if held is not None and not _expired(held[1], now):
            continue
        if held is not None:
            actions.drop.append(held[0])
        actions.make.append(user)
    return actions


def _expired(expires: str, now: datetime) -> bool:
    try:
        return now >= datetime.strptime(expires, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=now.tzinfo)
    except ValueError:
        return True


def invite_problem(values: Mapping[str, str], token: str, now: datetime) -> str | None:
    """Why the invite (its Secret's decoded values) does not take `token` now; None if it does."""
    invalid = "This invite link is not valid, or was used already. Ask your administrator for a new one."
    kept = values.get(TOKEN_KEY, "")
    if not kept or not hmac.compare_digest(kept.encode(), token.encode()):
        return invalid
    try:
        expires = datetime.strptime(values.get(EXPIRES_KEY, ""), "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=now.tzinfo
        )
    except ValueError:
        return invalid
    if now >= expires:
        return "This invite link has expired. Ask your administrator for a new one."
    return None
