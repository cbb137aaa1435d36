"""The one small interface every database backend implements, and the two errors it may raise.

The shared addon flow (finalizer, finding the Addon, reading or generating the password,
writing the Secret) lives in the handlers; a backend only talks to its server. Two error
classes are enough for the handler to decide: retry soon (`ServerUnreachable`) or report a
problem someone must fix (`ProvisioningFailed`). Neither ever carries a secret: driver
messages can echo the statement that failed, so backends keep only the SQLSTATE/errno and a
summary of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ServerAccess:
    """How the operator logs in to a shared server as its administrator (from an Addon)."""

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    # The Addon's spec.options. Unused by the backends today; kept for settings such as sslmode.
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AppDatabase:
    """One app's database addon: whose it is and the options its manifest gives the addon."""

    app_uid: str  # metadata.uid of the CloudronApp: every name on the server derives from it
    options: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"locale": "C.UTF-8"}


@dataclass(frozen=True)
class ServerCheck:
    """What the admin login found: the server's version and, for some, what it offers apps."""

    version: str  # e.g. "15.18" or "10.11.6-MariaDB"
    detail: str = ""  # a sentence for the Addon's Ready message, or nothing


class ServerUnreachable(Exception):
    """The server cannot be reached, refused the login, or timed out: worth retrying later."""


class ProvisioningFailed(Exception):
    """The server refused an operation, or the addon options are invalid: the message says which."""


class DatabaseBackend(Protocol):
    """A shared database server type (postgresql, mysql) in which each app gets its own database."""

    addon_type: str

    def check(self, server: ServerAccess) -> ServerCheck:
        """Log in as the admin; the server's version and what else an admin should know of it."""
        ...

    def env(self, server: ServerAccess, app: AppDatabase, password: str) -> dict[str, str]:
        """The app's exact CLOUDRON_* variables. Pure: no I/O."""
        ...

    def provision(self, server: ServerAccess, app: AppDatabase, password: str) -> None:
        """Create or repair the app's database and user, converging the user to `password`.

        Idempotent, and safe to rerun after an interruption at any point.
        """
        ...

    def deprovision(self, server: ServerAccess, app: AppDatabase) -> None:
        """End the app's connections, then drop its database(s) and user. Absent is fine."""
        ...

    def app_uids(self, server: ServerAccess) -> set[str]:
        """UIDs of the apps that have a database or a user on this server."""
        ...
