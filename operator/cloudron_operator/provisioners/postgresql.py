"""The postgresql addon: a database and a login role per app in a shared PostgreSQL server.

The role is NOSUPERUSER NOCREATEDB NOCREATEROLE and owns only its database; PUBLIC loses
every privilege on that database, so no other app's role can even connect to it.

The password never reaches the server in clear: libpq computes the SCRAM-SHA-256 verifier
on the operator's side (`encrypt_password`, with SASLprep exactly as the server would) and
only that goes into CREATE/ALTER ROLE, so statement logs hold no password. Provisioning
first tries the app's login; only when it fails is the verifier (with a fresh salt) sent,
so a rerun that finds everything in place changes nothing on the server.

Every step reads the catalogs and does only what is missing, so provisioning converges from
any partial state (role without database, database with another owner, wrong password,
role left NOLOGIN by an interrupted deprovision).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from psycopg2 import errors as pg_errors
from psycopg2 import sql
from psycopg2.extensions import connection, encrypt_password

from cloudron_operator.provisioners.base import AppDatabase, ProvisioningFailed, ServerAccess, ServerCheck
from cloudron_operator.provisioners.env import postgresql_env
from cloudron_operator.provisioners.naming import PostgresqlNames, postgresql_names, postgresql_uid
from cloudron_operator.provisioners.pg_extensions import read_extension_support
from cloudron_operator.provisioners.pg_session import admin_connection, can_log_in, statement

_LOCALE: Final = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_VERSION: Final = re.compile(r"\d+(?:\.\d+)*")
_FORCE_DROP_SINCE: Final = 130000  # DROP DATABASE ... WITH (FORCE)
# What the role must be, as (test on pg_roles, ALTER ROLE clause that makes the test true).
_ROLE_ATTRIBUTES: Final = (
    ("rolcanlogin", "LOGIN"),
    ("NOT rolsuper", "NOSUPERUSER"),
    ("NOT rolcreatedb", "NOCREATEDB"),
    ("NOT rolcreaterole", "NOCREATEROLE"),
    ("NOT rolreplication", "NOREPLICATION"),
    ("NOT rolbypassrls", "NOBYPASSRLS"),
    ("coalesce(rolvaliduntil = 'infinity', true)", "VALID UNTIL 'infinity'"),  # a past date locks it out
)
_ROLE_QUERY: Final = sql.SQL("SELECT {} FROM pg_roles WHERE rolname = %s").format(
    sql.SQL(", ").join(sql.SQL(test) for test, _ in _ROLE_ATTRIBUTES)
)


class PostgresqlBackend:
    addon_type = "postgresql"

    def check(self, server: ServerAccess) -> ServerCheck:
        with admin_connection(server) as conn:
            with conn.cursor() as cur:
                cur.execute("SHOW server_version")
                version = str(_one(cur.fetchone()))
            extensions = read_extension_support(conn)
        match = _VERSION.match(version)  # "15.18 (Debian 15.18-0+deb12u1)" -> "15.18"
        return ServerCheck(match.group(0) if match else version, extensions.summary())

    def env(self, server: ServerAccess, app: AppDatabase, password: str) -> dict[str, str]:
        return postgresql_env(server, postgresql_names(app.app_uid), password)

    def provision(self, server: ServerAccess, app: AppDatabase, password: str) -> None:
        names = postgresql_names(app.app_uid)
        locale = _locale(app.options)
        with admin_connection(server) as conn:
            password_set = _ensure_role(conn, names.role, password)
            _ensure_database(conn, names, locale)
            if _public_has_privileges(conn, names.database):  # REVOKE rewrites the row even when a no-op
                with statement(f"revoke PUBLIC's privileges on database {names.database}", safe=True):
                    _execute(conn, sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC"), names.database)
            if not password_set and not can_log_in(
                server.host, server.port, names.role, password, names.database
            ):
                _set_password(conn, names.role, password)

    def deprovision(self, server: ServerAccess, app: AppDatabase) -> None:
        names = postgresql_names(app.app_uid)
        with admin_connection(server) as conn:
            role_exists = _role(conn, names.role) is not None
            if role_exists:  # first, so the app cannot open new sessions while we end the old ones
                with statement(f"disable the login of role {names.role}", safe=True):
                    _execute(conn, sql.SQL("ALTER ROLE {} NOLOGIN"), names.role)
            with statement(f"end the sessions of role {names.role}", safe=True), conn.cursor() as cur:
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE (usename = %s OR datname = %s) AND pid <> pg_backend_pid()",
                    (names.role, names.database),
                )
            force = " WITH (FORCE)" if conn.server_version >= _FORCE_DROP_SINCE else ""
            with statement(f"drop database {names.database}", safe=True):
                _execute(conn, sql.SQL("DROP DATABASE IF EXISTS {}" + force), names.database)
            if role_exists:
                _drop_role(server, conn, names.role)

    def app_uids(self, server: ServerAccess) -> set[str]:
        with admin_connection(server) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT rolname FROM pg_roles WHERE rolname ~ '^user[0-9a-f]{32}$'"
                " UNION SELECT datname FROM pg_database WHERE datname ~ '^db[0-9a-f]{32}$'"
            )
            names = [str(row[0]) for row in cur.fetchall()]
        return {uid for uid in map(postgresql_uid, names) if uid is not None}


def _locale(options: Mapping[str, Any]) -> str | None:
    """The manifest's `locale` option, checked before it goes into CREATE DATABASE."""
    locale = options.get("locale")
    if locale is None:
        return None
    if not isinstance(locale, str) or not _LOCALE.fullmatch(locale):
        raise ProvisioningFailed(f"the postgresql addon option locale is not a locale name: {locale!r}")
    return locale


