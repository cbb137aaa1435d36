"""The login service's pure parts: claims by scope, the password throttle, signed cookies, invites,
and the settings that refuse an unsafe public URL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloudron_operator.directory.invites import (
    EXPIRES_KEY,
    LINK_KEY,
    TOKEN_KEY,
    invite_actions,
    invite_problem,
    invite_secret,
)
from cloudron_operator.login.claims import granted_scopes, user_claims
from cloudron_operator.login.cookies import CookieSigner, csrf_matches, new_csrf_token
from cloudron_operator.login.people import app_entry, people_of
from cloudron_operator.login.settings import load_login_settings
from cloudron_operator.login.throttle import FREE_FAILURES, MAX_DELAY_SECONDS, Throttle, delay_after
from cloudron_operator.models import CloudronUserSpec

pytestmark = pytest.mark.unit
KEY = "k" * 32


def test_claims_follow_the_granted_scopes_as_cloudrons_provider_gives_them() -> None:
    alice = CloudronUserSpec.model_validate(
        {
            "username": "alice",
            "email": "alice@example.com",
            "displayName": "Alice Liddell",
            "groups": ["b", "a"],
        }
    )
    assert granted_scopes(["openid", "profile", "admin", "email"]) == ["openid", "profile", "email"]
    assert user_claims(alice, ["openid"]) == {}
    assert user_claims(alice, ["openid", "profile", "email", "groups"]) == {
        "name": "Alice Liddell",
        "preferred_username": "alice",
        "given_name": "Alice",
        "family_name": "Liddell",
        "email": "alice@example.com",
        "email_verified": True,
        "groups": ["a", "b"],
    }
    bob = CloudronUserSpec.model_validate({"username": "bob", "email": "bob@example.com"})
    assert user_claims(bob, ["profile"])["name"] == "bob", "no display name: the username"


def test_failed_attempts_slow_down_by_username_and_by_address_until_a_success() -> None:
    now = [1000.0]
    throttle = Throttle(clock=lambda: now[0])
    for _ in range(FREE_FAILURES - 1):
        throttle.failed("user:alice", "ip:10.0.0.1")
    assert throttle.wait_seconds("user:alice", "ip:10.0.0.9") == 0, "the first few failures cost nothing"
    throttle.failed("user:alice", "ip:10.0.0.1")
    assert throttle.wait_seconds("user:alice", "ip:10.0.0.9") == 1.0
    assert throttle.wait_seconds("user:bob", "ip:10.0.0.1") == 1.0, "the address is slowed down too"
    for _ in range(20):
        throttle.failed("user:alice")
    assert throttle.wait_seconds("user:alice") == MAX_DELAY_SECONDS
    now[0] += MAX_DELAY_SECONDS
    assert throttle.wait_seconds("user:alice") == 0
    throttle.succeeded("user:alice")
    throttle.failed("user:alice")
    assert throttle.wait_seconds("user:alice") == 0, "a success starts the count again"
    assert [delay_after(n) for n in range(FREE_FAILURES, FREE_FAILURES + 4)] == [1.0, 2.0, 4.0, 8.0]


def test_a_cookie_is_signed_expires_and_cannot_be_changed() -> None:
    now = [1000.0]
    signer = CookieSigner(KEY.encode(), clock=lambda: now[0])
    cookie = signer.sign({"user": "alice"}, max_age=60)
    assert signer.verify(cookie) == {"user": "alice", "exp": 1060}
    payload, mac = cookie.split(".")
    forged = CookieSigner(b"x" * 32).sign({"user": "admin"}, 60).split(".")[0]
    assert signer.verify(f"{forged}.{mac}") is None and signer.verify(f"{payload}.{mac[:-2]}AA") is None
    assert signer.verify(None) is None and signer.verify("garbage") is None
    now[0] += 61
    assert signer.verify(cookie) is None, "expired"
    with pytest.raises(ValueError, match="32 bytes"):
        CookieSigner(b"short")
    token = new_csrf_token()
    assert csrf_matches(token, token) and not csrf_matches(token, new_csrf_token())
    assert not csrf_matches(None, None) and not csrf_matches("", "")


def test_an_invite_takes_its_own_token_once_before_it_expires() -> None:
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    user = {"metadata": {"name": "alice", "uid": "u-1"}, "spec": {"username": "alice"}}
    secret = invite_secret(user, "cloudron-users", "https://login.example.com/", now, timedelta(days=7))
    values = secret["stringData"]
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "u-1", "deleted with the user"
    assert values[LINK_KEY] == f"https://login.example.com/invite?user=alice&token={values[TOKEN_KEY]}"
    assert values[EXPIRES_KEY] == "2026-12-10T12:00:00Z"
    assert invite_problem(values, values[TOKEN_KEY], now) is None
    assert "not valid" in str(invite_problem(values, values[TOKEN_KEY][:-1] + "x", now))
    assert "not valid" in str(invite_problem({}, "", now))
    assert "expired" in str(invite_problem(values, values[TOKEN_KEY], now + timedelta(days=7)))
    again = invite_secret(user, "cloudron-users", "https://login.example.com", now)
    assert again["stringData"][TOKEN_KEY] != values[TOKEN_KEY], "a new token every time"


def test_the_operator_invites_users_without_a_password_and_drops_used_or_expired_invites() -> None:
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)

    def user(name: str, **spec: object) -> dict[str, object]:
        return {"metadata": {"name": name, "uid": f"u-{name}"}, "spec": {"username": name, **spec}}

    users = [
        (user("new"), False),
        (user("waiting"), False),
        (user("late"), False),
        (user("done"), True),
        (user("off", active=False), False),
        (user("set"), True),
    ]
    invites = {
        "waiting": ("cloudron-invite-waiting", "2026-12-05T00:00:00Z"),
        "late": ("cloudron-invite-late", "2026-12-03T11:59:59Z"),
        "done": ("cloudron-invite-done", "2026-12-05T00:00:00Z"),
    }
    actions = invite_actions(users, invites, now)
    assert [u["metadata"]["name"] for u in actions.make] == ["new", "late"]
    assert actions.drop == ["cloudron-invite-late", "cloudron-invite-done"], "expired: renewed; used: gone"
    assert invite_actions([(user("x"), False)], {"x": ("i", "garbage")}, now).drop == ["i"]


def test_the_people_who_may_sign_in_and_the_apps_they_open() -> None:
    def user(name: str, created: str, **spec: object) -> dict[str, object]:
        return {
            "metadata": {"name": name, "uid": f"uid-{name}", "creationTimestamp": created},
            "spec": {"username": name, "email": f"{name}@example.com", **spec},
        }

    people = people_of(
        [
            user("alice", "2026-12-01T00:00:00Z"),
            user("copy", "2026-12-02T00:00:00Z", username="alice"),
            user("carol", "2026-12-01T00:00:00Z", active=False),
        ]
    )
    assert list(people) == ["alice"] and people["alice"].name == "alice", "the first alice; carol is inactive"
    app = app_entry(
        {
            "metadata": {"namespace": "n", "name": "wiki", "uid": "a-1"},
            "spec": {"domain": "wiki.example.com", "access": {"groups": ["eng"]}},
            "status": {"title": "The Wiki"},
        }
    )
    assert app is not None and (app.title, app.url) == ("The Wiki", "https://wiki.example.com")
    assert app.access is not None and app.access.groups == ("eng",)


def test_settings_refuse_an_unsafe_public_url_or_a_short_key() -> None:
    base = {
        "CLOUDRON_LOGIN_HYDRA_ADMIN_URL": "http://hydra:4445",
        "CLOUDRON_LOGIN_LDAP_URL": "ldap://ldap:389",
        "CLOUDRON_LOGIN_SESSION_KEY": KEY,
    }
    secure = load_login_settings({**base, "CLOUDRON_LOGIN_PUBLIC_URL": "https://login.example.com"})
    assert secure.secure_cookies and secure.host_port[1] == 8080
    local = load_login_settings({**base, "CLOUDRON_LOGIN_PUBLIC_URL": "http://127.0.0.1:9000"})
    assert not local.secure_cookies, "http on loopback: development only"
    with pytest.raises(ValueError, match="must be https"):
        load_login_settings({**base, "CLOUDRON_LOGIN_PUBLIC_URL": "http://login.example.com"})
    with pytest.raises(ValueError, match="SESSION_KEY"):
        load_login_settings(
            {**base, "CLOUDRON_LOGIN_PUBLIC_URL": "https://l.example.com", "CLOUDRON_LOGIN_SESSION_KEY": "x"}
        )
    assert KEY not in repr(secure), "the key never shows in a repr (a log line)"
