"""The login service's pages, on aiohttp: the provider's login, consent and logout endpoints, the
account page, and the invite page. Plain HTML forms (no JavaScript), each with a CSRF token.

Everything fails closed: a provider or directory that cannot answer gives an error page, never a
sign-in; a user outside the app's access gets the refusal page, and the provider is told to refuse
the request, so no code reaches the app.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import aiohttp
import jinja2
from aiohttp import web
from kubernetes import client

from cloudron_operator.builders.secrets import secret_values
from cloudron_operator.directory.invites import invite_problem, invite_secret_name
from cloudron_operator.directory.passwords import WeakPassword, hash_user_password
from cloudron_operator.directory.state import password_secret, password_secret_name
from cloudron_operator.k8s import api as k8s
from cloudron_operator.login.claims import granted_scopes, user_claims
from cloudron_operator.login.cookies import CookieSigner, csrf_matches, new_csrf_token
from cloudron_operator.login.hydra import AuthRequest, ChallengeGone, HydraAdmin, ProviderError
from cloudron_operator.login.people import AppEntry, DirectoryDown, People, Person
from cloudron_operator.login.settings import LoginSettings
from cloudron_operator.login.throttle import FREE_FAILURES, Throttle

logger = logging.getLogger("cloudron_operator.login")

# The client metadata the operator registers an app's client with: which CloudronApp it is.
APP_UID_METADATA: Final = "cloudronAppUid"
MAX_FIELD_CHARS: Final = 8192  # a login challenge (an encrypted blob) is ~2,000
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the challenge and invite token in our URLs stay here
    "Cache-Control": "no-store",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


SETTINGS: Final = web.AppKey("settings", LoginSettings)
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


def app_of(pages: Pages, auth: AuthRequest) -> AppEntry | None:
    uid = auth.client_metadata.get(APP_UID_METADATA)
    return pages.people.app(str(uid)) if uid else None


# --- the provider's login endpoint -------------------------------------------------------------


async def login_page(request: web.Request) -> web.StreamResponse:
    pages = pages_of(request)
    challenge = request.query.get("login_challenge", "")
    if not challenge:
        if pages.signed_in(request):
            raise web.HTTPSeeOther("/account")
        return pages.render(request, "login.html", challenge="", app=None, error=None, login="")
    auth = await pages.provider.request("login", challenge)
    app = await asyncio.to_thread(app_of, pages, auth)
    if auth.skip:  # the provider remembers this user: no password, but the access check again
        person = await asyncio.to_thread(pages.people.person, auth.subject)
        return await finish_login(request, auth, app, person)
    username = pages.signed_in(request)
    if username:  # signed in here (the account page, an invite): the same, for another app
        person = await asyncio.to_thread(pages.people.person, username)
        if person is not None:
            return await finish_login(request, auth, app, person)
    return pages.render(request, "login.html", challenge=challenge, app=app, error=None, login="")


async def login_submit(request: web.Request) -> web.StreamResponse:
    pages = pages_of(request)
    form = await form_of(request)
    challenge, login, password = form.get("challenge", ""), form.get("login", ""), form.get("password", "")
    auth = await pages.provider.request("login", challenge) if challenge else None
    app = await asyncio.to_thread(app_of, pages, auth) if auth else None

    def again(error: str, status: int) -> web.Response:
        return pages.render(
            request, "login.html", status=status, challenge=challenge, app=app, error=error, login=login
        )

    keys = (f"user:{login.strip().lower()}", f"ip:{client_ip(request)}")
    wait = pages.throttle.wait_seconds(*keys)
    if wait > 0:
        return again(f"Too many failed attempts. Wait {int(wait) + 1} seconds, then try again.", 429)
    person = await asyncio.to_thread(pages.people.find, login)
    matches = person is not None and await asyncio.to_thread(pages.people.password_matches, person, password)
    if not matches or person is None:
        failures = pages.throttle.failed(*keys)
        if failures >= FREE_FAILURES:
            logger.warning(
                "failed sign-in %d in a row for %r from %s: slowed down",
                failures,
                login[:64],
                client_ip(request),
            )
        else:
            logger.info("failed sign-in for %r from %s", login[:64], client_ip(request))
        return again("Wrong username or password.", 401)
    pages.throttle.succeeded(*keys)
    logger.info("%s signed in from %s", person.spec.username, client_ip(request))
    if auth is None:
        response = web.HTTPSeeOther("/account")
        pages.sign_in(response, person.spec.username)
        raise response
    return await finish_login(request, auth, app, person)


async def finish_login(
    request: web.Request, auth: AuthRequest, app: AppEntry | None, person: Person | None
) -> web.StreamResponse:
    """Accept the provider's login request for `person`, or refuse it (and say why on a page)."""
    pages = pages_of(request)
    problem = refusal(pages, app, person)
    if problem is not None:
        await pages.provider.reject("login", auth.challenge, problem)
        logger.info("refused %s for client %s: %s", auth.subject or "a user", auth.client_id, problem)
        return pages.render(request, "refused.html", status=403, app=app, text=problem)
    assert person is not None
    redirect = await pages.provider.accept_login(
        auth.challenge, person.spec.username, pages.settings.session_seconds
    )
    response = web.HTTPSeeOther(redirect)
    pages.sign_in(response, person.spec.username)
    raise response


