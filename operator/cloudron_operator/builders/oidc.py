"""The OpenID client an app with the `oidc` addon gets at the platform's provider (CLOUDRON.md §2.7,
§5.2): pure, from the app's hosts and the manifest's options to the client the provider must hold.

`loginRedirectUri` is one path or a comma-separated list; an entry is a path on the app's origin
(`/auth/callback`) or a URI with an app's own scheme (`app.immich:/`, for a mobile app). Anything
else — a whole http(s) URL on another host, a relative path, `javascript:` — would let the
provider send a code where the app is not, and is refused.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cloudron_operator.builders.identity import AppIdentity

SIGNATURE_ALGORITHMS: Final = ("RS256", "EdDSA")
CLIENT_SCOPE: Final = "openid profile email groups offline_access"
# Schemes that are never an app's own: a browser would run or open them, not hand them to an app.
_FORBIDDEN_SCHEMES: Final = frozenset(
    {"http", "https", "javascript", "data", "file", "vbscript", "blob", "about"}
)
_SCHEME_URI: Final = re.compile(r"^([a-z][a-z0-9+.-]*):[^\s#]*$", re.IGNORECASE)
_PATH: Final = re.compile(r"^/(?!/)[^\s#\\]*$")  # not //host: a path, not a network location
MAX_REDIRECT_URIS: Final = 32

# Keys of the client's metadata: which app it belongs to (the login service checks its access by
# it), and a fingerprint of the secret the app holds (the provider keeps only a hash of its own).
APP_UID_KEY: Final = "cloudronAppUid"
APP_KEY: Final = "cloudronApp"
SECRET_FINGERPRINT_KEY: Final = "secretSha256"  # noqa: S105 - a key's name


class ClientProblem(ValueError):
    """The manifest's oidc options cannot make a client; the message says which and why."""


@dataclass(frozen=True)
class OidcClient:
    client_id: str
    client_name: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    signature_algorithm: str
    metadata: Mapping[str, str]

    def body(self, secret: str) -> dict[str, Any]:
        """The client as the provider's admin API takes it (Ory Hydra v2), with the app's secret."""
        return {
            "client_id": self.client_id,
            "client_name": self.client_name,
            "client_secret": secret,
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "scope": CLIENT_SCOPE,
            "token_endpoint_auth_method": "client_secret_basic",
            # No id_token_signed_response_alg: Hydra drops it (its provider's key set decides).
            "metadata": dict(self.metadata),
        }

    def differs_from(self, held: Mapping[str, Any], secret: str) -> list[str]:
        """The fields where the provider's client is not this one (the secret by its fingerprint)."""
        wanted = self.body(secret)
        wanted.pop("client_secret")
        return [key for key, value in wanted.items() if _normal(held.get(key)) != _normal(value)]


def secret_fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def client_id(identity: AppIdentity) -> str:
    """The app's client: its uid, so a client left by a killed pass is found and adopted, never doubled."""
    return identity.uid


def redirect_uris(hosts: Sequence[str], login_redirect_uri: str) -> tuple[str, ...]:
    """Every host's origin with each path, and each own-scheme URI once; ClientProblem for a bad entry."""
    entries = [entry.strip() for entry in login_redirect_uri.split(",")]
    if not any(entries):
        raise ClientProblem(
            "addons.oidc.loginRedirectUri is empty: name the path the provider sends users back to"
        )
    uris: list[str] = []
    for entry in entries:
        if not entry:
            continue
        if _PATH.match(entry):
            uris += [f"https://{host}{entry}" for host in hosts]
            continue
        scheme = _SCHEME_URI.match(entry)
        if scheme is None or scheme.group(1).lower() in _FORBIDDEN_SCHEMES:
            raise ClientProblem(
                f"addons.oidc.loginRedirectUri entry {entry[:100]!r} is neither a path on the app's origin "
                "(/callback) nor a URI with an app's own scheme (app.example:/callback)"
            )
        uris.append(entry)
    unique = tuple(dict.fromkeys(uris))
    if len(unique) > MAX_REDIRECT_URIS:
        raise ClientProblem(
            f"addons.oidc.loginRedirectUri gives {len(unique)} redirect URIs; at most {MAX_REDIRECT_URIS}"
        )
    return unique


def desired_client(
    identity: AppIdentity, title: str, hosts: Sequence[str], options: Mapping[str, Any], secret: str
) -> OidcClient:
    """The app's client. `hosts`: the app's domain first, then its aliases without wildcards."""
    login = options.get("loginRedirectUri")
    if not isinstance(login, str):
        raise ClientProblem("addons.oidc.loginRedirectUri is required (a path, or a comma-separated list)")
    logout = options.get("logoutRedirectUri")
    if logout is not None and (not isinstance(logout, str) or not _PATH.match(logout)):
        raise ClientProblem(
            f"addons.oidc.logoutRedirectUri must be a path on the app's origin, not {logout!r:.100}"
        )
    algorithm = options.get("tokenSignatureAlgorithm", "RS256")
    if algorithm not in SIGNATURE_ALGORITHMS:
        raise ClientProblem(
            f"addons.oidc.tokenSignatureAlgorithm {algorithm!r:.40} is not one of "
            + ", ".join(SIGNATURE_ALGORITHMS)
        )
    return OidcClient(
        client_id=client_id(identity),
        client_name=title,
        redirect_uris=redirect_uris(hosts, login),
        post_logout_redirect_uris=tuple(f"https://{host}{logout}" for host in hosts) if logout else (),
        signature_algorithm=str(algorithm),
        metadata={
            APP_UID_KEY: identity.uid,
            APP_KEY: f"{identity.namespace}/{identity.name}",
            SECRET_FINGERPRINT_KEY: secret_fingerprint(secret),
        },
    )


def _normal(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return sorted(map(str, value))
    if isinstance(value, Mapping):
        return dict(value)
    return value
