"""Addons end to end: the operator provisions real PostgreSQL and MariaDB servers and per-app Redis."""

from __future__ import annotations

import random
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pymysql
import pytest
from kubernetes import client
from psycopg2 import sql

from cloudron_operator.addons.logins import ADMIN_SECRET_MAX_AGE
from cloudron_operator.builders import AppIdentity
from cloudron_operator.builders.secrets import build_addon_secret, secret_values
from cloudron_operator.k8s import api as k8s
from tests.harness.databases import DatabaseServer, restart_server, start_server, stop_server
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import wait_until
from tests.integration.addon_support import (
    ADDON,
    AddonSet,
    addons_for_test,
    addons_ready,
    app_object,
    mysql_login,
    pg_login,
    secret_data,
)
from tests.integration.apps_support import APP, RESYNC_SECONDS, WAIT, condition, get_app

POSTGRESQL_KEYS = {
    f"CLOUDRON_POSTGRESQL_{k}" for k in ("URL", "USERNAME", "PASSWORD", "HOST", "PORT", "DATABASE")
}
MYSQL_KEYS = {f"CLOUDRON_MYSQL_{k}" for k in ("URL", "USERNAME", "PASSWORD", "HOST", "PORT", "DATABASE")}
REDIS_KEYS = {f"CLOUDRON_REDIS_{k}" for k in ("URL", "HOST", "PORT", "PASSWORD")}


@pytest.fixture
def addons(
    api_client: client.ApiClient,
    namespace: str,
    postgres_server: DatabaseServer,
    mariadb_server: DatabaseServer,
) -> Iterator[AddonSet]:
    servers = {"postgresql": postgres_server, "mysql": mariadb_server, "redis": None}
    with addons_for_test(api_client, namespace, servers) as made:
        yield made


def provisioned_app(
    api: client.ApiClient,
    namespace: str,
    name: str,
    addons: AddonSet,
    manifest_addons: dict[str, Any] | None = None,
) -> str:
    """Create an app using `addons`, wait for AddonsReady=True, return its UID."""
    created = k8s.create(api, app_object(name, namespace, addons, manifest_addons))
    wait_until(lambda: addons_ready(api, namespace, name), WAIT, f"app {name}'s addons to be provisioned")
    return str(created["metadata"]["uid"])


