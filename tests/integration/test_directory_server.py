"""The directory the operator derives, in a real slapd with the project's configuration: each app's
bind account sees exactly its users, those users (and only those) bind with their password, no one
reads a password hash, and a sync writes only what changed. No Kubernetes here: the DIT and the sync
against the server; test_directory.py takes the same through the operator."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap3
import pytest
from ldap3.core import exceptions as ldap_errors

from cloudron_operator.directory.dit import (
    DirectoryApp,
    DirectoryUser,
    bind_dn,
    desired_dit,
    person_dn,
    users_dn,
)
from cloudron_operator.directory.passwords import bind_password_hash, hash_user_password
from cloudron_operator.directory.sync import DirectoryLogin, connected, converge
from cloudron_operator.models import AccessSpec, CloudronUserSpec
from tests.harness.ldap import ADMIN_DN, LdapServer, start_ldap_server

pytestmark = pytest.mark.integration
FILTER = "(&(objectclass=user)(|(username={0})(mail={0})))"  # as packages write it, %uid filled in
PASSWORDS = {"alice": "alice-password", "bob": "bob-password", "carol": "carol-password"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LdapServer]:
    ldap = start_ldap_server(tmp_path_factory.mktemp("slapd"))
    yield ldap
    ldap.stop()


def login(server: LdapServer) -> DirectoryLogin:
    return DirectoryLogin(server.host, server.port, ADMIN_DN, server.admin_password)


def users(**changes: dict[str, Any]) -> list[DirectoryUser]:
    specs: dict[str, dict[str, Any]] = {
        "alice": {
            "username": "alice",
            "email": "alice@example.com",
            "groups": ["engineering"],
            "displayName": "Alice Liddell",
        },
        "bob": {"username": "bob", "email": "bob@example.com", "groups": ["sales"]},
        "carol": {"username": "carol", "email": "carol@example.com", "role": "admin"},
    }
    for name, change in changes.items():
        specs[name] = {**specs[name], **change}
    return [
        DirectoryUser(CloudronUserSpec.model_validate(spec), HASHES[name]) for name, spec in specs.items()
    ]


HASHES = {name: hash_user_password(password) for name, password in PASSWORDS.items()}
APPS = {
    "wiki": AccessSpec(groups=("engineering",)),
    "crm": AccessSpec(users=("bob",)),
    "chat": None,
}


def apps() -> list[DirectoryApp]:
    return [DirectoryApp(key, access, bind_password_hash(f"{key}-bind", key)) for key, access in APPS.items()]


def search_as_app(server: LdapServer, key: str, who: str, base: str | None = None) -> list[str]:
    with ldap3.Connection(
        ldap3.Server(server.host, port=server.port), bind_dn(key), f"{key}-bind", auto_bind=True
    ) as c:
        c.search(base or users_dn(key), FILTER.format(who), attributes=["username", "userPassword"])
        return [
            entry["raw_attributes"]["username"][0].decode()
            for entry in c.response or []
            if entry["type"] == "searchResEntry"
        ]


def user_binds(server: LdapServer, key: str, username: str, password: str) -> bool:
    try:
        with ldap3.Connection(
            ldap3.Server(server.host, port=server.port),
            f"cn={username},{users_dn(key)}",
            password,
            auto_bind=True,
        ):
            return True
    except ldap_errors.LDAPBindError:
        return False


def test_each_app_sees_and_admits_exactly_its_users(server: LdapServer) -> None:
    with connected(login(server)) as connection:
        first = converge(connection, desired_dit(users(), apps()))
        again = converge(connection, desired_dit(users(), apps()))
    assert first.added > 0 and again.writes == 0, "a second sync of the same state writes nothing"
    allowed = {"wiki": {"alice", "carol"}, "crm": {"bob", "carol"}, "chat": {"alice", "bob", "carol"}}
    for key, expected in allowed.items():
        for username, password in PASSWORDS.items():
            found = search_as_app(server, key, username.upper())  # case-insensitive, as on Cloudron
            assert (found == [username]) is (username in expected), (key, username, found)
            assert search_as_app(server, key, f"{username}@example.com") == found, (
                "mail works as the login too"
            )
            assert user_binds(server, key, username, password) is (username in expected)
            assert not user_binds(server, key, username, "wrong-password")
    assert search_as_app(server, "wiki", "bob", base=users_dn("crm")) == [], (
        "an app reads nothing of another's view"
    )


def test_no_one_reads_a_password_hash_and_anonymous_gets_nothing(server: LdapServer) -> None:
    with connected(login(server)) as connection:
        converge(connection, desired_dit(users(), apps()))
    with ldap3.Connection(
        ldap3.Server(server.host, port=server.port), bind_dn("wiki"), "wiki-bind", auto_bind=True
    ) as c:
        c.search(users_dn("wiki"), "(objectclass=*)", attributes=[ldap3.ALL_ATTRIBUTES])
        assert c.response and all("userPassword" not in entry["raw_attributes"] for entry in c.response)
        c.search("ou=apps,dc=cloudron", "(objectclass=*)", attributes=[ldap3.ALL_ATTRIBUTES])
        assert not c.response, "an app sees no other app's account"
    nobody = ldap3.Server(server.host, port=server.port)
    with pytest.raises(ldap_errors.LDAPException), ldap3.Connection(nobody, auto_bind=True) as anonymous:
        anonymous.search("dc=cloudron", "(objectclass=*)")


def test_a_person_logs_in_on_their_own_entry_and_reads_nothing_else(server: LdapServer) -> None:
    """`ou=people`: where the login service checks a password, whatever app the user signs in to."""
    with connected(login(server)) as connection:
        converge(connection, desired_dit(users(), apps()))
    where = ldap3.Server(server.host, port=server.port)
    for username, password in PASSWORDS.items():
        with pytest.raises(ldap_errors.LDAPBindError):
            ldap3.Connection(where, person_dn(username), "wrong-password", auto_bind=True)
        with ldap3.Connection(where, person_dn(username), password, auto_bind=True) as c:
            c.search(person_dn(username), "(objectclass=*)", ldap3.BASE, attributes=[ldap3.ALL_ATTRIBUTES])
            own = [entry["raw_attributes"] for entry in c.response or []]
            assert [attributes["mail"] for attributes in own] == [[f"{username}@example.com".encode()]]
            assert "userPassword" not in own[0], "not even one's own hash"
            for base in ("dc=cloudron", "ou=people,dc=cloudron", users_dn("chat")):
                c.search(base, "(objectclass=*)", attributes=["cn"])
                seen = {entry["dn"] for entry in c.response or [] if entry["type"] == "searchResEntry"}
                assert seen <= {person_dn(username)}, f"{username} sees only their own entry: {seen}"
    with connected(login(server)) as connection:
        converge(connection, desired_dit(users(bob={"active": False}), apps()))
    with pytest.raises(ldap_errors.LDAPBindError):
        ldap3.Connection(where, person_dn("bob"), PASSWORDS["bob"], auto_bind=True)


def test_a_change_writes_only_the_entries_it_touches(server: LdapServer) -> None:
    with connected(login(server)) as connection:
        converge(connection, desired_dit(users(), apps()))
        # bob joins engineering: he appears in wiki's view, and his groups follow him everywhere.
        changed = converge(connection, desired_dit(users(bob={"groups": ["sales", "engineering"]}), apps()))
    # Added: bob and the group sales in wiki's view, engineering in crm's. Changed: bob's memberof in
    # chat's and crm's views, engineering's members in wiki's and chat's.
    assert (changed.added, changed.modified, changed.deleted) == (3, 4, 0), changed
    assert search_as_app(server, "wiki", "bob") == ["bob"]
    assert user_binds(server, "wiki", "bob", PASSWORDS["bob"])
    with connected(login(server)) as connection:
        gone = converge(connection, desired_dit(users(bob={"active": False}), apps()))
    assert gone.deleted >= 2, "bob leaves every view he was in"
    for key in APPS:
        assert not user_binds(server, key, "bob", PASSWORDS["bob"])


def test_ldapsearch_as_a_start_script_runs_it(server: LdapServer) -> None:
    """The command line an app's start script runs, with the variables the app gets."""
    with connected(login(server)) as connection:
        converge(connection, desired_dit(users(), apps()))
    found = subprocess.run(
        ["ldapsearch", "-LLL", "-x", "-H", server.url, "-D", bind_dn("chat"), "-w", "chat-bind",
         "-b", users_dn("chat"), FILTER.format("alice"), "username", "mail", "memberof", "isadmin"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert "username: alice" in found and "mail: alice@example.com" in found
    assert "memberof: cn=engineering,ou=groups,o=chat,dc=cloudron" in found and "isadmin: false" in found
    whoami = subprocess.run(
        ["ldapwhoami", "-x", "-H", server.url, "-D", f"cn=alice,{users_dn('chat')}",
         "-w", PASSWORDS["alice"]],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert whoami.strip() == f"dn:cn=alice,{users_dn('chat')}"


def test_a_wiped_server_is_rebuilt_from_the_desired_state(server: LdapServer, tmp_path: Path) -> None:
    with connected(login(server)) as connection:
        converge(connection, desired_dit(users(), apps()))
    server.wipe()
    with connected(login(server)) as connection:
        rebuilt = converge(connection, desired_dit(users(), apps()))
    assert rebuilt.added > 0
    assert user_binds(server, "chat", "alice", PASSWORDS["alice"]), "the same password, from the kept hash"
