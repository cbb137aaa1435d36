"""Database servers: one module per server type behind one small interface (`DatabaseBackend`).

`BACKENDS` maps an Addon's type to the backend that provisions apps' databases on it; `addons.sql`
fits each into the addon lifecycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from cloudron_operator.provisioners.base import (
    AppDatabase,
    DatabaseBackend,
    ProvisioningFailed,
    ServerAccess,
    ServerCheck,
    ServerUnreachable,
)
from cloudron_operator.provisioners.mysql import MysqlBackend
from cloudron_operator.provisioners.postgresql import PostgresqlBackend

BACKENDS: Final[Mapping[str, DatabaseBackend]] = MappingProxyType(
    {backend.addon_type: backend for backend in (PostgresqlBackend(), MysqlBackend())}
)

__all__ = [
    "BACKENDS",
    "AppDatabase",
    "DatabaseBackend",
    "MysqlBackend",
    "PostgresqlBackend",
    "ProvisioningFailed",
    "ServerAccess",
    "ServerCheck",
    "ServerUnreachable",
]