def test_an_app_gets_its_own_databases_and_redis_in_secrets_it_mounts(
    api_client: client.ApiClient, namespace: str, app_operator: OperatorProcess, addons: AddonSet
) -> None:
    created = k8s.create(api_client, app_object("wiki", namespace, addons))
    spec_writers_at_creation = _spec_writers(created)
    assert spec_writers_at_creation, "the creator owns the spec"
    wait_until(
        lambda: addons_ready(api_client, namespace, "wiki"), WAIT, "the app's addons to be provisioned"
    )
    uid = created["metadata"]["uid"]

    postgresql = secret_data(api_client, namespace, "wiki-postgresql")
    mysql = secret_data(api_client, namespace, "wiki-mysql")
    redis = secret_data(api_client, namespace, "wiki-redis")
    assert set(postgresql) == POSTGRESQL_KEYS
    assert set(mysql) == MYSQL_KEYS
    assert set(redis) == REDIS_KEYS
    assert postgresql["CLOUDRON_POSTGRESQL_DATABASE"] == "db" + uid.replace("-", "")

    with pg_login(postgresql) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE notes (body text)")
        cur.execute("INSERT INTO notes VALUES ('hello')")
        cur.execute("SELECT body FROM notes")
        assert cur.fetchone() == ("hello",)
        cur.execute("CREATE EXTENSION postgis")  # on Cloudron's list: the app's own role may
        cur.execute("SELECT ST_AsText(ST_MakePoint(1, 2))")
        assert cur.fetchone() == ("POINT(1 2)",)
    conn.close()
    # The URL alone is enough, as apps that read only CLOUDRON_POSTGRESQL_URL use it.
    psycopg2.connect(postgresql["CLOUDRON_POSTGRESQL_URL"], connect_timeout=5).close()
    connection = mysql_login(mysql)
    with connection.cursor() as mysql_cursor:
        mysql_cursor.execute(f"USE `{mysql['CLOUDRON_MYSQL_DATABASE']}`")
        mysql_cursor.execute("CREATE TABLE notes (body TEXT)")
        mysql_cursor.execute("INSERT INTO notes VALUES ('hello')")
        mysql_cursor.execute("SELECT body FROM notes")
        assert mysql_cursor.fetchone() == ("hello",)
    connection.close()

    deployment = k8s.get(api_client, "apps/v1", "Deployment", namespace, "wiki")
    assert deployment is not None
    env_from = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert {ref["secretRef"]["name"] for ref in env_from} == {"wiki-postgresql", "wiki-mysql", "wiki-redis"}
    for kind, api_version in (
        ("Deployment", "apps/v1"),
        ("Service", "v1"),
        ("NetworkPolicy", "networking.k8s.io/v1"),
    ):
        assert k8s.get(api_client, api_version, kind, namespace, "wiki-redis") is not None, (
            f"the app's Redis {kind}"
        )

    status = get_app(api_client, namespace, "wiki")["status"]
    assert status["addons"]["postgresql"] == {
        "addon": addons.names["postgresql"],
        "secretName": "wiki-postgresql",
        "ready": True,
    }

    def addon_reports_the_app() -> bool:
        addon = k8s.get(api_client, *ADDON, None, addons.names["postgresql"]) or {}
        ready = condition(addon, "Ready").get("status") == "True"
        return ready and addon["status"].get("appCount") == 1 and bool(addon["status"].get("serverVersion"))

    wait_until(addon_reports_the_app, WAIT, "the Addon to report Ready, its version and one app")
    addon = k8s.get(api_client, *ADDON, None, addons.names["postgresql"]) or {}
    assert (
        "of the 25 extensions Cloudron offers; not installed on the server:"
        in condition(addon, "Ready")["message"]
    )
    # GitOps tools own the spec: the operator writes status, its finalizer and annotations only.
    assert _spec_writers(get_app(api_client, namespace, "wiki")) == spec_writers_at_creation


def test_one_apps_credentials_cannot_reach_another_apps_database(
    api_client: client.ApiClient, namespace: str, app_operator: OperatorProcess, addons: AddonSet
) -> None:
    databases: dict[str, Any] = {"postgresql": {}, "mysql": {}}
    provisioned_app(api_client, namespace, "app-a", addons, manifest_addons=databases)
    provisioned_app(api_client, namespace, "app-b", addons, manifest_addons=databases)
    a_pg, b_pg = (secret_data(api_client, namespace, f"{n}-postgresql") for n in ("app-a", "app-b"))
    a_my, b_my = (secret_data(api_client, namespace, f"{n}-mysql") for n in ("app-a", "app-b"))

    with pytest.raises(psycopg2.OperationalError, match="permission denied"):
        pg_login(a_pg, database=b_pg["CLOUDRON_POSTGRESQL_DATABASE"])
    own = pg_login(a_pg)
    own.autocommit = True
    with own.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
        cur.execute("CREATE DATABASE stolen")
    own.close()

    owner = mysql_login(b_my)
    with owner.cursor() as mysql_cursor:
        mysql_cursor.execute(f"CREATE TABLE `{b_my['CLOUDRON_MYSQL_DATABASE']}`.notes (body TEXT)")
    owner.close()
    connection = mysql_login(a_my)
    with connection.cursor() as cur:
        with pytest.raises(pymysql.err.OperationalError, match="denied"):
            cur.execute(f"SELECT * FROM `{b_my['CLOUDRON_MYSQL_DATABASE']}`.notes")  # noqa: S608 - a test's own name
        with pytest.raises(pymysql.err.OperationalError, match="denied"):
            cur.execute("CREATE DATABASE stolen")
    connection.close()


