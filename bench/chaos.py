"""`python -m bench.chaos [--apps 50] [--minutes 10] [--seed N]`: apps created, changed and deleted
while the operator, the control plane, the database servers and the network to them fail at random.

On a fresh cluster of its own environment (LocalEnv "chaos") with the harness's real PostgreSQL and
MariaDB servers, each behind a loopback proxy that can cut the network (tests/harness/tcp_proxy.py),
and a default Addon per type (postgresql, mysql, redis): N apps over those addons and localstorage
are created, then for `--minutes` apps are changed (memoryLimit, env, domain, an addon added),
deleted and created at random, while faults come at random (bench/faults.py): the operator
SIGKILLed, kube-apiserver and etcd SIGKILLed and started again, a database server stopped and
started, the network to one cut and healed. Then, once every fault is repaired, it waits until
every app that should exist is Ready, and checks that nothing was lost: every credential logs in,
no database, user, Secret or child is duplicated or orphaned, no password changed, and every
failure the operator reported on an app came with a Warning Event. It prints figures (faults,
operations, recovery time p50/p99), appends them to bench/results/<date>.md, and exits 1 when
anything was lost. Definitions: docs/benchmarks.md, "Chaos run".
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import hashlib
import os
import random
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import redis
from kubernetes import client
from tests.harness.app_redis import redis_from_builder
from tests.harness.databases import DatabaseKind, DatabaseServer, admin_rows, stop_server
from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess
from tests.harness.pod_process import container_env
from tests.harness.tcp_proxy import TcpProxy
from tests.integration.addon_support import addon_object, admin_secret, mysql_login, pg_login
from tests.integration.apps_support import pre_bound_volume
from tests.paths import REPO

from bench import apps as bench_apps
from bench import snapshot
from bench.audit import OPERATOR_NAMESPACE
from bench.environment import ADDON_NAME, APPS_NAMESPACE, BenchCluster, create_volumes, prepare
from bench.faults import Injector, SupervisedOperator
from bench.phases import APPS, CERTIFICATES
from bench.report import append_results, percentile
from bench.watchers import CertificateIssuer, Timeline, Watcher
from cloudron_operator import builders
from cloudron_operator.builders.redis import PASSWORD_HASH_ANNOTATION, redis_service_name
from cloudron_operator.builders.secrets import addon_secret_name, secret_values
from cloudron_operator.k8s import api as k8s
from cloudron_operator.models.conditions import Reason
from cloudron_operator.provisioners.naming import (
    mysql_database_uid,
    mysql_names,
    mysql_user_uid,
    postgresql_names,
    postgresql_uid,
)

T = TypeVar("T")
ENV_NAME = "chaos"
APP_API = ("cloudron.io/v1alpha1", "CloudronApp")
ADDON_TYPES = ("postgresql", "mysql", "redis")
# The shared servers: stopped, started and cut off by the faults.
SERVER_TYPES: tuple[DatabaseKind, ...] = ("postgresql", "mysql")
ADDON_NAMES = {"postgresql": ADDON_NAME, "mysql": "chaos-mysql", "redis": "chaos-redis"}
ADDON_SETS = (
    ("postgresql",),
    ("mysql",),
    ("redis",),
    ("postgresql", "redis"),
    ("mysql", "redis"),
    ("postgresql", "mysql"),
    ("postgresql", "mysql", "redis"),
)
CHANGES = ("memoryLimit", "env", "domain", "addon")
MEMORY_LIMITS = ("256Mi", "384Mi", "512Mi", "768Mi", "1Gi")
FIELD_MANAGER = "chaos-run"  # the run applies whole app specs, as a user or a GitOps tool would
OPERATION_GAP = (0.5, 3.0)  # seconds between two operations
REQUEST_LIMIT = 600.0  # a request of the run is retried this long while the API server is away
SECRET_POLL_SECONDS = 2.0
GC_LIMIT = 180.0  # how long the garbage collector may take to remove a deleted app's children
# A failure the operator met on an app, as its conditions say: each must come with a Warning Event.
FAILURE_REASONS = frozenset(
    {
        Reason.ADDON_UNREACHABLE,
        Reason.ADDON_FAILED,
        Reason.ADDON_NOT_READY,
        Reason.DEPROVISION_FAILED,
        Reason.APPLY_FAILED,
    }
)
FAILURE_CONDITIONS = ("Ready", "AddonsReady")
FAILURE_EVENT_TYPES = ("Warning", "Error")  # kopf posts a handler's failure as type Error
EVENT_SLACK_BEFORE = 2.0  # an Event's firstTimestamp has whole seconds
EVENT_SLACK_AFTER = 60.0  # kopf posts an Event after the status write, with retries of its own
# The kinds of an app's children that its deletion must leave none of (garbage collection).
CHILD_KINDS = (
    ("v1", "Secret"),
    ("v1", "Service"),
    ("v1", "PersistentVolumeClaim"),
    ("apps/v1", "Deployment"),
    ("networking.k8s.io/v1", "Ingress"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("cert-manager.io/v1", "Certificate"),
)
SHOWN = 10  # problems listed per check


def say(message: str) -> None:
    print(f"[chaos {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def retrying(what: str, action: Callable[[], T], counter: Counter[str] | None = None) -> T:
    """`action` until the API server takes it: faults make it refuse or vanish for a while."""
    deadline = time.monotonic() + REQUEST_LIMIT
    while True:
        try:
            return action()
        except k8s.ApiError as error:
            if not error.retriable or time.monotonic() > deadline:
                raise
        except Exception:  # the kubernetes client's own errors while the server is away
            if time.monotonic() > deadline:
                raise
        if counter is not None:
            counter[what] += 1
        time.sleep(1.0)


# --- the apps, and what the run does to them -------------------------------------------------


@dataclass
class PlannedApp:
    """An app as the run wants it: what its spec says, and its uid once created."""

    name: str
    addons: list[str]
    domain: str
    memory: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    uid: str = ""

    def object(self) -> dict[str, Any]:
        manifest = bench_apps.manifest(postgresql=False)
        manifest["addons"].update({addon: {} for addon in self.addons})
        spec: dict[str, Any] = {"image": bench_apps.IMAGE, "domain": self.domain, "manifest": manifest}
        if self.memory is not None:
            spec["memoryLimit"] = self.memory
        if self.env:
            spec["env"] = dict(self.env)
        return {
            "apiVersion": APP_API[0],
            "kind": APP_API[1],
            "metadata": {"name": self.name, "namespace": APPS_NAMESPACE},
            "spec": spec,
        }


def claims(name: str) -> list[str]:
    """The app's data claim and its Redis's: each gets a volume bound to it in advance."""
    return [bench_apps.data_claim(name), f"{redis_service_name(name)}-data"]


class Operations:
    """Apps created, changed and deleted at random; each request is retried until the API server
    takes it, so what should exist is known exactly. New apps get new names (app-0000, app-0001...):
    a name is never used twice, so every volume is bound once and every deletion is final."""

    def __init__(self, api: client.ApiClient, rng: random.Random, target: int, volumes_made: int) -> None:
        self.api, self.rng, self.target = api, rng, target
        self.live: dict[str, PlannedApp] = {}
        self.deleted: dict[str, str] = {}  # name -> uid
        self.done: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self._volumes_made = volumes_made  # names app-0000.. whose volumes exist already
        self._next = 0
        self.lock = threading.Lock()  # the checks read `live` and `deleted` while operations go on

    def run(self, until: float) -> None:
        for _ in range(self.target):
            self.create()
        while (now := time.time()) < until:
            time.sleep(min(self.rng.uniform(*OPERATION_GAP), max(0.0, until - now)))
            if time.time() < until:
                self.step()

    def step(self) -> None:
        choices = ["change"] * 6
        if len(self.live) < self.target * 1.2:
            choices += ["create"] * 2
        if len(self.live) > self.target // 2:
            choices += ["delete"] * 2
        operation = self.rng.choice(choices)
        if operation == "create":
            self.create()
        elif operation == "delete":
            self.delete(self.rng.choice(sorted(self.live)))
        else:
            self.change(self.rng.choice(sorted(self.live)), self.rng.choice(CHANGES))

    def create(self) -> None:
        name = bench_apps.app_name(self._next)
        if self._next >= self._volumes_made:
            for claim in claims(name):
                retrying("volume", functools.partial(_volume, self.api, claim), self.retries)
        self._next += 1
        addons = list(self.rng.choice(ADDON_SETS))
        app = PlannedApp(name, addons, f"{name}.chaos.example.com")
        self._apply(app)
        self.done["create"] += 1

    def change(self, name: str, what: str) -> None:
        app = self.live[name]
        missing = [addon for addon in ADDON_TYPES if addon not in app.addons]
        if what == "addon" and not missing:
            what = "env"
        if what == "memoryLimit":
            app.memory = self.rng.choice([m for m in MEMORY_LIMITS if m != app.memory])
        elif what == "env":
            app.env = {"CHAOS_CHANGE": str(self.done["change"])}
        elif what == "domain":
            app.domain = f"{name}-{self.done['change']}.chaos.example.com"
        else:
            app.addons.append(self.rng.choice(missing))
        self._apply(app)
        self.done["change"] += 1
        self.done[f"change {what}"] += 1

    def delete(self, name: str) -> None:
        retrying("delete", lambda: k8s.delete(self.api, *APP_API, APPS_NAMESPACE, name), self.retries)
        with self.lock:
            app = self.live.pop(name)
            self.deleted[name] = app.uid
        self.done["delete"] += 1

    def _apply(self, app: PlannedApp) -> None:
        obj = app.object()
        applied = retrying(
            "apply", lambda: k8s.apply(self.api, obj, field_manager=FIELD_MANAGER), self.retries
        )
        with self.lock:
            app.uid = applied["metadata"]["uid"]
            self.live[app.name] = app

    def uses(self, addon: str) -> dict[str, PlannedApp]:
        """The live apps whose manifest asks for `addon`, by uid."""
        with self.lock:
            return {app.uid: app for app in self.live.values() if addon in app.addons}


def _volume(api: client.ApiClient, claim: str) -> None:
    try:
        pre_bound_volume(api, APPS_NAMESPACE, claim)
    except client.ApiException as error:
        if error.status != 409:  # made by an earlier attempt whose answer was lost
            raise


# --- what the run watches while it goes on ---------------------------------------------------


@dataclass
class Episode:
    """An app's condition False for a reason of failure, from its transition until seen otherwise."""

    name: str
    uid: str
    condition: str
    started: float  # lastTransitionTime, epoch seconds (the API server's clock is this machine's)
    reasons: set[str] = field(default_factory=set)
    ended: float | None = None  # when the watch first saw the condition out of it


