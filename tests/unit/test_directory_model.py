"""The directory's pure parts: who may use an app, the tree for users and apps, duplicates, hashes."""

from __future__ import annotations

from typing import Any

import bcrypt
import pytest
from kubernetes import client
from pydantic import ValidationError

from cloudron_operator.directory.access import may_use
from cloudron_operator.directory.dit import (
    DirectoryApp,
    DirectoryUser,
    bind_dn,
    desired_dit,
    gid_number,
    groups_dn,
    person_dn,
    users_dn,
)
from cloudron_operator.directory.passwords import (
    WeakPassword,
    bind_password_hash,
    hash_user_password,
    is_user_password_hash,
)
from cloudron_operator.directory.state import UserRecord, directory_users
from cloudron_operator.directory.user_status import user_status_writer
from cloudron_operator.k8s import api as k8s
from cloudron_operator.models import AccessSpec, CloudronUserSpec
from cloudron_operator.store import Store

pytestmark = pytest.mark.unit


def user(username: str, **spec: Any) -> CloudronUserSpec:
    return CloudronUserSpec.model_validate({"username": username, "email": f"{username}@example.com", **spec})


def test_admins_and_owners_may_use_every_app_and_inactive_users_none() -> None:
    restricted = AccessSpec(users=("bob",), groups=("engineering",))
    assert may_use(user("bob"), restricted)
    assert may_use(user("alice", groups=["engineering"]), restricted)
    assert not may_use(user("dave", groups=["sales"]), restricted)
    assert may_use(user("carol", role="admin"), restricted) and may_use(
        user("olga", role="owner"), restricted
    )
    assert may_use(user("dave"), None), "no restriction: every active user"
    assert not may_use(user("bob", active=False), None) and not may_use(
        user("carol", role="admin", active=False), None
    )


def test_usernames_follow_cloudrons_rules() -> None:
    for bad in ("Alice", "-alice", "alice-", "al ice", "a" * 33, "al_ice", ""):
        with pytest.raises(ValidationError):
            user(bad)
    for good in ("a", "alice.liddell", "bob-2", "x" * 32):
        assert user(good).username == good


def test_each_app_has_an_account_and_a_view_of_exactly_its_users() -> None:
    users = [
        DirectoryUser(
            user(
                "alice", groups=["engineering"], displayName="Alice Liddell", fallbackEmail="a@home.example"
            ),
            "{CRYPT}x",
        ),
        DirectoryUser(user("bob", groups=["sales"]), None),
    ]
    apps = [
        DirectoryApp("k1", AccessSpec(groups=("engineering",)), "{SSHA}k1"),
        DirectoryApp("k2", None, "{SSHA}k2"),
    ]
    tree = desired_dit(users, apps)
    alice = tree[f"cn=alice,{users_dn('k1')}"]
    assert alice["username"] == ("alice",) and alice["uid"] == ("alice",) and alice["cn"] == ("alice",)
    assert (alice["givenname"], alice["sn"], alice["displayname"]) == (
        ("Alice",),
        ("Liddell",),
        ("Alice Liddell",),
    )
    assert alice["mailalternateaddress"] == ("a@home.example",) and alice["isadmin"] == ("false",)
    assert alice["memberof"] == (f"cn=engineering,{groups_dn('k1')}",)
    assert alice["userpassword"] == ("{CRYPT}x",) and "user" in alice["objectclass"]
    assert f"cn=bob,{users_dn('k1')}" not in tree, "bob may not use k1"
    assert "userpassword" not in tree[f"cn=bob,{users_dn('k2')}"], "no password yet: he cannot bind"
    assert tree[bind_dn("k1")]["userpassword"] == ("{SSHA}k1",)
    group = tree[f"cn=sales,{groups_dn('k2')}"]
    assert group["memberuid"] == ("bob",) and group["gidnumber"] == (str(gid_number("sales")),)
    assert f"cn=sales,{groups_dn('k1')}" not in tree, (
        "a group appears in a view with its visible members only"
    )


def test_every_active_user_has_one_people_entry_to_log_in_with_whatever_the_apps() -> None:
    users = [
        DirectoryUser(user("alice", groups=["engineering"]), "{CRYPT}a"),
        DirectoryUser(user("bob"), None),
        DirectoryUser(user("carol", active=False), "{CRYPT}c"),
    ]
    tree = desired_dit(users, [])
    alice = tree[person_dn("alice")]
    assert alice["userpassword"] == ("{CRYPT}a",) and alice["mail"] == ("alice@example.com",)
    assert "memberof" not in alice, "groups are entries of an app's view; people is in none"
    assert "userpassword" not in tree[person_dn("bob")], "no password yet: he cannot log in"
    assert person_dn("carol") not in tree, "an inactive user cannot log in anywhere"


