"""oidc: the platform's OpenID provider, which the Addon names (CLOUDRON.md §2.7, §5.2).

The provider is Ory Hydra: the Addon's connection is its admin API, `options.issuer` its public
issuer URL exactly as Hydra is configured with it. Each app gets a client of its own, whose id is the
app's uid (so a pass killed after creating it finds it, and adopts it), whose secret is made once
and kept in the app's Secret, and which every pass converges to the app's hosts and manifest
options. The login service (`login/`) decides who signs in to it.

Hydra signs every ID token with the newest key of one key set: the algorithm is the provider's, not
a client's (v2.3 has no per-client choice). `options.idTokenAlgorithm` (RS256, the default, or EdDSA)
says which the Addon's provider uses, and the check gives the key set a key of it; an app whose
manifest asks for the other is refused with the reason (another oidc Addon can serve it).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote, urlsplit

import urllib3

from cloudron_operator.addons.base import AddonCheck, AddonProblem, AddonRecord, AddonRequest
from cloudron_operator.addons.logins import AdminSecrets, basic_login
from cloudron_operator.builders.identity import AppIdentity
from cloudron_operator.builders.oidc import (
    SIGNATURE_ALGORITHMS,
    ClientProblem,
    OidcClient,
    client_id,
    desired_client,
)
from cloudron_operator.models import AddonType
from cloudron_operator.models.conditions import Reason

CLIENT_SECRET_KEY: Final = "CLOUDRON_OIDC_CLIENT_SECRET"  # noqa: S105 - a variable's name
ID_TOKEN_KEY_SET: Final = "hydra.openid.id-token"  # noqa: S105 - a key set's name
TIMEOUT: Final = urllib3.Timeout(connect=5.0, read=10.0)
# Hydra's public endpoints, under its issuer (its discovery document lists the same).
ENDPOINTS: Final = {
    "CLOUDRON_OIDC_DISCOVERY_URL": "/.well-known/openid-configuration",
    "CLOUDRON_OIDC_AUTH_ENDPOINT": "/oauth2/auth",
    "CLOUDRON_OIDC_TOKEN_ENDPOINT": "/oauth2/token",
    "CLOUDRON_OIDC_KEYS_ENDPOINT": "/.well-known/jwks.json",
    "CLOUDRON_OIDC_PROFILE_ENDPOINT": "/userinfo",
}
_http = urllib3.PoolManager(num_pools=4, maxsize=8, retries=False, timeout=TIMEOUT)


class HydraAdminApi:
    """The part of Hydra's admin API an Addon uses: health, version, the ID token keys, clients."""

    def __init__(self, addon: AddonRecord, logins: AdminSecrets) -> None:
        connection = addon.connection
        self.where = f"{connection.get('host')}:{connection.get('port')}"
        scheme = "https" if addon.options.get("adminTls") is True else "http"
        self.base = f"{scheme}://{self.where}"
        self.headers = {"Accept": "application/json"}
        if connection.get("adminSecretRef"):
            user, password = basic_login(logins, addon)
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> tuple[int, Any]:
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            answer = _http.request(method, self.base + path, body=data, headers=headers)
        except urllib3.exceptions.HTTPError as error:
            raise AddonProblem(
                Reason.ADDON_UNREACHABLE,
                f"cannot reach the provider's admin API at {self.where}: {type(error).__name__}",
            ) from None
        if answer.status >= 500:
            raise AddonProblem(
                Reason.ADDON_FAILED,
                f"the provider at {self.where} answered {answer.status} to {method} {path}",
            )
        try:
            return answer.status, json.loads(answer.data) if answer.data else None
        except ValueError:
            raise AddonProblem(
                Reason.ADDON_FAILED, f"the provider at {self.where} answered {method} {path} with no JSON"
            ) from None

    def expect(
        self, method: str, path: str, statuses: tuple[int, ...], body: Mapping[str, Any] | None = None
    ) -> tuple[int, Any]:
        status, answer = self.call(method, path, body)
        if status not in statuses:
            detail = (
                answer.get("error_description") or answer.get("error") if isinstance(answer, dict) else None
            )
            raise AddonProblem(
                Reason.ADDON_FAILED,
                f"the provider at {self.where} answered {status} to {method} {path}"
                + (f": {str(detail)[:200]}" if detail else ""),
            )
        return status, answer