def test_deleting_an_app_drops_its_database_and_user_unless_retained(
    api_client: client.ApiClient, namespace: str, app_operator: OperatorProcess, addons: AddonSet
) -> None:
    databases: dict[str, Any] = {"postgresql": {}, "mysql": {}}
    dropped = provisioned_app(api_client, namespace, "dropped", addons, manifest_addons=databases)
    kept = provisioned_app(api_client, namespace, "kept", addons, manifest_addons=databases)
    annotate(api_client, namespace, "kept", {"cloudron.io/retain-databases": "true"})
    for addon_type in databases:
        assert {dropped, kept} <= addons.app_uids(addon_type)

    for name in ("dropped", "kept"):
        k8s.delete(api_client, *APP, namespace, name)
    for name in ("dropped", "kept"):
        wait_until(_gone(api_client, namespace, name), WAIT, f"app {name} to be gone")
    for addon_type in databases:
        remaining = addons.app_uids(addon_type)
        assert dropped not in remaining, f"{addon_type}: the deleted app's database and user are dropped"
        assert kept in remaining, f"{addon_type}: the retained app's database and user stay"

    def no_app_counted() -> bool:
        addon = k8s.get(api_client, *ADDON, None, addons.names["postgresql"]) or {}
        return bool(addon.get("status", {}).get("appCount") == 0)

    wait_until(no_app_counted, WAIT, "the Addon's appCount to follow the deletions")


def test_an_apps_database_is_dropped_where_it_is_while_its_addon_is_gone_for_a_while(
    api_client: client.ApiClient, namespace: str, app_operator: OperatorProcess, addons: AddonSet
) -> None:
    """The Addon deleted and made again (a GitOps replace, say): status.addons keeps saying where the
    app's database is, so deleting the app waits for the Addon and then drops it, never orphans it."""
    uid = provisioned_app(api_client, namespace, "wiki", addons, manifest_addons={"postgresql": {}})
    name = addons.names["postgresql"]
    addon = k8s.get(api_client, *ADDON, None, name)
    assert addon is not None
    k8s.delete(api_client, *ADDON, None, name)

    def addons_reason() -> str:
        return str(condition(get_app(api_client, namespace, "wiki"), "AddonsReady").get("reason"))

    wait_until(lambda: addons_reason() == "AddonNotFound", WAIT, "the app to miss its Addon")
    assert get_app(api_client, namespace, "wiki")["status"]["addons"]["postgresql"]["addon"] == name

    k8s.delete(api_client, *APP, namespace, "wiki")

    def ready_reason() -> str:
        return str(condition(get_app(api_client, namespace, "wiki"), "Ready").get("reason"))

    wait_until(lambda: ready_reason() == "DeprovisionFailed", WAIT, "the deletion to wait for the Addon")
    assert (
        f"Addon {name} no longer exists"
        in condition(get_app(api_client, namespace, "wiki"), "Ready")["message"]
    )
    assert uid in addons.app_uids("postgresql")

    k8s.create(
        api_client, {key: addon[key] for key in ("apiVersion", "kind", "spec")} | {"metadata": {"name": name}}
    )
    wait_until(_gone(api_client, namespace, "wiki"), WAIT, "the app to be gone once its Addon is back")
    assert uid not in addons.app_uids("postgresql"), "its database and user are dropped"


def test_a_database_the_manifest_no_longer_asks_for_is_kept_and_dropped_with_the_app(
    api_client: client.ApiClient, namespace: str, app_operator: OperatorProcess, addons: AddonSet
) -> None:
    uid = provisioned_app(
        api_client, namespace, "wiki", addons, manifest_addons={"postgresql": {}, "mysql": {}}
    )
    dropping_postgresql = {"spec": {"manifest": {"addons": {"postgresql": None}}}}  # a JSON merge patch
    client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
        "cloudron.io", "v1alpha1", namespace, "cloudronapps", "wiki", dropping_postgresql
    )

    def postgresql_entry() -> dict[str, Any]:
        return dict(
            get_app(api_client, namespace, "wiki").get("status", {}).get("addons", {}).get("postgresql", {})
        )

    wait_until(
        lambda: "no longer in the manifest" in postgresql_entry().get("message", ""), WAIT, "the record"
    )
    assert postgresql_entry()["addon"] == addons.names["postgresql"]
    assert addons_ready(api_client, namespace, "wiki")
    assert uid in addons.app_uids("postgresql"), "the data stays while the app lives"
    wait_until(
        lambda: k8s.get(api_client, "v1", "Secret", namespace, "wiki-postgresql") is None,
        WAIT,
        "the Secret the workload no longer mounts to go",
    )

    k8s.delete(api_client, *APP, namespace, "wiki")
    wait_until(_gone(api_client, namespace, "wiki"), WAIT, "the app to be gone")
    assert uid not in addons.app_uids("postgresql")
    assert uid not in addons.app_uids("mysql")


