"""Converge the directory server to the desired entries: read what is there, write only the difference.

Idempotent and restart-safe: every sync reads the server first, so one killed half-way is finished
by the next; an entry that is already as desired costs no write. Parents are added before their
children and deleted after them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import ldap3
from ldap3.core import exceptions as ldap_errors

from cloudron_operator.directory.dit import BASE_DN, Entry

TIMEOUT_SECONDS: Final = 10
PAGE_SIZE: Final = 500
# What a search returns that the operator does not write.
_OPERATIONAL: Final = frozenset(
    {
        "structuralobjectclass",
        "entryuuid",
        "entrycsn",
        "creatorsname",
        "createtimestamp",
        "modifiersname",
        "modifytimestamp",
        "subschemasubentry",
        "hassubordinates",
        "entrydn",
    }
)


class DirectoryError(Exception):
    """The server cannot be used: `unreachable` tells a connection problem from a refusal."""

    def __init__(self, message: str, *, unreachable: bool) -> None:
        super().__init__(message)
        self.unreachable = unreachable


@dataclass(frozen=True)
class DirectoryLogin:
    host: str
    port: int
    admin_dn: str
    admin_password: str

    @property
    def where(self) -> str:
        return f"ldap://{self.host}:{self.port}"


@dataclass
class SyncResult:
    added: int = 0
    modified: int = 0
    deleted: int = 0

    @property
    def writes(self) -> int:
        return self.added + self.modified + self.deleted


@contextmanager
def connected(login: DirectoryLogin) -> Iterator[ldap3.Connection]:
    """A connection bound as the directory's admin; DirectoryError when that fails."""
    server = ldap3.Server(login.host, port=login.port, get_info=ldap3.NONE, connect_timeout=TIMEOUT_SECONDS)
    try:
        connection = ldap3.Connection(
            server,
            user=login.admin_dn,
            password=login.admin_password,
            auto_bind=ldap3.AUTO_BIND_NO_TLS,
            raise_exceptions=True,
            receive_timeout=TIMEOUT_SECONDS,
        )
    except ldap_errors.LDAPInvalidCredentialsResult:
        raise DirectoryError(
            f"{login.where} refused the admin login {login.admin_dn}", unreachable=False
        ) from None
    except ldap_errors.LDAPException as error:
        raise DirectoryError(
            f"cannot reach {login.where}: {type(error).__name__}", unreachable=True
        ) from None
    try:
        yield connection
    except ldap_errors.LDAPSocketOpenError as error:
        raise DirectoryError(f"lost {login.where}: {type(error).__name__}", unreachable=True) from None
    except ldap_errors.LDAPCommunicationError as error:
        raise DirectoryError(f"lost {login.where}: {type(error).__name__}", unreachable=True) from None
    finally:
        connection.unbind()


def read_subtree(connection: ldap3.Connection, base: str) -> dict[str, Entry]:
    """Every entry under `base` (itself included), by lower-case DN; empty if `base` does not exist."""
    found: dict[str, Entry] = {}
    try:
        results = connection.extend.standard.paged_search(
            base,
            "(objectClass=*)",
            ldap3.SUBTREE,
            attributes=[ldap3.ALL_ATTRIBUTES],
            paged_size=PAGE_SIZE,
            generator=True,
        )
        for result in results:
            if result.get("type") != "searchResEntry":
                continue
            found[str(result["dn"]).lower()] = _entry(result["raw_attributes"])
    except ldap_errors.LDAPNoSuchObjectResult:
        return {}
    return found


def exists(connection: ldap3.Connection, dn: str) -> bool:
    try:
        return bool(connection.search(dn, "(objectClass=*)", ldap3.BASE, attributes=[]))
    except ldap_errors.LDAPNoSuchObjectResult:
        return False