class Observer:
    """Every failure episode of every app (from its conditions, as a watch brings them), and every
    addon password the operator wrote (the Secrets, listed every few seconds)."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.episodes: dict[tuple[str, str, str], Episode] = {}
        self._open: dict[tuple[str, str], tuple[str, str, str]] = {}
        self.passwords: dict[tuple[str, str], list[str]] = {}  # (uid, addon) -> each value seen, in order
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._poll_secrets, daemon=True, name="secrets")

    def start(self) -> None:
        self._poller.start()

    def stop(self) -> None:
        self._stopping.set()
        self._poller.join(timeout=30)

    def on_app(self, app: dict[str, Any]) -> None:
        meta, now = app["metadata"], time.time()
        conditions = {c.get("type"): c for c in app.get("status", {}).get("conditions", [])}
        with self._lock:
            for kind in FAILURE_CONDITIONS:
                found = conditions.get(kind, {})
                key = (meta["uid"], kind)
                failing = found.get("status") == "False" and found.get("reason") in FAILURE_REASONS
                episode_key = (meta["uid"], kind, str(found.get("lastTransitionTime")))
                if key in self._open and (not failing or self._open[key] != episode_key):
                    self.episodes[self._open.pop(key)].ended = now
                if not failing:
                    continue
                if episode_key not in self.episodes:
                    started = _epoch(found.get("lastTransitionTime")) or now
                    self.episodes[episode_key] = Episode(meta["name"], meta["uid"], kind, started)
                self.episodes[episode_key].reasons.add(str(found["reason"]))
                self._open[key] = episode_key

    def poll_secrets_once(self) -> None:
        for secret in k8s.list_objects(self.api, "v1", "Secret", APPS_NAMESPACE):
            owner = _app_owner(secret)
            if owner is None:
                continue
            for addon in ADDON_TYPES:
                if secret["metadata"]["name"] != addon_secret_name(owner[0], addon):
                    continue
                password = secret_values(secret).get(f"CLOUDRON_{addon.upper()}_PASSWORD")
                with self._lock:
                    seen = self.passwords.setdefault((owner[1], addon), [])
                    if password is not None and password not in seen:
                        seen.append(password)

    def _poll_secrets(self) -> None:
        while not self._stopping.wait(SECRET_POLL_SECONDS):
            with contextlib.suppress(Exception):  # the API server is away: the next poll sees the same
                self.poll_secrets_once()


def _epoch(timestamp: object) -> float | None:
    if not isinstance(timestamp, str) or not timestamp:
        return None
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def _app_owner(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """The name and uid of the CloudronApp owning `obj`, if one does."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == "CloudronApp":
            return str(ref["name"]), str(ref["uid"])
    return None