def refusal(pages: Pages, app: AppEntry | None, person: Person | None) -> str | None:
    if app is None:
        return "This sign-in is for an application the platform does not know (or no longer has)."
    if person is None:
        return "Your account is not active. Ask your administrator."
    if not pages.people.may_use(person, app):
        return f"Your account has no access to {app.title}. Ask your administrator if you need it."
    return None


# --- consent and logout ------------------------------------------------------------------------


async def consent(request: web.Request) -> web.StreamResponse:
    """First-party apps: no question to the user. The access is checked once more (it may have
    changed since the login), and the claims are those of the user now."""
    pages = pages_of(request)
    auth = await pages.provider.request("consent", request.query.get("consent_challenge", ""))
    app = await asyncio.to_thread(app_of, pages, auth)
    person = await asyncio.to_thread(pages.people.person, auth.subject)
    problem = refusal(pages, app, person)
    if problem is not None or person is None:
        await pages.provider.reject("consent", auth.challenge, problem or "refused")
        return pages.render(request, "refused.html", status=403, app=app, text=problem)
    scopes = granted_scopes(auth.requested_scope)
    raise web.HTTPSeeOther(
        await pages.provider.accept_consent(auth, scopes, user_claims(person.spec, scopes))
    )


async def logout(request: web.Request) -> web.StreamResponse:
    """The provider's logout (an app's sign-out ends here), or the account page's own sign-out."""
    pages = pages_of(request)
    challenge = request.query.get("logout_challenge", "")
    if request.method == "POST":
        await form_of(request)
        username = pages.signed_in(request)
        if username:
            await pages.provider.end_sessions(username)
        response: web.StreamResponse = pages.message(
            request, "Signed out", "You are signed out of every app that uses this sign-in.", 200
        )
    elif challenge:
        redirect = await pages.provider.accept_logout(challenge)
        response = web.HTTPSeeOther(redirect)
    else:
        raise web.HTTPSeeOther("/account")
    pages.sign_out(response)
    if isinstance(response, web.HTTPException):
        raise response
    return response


async def provider_error(request: web.Request) -> web.StreamResponse:
    """Where the provider sends a browser whose request it refused (a redirect URI not registered,
    an unknown client): what it said, for the person to pass on."""
    error = request.query.get("error", "error")[:100]
    description = request.query.get("error_description", "")[:500]
    text = f"The sign-in was refused: {description or error}."
    return pages_of(request).message(request, "Sign-in refused", text, 400)


# --- the account page --------------------------------------------------------------------------


async def account(request: web.Request) -> web.StreamResponse:
    pages = pages_of(request)
    person = await current_person(request)
    apps = await asyncio.to_thread(pages.people.apps_for, person)
    return pages.render(request, "account.html", person=person.spec, apps=apps, error=None, notice=None)


async def change_password(request: web.Request) -> web.StreamResponse:
    pages = pages_of(request)
    form = await form_of(request)
    person = await current_person(request)
    apps = await asyncio.to_thread(pages.people.apps_for, person)

    def page(status: int, error: str | None = None, notice: str | None = None) -> web.Response:
        return pages.render(
            request, "account.html", status=status, person=person.spec, apps=apps, error=error, notice=notice
        )

    keys = (f"user:{person.spec.username}", f"ip:{client_ip(request)}")
    if pages.throttle.wait_seconds(*keys) > 0:
        return page(429, "Too many failed attempts. Wait a minute, then try again.")
    if not await asyncio.to_thread(pages.people.password_matches, person, form.get("current", "")):
        pages.throttle.failed(*keys)
        return page(401, "Your current password is not right.")
    password_hash, problem = await new_password_hash(form.get("new", ""), form.get("again", ""))
    if password_hash is None:
        return page(400, problem)
    await store_password(pages, person, password_hash)
    return page(200, notice="Your password is changed. Apps take the new one within a few seconds.")


async def current_person(request: web.Request) -> Person:
    pages = pages_of(request)
    username = pages.signed_in(request)
    person = await asyncio.to_thread(pages.people.person, username) if username else None
    if person is None:
        response = web.HTTPSeeOther("/login")
        pages.sign_out(response)
        raise response
    return person


async def new_password_hash(new: str, again: str) -> tuple[str | None, str | None]:
    """The hash of an acceptable new password, or why it is not one."""
    if new != again:
        return None, "The two new passwords differ."
    try:
        return await asyncio.to_thread(hash_user_password, new), None
    except WeakPassword as error:
        return None, f"That password cannot be used: {error}."


async def store_password(pages: Pages, person: Person, password_hash: str) -> None:
    """Write the hash where the operator takes it into the directory."""
    user = {"spec": {"username": person.spec.username}, "metadata": {"name": person.name, "uid": person.uid}}
    await asyncio.to_thread(
        k8s.apply, pages.api, password_secret(user, pages.settings.users_namespace, password_hash)
    )
    logger.info("%s set a new password", person.spec.username)