def converge(
    connection: ldap3.Connection, desired: Mapping[str, Entry], scopes: tuple[str, ...] = (BASE_DN,)
) -> SyncResult:
    """Make the entries under each of `scopes` exactly `desired` (those of `desired` in the scopes);
    entries outside the scopes are left alone."""
    result = SyncResult()
    wanted = {dn.lower(): entry for dn, entry in desired.items() if _within(dn.lower(), scopes)}
    observed: dict[str, Entry] = {}
    for scope in _outermost(scopes):
        observed.update(read_subtree(connection, scope))
    for dn in sorted(wanted, key=_depth):
        entry, current = wanted[dn], observed.get(dn)
        if current is None:
            _add(connection, dn, entry)
            result.added += 1
        elif current.get("objectclass") != entry["objectclass"]:
            _delete_subtree(connection, dn, observed)
            _add(connection, dn, entry)
            result.modified += 1
        elif changes := _changes(current, entry):
            _modify(connection, dn, changes)
            result.modified += 1
    for dn in sorted(set(observed) - set(wanted), key=_depth, reverse=True):
        try:
            _delete(connection, dn)
        except ldap_errors.LDAPNoSuchObjectResult:
            continue
        result.deleted += 1
    return result


def ensure(connection: ldap3.Connection, entries: Mapping[str, Entry]) -> int:
    """Add those of `entries` that are missing, parents first; touch nothing else. How many were added."""
    added = 0
    for dn in sorted(entries, key=_depth):
        if not exists(connection, dn):
            _add(connection, dn, entries[dn])
            added += 1
    return added


def delete_subtree(connection: ldap3.Connection, base: str) -> int:
    """Delete `base` and everything under it; how many entries went."""
    observed = read_subtree(connection, base)
    return _delete_subtree(connection, base.lower(), observed)


def _delete_subtree(connection: ldap3.Connection, base: str, observed: Mapping[str, Entry]) -> int:
    doomed = [dn for dn in observed if dn == base or dn.endswith("," + base)]
    for dn in sorted(doomed, key=_depth, reverse=True):
        try:
            _delete(connection, dn)
        except ldap_errors.LDAPNoSuchObjectResult:
            continue
    return len(doomed)


# ldap3 has no types for these three: the one place they are called.
def _add(connection: ldap3.Connection, dn: str, entry: Entry) -> None:
    attributes = {name: list(values) for name, values in entry.items()}
    connection.add(dn, attributes=attributes)  # type: ignore[no-untyped-call]


def _modify(connection: ldap3.Connection, dn: str, changes: dict[str, list[tuple[Any, list[str]]]]) -> None:
    connection.modify(dn, changes)  # type: ignore[no-untyped-call]


def _delete(connection: ldap3.Connection, dn: str) -> None:
    connection.delete(dn)  # type: ignore[no-untyped-call]


def _changes(current: Entry, entry: Entry) -> dict[str, list[tuple[Any, list[str]]]]:
    changes: dict[str, list[tuple[Any, list[str]]]] = {}
    for name, values in entry.items():
        if sorted(current.get(name, ())) != sorted(values):
            changes[name] = [(ldap3.MODIFY_REPLACE, list(values))]
    for name in set(current) - set(entry) - _OPERATIONAL:
        changes[name] = [(ldap3.MODIFY_REPLACE, [])]
    return changes


def _entry(raw: Mapping[str, list[bytes]]) -> Entry:
    entry: dict[str, tuple[str, ...]] = {}
    for name, values in raw.items():
        key = name.lower()
        if key in _OPERATIONAL:
            continue
        decoded = [value.decode() for value in values]
        entry[key] = tuple(sorted(v.lower() for v in decoded)) if key == "objectclass" else tuple(decoded)
    return entry


def _within(dn: str, scopes: tuple[str, ...]) -> bool:
    return any(dn == scope.lower() or dn.endswith("," + scope.lower()) for scope in scopes)


def _outermost(scopes: tuple[str, ...]) -> list[str]:
    lowered = [scope.lower() for scope in scopes]
    return [
        scope
        for scope in lowered
        if not any(scope != other and scope.endswith("," + other) for other in lowered)
    ]


def _depth(dn: str) -> int:
    return dn.count(",")