@contextmanager
def watching(bench: BenchCluster, observer: Observer) -> Iterator[None]:
    """The apps' watch (the observer's episodes) and cert-manager's stand-in (bench/watchers.py):
    both list again and go on after the API server comes back."""
    issuer = CertificateIssuer(bench.admin_client, Timeline([]))
    watchers = [
        Watcher(bench.admin_client, APPS, APPS_NAMESPACE, observer.on_app),
        Watcher(bench.admin_client, CERTIFICATES, APPS_NAMESPACE, issuer.on_certificate),
    ]
    for watcher in watchers:
        watcher.start()
    observer.start()
    try:
        yield
    finally:
        observer.stop()
        for watcher in watchers:
            watcher.stop()


# --- set-up ----------------------------------------------------------------------------------


@dataclass
class Servers:
    """The shared database servers (the current process of each: a restart changes its pid) and the
    proxy in front of each, which its Addon and every app credential from it point at."""

    databases: dict[str, DatabaseServer]
    proxies: dict[str, TcpProxy]

    def stop(self, env: LocalEnv, *, keep: bool) -> None:
        for proxy in self.proxies.values():
            proxy.stop()
        for server in self.databases.values():
            if not keep:
                stop_server(server, remove_data=False)  # LocalEnv.down() removes the data
            elif env.recorded_database(server.kind) is not None:
                # A restart changed its pid: the environment's record (LocalEnv's state file) says
                # which process `python -m tests.harness down` stops.
                (env.root / f"{server.kind}.json").write_text(server.to_json())


