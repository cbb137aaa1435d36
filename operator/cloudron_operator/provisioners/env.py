"""The CLOUDRON_* variables of the database addons (CLOUDRON.md §2.2, §2.3). Pure.

The URL carries the port even when it is the default: Addons may serve on any port, and an
app that reads only the URL must reach the same server as one that reads _HOST and _PORT.
User and password are percent-encoded in the URL (the password may hold `@`, `/`, `:`...);
the separate variables carry them verbatim.
"""

from __future__ import annotations

from urllib.parse import quote

from cloudron_operator.provisioners.base import ServerAccess
from cloudron_operator.provisioners.naming import MysqlNames, PostgresqlNames


def database_url(scheme: str, *, user: str, password: str, host: str, port: int, database: str) -> str:
    netloc_host = f"[{host}]" if ":" in host else host  # an IPv6 literal needs brackets
    userinfo = f"{quote(user, safe='')}:{quote(password, safe='')}"
    return f"{scheme}://{userinfo}@{netloc_host}:{port}/{quote(database, safe='')}"


def postgresql_env(server: ServerAccess, names: PostgresqlNames, password: str) -> dict[str, str]:
    return {
        "CLOUDRON_POSTGRESQL_URL": database_url(
            "postgres",
            user=names.role,
            password=password,
            host=server.host,
            port=server.port,
            database=names.database,
        ),
        "CLOUDRON_POSTGRESQL_USERNAME": names.role,
        "CLOUDRON_POSTGRESQL_PASSWORD": password,
        "CLOUDRON_POSTGRESQL_HOST": server.host,
        "CLOUDRON_POSTGRESQL_PORT": str(server.port),
        "CLOUDRON_POSTGRESQL_DATABASE": names.database,
    }


def mysql_env(
    server: ServerAccess, names: MysqlNames, password: str, *, multiple_databases: bool
) -> dict[str, str]:
    """With multipleDatabases the app gets a prefix instead of a database (and so no URL)."""
    env = {
        "CLOUDRON_MYSQL_USERNAME": names.user,
        "CLOUDRON_MYSQL_PASSWORD": password,
        "CLOUDRON_MYSQL_HOST": server.host,
        "CLOUDRON_MYSQL_PORT": str(server.port),
    }
    if multiple_databases:
        env["CLOUDRON_MYSQL_DATABASE_PREFIX"] = names.prefix
    else:
        url = database_url(
            "mysql",
            user=names.user,
            password=password,
            host=server.host,
            port=server.port,
            database=names.database,
        )
        env |= {"CLOUDRON_MYSQL_URL": url, "CLOUDRON_MYSQL_DATABASE": names.database}
    return env