# --- invites -----------------------------------------------------------------------------------


async def invite(request: web.Request) -> web.StreamResponse:
    pages = pages_of(request)
    form = await form_of(request) if request.method == "POST" else dict(request.query)
    username, token = form.get("user", ""), form.get("token", "")
    found = await asyncio.to_thread(open_invite, pages, username, token)
    if isinstance(found, str):
        return pages.message(request, "Invite", found, 400)
    person, secret = found
    if request.method == "GET":
        return pages.render(request, "invite.html", person=person.spec, token=token, error=None)
    password_hash, problem = await new_password_hash(form.get("new", ""), form.get("again", ""))
    if password_hash is None:
        return pages.render(
            request, "invite.html", status=400, person=person.spec, token=token, error=problem
        )
    # Used once: the invite is deleted first, and only as it was checked; a second tab loses here.
    meta = secret["metadata"]
    if not await asyncio.to_thread(claim_invite, pages.api, meta):
        return pages.message(request, "Invite", "This invite link was used already.", 400)
    await store_password(pages, person, password_hash)
    pages.people.forget()
    response = pages.message(
        request, "Password set", "Your password is set. You can now sign in to your apps with it.", 200
    )
    pages.sign_in(response, person.spec.username)
    return response


def open_invite(pages: Pages, username: str, token: str) -> tuple[Person, k8s.KubeObject] | str:
    """The user and their invite Secret, if `token` is its open token; else what to tell the visitor."""
    person = pages.people.person(username) if username else None
    secret = (
        k8s.get(pages.api, "v1", "Secret", pages.settings.users_namespace, invite_secret_name(username))
        if person
        else None
    )
    if person is None or secret is None:
        return "This invite link is not valid, or was used already. Ask your administrator for a new one."
    namespace = pages.settings.users_namespace
    if k8s.get(pages.api, "v1", "Secret", namespace, password_secret_name(person.spec.username)):
        return "You have a password already: sign in with it, or change it on your account page."
    problem = invite_problem(secret_values(secret), token, datetime.now(UTC))
    return (person, secret) if problem is None else problem


def claim_invite(api: client.ApiClient, meta: Mapping[str, Any]) -> bool:
    """Delete the invite as it was read (its uid and resourceVersion); False if it was gone or changed."""
    preconditions = {"uid": meta["uid"], "resourceVersion": meta["resourceVersion"]}
    body = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": preconditions}
    path = f"/api/v1/namespaces/{meta['namespace']}/secrets/{meta['name']}"
    try:
        k8s.request(api, "DELETE", path, body=body)
    except k8s.ApiError as error:
        if error.status in (404, 409):
            return False
        raise
    return True


# --- the application ---------------------------------------------------------------------------


@web.middleware
async def guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every answer; the provider or the directory down: a page, fail closed."""
    pages = pages_of(request)
    try:
        response = await handler(request)
    except web.HTTPException as answer:
        answer.headers.update(SECURITY_HEADERS)
        raise
    except ChallengeGone:
        response = pages.message(
            request,
            "Sign-in expired",
            "This sign-in link expired or was used already. Open the app again.",
            410,
        )
    except (ProviderError, DirectoryDown, k8s.ApiError) as error:
        logger.warning("cannot serve %s %s: %s", request.method, request.path, error)
        response = pages.message(
            request,
            "Sign-in unavailable",
            "Signing in is not possible right now. Try again in a minute.",
            503,
        )
    response.headers.update(SECURITY_HEADERS)
    return response


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def build_app(settings: LoginSettings, api: client.ApiClient, people: People) -> web.Application:
    pages = Pages(settings, api, people)
    app = web.Application(middlewares=[guarded], client_max_size=64 * 1024)
    app[SETTINGS], app[PAGES] = settings, pages

    async def provider_session(app: web.Application) -> Any:
        async with aiohttp.ClientSession() as session:
            pages.hydra = HydraAdmin(session, settings.hydra_admin_url)
            yield

    app.cleanup_ctx.append(provider_session)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/", lambda request: _see_other("/account"))
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_submit)
    app.router.add_get("/consent", consent)
    app.router.add_get("/logout", logout)
    app.router.add_post("/logout", logout)
    app.router.add_get("/error", provider_error)
    app.router.add_get("/account", account)
    app.router.add_post("/account/password", change_password)
    app.router.add_get("/invite", invite)
    app.router.add_post("/invite", invite)
    app.router.add_static("/static", str(_static_dir()))
    return app


async def _see_other(location: str) -> web.StreamResponse:
    raise web.HTTPSeeOther(location)


def _static_dir() -> Path:
    return Path(__file__).parent / "static"


def main() -> int:
    from cloudron_operator.login.settings import load_login_settings  # noqa: PLC0415

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_login_settings()
    except ValueError as error:
        print(error)
        return 2
    api = k8s.new_api_client()
    people = People(api, settings.ldap_url)
    host, port = settings.host_port
    web.run_app(build_app(settings, api, people), host=host, port=port, access_log=None, print=None)
    return 0
