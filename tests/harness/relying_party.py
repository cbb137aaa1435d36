"""A relying party for the login tests: what an app with the `oidc` addon does with the variables the
operator gives it. It serves https on loopback under the app's host name (a self-signed
certificate), sends the browser to the provider with the authorization-code flow and PKCE (S256),
takes the code at its redirect URI, redeems it with the client's secret, and checks the ID token's
signature (the provider's JWKS), issuer, audience and nonce. Every callback is recorded, so a test
can prove that a refused user brought the app no code.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import ssl
import threading
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt

from tests.harness.processes import LOOPBACK, free_port
from tests.harness.traefik import self_signed

SCOPES = "openid profile email groups"


@dataclass
class RelyingParty:
    host: str  # the app's domain
    env: Mapping[str, str]  # the app's CLOUDRON_OIDC_* variables
    directory: Path
    callback_path: str = "/callback"
    port: int = field(default_factory=free_port)
    callbacks: list[dict[str, str]] = field(default_factory=list)  # every query the redirect URI got
    claims: list[dict[str, Any]] = field(default_factory=list)  # every ID token it accepted
    id_tokens: list[str] = field(default_factory=list)
    _flows: dict[str, tuple[str, str]] = field(default_factory=dict)  # state -> (nonce, verifier)
    _server: ThreadingHTTPServer | None = None

    @property
    def redirect_uri(self) -> str:
        return f"https://{self.host}{self.callback_path}"

    def start(self) -> RelyingParty:
        party = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                if url.path == "/start":
                    self._answer(302, "", {"Location": party.authorization_url()})
                elif url.path == party.callback_path:
                    query = dict(urllib.parse.parse_qsl(url.query))
                    party.callbacks.append(query)
                    status, text = party.callback(query)
                    self._answer(status, text, {})
                else:
                    self._answer(200, "<h1>the app</h1>", {})

            def _answer(self, status: int, text: str, headers: Mapping[str, str]) -> None:
                body = f"<!doctype html><title>app</title><body>{text}</body>".encode()
                self.send_response(status)
                for name, value in {**headers, "Content-Type": "text/html"}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                return

        certificate, key = self_signed([self.host])
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "tls.crt").write_bytes(certificate)
        (self.directory / "tls.key").write_bytes(key)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.directory / "tls.crt", self.directory / "tls.key")
        self._server = ThreadingHTTPServer((LOOPBACK, self.port), Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def authorization_url(self) -> str:
        state, nonce, verifier = (
            secrets.token_urlsafe(16),
            secrets.token_urlsafe(16),
            secrets.token_urlsafe(48),
        )
        self._flows[state] = (nonce, verifier)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = {
            "response_type": "code",
            "client_id": self.env["CLOUDRON_OIDC_CLIENT_ID"],
            "redirect_uri": self.redirect_uri,
            "scope": SCOPES,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{self.env['CLOUDRON_OIDC_AUTH_ENDPOINT']}?{urllib.parse.urlencode(query)}"

    def callback(self, query: Mapping[str, str]) -> tuple[int, str]:
        if "error" in query:
            return 400, f"refused: {query['error']}"
        nonce, verifier = self._flows.pop(query.get("state", ""), ("", ""))
        if not verifier:
            return 400, "unknown state"
        tokens = self.redeem(query["code"], verifier)
        claims = jwt.decode(
            tokens["id_token"],
            jwt.PyJWKClient(self.env["CLOUDRON_OIDC_KEYS_ENDPOINT"])
            .get_signing_key_from_jwt(tokens["id_token"])
            .key,
            algorithms=["RS256", "EdDSA"],
            audience=self.env["CLOUDRON_OIDC_CLIENT_ID"],
            issuer=self.env["CLOUDRON_OIDC_ISSUER"],
        )
        if claims.get("nonce") != nonce:
            return 400, "wrong nonce"
        self.claims.append(claims)
        self.id_tokens.append(tokens["id_token"])
        return 200, f"<p id='signed-in'>Signed in as {claims.get('preferred_username')}</p>"

    def redeem(self, code: str, verifier: str) -> dict[str, Any]:
        login = f"{self.env['CLOUDRON_OIDC_CLIENT_ID']}:{self.env['CLOUDRON_OIDC_CLIENT_SECRET']}"
        body = urllib.parse.urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": verifier,
            }
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - the provider's token endpoint on loopback
            self.env["CLOUDRON_OIDC_TOKEN_ENDPOINT"],
            data=body,
            headers={"Authorization": "Basic " + base64.b64encode(login.encode()).decode()},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            tokens: dict[str, Any] = json.load(answer)
            return tokens