def test_a_restarted_operator_counts_the_apps_an_addon_serves_from_its_first_check(
    api_client: client.ApiClient, namespace: str, app_operator: OperatorProcess, addons: AddonSet
) -> None:
    """The Addon's first check after a restart runs as soon as the Addon is seen, before the watch of
    the apps has brought them: the operator must know them already, not write a count of 0 first."""
    provisioned_app(api_client, namespace, "wiki", addons, manifest_addons={"postgresql": {}})
    name = addons.names["postgresql"]

    def counts_the_app() -> bool:
        addon = k8s.get(api_client, *ADDON, None, name) or {}
        return bool(addon.get("status", {}).get("appCount") == 1)

    wait_until(counts_the_app, WAIT, "the Addon to count the app")
    counted = (k8s.get(api_client, *ADDON, None, name) or {})["metadata"]["resourceVersion"]

    app_operator.kill()
    log_before = len(app_operator.log.read_text(errors="replace"))
    app_operator.start()

    def checked_after_restart(times: int) -> Callable[[], bool]:
        def checked() -> bool:
            since = app_operator.log.read_text(errors="replace")[log_before:]
            lines = [line for line in since.splitlines() if f"[{name}]" in line]
            resumed = any("Resuming is processed" in line for line in lines)
            return resumed and sum("Timer" in line and "succeeded" in line for line in lines) >= times

        return checked

    # The resume's check, then two resync checks: the app-count daemon has run between them.
    wait_until(checked_after_restart(2), WAIT, "the Addon's checks after the restart")
    addon = k8s.get(api_client, *ADDON, None, name) or {}
    assert addon["status"]["appCount"] == 1
    assert addon["metadata"]["resourceVersion"] == counted, "the restart rewrote the Addon's status"


def annotate(api: client.ApiClient, namespace: str, name: str, annotations: dict[str, str]) -> None:
    client.CustomObjectsApi(api).patch_namespaced_custom_object(
        "cloudron.io", "v1alpha1", namespace, "cloudronapps", name, {"metadata": {"annotations": annotations}}
    )


def test_provisioning_survives_the_operator_being_killed_at_random_moments(
    api_client: client.ApiClient, namespace: str, app_operator: OperatorProcess, addons: AddonSet
) -> None:
    databases: dict[str, Any] = {"postgresql": {}, "mysql": {}}
    before = {t: addons.app_uids(t) for t in databases}
    names = [f"app-{i:02d}" for i in range(20)]
    first_seen: dict[str, dict[str, str]] = {}
    stop = threading.Event()

    failures: list[BaseException] = []

    def record_passwords() -> None:
        """Remember each Secret's password the first time it is seen: it must never change after."""
        try:
            while not stop.is_set():
                for secret in k8s.list_objects(api_client, "v1", "Secret", namespace, "cloudron.io/app"):
                    for key, value in secret_values(secret).items():
                        if key.endswith("_PASSWORD"):
                            first_seen.setdefault(secret["metadata"]["name"], {}).setdefault(key, value)
                stop.wait(0.1)
        except BaseException as error:
            failures.append(error)
            raise

    watcher = threading.Thread(target=record_passwords, daemon=True)
    watcher.start()
    uids = {}
    for name in names:
        uids[name] = k8s.create(api_client, app_object(name, namespace, addons, manifest_addons=databases))[
            "metadata"
        ]["uid"]
    chance = random.Random(1234)
    for _ in range(4):
        stop.wait(chance.uniform(0.3, 2.5))
        app_operator.kill()
        app_operator.start()
    try:
        for name in names:
            wait_until(_addons_ready_check(api_client, namespace, name), WAIT * 2, f"{name} to converge")
    finally:
        stop.set()
        watcher.join()
    assert not failures, f"the password watcher failed: {failures}"

    for addon_type in databases:
        created = addons.app_uids(addon_type) - before[addon_type]
        assert created == set(uids.values()), f"{addon_type}: one database and user per app, none orphaned"
    for name in names:
        for addon_type in databases:
            secret = f"{name}-{addon_type}"
            now = secret_data(api_client, namespace, secret)
            password_key = f"CLOUDRON_{addon_type.upper()}_PASSWORD"
            assert now[password_key] == first_seen[secret][password_key], (
                f"{secret}: the password never changes"
            )
        pg = secret_data(api_client, namespace, f"{name}-postgresql")
        pg_login(pg).close()
        mysql_login(secret_data(api_client, namespace, f"{name}-mysql")).close()