def test_a_username_or_email_another_user_had_first_is_refused_to_the_later_one() -> None:
    def record(name: str, created: str, **spec: Any) -> UserRecord:
        return UserRecord(
            name, f"uid-{name}", created, {"username": name, "email": f"{name}@example.com", **spec}
        )

    hashes = {"alice": hash_user_password("alice-password"), "bob": "not a hash"}
    users, problems = directory_users(
        [
            record("copy", "2026-12-02T10:00:01Z", username="alice"),
            record("alice", "2026-12-02T10:00:00Z"),
            record("bob", "2026-12-02T10:00:00Z"),
            record("mail", "2026-12-02T10:00:02Z", email="BOB@example.com"),
        ],
        hashes,
    )
    assert [u.spec.username for u in users] == ["alice", "bob"]
    assert problems["copy"].reason == "DuplicateUsername" and "alice, made first" in problems["copy"].message
    assert problems["mail"].reason == "DuplicateEmail", "emails compare case-insensitively"
    assert users[1].password_hash is None, "only a hash of our own scheme is taken"


def test_password_hashes() -> None:
    hashed = hash_user_password("correct horse")
    assert is_user_password_hash(hashed)
    assert bcrypt.checkpw(b"correct horse", hashed.removeprefix("{CRYPT}").encode())
    assert hash_user_password("correct horse") != hashed, "salted"
    with pytest.raises(WeakPassword):
        hash_user_password("short")
    with pytest.raises(WeakPassword):
        hash_user_password("x" * 73)
    assert bind_password_hash("secret", "uid-1") == bind_password_hash("secret", "uid-1")
    assert bind_password_hash("secret", "uid-1") != bind_password_hash("secret", "uid-2")


def test_a_user_whose_email_the_directory_cannot_hold_is_refused_alone() -> None:
    # Found by the fuzzing (issue #25): one such user stopped every sync of the directory.
    def record(name: str, **spec: Any) -> UserRecord:
        return UserRecord(name, f"uid-{name}", "2026-12-02T10:00:00Z", {"username": name, **spec})

    users, problems = directory_users(
        [
            record("alice", email="alice@example.com"),
            record("jose", email="josé@example.com"),
            record("tab", email="a\tb@example.com"),
            record("fallback", email="fallback@example.com", fallbackEmail="日本@example.com"),
        ],
        {},
    )
    assert [u.spec.username for u in users] == ["alice"]
    assert {name: p.reason for name, p in problems.items()} == dict.fromkeys(
        ["fallback", "jose", "tab"], "InvalidSpec"
    )
    assert "printable ASCII" in problems["jose"].message


@pytest.mark.parametrize(
    ("display_name", "given", "family"),
    [
        ("Ada Lovelace", "Ada", "Lovelace"),
        ("Ada", "Ada", "Ada"),
        (
            " Ada",
            "Ada",
            "Ada",
        ),  # found by the fuzzing: an empty givenName made the directory refuse the entry
        ("Ada  King  Lovelace", "Ada", "King Lovelace"),
        ("   ", "ada", "ada"),
        ("", "ada", "ada"),
    ],
)
def test_no_name_attribute_of_a_user_is_empty(display_name: str, given: str, family: str) -> None:
    entry = desired_dit([DirectoryUser(user("ada", displayName=display_name), None)], [])[person_dn("ada")]
    assert (entry["givenname"], entry["sn"]) == ((given,), (family,))
    assert all(all(values) for values in entry.values())


def test_a_user_deleted_while_the_directory_synced_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    # Found by the fuzzing (issue #25): the status write's 404 failed the whole sync, with a traceback.
    store = Store(client.ApiClient(), ())
    for name in ("gone", "kept"):
        meta = {"name": name, "uid": f"uid-{name}", "resourceVersion": "1", "generation": 1}
        spec = {"username": name, "email": f"{name}@example.com"}
        store.users.upsert({"kind": "CloudronUser", "metadata": meta, "spec": spec})
    written: list[str] = []

    def apply(api: Any, obj: dict[str, Any], **_: Any) -> dict[str, Any]:
        name = obj["metadata"]["name"]
        if name == "gone":
            raise k8s.ApiError(404, "NotFound", f'cloudronusers.cloudron.io "{name}" not found')
        written.append(name)
        return {**obj, "metadata": {**obj["metadata"], "uid": f"uid-{name}", "resourceVersion": "2"}}

    monkeypatch.setattr(k8s, "apply", apply)
    user_status_writer(client.ApiClient(), store)([DirectoryUser(user("kept"), None)], {})
    assert written == ["kept"]