def set_up(env: LocalEnv, target: int, crds: Path, volumes: int) -> tuple[BenchCluster, Servers]:
    """The bench's cluster (bench/environment.py: the operator's own identity, its PostgreSQL Addon),
    MariaDB, a proxy in front of each server, the Addons through them, and `volumes` apps' volumes."""
    for kind in SERVER_TYPES:  # fresh servers: one kept by an earlier run holds its apps' databases
        env.stop_database(kind)
    bench = prepare(env, target, crds)
    databases = {"postgresql": bench.postgres, "mysql": env.database("mysql")}
    proxies = {kind: TcpProxy(server.host, server.port).start() for kind, server in databases.items()}
    api = bench.admin_client()
    try:
        k8s.create(api, admin_secret(ADDON_NAMES["mysql"], OPERATOR_NAMESPACE, databases["mysql"]))
        for addon_type in ADDON_TYPES:
            server = databases.get(addon_type)
            proxied = None if server is None else dataclasses.replace(server, port=proxies[addon_type].port)
            addon = addon_object(ADDON_NAMES[addon_type], addon_type, proxied, OPERATOR_NAMESPACE)
            addon["spec"]["default"] = True
            k8s.apply(api, addon, field_manager=FIELD_MANAGER)
        names = [bench_apps.app_name(index) for index in range(volumes)]
        create_volumes(api, APPS_NAMESPACE, [c for name in names for c in claims(name)], 4, 600)
    finally:
        api.close()
    return bench, Servers(databases, proxies)


# --- after the faults: recovery and the checks -----------------------------------------------


@dataclass
class Check:
    name: str
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    def row(self) -> str:
        shown = "; ".join(self.problems[:SHOWN]) + (" ..." if len(self.problems) > SHOWN else "")
        return f"{len(self.problems)} of {self.checked}" + (f": {shown}" if shown else "")


def ready_now(app: Mapping[str, Any]) -> bool:
    """Ready=True, reported on the app's current generation."""
    status = app.get("status", {})
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", []))
    return ready and status.get("observedGeneration") == app["metadata"].get("generation")


def list_apps(api: client.ApiClient) -> dict[str, dict[str, Any]]:
    apps = retrying("list", lambda: k8s.list_objects(api, *APP_API, APPS_NAMESPACE))
    return {app["metadata"]["name"]: app for app in apps}


def await_recovery(api: client.ApiClient, ops: Operations, since: float, limit: float) -> dict[str, float]:
    """Seconds from `since` (the last repair) until each app that should exist was seen Ready at its
    generation; returns once every one was and every deleted app is gone, or after `limit`."""
    recovered: dict[str, float] = {}
    next_report = time.time() + 30
    while True:
        apps, now = list_apps(api), time.time()
        for name, planned in ops.live.items():
            app = apps.get(name)
            if app is not None and app["metadata"]["uid"] == planned.uid and ready_now(app):
                recovered.setdefault(name, now - since)
        lingering = [name for name in ops.deleted if name in apps]
        if len(recovered) == len(ops.live) and not lingering:
            return recovered
        if now > since + limit:
            return recovered
        if now > next_report:
            say(f"{len(recovered)}/{len(ops.live)} apps Ready, {len(lingering)} deleted apps not gone yet")
            next_report = now + 30
        time.sleep(0.5)