class OidcAddon:
    addon_type = AddonType.OIDC
    holds_data = False  # a client is derived: the app's Secret holds its secret, the rest is its spec

    def __init__(self, logins: AdminSecrets) -> None:
        self.logins = logins

    def check(self, addon: AddonRecord) -> AddonCheck:
        issuer(addon)
        api = HydraAdminApi(addon, self.logins)
        api.expect("GET", "/health/ready", (200,))
        _, version = api.expect("GET", "/version", (200,))
        algorithm = id_token_algorithm(addon)
        _, keys = api.expect("GET", f"/admin/keys/{ID_TOKEN_KEY_SET}", (200, 404))
        held = {key.get("alg") for key in (keys or {}).get("keys", []) if isinstance(key, dict)}
        if algorithm not in held:
            # The newest key signs: this one, from now on (the older keys stay published).
            api.expect(
                "POST", f"/admin/keys/{ID_TOKEN_KEY_SET}", (200, 201), {"alg": algorithm, "use": "sig"}
            )
        server = str((version or {}).get("version") or "") or None
        return AddonCheck(
            f"the provider's admin API at {api.where} answers; it signs ID tokens with {algorithm}", server
        )

    def env(self, request: AddonRequest) -> dict[str, str]:
        base = issuer(request.addon).rstrip("/")
        return {
            "CLOUDRON_OIDC_PROVIDER_NAME": str(request.addon.options.get("providerName") or "Cloudron"),
            "CLOUDRON_OIDC_ISSUER": issuer(request.addon),
            **{name: base + path for name, path in ENDPOINTS.items()},
            "CLOUDRON_OIDC_CLIENT_ID": client_id(request.identity),
            CLIENT_SECRET_KEY: request.password(CLIENT_SECRET_KEY),
        }

    def provision(self, request: AddonRequest) -> list[dict[str, Any]]:
        secret = request.password(CLIENT_SECRET_KEY)
        wanted = app_client(request, secret)
        provider_algorithm = id_token_algorithm(request.addon)
        if wanted.signature_algorithm != provider_algorithm:
            raise AddonProblem(
                Reason.INVALID_OPTIONS,
                f"the manifest asks for {wanted.signature_algorithm} ID tokens (tokenSignatureAlgorithm); "
                f"Addon {request.addon.name}'s provider signs with {provider_algorithm}: name an oidc Addon "
                f"whose options.idTokenAlgorithm is {wanted.signature_algorithm} in spec.addons.oidc",
            )
        converge_client(HydraAdminApi(request.addon, self.logins), wanted, secret)
        return []

    def deprovision(self, identity: AppIdentity, addon: AddonRecord, options: Mapping[str, Any]) -> None:
        HydraAdminApi(addon, self.logins).expect(
            "DELETE", f"/admin/clients/{quote(client_id(identity))}", (204, 404)
        )


def app_client(request: AddonRequest, secret: str) -> OidcClient:
    spec = request.spec
    hosts = [spec.domain, *(alias for alias in spec.aliases if not alias.startswith("*."))]
    title = request.manifest.title or request.identity.name
    try:
        return desired_client(request.identity, title, hosts, request.options, secret)
    except ClientProblem as problem:
        raise AddonProblem(Reason.INVALID_MANIFEST, str(problem)) from None


def converge_client(api: HydraAdminApi, wanted: OidcClient, secret: str) -> None:
    """Create the client, or change what differs; a client as wanted costs one read."""
    path = f"/admin/clients/{quote(wanted.client_id)}"
    status, held = api.expect("GET", path, (200, 404))
    if status == 404:
        status, _ = api.expect("POST", "/admin/clients", (201, 409), wanted.body(secret))
        if status == 201:
            return
        _, held = api.expect("GET", path, (200,))  # made by a pass that was killed before it knew
    if wanted.differs_from(held or {}, secret):
        api.expect("PUT", path, (200,), wanted.body(secret))


def issuer(addon: AddonRecord) -> str:
    value = addon.options.get("issuer")
    url = urlsplit(value) if isinstance(value, str) else None
    if url is None or url.scheme not in ("http", "https") or not url.hostname:
        raise AddonProblem(
            Reason.ADDON_NOT_READY,
            f"Addon {addon.name} has no options.issuer: the provider's issuer URL, exactly as configured",
        )
    return str(value)


def id_token_algorithm(addon: AddonRecord) -> str:
    algorithm = addon.options.get("idTokenAlgorithm", "RS256")
    if algorithm not in SIGNATURE_ALGORITHMS:
        raise AddonProblem(
            Reason.ADDON_NOT_READY,
            f"Addon {addon.name}'s options.idTokenAlgorithm must be one of {', '.join(SIGNATURE_ALGORITHMS)}",
        )
    return str(algorithm)
