"""Who the login service's users are and what they may open: the CloudronUsers and CloudronApps as
the API server has them (read at most a few seconds ago), and passwords checked by the directory.

The password is checked by a bind to the user's `ou=people` entry, so the directory server stays
the one place that verifies passwords (and an inactive or duplicate user, who has no entry, cannot
log in). Who may use an app is the same rule the directory's views follow (`directory.access`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import ldap3
from kubernetes import client
from ldap3.core import exceptions as ldap_errors
from pydantic import ValidationError

from cloudron_operator.directory.access import may_use
from cloudron_operator.directory.dit import person_dn
from cloudron_operator.directory.state import UserRecord, directory_users
from cloudron_operator.k8s import api as k8s
from cloudron_operator.models import API_VERSION, AccessSpec, CloudronUserSpec

CACHE_SECONDS: Final = 5.0  # how stale a user's or an app's change may be when someone signs in
LDAP_TIMEOUT_SECONDS: Final = 10


class DirectoryDown(Exception):
    """The directory server cannot check a password now."""


@dataclass(frozen=True)
class Person:
    name: str  # the CloudronUser object
    uid: str
    spec: CloudronUserSpec


@dataclass(frozen=True)
class AppEntry:
    """An app people sign in to: where it is, and who may use it."""

    namespace: str
    name: str
    uid: str
    title: str
    url: str | None
    access: AccessSpec | None


class People:
    def __init__(
        self,
        api: client.ApiClient,
        ldap_url: str,
        *,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api, self._clock, self._cache_seconds = api, clock, cache_seconds
        self._ldap = ldap3.Server(ldap_url, get_info=ldap3.NONE, connect_timeout=LDAP_TIMEOUT_SECONDS)
        self._lock = threading.Lock()
        self._read_at = -float("inf")
        self._people: dict[str, Person] = {}  # by username
        self._apps: dict[str, AppEntry] = {}  # by uid

    def find(self, login: str) -> Person | None:
        """The active user whose username or email this is (case-insensitive); None otherwise."""
        wanted = login.strip().lower()
        self._refresh()
        for person in self._people.values():
            if wanted in (person.spec.username, person.spec.email.lower()):
                return person
        return None

    def person(self, username: str) -> Person | None:
        self._refresh()
        return self._people.get(username)

    def app(self, uid: str) -> AppEntry | None:
        self._refresh()
        return self._apps.get(uid)

    def apps_for(self, person: Person) -> list[AppEntry]:
        self._refresh()
        allowed = [app for app in self._apps.values() if app.url and may_use(person.spec, app.access)]
        return sorted(allowed, key=lambda app: (app.title.lower(), app.url or ""))

    def may_use(self, person: Person, app: AppEntry) -> bool:
        return may_use(person.spec, app.access)

    def password_matches(self, person: Person, password: str) -> bool:
        """A bind to the person's directory entry; DirectoryDown when the server cannot answer."""
        if not password:
            return False  # an empty password is an anonymous bind, which says nothing
        try:
            with ldap3.Connection(
                self._ldap,
                person_dn(person.spec.username),
                password,
                auto_bind=ldap3.AUTO_BIND_NO_TLS,
                raise_exceptions=True,
                receive_timeout=LDAP_TIMEOUT_SECONDS,
            ):
                return True
        except ldap_errors.LDAPInvalidCredentialsResult:
            return False
        except ldap_errors.LDAPException as error:
            raise DirectoryDown(f"the directory cannot check passwords now: {type(error).__name__}") from None

    def forget(self) -> None:
        """Read the users and apps again at the next question (a user changed their password, say)."""
        with self._lock:
            self._read_at = -float("inf")

    def _refresh(self) -> None:
        with self._lock:
            if self._clock() - self._read_at < self._cache_seconds:
                return
            users = k8s.list_objects(self._api, API_VERSION, "CloudronUser", None)
            apps = k8s.list_objects(self._api, API_VERSION, "CloudronApp", None)
            self._people = people_of(users)
            self._apps = {entry.uid: entry for entry in map(app_entry, apps) if entry is not None}
            self._read_at = self._clock()


def people_of(users: Sequence[Mapping[str, Any]]) -> dict[str, Person]:
    """The users who may sign in, by username: valid, not a duplicate of an earlier one, active."""
    records = [
        UserRecord(
            str(user["metadata"]["name"]),
            str(user["metadata"]["uid"]),
            str(user["metadata"].get("creationTimestamp") or ""),
            user.get("spec") or {},
        )
        for user in users
    ]
    accepted, _ = directory_users(records, {})
    # directory_users keeps a username for the record made first: the same order finds that record.
    first: dict[str, UserRecord] = {}
    for record in sorted(records, key=lambda r: (r.created, r.name)):
        first.setdefault(str(record.spec.get("username")), record)
    return {
        user.spec.username: Person(first[user.spec.username].name, first[user.spec.username].uid, user.spec)
        for user in accepted
        if user.spec.active
    }


def app_entry(app: Mapping[str, Any]) -> AppEntry | None:
    meta, spec, status = app["metadata"], app.get("spec") or {}, app.get("status") or {}
    raw_access = spec.get("access")
    try:
        access = AccessSpec.model_validate(raw_access) if isinstance(raw_access, Mapping) else None
    except ValidationError:
        return None  # the API server's schema refuses such a spec; nothing to sign in to
    return AppEntry(
        namespace=str(meta["namespace"]),
        name=str(meta["name"]),
        uid=str(meta["uid"]),
        title=str(status.get("title") or meta["name"]),
        url=status.get("url") or (f"https://{spec['domain']}" if spec.get("domain") else None),
        access=access,
    )
