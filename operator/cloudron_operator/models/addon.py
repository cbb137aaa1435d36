"""The Addon kind: a cluster-scoped server that apps' addons are provisioned in."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field, StrictBool, ValidationInfo, field_validator

from cloudron_operator.models.base import SpecModel, StatusModel, cel, kube_schema
from cloudron_operator.models.conditions import CONDITION_LIST, Condition
from cloudron_operator.models.types import Count, DataKey, DnsLabel, DnsSubdomain, Host, Port


class AddonType(StrEnum):
    """The manifest addons served by something outside the app; an Addon of the type says where.

    The other addons the manifest format knows need no server: `localstorage` is the app's own
    volume (spec.storage), `scheduler` becomes CronJobs running the app's image, `tls` mounts the
    app's own certificate. `docker` is left out on purpose: a Docker API proxy has no safe
    Kubernetes counterpart. `oauth` and `simpleauth` are legacy and superseded by `oidc`.
    """

    POSTGRESQL = "postgresql"
    MYSQL = "mysql"
    MONGODB = "mongodb"
    REDIS = "redis"
    SENDMAIL = "sendmail"
    RECVMAIL = "recvmail"
    EMAIL = "email"
    LDAP = "ldap"
    OIDC = "oidc"
    PROXY_AUTH = "proxyAuth"
    TURN = "turn"


# Database servers: the operator logs in as admin to create each app's database and user.
DATABASE_TYPES = (AddonType.POSTGRESQL, AddonType.MYSQL, AddonType.MONGODB)
# The types whose Addon needs connection.adminSecretRef: the databases, turn (the shared secret) and
# ldap (the directory's admin login).
SECRET_TYPES = (*DATABASE_TYPES, AddonType.TURN, AddonType.LDAP)


class SecretKeyRef(SpecModel):
    """A Secret holding the server's admin credentials."""

    name: DnsSubdomain = Field(description="Name of the Secret.")
    namespace: DnsLabel = Field(description="Namespace of the Secret (an Addon is cluster-scoped).")
    key: DataKey | None = Field(
        default=None,
        description=(
            "Key of the Secret that holds the admin password. When omitted the Secret is read as a "
            "kubernetes.io/basic-auth Secret: keys `username` and `password`."
        ),
    )


class AddonConnection(SpecModel):
    """How the operator and the apps reach the server."""

    host: Host = Field(description="DNS name or IP address of the server, as the apps' pods resolve it.")
    port: Port = Field(description="TCP port of the server.")
    admin_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Secret with the admin credentials the operator provisions apps' accounts with.",
    )


_CONNECTION_MESSAGE = "connection is required for every type but redis, which runs one server per app"
_ADMIN_REF_MESSAGE = (
    "connection.adminSecretRef is required for a database server (the operator creates each app's "
    "database with it) and for turn (the secret every app's TURN credentials derive from)"
)
_SECRET_TYPES_CEL = "[" + ", ".join(f"'{t}'" for t in SECRET_TYPES) + "]"


class AddonSpec(SpecModel):
    """The desired state of an Addon."""

    model_config = ConfigDict(
        json_schema_extra=kube_schema(
            cel(
                "self.type == 'redis' || has(self.connection)", _CONNECTION_MESSAGE, field_path=".connection"
            ),
            cel(
                f"!(self.type in {_SECRET_TYPES_CEL})"
                " || (has(self.connection) && has(self.connection.adminSecretRef))",
                _ADMIN_REF_MESSAGE,
                field_path=".connection.adminSecretRef",
            ),
        )
    )

    type: AddonType = Field(description="Which manifest addon this server provides.")
    default: StrictBool = Field(
        default=False,
        description="Whether apps that do not name an Addon for this type (spec.addons) use this one.",
    )
    connection: AddonConnection | None = Field(
        default=None,
        validate_default=True,
        description="How the operator and the apps reach the server; not used for redis.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Type-specific settings, kept as written (unknown fields are preserved).",
    )

    @field_validator("connection")
    @classmethod
    def _connection_fits_type(
        cls, connection: AddonConnection | None, info: ValidationInfo
    ) -> AddonConnection | None:
        # The CEL rules above, for specs parsed outside the API server.
        addon_type = info.data.get("type")
        if addon_type is None:  # `type` itself is invalid and reported
            return connection
        if connection is None and addon_type != AddonType.REDIS:
            raise ValueError(_CONNECTION_MESSAGE)
        if addon_type in SECRET_TYPES and (connection is None or connection.admin_secret_ref is None):
            raise ValueError(_ADMIN_REF_MESSAGE)
        return connection


class AddonStatus(StatusModel):
    """The observed state of an Addon."""

    observed_generation: Count | None = Field(
        default=None, description="metadata.generation the status was computed from."
    )
    conditions: tuple[Condition, ...] = Field(
        default=(),
        description="Ready means the operator reached the server and logged in with the admin credentials.",
        json_schema_extra=CONDITION_LIST,
    )
    server_version: str | None = Field(default=None, description="Version the server reports.")
    app_count: Count | None = Field(
        default=None, description="Number of CloudronApps whose addons are provisioned in this server."
    )