def check_apps(api: client.ApiClient, ops: Operations) -> Check:
    """Every app that should exist exists with its uid and is Ready; every deleted one is gone."""
    apps = list_apps(api)
    check = Check("apps that should exist are Ready, the deleted ones gone", len(ops.live) + len(ops.deleted))
    for name, planned in sorted(ops.live.items()):
        app = apps.get(name)
        if app is None or app["metadata"]["uid"] != planned.uid:
            check.problems.append(f"{name}: missing")
        elif not ready_now(app):
            conditions: list[dict[str, Any]] = app.get("status", {}).get("conditions", [])
            ready = next((c for c in conditions if c["type"] == "Ready"), {})
            check.problems.append(f"{name}: not Ready: {ready.get('reason')}: {ready.get('message')}")
    check.problems += [f"{name}: deleted, still there" for name in sorted(ops.deleted) if name in apps]
    made = set(ops.live) | set(ops.deleted)
    check.problems += [f"{name}: not made by the run" for name in apps if name not in made]
    return check


def check_credentials(api: client.ApiClient, ops: Operations, work_dir: Path) -> Check:
    """Each app's addon credentials, as its pod's environment has them (envFrom its Secrets), log in:
    PostgreSQL and MariaDB through the proxy, as the app would; Redis against the app's own Redis
    run from its Deployment (its password from the Secret the Deployment names)."""
    check = Check("credentials that do not log in")
    for name, app in sorted(ops.live.items()):
        deployment = k8s.get(api, "apps/v1", "Deployment", APPS_NAMESPACE, builders.child_name(name))
        if deployment is None:
            check.problems.append(f"{name}: no Deployment")
            continue
        env = container_env(api, APPS_NAMESPACE, deployment["spec"]["template"]["spec"]["containers"][0])
        for addon in app.addons:
            check.checked += 1
            try:
                _log_in(api, addon, app, env, work_dir)
            except Exception as error:  # noqa: BLE001 - a login that fails, whatever the driver says
                check.problems.append(f"{name} {addon}: {type(error).__name__}: {error}".splitlines()[0])
    return check


def _log_in(
    api: client.ApiClient, addon: str, app: PlannedApp, env: Mapping[str, str], work_dir: Path
) -> None:
    if addon == "postgresql":
        names = postgresql_names(app.uid)
        with pg_login(dict(env)) as conn, conn.cursor() as cur:
            cur.execute("SELECT current_user, current_database()")
            found = cur.fetchone()
        conn.close()
        if found != (names.role, names.database):
            raise AssertionError(f"logged in as {found}, not as the app's own role and database")
    elif addon == "mysql":
        connection = mysql_login(dict(env))
        try:
            with connection.cursor() as cur:
                cur.execute(f"USE `{mysql_names(app.uid).database}`")
                cur.execute("SELECT 1")
        finally:
            connection.close()
    else:
        _redis_log_in(api, app, env, work_dir)


def _redis_log_in(api: client.ApiClient, app: PlannedApp, env: Mapping[str, str], work_dir: Path) -> None:
    """Run the app's Redis as its Deployment says (its password from the Secret it names) and log in
    with the URL the app has: the user and password Cloudron's apps use."""
    name = redis_service_name(app.name)
    deployment = k8s.get(api, "apps/v1", "Deployment", APPS_NAMESPACE, name)
    if deployment is None:
        raise AssertionError(f"no Deployment {name}")
    template = deployment["spec"]["template"]
    password = container_env(api, APPS_NAMESPACE, template["spec"]["containers"][0])["REDIS_PASSWORD"]
    rolled = template["metadata"].get("annotations", {}).get(PASSWORD_HASH_ANNOTATION)
    if rolled != _sha256(password):
        raise AssertionError("the Redis pods were not rolled with the password of its Secret")
    url = urlsplit(env["CLOUDRON_REDIS_URL"])
    data = work_dir / "redis" / app.uid
    data.mkdir(parents=True, exist_ok=True)
    with redis_from_builder(password, data) as port:
        conn = redis.Redis(host="127.0.0.1", port=port, username=url.username, password=url.password)
        try:
            conn.ping()
        finally:
            conn.close()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def check_servers(servers: Servers, ops: Operations) -> Check:
    """On each server, the app databases and users (names carry the app's uid): one of each for every
    live app that uses it, none of any other app (deleted ones included), none twice."""
    check = Check("duplicate, orphaned or missing databases and users")
    for addon, server in servers.databases.items():
        expected = ops.uses(addon)
        found: Counter[tuple[str, str]] = Counter()
        for kind, uid in _app_objects(server):
            found[(uid, kind)] += 1
        check.checked += len(found)
        for (uid, kind), count in sorted(found.items()):
            owner = expected.get(uid)
            if owner is None:
                gone = next((name for name, old in ops.deleted.items() if old == uid), "no app of the run")
                check.problems.append(f"{addon} {kind} of {gone} ({uid}): orphaned")
            elif count > 1:
                check.problems.append(f"{addon}: {count} {kind}s of {owner.name}")
        for uid, app in sorted(expected.items()):
            for kind in ("user", "database"):
                if (uid, kind) not in found:
                    check.problems.append(f"{addon}: no {kind} of {app.name}")
    return check


