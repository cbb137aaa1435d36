"""The provider's login, consent and logout endpoints: who the user is (a bind to the directory),
whether they may use the app behind the client (its access), and the claims the tokens carry.

Everything fails closed: a user outside the app's access gets the refusal page, and the provider is
told to refuse the request, so no code reaches the app.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from cloudron_operator.builders.oidc import APP_UID_KEY
from cloudron_operator.login.claims import granted_scopes, user_claims
from cloudron_operator.login.hydra import AuthRequest
from cloudron_operator.login.pages import Pages, client_ip, form_of, pages_of
from cloudron_operator.login.people import AppEntry, Person
from cloudron_operator.login.throttle import FREE_FAILURES

logger = logging.getLogger("cloudron_operator.login")


def app_of(pages: Pages, auth: AuthRequest) -> AppEntry | None:
    """The app behind the request's client, by the uid the operator put in the client's metadata."""
    uid = auth.client_metadata.get(APP_UID_KEY)
    return pages.people.app(str(uid)) if uid else None


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

    person = await asyncio.to_thread(pages.people.find, login)
    # Counted by the account (her username, whether she typed it or her email) and by the address.
    account = person.spec.username if person is not None else login.strip().lower()
    keys = (f"user:{account}", f"ip:{client_ip(request)}")
    wait = pages.throttle.wait_seconds(*keys)
    if wait > 0:
        return again(f"Too many failed attempts. Wait {int(wait) + 1} seconds, then try again.", 429)
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
