"""The backup Job's program as a process, against real PostgreSQL, MariaDB, Redis and S3 (versitygw).

Round trip, clone, encryption and every refusal; the Job the operator writes around it is
tested in test_backups.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest
import redis

from cloudron_operator.backup.index import INDEX_NAME, backup_folder
from cloudron_operator.provisioners.base import AppDatabase, ServerAccess
from cloudron_operator.provisioners.mysql import MysqlBackend
from cloudron_operator.provisioners.postgresql import PostgresqlBackend
from tests.harness.databases import DatabaseServer
from tests.harness.s3 import S3Server, s3_client
from tests.integration.addon_support import pg_login
from tests.integration.backup_support import (
    change_everything,
    fingerprint,
    make_tree,
    private_redis,
    run_program,
)

MIB = 1024 * 1024
MARKER = "plaintext-marker-7f3c9a"


@dataclass
class App:
    """One app's data: its databases (provisioned as the operator does), its Redis and its files."""

    uid: str
    env: dict[str, str]
    data: Path

    def backup_env(self, s3: S3Server, bucket: str, folder: str, password: str | None) -> dict[str, str]:
        env = {
            **self.env,
            "CLOUDRON_BACKUP_ENDPOINT": s3.endpoint,
            "CLOUDRON_BACKUP_BUCKET": bucket,
            "CLOUDRON_BACKUP_PREFIX": "cluster-a/",
            "CLOUDRON_BACKUP_ACCESS_KEY_ID": s3.access_key,
            "CLOUDRON_BACKUP_SECRET_ACCESS_KEY": s3.secret_key,
            "CLOUDRON_BACKUP_FOLDER": folder,
            "CLOUDRON_BACKUP_DIR_DATA": str(self.data),
            "CLOUDRON_BACKUP_SQLITE_PATHS": json.dumps(["db/app.sqlite"]),
            "CLOUDRON_BACKUP_ADDONS": json.dumps(["postgresql", "mysql", "redis"]),
            "CLOUDRON_BACKUP_APP_UID": self.uid,
        }
        if password:
            env["CLOUDRON_BACKUP_PASSWORD"] = password
        return env


def _record(app: App, name: str) -> str:
    return json.dumps(
        {
            "backup": {"name": name, "namespace": "team", "uid": str(uuid.uuid4()), "reason": "manual"},
            "app": {
                "name": "wiki",
                "namespace": "team",
                "uid": app.uid,
                "version": "1.0.0",
                "image": "example/wiki:1",
                "manifest": {"id": "org.example.wiki", "version": "1.0.0"},
                "spec": {"image": "example/wiki:1"},
            },
        }
    )


def _access(server: DatabaseServer) -> ServerAccess:
    return ServerAccess(server.host, server.port, server.admin_user, server.admin_password, {})


@pytest.fixture
def make_app(
    postgres_server: DatabaseServer, mariadb_server: DatabaseServer, tmp_path: Path
) -> Iterator[Any]:
    made: list[tuple[str, Any]] = []
    redis_contexts: list[Any] = []

    def make(files: int = 0, total_bytes: int = 0) -> App:
        uid = str(uuid.uuid4())
        env: dict[str, str] = {}
        for backend, server in ((PostgresqlBackend(), postgres_server), (MysqlBackend(), mariadb_server)):
            password = f"pw-{uuid.uuid4().hex}"
            backend.provision(_access(server), AppDatabase(uid), password)
            env |= backend.env(_access(server), AppDatabase(uid), password)
            made.append((uid, (backend, server)))
        redis_dir = tmp_path / f"redis-{uid}"
        redis_dir.mkdir()
        context = private_redis(redis_dir, f"redis-{uuid.uuid4().hex}")
        env |= context.__enter__()
        redis_contexts.append(context)
        data = tmp_path / f"data-{uid}"
        if files:
            make_tree(data, files=files, total_bytes=total_bytes)
        else:
            data.mkdir()
        return App(uid, env, data)

    yield make
    for context in redis_contexts:
        context.__exit__(None, None, None)
    for uid, (backend, server) in made:
        backend.deprovision(_access(server), AppDatabase(uid))


def _my(env: dict[str, str]) -> Any:
    return pymysql.connect(
        host=env["CLOUDRON_MYSQL_HOST"],
        port=int(env["CLOUDRON_MYSQL_PORT"]),
        user=env["CLOUDRON_MYSQL_USERNAME"],
        password=env["CLOUDRON_MYSQL_PASSWORD"],
        database=env["CLOUDRON_MYSQL_DATABASE"],
        autocommit=True,
    )