def _app_objects(server: DatabaseServer) -> list[tuple[str, str]]:
    """(user or database, app uid) of every app-named object on the server."""
    if server.kind == "postgresql":
        found = admin_rows(
            server,
            "SELECT 'user', rolname FROM pg_roles UNION ALL SELECT 'database', datname FROM pg_database",
        )
        rows = [(str(kind), postgresql_uid(str(name))) for kind, name in found]
    else:
        users = admin_rows(server, "SELECT 'user', User FROM mysql.user WHERE Host = '%'")
        databases = admin_rows(server, "SELECT 'database', SCHEMA_NAME FROM information_schema.SCHEMATA")
        rows = [("user", mysql_user_uid(str(name))) for _, name in users]
        rows += [("database", mysql_database_uid(str(name))) for _, name in databases]
    return [(kind, uid) for kind, uid in rows if uid is not None]


def check_children(api: client.ApiClient, ops: Operations) -> Check:
    """No child of a deleted app is left (Secrets included), and no addon Secret is there twice: once
    the garbage collector has had up to GC_LIMIT seconds."""
    deadline = time.time() + GC_LIMIT
    while True:
        check = _children(api, ops)
        if not check.problems or time.time() > deadline:
            return check
        time.sleep(2.0)


def _children(api: client.ApiClient, ops: Operations) -> Check:
    check = Check("orphaned or duplicate Secrets and other children")
    live = {app.uid for app in ops.live.values()}
    addon_secrets: Counter[tuple[str, str]] = Counter()
    for api_version, kind in CHILD_KINDS:
        listed = retrying("list", functools.partial(k8s.list_objects, api, api_version, kind, APPS_NAMESPACE))
        for obj in listed:
            owner = _app_owner(obj)
            if owner is None:
                continue
            check.checked += 1
            if owner[1] not in live:
                check.problems.append(f"{kind} {obj['metadata']['name']} of deleted {owner[0]}: orphaned")
            if kind == "Secret" and obj["metadata"]["name"].startswith(f"{owner[0]}-"):
                addon_secrets[(owner[1], obj["metadata"]["name"])] += 1
    check.problems += [
        f"Secret {name}: {count} of them" for (_, name), count in addon_secrets.items() if count > 1
    ]
    return check


def check_passwords(observer: Observer, ops: Operations) -> Check:
    """Every addon password the Secrets ever held (listed every few seconds from the first one on)
    is the one they hold at the end: none changed, for any app, deleted ones included."""
    observer.poll_secrets_once()
    check = Check("changed passwords", len(observer.passwords))
    names = {app.uid: app.name for app in ops.live.values()} | {
        uid: name for name, uid in ops.deleted.items()
    }
    for (uid, addon), seen in sorted(observer.passwords.items()):
        if len(seen) > 1:
            check.problems.append(f"{names.get(uid, uid)} {addon}: {len(seen)} passwords")
    return check


def check_events(api: client.ApiClient, observer: Observer) -> Check:
    """Every failure episode the watch saw on an app (module FAILURE_REASONS in Ready or AddonsReady)
    has a Warning (or kopf's Error) Event on that app from its start until a minute after it ended."""
    events: dict[str, list[float]] = {}
    for event in retrying("list", lambda: k8s.list_objects(api, "v1", "Event", APPS_NAMESPACE)):
        if event.get("type") not in FAILURE_EVENT_TYPES:
            continue
        at = _epoch(event.get("eventTime")) or _epoch(event.get("lastTimestamp"))
        if at is not None:
            events.setdefault(str(event["involvedObject"].get("uid")), []).append(at)
    now = time.time()
    episodes = list(observer.episodes.values())
    check = Check("failures without a Warning Event (lost Events)", len(episodes))
    for episode in episodes:
        first, last = episode.started - EVENT_SLACK_BEFORE, (episode.ended or now) + EVENT_SLACK_AFTER
        if not any(first <= at <= last for at in events.get(episode.uid, [])):
            reasons = ", ".join(sorted(episode.reasons))
            check.problems.append(f"{episode.name} {episode.condition}={reasons} at {episode.started:.0f}")
    return check


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Result:
    seconds: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)
    operations: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    apps: Counter[str] = field(default_factory=Counter)  # at the end: live, deleted, per addon
    episodes: Counter[str] = field(default_factory=Counter)  # failure reasons seen on apps
    recovery: list[float] = field(default_factory=list)
    not_recovered: int = 0
    checks: list[Check] = field(default_factory=list)
    operator: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def lost(self) -> bool:
        return bool(self.errors) or self.not_recovered > 0 or any(check.problems for check in self.checks)


