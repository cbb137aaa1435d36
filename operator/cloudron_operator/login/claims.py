"""The claims a user's ID token and userinfo carry, as Cloudron's provider gives them (CLOUDRON.md
§5.2): by the scopes the app asked for and was granted."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final

from cloudron_operator.models import CloudronUserSpec

# The scopes every app's client may ask for; `openid` is the protocol's own.
CLIENT_SCOPES: Final = ("openid", "profile", "email", "groups", "offline_access")


def granted_scopes(requested: Collection[str]) -> list[str]:
    """What the consent grants: the requested scopes the platform knows, in the request's order."""
    return [scope for scope in requested if scope in CLIENT_SCOPES]


def user_claims(user: CloudronUserSpec, scopes: Collection[str]) -> dict[str, Any]:
    """The claims beside `sub` (the username, which Hydra sets from the login's subject)."""
    claims: dict[str, Any] = {}
    if "profile" in scopes:
        display = user.display_name or user.username
        given, _, family = display.partition(" ")
        claims |= {
            "name": display,
            "preferred_username": user.username,
            "given_name": given,
            "family_name": family or given,
        }
    if "email" in scopes:
        claims |= {"email": user.email, "email_verified": True}
    if "groups" in scopes:
        claims["groups"] = sorted(user.groups)
    return claims