def _redis(env: dict[str, str], db: int = 0) -> redis.Redis:
    return redis.Redis(
        host=env["CLOUDRON_REDIS_HOST"],
        port=int(env["CLOUDRON_REDIS_PORT"]),
        password=env["CLOUDRON_REDIS_PASSWORD"],
        db=db,
    )


def fill_databases(env: dict[str, str]) -> None:
    with pg_login(env) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE pages (id serial PRIMARY KEY, title text, body bytea, at timestamptz)")
        cur.execute("CREATE SCHEMA extra")
        cur.execute("CREATE TABLE extra.tags (name text PRIMARY KEY)")
        cur.execute("CREATE VIEW titles AS SELECT title FROM pages")
        cur.execute(
            "INSERT INTO pages (title, body, at) "
            "SELECT 'page ' || i || %s, decode(md5(i::text), 'hex'), now() FROM generate_series(1, 5000) i",
            (MARKER,),
        )
        cur.execute("INSERT INTO extra.tags VALUES ('a'), ('b')")
    conn.close()
    with _my(env) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE posts (id INT AUTO_INCREMENT PRIMARY KEY, body LONGBLOB, note TEXT)")
        cur.execute("CREATE VIEW notes AS SELECT note FROM posts")
        cur.execute(
            "CREATE TRIGGER stamp BEFORE INSERT ON posts FOR EACH ROW SET NEW.note = CONCAT(NEW.note, '!')"
        )
        cur.executemany(
            "INSERT INTO posts (body, note) VALUES (%s, %s)",
            [(os.urandom(300), f"post {i} {MARKER}") for i in range(2000)],
        )
    client = _redis(env)
    client.set("session:1", MARKER)
    client.set("expiring", "soon", ex=3600)
    client.hset("hash", mapping={"a": "1", "b": "2"})
    client.rpush("list", *[str(i) for i in range(100)])
    _redis(env, 3).set("other-db", "kept")


def database_state(env: dict[str, str]) -> dict[str, Any]:
    """Every table's rows (PostgreSQL, MySQL) and every Redis key's value and TTL presence."""
    state: dict[str, Any] = {}
    with pg_login(env) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('public', 'extra')"
        )
        state["pg:tables"] = sorted(row[0] for row in cur.fetchall())
        for table in ("public.pages", "extra.tags", "public.titles"):
            if table in state["pg:tables"]:
                cur.execute(f"SELECT * FROM {table} ORDER BY 1")  # noqa: S608 - the tests' own names
                state[f"pg:{table}"] = [
                    tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in cur.fetchall()
                ]
    conn.close()
    with _my(env) as conn, conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        state["my:tables"] = sorted(row[0] for row in cur.fetchall())
        for table in ("posts", "notes"):
            if table in state["my:tables"]:
                cur.execute(f"SELECT * FROM {table} ORDER BY 1")  # noqa: S608
                state[f"my:{table}"] = list(cur.fetchall())
        cur.execute("SHOW TRIGGERS")
        state["my:triggers"] = [row[0] for row in cur.fetchall()]
    for db in (0, 3):
        client = _redis(env, db)
        for key in sorted(client.keys("*")):  # type: ignore[arg-type]
            state[f"redis:{db}:{key!r}"] = (_redis_value(client, key), client.ttl(key) > 0)  # type: ignore[operator]
    return state


def _redis_value(client: redis.Redis, key: str) -> Any:
    kind = client.type(key)
    if kind == b"hash":
        return client.hgetall(key)
    if kind == b"list":
        return client.lrange(key, 0, -1)
    return client.get(key)


def wreck_databases(env: dict[str, str]) -> None:
    with pg_login(env) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM pages WHERE id % 2 = 0")
        cur.execute("DROP TABLE extra.tags")
        cur.execute("CREATE TABLE after_backup (x int)")
    conn.close()
    with _my(env) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM posts WHERE id < 100")
        cur.execute("CREATE TABLE after_backup (x INT)")
    _redis(env).flushall()
    _redis(env).set("new-key", "x")


