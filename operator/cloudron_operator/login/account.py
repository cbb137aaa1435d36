"""The account page (the apps a user may open, a new password) and the invite page (a first password)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from kubernetes import client

from cloudron_operator.builders.secrets import secret_values
from cloudron_operator.directory.invites import invite_problem, invite_secret_name
from cloudron_operator.directory.passwords import WeakPassword, hash_user_password
from cloudron_operator.directory.state import password_secret, password_secret_name
from cloudron_operator.k8s import api as k8s
from cloudron_operator.login.pages import Pages, client_ip, form_of, pages_of
from cloudron_operator.login.people import Person

logger = logging.getLogger("cloudron_operator.login")


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