class StoppableServer:
    """A PostgreSQL server of one test alone, so stopping it disturbs no other test."""

    def __init__(self) -> None:
        directory = Path(tempfile.gettempdir()) / f"cloudron-operator-stop-{uuid.uuid4().hex[:8]}"
        self.server = start_server("postgresql", directory)

    def stop(self) -> None:
        stop_server(self.server, remove_data=False)

    def start_again(self) -> None:
        self.server = restart_server(self.server)  # a new process: remember it, to stop it at the end


@pytest.fixture
def own_postgres() -> Iterator[StoppableServer]:
    own = StoppableServer()
    yield own
    stop_server(own.server)


def test_a_stopped_database_server_affects_only_its_apps_and_they_recover(
    api_client: client.ApiClient,
    namespace: str,
    app_operator: OperatorProcess,
    addons: AddonSet,
    own_postgres: StoppableServer,
) -> None:
    with addons_for_test(api_client, namespace, {"postgresql": own_postgres.server}) as stopping:
        provisioned_app(api_client, namespace, "on-stopped", stopping, manifest_addons={"postgresql": {}})
        provisioned_app(api_client, namespace, "elsewhere", addons, manifest_addons={"mysql": {}})
        unaffected = condition(get_app(api_client, namespace, "elsewhere"), "AddonsReady")

        own_postgres.stop()

        def reported_unreachable() -> bool:
            addons_condition = condition(get_app(api_client, namespace, "on-stopped"), "AddonsReady")
            return addons_condition.get("reason") == "AddonUnreachable"

        wait_until(reported_unreachable, WAIT, "the app on the stopped server to report AddonsReady=False")
        reported = condition(get_app(api_client, namespace, "on-stopped"), "AddonsReady")
        assert reported["status"] == "False"
        assert stopping.names["postgresql"] in reported["message"]
        assert own_postgres.server.admin_password not in str(get_app(api_client, namespace, "on-stopped"))
        assert condition(get_app(api_client, namespace, "elsewhere"), "AddonsReady") == unaffected

        own_postgres.start_again()
        wait_until(lambda: addons_ready(api_client, namespace, "on-stopped"), 60, "recovery within a minute")


