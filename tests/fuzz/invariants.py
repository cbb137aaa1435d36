"""The fuzz run's checks, shared by `tests/integration/test_fuzz.py` and `python -m bench.fuzz`.

`FuzzRun` sends generated objects to the real API server in batches, many at once, and holds:

1. each object is refused with 422 naming the field (details.causes[].field, or the message), or
   accepted and then settles: Ready True, or False with a reason, for its current generation;
2. the operator never loops: no object gets more than `max_writes` writes (resourceVersion changes,
   counted from a watch) before its deletion, nor more than `max_writes_settled` once it settled,
   through a hold window longer than a resync; every deleted object is gone soon after;
3. the operator never crashes (no restart) and logs no traceback and no secret;
4. no generated string reaches SQL, LDAP or a shell unescaped: a canary table in the real
   PostgreSQL and MariaDB servers is still there and no database, role or user of a foreign shape
   appeared (`SqlProbe`); every DN of the real slapd is of the directory's own grammar and each
   user's attributes hold their spec's text exactly (`LdapProbe`); each seed script the operator
   wrote (runtimeDirs, persistentDirs) is run by a real /bin/sh in a mount namespace and no canary
   file appears, and each scheduler CronJob runs exactly the manifest's command (`ShellProbe`).
"""

from __future__ import annotations

import base64
import json
import math
import re
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import ldap3
import psycopg2
import pymysql
import urllib3
from kubernetes import client

from cloudron_operator.k8s import api as k8s
from cloudron_operator.k8s.resources import kind_of
from cloudron_operator.models import API_VERSION
from cloudron_operator.models.user import NAME_PATTERN
from cloudron_operator.provisioners.naming import MYSQL_DATABASE, MYSQL_USER, PG_DATABASE, PG_ROLE
from tests.fuzz.strategies import CANARY_PREFIX, CANARY_TABLE, FuzzContext, FuzzObject, Kind, allow_deep
from tests.harness.databases import DatabaseServer
from tests.harness.ldap import ADMIN_DN, LdapServer
from tests.harness.operator_process import OperatorProcess

PLURALS: Final[dict[Kind, str]] = {
    "CloudronApp": "cloudronapps",
    "Addon": "addons",
    "CloudronUser": "cloudronusers",
}
CANARY_DIR: Final = Path("/tmp")  # noqa: S108 - where the shell canary would appear
FIELD_IN_MESSAGE: Final = re.compile(r"\b((?:spec|metadata)(?:\.[A-Za-z0-9_$-]+|\[[^\]]*\])*)")
GO_FIELD: Final = re.compile(r"Go struct field ObjectMeta\.(\w+)")
# What a refusal may be: a 422 from validation, or the 400 of the typed decoding of metadata.
REFUSALS: Final = (422, 400)
TRACEBACK_MARKERS: Final = ("Traceback (most recent call last)", "failed with an exception")
STARTING_MARKER: Final = "--- operator starting ---"
SECRET_TOKEN: Final = re.compile(r"[A-Za-z0-9_+/=-]{12,}")
Factory = Callable[[], client.ApiClient]


@dataclass(frozen=True)
class RunSettings:
    batch_size: int = 100
    settle_timeout: float = 120.0  # an accepted object not settled by then is a violation
    hold_seconds: float = 12.0  # after settling: at least one resync of every app (`resync_seconds`)
    delete_timeout: float = 90.0
    max_writes: int = 30  # resourceVersion changes of one object before its deletion
    max_writes_settled: int = 6  # of those, after it first settled (a certificate issued, pods Ready)
    workers: int = 4  # client threads that create and delete


