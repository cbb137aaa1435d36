"""Password hashes the directory server verifies itself.

A user's password: bcrypt (cost 12), as `{CRYPT}$2b$...`, which slapd checks through the system's
crypt(3) (libxcrypt knows bcrypt): slow and salted, made once when the password is set, and copied
as it is into every app's view. An app's bind password is 32 random characters: a salted SHA-1
(`{SSHA}`) is enough for a secret of that strength, and its salt comes from the app's uid, so the
same password gives the same hash and a sync can tell an entry is current by comparing strings.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Final

import bcrypt

BCRYPT_COST: Final = 12
CRYPT_SCHEME: Final = "{CRYPT}"
MIN_PASSWORD_LENGTH: Final = 8
MAX_PASSWORD_BYTES: Final = 72  # bcrypt reads no further


class WeakPassword(ValueError):
    """A password the platform does not accept; the message says why (never the password)."""


def hash_user_password(password: str) -> str:
    """The hash kept for a user's password; WeakPassword if it is too short or too long."""
    encoded = password.encode()
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if len(encoded) > MAX_PASSWORD_BYTES:
        raise WeakPassword(f"a password has at most {MAX_PASSWORD_BYTES} bytes")
    return CRYPT_SCHEME + bcrypt.hashpw(encoded, bcrypt.gensalt(BCRYPT_COST)).decode()


def is_user_password_hash(value: str) -> bool:
    return value.startswith(CRYPT_SCHEME + "$2b$") and len(value) == len(CRYPT_SCHEME) + 60


def bind_password_hash(password: str, salt_source: str) -> str:
    """`{SSHA}` of an app's bind password, salted from `salt_source` (the app's uid)."""
    salt = hashlib.sha256(salt_source.encode()).digest()[:8]
    digest = hashlib.sha1(password.encode() + salt, usedforsecurity=False).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()
