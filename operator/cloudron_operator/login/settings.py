"""The login service's settings: env `CLOUDRON_LOGIN_<FIELD>`, loaded once at start-up."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from cloudron_operator.login.cookies import MIN_KEY_BYTES

ENV_PREFIX: Final = "CLOUDRON_LOGIN_"


class LoginSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    address: str = Field(default="0.0.0.0:8080", description="host:port the pages are served on.")
    public_url: str = Field(
        description="The service's own URL as browsers reach it (https://login.example.com): the provider's "
        "login, consent and logout URLs, and invite links, are under it. http only on a loopback address."
    )
    hydra_admin_url: str = Field(
        description="The provider's admin API (Ory Hydra), e.g. http://hydra-admin:4445."
    )
    ldap_url: str = Field(description="The directory server, whose `ou=people` entries check passwords.")
    users_namespace: str = Field(
        default="cloudron-users",
        description="Where the users' password and invite Secrets are (the operator's).",
    )
    session_key: SecretStr = Field(
        description=f"At least {MIN_KEY_BYTES} random bytes (as text) that sign the session cookies."
    )
    session_seconds: int = Field(
        default=7 * 24 * 3600, gt=0, description="How long a sign-in is remembered, here and at the provider."
    )
    provider_name: str = Field(default="Cloudron", description="The platform's name on the pages.")

    @field_validator("public_url")
    @classmethod
    def _safe_url(cls, value: str) -> str:
        url = urlsplit(value)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("must be an http(s) URL")
        if url.scheme == "http" and not _loopback(url.hostname):
            raise ValueError("must be https (http only on a loopback address, for development)")
        return value.rstrip("/")

    @field_validator("session_key")
    @classmethod
    def _long_key(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().encode()) < MIN_KEY_BYTES:
            raise ValueError(f"must have at least {MIN_KEY_BYTES} bytes")
        return value

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.address.rpartition(":")
        return host or "0.0.0.0", int(port)  # noqa: S104 - the service's own listening address


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_login_settings(environ: Mapping[str, str] | None = None) -> LoginSettings:
    env = os.environ if environ is None else environ
    fields = {
        key.removeprefix(ENV_PREFIX).lower(): value
        for key, value in env.items()
        if key.startswith(ENV_PREFIX)
    }
    try:
        return LoginSettings.model_validate(fields)
    except ValidationError as error:
        problems = "; ".join(
            f"{ENV_PREFIX}{'.'.join(map(str, e['loc'])).upper() or '*'}: {e['msg']}" for e in error.errors()
        )
        raise ValueError(f"the login service's settings are not valid: {problems}") from None
