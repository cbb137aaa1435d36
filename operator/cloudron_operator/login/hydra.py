"""The OpenID provider's admin API, as the login service uses it: read a login, consent or logout
request by its challenge, then accept or reject it (Ory Hydra v2, `/admin/oauth2/auth/requests/…`).

The challenges come from the browser: Hydra refuses one it did not issue, or one already answered,
and this client turns that into `ChallengeGone`, so that a forged or replayed challenge gets a page
saying so and never a token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import aiohttp

Flow = Literal["login", "consent", "logout"]
REQUEST_TIMEOUT: Final = aiohttp.ClientTimeout(total=10)


class ProviderError(Exception):
    """The provider could not be asked (down, or an answer this client does not understand)."""


class ChallengeGone(Exception):
    """The provider knows no such challenge any more: forged, expired, or already answered."""


@dataclass(frozen=True)
class AuthRequest:
    """A login or consent request, as the provider describes it."""

    challenge: str
    subject: str
    skip: bool  # the provider already knows the user (login) or the grant (consent)
    client_id: str
    client_metadata: Mapping[str, Any]
    requested_scope: tuple[str, ...]
    requested_audience: tuple[str, ...]

    @classmethod
    def from_answer(cls, challenge: str, answer: Mapping[str, Any]) -> AuthRequest:
        client = answer.get("client") or {}
        return cls(
            challenge=challenge,
            subject=str(answer.get("subject") or ""),
            skip=answer.get("skip") is True,
            client_id=str(client.get("client_id") or ""),
            client_metadata=client.get("metadata") or {},
            requested_scope=tuple(answer.get("requested_scope") or ()),
            requested_audience=tuple(answer.get("requested_access_token_audience") or ()),
        )


class HydraAdmin:
    def __init__(self, session: aiohttp.ClientSession, admin_url: str) -> None:
        self._session, self._base = session, admin_url.rstrip("/")

    async def request(self, flow: Literal["login", "consent"], challenge: str) -> AuthRequest:
        return AuthRequest.from_answer(challenge, await self._call("GET", flow, challenge))

    async def accept_login(self, challenge: str, subject: str, remember_for: int) -> str:
        body = {"subject": subject, "remember": remember_for > 0, "remember_for": remember_for}
        return await self._answer("login", "accept", challenge, body)

    async def accept_consent(
        self, request: AuthRequest, scopes: list[str], id_token: Mapping[str, Any]
    ) -> str:
        body = {
            "grant_scope": scopes,
            "grant_access_token_audience": list(request.requested_audience),
            "remember": False,  # each consent derives the claims again: a changed user shows at once
            "session": {"id_token": dict(id_token), "access_token": {}},
        }
        return await self._answer("consent", "accept", request.challenge, body)

    async def reject(self, flow: Literal["login", "consent"], challenge: str, description: str) -> str:
        body = {"error": "access_denied", "error_description": description, "status_code": 403}
        return await self._answer(flow, "reject", challenge, body)

    async def accept_logout(self, challenge: str) -> str:
        return await self._answer("logout", "accept", challenge, None)

    async def end_sessions(self, subject: str) -> None:
        """Forget every login session of the user at the provider: the next app asks again."""
        url = f"{self._base}/admin/oauth2/auth/sessions/login"
        try:
            async with self._session.delete(url, params={"subject": subject}, timeout=REQUEST_TIMEOUT) as r:
                if r.status not in (204, 404):
                    raise ProviderError(f"the provider answered {r.status} to ending {subject}'s sessions")
        except aiohttp.ClientError as error:
            raise ProviderError(f"the provider cannot be reached: {error}") from None

    async def _answer(self, flow: Flow, verdict: str, challenge: str, body: Mapping[str, Any] | None) -> str:
        answer = await self._call("PUT", f"{flow}/{verdict}", challenge, body)
        redirect = answer.get("redirect_to")
        if not isinstance(redirect, str) or not redirect:
            raise ProviderError(f"the provider's answer to {flow} {verdict} has no redirect_to")
        return redirect

    async def _call(
        self, method: str, path: str, challenge: str, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        flow = path.split("/", maxsplit=1)[0]
        url = f"{self._base}/admin/oauth2/auth/requests/{path}"
        try:
            async with self._session.request(
                method, url, params={f"{flow}_challenge": challenge}, json=body, timeout=REQUEST_TIMEOUT
            ) as response:
                if response.status in (400, 404, 409, 410):
                    # 410: answered already (Hydra gives where it went; no one gets it twice).
                    raise ChallengeGone(f"the provider has no open {flow} request for this link")
                if response.status != 200:
                    raise ProviderError(f"the provider answered {response.status} to {method} {path}")
                answer = await response.json()
        except aiohttp.ClientError as error:
            raise ProviderError(f"the provider cannot be reached: {error}") from None
        if not isinstance(answer, dict):
            raise ProviderError(f"the provider's answer to {method} {path} is not an object")
        return answer
