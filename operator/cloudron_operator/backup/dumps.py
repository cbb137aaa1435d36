"""Each database addon dumped to a stream and imported from one, with the app's own credentials.

The credentials are the app's CLOUDRON_* variables (the Job gets the app's Secrets), so a
backup can read no more than the app can, and a clone imports into its own new database.
- PostgreSQL: `pg_dump` plain SQL without owners or grants; the import runs in one transaction
  that first drops everything the app's role owns, so it lands whole or not at all.
- MySQL: `mysqldump --single-transaction` (a consistent snapshot while the app writes); the
  import empties the database first, and DEFINER clauses are dropped so a clone's user owns
  its views, triggers and routines.
- Redis: every key of every database as its `DUMP` payload (Redis's own RDB encoding of the
  value) with its time to live; the import flushes and `RESTORE`s. A Job cannot swap the server's
  dump.rdb under a running Redis, which is how Cloudron restores; this works against a live one.
Passwords go to the tools in their environment or a 0600 file, never on a command line.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import IO, Any, Final

import pymysql
import redis

from cloudron_operator.backup.crypto import read_exactly

COPY_SIZE: Final = 1024 * 1024
_DEFINER: Final = re.compile(rb"DEFINER=`(?:[^`]|``)*`@`(?:[^`]|``)*`\s*")
_REDIS_RECORD: Final = struct.Struct(">HIqI")  # db, key length, pttl (0: none), payload length
_REDIS_MAGIC: Final = b"CLDRRDS1"


class DumpError(Exception):
    """A dump or import failed; the message is the tool's own, without credentials."""


def _require(env: Mapping[str, str], *names: str) -> list[str]:
    missing = [name for name in names if not env.get(name)]
    if missing:
        raise DumpError(f"the app's environment lacks {', '.join(missing)}")
    return [env[name] for name in names]


def _pump(source: IO[bytes], sink: Any) -> int:
    total = 0
    while chunk := source.read(COPY_SIZE):
        sink.write(chunk)
        total += len(chunk)
    return total


def _run_out(argv: list[str], env: Mapping[str, str], sink: Any) -> int:
    """Run a dump tool, its stdout into `sink`; DumpError with its stderr if it fails."""
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, env={**os.environ, **env})
        assert process.stdout is not None
        with _killed_on_error(process):
            total = _pump(process.stdout, sink)
        _check(process, argv, errors)
    return total


def _run_in(argv: list[str], env: Mapping[str, str], chunks: Iterator[bytes]) -> None:
    """Run an import tool with `chunks` as its stdin; DumpError with its stderr if it fails."""
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors, env={**os.environ, **env}
        )
        assert process.stdin is not None
        # A tool that stops reading says why in its exit status and stderr.
        with _killed_on_error(process), suppress(BrokenPipeError):
            for chunk in chunks:
                process.stdin.write(chunk)
            process.stdin.close()
        _check(process, argv, errors)


