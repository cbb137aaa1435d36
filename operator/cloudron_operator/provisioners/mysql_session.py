"""MySQL/MariaDB connections for the provisioner, and the one place driver errors become ours.

Errors are rebuilt, never passed on: a MySQL error message may quote the statement, and
CREATE/ALTER USER carry the password. An exception keeps the errno with a summary from a
fixed table, plus the server's message only for statements that hold no secret. The original
exception is suppressed (`from None`) so no traceback shows it.

Identifiers are written in backticks. Names the operator makes are checked against
[a-z0-9_] first; names an app made inside its prefix may hold any character, so `quote`
doubles backticks, which is MySQL's own escape inside a quoted identifier.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Final

import pymysql
from pymysql.connections import Connection

from cloudron_operator.provisioners.base import ProvisioningFailed, ServerAccess, ServerUnreachable

CONNECT_TIMEOUT_SECONDS: Final = 5
_STATEMENT_TIMEOUT_SECONDS: Final = 120
# Waits on metadata locks (DROP DATABASE behind an open transaction) default to a year.
_INIT_COMMAND: Final = "SET SESSION lock_wait_timeout = 30"
_OWN_NAME: Final = re.compile(r"[a-z0-9_]{1,64}")
# Errors worth retrying: cannot connect, server gone, lost connection, too many connections,
# host blocked, lock wait timeout, deadlock, query interrupted, statement timeout, idle kick-out.
_TRANSIENT: Final = frozenset({2002, 2003, 2005, 2006, 2013, 2055, 1040, 1129, 1205, 1213, 1317, 3024, 4031})
_SUMMARIES: Final = {
    1007: "the database exists",
    1008: "the database does not exist",
    1040: "too many connections",
    1044: "access denied to the database",
    1045: "access denied (wrong user name or password)",
    1049: "unknown database",
    1064: "syntax error",
    1115: "unknown character set",
    1129: "host blocked after too many connection errors",
    1142: "the user lacks a table privilege",
    1205: "lock wait timed out",
    1213: "deadlock",
    1227: "the user lacks a privilege",
    1273: "unknown collation",
    1396: "the user operation failed",
    1410: "not allowed to grant",
    2002: "cannot connect",
    2003: "cannot connect",
    2005: "unknown host",
    2006: "the server went away",
    2013: "lost the connection or timed out",
    3118: "the account is locked",
    4151: "the account is locked",
}


def connect(host: str, port: int, user: str, password: str, database: str | None = None) -> Connection:
    """An autocommit connection (MySQL commits DDL implicitly anyway; this keeps DML alike)."""
    try:
        conn = pymysql.connect(
            host=host,
            port=port,
            user=user,
            password=password.encode(),  # PyMySQL would send a str as latin-1; the server hashed UTF-8
            database=database,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            # PyMySQL waits for the server's greeting with the *read* timeout, so it starts short.
            read_timeout=CONNECT_TIMEOUT_SECONDS,
            write_timeout=_STATEMENT_TIMEOUT_SECONDS,
            autocommit=True,
            charset="utf8mb4",
            init_command=_INIT_COMMAND,
        )
    except pymysql.MySQLError as error:
        errno = errno_of(error)
        reason = _SUMMARIES.get(errno, "connection failed")
        raise ServerUnreachable(
            f"cannot log in to MySQL at {host}:{port} as {user}: error {errno} ({reason})"
        ) from None
    # Logged in: statements such as DROP DATABASE may take longer. PyMySQL 1.x has no public
    # setter; the attribute is read before every socket read.
    conn._read_timeout = _STATEMENT_TIMEOUT_SECONDS  # type: ignore[attr-defined]
    return conn


@contextmanager
def admin_connection(server: ServerAccess) -> Iterator[Connection]:
    """The admin's connection, closed on exit; errors inside the block become ours."""
    login = connect(server.host, server.port, server.username, server.password)
    with closing(login) as conn, statement(f"talk to MySQL at {server.host}:{server.port}"):
        yield conn


def can_log_in(host: str, port: int, user: str, password: str, database: str | None) -> bool:
    """Whether these credentials open a session now (on `database` when given)."""
    try:
        connect(host, port, user, password, database).close()
    except ServerUnreachable:
        return False
    return True


@contextmanager
def statement(action: str, *, safe: bool = False) -> Iterator[None]:
    """Translate driver errors raised in the block; `action` names what was attempted.

    `safe=True` declares the statement free of secrets, so the server's message may be shown.
    """
    try:
        yield
    except (ServerUnreachable, ProvisioningFailed):
        raise
    except pymysql.MySQLError as error:
        raise translate(error, action, safe=safe) from None


def translate(
    error: pymysql.MySQLError, action: str, *, safe: bool
) -> ServerUnreachable | ProvisioningFailed:
    errno = errno_of(error)
    summary = f"error {errno} ({_SUMMARIES.get(errno, 'server error')})"
    if errno in _TRANSIENT or isinstance(error, pymysql.err.InterfaceError):
        return ServerUnreachable(f"MySQL could not {action} now: {summary}")
    message = error.args[1] if safe and len(error.args) > 1 else None
    detail = f": {str(message).splitlines()[0][:300]}" if message else ""
    return ProvisioningFailed(f"MySQL refused to {action}: {summary}{detail}")


def errno_of(error: pymysql.MySQLError) -> int:
    code = error.args[0] if error.args else 0
    return code if isinstance(code, int) else 0


def own_name(name: str) -> str:
    """A name the operator made, in backticks, after checking it holds only [a-z0-9_]."""
    if not _OWN_NAME.fullmatch(name):
        raise ValueError(f"not a valid MySQL name for an app: {name!r}")
    return f"`{name}`"


def quote(name: str) -> str:
    """Any identifier in backticks (an app may name its prefix databases as it likes)."""
    return "`" + name.replace("`", "``") + "`"


def account(user: str) -> str:
    """The app's account, the user at any host: apps connect from pods whose addresses change.

    Statements that bind parameters must double its `%` (see `with_parameters`).
    """
    return f"{own_name(user)}@'%'"


def with_parameters(fragment: str) -> str:
    """`fragment` made safe for a statement with bound parameters, where the driver reads `%`."""
    return fragment.replace("%", "%%")
