"""What the login service's handlers share: its settings, the provider, the people, the throttle,
the templates, the signed cookies, and reading a posted form with its CSRF token checked."""

from __future__ import annotations

from typing import Any, Final

import jinja2
from aiohttp import web
from kubernetes import client

from cloudron_operator.login.cookies import CookieSigner, csrf_matches, new_csrf_token
from cloudron_operator.login.hydra import HydraAdmin
from cloudron_operator.login.people import People
from cloudron_operator.login.settings import LoginSettings
from cloudron_operator.login.throttle import Throttle

MAX_FIELD_CHARS: Final = 8192  # a login challenge (an encrypted blob) is ~2,000
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the challenge and invite token in our URLs stay here
    "Cache-Control": "no-store",
}


class Pages:
    """What the handlers share: the settings, the provider, the people, the throttle, the templates."""

    def __init__(self, settings: LoginSettings, api: client.ApiClient, people: People) -> None:
        self.settings, self.api, self.people = settings, api, people
        self.throttle = Throttle()
        self.signer = CookieSigner(settings.session_key.get_secret_value().encode())
        secure = settings.secure_cookies
        # __Host-: only this origin may set it, over https, for every path (RFC 6265bis).
        self.session_cookie = "__Host-cloudron-session" if secure else "cloudron-session"
        self.csrf_cookie = "__Host-cloudron-csrf" if secure else "cloudron-csrf"
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("cloudron_operator.login", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.hydra: HydraAdmin | None = None

    @property
    def provider(self) -> HydraAdmin:
        assert self.hydra is not None, "set at start-up"
        return self.hydra

    def render(self, request: web.Request, template: str, status: int = 200, **values: Any) -> web.Response:
        csrf = request.cookies.get(self.csrf_cookie) or new_csrf_token()
        html = self.templates.get_template(template).render(
            provider_name=self.settings.provider_name, csrf=csrf, **values
        )
        response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
        if request.cookies.get(self.csrf_cookie) != csrf:
            self._cookie(response, self.csrf_cookie, csrf, max_age=None, same_site="Strict")
        return response

    def message(self, request: web.Request, title: str, text: str, status: int) -> web.Response:
        return self.render(request, "message.html", status=status, title=title, text=text)

    def signed_in(self, request: web.Request) -> str | None:
        values = self.signer.verify(request.cookies.get(self.session_cookie))
        username = (values or {}).get("user")
        return username if isinstance(username, str) else None

    def sign_in(self, response: web.StreamResponse, username: str) -> None:
        value = self.signer.sign({"user": username}, self.settings.session_seconds)
        self._cookie(
            response, self.session_cookie, value, max_age=self.settings.session_seconds, same_site="Lax"
        )

    def sign_out(self, response: web.StreamResponse) -> None:
        response.del_cookie(self.session_cookie, path="/", secure=self.settings.secure_cookies)

    def _cookie(
        self, response: web.StreamResponse, name: str, value: str, *, max_age: int | None, same_site: str
    ) -> None:
        response.set_cookie(
            name, value, max_age=max_age, path="/", secure=self.settings.secure_cookies,
            httponly=True, samesite=same_site,
        )  # fmt: skip


PAGES: Final = web.AppKey("pages", Pages)


def pages_of(request: web.Request) -> Pages:
    pages: Pages = request.app[PAGES]
    return pages


async def form_of(request: web.Request) -> dict[str, str]:
    """The posted form, each field cut to a sane length; CSRF checked (web.HTTPForbidden if not)."""
    posted = await request.post()
    form = {key: str(value)[:MAX_FIELD_CHARS] for key, value in posted.items() if isinstance(value, str)}
    pages = pages_of(request)
    if not csrf_matches(request.cookies.get(pages.csrf_cookie), form.get("csrf")):
        raise web.HTTPForbidden(
            text="This form expired or did not come from this site. Go back, reload the page and try again."
        )
    return form


def client_ip(request: web.Request) -> str:
    return request.remote or "unknown"
