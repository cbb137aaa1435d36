"""PostgreSQL connections for the provisioner, and the one place driver errors become ours.

Errors are rebuilt, never passed on: a driver message may quote the statement that failed,
so an exception keeps the SQLSTATE and its condition name, plus the server's own message
only for statements that hold no secret. Connection failures are summarised from libpq's
text by a fixed table, so the message says *why* (refused, wrong password, timed out) without
quoting it. The original exception is suppressed (`from None`) so no traceback shows it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Final

import psycopg2
import psycopg2.errorcodes
from psycopg2.extensions import connection

from cloudron_operator.provisioners.base import ProvisioningFailed, ServerAccess, ServerUnreachable

CONNECT_TIMEOUT_SECONDS: Final = 5
MAINTENANCE_DATABASE: Final = "postgres"
APPLICATION_NAME: Final = "cloudron-operator"
# Bounds on one statement, so a stuck lock makes a retry later instead of a hung worker.
_SESSION_OPTIONS: Final = "-c statement_timeout=120s -c lock_timeout=30s"
# SQLSTATE classes that mean "try again later": connection, resources, operator intervention
# (includes statement timeout 57014), transaction rollback (deadlock); and lock timeout.
_TRANSIENT_CLASSES: Final = ("08", "53", "57", "40")
_TRANSIENT_CODES: Final = ("55P03",)
_CONNECT_FAILURES: Final = (
    ("password authentication failed", "authentication failed (wrong user name or password)"),
    ("no pg_hba.conf entry", "rejected by the server's pg_hba.conf"),
    ("does not exist", "the role or database does not exist"),
    ("Connection refused", "connection refused"),
    ("timeout expired", f"no answer within {CONNECT_TIMEOUT_SECONDS}s"),
    ("could not translate host name", "the host name does not resolve"),
    ("connection slots", "too many connections"),
    ("too many connections", "too many connections"),
    ("the database system is", "the server is starting up or shutting down"),
)


def connect(host: str, port: int, user: str, password: str, database: str) -> connection:
    """An autocommit connection (DDL such as CREATE DATABASE cannot run in a transaction)."""
    try:
        conn = psycopg2.connect(
            host=host,
            port=port,
            user=user,
            password=password,
            dbname=database,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            application_name=APPLICATION_NAME,
            options=_SESSION_OPTIONS,
        )
    except psycopg2.Error as error:
        reason = _connect_failure(str(error))
        raise ServerUnreachable(f"cannot log in to PostgreSQL at {host}:{port} as {user}: {reason}") from None
    conn.autocommit = True
    return conn


@contextmanager
def admin_connection(server: ServerAccess, database: str = MAINTENANCE_DATABASE) -> Iterator[connection]:
    """The admin's connection, closed on exit; errors inside the block become ours."""
    login = connect(server.host, server.port, server.username, server.password, database)
    with closing(login) as conn, statement(f"talk to PostgreSQL at {server.host}:{server.port}"):
        yield conn


def can_log_in(host: str, port: int, user: str, password: str, database: str) -> bool:
    """Whether these credentials open a session on `database` now (the app's view of its login)."""
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
    except psycopg2.Error as error:
        raise translate(error, action, safe=safe) from None


def translate(error: psycopg2.Error, action: str, *, safe: bool) -> ServerUnreachable | ProvisioningFailed:
    code = error.pgcode
    if code is None:  # no SQLSTATE: the connection broke under us
        return ServerUnreachable(f"PostgreSQL connection lost while trying to {action}")
    name = (psycopg2.errorcodes.lookup(code) or "unknown").lower()
    summary = f"SQLSTATE {code} ({name})"
    if code.startswith(_TRANSIENT_CLASSES) or code in _TRANSIENT_CODES:
        return ServerUnreachable(f"PostgreSQL could not {action} now: {summary}")
    primary = error.diag.message_primary if safe else None
    detail = f": {primary.splitlines()[0][:300]}" if primary else ""
    return ProvisioningFailed(f"PostgreSQL refused to {action}: {summary}{detail}")


def _connect_failure(text: str) -> str:
    for marker, reason in _CONNECT_FAILURES:
        if marker in text:
            return reason
    return "connection failed"