def _child_rng(rng: random.Random) -> random.Random:
    """A generator of its own for each thread, from the seed: one's choices do not shift the other's."""
    return random.Random(rng.random())  # noqa: S311 - what to do when, not a secret


def run(env: LocalEnv, args: argparse.Namespace, code: snapshot.Snapshot, work_dir: Path) -> Result:
    result, began = Result(), time.time()
    rng = random.Random(args.seed)  # noqa: S311 - what to do when, not a secret
    say(f"a fresh cluster, {args.apps} apps, {args.minutes:g} minutes of faults, seed {args.seed}")
    try:
        bench, servers = set_up(env, args.apps, code.crds, 2 * args.apps)
    except Exception as error:  # noqa: BLE001 - reported as the run's failure
        traceback.print_exc()
        result.errors.append(f"set-up: {type(error).__name__}: {error}".splitlines()[0])
        return result
    operator_env = {
        "CLOUDRON_OPERATOR_NAMESPACES": APPS_NAMESPACE,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(code.pythonpath), os.environ.get("PYTHONPATH")])),
    }
    if args.resync_seconds is not None:
        operator_env["CLOUDRON_OPERATOR_RESYNC_SECONDS"] = str(args.resync_seconds)
    operator = SupervisedOperator(
        OperatorProcess(bench.operator_kubeconfig, work_dir / "operator.log", operator_env)
    )
    api, watch_api = bench.admin_client(), bench.admin_client()
    observer = Observer(watch_api)
    ops = Operations(api, _child_rng(rng), args.apps, 2 * args.apps)
    injector = Injector(env.cluster, operator, servers.databases, servers.proxies, _child_rng(rng))
    try:
        operator.start()
        with watching(bench, observer):
            _chaos(ops, injector, args.minutes)
            say("repairing the last faults")
            repaired = injector.repair_all()
            say(f"every fault repaired; waiting for {len(ops.live)} apps to be Ready")
            recovered = await_recovery(api, ops, repaired, args.recovery_limit)
            result.recovery = sorted(recovered.values())
            result.not_recovered = len(ops.live) - len(recovered)
            say("checking")
            result.checks = [
                check_apps(api, ops),
                check_credentials(api, ops, work_dir),
                check_servers(servers, ops),
                check_children(api, ops),
                check_passwords(observer, ops),
                check_events(api, observer),
            ]
    except Exception as error:  # noqa: BLE001 - the report shows what was done; the run fails
        traceback.print_exc()
        result.errors.append(f"{type(error).__name__}: {error}".splitlines()[0])
    finally:
        injector.stop()
        injector.repair_all()
        operator.stop()
        servers.stop(env, keep=args.keep)
        api.close()
        watch_api.close()
    _summarise(result, ops=ops, injector=injector, observer=observer, operator=operator, work_dir=work_dir)
    result.seconds = time.time() - began
    return result


def _chaos(ops: Operations, injector: Injector, minutes: float) -> None:
    """Operations in this thread and faults in another, for `minutes`."""
    until = time.time() + 60 * minutes
    say(f"chaos until {datetime.fromtimestamp(until, UTC):%H:%M:%S} UTC")
    faults = threading.Thread(target=injector.run, args=(until,), daemon=True, name="faults")
    faults.start()
    try:
        ops.run(until)
    finally:
        injector.stop()
        faults.join()