def test_round_trip_brings_back_every_row_and_every_file(
    make_app: Any, s3_server: S3Server, s3_bucket: str
) -> None:
    app = make_app(files=5000, total_bytes=200 * MIB)
    fill_databases(app.env)
    before_files, before_db = fingerprint(app.data), database_state(app.env)
    env = app.backup_env(s3_server, s3_bucket, backup_folder("team", "wiki", "b1"), password="correct horse")

    made = run_program("create", {**env, "CLOUDRON_BACKUP_RECORD": _record(app, "b1")})
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["contents"] == ["postgresql", "mysql", "redis", "files"]

    change_everything(app.data)
    wreck_databases(app.env)
    assert fingerprint(app.data) != before_files

    restored = run_program("restore", env)
    assert restored.returncode == 0, restored.stderr
    assert database_state(app.env) == before_db
    after = fingerprint(app.data)
    assert sorted(after) == sorted(before_files)
    assert after == before_files
    with pg_login(app.env) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('after_backup')")
        assert cur.fetchone() == (None,)
    conn.close()


def test_a_clone_gets_the_data_under_its_own_names_and_passwords(
    make_app: Any, s3_server: S3Server, s3_bucket: str
) -> None:
    source = make_app(files=50, total_bytes=MIB)
    fill_databases(source.env)
    folder = backup_folder("team", "wiki", "b1")
    env = source.backup_env(s3_server, s3_bucket, folder, password=None)
    assert run_program("create", {**env, "CLOUDRON_BACKUP_RECORD": _record(source, "b1")}).returncode == 0

    clone = make_app()
    clone_env = clone.backup_env(s3_server, s3_bucket, folder, password=None)
    refused = run_program("restore", clone_env)
    assert refused.returncode == 1
    assert "only a new app may clone it" in refused.stderr

    cloned = run_program("restore", {**clone_env, "CLOUDRON_BACKUP_CLONE": "true"})
    assert cloned.returncode == 0, cloned.stderr
    assert database_state(clone.env) == database_state(source.env)
    assert fingerprint(clone.data) == fingerprint(source.data)
    for name in (
        "POSTGRESQL_DATABASE",
        "POSTGRESQL_USERNAME",
        "POSTGRESQL_PASSWORD",
        "MYSQL_DATABASE",
        "MYSQL_PASSWORD",
    ):
        assert clone.env[f"CLOUDRON_{name}"] != source.env[f"CLOUDRON_{name}"]
    with _my(clone.env) as conn, conn.cursor() as cur:  # the clone's trigger runs as the clone's user
        cur.execute("INSERT INTO posts (body, note) VALUES ('x', 'cloned')")
        cur.execute("SELECT note FROM posts ORDER BY id DESC LIMIT 1")
        assert cur.fetchone() == ("cloned!",)


