"""proxyAuth: a login wall before the app (CLOUDRON.md §2.8), served by the oidc Addon's provider.

The app gets a client of its own at the provider (its uid + `-proxyauth`, so an app with both oidc
and proxyAuth has two), whose only redirect URI is the wall's callback on the app's domain, and a
Secret with what its oauth2-proxy sidecar needs (builders/proxy_auth.py): the alpha configuration
with the client's credentials, and the cookie secret. Both secrets are made once and kept. The app
itself gets no variable, as on Cloudron; who may pass is decided by the login service, as for oidc.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from cloudron_operator.addons.base import AddonCheck, AddonProblem, AddonRecord, AddonRequest
from cloudron_operator.addons.logins import AdminSecrets
from cloudron_operator.addons.oidc import HydraAdminApi, OidcAddon, converge_client, issuer
from cloudron_operator.builders.identity import AppIdentity
from cloudron_operator.builders.oidc import (
    APP_KEY,
    APP_UID_KEY,
    SECRET_FINGERPRINT_KEY,
    OidcClient,
    secret_fingerprint,
)
from cloudron_operator.builders.proxy_auth import (
    CLIENT_SECRET_KEY,
    CONFIG_KEY,
    COOKIE_SECRET_KEY,
    WHITELIST_KEY,
    ProxyAuthProblem,
    alpha_config,
    client_id,
    redirect_uris,
    skip_auth_routes,
)
from cloudron_operator.models import AddonType
from cloudron_operator.models.conditions import Reason


class ProxyAuthAddon:
    addon_type = AddonType.PROXY_AUTH
    holds_data = False

    def __init__(self, logins: AdminSecrets) -> None:
        self.logins = logins
        self.oidc = OidcAddon(logins)

    def check(self, addon: AddonRecord) -> AddonCheck:
        return self.oidc.check(addon)  # the Addon is an oidc one: its check is that type's

    def env(self, request: AddonRequest) -> dict[str, str]:
        try:
            skip_auth_routes(request.options)
        except ProxyAuthProblem as problem:
            raise AddonProblem(Reason.INVALID_MANIFEST, str(problem)) from None
        secret = request.password(CLIENT_SECRET_KEY)
        config = alpha_config(
            upstream_port=request.manifest.http_port,
            issuer=issuer(request.addon),
            client=client_id(request.identity.uid),
            secret=secret,
        )
        provider = urlsplit(issuer(request.addon))
        return {
            WHITELIST_KEY: provider.netloc,
            CLIENT_SECRET_KEY: secret,
            COOKIE_SECRET_KEY: request.password(COOKIE_SECRET_KEY),  # 32 characters: an AES-256 key
            CONFIG_KEY: config,
        }

    def provision(self, request: AddonRequest) -> list[dict[str, Any]]:
        secret = request.password(CLIENT_SECRET_KEY)
        identity, domain = request.identity, request.spec.domain
        client = OidcClient(
            client_id=client_id(identity.uid),
            client_name=f"{request.manifest.title or identity.name} (login wall)",
            redirect_uris=tuple(redirect_uris(domain)),
            post_logout_redirect_uris=(f"https://{domain}/",),
            signature_algorithm="RS256",
            metadata={
                APP_UID_KEY: identity.uid,
                APP_KEY: f"{identity.namespace}/{identity.name}",
                SECRET_FINGERPRINT_KEY: secret_fingerprint(secret),
            },
        )
        converge_client(HydraAdminApi(request.addon, self.logins), client, secret)
        return []

    def deprovision(self, identity: AppIdentity, addon: AddonRecord, options: Mapping[str, Any]) -> None:
        path = f"/admin/clients/{quote(client_id(identity.uid))}"
        HydraAdminApi(addon, self.logins).expect("DELETE", path, (204, 404))
