"""Throwaway PostgreSQL, MariaDB and Redis servers from the Debian packages, on loopback.

Each server lives in its own directory, listens on a free 127.0.0.1 port and has an admin
user with a generated password. None of them is the distribution's system service.
"""

from __future__ import annotations

import json
import secrets
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import psycopg2
import pymysql
import redis

from cloudron_operator.provisioners.pg_extensions import WHITELIST_MODULE, whitelist_setting
from tests.harness.processes import (
    LOOPBACK,
    HarnessError,
    chown_tree,
    free_port,
    run,
    service_user,
    spawn,
    stop_process_group,
    wait_until,
)

DatabaseKind = Literal["postgresql", "mysql", "redis"]
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class DatabaseServer:
    """How to reach a running server as its administrator; serialisable to the state file."""

    kind: DatabaseKind
    host: str
    port: int
    admin_user: str
    admin_password: str
    version: str
    directory: str
    pid: int

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> DatabaseServer:
        return cls(**json.loads(text))


def start_server(kind: DatabaseKind, directory: Path) -> DatabaseServer:
    """Start a fresh server of `kind` with its data under `directory` (created, must not exist)."""
    directory.mkdir(parents=True)
    directory.chmod(0o755)
    starters = {"postgresql": _start_postgresql, "mysql": _start_mariadb, "redis": _start_redis}
    return starters[kind](directory)


def stop_server(server: DatabaseServer, *, remove_data: bool = True) -> None:
    stop_process_group(server.pid)
    if remove_data:
        shutil.rmtree(server.directory, ignore_errors=True)


def restart_server(server: DatabaseServer) -> DatabaseServer:
    """Start a stopped server again on its port with its data, as after a crash or maintenance."""
    directory = Path(server.directory)
    spawners = {"postgresql": _spawn_postgresql, "mysql": _spawn_mariadb}
    process_pid = spawners[server.kind](directory, server.port)
    restarted = DatabaseServer(**{**asdict(server), "pid": process_pid})
    return _await_ready(restarted, directory / "server.log")


def is_running(server: DatabaseServer) -> bool:
    try:
        return bool(server_version(server))
    except Exception:  # noqa: BLE001 - any failure to log in means "not usable"
        return False


def admin_rows(server: DatabaseServer, *queries: str) -> list[tuple[Any, ...]]:
    """Log in to a PostgreSQL or MariaDB server as its admin and return the rows of `queries`, in order."""
    if server.kind == "postgresql":
        with (
            psycopg2.connect(
                host=server.host,
                port=server.port,
                user=server.admin_user,
                password=server.admin_password,
                dbname="postgres",
                connect_timeout=5,
            ) as conn,
            conn.cursor() as cur,
        ):
            rows: list[tuple[Any, ...]] = []
            for query in queries:
                cur.execute(query)
                rows += [tuple(row) for row in cur.fetchall()]
        conn.close()
        return rows
    mysql = pymysql.connect(
        host=server.host,
        port=server.port,
        user=server.admin_user,
        password=server.admin_password,
        connect_timeout=5,
    )
    try:
        with mysql.cursor() as cur:
            rows = []
            for query in queries:
                cur.execute(query)
                rows += [tuple(row) for row in cur.fetchall()]
            return rows
    finally:
        mysql.close()


def server_version(server: DatabaseServer) -> str:
    """Log in as the admin and ask the server its version (proves login and a query work)."""
    if server.kind in ("postgresql", "mysql"):
        query = "SHOW server_version" if server.kind == "postgresql" else "SELECT VERSION()"
        rows = admin_rows(server, query)
        if not rows:
            raise HarnessError(f"{server.kind} returned no row to {query}")
        return str(rows[0][0])
    client = redis.Redis(
        host=server.host,
        port=server.port,
        username=server.admin_user,
        password=server.admin_password,
        socket_timeout=3,
    )
    try:
        info: dict[str, object] = client.info("server")  # type: ignore[assignment]  # sync client
        return str(info["redis_version"])
    finally:
        client.close()


def _postgres_bindir() -> Path:
    candidates = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "postgres").exists()),
        key=lambda p: int(p.parent.name),
    )
    if not candidates or int(candidates[-1].parent.name) < 15:
        raise HarnessError("PostgreSQL 15+ server binaries not found: apt-get install postgresql")
    return candidates[-1]


