"""proxyAuth (CLOUDRON.md §2.8): a login wall in front of the app. oauth2-proxy runs beside the app in
its pod, as an OpenID client of the platform's provider; the app's Service sends HTTP to it, and it
passes signed-in requests on to the app's httpPort with the user's identity in headers.

The manifest's options: `path` protects only that prefix (`!/prefix`: everything but it);
`supportsBearerAuth` lets a request with a bearer token through when the token is a JWT the provider
signed for this app (oauth2-proxy checks it; an opaque token is not let through: docs/identity.md);
`basicAuth` is not honoured (oauth2-proxy cannot check a password against the directory). `/login`
starts a sign-in, `/logout` ends the session here and at the provider.

oauth2-proxy's alpha configuration (the only one that can route /login and /logout) is written into
the addon's Secret, with the client's credentials in it: it never reaches the app's container.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

import yaml

from cloudron_operator.manifest import Manifest
from cloudron_operator.models import CloudronAppSpec

AUTH_CONTAINER: Final = "auth"
AUTH_PORT: Final = 4180
AUTH_PORT_NAME: Final = "http-auth"
CONFIG_MOUNT: Final = "/etc/cloudron-auth"
CONFIG_FILE: Final = "alpha-config.yaml"
CONFIG_VOLUME: Final = "auth-config"
PROXY_BINARY: Final = "/bin/oauth2-proxy"
# Keys of the addon's Secret. Not CLOUDRON_*: the app never sees them (and manifestVersion 1's
# renaming must leave them as they are).
CONFIG_KEY: Final = "PROXY_AUTH_CONFIG"
CLIENT_SECRET_KEY: Final = "PROXY_AUTH_CLIENT_SECRET"  # noqa: S105 - a key's name
COOKIE_SECRET_KEY: Final = "OAUTH2_PROXY_COOKIE_SECRET"  # noqa: S105 - a key's name
WHITELIST_KEY: Final = "OAUTH2_PROXY_WHITELIST_DOMAINS"  # the provider's host: /logout may go there
CALLBACK_PATH: Final = "/oauth2/callback"
COOKIE_NAME: Final = "_cloudron_auth"
RESOURCES: Final = {"requests": {"cpu": "5m", "memory": "24Mi"}, "limits": {"memory": "128Mi"}}
_PATH: Final = re.compile(
    r"^/[A-Za-z0-9._~!$&'()*+;=:@%/-]*$"
)  # a URL path, no comma (oauth2-proxy splits on it)


class ProxyAuthProblem(ValueError):
    """The manifest's proxyAuth options cannot be honoured; the message says which."""


def client_id(app_uid: str) -> str:
    return f"{app_uid}-proxyauth"


def skip_auth_routes(options: Mapping[str, Any]) -> list[str]:
    """oauth2-proxy's skip-auth routes (regular expressions on the path) for the manifest's `path`."""
    routes = ["^/login$", "^/logout$"]  # the proxy's own, routed below without a session
    path = options.get("path")
    if path is None or path in ("", "/"):
        return routes
    if not isinstance(path, str):
        raise ProxyAuthProblem("addons.proxyAuth.path must be a path, e.g. /admin or !/public")
    negated = path.startswith("!")
    prefix = path.removeprefix("!")
    if not _PATH.match(prefix):
        raise ProxyAuthProblem(f"addons.proxyAuth.path {path[:100]!r} is not a path (/admin, or !/public)")
    # As nginx's location prefix on Cloudron: a plain prefix match on the decoded path.
    pattern = "^" + re.escape(prefix)
    return [*routes, pattern if negated else f"!={pattern}"]


