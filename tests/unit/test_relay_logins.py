"""The relay's logins file: one line per app, written only when it must change."""

from __future__ import annotations

import pytest

from cloudron_operator.provisioners.relay_logins import (
    HEADER,
    AppLogin,
    LoginTaken,
    hash_password,
    password_matches,
    with_login,
    without_app,
)

pytestmark = pytest.mark.unit

ALPHA = AppLogin("alpha.app@example.com", "uid-alpha", "apps/alpha")
BETA = AppLogin("beta.app@example.com", "uid-beta", "apps/beta")


def test_a_hash_verifies_its_password_only_and_is_salted() -> None:
    hashed = hash_password("secret")
    assert hashed.startswith("{SSHA512}")
    assert password_matches("secret", hashed)
    assert not password_matches("Secret", hashed)
    assert hash_password("secret") != hashed
    assert hash_password("secret", b"0123456789abcdef") == hash_password("secret", b"0123456789abcdef")
    assert not password_matches("secret", "{SSHA512}not base64!")
    assert not password_matches("secret", "{PLAIN}secret")


def test_lines_are_dovecot_passwd_file_entries_naming_the_app() -> None:
    text = with_login("", ALPHA, "pw")
    assert text is not None
    assert text.startswith(HEADER)
    login, hashed, uid, gid, gecos, home, shell, extra = text.splitlines()[1].split(":")
    assert (login, uid, gid, gecos, home, shell, extra) == (
        "alpha.app@example.com", "", "", "app uid-alpha apps/alpha", "", "", ""
    )  # fmt: skip
    assert password_matches("pw", hashed)


def test_a_login_in_place_is_not_rewritten_and_others_keep_their_place() -> None:
    both = with_login(with_login("", ALPHA, "a") or "", BETA, "b")
    assert both is not None
    assert with_login(both, ALPHA, "a") is None  # no new salt, no write
    assert with_login(both, BETA, "b") is None
    changed = with_login(both, ALPHA, "new")
    assert changed is not None
    assert changed.count("alpha.app@example.com:") == 1
    assert changed.splitlines()[1] == both.splitlines()[2]  # beta's line, untouched


def test_a_new_address_replaces_the_apps_old_line() -> None:
    moved = AppLogin("alpha.app@example.org", "uid-alpha", "apps/alpha")
    text = with_login(with_login("", ALPHA, "a") or "", moved, "a")
    assert text is not None
    assert "alpha.app@example.com" not in text
    assert "alpha.app@example.org:" in text


def test_an_address_someone_else_has_is_refused() -> None:
    taken = with_login("", ALPHA, "a") or ""
    with pytest.raises(LoginTaken, match=r"alpha\.app@example\.com is already in use \(apps/alpha\)"):
        with_login(taken, AppLogin("ALPHA.app@example.com", "uid-other", "other/alpha"), "x")
    admins = "# mine\nalpha.app@example.com:{PLAIN}x\n"
    with pytest.raises(LoginTaken, match="not written by the operator"):
        with_login(admins, ALPHA, "a")


def test_removing_an_app_keeps_every_other_line_and_comment() -> None:
    text = "# the admin's note\nrelay:{PLAIN}x\n" + (
        with_login(with_login("", ALPHA, "a") or "", BETA, "b") or ""
    )
    without = without_app(text, "uid-alpha")
    assert without is not None
    assert "alpha.app" not in without
    assert "beta.app@example.com:" in without
    assert "# the admin's note" in without
    assert "relay:{PLAIN}x" in without
    assert without_app(without, "uid-alpha") is None


@pytest.mark.parametrize("bad", ["a:b@example.com", "a@example.com\nroot:x", " a@example.com", ""])
def test_a_value_that_would_break_the_file_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not usable in a passwd-file"):
        AppLogin(bad, "uid", "ns/name")
