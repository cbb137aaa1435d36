"""The login service as an aiohttp application: its routes (signin.py, account.py), security headers
on every answer, and error pages that fail closed: a provider or directory that cannot answer gives
an error page, never a sign-in."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from kubernetes import client

from cloudron_operator.k8s import api as k8s
from cloudron_operator.login import account, signin
from cloudron_operator.login.hydra import ChallengeGone, HydraAdmin, ProviderError
from cloudron_operator.login.pages import PAGES, SECURITY_HEADERS, Pages, pages_of
from cloudron_operator.login.people import DirectoryDown, People
from cloudron_operator.login.settings import LoginSettings

logger = logging.getLogger("cloudron_operator.login")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
    app[PAGES] = pages

    async def provider_session(app: web.Application) -> Any:
        async with aiohttp.ClientSession() as session:
            pages.hydra = HydraAdmin(session, settings.hydra_admin_url)
            yield

    app.cleanup_ctx.append(provider_session)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/", lambda request: _see_other("/account"))
    app.router.add_get("/login", signin.login_page)
    app.router.add_post("/login", signin.login_submit)
    app.router.add_get("/consent", signin.consent)
    app.router.add_get("/logout", signin.logout)
    app.router.add_post("/logout", signin.logout)
    app.router.add_get("/error", signin.provider_error)
    app.router.add_get("/account", account.account)
    app.router.add_post("/account/password", account.change_password)
    app.router.add_get("/invite", account.invite)
    app.router.add_post("/invite", account.invite)
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
