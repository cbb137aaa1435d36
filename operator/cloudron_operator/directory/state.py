"""From what the operator's store holds to the directory's inputs: the users who may be in it (a
username or email another user had first is refused) and the apps that use one ldap Addon."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from cloudron_operator.directory.dit import DirectoryApp, DirectoryUser
from cloudron_operator.directory.passwords import bind_password_hash, is_user_password_hash
from cloudron_operator.models import API_VERSION, AccessSpec, CloudronUserSpec

BIND_PASSWORD_KEY: Final = "CLOUDRON_LDAP_BIND_PASSWORD"  # noqa: S105 - a variable's name
PASSWORD_HASH_KEY: Final = "passwordHash"  # noqa: S105 - a Secret's key
PASSWORD_LABEL: Final = "cloudron.io/user-password"  # noqa: S105 - a label: its value is the username


@dataclass(frozen=True)
class UserProblem:
    reason: str
    message: str


@dataclass(frozen=True)
class UserRecord:
    """A CloudronUser as the store keeps it."""

    name: str
    uid: str
    created: str
    spec: Mapping[str, Any]


def password_secret_name(username: str) -> str:
    return f"cloudron-user-{username}"


def password_secret(user: Mapping[str, Any], namespace: str, password_hash: str) -> dict[str, Any]:
    """The user's password Secret: deleted with the user (ownerReference), found by its label."""
    username = str(user["spec"]["username"])
    return user_secret(
        user, namespace, password_secret_name(username), PASSWORD_LABEL, {PASSWORD_HASH_KEY: password_hash}
    )


def user_secret(
    user: Mapping[str, Any], namespace: str, name: str, label: str, values: Mapping[str, str]
) -> dict[str, Any]:
    """A Secret of the CloudronUser `user`: deleted with it (ownerReference), `label` its username."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                label: str(user["spec"]["username"]),
                "app.kubernetes.io/managed-by": "cloudron-operator",
            },
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": "CloudronUser",
                    "name": user["metadata"]["name"],
                    "uid": user["metadata"]["uid"],
                }
            ],
        },
        "type": "Opaque",
        "stringData": dict(values),
    }


def directory_users(
    users: Iterable[UserRecord], hashes: Mapping[str, str]
) -> tuple[list[DirectoryUser], dict[str, UserProblem]]:
    """The users that go into the directory, and why each other one does not (by object name).

    A username or email another user had first (by creation, then name) is refused to the later one,
    which then is in no view: the first keeps it, as with hosts.
    """
    accepted: list[DirectoryUser] = []
    problems: dict[str, UserProblem] = {}
    holders: dict[str, str] = {}  # username or email (lower case) -> the object that has it
    for record in sorted(users, key=lambda u: (u.created, u.name)):
        try:
            spec = CloudronUserSpec.model_validate(record.spec)
        except ValidationError as error:
            problems[record.name] = UserProblem("InvalidSpec", str(error.errors()[0].get("msg", "invalid")))
            continue
        if not all(_mail_syntax(address) for address in (spec.email, spec.fallback_email or "x")):
            # The CRD's pattern takes any non-blank text around the @; the directory's mail
            # attributes (IA5String) take printable ASCII only, and one entry it refuses would stop
            # the whole tree from converging.
            problems[record.name] = UserProblem(
                "InvalidSpec",
                "email and fallbackEmail must be printable ASCII: the directory's mail takes no other",
            )
            continue
        claims = {"username": spec.username, "email": spec.email.lower()}
        taken = [(what, holders[value]) for what, value in claims.items() if value in holders]
        if taken:
            what, holder = taken[0]
            problems[record.name] = UserProblem(
                "Duplicate" + what.capitalize(), f"CloudronUser {holder}, made first, has this {what}"
            )
            continue
        holders.update({value: record.name for value in claims.values()})
        stored = hashes.get(spec.username)
        accepted.append(DirectoryUser(spec, stored if stored and is_user_password_hash(stored) else None))
    return accepted, problems


def _mail_syntax(address: str) -> bool:
    return address.isascii() and address.isprintable()


def directory_app(
    uid: str, spec: Mapping[str, Any], secret_data: Mapping[str, str] | None
) -> DirectoryApp | None:
    """An app of the directory, from its reduced spec and its ldap Secret's data (base64, as stored);
    None until the Secret has its bind password."""
    encoded = (secret_data or {}).get(BIND_PASSWORD_KEY)
    if not encoded:
        return None
    password = base64.b64decode(encoded).decode()
    raw_access = spec.get("access")
    access = AccessSpec.model_validate(raw_access) if isinstance(raw_access, Mapping) else None
    return DirectoryApp(uid, access, bind_password_hash(password, uid))