@dataclass
class Outcome:
    kind: Kind
    level: str
    name: str
    mutations: tuple[str, ...]
    refused_status: int | None = None
    fields: tuple[str, ...] = ()
    message: str = ""
    uid: str | None = None
    ready: str | None = None  # "True" / "False" once settled
    reason: str = ""
    detail: str = ""  # Ready's message, when False
    settled_at: float | None = None
    writes: int = 0
    writes_settled: int = 0

    @property
    def accepted(self) -> bool:
        return self.uid is not None


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    probes: dict[str, str] = field(default_factory=dict)  # probe -> what it found
    log_figures: dict[str, int] = field(default_factory=dict)
    log_examples: list[str] = field(default_factory=list)  # distinct ERROR lines but retries
    restarts: int = 0
    elapsed: float = 0.0
    settings: RunSettings = field(default_factory=RunSettings)

    def violation(self, text: str) -> None:
        self.violations.append(text if len(text) <= 2000 else text[:1997] + "...")

    def render(self) -> str:
        """The figures, as the long run prints them."""
        by_kind = Counter(o.kind for o in self.outcomes)
        lines = [f"objects generated: {len(self.outcomes)} ({_counts(by_kind)})"]
        lines.append("  by level: " + _counts(Counter(f"{o.kind}/{o.level}" for o in self.outcomes)))
        refused = [o for o in self.outcomes if o.refused_status is not None]
        lines.append(
            f"refused by the API server: {len(refused)} ({_counts(Counter(o.kind for o in refused))})"
        )
        statuses = Counter(str(o.refused_status) for o in refused)
        lines.append(f"  by status: {_counts(statuses)}")
        fields = Counter(_field_family(f) for o in refused for f in o.fields[:1])
        lines.append(f"  field named (first, top 15): {_counts(Counter(dict(fields.most_common(15))))}")
        unnamed = sum(1 for o in refused if not o.fields)
        lines.append(f"  refused without a field named: {unnamed}")
        accepted = [o for o in self.outcomes if o.accepted]
        lines.append(f"accepted: {len(accepted)}")
        for kind in PLURALS:
            mine = [o for o in accepted if o.kind == kind]
            true = sum(1 for o in mine if o.ready == "True")
            false = Counter(o.reason for o in mine if o.ready == "False")
            unsettled = sum(1 for o in mine if o.ready is None)
            lines.append(
                f"  {kind}: {len(mine)}; Ready=True {true}; Ready=False {sum(false.values())}"
                f" ({_counts(false)}); never settled {unsettled}"
            )
        examples = {(o.kind, o.reason): o for o in accepted if o.ready == "False"}
        lines.append("  an example of each Ready=False reason:")
        for (kind, reason), o in sorted(examples.items()):
            change = "; ".join(o.mutations) or "valid"
            lines.append(f"    {kind} {reason} ({o.level}: {change[:100]}): {o.detail[:200]}")
        lines += self._writes(accepted)
        lines.append(f"operator restarts: {self.restarts}")
        lines.append(
            "operator log: " + ", ".join(f"{name} {count}" for name, count in self.log_figures.items())
        )
        lines += [f"  ERROR: {example}" for example in self.log_examples]
        lines.append("injection probes:")
        lines += [f"  {name}: {found}" for name, found in self.probes.items()]
        lines.append(
            f"elapsed: {self.elapsed:.0f} s "
            f"({60 * len(self.outcomes) / max(self.elapsed, 1):.0f} objects/min)"
        )
        lines.append(f"violations: {len(self.violations)}")
        lines += [f"  - {text}" for text in self.violations[:50]]
        if len(self.violations) > 50:
            lines.append(f"  ... and {len(self.violations) - 50} more")
        return "\n".join(lines)

    def _writes(self, accepted: Sequence[Outcome]) -> list[str]:
        settings = self.settings
        lines = [
            f"writes per accepted object (bound {settings.max_writes}; after settling, through a hold of "
            f"{settings.hold_seconds:.0f} s, bound {settings.max_writes_settled}):"
        ]
        for kind in PLURALS:
            writes = sorted(o.writes for o in accepted if o.kind == kind)
            settled = sorted(o.writes_settled for o in accepted if o.kind == kind)
            if writes:
                lines.append(
                    f"  {kind}: max {writes[-1]}, p99 {_p99(writes)}, median {writes[len(writes) // 2]};"
                    f" after settling max {settled[-1]}, p99 {_p99(settled)}"
                )
        return lines


def _counts(counter: Mapping[Any, int]) -> str:
    return ", ".join(f"{key} {count}" for key, count in sorted(counter.items(), key=lambda kv: -kv[1])) or "-"


def _p99(values: Sequence[int]) -> int:
    return values[min(len(values) - 1, math.ceil(0.99 * len(values)) - 1)]


def _field_family(field_path: str) -> str:
    """spec.manifest.addons.x[0] -> spec.manifest: what the report groups refusals by."""
    parts = re.sub(r"\[[^\]]*\]", "", field_path).split(".")
    return ".".join(parts[:2])


# --- the API server -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    status: int
    fields: tuple[str, ...]
    message: str


def create(api: client.ApiClient, obj: FuzzObject, namespace: str) -> dict[str, Any] | Refusal:
    """POST the object as a user's client would; the API server's refusal as it answered.

    The JSON is written here, not by the kubernetes client, which cannot encode the deepest nesting
    the strategies make (its serialisation is recursive).
    """
    path = kind_of(API_VERSION, obj.kind).path(namespace if obj.kind == "CloudronApp" else None)
    text = encode(obj.body)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    token = (api.configuration.api_key or {}).get("authorization")
    if token:
        prefix = (api.configuration.api_key_prefix or {}).get("authorization", "Bearer")
        headers["Authorization"] = f"{prefix} {token}"
    try:
        response = api.rest_client.pool_manager.request(
            "POST",
            api.configuration.host + path,
            body=text,
            headers=headers,
            timeout=urllib3.Timeout(10, 120),
        )
    except (OSError, urllib3.exceptions.HTTPError) as error:
        return Refusal(0, (), f"no answer: {error}")
    if response.status >= 300:
        return refusal(int(response.status), response.data, str(response.reason or ""))
    created: dict[str, Any] = json.loads(response.data)
    return created


def encode(value: Any) -> bytes:
    """JSON as a client sends it (ASCII, so a lone surrogate goes as its escape), however deep."""
    allow_deep()
    return json.dumps(value, ensure_ascii=True).encode()


def refusal(status: int, body: Any, reason: str) -> Refusal:
    """The fields a refusal names: its Status' causes, else the field paths its message names."""
    try:
        answer = json.loads(body) if body else {}
    except ValueError:
        answer = {}
    answer = answer if isinstance(answer, dict) else {}
    causes = (answer.get("details") or {}).get("causes") or []
    fields = tuple(dict.fromkeys(str(c["field"]) for c in causes if isinstance(c, dict) and c.get("field")))
    message = str(answer.get("message") or reason or body or "")
    if not fields:
        fields = tuple(dict.fromkeys(FIELD_IN_MESSAGE.findall(message)))
    if not fields and (typed := GO_FIELD.search(message)):
        # The API server decodes metadata into Go structs before any validation: a value of the
        # wrong type there is a 400 that names the struct field (ObjectMeta.name).
        fields = (f"metadata.{typed.group(1)}",)
    return Refusal(status, fields, message)


def ready_message(obj: Mapping[str, Any]) -> str:
    status = obj.get("status") or {}
    ready: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {}
    )
    return str(ready.get("message") or "")