def _stored_objects(s3: S3Server, bucket: str) -> dict[str, bytes]:
    client = s3_client(s3)
    keys = [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {key: client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def test_encrypted_objects_hold_no_plaintext_and_a_wrong_password_is_refused(
    make_app: Any, s3_server: S3Server, s3_bucket: str
) -> None:
    app = make_app(files=20, total_bytes=MIB)
    (app.data / f"{MARKER}.txt").write_text(MARKER * 100)
    fill_databases(app.env)
    folder = backup_folder("team", "wiki", "b1")
    env = app.backup_env(s3_server, s3_bucket, folder, password="the right one")
    assert run_program("create", {**env, "CLOUDRON_BACKUP_RECORD": _record(app, "b1")}).returncode == 0

    stored = _stored_objects(s3_server, s3_bucket)
    parts = {key: body for key, body in stored.items() if not key.endswith(INDEX_NAME)}
    assert sorted(key.rsplit("/", 1)[1] for key in parts) == [
        "files.tar",
        "mysql.sql",
        "postgresql.sql",
        "redis.keys",
    ]
    for key, body in parts.items():
        assert MARKER.encode() not in body, key
        assert b"f1.dat" not in body, key  # no file name either
    before = fingerprint(app.data)
    wreck_databases(app.env)
    wrecked = database_state(app.env)

    refused = run_program("restore", {**env, "CLOUDRON_BACKUP_PASSWORD": "a wrong one"})
    assert refused.returncode == 1
    assert "wrong encryption password" in refused.stderr
    assert database_state(app.env) == wrecked and fingerprint(app.data) == before


@pytest.mark.parametrize("damage", ["truncated", "corrupted", "chunk-dropped"])
@pytest.mark.parametrize("password", [None, "secret"])
def test_a_damaged_backup_is_refused_and_the_app_left_as_it_was(
    make_app: Any, s3_server: S3Server, s3_bucket: str, damage: str, password: str | None
) -> None:
    app = make_app(files=30, total_bytes=3 * MIB)
    fill_databases(app.env)
    folder = backup_folder("team", "wiki", "b1")
    env = app.backup_env(s3_server, s3_bucket, folder, password=password)
    assert run_program("create", {**env, "CLOUDRON_BACKUP_RECORD": _record(app, "b1")}).returncode == 0
    client = s3_client(s3_server)
    for part in ("files.tar", "postgresql.sql"):
        key = f"cluster-a/{folder}{part}"
        body = client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
        if damage == "truncated":
            body = body[: len(body) - 100]
        elif damage == "corrupted":
            middle = len(body) // 2
            body = body[:middle] + bytes([body[middle] ^ 0x40]) + body[middle + 1 :]
        else:
            body = body[:8] + body[8 + 1024 * 1024 + 16 :] if len(body) > 2 * MIB else body[:-50]
        client.put_object(Bucket=s3_bucket, Key=key, Body=body)
    change_everything(app.data)
    wreck_databases(app.env)
    files, databases = fingerprint(app.data), database_state(app.env)

    refused = run_program("restore", env)
    assert refused.returncode == 1, refused.stdout
    assert any(word in refused.stderr for word in ("corrupted", "truncated")), refused.stderr
    assert fingerprint(app.data) == files
    assert database_state(app.env) == databases


def test_a_killed_backup_never_looks_complete_and_the_next_one_succeeds(
    make_app: Any, s3_server: S3Server, s3_bucket: str
) -> None:
    app = make_app(files=400, total_bytes=60 * MIB)
    fill_databases(app.env)
    client = s3_client(s3_server)

    def start(name: str, password: str | None) -> tuple[subprocess.Popen[bytes], str]:
        folder = backup_folder("team", "wiki", name)
        env = app.backup_env(s3_server, s3_bucket, folder, password)
        process = subprocess.Popen(
            [sys.executable, "-m", "cloudron_operator", "backup", "create"],
            env={"PATH": os.environ["PATH"], **env, "CLOUDRON_BACKUP_RECORD": _record(app, name)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return process, folder

    def indexed(folder: str) -> int:
        return int(
            client.list_objects_v2(Bucket=s3_bucket, Prefix=f"cluster-a/{folder}{INDEX_NAME}").get(
                "KeyCount", 0
            )
        )

    began = time.monotonic()
    whole, folder = start("whole", "pw")
    assert whole.wait(300) == 0
    duration = time.monotonic() - began
    assert indexed(folder) == 1

    def complete(folder: str) -> bool:
        """The index exists, and every part it lists is in the store with its size and checksum."""
        body = client.get_object(Bucket=s3_bucket, Key=f"cluster-a/{folder}{INDEX_NAME}")["Body"].read()
        for part in json.loads(body)["objects"]:
            stored = client.get_object(Bucket=s3_bucket, Key=f"cluster-a/{folder}{part['name']}")[
                "Body"
            ].read()
            if (len(stored), hashlib.sha256(stored).hexdigest()) != (part["size"], part["sha256"]):
                return False
        return True

    rng = random.Random(3)
    kills = finished_first = 0
    while kills < 10:
        attempt = kills + finished_first
        process, folder = start(f"killed-{attempt}", "pw" if attempt % 2 else None)
        time.sleep(rng.uniform(0.05, 0.9) * duration)  # from start-up to the last part's upload
        process.send_signal(signal.SIGKILL)
        process.wait()
        if indexed(folder):
            # It wrote its index before the signal came (it may still have been exiting): then the
            # backup is whole. A killed backup may never be listed complete; a complete one may.
            assert complete(folder), f"attempt {attempt}: an index lists parts that are not whole"
            finished_first += 1
            assert finished_first < 10, "the backups end too quickly to be killed half-way"
            continue
        kills += 1
        if kills % 3 == 0:  # the same backup again, as a Job's retry: it completes
            retry, _ = start(f"killed-{attempt}", "pw" if attempt % 2 else None)
            assert retry.wait(300) == 0
            assert indexed(folder) == 1 and complete(folder)
    after, folder = start("after", None)
    assert after.wait(300) == 0
    assert indexed(folder) == 1
