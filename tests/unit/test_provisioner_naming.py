"""Database addon names, env dicts and error messages: everything the backends decide without a server."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pymysql
import pytest
from psycopg2.extensions import parse_dsn

from cloudron_operator.provisioners import (
    BACKENDS,
    AppDatabase,
    ProvisioningFailed,
    ServerAccess,
    ServerUnreachable,
)
from cloudron_operator.provisioners.mysql_session import account, own_name, quote, translate
from cloudron_operator.provisioners.naming import (
    MYSQL_DATABASE_MAX,
    MYSQL_USER_MAX,
    mysql_database_uid,
    mysql_names,
    mysql_user_uid,
    postgresql_names,
    postgresql_uid,
)

UID = "0b8f3c2e-7d41-4a6b-9e15-2f3a4b5c6d7e"
HEX = "0b8f3c2e7d414a6b9e152f3a4b5c6d7e"
PASSWORD = "s3cret-Pass"
SPECIAL_PASSWORDS = ["p@ss:w/rd?#[]", "100%_sure&x=y", "quote'\"`\\ ", "ünïcødé€", "a+b c", "@@@"]
PG_IDENTIFIER_MAX = 63


def server(host: str = "db.example.svc") -> ServerAccess:
    return ServerAccess(host=host, port=5433, username="admin", password="admin-secret", options={})


def test_postgresql_names_follow_cloudron() -> None:
    names = postgresql_names(UID)
    assert (names.database, names.role) == (f"db{HEX}", f"user{HEX}")
    assert max(len(names.database), len(names.role)) <= PG_IDENTIFIER_MAX


def test_mysql_names_are_the_uid_digits_within_the_limits() -> None:
    names = mysql_names(UID)
    assert names.user == names.database == HEX
    assert len(names.user) == MYSQL_USER_MAX
    assert len(names.prefix) < MYSQL_DATABASE_MAX


@pytest.mark.parametrize(
    "uid",
    [
        "",
        HEX,  # no dashes
        UID.upper(),
        UID + "0",
        '0b8f3c2e-7d41-4a6b-9e15-2f3a4b5c6d7"',
        "x'; DROP DATABASE postgres; --",
        "0b8f3c2e-7d41-4a6b-9e15-2f3a4b5c6d7e\n",
    ],
)
def test_a_uid_that_is_not_a_kubernetes_uid_is_refused(uid: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes UID"):
        postgresql_names(uid)
    with pytest.raises(ValueError, match="not a Kubernetes UID"):
        mysql_names(uid)


def test_every_name_maps_back_to_its_uid() -> None:
    pg, my = postgresql_names(UID), mysql_names(UID)
    assert postgresql_uid(pg.database) == postgresql_uid(pg.role) == UID
    assert mysql_user_uid(my.user) == mysql_database_uid(my.database) == UID
    assert mysql_database_uid(my.prefix + "analytics") == mysql_database_uid(my.prefix) == UID


@pytest.mark.parametrize(
    "name",
    ["postgres", "template1", f"db{HEX}x", f"db{HEX[:-1]}", f"user{HEX.upper()}", f"xdb{HEX}", HEX],
)
def test_other_postgresql_names_are_not_apps(name: str) -> None:
    assert postgresql_uid(name) is None


@pytest.mark.parametrize("name", ["mysql", "information_schema", HEX + "x", HEX[:-1], HEX.upper(), "a" + HEX])
def test_other_mysql_names_are_not_apps(name: str) -> None:
    assert mysql_database_uid(name) is None
    assert mysql_user_uid(name) is None


def test_the_mysql_prefix_escapes_the_underscore_wildcard() -> None:
    names = mysql_names(UID)
    assert names.prefix == f"{HEX}_"
    assert names.prefix_pattern == HEX + r"\_%"
    assert names.owns_database(HEX)
    assert names.owns_database(f"{HEX}_reports")
    assert not names.owns_database(f"{HEX}xreports")  # an unescaped `_` would have matched this
    assert not names.owns_database(HEX[:-1])


def test_postgresql_env() -> None:
    env = BACKENDS["postgresql"].env(server(), AppDatabase(app_uid=UID, options={}), PASSWORD)
    assert env == {
        "CLOUDRON_POSTGRESQL_URL": f"postgres://user{HEX}:{PASSWORD}@db.example.svc:5433/db{HEX}",
        "CLOUDRON_POSTGRESQL_USERNAME": f"user{HEX}",
        "CLOUDRON_POSTGRESQL_PASSWORD": PASSWORD,
        "CLOUDRON_POSTGRESQL_HOST": "db.example.svc",
        "CLOUDRON_POSTGRESQL_PORT": "5433",
        "CLOUDRON_POSTGRESQL_DATABASE": f"db{HEX}",
    }


def test_the_locale_option_does_not_change_the_env() -> None:
    backend = BACKENDS["postgresql"]
    plain = backend.env(server(), AppDatabase(app_uid=UID), PASSWORD)
    assert backend.env(server(), AppDatabase(app_uid=UID, options={"locale": "C"}), PASSWORD) == plain


def test_mysql_env() -> None:
    env = BACKENDS["mysql"].env(server(), AppDatabase(app_uid=UID, options={}), PASSWORD)
    assert env == {
        "CLOUDRON_MYSQL_URL": f"mysql://{HEX}:{PASSWORD}@db.example.svc:5433/{HEX}",
        "CLOUDRON_MYSQL_USERNAME": HEX,
        "CLOUDRON_MYSQL_PASSWORD": PASSWORD,
        "CLOUDRON_MYSQL_HOST": "db.example.svc",
        "CLOUDRON_MYSQL_PORT": "5433",
        "CLOUDRON_MYSQL_DATABASE": HEX,
    }


def test_mysql_env_with_multiple_databases_gives_a_prefix_instead_of_a_database() -> None:
    app = AppDatabase(app_uid=UID, options={"multipleDatabases": True})
    assert BACKENDS["mysql"].env(server(), app, PASSWORD) == {
        "CLOUDRON_MYSQL_USERNAME": HEX,
        "CLOUDRON_MYSQL_PASSWORD": PASSWORD,
        "CLOUDRON_MYSQL_HOST": "db.example.svc",
        "CLOUDRON_MYSQL_PORT": "5433",
        "CLOUDRON_MYSQL_DATABASE_PREFIX": f"{HEX}_",
    }
    explicit_off = AppDatabase(app_uid=UID, options={"multipleDatabases": False})
    assert "CLOUDRON_MYSQL_URL" in BACKENDS["mysql"].env(server(), explicit_off, PASSWORD)


@pytest.mark.parametrize("value", ["yes", "true", 1, None, {}])
def test_only_a_json_true_turns_multiple_databases_on(value: object) -> None:
    app = AppDatabase(app_uid=UID, options={"multipleDatabases": value})
    assert "CLOUDRON_MYSQL_DATABASE" in BACKENDS["mysql"].env(server(), app, PASSWORD)


@pytest.mark.parametrize("password", SPECIAL_PASSWORDS)
def test_postgresql_url_quotes_the_password_as_libpq_reads_it(password: str) -> None:
    env = BACKENDS["postgresql"].env(server(), AppDatabase(app_uid=UID), password)
    assert env["CLOUDRON_POSTGRESQL_PASSWORD"] == password
    parsed = parse_dsn(env["CLOUDRON_POSTGRESQL_URL"])  # libpq's own URI parser
    assert parsed == {
        "user": f"user{HEX}",
        "password": password,
        "host": "db.example.svc",
        "port": "5433",
        "dbname": f"db{HEX}",
    }


@pytest.mark.parametrize("password", SPECIAL_PASSWORDS)
def test_mysql_url_quotes_the_password(password: str) -> None:
    env = BACKENDS["mysql"].env(server(), AppDatabase(app_uid=UID), password)
    url = urlsplit(env["CLOUDRON_MYSQL_URL"])
    assert (url.scheme, url.hostname, url.port, url.path) == ("mysql", "db.example.svc", 5433, f"/{HEX}")
    assert unquote(url.username or "") == HEX
    assert unquote(url.password or "") == password


def test_an_ipv6_host_is_bracketed_in_the_url_only() -> None:
    env = BACKENDS["postgresql"].env(server("fd00::5"), AppDatabase(app_uid=UID), PASSWORD)
    assert env["CLOUDRON_POSTGRESQL_HOST"] == "fd00::5"
    assert parse_dsn(env["CLOUDRON_POSTGRESQL_URL"])["host"] == "fd00::5"
    assert "@[fd00::5]:5433/" in env["CLOUDRON_POSTGRESQL_URL"]


def test_the_registry_holds_both_backends() -> None:
    assert {name: backend.addon_type for name, backend in BACKENDS.items()} == {
        "postgresql": "postgresql",
        "mysql": "mysql",
    }


def test_an_invalid_locale_is_refused_before_connecting() -> None:
    # Port 1 on loopback: if the option were not checked first, this would be ServerUnreachable.
    closed = ServerAccess(host="127.0.0.1", port=1, username="admin", password="x", options={})
    app = AppDatabase(app_uid=UID, options={"locale": "C'; DROP DATABASE postgres; --"})
    with pytest.raises(ProvisioningFailed, match="locale"):
        BACKENDS["postgresql"].provision(closed, app, PASSWORD)


def test_the_admin_password_is_not_in_the_repr() -> None:
    assert "admin-secret" not in repr(server())


def test_mysql_names_are_checked_and_quoted() -> None:
    assert own_name(HEX) == f"`{HEX}`"
    assert account(HEX) == f"`{HEX}`@'%'"
    for bad in ("", "a`b", "A", "a-b", "x" * 65, "a b"):
        with pytest.raises(ValueError, match="not a valid MySQL name"):
            own_name(bad)
    assert quote("it`s-mine") == "`it``s-mine`"


def test_a_mysql_error_message_that_may_quote_a_password_is_dropped() -> None:
    error = pymysql.err.ProgrammingError(1064, f"You have an error near 'IDENTIFIED BY '{PASSWORD}''")
    failure = translate(error, "set the password of user x", safe=False)
    assert isinstance(failure, ProvisioningFailed)
    assert PASSWORD not in str(failure)
    assert "error 1064 (syntax error)" in str(failure)


def test_a_mysql_server_message_is_kept_for_a_statement_without_secrets() -> None:
    error = pymysql.err.OperationalError(1044, "Access denied for user 'admin'@'%' to database 'x'")
    assert "Access denied for user" in str(translate(error, "create database x", safe=True))


@pytest.mark.parametrize("errno", [2003, 2006, 2013, 1205, 1213])
def test_mysql_connection_and_lock_errors_are_worth_a_retry(errno: int) -> None:
    error = pymysql.err.OperationalError(errno, f"lost while sending {PASSWORD}")
    failure = translate(error, "create user x", safe=False)
    assert isinstance(failure, ServerUnreachable)
    assert PASSWORD not in str(failure)