def test_an_addon_nobody_serves_or_the_operator_does_not_give_is_named(
    api_client: client.ApiClient, namespace: str, app_operator: OperatorProcess, addons: AddonSet
) -> None:
    missing = app_object("no-server", namespace, addons, manifest_addons={"postgresql": {}})
    missing["spec"]["addons"] = {"postgresql": {"addonRef": "no-such-addon"}}
    k8s.create(api_client, missing)
    refused = app_object("wants-docker", namespace, addons, manifest_addons={"docker": {}})
    k8s.create(api_client, refused)
    unsupported = app_object("wants-mongodb", namespace, addons, manifest_addons={"mongodb": {}})
    k8s.create(api_client, unsupported)

    def reason(name: str, kind: str) -> str:
        return str(condition(get_app(api_client, namespace, name), kind).get("reason", ""))

    wait_until(lambda: reason("no-server", "AddonsReady") == "AddonNotFound", WAIT, "AddonNotFound")
    assert "no-such-addon" in condition(get_app(api_client, namespace, "no-server"), "Ready")["message"]
    assert k8s.get(api_client, "apps/v1", "Deployment", namespace, "no-server") is None
    wait_until(lambda: reason("wants-mongodb", "Ready") == "UnsupportedAddon", WAIT, "UnsupportedAddon")
    assert "mongodb" in condition(get_app(api_client, namespace, "wants-mongodb"), "Ready")["message"]
    # docker is not "not yet": it is never offered, and the message says why.
    wait_until(lambda: reason("wants-docker", "Ready") == "AddonRefused", WAIT, "AddonRefused")
    assert "Docker API" in condition(get_app(api_client, namespace, "wants-docker"), "Ready")["message"]
    events = k8s.list_objects(api_client, "v1", "Event", namespace)
    for refusal in ("UnsupportedAddon", "AddonRefused"):
        assert any(e.get("reason") == refusal and e.get("type") == "Warning" for e in events), refusal


def test_a_redis_addon_with_a_bad_option_is_reported_on_it_and_on_its_apps(
    api_client: client.ApiClient, namespace: str, app_operator: OperatorProcess
) -> None:
    with addons_for_test(api_client, namespace, {"redis": None}) as made:
        name = made.names["redis"]
        client.CustomObjectsApi(api_client).patch_cluster_custom_object(
            "cloudron.io", "v1alpha1", "addons", name, {"spec": {"options": {"memoryLimit": "256MB"}}}
        )
        k8s.create(api_client, app_object("cache", namespace, made, manifest_addons={"redis": {}}))

        def addon_reason() -> str:
            return str(condition(k8s.get(api_client, *ADDON, None, name) or {}, "Ready").get("reason"))

        def app_reason() -> str:
            return str(condition(get_app(api_client, namespace, "cache"), "AddonsReady").get("reason"))

        wait_until(lambda: addon_reason() == "InvalidOptions", WAIT, "the Addon to report InvalidOptions")
        wait_until(lambda: app_reason() == "InvalidOptions", WAIT, "the app to report InvalidOptions")
        message = condition(get_app(api_client, namespace, "cache"), "AddonsReady")["message"]
        assert "options.memoryLimit: '256MB' is not a byte quantity" in message
        assert k8s.get(api_client, "apps/v1", "Deployment", namespace, "cache-redis") is None

        client.CustomObjectsApi(api_client).patch_cluster_custom_object(
            "cloudron.io", "v1alpha1", "addons", name, {"spec": {"options": {"memoryLimit": "256Mi"}}}
        )
        wait_until(lambda: addons_ready(api_client, namespace, "cache"), WAIT, "the app's redis once fixed")


def test_two_default_addons_of_one_type_are_reported_on_both(
    api_client: client.ApiClient,
    namespace: str,
    app_operator: OperatorProcess,
    mariadb_server: DatabaseServer,
) -> None:
    with (
        addons_for_test(api_client, namespace, {"mysql": mariadb_server}) as first,
        addons_for_test(api_client, namespace, {"mysql": mariadb_server}) as second,
    ):
        names = [first.names["mysql"], second.names["mysql"]]
        for name in names:
            client.CustomObjectsApi(api_client).patch_cluster_custom_object(
                "cloudron.io", "v1alpha1", "addons", name, {"spec": {"default": True}}
            )

        def both_report_it() -> bool:
            found = [k8s.get(api_client, *ADDON, None, name) or {} for name in names]
            return all(condition(addon, "Ready").get("reason") == "AmbiguousDefault" for addon in found)

        wait_until(both_report_it, WAIT, "both default Addons to report AmbiguousDefault")