def _start_postgresql(directory: Path) -> DatabaseServer:
    bindir = _postgres_bindir()
    if not (bindir.parent / "lib" / "plugins" / f"{WHITELIST_MODULE}.so").exists():
        major = bindir.parent.name
        raise HarnessError(
            f"{WHITELIST_MODULE} not found: apt-get install postgresql-{major}-{WHITELIST_MODULE}"
        )
    user = service_user("postgres")
    password = secrets.token_urlsafe(24)
    data, log = directory / "data", directory / "server.log"
    pwfile = directory / "admin-password"
    pwfile.write_text(password)
    chown_tree(directory, user)
    run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            f"--pwfile={pwfile}",
            "--auth-local=scram-sha-256",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
        user=user,
    )
    pwfile.unlink()
    port = free_port()
    pid = _spawn_postgresql(directory, port)
    server = DatabaseServer("postgresql", LOOPBACK, port, "postgres", password, "", str(directory), pid)
    return _await_ready(server, log)


def _spawn_postgresql(directory: Path, port: int) -> int:
    process = spawn(
        [
            str(_postgres_bindir() / "postgres"),
            "-D",
            str(directory / "data"),
            "-c",
            f"listen_addresses={LOOPBACK}",
            "-c",
            f"port={port}",
            "-c",
            f"unix_socket_directories={directory}",
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "max_connections=300",
            # As Cloudron's server: an app's own role may create the extensions on Cloudron's list.
            "-c",
            f"local_preload_libraries={WHITELIST_MODULE}",
            "-c",
            f"extwlist.extensions={whitelist_setting()}",
        ],
        directory / "server.log",
        user=service_user("postgres"),
    )
    return process.pid


def _start_mariadb(directory: Path) -> DatabaseServer:
    server_binary = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    if not Path(server_binary).exists():
        raise HarnessError("MariaDB server not found: apt-get install mariadb-server")
    user = service_user("mysql")
    password = secrets.token_urlsafe(24)
    data, log = directory / "data", directory / "server.log"
    init_file = directory / "init.sql"
    init_file.write_text(
        f"CREATE USER IF NOT EXISTS 'admin'@'%' IDENTIFIED BY '{password}';\n"
        "GRANT ALL PRIVILEGES ON *.* TO 'admin'@'%' WITH GRANT OPTION;\n"
        "FLUSH PRIVILEGES;\n"
    )
    init_file.chmod(0o600)
    chown_tree(directory, user)
    user_args = [f"--user={user}"] if user else []
    run(
        [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={data}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
            *user_args,
        ]
    )
    port = free_port()
    pid = _spawn_mariadb(directory, port)
    server = DatabaseServer("mysql", LOOPBACK, port, "admin", password, "", str(directory), pid)
    return _await_ready(server, log)


def _spawn_mariadb(directory: Path, port: int) -> int:
    user = service_user("mysql")
    user_args = [f"--user={user}"] if user else []
    process = spawn(
        [
            shutil.which("mariadbd") or "/usr/sbin/mariadbd",
            "--no-defaults",
            f"--datadir={directory / 'data'}",
            f"--port={port}",
            f"--bind-address={LOOPBACK}",
            f"--socket={directory / 'mysqld.sock'}",
            f"--pid-file={directory / 'mysqld.pid'}",
            f"--init-file={directory / 'init.sql'}",
            "--skip-name-resolve",
            "--skip-log-bin",
            "--innodb-flush-log-at-trx-commit=0",
            "--innodb-buffer-pool-size=64M",
            "--max-connections=300",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            *user_args,
        ],
        directory / "server.log",
    )
    return process.pid


def _start_redis(directory: Path) -> DatabaseServer:
    server_binary = shutil.which("redis-server")
    if server_binary is None:
        raise HarnessError("redis-server not found: apt-get install redis-server")
    password = secrets.token_urlsafe(24)
    config = directory / "redis.conf"
    port = free_port()
    config.write_text(
        f'bind {LOOPBACK}\nport {port}\ndir {directory}\nsave ""\nappendonly no\n'
        f"protected-mode yes\ndaemonize no\nrequirepass {password}\n"
    )
    config.chmod(0o600)
    log = directory / "server.log"
    process = spawn([server_binary, str(config)], log)
    server = DatabaseServer("redis", LOOPBACK, port, "default", password, "", str(directory), process.pid)
    return _await_ready(server, log)


def _await_ready(server: DatabaseServer, log: Path) -> DatabaseServer:
    try:
        wait_until(lambda: is_running(server), START_TIMEOUT, f"{server.kind} on port {server.port}")
    except HarnessError as error:
        stop_process_group(server.pid)
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
        raise HarnessError(f"{error}\n--- {log} ---\n{tail}") from error
    return DatabaseServer(**{**asdict(server), "version": server_version(server)})