def ready_condition(obj: Mapping[str, Any]) -> tuple[str | None, str]:
    """Ready's status and reason once the object settled for its generation; (None, '') before."""
    status = obj.get("status") or {}
    generation = obj.get("metadata", {}).get("generation")
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is None or ready.get("status") not in ("True", "False") or not ready.get("reason"):
        return None, ""
    observed = status.get("observedGeneration", ready.get("observedGeneration"))
    if observed != generation:
        return None, ""
    return str(ready["status"]), str(ready["reason"])


class WriteCounter:
    """Every object's writes of one kind, from a watch: the times of its resourceVersion changes
    (creation excluded) until its deletion begins."""

    def __init__(self, factory: Factory, kind: Kind, namespace: str | None) -> None:
        self.factory, self.kind = factory, kind
        self.path = kind_of(API_VERSION, kind).path(namespace if kind == "CloudronApp" else None)
        self.writes: dict[str, list[float]] = defaultdict(list)
        self.latest: dict[str, dict[str, Any]] = {}  # uid -> the object as last seen
        self.gone: set[str] = set()
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"fuzz-watch-{kind}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=40)

    def of(self, uid: str) -> list[float]:
        with self._lock:
            return list(self.writes.get(uid, ()))

    def seen(self, uid: str) -> dict[str, Any] | None:
        with self._lock:
            return self.latest.get(uid)

    def is_gone(self, uid: str) -> bool:
        with self._lock:
            return uid in self.gone

    def forget(self, uid: str) -> None:
        with self._lock:
            self.writes.pop(uid, None)
            self.latest.pop(uid, None)
            self.gone.discard(uid)

    def _run(self) -> None:
        api = self.factory()
        try:
            version = self._list_version(api)
            while not self._stop.is_set():
                try:
                    version = self._follow(api, version)
                except k8s.ApiError as error:
                    if error.status != 410 and not error.retriable:
                        self.errors.append(str(error))
                    time.sleep(0.5)
                    version = self._list_version(api)
                except RecursionError as error:  # should an object too deep for Python be stored
                    self.errors.append(f"an event too deep to decode: {error}")
                    version = self._list_version(api)
        finally:
            api.close()

    def _list_version(self, api: client.ApiClient) -> str:
        return str(k8s.request(api, "GET", self.path, query=[("limit", "1")])["metadata"]["resourceVersion"])

    def _follow(self, api: client.ApiClient, version: str) -> str:
        for event in k8s.watch(api, self.path, resource_version=version, timeout_seconds=20):
            obj = event.get("object") or {}
            if event.get("type") == "ERROR":
                raise k8s.ApiError(int(obj.get("code") or 0), str(obj.get("reason")), str(obj.get("message")))
            meta = obj.get("metadata") or {}
            version = str(meta.get("resourceVersion") or version)
            kind, uid = event.get("type"), str(meta.get("uid"))
            with self._lock:
                if kind == "MODIFIED" and not meta.get("deletionTimestamp"):
                    self.writes[uid].append(time.monotonic())
                if kind in ("ADDED", "MODIFIED"):
                    self.latest[uid] = obj
                elif kind == "DELETED":
                    self.latest.pop(uid, None)
                    self.gone.add(uid)
            if self._stop.is_set():
                break
        return version


# --- the probes ------------------------------------------------------------------------------------------


