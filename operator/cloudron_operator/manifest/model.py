"""CloudronManifest.json (manifestVersion 1 and 2) as a typed model.

`Manifest` holds the fields that decide how an app runs, checked by Cloudron's manifest
rules, plus the App Store metadata of `StoreMetadata`. Read one with
`validation.validate_manifest` or `parse_manifest`, which also apply the
policy of docs/manifest.md (what is rejected, what only warns).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal, NamedTuple, Self

from pydantic import AfterValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from cloudron_operator.manifest.formats import (
    AbsoluteDirectory,
    CronSchedule,
    Integer,
    ManifestModel,
    MemorySize,
    NonEmptyString,
    NoRepeats,
    PortNumber,
    SemVer,
)
from cloudron_operator.manifest.metadata import StoreMetadata

RESERVED_ENV_PREFIX: Final = "CLOUDRON_"
DEFAULT_MEMORY_LIMIT: Final = 256 * 2**20
RUNTIME_DIR_ROOTS: Final = ("/root", "/app/code", "/home/cloudron")

Capability = Literal["net_admin", "mlock", "ping", "vaapi"]
AddonOptions = dict[str, Any]  # free-form: Cloudron defines options per addon and adds new ones


def _matching(pattern: str, what: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(name: str) -> str:
        if not compiled.fullmatch(name):
            raise PydanticCustomError(
                "name_pattern", "{what} must match {pattern}", {"what": what, "pattern": pattern}
            )
        return name

    return AfterValidator(check)


def _not_reserved(env_name: str) -> str:
    if env_name.startswith(RESERVED_ENV_PREFIX):
        raise PydanticCustomError("reserved_env_prefix", "the CLOUDRON_ prefix is reserved for the platform")
    return env_name


def _under_runtime_roots(path: str) -> str:
    if not any(path.rstrip("/") == root or path.startswith(f"{root}/") for root in RUNTIME_DIR_ROOTS):
        raise PydanticCustomError(
            "runtime_dir_root", "must be /root, /app/code or /home/cloudron, or a directory under one of them"
        )
    return path


def _no_double_slash(image: str) -> str:
    if "//" in image:
        raise PydanticCustomError("docker_image", "must be an image reference, not a URL (it contains '//')")
    return image


SocketPortName = Annotated[str, _matching(r"^[A-Z0-9_]+$", "port names"), AfterValidator(_not_reserved)]
HttpPortName = Annotated[str, _matching(r"^[a-zA-Z0-9_]+$", "port names"), AfterValidator(_not_reserved)]
TaskName = Annotated[str, _matching(r"^[a-zA-Z0-9_]+$", "task names")]
RuntimeDir = Annotated[AbsoluteDirectory, AfterValidator(_under_runtime_roots)]
Title = Annotated[str, Field(min_length=2)]
Description = Annotated[str, Field(min_length=5)]


class SocketPort(ManifestModel):
    """A `tcpPorts` / `udpPorts` entry; its key is the env var that holds the external port."""

    title: Title
    description: Description
    default_value: PortNumber | None = None  # the external port suggested at install
    container_port: PortNumber | None = None  # default: the same number as the external port
    port_count: Annotated[Integer, Field(ge=1, le=1000)] | None = None
    read_only: bool = False
    enabled_by_default: bool = True


class HttpPort(ManifestModel):
    """An `httpPorts` entry: an extra HTTP service on its own domain, named by its env var."""

    title: Title
    description: Description
    container_port: PortNumber
    default_value: NonEmptyString | None = None  # the subdomain suggested at install
    aliasable_domain: bool = False


class DeclaredPort(NamedTuple):
    env_name: str
    protocol: Literal["TCP", "UDP"]
    port: SocketPort


class SqliteOptions(ManifestModel):
    model_config = ConfigDict(extra="allow")

    paths: list[str]  # database files the backup must snapshot consistently


class LocalStorageOptions(ManifestModel):
    model_config = ConfigDict(extra="allow")

    sqlite: SqliteOptions | None = None


class OidcOptions(ManifestModel):
    model_config = ConfigDict(extra="allow")

    login_redirect_uri: str


class SchedulerTask(ManifestModel):
    schedule: CronSchedule
    command: NonEmptyString


class Addons(ManifestModel):
    """The addons an app asks for, each with its options."""

    model_config = ConfigDict(extra="allow")  # to name every unknown addon in one error, below

    docker: AddonOptions | None = None
    email: AddonOptions | None = None
    ldap: AddonOptions | None = None
    localstorage: LocalStorageOptions | None = None
    mongodb: AddonOptions | None = None
    mysql: AddonOptions | None = None
    oauth: AddonOptions | None = None
    oidc: OidcOptions | None = None
    postgresql: AddonOptions | None = None
    proxy_auth: AddonOptions | None = None
    recvmail: AddonOptions | None = None
    redis: AddonOptions | None = None
    scheduler: dict[TaskName, SchedulerTask] | None = None
    sendmail: AddonOptions | None = None
    tls: AddonOptions | None = None
    turn: AddonOptions | None = None

    @model_validator(mode="after")
    def _known_addons(self) -> Self:
        if unknown := [_unknown_addon(name) for name in self.model_extra or {}]:
            retired = "".join(
                f"; {name} was {why}"
                for name, why in RETIRED_ADDONS.items()
                if name in (self.model_extra or {})
            )
            raise PydanticCustomError(
                "unknown_addon",
                "unknown addon {names}; Cloudron's addons are {known}{retired}",
                {"names": ", ".join(unknown), "known": ", ".join(ADDON_NAMES), "retired": retired},
            )
        return self

    @property
    def names(self) -> tuple[str, ...]:
        """The manifest names of the addons asked for."""
        fields = Addons.model_fields.items()
        return tuple(field.alias or name for name, field in fields if getattr(self, name) is not None)


ADDON_NAMES: Final = tuple(field.alias or name for name, field in Addons.model_fields.items())


# Addons Cloudron once had and its manifest format no longer accepts: what a package uses now.
RETIRED_ADDONS: Final = {"simpleauth": "retired by Cloudron: a current package uses ldap or oidc"}


def _unknown_addon(name: str) -> str:
    spelled = [known for known in ADDON_NAMES if known.lower() == name.lower()]
    return f"{name} (names are case-sensitive: did you mean {spelled[0]}?)" if spelled else name


class Manifest(StoreMetadata):
    """A whole CloudronManifest.json: the runtime fields below and the store metadata."""

    model_config = ConfigDict(extra="allow")  # unknown fields are kept; validation warns about them

    manifest_version: Annotated[Integer, Field(ge=1, le=2)]
    version: SemVer
    http_port: PortNumber
    health_check_path: NonEmptyString | None = None
    docker_image: Annotated[NonEmptyString, AfterValidator(_no_double_slash)] | None = None
    memory_limit: MemorySize | None = None  # bytes; the manifest may also say "512mb"
    addons: Addons = Field(default_factory=Addons)
    tcp_ports: dict[SocketPortName, SocketPort] = Field(default_factory=dict)
    udp_ports: dict[SocketPortName, SocketPort] = Field(default_factory=dict)
    http_ports: dict[HttpPortName, HttpPort] = Field(default_factory=dict)
    capabilities: Annotated[list[Capability], NoRepeats] = Field(default_factory=list)
    runtime_dirs: Annotated[list[RuntimeDir], NoRepeats] = Field(default_factory=list)
    log_paths: Annotated[list[NonEmptyString], NoRepeats] = Field(default_factory=list)
    optional_sso: bool = False
    multi_domain: bool = False
    aliasable_domain: bool = False
    # Documented by Cloudron for box 9.1; not in cloudron-manifestformat 5.27.0.
    persistent_dirs: Annotated[list[AbsoluteDirectory], NoRepeats] = Field(default_factory=list)
    backup_command: NonEmptyString | None = None
    restore_command: NonEmptyString | None = None

    @field_validator("udp_ports", "http_ports")
    @classmethod
    def _env_names_unique(cls, ports: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        # Fields validate in order, so tcpPorts (and udpPorts) are in info.data when valid.
        for earlier in ("tcp_ports", "udp_ports"):
            if earlier == info.field_name:
                break
            if taken := sorted(set(ports) & set(info.data.get(earlier, {}))):
                raise PydanticCustomError(
                    "duplicate_env_name",
                    "{names} also in {other}: env names must be unique across tcpPorts, udpPorts, httpPorts",
                    {"names": ", ".join(taken), "other": Manifest.model_fields[earlier].alias},
                )
        return ports

    @property
    def memory_limit_bytes(self) -> int:
        """Cloudron's limit (RAM + swap): the manifest's, never below the 256 MiB default."""
        return max(self.memory_limit or DEFAULT_MEMORY_LIMIT, DEFAULT_MEMORY_LIMIT)

    @property
    def allows_aliases(self) -> bool:
        """Whether the app accepts alias domains: multiDomain, or its successor aliasableDomain."""
        return self.multi_domain or self.aliasable_domain

    @property
    def env_prefix(self) -> str:
        """Prefix of the platform's env vars: manifestVersion 1 apps get them without CLOUDRON_."""
        return RESERVED_ENV_PREFIX if self.manifest_version >= 2 else ""

    @property
    def declared_ports(self) -> tuple[DeclaredPort, ...]:
        """The TCP and UDP ports the app can expose, in manifest order."""
        return tuple(DeclaredPort(name, "TCP", port) for name, port in self.tcp_ports.items()) + tuple(
            DeclaredPort(name, "UDP", port) for name, port in self.udp_ports.items()
        )
