"""Server-side names of an app's database and user, derived from the CloudronApp's UID. Pure.

Names come from the UID (never from the app's name or namespace), so no namespace can claim
another app's database, and each name maps back to exactly one UID: `app_uids` reads the
server's catalogs and recovers which apps it holds, with no state kept anywhere else.

PostgreSQL follows Cloudron: database `db<uid hex>`, role `user<uid hex>` (34 and 36 chars,
below the 63-byte identifier limit).

MySQL: user **and** database are the 32 hex digits of the UID, e.g. `0b8f...`. Cloudron uses
the first 16 hex digits of md5(appId) because of MySQL's user-name limit, but a hash cannot
be reversed, and `app_uids` must tell which app a user belongs to. 32 characters is exactly
MySQL 8's user-name limit (MariaDB allows 80), so no prefix fits; the database name is the
same for symmetry with Cloudron (db name = user name). With `multipleDatabases` the app gets
the prefix `<hex>_` and may create up to 64 - 33 = 31 characters after it. Because the names
carry no marker, every user or database on the server named by 32 lowercase hex digits (plus
`_...` for prefix databases) is taken to be an app's: do not create such names by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_UID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX: Final = r"[0-9a-f]{32}"
PG_DATABASE: Final = re.compile(rf"db({_HEX})")
PG_ROLE: Final = re.compile(rf"user({_HEX})")
MYSQL_USER: Final = re.compile(f"({_HEX})")
MYSQL_DATABASE: Final = re.compile(rf"({_HEX})(?:_.*)?", re.DOTALL)
MYSQL_USER_MAX: Final = 32  # MySQL 8
MYSQL_DATABASE_MAX: Final = 64


def uid_hex(app_uid: str) -> str:
    """The UID's 32 hex digits. Kubernetes UIDs are lowercase RFC 4122 UUIDs; anything else is refused."""
    if not _UID.fullmatch(app_uid):
        raise ValueError(f"not a Kubernetes UID (lowercase UUID): {app_uid!r}")
    return app_uid.replace("-", "")


def uid_from_hex(hex_digits: str) -> str:
    """The inverse of `uid_hex`."""
    h = hex_digits
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True)
class PostgresqlNames:
    database: str
    role: str


def postgresql_names(app_uid: str) -> PostgresqlNames:
    digits = uid_hex(app_uid)
    return PostgresqlNames(database=f"db{digits}", role=f"user{digits}")


def postgresql_uid(name: str) -> str | None:
    """The app UID a PostgreSQL database or role name belongs to, or None when it is not an app's."""
    match = PG_DATABASE.fullmatch(name) or PG_ROLE.fullmatch(name)
    return uid_from_hex(match.group(1)) if match else None


@dataclass(frozen=True)
class MysqlNames:
    user: str
    database: str  # the single database; with multipleDatabases the app gets `prefix` instead

    @property
    def prefix(self) -> str:
        """What every database of a multipleDatabases app starts with (CLOUDRON_MYSQL_DATABASE_PREFIX)."""
        return f"{self.database}_"

    @property
    def prefix_pattern(self) -> str:
        """The prefix as a GRANT / LIKE pattern: `_` is a wildcard there, so it is escaped."""
        return self.prefix.replace("_", r"\_") + "%"

    def owns_database(self, name: str) -> bool:
        """Whether `name` is this app's database or one of its prefix databases."""
        return name == self.database or name.startswith(self.prefix)


def mysql_names(app_uid: str) -> MysqlNames:
    digits = uid_hex(app_uid)
    return MysqlNames(user=digits, database=digits)


def mysql_user_uid(name: str) -> str | None:
    match = MYSQL_USER.fullmatch(name)
    return uid_from_hex(match.group(1)) if match else None


def mysql_database_uid(name: str) -> str | None:
    match = MYSQL_DATABASE.fullmatch(name)
    return uid_from_hex(match.group(1)) if match else None