def _summarise(
    result: Result,
    *,
    ops: Operations,
    injector: Injector,
    observer: Observer,
    operator: SupervisedOperator,
    work_dir: Path,
) -> None:
    result.errors += [f"{fault.label}: repair failed: {fault.error}" for fault in injector.failed_repairs]
    result.faults = injector.counts()
    result.operations, result.retries = ops.done, ops.retries
    result.apps = Counter({"live": len(ops.live), "deleted": len(ops.deleted)})
    result.apps.update(addon for app in ops.live.values() for addon in app.addons)
    result.episodes = Counter(reason for e in observer.episodes.values() for reason in e.reasons)
    result.operator = {
        "SIGKILLed": operator.kills,
        "exits of its own while running": len(operator.crashes),
        "exits while starting (the API server away)": len(operator.exits_at_start),
        "starts slower than 60 s": operator.slow_starts,
    }
    if operator.crashes:
        result.errors.append(f"the operator exited {len(operator.crashes)} time(s) by itself: see {work_dir}")
        (work_dir / "crashes.txt").write_text("\n\n".join(operator.crashes))


# --- the report ------------------------------------------------------------------------------


def _listed(counts: Mapping[str, int]) -> str:
    return "; ".join(f"{key} {value}" for key, value in sorted(counts.items()))


def _counts(counts: Counter[str]) -> str:
    return f"{sum(counts.values())}: {_listed(counts)}" if counts else "0"


def render(
    started: datetime, argv: Sequence[str], code: snapshot.Snapshot, result: Result, work_dir: Path
) -> str:
    operations = Counter({k: v for k, v in result.operations.items() if not k.startswith("change ")})
    changes = Counter(
        {k.removeprefix("change "): v for k, v in result.operations.items() if k.startswith("change ")}
    )
    recovery = result.recovery
    spread = (
        " / ".join(f"{percentile(recovery, p):.1f}" for p in (50, 99)) + f" / {max(recovery):.1f}"
        if recovery
        else "—"
    )
    rows = {
        "faults injected": _counts(result.faults),
        "operations done": f"{_counts(operations)} (changes: {_listed(changes)})",
        "requests of the run retried while the API server was away": _counts(result.retries),
        "apps at the end (with postgresql, mysql, redis) · deleted": (
            f"{result.apps['live']} ({', '.join(str(result.apps[addon]) for addon in ADDON_TYPES)})"
            f" · {result.apps['deleted']}"
        ),
        "failures the operator reported on apps (episodes by reason)": _counts(result.episodes),
        "operator": _listed(result.operator),
        "recovery after the last fault was repaired, p50 / p99 / max (s)": spread,
        "apps not Ready in time": str(result.not_recovered),
        **{f"check: {check.name}": check.row() for check in result.checks},
        "total time (s)": f"{result.seconds:.0f}",
    }
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lines = [
        f"## {started:%Y-%m-%d %H:%M} UTC: chaos run",
        "",
        f"`python -m bench.chaos {' '.join(argv)}`",
        f"- machine: {os.cpu_count()} CPUs, {memory:.0f} GiB RAM, shared; "
        f"load {os.getloadavg()[0]:.1f} at the end",
        f"- operator: {code.description} (code digest {code.digest}); logs in {work_dir}",
        "",
        "| figure | value |",
        "|---|---|",
        *(f"| {label} | {value} |" for label, value in rows.items()),
    ]
    lines += [f"\n**failed**: {error}" for error in result.errors]
    lines.append(f"\n**{'SOMETHING WAS LOST' if result.lost else 'nothing lost'}**")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=50, help="apps created at the start, and kept about (50)")
    parser.add_argument(
        "--minutes", type=float, default=10.0, help="how long faults and operations go on (10)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of every random choice (1)")
    parser.add_argument(
        "--recovery-limit",
        type=float,
        default=900.0,
        help="seconds the apps may take to be Ready after (900)",
    )
    parser.add_argument("--resync-seconds", type=float, help="CLOUDRON_OPERATOR_RESYNC_SECONDS (default 300)")
    parser.add_argument("--keep", action="store_true", help="leave the cluster and servers running")
    parser.add_argument(
        "--env", default=ENV_NAME, help=f"the local environment to create and remove ({ENV_NAME})"
    )
    parser.add_argument("--no-save", action="store_true", help="print only; do not append to bench/results")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(arguments)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    work_dir = Path(tempfile.mkdtemp(prefix="cloudron-chaos-"))
    code = snapshot.take(work_dir / "src", None)
    started = datetime.now(UTC)
    env = LocalEnv.named(args.env)
    try:
        result = run(env, args, code, work_dir)
    finally:
        if not args.keep:
            env.down()
    text = render(started, arguments, code, result, work_dir)
    print("\n" + text, flush=True)
    if not args.no_save:
        results = append_results(started, text)
        say(f"appended to {results.relative_to(REPO)}")
    if result.lost:
        print("error: the chaos run lost something: see the checks above", file=sys.stderr)
        return 1
    return 0


def _exit_on_signal(signum: int, _frame: FrameType | None) -> NoReturn:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