class SqlProbe:
    """Canaries in the real PostgreSQL and MariaDB servers, planted before and looked for after: a
    table (and a database) an injected DROP would remove, and the names that were there."""

    def __init__(self, postgres: DatabaseServer, mariadb: DatabaseServer) -> None:
        self.postgres, self.mariadb = postgres, mariadb
        self.before: dict[str, set[str]] = {}

    def plant(self) -> None:
        with closing(self._pg()) as conn, conn.cursor() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {CANARY_TABLE} (id int)")
            cur.execute(f"DELETE FROM {CANARY_TABLE}")  # noqa: S608 - a constant name
            cur.execute(f"INSERT INTO {CANARY_TABLE} VALUES (1)")  # noqa: S608 - a constant name
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (CANARY_TABLE,))
            if cur.fetchone() is None:
                cur.execute(f"CREATE DATABASE {CANARY_TABLE}")
        with closing(self._mysql()) as conn, conn.cursor() as my:
            my.execute(f"CREATE DATABASE IF NOT EXISTS {CANARY_TABLE}")
            my.execute(f"CREATE TABLE IF NOT EXISTS {CANARY_TABLE}.{CANARY_TABLE} (id int)")
            my.execute(f"DELETE FROM {CANARY_TABLE}.{CANARY_TABLE}")  # noqa: S608 - a constant name
            my.execute(f"INSERT INTO {CANARY_TABLE}.{CANARY_TABLE} VALUES (1)")  # noqa: S608 - a constant name
        self.before = self.names()

    def names(self) -> dict[str, set[str]]:
        with closing(self._pg()) as conn, conn.cursor() as cur:
            cur.execute("SELECT rolname FROM pg_roles")
            roles = {str(r[0]) for r in cur.fetchall()}
            cur.execute("SELECT datname FROM pg_database")
            databases = {str(r[0]) for r in cur.fetchall()}
        with closing(self._mysql()) as conn, conn.cursor() as my:
            my.execute("SELECT CONCAT(User, '@', Host) FROM mysql.user")
            users = {str(r[0]) for r in my.fetchall()}
            my.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
            schemas = {str(r[0]) for r in my.fetchall()}
        return {"pg roles": roles, "pg databases": databases, "mysql users": users, "mysql schemas": schemas}

    def check(self) -> tuple[list[str], str]:
        """Violations, and a line for the report."""
        problems: list[str] = []
        with closing(self._pg()) as conn, conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {CANARY_TABLE}")  # noqa: S608 - a constant name
            if _one(cur.fetchone()) != 1:
                problems.append(f"PostgreSQL: {CANARY_TABLE} lost its row")
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (CANARY_TABLE,))
            if cur.fetchone() is None:
                problems.append(f"PostgreSQL: database {CANARY_TABLE} is gone")
        with closing(self._mysql()) as conn, conn.cursor() as my:
            my.execute(f"SELECT count(*) FROM {CANARY_TABLE}.{CANARY_TABLE}")  # noqa: S608 - a constant name
            if _one(my.fetchone()) != 1:
                problems.append(f"MariaDB: {CANARY_TABLE}.{CANARY_TABLE} lost its row")
        shapes = {
            "pg roles": (PG_ROLE,),
            "pg databases": (PG_DATABASE,),
            "mysql users": (re.compile(MYSQL_USER.pattern + "@%"),),
            "mysql schemas": (MYSQL_DATABASE,),
        }
        now = self.names()
        new = 0
        for what, names in now.items():
            for name in sorted(names - self.before.get(what, set())):
                new += 1
                if not any(shape.fullmatch(name) for shape in shapes[what]):
                    problems.append(f"{what}: {name!r} is of no shape the operator makes")
        summary = (
            f"canary tables and databases intact: {not any('lost' in p or 'gone' in p for p in problems)}; "
            f"names left by the run: {new}; of a foreign shape: {sum('shape' in p for p in problems)}"
        )
        return problems, summary

    def _pg(self) -> Any:
        conn = psycopg2.connect(
            host=self.postgres.host,
            port=self.postgres.port,
            user=self.postgres.admin_user,
            password=self.postgres.admin_password,
            dbname="postgres",
            connect_timeout=5,
        )
        conn.autocommit = True
        return conn

    def _mysql(self) -> pymysql.connections.Connection[Any]:
        return pymysql.connect(
            host=self.mariadb.host,
            port=self.mariadb.port,
            user=self.mariadb.admin_user,
            password=self.mariadb.admin_password,
            autocommit=True,
            connect_timeout=5,
        )


def _one(row: Any) -> Any:
    return row[0] if row else None


_UID: Final = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_NAME: Final = NAME_PATTERN.strip("^$")
DIRECTORY_DNS: Final = tuple(
    re.compile(pattern)
    for pattern in (
        r"dc=cloudron",
        r"ou=(apps|people),dc=cloudron",
        rf"cn={_UID},ou=apps,dc=cloudron",
        rf"cn={_NAME},ou=people,dc=cloudron",
        rf"o={_UID},dc=cloudron",
        rf"ou=(users|groups),o={_UID},dc=cloudron",
        rf"cn={_NAME},ou=(users|groups),o={_UID},dc=cloudron",
    )
)


class LdapProbe:
    """The real slapd behind the run's ldap Addon, read as its admin."""

    def __init__(self, server: LdapServer) -> None:
        self.server = server
        self.entries_seen = 0
        self.users_checked = 0

    def _connection(self) -> ldap3.Connection:
        server = ldap3.Server(self.server.host, port=self.server.port)
        return ldap3.Connection(server, ADMIN_DN, self.server.admin_password, auto_bind=True)

    def foreign_dns(self) -> list[str]:
        """Every DN that is not of the directory's own grammar (module doc of directory/dit.py)."""
        with self._connection() as conn:
            conn.search("dc=cloudron", "(objectClass=*)", ldap3.SUBTREE, attributes=[])
            dns = [str(e["dn"]).lower() for e in conn.response or [] if e.get("type") == "searchResEntry"]
        self.entries_seen = max(self.entries_seen, len(dns))
        return [dn for dn in dns if not any(p.fullmatch(dn) for p in DIRECTORY_DNS)]

    def mismatches(self, users: Iterable[Mapping[str, Any]]) -> list[str]:
        """Users (as the API server stored them, Ready=True and active) whose entry under ou=people
        does not hold their spec's text exactly."""
        problems: list[str] = []
        with self._connection() as conn:
            for user in users:
                spec = user.get("spec") or {}
                username = str(spec.get("username"))
                conn.search(
                    f"cn={username},ou=people,dc=cloudron", "(objectClass=*)", ldap3.BASE, attributes=["*"]
                )
                found = [e for e in conn.response or [] if e.get("type") == "searchResEntry"]
                self.users_checked += 1
                if not found:
                    problems.append(f"CloudronUser {username} is Ready but has no entry under ou=people")
                    continue
                attributes = {k.lower(): v for k, v in found[0]["raw_attributes"].items()}
                display = spec.get("displayName")
                shown = display if isinstance(display, str) and display.strip() else username
                expected = {"mail": spec.get("email"), "displayname": shown}
                for attribute, want in expected.items():
                    got = [value.decode("utf-8", "replace") for value in attributes.get(attribute, [])]
                    if got != [want]:
                        problems.append(
                            f"CloudronUser {username}: {attribute} is {got!r}, the spec says {want!r}"
                        )
        return problems


