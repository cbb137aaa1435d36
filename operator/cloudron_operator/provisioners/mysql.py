"""The mysql addon: a database and a user per app in a shared MySQL 8 or MariaDB server.

Names are in `naming` (the UID's 32 hex digits for both user and database). The user is
`<name>@'%'` with ALL PRIVILEGES on its own database only, or, with the manifest option
`multipleDatabases: true`, on the pattern `<name>\\_%` (the `_` escaped: unescaped it is a
wildcard) so the app may create the databases it needs inside its prefix. MySQL 8 with
`partial_revokes=ON` reads GRANT patterns literally, so multipleDatabases needs it OFF (the
default). The SQL is the subset MySQL 8 and MariaDB 10.4+ share.

The password goes to the server as a bound parameter of CREATE/ALTER USER: MySQL 8's
caching_sha2_password verifier cannot be computed ahead portably, and a pre-hashed
mysql_native_password would pin a plugin MySQL 8.4 disables. Provisioning first tries the
app's login and only sends the password when that fails, so a converged server sees it once.
An account left locked by an interrupted deprovision fails that login and is unlocked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import pymysql
from pymysql.connections import Connection

from cloudron_operator.provisioners.base import AppDatabase, ServerAccess, ServerCheck
from cloudron_operator.provisioners.env import mysql_env
from cloudron_operator.provisioners.mysql_session import (
    account,
    admin_connection,
    can_log_in,
    errno_of,
    own_name,
    quote,
    statement,
    with_parameters,
)
from cloudron_operator.provisioners.naming import (
    MysqlNames,
    mysql_database_uid,
    mysql_names,
    mysql_user_uid,
)

_VERSION: Final = re.compile(r"\d+(?:\.\d+)*(?:-MariaDB)?")
_UNKNOWN_THREAD: Final = 1094  # the connection ended by itself between listing and KILL
_USER_OPERATION_FAILED: Final = 1396  # CREATE USER of a user that exists
_CHARSET: Final = "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"


class MysqlBackend:
    addon_type = "mysql"

    def check(self, server: ServerAccess) -> ServerCheck:
        with admin_connection(server) as conn, conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            row = cur.fetchone()
        version = str(row[0]) if row else ""
        match = _VERSION.match(version)  # "10.11.6-MariaDB-0+deb12u1" -> "10.11.6-MariaDB"
        return ServerCheck(match.group(0) if match else version)

    def env(self, server: ServerAccess, app: AppDatabase, password: str) -> dict[str, str]:
        names = mysql_names(app.app_uid)
        return mysql_env(server, names, password, multiple_databases=_multiple_databases(app.options))

    def provision(self, server: ServerAccess, app: AppDatabase, password: str) -> None:
        names = mysql_names(app.app_uid)
        multiple = _multiple_databases(app.options)
        # Each statement here only when it changes something: MySQL logs every GRANT and CREATE
        # to the binary log, and replicas replay them, also those that change nothing.
        with admin_connection(server) as conn:
            if not multiple and not _database_exists(conn, names.database):
                with statement(f"create database {names.database}", safe=True), conn.cursor() as cur:
                    cur.execute(f"CREATE DATABASE IF NOT EXISTS {own_name(names.database)} {_CHARSET}")
            password_set = _ensure_user(conn, names.user, password)
            granted = names.prefix_pattern if multiple else names.database
            if not _has_all_privileges(conn, names.user, granted):
                scope = quote(names.prefix_pattern) if multiple else own_name(names.database)
                with statement(f"grant user {names.user} its database", safe=True), conn.cursor() as cur:
                    cur.execute(f"GRANT ALL PRIVILEGES ON {scope}.* TO {account(names.user)}")
            database = None if multiple else names.database
            if not password_set and not can_log_in(server.host, server.port, names.user, password, database):
                with statement(f"set the password of user {names.user}"), conn.cursor() as cur:
                    user = with_parameters(account(names.user))
                    cur.execute(f"ALTER USER {user} IDENTIFIED BY %s ACCOUNT UNLOCK", (password,))

    def deprovision(self, server: ServerAccess, app: AppDatabase) -> None:
        names = mysql_names(app.app_uid)
        with admin_connection(server) as conn:
            if _user_exists(conn, names.user):  # first, so the app cannot reconnect meanwhile
                with statement(f"lock user {names.user}", safe=True), conn.cursor() as cur:
                    cur.execute(f"ALTER USER {account(names.user)} ACCOUNT LOCK")
            _kill_sessions(conn, names.user)
            for database in _databases(conn, names):
                with statement(f"drop database {database}", safe=True), conn.cursor() as cur:
                    cur.execute(f"DROP DATABASE IF EXISTS {quote(database)}")
            with statement(f"drop user {names.user}", safe=True), conn.cursor() as cur:
                cur.execute(f"DROP USER IF EXISTS {account(names.user)}")

    def app_uids(self, server: ServerAccess) -> set[str]:
        with admin_connection(server) as conn, conn.cursor() as cur:
            cur.execute("SELECT User FROM mysql.user WHERE Host = '%'")
            users = {mysql_user_uid(str(row[0])) for row in cur.fetchall()}
            cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
            databases = {mysql_database_uid(str(row[0])) for row in cur.fetchall()}
        return {uid for uid in users | databases if uid is not None}


def _multiple_databases(options: Mapping[str, Any]) -> bool:
    """Only a JSON `true` turns it on: `env` must not fail, and a stray value means the default."""
    return options.get("multipleDatabases") is True


def _ensure_user(conn: Connection, user: str, password: str) -> bool:
    """Create the user when missing; True when it was created (with `password`) just now."""
    if _user_exists(conn, user):
        return False
    with statement(f"create user {user}"), conn.cursor() as cur:
        try:
            cur.execute(f"CREATE USER {with_parameters(account(user))} IDENTIFIED BY %s", (password,))
        except pymysql.MySQLError as error:
            if errno_of(error) != _USER_OPERATION_FAILED:
                raise
            return False  # created concurrently: the login check decides about the password
    return True


def _database_exists(conn: Connection, database: str) -> bool:
    with statement(f"look up database {database}", safe=True), conn.cursor() as cur:
        cur.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (database,))
        return cur.fetchone() is not None


def _has_all_privileges(conn: Connection, user: str, database: str) -> bool:
    """Whether the user holds every database privilege on `database` (a name or a GRANT pattern).

    GRANT ALL gives every *_priv column of its mysql.db row but Grant_priv; which columns there
    are depends on the server's version, so they are read, not listed here.
    """
    with statement(f"look up the privileges of user {user}", safe=True), conn.cursor() as cur:
        cur.execute("SELECT * FROM mysql.db WHERE Host = '%%' AND User = %s AND Db = %s", (user, database))
        row = cur.fetchone()
        columns = [str(column[0]) for column in cur.description or ()]
    if row is None:
        return False
    privileges = {
        column: value
        for column, value in zip(columns, row, strict=True)
        if column.endswith("_priv") and column != "Grant_priv"
    }
    return bool(privileges) and all(value == "Y" for value in privileges.values())


def _user_exists(conn: Connection, user: str) -> bool:
    with statement(f"look up user {user}", safe=True), conn.cursor() as cur:
        cur.execute("SELECT 1 FROM mysql.user WHERE User = %s AND Host = '%%'", (user,))
        return cur.fetchone() is not None


def _kill_sessions(conn: Connection, user: str) -> None:
    with statement(f"list the sessions of user {user}", safe=True), conn.cursor() as cur:
        cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s", (user,))
        sessions = [int(row[0]) for row in cur.fetchall()]
    for session in sessions:
        with statement(f"end session {session} of user {user}", safe=True), conn.cursor() as cur:
            try:
                cur.execute("KILL CONNECTION %s", (session,))
            except pymysql.MySQLError as error:
                if errno_of(error) != _UNKNOWN_THREAD:
                    raise


def _databases(conn: Connection, names: MysqlNames) -> list[str]:
    """The app's database and every database inside its prefix, whatever its options are now."""
    with statement(f"list the databases of user {names.user}", safe=True), conn.cursor() as cur:
        cur.execute(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA"
            " WHERE SCHEMA_NAME = %s OR SCHEMA_NAME LIKE %s",
            (names.database, names.prefix_pattern),
        )
        found = [str(row[0]) for row in cur.fetchall()]
    return sorted(name for name in found if names.owns_database(name))  # LIKE ignores case
