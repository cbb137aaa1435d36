"""The database backends against real PostgreSQL and MariaDB servers: provisioning, isolation, teardown.

Every test uses fresh UIDs and deprovisions its apps afterwards, so `app_uids` can be compared
with what a test made. Apps log in the way an app would: with the env the backend hands out.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg2
import pymysql
import pytest
from psycopg2.extensions import connection as PgConnection
from pymysql.connections import Connection as MyConnection

from cloudron_operator.provisioners import (
    BACKENDS,
    AppDatabase,
    DatabaseBackend,
    ProvisioningFailed,
    ServerAccess,
    ServerUnreachable,
    mysql_session,
)
from cloudron_operator.provisioners.mysql_session import CONNECT_TIMEOUT_SECONDS
from cloudron_operator.provisioners.naming import mysql_names, postgresql_names
from tests.harness.databases import DatabaseServer
from tests.harness.processes import free_port

PASSWORD = "Pw-1@:/?#%'\"`\\ ä"  # every character a URL, a SQL literal or a shell could trip on
NEW_PASSWORD = "second-Password-2"
MakeApp = Callable[..., AppDatabase]


@dataclass(frozen=True)
class Target:
    backend: DatabaseBackend
    access: ServerAccess
    server: DatabaseServer


def access_of(server: DatabaseServer, password: str | None = None, port: int | None = None) -> ServerAccess:
    return ServerAccess(
        host=server.host,
        port=port or server.port,
        username=server.admin_user,
        password=server.admin_password if password is None else password,
        options={},
    )


def target_of(addon_type: str, server: DatabaseServer) -> Target:
    return Target(BACKENDS[addon_type], access_of(server), server)


@pytest.fixture
def pg(postgres_server: DatabaseServer) -> Target:
    return target_of("postgresql", postgres_server)


@pytest.fixture
def my(mariadb_server: DatabaseServer) -> Target:
    return target_of("mysql", mariadb_server)


@pytest.fixture(params=["postgresql", "mysql"])
def target(request: pytest.FixtureRequest) -> Target:
    fixture = "postgres_server" if request.param == "postgresql" else "mariadb_server"
    return target_of(request.param, request.getfixturevalue(fixture))


@pytest.fixture
def make_app() -> Iterator[MakeApp]:
    """A factory of apps with fresh UIDs; each is deprovisioned from where it was made afterwards."""
    made: list[tuple[Target, AppDatabase]] = []

    def make(on: Target, **options: Any) -> AppDatabase:
        app = AppDatabase(app_uid=str(uuid.uuid4()), options=options)
        made.append((on, app))
        return app

    yield make
    for on, app in made:
        on.backend.deprovision(on.access, app)


# --- how an app logs in, from its env ---------------------------------------------------------------


def pg_login(env: dict[str, str], database: str | None = None) -> PgConnection:
    if database is None:  # the URL alone, as most apps use it
        conn = psycopg2.connect(env["CLOUDRON_POSTGRESQL_URL"], connect_timeout=5)
    else:
        conn = psycopg2.connect(
            host=env["CLOUDRON_POSTGRESQL_HOST"],
            port=env["CLOUDRON_POSTGRESQL_PORT"],
            user=env["CLOUDRON_POSTGRESQL_USERNAME"],
            password=env["CLOUDRON_POSTGRESQL_PASSWORD"],
            dbname=database,
            connect_timeout=5,
        )
    conn.autocommit = True
    return conn


def my_login(env: dict[str, str], database: str | None = None) -> MyConnection:
    """PyMySQL sends a str password as latin-1; apps (mysql client, Node's mysql2) send UTF-8 bytes."""
    if "CLOUDRON_MYSQL_URL" in env and database is None:  # the URL alone, as most apps use it
        url = urlsplit(env["CLOUDRON_MYSQL_URL"])
        host, port, path = url.hostname or "", url.port or 3306, url.path.lstrip("/")
        user, password = unquote(url.username or ""), unquote(url.password or "").encode()
        return pymysql.connect(
            host=host,
            port=port,
            user=user,
            password=password,
            database=path,
            connect_timeout=5,
            autocommit=True,
        )
    return pymysql.connect(
        host=env["CLOUDRON_MYSQL_HOST"],
        port=int(env["CLOUDRON_MYSQL_PORT"]),
        user=env["CLOUDRON_MYSQL_USERNAME"],
        password=env["CLOUDRON_MYSQL_PASSWORD"].encode(),  # as UTF-8, like the mysql client and mysql2
        database=database,
        connect_timeout=5,
        autocommit=True,
    )


def login(on: Target, env: dict[str, str]) -> Any:
    return pg_login(env) if on.backend.addon_type == "postgresql" else my_login(env)


def use_the_database(on: Target, env: dict[str, str], value: str) -> list[str]:
    """Log in as the app, create a table if needed, add a row and return every row."""
    with closing(login(on, env)) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS notes (body VARCHAR(100))")
        cur.execute("INSERT INTO notes (body) VALUES (%s)", (value,))
        cur.execute("SELECT body FROM notes ORDER BY body")
        return [str(row[0]) for row in cur.fetchall()]


def admin_query(on: Target, query: str, *args: object, database: str = "postgres") -> list[tuple[Any, ...]]:
    """Run a query as the admin of the target's server and return its rows."""
    server = on.server
    conn: Any
    if on.backend.addon_type == "postgresql":
        conn = psycopg2.connect(
            host=server.host,
            port=server.port,
            user=server.admin_user,
            password=server.admin_password,
            dbname=database,
            connect_timeout=5,
        )
        conn.autocommit = True
    else:
        conn = pymysql.connect(
            host=server.host,
            port=server.port,
            user=server.admin_user,
            password=server.admin_password,
            connect_timeout=5,
            autocommit=True,
        )
    with closing(conn), conn.cursor() as cur:
        cur.execute(query, args or None)
        return list(cur.fetchall()) if cur.description else []


def leftovers(on: Target, app: AppDatabase) -> list[tuple[Any, ...]]:
    """The app's users and databases as the server's catalogs list them."""
    if on.backend.addon_type == "postgresql":
        names = postgresql_names(app.app_uid)
        return admin_query(
            on,
            "SELECT rolname FROM pg_roles WHERE rolname = %s UNION ALL SELECT datname FROM pg_database"
            " WHERE datname = %s",
            names.role,
            names.database,
        )
    my = mysql_names(app.app_uid)
    return admin_query(
        on,
        "SELECT User FROM mysql.user WHERE User = %s UNION ALL SELECT SCHEMA_NAME"
        " FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s",
        my.user,
        my.database + "%",
    )


def password_record(on: Target, app: AppDatabase) -> list[tuple[Any, ...]]:
    if on.backend.addon_type == "postgresql":
        return admin_query(
            on, "SELECT rolpassword FROM pg_authid WHERE rolname = %s", postgresql_names(app.app_uid).role
        )
    return admin_query(
        on, "SELECT authentication_string FROM mysql.user WHERE User = %s", mysql_names(app.app_uid).user
    )


def server_writes(on: Target, app: AppDatabase) -> list[tuple[Any, ...]]:
    """What changes when the server writes for the app: the versions of its catalog rows (PostgreSQL),
    the counts of statements that MySQL logs for replicas (a GRANT that changes nothing counts)."""
    if on.backend.addon_type == "postgresql":
        names = postgresql_names(app.app_uid)
        return admin_query(
            on,
            "SELECT xmin::text FROM pg_database WHERE datname = %s"
            " UNION ALL SELECT xmin::text FROM pg_authid WHERE rolname = %s",
            names.database,
            names.role,
        )
    return admin_query(
        on,
        "SHOW GLOBAL STATUS WHERE Variable_name IN"
        " ('Com_create_db', 'Com_grant', 'Com_create_user', 'Com_alter_user', 'Com_revoke')",
    )


# --- both backends ------------------------------------------------------------------------------------


def test_check_returns_the_server_version(target: Target) -> None:
    version = target.backend.check(target.access).version
    assert version
    assert target.server.version.startswith(version)  # e.g. "15.18" of "15.18 (Debian 15.18-0+deb12u1)"


def test_a_wrong_admin_password_is_unreachable_and_not_quoted(target: Target) -> None:
    wrong = "wrong-Admin-Password-42"
    with pytest.raises(ServerUnreachable) as caught:
        target.backend.check(access_of(target.server, password=wrong))
    message = str(caught.value)
    assert "authentication failed" in message or "access denied" in message
    assert wrong not in message
    assert target.server.admin_password not in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_a_closed_port_is_unreachable(target: Target) -> None:
    with pytest.raises(ServerUnreachable, match=r"cannot log in .*(refused|cannot connect)") as caught:
        target.backend.provision(
            access_of(target.server, port=free_port()), AppDatabase(str(uuid.uuid4())), "x"
        )
    assert target.server.admin_password not in str(caught.value)


def test_a_server_that_never_answers_times_out(target: Target) -> None:
    with socket.create_server((target.server.host, 0)) as silent:  # accepts, never speaks
        started = time.monotonic()
        with pytest.raises(ServerUnreachable, match=r"no answer within|timed out"):
            target.backend.check(access_of(target.server, port=silent.getsockname()[1]))
    assert time.monotonic() - started < CONNECT_TIMEOUT_SECONDS + 3


def test_a_mysql_statement_may_outlast_the_connect_timeout(my: Target) -> None:
    """The short timeout bounds the handshake only (PyMySQL reads the greeting with read_timeout)."""
    with mysql_session.admin_connection(my.access) as conn, conn.cursor() as cur:
        cur.execute("SELECT SLEEP(%s)", (CONNECT_TIMEOUT_SECONDS + 1,))
        assert cur.fetchone() == (0,)


def test_the_app_uses_its_database_and_a_second_provision_changes_nothing(
    target: Target, make_app: MakeApp
) -> None:
    app = make_app(target)
    env = target.backend.env(target.access, app, PASSWORD)
    target.backend.provision(target.access, app, PASSWORD)
    assert use_the_database(target, env, "first") == ["first"]
    stored = password_record(target, app)
    written = server_writes(target, app)
    target.backend.provision(target.access, app, PASSWORD)
    assert password_record(target, app) == stored  # not even a fresh salt: the login check passed
    assert server_writes(target, app) == written, "a provision that changes nothing writes nothing"
    assert use_the_database(target, env, "second") == ["first", "second"]


def test_a_changed_password_converges(target: Target, make_app: MakeApp) -> None:
    app = make_app(target)
    target.backend.provision(target.access, app, PASSWORD)
    target.backend.provision(target.access, app, NEW_PASSWORD)
    assert use_the_database(target, target.backend.env(target.access, app, NEW_PASSWORD), "x") == ["x"]
    with pytest.raises((psycopg2.OperationalError, pymysql.err.OperationalError)):
        login(target, target.backend.env(target.access, app, PASSWORD)).close()


def test_deprovision_ends_open_sessions_and_leaves_nothing(target: Target, make_app: MakeApp) -> None:
    app = make_app(target)
    target.backend.provision(target.access, app, PASSWORD)
    env = target.backend.env(target.access, app, PASSWORD)
    use_the_database(target, env, "kept open")
    idle = login(target, env)
    in_transaction = login(target, env)
    if isinstance(in_transaction, PgConnection):
        in_transaction.autocommit = False
    else:
        in_transaction.autocommit(False)
    with in_transaction.cursor() as cur:
        cur.execute("INSERT INTO notes (body) VALUES ('uncommitted')")  # holds a lock on the table
    try:
        target.backend.deprovision(target.access, app)
        assert leftovers(target, app) == []
        with pytest.raises((psycopg2.Error, pymysql.err.Error)), idle.cursor() as cur:
            cur.execute("SELECT 1")
    finally:
        for conn in (idle, in_transaction):
            with suppress(psycopg2.Error, pymysql.err.Error):  # already closed by the server
                conn.close()


def test_deprovision_of_an_absent_app_is_fine(target: Target) -> None:
    app = AppDatabase(app_uid=str(uuid.uuid4()))
    target.backend.deprovision(target.access, app)
    target.backend.deprovision(target.access, app)
    assert leftovers(target, app) == []


def test_app_uids_lists_exactly_the_provisioned_apps(target: Target, make_app: MakeApp) -> None:
    before = target.backend.app_uids(target.access)
    first, second = make_app(target), make_app(target)
    for app in (first, second):
        target.backend.provision(target.access, app, PASSWORD)
    assert target.backend.app_uids(target.access) - before == {first.app_uid, second.app_uid}
    target.backend.deprovision(target.access, first)
    assert target.backend.app_uids(target.access) - before == {second.app_uid}
    stray = make_app(target)  # only a database left, as by an interrupted provision: still the app's
    if target.backend.addon_type == "postgresql":
        admin_query(target, f'CREATE DATABASE "{postgresql_names(stray.app_uid).database}"')
    else:
        admin_query(target, f"CREATE DATABASE `{mysql_names(stray.app_uid).prefix}reports`")
    assert target.backend.app_uids(target.access) - before == {second.app_uid, stray.app_uid}


def test_deprovision_finishes_an_interrupted_deprovision(target: Target, make_app: MakeApp) -> None:
    """The database went, the user stayed: a rerun removes the user."""
    app = make_app(target)
    target.backend.provision(target.access, app, PASSWORD)
    if target.backend.addon_type == "postgresql":
        admin_query(target, f'DROP DATABASE "{postgresql_names(app.app_uid).database}"')
    else:
        admin_query(target, f"DROP DATABASE `{mysql_names(app.app_uid).database}`")
    assert len(leftovers(target, app)) == 1
    target.backend.deprovision(target.access, app)
    assert leftovers(target, app) == []


# --- PostgreSQL -----------------------------------------------------------------------------------------


def test_postgresql_role_is_unprivileged_and_owns_only_its_database(pg: Target, make_app: MakeApp) -> None:
    app = make_app(pg)
    pg.backend.provision(pg.access, app, PASSWORD)
    names = postgresql_names(app.app_uid)
    assert admin_query(
        pg,
        "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls"
        " FROM pg_roles WHERE rolname = %s",
        names.role,
    ) == [(True, False, False, False, False, False)]
    assert admin_query(
        pg,
        "SELECT datname FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = %s)",
        names.role,
    ) == [(names.database,)]
    public_grants = admin_query(
        pg,
        "SELECT privilege_type FROM pg_database, aclexplode(datacl) WHERE datname = %s AND grantee = 0",
        names.database,
    )
    assert public_grants == []


def test_postgresql_apps_cannot_reach_each_other(pg: Target, make_app: MakeApp) -> None:
    first, second = make_app(pg), make_app(pg)
    for app in (first, second):
        pg.backend.provision(pg.access, app, PASSWORD)
    first_env = pg.backend.env(pg.access, first, PASSWORD)
    use_the_database(pg, pg.backend.env(pg.access, second, PASSWORD), "private")
    with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
        pg_login(first_env, postgresql_names(second.app_uid).database)
    with closing(pg_login(first_env)) as conn, conn.cursor() as cur:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("CREATE DATABASE first_apps_extra")
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute(f'ALTER ROLE "{postgresql_names(first.app_uid).role}" CREATEDB')


def test_postgresql_app_role_creates_cloudron_extensions_and_no_others(pg: Target, make_app: MakeApp) -> None:
    """As on Cloudron: trusted ones by owning its database, listed untrusted ones through pgextwlist."""
    app, other = make_app(pg), make_app(pg)
    for each in (app, other):
        pg.backend.provision(pg.access, each, PASSWORD)
    with closing(pg_login(pg.backend.env(pg.access, app, PASSWORD))) as conn, conn.cursor() as cur:
        cur.execute("CREATE EXTENSION pg_trgm")  # trusted: any database owner may
        cur.execute("SELECT similarity('cloudron', 'cloudrons') > 0.5")
        assert cur.fetchone() == (True,)
        cur.execute("CREATE EXTENSION postgis")  # untrusted, on Cloudron's list
        cur.execute("CREATE TABLE places (at geography(Point, 4326))")
        cur.execute("INSERT INTO places VALUES ('SRID=4326;POINT(13.40 52.52)')")
        cur.execute(
            "SELECT round(ST_Distance(at, 'SRID=4326;POINT(2.35 48.86)'::geography) / 1000) FROM places"
        )
        assert cur.fetchone() == (879,)  # Berlin to Paris, km, on the spheroid
        cur.execute('CREATE EXTENSION IF NOT EXISTS "uuid-ossp"')
        cur.execute("CREATE EXTENSION pg_stat_statements")
        cur.execute("DROP EXTENSION pg_stat_statements")  # the whitelist lets it drop what it created
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("CREATE EXTENSION file_fdw")  # untrusted and not listed: reads server files
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("CREATE EXTENSION dblink")
    created = admin_query(
        pg,
        "SELECT extname FROM pg_extension ORDER BY extname",
        database=postgresql_names(app.app_uid).database,
    )
    assert created == [("pg_trgm",), ("plpgsql",), ("postgis",), ("uuid-ossp",)]
    other_database = postgresql_names(other.app_uid).database
    assert admin_query(pg, "SELECT extname FROM pg_extension", database=other_database) == [("plpgsql",)]
    pg.backend.deprovision(pg.access, app)  # the superuser-owned extensions go with the database
    assert leftovers(pg, app) == []


def test_postgresql_check_says_which_cloudron_extensions_apps_lack(pg: Target) -> None:
    detail = pg.backend.check(pg.access).detail
    # hack/install-deps.sh installs PostGIS only (Debian 12 has no pgvector or pgvecto.rs for 15).
    assert detail == (
        "apps may create 21 of the 25 extensions Cloudron offers;"
        " not installed on the server: ogr_fdw, pgrouting, vector, vectors"
    )


def test_postgresql_locale_option_sets_the_collation(pg: Target, make_app: MakeApp) -> None:
    default, with_locale = make_app(pg), make_app(pg, locale="C")
    for app in (default, with_locale):
        pg.backend.provision(pg.access, app, PASSWORD)

    def collation(app: AppDatabase) -> list[tuple[Any, ...]]:
        query = "SELECT datcollate, datctype FROM pg_database WHERE datname = %s"
        return admin_query(pg, query, postgresql_names(app.app_uid).database)

    assert collation(with_locale) == [("C", "C")]
    assert collation(default) == admin_query(
        pg, "SELECT datcollate, datctype FROM pg_database WHERE datname = 'template1'"
    )
    assert use_the_database(pg, pg.backend.env(pg.access, with_locale, PASSWORD), "b") == ["b"]


def test_postgresql_unknown_locale_is_refused_then_a_valid_one_converges(
    pg: Target, make_app: MakeApp
) -> None:
    app = make_app(pg, locale="xx_YY.UTF-8")
    with pytest.raises(ProvisioningFailed, match=r"create database .*SQLSTATE \w+") as caught:
        pg.backend.provision(pg.access, app, PASSWORD)
    assert PASSWORD not in str(caught.value)
    assert len(leftovers(pg, app)) == 1  # the role was made before the database failed
    fixed = AppDatabase(app_uid=app.app_uid, options={"locale": "C.UTF-8"})
    pg.backend.provision(pg.access, fixed, PASSWORD)
    assert use_the_database(pg, pg.backend.env(pg.access, fixed, PASSWORD), "ok") == ["ok"]


@pytest.mark.parametrize(
    "damage",
    [
        "CREATE ROLE {role} LOGIN CREATEDB CREATEROLE PASSWORD 'someone-else'",  # role without database
        "CREATE ROLE {role} NOLOGIN VALID UNTIL '2001-01-01'",  # left by an interrupted deprovision
        "CREATE DATABASE {database}",  # database (owned by the admin, open to PUBLIC) without role
    ],
)
def test_postgresql_provision_converges_from_a_partial_state(
    pg: Target, make_app: MakeApp, damage: str
) -> None:
    app = make_app(pg)
    names = postgresql_names(app.app_uid)
    admin_query(pg, damage.format(role=f'"{names.role}"', database=f'"{names.database}"'))
    pg.backend.provision(pg.access, app, PASSWORD)
    assert use_the_database(pg, pg.backend.env(pg.access, app, PASSWORD), "fixed") == ["fixed"]
    assert admin_query(
        pg,
        "SELECT rolcreatedb OR rolcreaterole, coalesce(rolvaliduntil = 'infinity', true),"
        " pg_get_userbyid(datdba), EXISTS (SELECT FROM aclexplode(datacl) WHERE grantee = 0)"
        " FROM pg_roles, pg_database WHERE rolname = %s AND datname = %s",
        names.role,
        names.database,
    ) == [(False, True, names.role, False)]


def test_postgresql_deprovision_drops_what_the_role_owns_elsewhere(pg: Target, make_app: MakeApp) -> None:
    app = make_app(pg)
    pg.backend.provision(pg.access, app, PASSWORD)
    role = f'"{postgresql_names(app.app_uid).role}"'
    table = f"owned_{app.app_uid.replace('-', '')}"
    admin_query(pg, f"CREATE TABLE {table} (x int)")
    admin_query(pg, f"ALTER TABLE {table} OWNER TO {role}")
    admin_query(pg, f"GRANT CONNECT ON DATABASE template1 TO {role}")
    pg.backend.deprovision(pg.access, app)
    assert leftovers(pg, app) == []
    assert admin_query(pg, "SELECT to_regclass(%s) IS NULL", table) == [(True,)]


def test_postgresql_password_never_reaches_the_statement_log(pg: Target, make_app: MakeApp) -> None:
    app = make_app(pg)
    first, second = "first-Unlogged-Secret", "second-Unlogged-Secret"
    log = Path(pg.server.directory) / "server.log"
    admin_query(pg, "ALTER SYSTEM SET log_statement = 'all'")
    admin_query(pg, "SELECT pg_reload_conf()")
    try:
        start = log.stat().st_size
        pg.backend.provision(pg.access, app, first)
        pg.backend.provision(pg.access, app, second)
    finally:
        admin_query(pg, "ALTER SYSTEM RESET log_statement")
        admin_query(pg, "SELECT pg_reload_conf()")
    with log.open(errors="replace") as text:
        text.seek(start)
        written = text.read()
    assert written.count("PASSWORD 'SCRAM-SHA-256$") == 2  # CREATE ROLE, then ALTER ROLE
    assert "Unlogged-Secret" not in written
    assert use_the_database(pg, pg.backend.env(pg.access, app, second), "x") == ["x"]


# --- MySQL / MariaDB ------------------------------------------------------------------------------------


def test_mysql_user_has_only_its_database_in_utf8mb4(my: Target, make_app: MakeApp) -> None:
    app = make_app(my)
    my.backend.provision(my.access, app, PASSWORD)
    names = mysql_names(app.app_uid)
    grants = {str(row[0]) for row in admin_query(my, f"SHOW GRANTS FOR `{names.user}`@'%'")}
    assert {grant.split(" IDENTIFIED BY")[0] for grant in grants} == {
        f"GRANT USAGE ON *.* TO `{names.user}`@`%`",
        f"GRANT ALL PRIVILEGES ON `{names.database}`.* TO `{names.user}`@`%`",
    }
    assert admin_query(
        my,
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA"
        " WHERE SCHEMA_NAME = %s",
        names.database,
    ) == [("utf8mb4", "utf8mb4_unicode_ci")]


def test_mysql_apps_cannot_reach_each_other(my: Target, make_app: MakeApp) -> None:
    first, second = make_app(my), make_app(my)
    for app in (first, second):
        my.backend.provision(my.access, app, PASSWORD)
    use_the_database(my, my.backend.env(my.access, second, PASSWORD), "private")
    other = mysql_names(second.app_uid).database
    first_env = my.backend.env(my.access, first, PASSWORD)
    with pytest.raises(pymysql.err.OperationalError) as denied:
        my_login(first_env, other)
    assert denied.value.args[0] == 1044
    with closing(my_login(first_env)) as conn, conn.cursor() as cur:
        for statement in (
            f"SELECT * FROM `{other}`.notes",  # noqa: S608 - a test-made name, no input
            f"USE `{other}`",
            "CREATE DATABASE first_apps_extra",
        ):
            with pytest.raises(pymysql.err.MySQLError) as refused:
                cur.execute(statement)
            assert refused.value.args[0] in (1044, 1142), statement
        cur.execute("SHOW DATABASES")
        assert {row[0] for row in cur.fetchall()} == {
            "information_schema",
            mysql_names(first.app_uid).database,
        }


def test_mysql_multiple_databases_grants_the_prefix_only(my: Target, make_app: MakeApp) -> None:
    app = make_app(my, multipleDatabases=True)
    my.backend.provision(my.access, app, PASSWORD)
    written = server_writes(my, app)
    my.backend.provision(my.access, app, PASSWORD)
    assert server_writes(my, app) == written, "the prefix's grant is found, not given again"
    env = my.backend.env(my.access, app, PASSWORD)
    prefix = env["CLOUDRON_MYSQL_DATABASE_PREFIX"]
    assert prefix == mysql_names(app.app_uid).prefix
    assert leftovers(my, app) == [(mysql_names(app.app_uid).user,)]  # no database until the app makes one
    with closing(my_login(env)) as conn, conn.cursor() as cur:
        for suffix in ("main", "odd-name"):
            cur.execute(f"CREATE DATABASE `{prefix}{suffix}`")
            cur.execute(f"CREATE TABLE `{prefix}{suffix}`.notes (body TEXT)")
            cur.execute(f"INSERT INTO `{prefix}{suffix}`.notes VALUES ('hi')")  # noqa: S608 - test-made
        outside = (prefix[:-1] + "x" + "main", prefix[:-1], "elsewhere")  # `x` where `_` was: escaped
        for name in outside:
            with pytest.raises(pymysql.err.OperationalError) as refused:
                cur.execute(f"CREATE DATABASE `{name}`")
            assert refused.value.args[0] == 1044, name
    assert len(leftovers(my, app)) == 3
    my.backend.deprovision(my.access, app)
    assert leftovers(my, app) == []


@pytest.mark.parametrize(
    "damage",
    [
        ["CREATE DATABASE {user}"],  # database without user
        ["CREATE USER {user}@'%' IDENTIFIED BY 'someone-else'"],  # user without database or grants
        [
            "CREATE DATABASE {user}",
            "CREATE USER {user}@'%' IDENTIFIED BY 'x'",
            "ALTER USER {user}@'%' ACCOUNT LOCK",
        ],
        [  # a grant of some privileges only: the app could not create its tables
            "CREATE DATABASE {user}",
            "CREATE USER {user}@'%' IDENTIFIED BY 'x'",
            "GRANT SELECT ON {user}.* TO {user}@'%'",
        ],
    ],
)
def test_mysql_provision_converges_from_a_partial_state(
    my: Target, make_app: MakeApp, damage: list[str]
) -> None:
    app = make_app(my)
    for statement in damage:
        admin_query(my, statement.format(user=f"`{mysql_names(app.app_uid).user}`"))
    my.backend.provision(my.access, app, PASSWORD)
    assert use_the_database(my, my.backend.env(my.access, app, PASSWORD), "fixed") == ["fixed"]