class ShellProbe:
    """The shell commands the operator wrote, run where a successful injection would show."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.scripts_run = 0
        self.cronjobs_checked = 0

    @staticmethod
    def clear() -> None:
        for stale in CANARY_DIR.glob(f"{CANARY_PREFIX}*"):
            stale.unlink()

    @staticmethod
    def canaries() -> list[str]:
        return sorted(str(p) for p in CANARY_DIR.glob(f"{CANARY_PREFIX}*"))

    def run_seed_script(self, script: str) -> None:
        """The seed init container's script, by a real /bin/sh, in a mount namespace of its own:
        /root, /home and /var/lib are empty there (the script copies from them), the volumes it
        fills are a scratch directory; /tmp is the real one, where a canary would appear."""
        scratch = Path(tempfile.mkdtemp(prefix="fuzz-seed-", dir=self.work))
        rewritten = script.replace("/seed-persistent", f"{scratch}/persistent").replace(
            "/seed/", f"{scratch}/"
        )
        (scratch / "persistent").mkdir()
        for index in range(64):
            (scratch / str(index)).mkdir()
        (scratch / "script.sh").write_text(rewritten)
        isolate = "mount -t tmpfs none /root && mount -t tmpfs none /home && mount -t tmpfs none /var/lib"
        subprocess.run(
            [
                "unshare",
                "--mount",
                "--fork",
                "/bin/sh",
                "-c",
                f'{isolate} && exec /bin/sh "$1"',
                "sh",
                str(scratch / "script.sh"),
            ],
            capture_output=True,
            timeout=30,
            check=False,
        )
        self.scripts_run += 1
        subprocess.run(["rm", "-rf", str(scratch)], check=False)

    def check_cronjob(self, cronjob: Mapping[str, Any], tasks: Mapping[str, Any]) -> str | None:
        self.cronjobs_checked += 1
        containers = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        command = containers[0].get("command")
        commands = {str(task.get("command")) for task in tasks.values() if isinstance(task, Mapping)}
        if not (isinstance(command, list) and len(command) == 3 and command[:2] == ["/bin/sh", "-c"]):
            return (
                f"CronJob {cronjob['metadata']['name']} runs {command!r}, not /bin/sh -c <the task's command>"
            )
        if command[2] not in commands:
            name = cronjob["metadata"]["name"]
            return f"CronJob {name} runs {command[2]!r}, which no task of the manifest has"
        return None


# --- the run ----------------------------------------------------------------------------------------------


@dataclass
class FuzzEnv:
    """What a run works against: a client factory, the namespace, the operator and the probes."""

    factory: Factory
    context: FuzzContext
    operator: OperatorProcess
    sql: SqlProbe
    ldap: LdapProbe
    shell: ShellProbe
    admin_passwords: tuple[str, ...] = ()


class FuzzRun:
    def __init__(self, env: FuzzEnv, settings: RunSettings, say: Callable[[str], None] = print) -> None:
        self.env, self.settings, self.say = env, settings, say
        self.report = Report(settings=settings)
        allow_deep()  # the watches and lists decode what the API server stored, however deep
        self.api = env.factory()
        self.secrets_seen: set[str] = set(env.admin_passwords)
        namespace = env.context.namespace
        self.counters = {kind: WriteCounter(env.factory, kind, namespace) for kind in PLURALS}

    def run(self, batches: Iterable[Sequence[FuzzObject]]) -> Report:
        started = time.monotonic()
        self.env.shell.clear()
        self.env.sql.plant()
        for counter in self.counters.values():
            counter.start()
        time.sleep(1.0)  # the watches are open before the first object
        try:
            for number, batch in enumerate(batches, 1):
                self._batch(number, batch)
        finally:
            for counter in self.counters.values():
                counter.stop()
            self.report.elapsed = time.monotonic() - started
            self._final_checks()
            self.api.close()
        return self.report

    def _batch(self, number: int, batch: Sequence[FuzzObject]) -> None:
        began = time.monotonic()
        outcomes = [Outcome(o.kind, o.level, o.name, o.mutations) for o in batch]
        with ThreadPoolExecutor(self.settings.workers) as pool:
            answers = list(pool.map(lambda o: create(self.api, o, self.env.context.namespace), batch))
        created: dict[str, tuple[Outcome, FuzzObject]] = {}
        for outcome, obj, answer in zip(outcomes, batch, answers, strict=True):
            if isinstance(answer, Refusal):
                self._refused(outcome, obj, answer)
            else:
                outcome.uid = str(answer["metadata"]["uid"])
                outcome.name = str(answer["metadata"]["name"])
                created[outcome.uid] = (outcome, obj)
        seen = self._settle(created)
        self._checks(created, seen)
        self._delete(created)
        self.report.outcomes += outcomes
        refused = sum(1 for o in outcomes if o.refused_status is not None)
        ready = Counter(o.ready for o in outcomes if o.accepted)
        self.say(
            f"batch {number}: {len(batch)} objects, {refused} refused, Ready=True {ready['True']}, "
            f"Ready=False {ready['False']}, unsettled {ready[None]}, {time.monotonic() - began:.0f} s, "
            f"violations so far {len(self.report.violations)}"
        )

    def _refused(self, outcome: Outcome, obj: FuzzObject, answer: Refusal) -> None:
        outcome.refused_status, outcome.fields, outcome.message = answer.status, answer.fields, answer.message
        if (
            answer.status not in REFUSALS
            or not answer.fields
            or (answer.status == 400 and not _typed(answer))
        ):
            self.report.violation(
                f"{obj.kind} {obj.level} ({'; '.join(obj.mutations) or 'no change'}) refused with "
                f"{answer.status} and fields {list(answer.fields)}: {answer.message[:300]} | "
                f"body {_excerpt(obj.body)}"
            )

    def _settle(self, created: Mapping[str, tuple[Outcome, FuzzObject]]) -> dict[str, dict[str, Any]]:
        """Wait until every created object settled, then hold; the objects as last listed."""
        deadline = time.monotonic() + self.settings.settle_timeout
        hold_until: float | None = None
        seen: dict[str, dict[str, Any]] = {}
        while True:
            bind_claims(self.api, self.env.context.namespace)
            seen = self._seen(created)
            now = time.monotonic()
            for uid, (outcome, _) in created.items():
                ready, reason = ready_condition(seen.get(uid, {}))
                if ready is None:
                    continue  # not yet, or a moment between two writes: the last settled state stands
                outcome.settled_at = outcome.settled_at or now
                outcome.ready, outcome.reason = ready, reason
                outcome.detail = ready_message(seen[uid])[:300] if ready == "False" else ""
            if hold_until is None and all(o.settled_at is not None for o, _ in created.values()):
                hold_until = now + self.settings.hold_seconds
            if hold_until is not None and now >= hold_until:
                return seen
            if hold_until is None and now >= deadline:
                return {**seen, **self._list(set(created))}  # the watch's copies, confirmed
            time.sleep(1.0)

    def _seen(self, created: Mapping[str, tuple[Outcome, FuzzObject]]) -> dict[str, dict[str, Any]]:
        found = {uid: self.counters[obj.kind].seen(uid) for uid, (_, obj) in created.items()}
        return {uid: obj for uid, obj in found.items() if obj is not None}

    def _list(self, uids: set[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for kind in PLURALS:
            namespace = self.env.context.namespace if kind == "CloudronApp" else None
            for item in k8s.list_objects(self.api, API_VERSION, kind, namespace):
                uid = str(item["metadata"]["uid"])
                if uid in uids:
                    found[uid] = item
        return found

    def _checks(
        self, created: Mapping[str, tuple[Outcome, FuzzObject]], seen: Mapping[str, dict[str, Any]]
    ) -> None:
        for uid, (outcome, obj) in created.items():
            writes = self.counters[obj.kind].of(uid)
            outcome.writes = len(writes)
            if outcome.settled_at is not None:
                outcome.writes_settled = sum(1 for t in writes if t > outcome.settled_at)
            if outcome.ready is None:
                status = (seen.get(uid) or {}).get("status") or {}
                self.report.violation(
                    f"{obj.kind} {outcome.name} ({obj.level}; {'; '.join(obj.mutations) or 'no change'}) "
                    f"never settled in {self.settings.settle_timeout:.0f} s: status {_excerpt(status)}"
                )
            if (
                outcome.writes > self.settings.max_writes
                or outcome.writes_settled > self.settings.max_writes_settled
            ):
                self.report.violation(
                    f"{obj.kind} {outcome.name}: {outcome.writes} writes, {outcome.writes_settled} after it "
                    f"settled ({outcome.ready} {outcome.reason}); body {_excerpt(obj.body)}"
                )
        self._shell_checks(created, seen)
        self._ldap_checks(created, seen)
        self._collect_secrets()

    def _shell_checks(
        self, created: Mapping[str, tuple[Outcome, FuzzObject]], seen: Mapping[str, dict[str, Any]]
    ) -> None:
        namespace = self.env.context.namespace
        apps = {uid: seen[uid] for uid, (o, _) in created.items() if o.kind == "CloudronApp" and uid in seen}
        if not apps:
            return
        for deployment in k8s.list_objects(self.api, "apps/v1", "Deployment", namespace):
            if _owner(deployment) not in apps:
                continue
            for container in deployment["spec"]["template"]["spec"].get("initContainers", []):
                if container["name"] == "seed-runtime-dirs":
                    self.env.shell.run_seed_script(str(container["command"][2]))
        for cronjob in k8s.list_objects(self.api, "batch/v1", "CronJob", namespace):
            app = apps.get(_owner(cronjob) or "")
            if app is None:
                continue
            tasks = ((app["spec"].get("manifest") or {}).get("addons") or {}).get("scheduler") or {}
            problem = self.env.shell.check_cronjob(cronjob, tasks)
            if problem:
                self.report.violation(problem)
        if canaries := self.env.shell.canaries():
            self.report.violation(f"a shell ran an injected command: {canaries} exist")
            self.env.shell.clear()

    def _ldap_checks(
        self, created: Mapping[str, tuple[Outcome, FuzzObject]], seen: Mapping[str, dict[str, Any]]
    ) -> None:
        users = [
            seen[uid]
            for uid, (outcome, _) in created.items()
            if outcome.kind == "CloudronUser"
            and outcome.ready == "True"
            and uid in seen
            and (seen[uid].get("spec") or {}).get("active", True) is True
        ]
        for problem in self.env.ldap.mismatches(users):
            self.report.violation(f"LDAP: {problem}")
        for dn in self.env.ldap.foreign_dns():
            self.report.violation(f"LDAP: the directory holds {dn!r}, of no shape the operator makes")

    def _collect_secrets(self) -> None:
        """The apps' generated credentials, to look for in the operator's log at the end."""
        for secret in k8s.list_objects(self.api, "v1", "Secret", self.env.context.namespace):
            for key, value in (secret.get("data") or {}).items():
                if any(word in key.upper() for word in ("PASSWORD", "SECRET", "TOKEN")):
                    text = base64.b64decode(value).decode("utf-8", "replace")
                    if len(text) >= 12 and len(self.secrets_seen) < 50_000:
                        self.secrets_seen.add(text)

    def _delete(self, created: Mapping[str, tuple[Outcome, FuzzObject]]) -> None:
        namespace = self.env.context.namespace

        def delete(item: tuple[Outcome, FuzzObject]) -> None:
            outcome, obj = item
            k8s.delete(
                self.api,
                API_VERSION,
                obj.kind,
                namespace if obj.kind == "CloudronApp" else None,
                outcome.name,
            )

        with ThreadPoolExecutor(self.settings.workers) as pool:
            list(pool.map(delete, created.values()))
        deadline = time.monotonic() + self.settings.delete_timeout
        left = set(created)
        while left and time.monotonic() < deadline:
            left = {uid for uid in left if not self.counters[created[uid][1].kind].is_gone(uid)}
            if left:
                time.sleep(0.5)
        left &= set(self._list(left))  # confirmed by a list: the watch may have missed the last event
        for uid in left:
            outcome, obj = created[uid]
            self.report.violation(
                f"{obj.kind} {outcome.name} still there "
                f"{self.settings.delete_timeout:.0f} s after its deletion"
            )
        for uid, (_, obj) in created.items():
            self.counters[obj.kind].forget(uid)
        release_volumes(self.api, namespace)

    def _final_checks(self) -> None:
        report = self.report
        operator = self.env.operator
        log = operator.log.read_text(errors="replace") if operator.log.exists() else ""
        report.restarts = max(0, log.count(STARTING_MARKER) - 1) + (0 if operator.is_running() else 1)
        if report.restarts:
            report.violation(f"the operator restarted or exited ({report.restarts})")
        lines = log.splitlines()
        tracebacks = [i for i, line in enumerate(lines) if any(m in line for m in TRACEBACK_MARKERS)]
        report.log_figures = {
            "lines": len(lines),
            "tracebacks": sum(1 for i in tracebacks if TRACEBACK_MARKERS[0] in lines[i]),
            "handler failures": sum(1 for i in tracebacks if TRACEBACK_MARKERS[1] in lines[i]),
            "handlers retried (failed temporarily)": sum(1 for line in lines if "failed temporarily" in line),
        }
        errors = [line for line in lines if _is_error(line) and "failed temporarily" not in line]
        report.log_figures["other ERROR lines"] = len(errors)
        report.log_examples = list(dict.fromkeys(_what(line) for line in errors))[:8]
        for (exception, frame), (count, first) in traceback_kinds(lines).items():
            report.violation(
                f"the operator's log has {count} traceback(s) of {exception} at {frame} "
                f"(first at line {first})"
            )
        leaked = {token for line in lines for token in SECRET_TOKEN.findall(line)} & self.secrets_seen
        report.log_figures["secrets looked for"] = len(self.secrets_seen)
        report.log_figures["secrets found"] = len(leaked)
        if leaked:
            report.violation(f"the operator's log holds {len(leaked)} secret(s) the run's Secrets have")
        for kind, counter in self.counters.items():
            for error in counter.errors[:3]:
                report.violation(f"the watch of {kind} failed: {error}")
        problems, summary = self.env.sql.check()
        report.probes["SQL (PostgreSQL, MariaDB)"] = summary
        for problem in problems:
            report.violation(f"SQL: {problem}")
        foreign = self.env.ldap.foreign_dns()
        report.probes["LDAP (slapd)"] = (
            f"entries seen at most {self.env.ldap.entries_seen}; users' attributes checked "
            f"{self.env.ldap.users_checked}; DNs of a foreign shape now {len(foreign)}"
        )
        canaries = self.env.shell.canaries()
        report.probes["shell"] = (
            f"seed scripts run by /bin/sh {self.env.shell.scripts_run}; CronJob commands checked "
            f"{self.env.shell.cronjobs_checked}; canary files {len(canaries)}"
        )
        if canaries:
            report.violation(f"a shell ran an injected command: {canaries} exist")


def bind_claims(api: client.ApiClient, namespace: str) -> None:
    """Bind each Pending claim of the namespace to a hostPath volume made for it, as a provisioner
    would (the demo's stand-in does the same, tests/harness/stand_ins.py): apps with localstorage
    then run, and go the whole way to Ready. kwok runs no container: the path is never used."""
    for claim in k8s.list_objects(api, "v1", "PersistentVolumeClaim", namespace):
        spec, meta = claim["spec"], claim["metadata"]
        if claim.get("status", {}).get("phase") != "Pending" or spec.get("volumeName"):
            continue
        volume: dict[str, Any] = {
            "capacity": {"storage": spec["resources"]["requests"]["storage"]},
            "accessModes": spec["accessModes"],
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": f"/cloudron-fuzz-volumes/{meta['uid']}"},
            "claimRef": {"namespace": namespace, "name": meta["name"], "uid": meta["uid"]},
        }
        if spec.get("storageClassName"):
            volume["storageClassName"] = spec["storageClassName"]
        name = f"fuzz-{meta['uid']}"
        try:
            k8s.create(
                api,
                {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name}, "spec": volume},
            )
        except k8s.ApiError as error:
            if error.status != 409:
                raise


def release_volumes(api: client.ApiClient, namespace: str) -> None:
    """Delete the volumes `bind_claims` made whose claims are gone: the volume controller looks
    through every volume for each claim, so a long run must not pile them up."""
    for volume in k8s.list_objects(api, "v1", "PersistentVolume", None):
        ref = volume["spec"].get("claimRef") or {}
        phase = (volume.get("status") or {}).get("phase")
        if ref.get("namespace") == namespace and phase in ("Released", "Failed"):
            k8s.delete(api, "v1", "PersistentVolume", None, volume["metadata"]["name"])


def traceback_kinds(lines: Sequence[str]) -> dict[tuple[str, str], tuple[int, int]]:
    """Each kind of traceback in a log (its exception line, its last frame in the operator's own
    code, or else its last frame), with how often and the line of the first."""
    kinds: dict[tuple[str, str], tuple[int, int]] = {}
    index = 0
    while index < len(lines):
        if not lines[index].startswith("Traceback (most recent call last)"):
            index += 1
            continue
        first, frames = index, []
        index += 1
        while index < len(lines) and lines[index].startswith(" "):
            if lines[index].lstrip().startswith("File "):
                frames.append(lines[index].strip())
            index += 1
        exception = lines[index][:200] if index < len(lines) else "(the log ends)"
        ours = [frame for frame in frames if "cloudron_operator" in frame] or frames or ["(no frame)"]
        key = (exception, ours[-1])
        count, seen_first = kinds.get(key, (0, first + 1))
        kinds[key] = (count + 1, seen_first)
    return kinds


def _is_error(line: str) -> bool:
    return " ERROR " in line or "[ERROR" in line or " ERROR:" in line


def _what(line: str) -> str:
    """A log line without its time and object, so that lines of the same kind compare equal."""
    text = re.sub(r"^\S+ \S+\s+", "", line)
    text = re.sub(r"\[[^\]]*/[^\]]*\]", "[ns/name]", text)
    return text[:240]


def _typed(answer: Refusal) -> bool:
    return (
        all(f.startswith("metadata.") for f in answer.fields) and GO_FIELD.search(answer.message) is not None
    )


def _owner(obj: Mapping[str, Any]) -> str | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("kind") == "CloudronApp":
            return str(ref.get("uid"))
    return None


def _excerpt(value: Any, limit: int = 600) -> str:
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


# --- the environment a run needs --------------------------------------------------------------------------

ADDON_TYPES: Final = ("postgresql", "mysql", "redis", "ldap", "sendmail")


def prepare(
    api: client.ApiClient,
    namespace: str,
    *,
    postgres: DatabaseServer,
    mariadb: DatabaseServer,
    ldap: LdapServer,
    smtp_port: int,
    closed_port: int,
) -> FuzzContext:
    """The run's Addons (one per served type, named by the apps, named after the namespace: the
    real PostgreSQL, MariaDB and slapd, an SMTP sink, and Redis which needs no server) and their
    admin Secrets.

    Generated Addons may name the PostgreSQL and MariaDB servers (with these Secrets, or a Secret
    with the password alone, so that `options.adminUser` is the login): never the directory, whose
    tree a second Addon would converge to its own apps.
    """
    names = {addon_type: f"{namespace}-{addon_type}" for addon_type in ADDON_TYPES}
    logins = {
        "postgresql": (postgres.admin_user, postgres.admin_password),
        "mysql": (mariadb.admin_user, mariadb.admin_password),
        "ldap": (ADMIN_DN, ldap.admin_password),
    }
    for addon_type, (user, password) in logins.items():
        k8s.create(api, _secret(names[addon_type], namespace, {"username": user, "password": password}))
    k8s.create(api, _secret("fuzz-pg-password", namespace, {"password": postgres.admin_password}))
    servers = {
        "postgresql": (postgres.host, postgres.port),
        "mysql": (mariadb.host, mariadb.port),
        "ldap": (ldap.host, ldap.port),
    }
    for addon_type, name in names.items():
        spec: dict[str, Any] = {"type": addon_type}
        if addon_type in servers:
            host, port = servers[addon_type]
            ref = {"name": name, "namespace": namespace}
            spec["connection"] = {"host": host, "port": port, "adminSecretRef": ref}
        elif addon_type == "sendmail":  # the harness's SMTP sink, no login
            spec["connection"] = {"host": "127.0.0.1", "port": smtp_port}
        k8s.create(
            api, {"apiVersion": API_VERSION, "kind": "Addon", "metadata": {"name": name}, "spec": spec}
        )
    refs = [{"name": names[t], "namespace": namespace} for t in ("postgresql", "mysql")]
    refs.append({"name": "fuzz-pg-password", "namespace": namespace, "key": "password"})
    return FuzzContext(
        namespace=namespace,
        addon_refs=names,
        ports={"postgresql": postgres.port, "mysql": mariadb.port},
        closed_port=closed_port,
        secret_refs=tuple(refs),
    )


def addons_ready(api: client.ApiClient, context: FuzzContext) -> bool:
    return all(
        ready_condition(k8s.get(api, API_VERSION, "Addon", None, name) or {})[0] == "True"
        for name in context.addon_refs.values()
    )


def remove_addons(api: client.ApiClient, context: FuzzContext) -> None:
    for name in context.addon_refs.values():
        k8s.delete(api, API_VERSION, "Addon", None, name)


def _secret(name: str, namespace: str, values: Mapping[str, str]) -> dict[str, Any]:
    kind = "kubernetes.io/basic-auth" if "username" in values else "Opaque"
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": kind,
        "metadata": {"name": name, "namespace": namespace},
        "stringData": dict(values),
    }


def operator_settings(namespace: str, resync_seconds: float) -> dict[str, str]:
    """The operator's environment for a run: the namespace, the users' Secrets there, a short resync."""
    return {
        "CLOUDRON_OPERATOR_NAMESPACES": namespace,
        "CLOUDRON_OPERATOR_USERS_NAMESPACE": namespace,
        "CLOUDRON_OPERATOR_RESYNC_SECONDS": str(resync_seconds),
    }


@contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port bound and never listened on, so a connection to it is refused while held."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