def test_a_lost_secret_gets_a_new_password_that_the_server_accepts(
    api_client: client.ApiClient, namespace: str, app_operator: OperatorProcess, addons: AddonSet
) -> None:
    provisioned_app(api_client, namespace, "forgetful", addons, manifest_addons={"postgresql": {}})
    old = secret_data(api_client, namespace, "forgetful-postgresql")
    hash_before = _secrets_hash(api_client, namespace, "forgetful")
    k8s.delete(api_client, "v1", "Secret", namespace, "forgetful-postgresql")

    def rewritten() -> bool:
        found = k8s.get(api_client, "v1", "Secret", namespace, "forgetful-postgresql")
        return found is not None

    wait_until(rewritten, WAIT, "the Secret to be written again")
    new = secret_data(api_client, namespace, "forgetful-postgresql")
    assert new["CLOUDRON_POSTGRESQL_PASSWORD"] != old["CLOUDRON_POSTGRESQL_PASSWORD"]
    wait_until(lambda: _can_login(new), WAIT, "the server to accept the new password")
    assert not _can_login(old), "the old password no longer works"
    wait_until(
        lambda: _secrets_hash(api_client, namespace, "forgetful") != hash_before, WAIT, "the pods to roll"
    )


def test_a_first_pass_keeps_the_password_a_killed_first_pass_wrote(
    api_client: client.ApiClient, namespace: str, app_operator: OperatorProcess, addons: AddonSet
) -> None:
    """An app's first pass does not list its children; it still reads the Secrets that hold passwords.

    The operator is killed after writing a new app's Secret and before telling the server: its
    next first pass must give the server that password, not a new one.
    """
    app_operator.kill()
    created = k8s.create(api_client, app_object("killed", namespace, addons, {"postgresql": {}}))
    identity = AppIdentity("killed", namespace, created["metadata"]["uid"])
    written = "password-of-the-killed-pass-0123456789"
    k8s.create(
        api_client, build_addon_secret(identity, "postgresql", {"CLOUDRON_POSTGRESQL_PASSWORD": written})
    )
    app_operator.start()
    wait_until(
        lambda: addons_ready(api_client, namespace, "killed"), WAIT, "the app's addons to be provisioned"
    )

    env = secret_data(api_client, namespace, "killed-postgresql")
    assert env["CLOUDRON_POSTGRESQL_PASSWORD"] == written
    assert set(env) >= POSTGRESQL_KEYS, "the pass completed the Secret"
    pg_login(env).close()
    created_messages = [
        e.get("message", "")
        for e in k8s.list_objects(api_client, "v1", "Event", namespace)
        if e.get("reason") == "Created" and e["involvedObject"].get("name") == "killed"
    ]
    assert any("Deployment killed" in m for m in created_messages), created_messages
    assert not any("Secret killed-postgresql" in m for m in created_messages), "the Secret was not created"


def test_an_addon_problem_keeps_the_secret_and_password_the_app_runs_on(
    api_client: client.ApiClient, namespace: str, app_operator: OperatorProcess, addons: AddonSet
) -> None:
    provisioned_app(api_client, namespace, "stranded", addons, manifest_addons={"postgresql": {}})
    before = secret_data(api_client, namespace, "stranded-postgresql")

    def point_at(addon: str) -> None:
        client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
            "cloudron.io",
            "v1alpha1",
            namespace,
            "cloudronapps",
            "stranded",
            {"spec": {"addons": {"postgresql": {"addonRef": addon}}}},
        )

    point_at("no-such-addon")
    wait_until(
        lambda: (
            condition(get_app(api_client, namespace, "stranded"), "AddonsReady").get("reason")
            == "AddonNotFound"
        ),
        WAIT,
        "the missing Addon to be reported",
    )
    time.sleep(2 * RESYNC_SECONDS)  # a resync pass or two with the problem
    assert secret_data(api_client, namespace, "stranded-postgresql") == before, "the Secret stays as it was"
    point_at(addons.names["postgresql"])
    wait_until(
        lambda: addons_ready(api_client, namespace, "stranded"), WAIT, "the app to be provisioned again"
    )
    assert secret_data(api_client, namespace, "stranded-postgresql") == before
    pg_login(before).close()


def _can_login(env: dict[str, str]) -> bool:
    try:
        pg_login(env).close()
    except psycopg2.OperationalError:
        return False
    return True


