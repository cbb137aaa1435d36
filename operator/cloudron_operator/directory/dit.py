"""The directory information tree the server must hold: a pure function of the users (with their
password hashes) and the apps that use the directory. Nothing lives only in the server.

    dc=cloudron
    ├── ou=apps                              cn=<app uid>: each app's bind account
    ├── ou=people                            cn=<username>: every active user, where the login
    │                                        service checks a password (a bind) whatever the app
    └── o=<app uid>                          each app's view, readable by its bind account only
        ├── ou=users   cn=<username>         the users allowed to the app, with their password hash
        └── ou=groups  cn=<group>            the groups of those users (memberUid: their usernames)

A user who may not use an app has no entry in its view: the app cannot find them, and they cannot
bind to it. The server's ACLs (addons/openldap/slapd.conf) give each bind account its own view and
nothing else, a person their own `ou=people` entry, and `userPassword` to no one (binds only).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from cloudron_operator.directory.access import may_use
from cloudron_operator.models import ADMIN_ROLES, AccessSpec, CloudronUserSpec

BASE_DN: Final = "dc=cloudron"
APPS_DN: Final = f"ou=apps,{BASE_DN}"
PEOPLE_DN: Final = f"ou=people,{BASE_DN}"
FIRST_GID: Final = 10000
GID_RANGE: Final = 1_000_000

Entry = Mapping[str, tuple[str, ...]]  # attribute (lower case) -> values
USER_CLASSES: Final = ("inetorgperson", "organizationalperson", "person", "top", "user")


@dataclass(frozen=True)
class DirectoryUser:
    spec: CloudronUserSpec
    password_hash: str | None  # None: no password set yet; the user cannot bind


@dataclass(frozen=True)
class DirectoryApp:
    key: str  # the app's uid: its bind account and view are named by it
    access: AccessSpec | None
    bind_password_hash: str


def bind_dn(key: str) -> str:
    return f"cn={key},{APPS_DN}"


def person_dn(username: str) -> str:
    return f"cn={username},{PEOPLE_DN}"


def view_dn(key: str) -> str:
    return f"o={key},{BASE_DN}"


def users_dn(key: str) -> str:
    return f"ou=users,{view_dn(key)}"


def groups_dn(key: str) -> str:
    return f"ou=groups,{view_dn(key)}"


def base_entries() -> dict[str, Entry]:
    return {
        BASE_DN: {
            "objectclass": ("dcobject", "organization", "top"),
            "o": ("cloudron",),
            "dc": ("cloudron",),
        },
        APPS_DN: _ou("apps"),
        PEOPLE_DN: _ou("people"),
    }


def desired_dit(users: Sequence[DirectoryUser], apps: Iterable[DirectoryApp]) -> dict[str, Entry]:
    """Every entry the operator owns, by DN."""
    entries = base_entries()
    entries.update(people_entries(users))
    for app in apps:
        entries.update(app_entries(app, users))
    return entries


def app_entries(app: DirectoryApp, users: Sequence[DirectoryUser]) -> dict[str, Entry]:
    """The app's bind account and its whole view."""
    allowed = sorted(
        (user for user in users if may_use(user.spec, app.access)), key=lambda u: u.spec.username
    )
    members: dict[str, list[str]] = {}
    for user in allowed:
        for group in user.spec.groups:
            members.setdefault(group, []).append(user.spec.username)
    entries: dict[str, Entry] = {
        bind_dn(app.key): {
            "objectclass": ("applicationprocess", "simplesecurityobject", "top"),
            "cn": (app.key,),
            "userpassword": (app.bind_password_hash,),
        },
        view_dn(app.key): {"objectclass": ("organization", "top"), "o": (app.key,)},
        users_dn(app.key): _ou("users"),
        groups_dn(app.key): _ou("groups"),
    }
    for user in allowed:
        entries[f"cn={user.spec.username},{users_dn(app.key)}"] = user_entry(user, app.key)
    for group, usernames in sorted(members.items()):
        entries[f"cn={group},{groups_dn(app.key)}"] = {
            "objectclass": ("posixgroup", "top"),
            "cn": (group,),
            "gidnumber": (str(gid_number(group)),),
            "memberuid": tuple(usernames),
        }
    return entries


def people_entries(users: Sequence[DirectoryUser]) -> dict[str, Entry]:
    """Every active user once, outside any app's view: the entry a login checks a password on."""
    return {person_dn(user.spec.username): user_entry(user, None) for user in users if user.spec.active}


def user_entry(user: DirectoryUser, key: str | None) -> Entry:
    """A user as an app sees them (CLOUDRON.md §5.1): `username`, `uid` and `cn` are the username.
    `key`: the app whose view holds the entry (its groups are in that view); None for `ou=people`."""
    spec = user.spec
    display = spec.display_name if spec.display_name and spec.display_name.strip() else spec.username
    # No empty value: the directory refuses one (a Directory String is never empty), and with it the
    # whole entry. "Ada  Lovelace" and " Ada" have a given name too.
    words = display.split()
    given, family = words[0], " ".join(words[1:])
    entry: dict[str, tuple[str, ...]] = {
        "objectclass": USER_CLASSES,
        "cn": (spec.username,),
        "uid": (spec.username,),
        "username": (spec.username,),
        "mail": (spec.email,),
        "displayname": (display,),
        "givenname": (given,),
        "sn": (family or given,),
        "objectcategory": ("person",),
        "isadmin": ("true" if spec.role in ADMIN_ROLES else "false",),
    }
    if spec.fallback_email:
        entry["mailalternateaddress"] = (spec.fallback_email,)
    if spec.groups and key is not None:
        entry["memberof"] = tuple(f"cn={group},{groups_dn(key)}" for group in sorted(spec.groups))
    if user.password_hash:
        entry["userpassword"] = (user.password_hash,)
    return entry


def gid_number(group: str) -> int:
    """A group's gidNumber: the same for the same name in every view and after every rebuild."""
    return FIRST_GID + int(hashlib.sha256(group.encode()).hexdigest()[:8], 16) % GID_RANGE


def _ou(name: str) -> Entry:
    return {"objectclass": ("organizationalunit", "top"), "ou": (name,)}
