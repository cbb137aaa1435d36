"""Which PostgreSQL extensions an app's own role may create, as on Cloudron (CLOUDRON.md §2.3).

Cloudron lets an app's unprivileged role run `CREATE EXTENSION` for a fixed list of extensions
and no other. The server does that, not the platform: the `pgextwlist` module runs CREATE and
DROP EXTENSION as the superuser for names in `extwlist.extensions`. An app also creates the
extensions PostgreSQL itself marks *trusted* (pg_trgm, hstore, citext, …) on any server since
PostgreSQL 13, because its role owns its database.

The operator cannot load a module into a server it does not run, so the Addon's check reads what
the server allows and says which of Cloudron's extensions an app would be refused, and why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from psycopg2.extensions import connection

# Cloudron's list (CLOUDRON.md §2.3): the value the server's extwlist.extensions should have.
CLOUDRON_EXTENSIONS: Final = (
    "address_standardizer",
    "address_standardizer_data_us",
    "btree_gin",
    "btree_gist",
    "citext",
    "cube",
    "earthdistance",
    "fuzzystrmatch",
    "hstore",
    "ogr_fdw",
    "pg_stat_statements",
    "pg_trgm",
    "pgcrypto",
    "pgrouting",
    "plpgsql",
    "postgis",
    "postgis_raster",
    "postgis_sfcgal",
    "postgis_tiger_geocoder",
    "postgis_topology",
    "postgres_fdw",
    "unaccent",
    "uuid-ossp",
    "vector",
    "vectors",
)
WHITELIST_MODULE: Final = "pgextwlist"
_TRUSTED_SINCE: Final = 130000  # pg_available_extension_versions.trusted
_INSTALLED: Final = "SELECT name, bool_or(trusted) FROM pg_available_extension_versions GROUP BY name"
_INSTALLED_BEFORE_TRUSTED: Final = "SELECT name, false FROM pg_available_extension_versions GROUP BY name"
_SETTINGS: Final = (
    "SELECT current_setting('local_preload_libraries', true),"
    " current_setting('session_preload_libraries', true),"
    " current_setting('shared_preload_libraries', true),"
    " current_setting('extwlist.extensions', true)"
)


def whitelist_setting() -> str:
    """The `extwlist.extensions` value that gives a server Cloudron's list."""
    return ",".join(CLOUDRON_EXTENSIONS)


@dataclass(frozen=True)
class ExtensionSupport:
    """What a server offers: installed extensions (name → trusted), and its pgextwlist setup."""

    installed: dict[str, bool]
    whitelist_loaded: bool
    whitelist: frozenset[str]

    def creatable(self, name: str) -> bool:
        """Whether an app's role (owner of its database, no other privilege) may create `name`."""
        if name not in self.installed:
            return False
        return self.installed[name] or (self.whitelist_loaded and name in self.whitelist)

    def summary(self) -> str:
        """One sentence for the Addon's Ready message: which of Cloudron's extensions apps lack."""
        missing = [name for name in CLOUDRON_EXTENSIONS if name not in self.installed]
        refused = [
            name for name in CLOUDRON_EXTENSIONS if name in self.installed and not self.creatable(name)
        ]
        total = len(CLOUDRON_EXTENSIONS)
        if not missing and not refused:
            return f"apps may create all {total} extensions Cloudron offers"
        parts = [
            f"apps may create {total - len(missing) - len(refused)} of the {total} extensions Cloudron offers"
        ]
        if missing:
            parts.append(f"not installed on the server: {', '.join(missing)}")
        if refused:
            why = (
                "not in extwlist.extensions"
                if self.whitelist_loaded
                else f"the server does not load {WHITELIST_MODULE}"
            )
            parts.append(f"refused to apps ({why}): {', '.join(refused)}")
        return "; ".join(parts)


def parse_whitelist(value: str | None) -> frozenset[str]:
    """`extwlist.extensions` as a set of names ("a, b,c" → {a, b, c}); an unset setting is empty."""
    return frozenset(part.strip() for part in (value or "").split(",") if part.strip())


def loads_whitelist_module(preload_values: Iterable[str | None]) -> bool:
    """Whether one of the preload settings names pgextwlist ("pgextwlist", "$libdir/plugins/pgextwlist")."""
    for value in preload_values:
        for library in (value or "").split(","):
            if library.strip().strip('"').rsplit("/", 1)[-1] == WHITELIST_MODULE:
                return True
    return False


def read_extension_support(conn: connection) -> ExtensionSupport:
    """Ask the server (as its admin) what it offers; read-only."""
    query = _INSTALLED if conn.server_version >= _TRUSTED_SINCE else _INSTALLED_BEFORE_TRUSTED
    with conn.cursor() as cur:
        cur.execute(query)
        installed = {str(name): bool(is_trusted) for name, is_trusted in cur.fetchall()}
        cur.execute(_SETTINGS)
        row = cur.fetchone() or ()
    *preloads, whitelist = row
    return ExtensionSupport(installed, loads_whitelist_module(preloads), parse_whitelist(whitelist))
