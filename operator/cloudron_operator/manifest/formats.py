"""The value formats of CloudronManifest.json: annotated types and the base of its models.

Each check raises a `PydanticCustomError` whose type names the rule and whose message
states it, so a validation error reads as `<field path>: <rule>`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Final, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from cloudron_operator.manifest.cron import check_schedule

T = TypeVar("T")

# node-semver's strict grammar, which Cloudron uses: an optional "v", no leading zeros.
_NUMBER = r"(?:0|[1-9]\d*)"
_PRERELEASE_ID = rf"(?:{_NUMBER}|\d*[a-zA-Z-][a-zA-Z0-9-]*)"
_SEMVER: Final = re.compile(
    rf"v?({_NUMBER})\.({_NUMBER})\.({_NUMBER})"
    rf"(?:-{_PRERELEASE_ID}(?:\.{_PRERELEASE_ID})*)?"
    r"(?:\+[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*)?"
)
_SEMVER_MAX_LENGTH: Final = 256
_MAX_SAFE_INTEGER: Final = 2**53 - 1

_BYTE_SIZE: Final = re.compile(r"([+-]?\d+(?:\.\d+)?) *(kb|mb|gb|tb)", re.IGNORECASE)
_BYTE_UNITS: Final = {"kb": 2**10, "mb": 2**20, "gb": 2**30, "tb": 2**40}

_ID_PART: Final = re.compile(r"[a-z0-9][-a-z0-9_]*")
_HOST_LABEL: Final = re.compile(r"(?!-)[a-zA-Z0-9-]{1,63}(?<!-)")
_TOP_LEVEL_DOMAIN: Final = re.compile(r"[a-zA-Z]{2,63}|xn--[a-zA-Z0-9-]{1,59}")
_IPV4: Final = re.compile(r"(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)")
_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _rule(check: Callable[[T], bool], error_type: str, message: str) -> AfterValidator:
    def validate(value: T) -> T:
        if not check(value):
            raise PydanticCustomError(error_type, message)
        return value

    return AfterValidator(validate)


def _integral_number(value: object) -> object:
    """JSON has one number type: 8000.0 is the integer 8000, as in JavaScript."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def is_semver(version: str) -> bool:
    version = version.strip()
    match = _SEMVER.fullmatch(version)
    return (
        match is not None
        and len(version) <= _SEMVER_MAX_LENGTH
        and all(int(part) <= _MAX_SAFE_INTEGER for part in match.groups())
    )


def parse_byte_size(value: object) -> int:
    """A memory size in bytes, from a positive integer or a string such as `512mb` or `1.5 GB`.

    The units are binary (1 kb = 1024 bytes): Cloudron counts memory in MiB.
    """
    value = _integral_number(value)
    if isinstance(value, str) and (match := _BYTE_SIZE.fullmatch(value)):
        number, unit = match.groups()
        value = int(Decimal(number) * _BYTE_UNITS[unit.lower()])
    elif isinstance(value, bool) or not isinstance(value, int):
        raise PydanticCustomError(
            "byte_size", "must be a number of bytes or a size such as 512mb or 1.5gb (kb, mb, gb, tb)"
        )
    if value < 1:
        raise PydanticCustomError("not_positive", "must be a positive size")
    return value


def is_reverse_domain(identifier: str) -> bool:
    parts = identifier.split(".")
    return len(parts) >= 2 and all(_ID_PART.fullmatch(part) for part in parts)


def is_web_url(url: str) -> bool:
    """An http(s) URL with a public host name, the scheme optional (as Cloudron's `uri` format)."""
    if any(char.isspace() for char in url):
        return False
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        host = parts.hostname or ""
        _ = parts.port  # raises ValueError unless the port is a number
    except ValueError:
        return False
    if parts.scheme not in ("http", "https"):
        return False
    if _IPV4.fullmatch(host):
        return True
    labels = host.split(".")
    return (
        len(labels) >= 2
        and all(_HOST_LABEL.fullmatch(label) for label in labels)
        and _TOP_LEVEL_DOMAIN.fullmatch(labels[-1]) is not None
    )


def is_email(address: str) -> bool:
    return _EMAIL.fullmatch(address) is not None


def is_absolute_directory(path: str) -> bool:
    """An absolute path without empty, `.` or `..` components (a trailing `/` is fine)."""
    components = path.rstrip("/").split("/")
    return path.startswith("/") and all(part not in ("", ".", "..") for part in components[1:])


def _unique(items: list[T]) -> list[T]:
    seen: list[T] = []
    for item in items:
        if item in seen:
            raise PydanticCustomError("unique", "must not list {item} twice", {"item": repr(item)})
        seen.append(item)
    return items


def _check_cron(schedule: str) -> str:
    try:
        check_schedule(schedule)
    except ValueError as error:
        raise PydanticCustomError("cron", "{reason}", {"reason": str(error)}) from None
    return schedule


Integer = Annotated[int, BeforeValidator(_integral_number)]  # an int, or a float with no fraction
PortNumber = Annotated[Integer, Field(ge=1, le=65535)]
NonEmptyString = Annotated[str, _rule(bool, "empty", "must not be empty")]
SemVer = Annotated[str, _rule(is_semver, "semver", "must be a semantic version such as 1.2.3")]
MemorySize = Annotated[int, BeforeValidator(parse_byte_size)]
ReverseDomain = Annotated[
    str, _rule(is_reverse_domain, "reverse_domain", "must be a reverse domain name such as io.example.app")
]
WebUrl = Annotated[str, _rule(is_web_url, "web_url", "must be an http(s) URL with a public host name")]
EmailAddress = Annotated[str, _rule(is_email, "email", "must be an email address")]
AbsoluteDirectory = Annotated[
    str, _rule(is_absolute_directory, "absolute_path", "must be an absolute path without '.' or '..' parts")
]
CronSchedule = Annotated[str, AfterValidator(_check_cron)]
NoRepeats = AfterValidator(_unique)  # for Annotated[list[...], NoRepeats]


class ManifestModel(BaseModel):
    """Base of every manifest part: JSON types are taken as they are, keys are camelCase."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, alias_generator=to_camel)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # An optional field may be left out, but null is not a value any field takes.
        if value is None:
            raise PydanticCustomError("null", "must not be null")
        return value