def alpha_config(*, upstream_port: int, issuer: str, client: str, secret: str) -> str:
    """oauth2-proxy's alpha configuration for the app (YAML; the client's secret is in it)."""
    base = issuer.rstrip("/")
    loop = f"http://127.0.0.1:{AUTH_PORT}/"  # /login and /logout go round to the proxy's own pages
    end_session = quote(f"{base}/oauth2/sessions/logout", safe="")
    config = {
        "server": {"bindAddress": f"0.0.0.0:{AUTH_PORT}"},
        "providers": [
            {
                "id": "cloudron",
                "provider": "oidc",
                "clientID": client,
                "clientSecret": secret,
                "scope": "openid email profile groups",
                "code_challenge_method": "S256",
                "oidcConfig": {
                    "issuerURL": issuer,
                    "emailClaim": "email",
                    "groupsClaim": "groups",
                    "audienceClaims": ["aud"],
                },
            }
        ],
        "upstreamConfig": {
            "upstreams": [
                {"id": "app", "path": "/", "uri": f"http://127.0.0.1:{upstream_port}/"},
                {"id": "login", "path": "^/login$", "rewriteTarget": "/oauth2/start?rd=%2F", "uri": loop},
                {
                    "id": "logout",
                    "path": "^/logout$",
                    "rewriteTarget": f"/oauth2/sign_out?rd={end_session}",
                    "uri": loop,
                },
            ]
        },
        "injectRequestHeaders": [
            _claim_header("X-Forwarded-User", "preferred_username"),
            _claim_header("X-Forwarded-Preferred-Username", "preferred_username"),
            _claim_header("X-Forwarded-Email", "email"),
            _claim_header("X-Forwarded-Groups", "groups"),
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def proxy_auth_on(spec: CloudronAppSpec, manifest: Manifest) -> bool:
    """Whether the app has the wall: the manifest asks for it and single sign-on is on."""
    return manifest.addons.proxy_auth is not None and spec.sso


def auth_container(image: str, domain: str, secret_name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The sidecar: oauth2-proxy with the alpha configuration from the addon's Secret."""
    args = [
        f"--alpha-config={CONFIG_MOUNT}/{CONFIG_FILE}",
        f"--redirect-url=https://{domain}{CALLBACK_PATH}",
        f"--cookie-name={COOKIE_NAME}",
        "--cookie-secure=true",
        "--cookie-samesite=lax",
        "--email-domain=*",
        "--skip-provider-button=true",
        "--reverse-proxy=false",  # X-Forwarded-* from a client never decide what is skipped
        "--ping-path=/oauth2/ping",
        "--ready-path=/oauth2/ready",
        "--silence-ping-logging=true",
        *(f"--skip-auth-route={route}" for route in skip_auth_routes(options)),
    ]
    if options.get("supportsBearerAuth") is True:
        args += ["--skip-jwt-bearer-tokens=true", "--bearer-token-login-fallback=false"]

    def probe() -> dict[str, Any]:
        return {"httpGet": {"path": "/oauth2/ping", "port": AUTH_PORT_NAME}, "periodSeconds": 10}

    return {
        "name": AUTH_CONTAINER,
        "image": image,
        "command": [PROXY_BINARY],
        "args": args,
        "ports": [{"name": AUTH_PORT_NAME, "containerPort": AUTH_PORT, "protocol": "TCP"}],
        "env": [
            {"name": key, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}
            for key in (COOKIE_SECRET_KEY, WHITELIST_KEY)
        ],
        "volumeMounts": [{"name": CONFIG_VOLUME, "mountPath": CONFIG_MOUNT, "readOnly": True}],
        "readinessProbe": probe(),
        "livenessProbe": {**probe(), "failureThreshold": 6},
        "resources": RESOURCES,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def auth_volume(secret_name: str) -> dict[str, Any]:
    return {
        "name": CONFIG_VOLUME,
        "secret": {"secretName": secret_name, "items": [{"key": CONFIG_KEY, "path": CONFIG_FILE}]},
    }


def redirect_uris(domain: str) -> Sequence[str]:
    return (f"https://{domain}{CALLBACK_PATH}",)


def _claim_header(name: str, claim: str) -> dict[str, Any]:
    return {"name": name, "values": [{"claimSource": {"claim": claim}}]}