@contextmanager
def _killed_on_error(process: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    except BaseException:
        process.kill()
        process.wait()
        raise


def _check(process: subprocess.Popen[bytes], argv: list[str], errors: IO[bytes]) -> None:
    """DumpError with the end of the tool's stderr unless it exited 0."""
    if process.wait() != 0:
        errors.seek(0)
        raise DumpError(f"{argv[0]} failed: {errors.read()[-2000:].decode(errors='replace').strip()}")


def _chunks(source: Any) -> Iterator[bytes]:
    while chunk := source.read(COPY_SIZE):
        yield chunk


# PostgreSQL


def _pg_env(env: Mapping[str, str]) -> dict[str, str]:
    host, port, user, password, database = _require(
        env,
        "CLOUDRON_POSTGRESQL_HOST",
        "CLOUDRON_POSTGRESQL_PORT",
        "CLOUDRON_POSTGRESQL_USERNAME",
        "CLOUDRON_POSTGRESQL_PASSWORD",
        "CLOUDRON_POSTGRESQL_DATABASE",
    )
    return {"PGHOST": host, "PGPORT": port, "PGUSER": user, "PGPASSWORD": password, "PGDATABASE": database}


def dump_postgresql(env: Mapping[str, str], sink: Any) -> int:
    argv = ["pg_dump", "--format=plain", "--no-owner", "--no-privileges", "--quote-all-identifiers"]
    return _run_out(argv, _pg_env(env), sink)


def restore_postgresql(env: Mapping[str, str], source: Any) -> None:
    argv = ["psql", "--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1"]
    emptied = b"DROP OWNED BY CURRENT_USER CASCADE;\n"
    _run_in(argv, _pg_env(env), _with_first(emptied, _without_extension_comments(_chunks(source))))


def _with_first(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line + b"\n"
    if pending:
        yield pending


def _without_extension_comments(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """An extension's comment belongs to its owner, the server's admin: the app cannot set it."""
    for line in _lines(chunks):
        if not line.startswith(b"COMMENT ON EXTENSION "):
            yield line


# MySQL


def _mysql_login(env: Mapping[str, str]) -> list[str]:
    """Host, port, user, password and database, from the app's CLOUDRON_MYSQL_* variables."""
    names = ("HOST", "PORT", "USERNAME", "PASSWORD", "DATABASE")
    return _require(env, *(f"CLOUDRON_MYSQL_{name}" for name in names))


@contextmanager
def _mysql_options(env: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """An option file with the app's login (0600, removed after), and the database's name."""
    host, port, user, password, database = _mysql_login(env)
    with tempfile.NamedTemporaryFile("w", prefix="mysql-", suffix=".cnf") as options:
        os.chmod(options.name, 0o600)
        quoted = password.replace("\\", "\\\\").replace('"', '\\"')
        options.write(f'[client]\nhost={host}\nport={port}\nuser={user}\npassword="{quoted}"\nprotocol=tcp\n')
        options.flush()
        yield options.name, database


def dump_mysql(env: Mapping[str, str], sink: Any) -> int:
    if env.get("CLOUDRON_MYSQL_DATABASE_PREFIX"):
        raise DumpError("backups of mysql with multipleDatabases are not supported yet")
    with _mysql_options(env) as (options, database):
        argv = [
            "mysqldump",
            f"--defaults-extra-file={options}",
            "--single-transaction",
            "--routines",
            "--triggers",
            "--no-tablespaces",
            "--hex-blob",
            "--default-character-set=utf8mb4",
            "--",
            database,
        ]
        return _run_out(argv, {}, sink)


def restore_mysql(env: Mapping[str, str], source: Any) -> None:
    _empty_mysql(env)
    with _mysql_options(env) as (options, database):
        argv = [
            "mysql",
            f"--defaults-extra-file={options}",
            "--default-character-set=utf8mb4",
            "--",
            database,
        ]
        _run_in(argv, {}, (_DEFINER.sub(b"", line) for line in _lines(_chunks(source))))


def _empty_mysql(env: Mapping[str, str]) -> None:
    host, port, user, password, database = _mysql_login(env)
    connection = pymysql.connect(host=host, port=int(port), user=user, password=password, database=database)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
            cursor.execute("SHOW FULL TABLES")
            for name, kind in list(cursor.fetchall()):
                quoted = "`" + str(name).replace("`", "``") + "`"
                cursor.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} IF EXISTS {quoted}")
            for kind in ("PROCEDURE", "FUNCTION"):
                cursor.execute(f"SHOW {kind} STATUS WHERE Db = DATABASE()")
                for row in list(cursor.fetchall()):
                    cursor.execute(f"DROP {kind} IF EXISTS `{str(row[1]).replace('`', '``')}`")
    finally:
        connection.close()


# Redis


def _redis(env: Mapping[str, str], db: int = 0) -> redis.Redis:
    host, port = _require(env, "CLOUDRON_REDIS_HOST", "CLOUDRON_REDIS_PORT")
    password = env.get("CLOUDRON_REDIS_PASSWORD") or None
    return redis.Redis(host=host, port=int(port), password=password, db=db, socket_timeout=60)


def _redis_databases(client: redis.Redis) -> list[int]:
    keyspace: dict[str, Any] = client.info("keyspace")  # type: ignore[assignment] # a sync/async union
    return sorted(int(name[2:]) for name in keyspace if name.startswith("db"))


def dump_redis(env: Mapping[str, str], sink: Any) -> int:
    total = 0
    sink.write(_REDIS_MAGIC)
    for db in _redis_databases(_redis(env)):
        client = _redis(env, db)
        for keys in _batches(client.scan_iter(count=1000), 500):
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.pttl(key)
                pipe.dump(key)
            answers = pipe.execute()
            for key, ttl, payload in zip(keys, answers[::2], answers[1::2], strict=True):
                if payload is None:  # expired or deleted since the scan
                    continue
                record = _REDIS_RECORD.pack(db, len(key), max(int(ttl), 0), len(payload)) + key + payload
                sink.write(record)
                total += len(record)
    return total


def restore_redis(env: Mapping[str, str], source: Any) -> int:
    if read_exactly(source, len(_REDIS_MAGIC)) != _REDIS_MAGIC:
        raise DumpError("the redis object is not a key dump of this format")
    _redis(env).flushall()
    clients: dict[int, redis.Redis] = {}
    pipes: dict[int, Any] = {}
    restored = 0
    while header := read_exactly(source, _REDIS_RECORD.size):
        if len(header) < _REDIS_RECORD.size:
            raise DumpError("the redis object is truncated")
        db, key_length, ttl, payload_length = _REDIS_RECORD.unpack(header)
        key, payload = read_exactly(source, key_length), read_exactly(source, payload_length)
        if len(payload) < payload_length:
            raise DumpError("the redis object is truncated")
        if db not in pipes:
            clients[db] = _redis(env, db)
            pipes[db] = clients[db].pipeline(transaction=False)
        pipes[db].restore(key, ttl, payload, replace=True)
        restored += 1
        if len(pipes[db]) >= 500:
            pipes[db].execute()
    for pipe in pipes.values():
        pipe.execute()
    return restored


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


Dumper = Callable[[Mapping[str, str], Any], int]
Importer = Callable[[Mapping[str, str], Any], Any]
DUMPERS: Final[dict[str, tuple[Dumper, Importer]]] = {
    "postgresql": (dump_postgresql, restore_postgresql),
    "mysql": (dump_mysql, restore_mysql),
    "redis": (dump_redis, restore_redis),
}
