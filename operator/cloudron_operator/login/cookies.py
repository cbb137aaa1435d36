"""Signed, expiring cookie values (the session), and the CSRF token of each form.

A value is `base64url(JSON) "." base64url(HMAC-SHA256)`, under a key only the login service has: the
browser can read what it holds (a username, an expiry) but not change it. CSRF: a random token in
a cookie the page's form repeats in a hidden field; a cross-site form cannot read the cookie, so it
cannot repeat it (and the cookie is SameSite=Strict besides).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

MIN_KEY_BYTES: Final = 32
CSRF_BYTES: Final = 24


class CookieSigner:
    def __init__(self, key: bytes, clock: Callable[[], float] = time.time) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the session key has at least {MIN_KEY_BYTES} bytes")
        self._key, self._clock = key, clock

    def sign(self, values: Mapping[str, Any], max_age: float) -> str:
        payload = _b64(json.dumps({**values, "exp": int(self._clock() + max_age)}, sort_keys=True).encode())
        return f"{payload}.{self._mac(payload)}"

    def verify(self, cookie: str | None) -> dict[str, Any] | None:
        """The values of a cookie this signer made and that has not expired; else None."""
        if not cookie or cookie.count(".") != 1:
            return None
        payload, mac = cookie.split(".")
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            values = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except ValueError:
            return None
        if not isinstance(values, dict) or not isinstance(values.get("exp"), int):
            return None
        if values["exp"] < self._clock():
            return None
        return values

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())


def new_csrf_token() -> str:
    return secrets.token_urlsafe(CSRF_BYTES)


def csrf_matches(cookie: str | None, field: str | None) -> bool:
    return bool(cookie) and bool(field) and hmac.compare_digest(str(cookie), str(field))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