def _ensure_role(conn: connection, role: str, password: str) -> bool:
    """Create the role, or give an existing one the required attributes; True when the password was set."""
    attributes = _role(conn, role)
    if attributes is None:
        verifier = encrypt_password(password, role, conn, "scram-sha-256")
        query = sql.SQL("CREATE ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(verifier)
        )
        with statement(f"create role {role}"), conn.cursor() as cur:
            try:
                cur.execute(query)
            except pg_errors.DuplicateObject:  # created concurrently: the login check will tell
                return False
        return True
    fixes = [clause for (_, clause), holds in zip(_ROLE_ATTRIBUTES, attributes, strict=True) if not holds]
    if fixes:
        with statement(f"set the attributes of role {role}", safe=True):
            _execute(conn, sql.SQL("ALTER ROLE {} WITH " + " ".join(fixes)), role)
    return False


def _role(conn: connection, role: str) -> tuple[bool, ...] | None:
    """Whether the role meets each of `_ROLE_ATTRIBUTES`, or None when there is no such role."""
    with statement(f"look up role {role}", safe=True), conn.cursor() as cur:
        cur.execute(_ROLE_QUERY, (role,))
        row = cur.fetchone()
    return tuple(bool(value) for value in row) if row is not None else None


def _public_has_privileges(conn: connection, database: str) -> bool:
    """Whether PUBLIC holds a privilege on the database: by default (no ACL yet) CONNECT and TEMPORARY."""
    with statement(f"look up the privileges on database {database}", safe=True), conn.cursor() as cur:
        cur.execute(
            "SELECT datacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(datacl) WHERE grantee = 0)"
            " FROM pg_database WHERE datname = %s",
            (database,),
        )
        return bool(_one(cur.fetchone()))


def _ensure_database(conn: connection, names: PostgresqlNames, locale: str | None) -> None:
    """Create the database owned by the role, or hand an existing one back to the role.

    A locale applies at creation only: changing the collation of a database holding data
    is not something to do behind the app's back.
    """
    owner = _database_owner(conn, names.database)
    if owner is None:
        query = sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(names.database), sql.Identifier(names.role)
        )
        if locale is not None:
            query += sql.SQL(" ENCODING 'UTF8' LC_COLLATE {0} LC_CTYPE {0} TEMPLATE template0").format(
                sql.Literal(locale)
            )
        with statement(f"create database {names.database}", safe=True), conn.cursor() as cur:
            try:
                cur.execute(query)
            except pg_errors.DuplicateDatabase:  # created concurrently: check its owner below
                pass
            else:
                return
        owner = _database_owner(conn, names.database)
    if owner != names.role:
        query = sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
            sql.Identifier(names.database), sql.Identifier(names.role)
        )
        action = f"give database {names.database} to role {names.role}"
        with statement(action, safe=True), conn.cursor() as cur:
            cur.execute(query)


def _database_owner(conn: connection, database: str) -> str | None:
    with statement(f"look up database {database}", safe=True), conn.cursor() as cur:
        cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (database,))
        row = cur.fetchone()
    return str(row[0]) if row is not None else None


def _set_password(conn: connection, role: str, password: str) -> None:
    verifier = encrypt_password(password, role, conn, "scram-sha-256")
    query = sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
        sql.Identifier(role), sql.Literal(verifier)
    )
    with statement(f"set the password of role {role}"), conn.cursor() as cur:
        cur.execute(query)


def _drop_role(server: ServerAccess, conn: connection, role: str) -> None:
    """Drop the role; when it still owns objects or holds privileges elsewhere, drop those first.

    DROP OWNED works on one database at a time, so it runs in every database that accepts
    connections (the app's own database is already gone).
    """
    drop = sql.SQL("DROP ROLE IF EXISTS {}")
    with statement(f"drop role {role}", safe=True):
        try:
            _execute(conn, drop, role)
        except pg_errors.DependentObjectsStillExist:
            pass
        else:
            return
    with statement("list databases", safe=True), conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname")
        databases = [str(row[0]) for row in cur.fetchall()]
    for database in databases:
        action = f"drop what role {role} owns in database {database}"
        with admin_connection(server, database) as other, statement(action, safe=True):
            _execute(other, sql.SQL("DROP OWNED BY {}"), role)
    with statement(f"drop role {role}", safe=True):
        _execute(conn, drop, role)


def _execute(conn: connection, template: sql.SQL, identifier: str) -> None:
    with conn.cursor() as cur:
        cur.execute(template.format(sql.Identifier(identifier)))


def _one(row: tuple[Any, ...] | None) -> Any:
    if row is None:
        raise ProvisioningFailed("PostgreSQL returned no row")
    return row[0]
