"""The apps' SMTP logins as a relay reads them: one Dovecot passwd-file, one line per app.

    <login>:{SSHA512}<base64 of sha512(password + salt) + salt>:::app <uid> <namespace>/<name>:::

A relay authenticates with it (Postfix with Dovecot SASL; any server that reads passwd-files).
The fifth field (GECOS, which Dovecot ignores) names the app, so that the line of an app can be
found again after its login changed (a new domain) and removed when the app is deleted.

A salted SHA-512 is enough here: the passwords are 192-bit random strings, which no amount of
guessing finds, so a slow hash would only slow every login down. The salt is random, so writing
the same password again gives another line: a line whose hash already matches is kept as it is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

SCHEME: Final = "{SSHA512}"
SALT_BYTES: Final = 16
_DIGEST_BYTES: Final = 64
HEADER: Final = "# SMTP logins of CloudronApps, written by cloudron-operator: do not edit by hand\n"


@dataclass(frozen=True)
class AppLogin:
    """The login one app sends mail with."""

    login: str  # the app's own address, CLOUDRON_MAIL_FROM
    app_uid: str
    app: str  # "<namespace>/<name>", for a person reading the file

    def __post_init__(self) -> None:
        for value in (self.login, self.app_uid, self.app):
            if not value or any(c in value for c in ":\n\r#") or value != value.strip():
                raise ValueError(f"not usable in a passwd-file: {value!r}")


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.sha512(password.encode() + salt).digest()
    return SCHEME + base64.b64encode(digest + salt).decode()


def password_matches(password: str, hashed: str) -> bool:
    if not hashed.startswith(SCHEME):
        return False
    try:
        raw = base64.b64decode(hashed.removeprefix(SCHEME), validate=True)
    except ValueError:
        return False
    digest, salt = raw[:_DIGEST_BYTES], raw[_DIGEST_BYTES:]
    return len(digest) == _DIGEST_BYTES and hmac.compare_digest(
        digest, hashlib.sha512(password.encode() + salt).digest()
    )


def _line(login: AppLogin, hashed: str) -> str:
    return f"{login.login}:{hashed}:::app {login.app_uid} {login.app}:::"


@dataclass(frozen=True)
class _Entry:
    login: str
    hashed: str
    app_uid: str  # "" on a line this module did not write
    app: str


def _entry(line: str) -> _Entry | None:
    """A login line; None for a comment or a line that is no passwd-file entry."""
    parts = line.split(":")
    if line.lstrip().startswith("#") or len(parts) < 2:
        return None
    if len(parts) < 5:  # "user:password", as an admin may write one
        return _Entry(parts[0], parts[1], "", "")
    tag, _, rest = parts[4].partition(" ")
    uid, _, app = rest.partition(" ")
    return _Entry(parts[0], parts[1], uid, app) if tag == "app" else _Entry(parts[0], parts[1], "", "")


def with_login(text: str, login: AppLogin, password: str) -> str | None:
    """The file with the app's one line right, others untouched; None when it is already so.

    Raises LoginTaken when another line has the same login (logins compare as the relay compares
    addresses: without case).
    """
    lines: list[str] = []
    found = False
    for line in _lines(text):
        entry = _entry(line)
        if entry is None or entry.app_uid != login.app_uid:
            if entry is not None and entry.login.lower() == login.login.lower():
                raise LoginTaken(entry.login, entry.app or "not written by the operator")
            lines.append(line)
        elif not found and entry.login == login.login and password_matches(password, entry.hashed):
            lines.append(line)  # as it is: a new salt would rewrite the file on every pass
            found = True
    if not found:
        lines.append(_line(login, hash_password(password)))
    result = _assemble(lines)
    return None if result == text else result


def without_app(text: str, app_uid: str) -> str | None:
    """The file without the app's lines; None when it has none."""
    lines = _lines(text)
    kept = [line for line in lines if getattr(_entry(line), "app_uid", "") != app_uid]
    return None if len(kept) == len(lines) else _assemble(kept)


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and line != HEADER.rstrip("\n")]


def _assemble(lines: list[str]) -> str:
    return HEADER + "".join(f"{line}\n" for line in lines)


class LoginTaken(Exception):
    """Another app already sends mail with this login (the same name and mail domain)."""

    def __init__(self, login: str, holder: str) -> None:
        super().__init__(f"the SMTP login {login} is already in use ({holder})")
        self.login, self.holder = login, holder