def _secrets_hash(api: client.ApiClient, namespace: str, name: str) -> str:
    deployment = k8s.get(api, "apps/v1", "Deployment", namespace, name)
    assert deployment is not None
    return str(deployment["spec"]["template"]["metadata"]["annotations"]["cloudron.io/secrets-hash"])


def _gone(api: client.ApiClient, namespace: str, name: str) -> Callable[[], bool]:
    return lambda: k8s.get(api, *APP, namespace, name) is None


def _addons_ready_check(api: client.ApiClient, namespace: str, name: str) -> Callable[[], bool]:
    return lambda: addons_ready(api, namespace, name)


def test_a_drop_that_cannot_complete_says_why_and_is_retried(
    api_client: client.ApiClient,
    namespace: str,
    app_operator: OperatorProcess,
    own_postgres: StoppableServer,
) -> None:
    with addons_for_test(api_client, namespace, {"postgresql": own_postgres.server}) as stopping:
        uid = provisioned_app(
            api_client, namespace, "undeletable", stopping, manifest_addons={"postgresql": {}}
        )
        own_postgres.stop()
        k8s.delete(api_client, *APP, namespace, "undeletable")

        def blocked() -> bool:
            return condition(get_app(api_client, namespace, "undeletable"), "Ready").get("reason") == (
                "DeprovisionFailed"
            )

        wait_until(blocked, WAIT, "the app to say why it cannot be deleted yet")
        message = condition(get_app(api_client, namespace, "undeletable"), "Ready")["message"]
        assert stopping.names["postgresql"] in message
        assert "cloudron.io/retain-databases" in message, "the way out is named"

        own_postgres.start_again()
        wait_until(_gone(api_client, namespace, "undeletable"), 60, "the retried drop to let the app go")
        assert uid not in stopping.app_uids("postgresql")


def _spec_writers(app: dict[str, Any]) -> set[str]:
    """Field managers that own any field of the spec."""
    return {
        entry["manager"]
        for entry in app["metadata"].get("managedFields", [])
        if "f:spec" in (entry.get("fieldsV1") or {})
    }


def test_a_rotated_admin_password_reaches_the_apps_passes_before_the_kept_secret_expires(
    api_client: client.ApiClient,
    namespace: str,
    app_operator: OperatorProcess,
    own_postgres: StoppableServer,
) -> None:
    server = own_postgres.server
    with addons_for_test(api_client, namespace, {"postgresql": server}) as rotating:
        provisioned_app(api_client, namespace, "rotated", rotating, manifest_addons={"postgresql": {}})
        new_password = uuid.uuid4().hex
        admin = psycopg2.connect(
            host=server.host,
            port=server.port,
            user=server.admin_user,
            password=server.admin_password,
            dbname="postgres",
        )
        try:
            admin.autocommit = True
            with admin.cursor() as cur:
                alter = sql.SQL("ALTER ROLE {} PASSWORD %s").format(sql.Identifier(server.admin_user))
                cur.execute(alter, (new_password,))
        finally:
            admin.close()
        client.CoreV1Api(api_client).patch_namespaced_secret(
            rotating.names["postgresql"], namespace, {"stringData": {"password": new_password}}
        )
        updated = client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
            "cloudron.io",
            "v1alpha1",
            namespace,
            "cloudronapps",
            "rotated",
            {"spec": {"env": {"ROTATED": "1"}}},
        )

        def reconciled_with_addons() -> bool:
            app = get_app(api_client, namespace, "rotated")
            return (
                app.get("status", {}).get("reconciledGeneration") == updated["metadata"]["generation"]
                and condition(app, "AddonsReady").get("status") == "True"
            )

        # The operator kept the old Secret, read moments ago. What drops it before it expires: the
        # update's pass failing to log in with it, or the Addon's check, which reads it afresh
        # (every resync interval: seconds here). The unit tests tell the two apart.
        wait_until(
            reconciled_with_addons, 0.75 * ADMIN_SECRET_MAX_AGE, "the app's pass to use the new password"
        )
