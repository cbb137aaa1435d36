"""Install by id, update and roll back, through the operator: a real multi-version catalog of the
corpus (marcusquinn/cloudron-buzz-app: PostgreSQL, Redis, files) served by a static HTTP server on
loopback, the real databases, and the backups' S3 store.

kwok runs no container: the backup and restore Jobs are run by the harness as a kubelet would, and a
pod whose health check asks SIMULATED_UNHEALTHY_PATH never becomes Ready (tests/harness/cluster.py),
which stands for a new version whose health check fails.
"""

from __future__ import annotations

import copy
import json
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from cloudron_operator.handlers.apps import UPDATE_CHECK_SECONDS
from cloudron_operator.k8s import api as k8s
from tests.harness.catalog_server import CatalogServer
from tests.harness.cluster import SIMULATED_UNHEALTHY_PATH
from tests.harness.databases import DatabaseServer
from tests.harness.job_process import JobRun
from tests.harness.processes import wait_until
from tests.harness.s3 import S3Server
from tests.integration.addon_support import AddonSet, addons_for_test, pg_login, secret_data
from tests.integration.apps_support import condition, get_app, pre_bound_volume
from tests.integration.backup_support import private_redis
from tests.integration.backups_support import (
    WAIT,
    backup_store,
    get_backup,
    redis_env,
    redis_password,
    run_backup_program,
    store_ready,
    wait_for_phase,
    wait_for_restore_job,
)
from tests.integration.plugin_support import kubectl_cloudron
from tests.paths import CORPUS

CATALOG = CORPUS.parent / "catalogs" / "marcusquinn__cloudron-buzz-app__CloudronVersions.json"
APP_ID = "xyz.buzz.cloudronapp"
ADDONS = ("postgresql", "redis")
HEALTH_TIMEOUT_SECONDS = 20
BACKUP_JOB_ATTEMPTS = 3  # the backup Job's backoffLimit is 2
INSTALL_WAIT = 2 * WAIT  # a first install waits for its volume, certificate and pods on a loaded CI machine


def published(versions: Iterator[str] | list[str], extra: dict[str, Any] | None = None) -> bytes:
    """The real catalog with only `versions` of it, and `extra` versions added."""
    document = json.loads(CATALOG.read_text())
    document["versions"] = {v: e for v, e in document["versions"].items() if v in versions} | (extra or {})
    return json.dumps(document, indent=2).encode()


def next_version(version: str, *, healthy: bool) -> dict[str, Any]:
    """A version after 0.1.11, published as the packager would: its manifest with a new version and
    image; an unhealthy one's health check never answers."""
    document = json.loads(CATALOG.read_text())
    entry = copy.deepcopy(document["versions"]["0.1.11"])
    entry["manifest"]["version"] = version
    entry["manifest"]["dockerImage"] = f"ghcr.io/marcusquinn/cloudron-buzz-app:{version}"
    if not healthy:
        entry["manifest"]["healthCheckPath"] = SIMULATED_UNHEALTHY_PATH
    return {version: entry}


@pytest.fixture
def addons(
    api_client: client.ApiClient, namespace: str, postgres_server: DatabaseServer
) -> Iterator[AddonSet]:
    with addons_for_test(api_client, namespace, {"postgresql": postgres_server, "redis": None}) as made:
        yield made


def _catalog(api: client.ApiClient, name: str, url: str) -> None:
    k8s.create(
        api,
        {
            "apiVersion": "cloudron.io/v1alpha1",
            "kind": "AppCatalog",
            "metadata": {"name": name},
            "spec": {"url": url, "interval": "10s"},
        },
    )


def _app(name: str, namespace: str, catalog: str, addons: AddonSet, store: str) -> dict[str, Any]:
    return {
        "apiVersion": "cloudron.io/v1alpha1",
        "kind": "CloudronApp",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "source": {"catalog": catalog, "appId": APP_ID},
            "updatePolicy": {"automatic": True, "healthTimeout": f"{HEALTH_TIMEOUT_SECONDS}s"},
            "domain": f"{name}.example.com",
            "addons": {t: {"addonRef": addons.names[t]} for t in ADDONS},
            "backup": {"store": store},
        },
    }


def _status(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    return dict(get_app(api, namespace, name).get("status") or {})


def _time(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _update_phase(api: client.ApiClient, namespace: str, name: str) -> str | None:
    return (_status(api, namespace, name).get("update") or {}).get("phase")


def _deployment_image(api: client.ApiClient, namespace: str, name: str) -> str:
    deployment = k8s.get(api, "apps/v1", "Deployment", namespace, name) or {}
    containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    return str(next((c["image"] for c in containers if c["name"] == "app"), ""))


def _running(api: client.ApiClient, namespace: str, name: str, version: str) -> bool:
    """Ready on `version`; else AssertionError saying where the app is (wait_until reports the last)."""
    status = _status(api, namespace, name)
    if (
        status.get("version") == version
        and condition(get_app(api, namespace, name), "Ready").get("status") == "True"
    ):
        return True
    parts = {c["type"]: f"{c['status']} {c['reason']}: {c['message']}" for c in status.get("conditions", [])}
    package = (status.get("package") or {}).get("version")
    raise AssertionError(f"runs {status.get('version')}, package {package}, conditions {parts}")


def _rows(env: dict[str, str]) -> list[str]:
    with pg_login(env) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS notes (title text)")
        cur.execute("SELECT title FROM notes ORDER BY title")
        rows = [row[0] for row in cur.fetchall()]
    conn.close()
    return rows


def _write_row(env: dict[str, str], title: str) -> None:
    with pg_login(env) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS notes (title text)")
        cur.execute("INSERT INTO notes VALUES (%s)", (title,))
    conn.close()


def _pre_update_backup(
    api: client.ApiClient, namespace: str, name: str, to_version: str, wait: float = WAIT
) -> str:
    """The pre-update backup the operator made for the update to `to_version`, once it exists."""

    def started() -> bool:
        update = _status(api, namespace, name).get("update") or {}
        return update.get("toVersion") == to_version and update.get("phase") == "BackingUp"

    wait_until(started, wait, f"the update of {name} to {to_version} to back up first")
    backup = str(_status(api, namespace, name)["update"]["backup"])
    wait_until(lambda: get_backup(api, namespace, backup) is not None, WAIT, f"backup {backup}")
    assert get_backup(api, namespace, backup)["spec"]["reason"] == "preUpdate"
    return backup


@dataclass
class Buzz:
    """The buzz app of this test, installed by id from the served catalog, with a backup store."""

    api: client.ApiClient
    namespace: str
    catalog_server: CatalogServer
    files: Path  # its volume, as the backup and restore Jobs see it
    jobs: Path
    redis_port: int = 0  # its Redis on loopback (there is no pod network), once `install` started it

    def publish(self, data: bytes) -> None:
        self.catalog_server.publish("buzz.json", data)

    def status(self) -> dict[str, Any]:
        return _status(self.api, self.namespace, "buzz")

    def update_phase(self) -> str | None:
        return _update_phase(self.api, self.namespace, "buzz")

    def image(self) -> str:
        return _deployment_image(self.api, self.namespace, "buzz")

    def running(self, version: str) -> bool:
        return _running(self.api, self.namespace, "buzz", version)

    def database(self) -> dict[str, str]:
        return secret_data(self.api, self.namespace, "buzz-postgresql")

    def run_backup(self, name: str, **env: str) -> JobRun:
        """The backup's Job run once, as a kubelet would (`env` overrides the container's)."""
        self.jobs.mkdir(exist_ok=True)
        root = Path(tempfile.mkdtemp(dir=self.jobs))
        return run_backup_program(
            self.api,
            self.namespace,
            f"{name}-backup",
            claims={"buzz-data": self.files},
            root=root,
            env={**redis_env(self.redis_port), **env},
        )


@pytest.fixture
def buzz(  # noqa: PLR0917 - fixtures
    api_client: client.ApiClient,
    namespace: str,
    app_operator: Any,
    addons: AddonSet,
    s3_server: S3Server,
    s3_bucket: str,
    catalog_server: CatalogServer,
    tmp_path: Path,
) -> Iterator[Callable[[bytes, str], Buzz]]:
    """Installs buzz from a catalog (the bytes served) and waits for it to run a version; its Redis
    runs on loopback until the test ends."""
    store, catalog = f"store-{namespace}", f"buzz-{namespace}"
    pre_bound_volume(api_client, namespace, "buzz-data")
    app = Buzz(api_client, namespace, catalog_server, tmp_path / "buzz-data", tmp_path / "jobs")
    app.files.mkdir()
    with ExitStack() as stack:
        stack.enter_context(backup_store(api_client, namespace, store, s3_server, s3_bucket))
        wait_until(lambda: store_ready(api_client, store), WAIT, "the store to be Ready")

        def install(served: bytes, version: str) -> Buzz:
            app.publish(served)
            _catalog(api_client, catalog, catalog_server.url("buzz.json"))
            k8s.create(api_client, _app("buzz", namespace, catalog, addons, store))
            wait_until(lambda: app.running(version), INSTALL_WAIT, f"{version} to run")
            (tmp_path / "redis").mkdir()
            password = redis_password(api_client, namespace, "buzz")
            app_redis = stack.enter_context(private_redis(tmp_path / "redis", password))
            app.redis_port = int(app_redis["CLOUDRON_REDIS_PORT"])
            return app

        yield install


def test_an_app_installed_by_id_reports_and_takes_an_update_after_a_pre_update_backup(
    api_client: client.ApiClient, namespace: str, buzz: Callable[[bytes, str], Buzz]
) -> None:
    # Version N-2 is the newest published when the app is installed.
    app = buzz(published(["0.1.7", "0.1.8", "0.1.9"]), "0.1.9")
    document = json.loads(CATALOG.read_text())
    status = app.status()
    assert status["package"]["image"] == document["versions"]["0.1.9"]["manifest"]["dockerImage"]
    assert status["package"]["manifest"] == document["versions"]["0.1.9"]["manifest"]
    assert status["package"]["manifestDigest"].startswith("sha256:")
    assert app.image() == status["package"]["image"]
    assert "availableUpdate" not in status
    assert condition(get_app(api_client, namespace, "buzz"), "Updated")["reason"] == "UpToDate"
    _write_row(app.database(), "written on 0.1.9")

    # Updates may start only in a window of updatePolicy.schedule, the next one opening in ~2 minutes.
    opens = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=2)
    window = {"schedule": f"{opens.minute} {opens.hour} * * *", "window": "1m"}
    _patch_source(api_client, namespace, "buzz", {"updatePolicy": window})

    # The packager publishes 0.1.10 and 0.1.11: the operator sees them, and updates by itself once the
    # window opens.
    app.publish(CATALOG.read_bytes())

    def scheduled() -> bool:
        return condition(get_app(api_client, namespace, "buzz"), "Updated").get("reason") == "UpdateScheduled"

    wait_until(scheduled, WAIT, "0.1.11 to be seen and wait for the window")
    assert app.status()["availableUpdate"] == "0.1.11"
    assert app.status()["nextUpdateAt"] == opens.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "update" not in app.status(), "no update before the window"
    backup = _pre_update_backup(api_client, namespace, "buzz", "0.1.11", wait=3 * 60 + WAIT)
    started = _time(app.status()["update"]["startedAt"])
    assert opens <= started < opens + timedelta(minutes=1), f"started at {started}, in the window {opens}"
    assert "nextUpdateAt" not in app.status()
    assert app.status()["availableUpdate"] == "0.1.11"
    assert app.status()["version"] == "0.1.9", "it runs on while it is backed up"
    assert app.run_backup(backup).exit_code == 0
    made = wait_for_phase(api_client, namespace, backup, "Succeeded")
    assert made["status"]["appVersion"] == "0.1.9", "the backup is of the version before the update"
    wait_until(lambda: app.running("0.1.11"), WAIT, "0.1.11 to run")
    wait_until(lambda: app.update_phase() == "Succeeded", WAIT, "the update to end")
    status = app.status()
    assert status["package"]["version"] == "0.1.11"
    assert app.image() == document["versions"]["0.1.11"]["manifest"]["dockerImage"]
    assert status["update"]["fromVersion"] == "0.1.9" and status["update"]["backup"] == backup
    assert "availableUpdate" not in status
    assert condition(get_app(api_client, namespace, "buzz"), "Updated")["reason"] == "UpdateSucceeded"
    assert _rows(app.database()) == ["written on 0.1.9"], "an update keeps the app's data"


def test_an_update_that_never_becomes_ready_is_rolled_back_with_the_data_of_before(
    api_client: client.ApiClient, kubeconfig: Path, namespace: str, buzz: Callable[[bytes, str], Buzz]
) -> None:
    app = buzz(CATALOG.read_bytes(), "0.1.11")
    document = json.loads(CATALOG.read_text())
    _write_row(app.database(), "before the update")
    (app.files / "kept.txt").write_text("before the update")

    # 0.1.12 is published broken: its health check never answers.
    app.publish(published(list(document["versions"]), next_version("0.1.12", healthy=False)))
    backup = _pre_update_backup(api_client, namespace, "buzz", "0.1.12")
    assert app.run_backup(backup).exit_code == 0
    wait_until(lambda: app.update_phase() == "Updating", WAIT, "the update to 0.1.12 to roll out")
    assert app.status()["package"]["version"] == "0.1.12"
    wait_until(lambda: app.image().endswith(":0.1.12"), WAIT, "the Deployment to run 0.1.12")
    # Written after the backup, by the new version: the rollback's restore takes it away.
    _write_row(app.database(), "after the backup")
    (app.files / "kept.txt").write_text("after the backup")
    # Not run_restore: a rollback's restore record is cleared as the update is recorded RolledBack,
    # so its Succeeded can come and go between two polls; RolledBack is what stays.
    job = wait_for_restore_job(api_client, namespace, "buzz")
    run = run_backup_program(
        api_client,
        namespace,
        job,
        claims={"buzz-data": app.files},
        root=app.jobs / "restore",
        env=redis_env(app.redis_port),
    )
    assert run.exit_code == 0, run.output
    wait_until(lambda: app.update_phase() == "RolledBack", WAIT, "the update to be rolled back")
    wait_until(lambda: app.running("0.1.11"), WAIT, "0.1.11 to run again")
    status = app.status()
    assert status["package"]["version"] == "0.1.11"
    assert status["package"]["manifest"] == document["versions"]["0.1.11"]["manifest"]
    assert app.image() == document["versions"]["0.1.11"]["manifest"]["dockerImage"]
    assert _rows(app.database()) == ["before the update"], "the data is as before the update"
    assert (app.files / "kept.txt").read_text() == "before the update"
    wait_until(
        lambda: (
            condition(get_app(api_client, namespace, "buzz"), "Updated").get("reason") == "UpdateRolledBack"
        ),
        WAIT,
        "Updated=False UpdateRolledBack",
    )
    updated = condition(get_app(api_client, namespace, "buzz"), "Updated")
    assert updated["status"] == "False" and "0.1.12" in updated["message"] and backup in updated["message"]
    assert status["availableUpdate"] == "0.1.12", "still published: reported, and not tried again"
    # Rolled back within healthTimeout + a minute of the switch (the deadline is the switch + the timeout).
    late = _time(status["update"]["completedAt"]) - _time(status["update"]["deadline"])
    assert late.total_seconds() <= 60, f"rolled back {late} after the deadline"

    # Not tried again while the catalog and the spec stay as they are: two update checks later, the
    # update is still the rolled-back one and there is no other pre-update backup.
    time.sleep(2 * UPDATE_CHECK_SECONDS + 5)
    assert app.status()["update"] == status["update"]
    backups = k8s.list_objects(api_client, "cloudron.io/v1alpha1", "CloudronBackup", namespace)
    assert [b["metadata"]["name"] for b in backups if b["spec"]["reason"] == "preUpdate"] == [backup]

    # What an admin sees with the plugin: the old version running, the new one as the update.
    listed = kubectl_cloudron(kubeconfig, "list", "-n", namespace)
    assert listed.returncode == 0, listed.stderr
    (row,) = [line.split() for line in listed.stdout.splitlines() if line.startswith("buzz ")]
    assert row[1:3] == ["buzz.example.com", "0.1.11"] and row[-1] == "0.1.12", listed.stdout
    events = client.CoreV1Api(api_client).list_namespaced_event(
        namespace, field_selector="involvedObject.name=buzz,reason=UpdateRolledBack"
    )
    assert events.items, "a Warning Event says the update was rolled back"


def test_a_failed_pre_update_backup_leaves_the_app_on_its_version(
    api_client: client.ApiClient, namespace: str, buzz: Callable[[bytes, str], Buzz]
) -> None:
    app = buzz(CATALOG.read_bytes(), "0.1.11")
    document = json.loads(CATALOG.read_text())
    image = app.image()
    app.publish(published(list(document["versions"]), next_version("0.1.12", healthy=True)))
    backup = _pre_update_backup(api_client, namespace, "buzz", "0.1.12")
    # The store answers neither the backup's Job nor its retries: the backup fails, and the update.
    for _ in range(BACKUP_JOB_ATTEMPTS):
        assert app.run_backup(backup, CLOUDRON_BACKUP_ENDPOINT="http://127.0.0.1:9").exit_code != 0
    wait_until(lambda: app.update_phase() == "Failed", WAIT, "the update to fail")
    status = app.status()
    assert status["update"]["reason"] == "PreUpdateBackupFailed" and backup in status["update"]["message"]
    assert status["package"]["version"] == "0.1.11" and status["version"] == "0.1.11"
    assert app.image() == image, "the app was not touched"
    assert status["availableUpdate"] == "0.1.12"
    # The update's record is written first (its own field manager), the conditions at the pass's end.
    wait_until(
        lambda: (
            condition(get_app(api_client, namespace, "buzz"), "Updated")["reason"] == "PreUpdateBackupFailed"
        ),
        WAIT,
        "Updated to say PreUpdateBackupFailed",
    )
    assert condition(get_app(api_client, namespace, "buzz"), "Updated")["status"] == "False"


GAME = CORPUS.parent / "catalogs" / "bstrana__game-streamer__CloudronVersions.json"
GAME_ID = "io.github.bstrana.game-streamer"


def game_catalog(changes: Mapping[str, Mapping[str, Any] | None]) -> bytes:
    """The real game-streamer catalog (1.0.1 ... 1.3.0), with versions added, changed or removed
    (None): each change is merged into a copy of 1.3.0's entry, `manifest` field by field."""
    document = json.loads(GAME.read_text())
    for version, change in changes.items():
        if change is None:
            document["versions"].pop(version, None)
            continue
        entry = copy.deepcopy(document["versions"]["1.3.0"])
        entry["manifest"] |= {"version": version, "dockerImage": f"ghcr.io/bstrana/game-streamer:{version}"}
        entry["manifest"] |= change.get("manifest", {})
        document["versions"][version] = entry | {
            key: value for key, value in change.items() if key != "manifest"
        }
    return json.dumps(document).encode()


def _ready_reason(api: client.ApiClient, namespace: str, name: str) -> tuple[str, str]:
    ready = condition(get_app(api, namespace, name), "Ready")
    return str(ready.get("reason")), str(ready.get("message"))


def _patch_source(api: client.ApiClient, namespace: str, name: str, spec: dict[str, Any]) -> None:
    client.CustomObjectsApi(api).patch_namespaced_custom_object(
        "cloudron.io", "v1alpha1", namespace, "cloudronapps", name, {"spec": spec}
    )


def test_the_update_rules_hold_through_the_operator(
    api_client: client.ApiClient, namespace: str, app_operator: Any, catalog_server: CatalogServer
) -> None:
    """Each of Cloudron's rules, as an admin meets it: a pinned version it refuses is Ready=False with
    the rule's reason and the app left as it runs; an automatic update it blocks is Updated=False."""
    catalog = f"game-{namespace}"
    pre_bound_volume(api_client, namespace, "game-data")
    port = {"STREAM_PORT": {"title": "RTMP", "description": "stream in", "defaultValue": 1935}}
    catalog_server.publish("game.json", game_catalog({"1.3.1": {"manifest": {"tcpPorts": port}}}))
    _catalog(api_client, catalog, catalog_server.url("game.json"))
    app = {
        "apiVersion": "cloudron.io/v1alpha1",
        "kind": "CloudronApp",
        "metadata": {"name": "game", "namespace": namespace},
        "spec": {
            "source": {"catalog": catalog, "appId": GAME_ID, "version": "1.3.1"},
            "domain": "game.example.com",
        },
    }
    k8s.create(api_client, app)
    wait_until(lambda: _running(api_client, namespace, "game", "1.3.1"), WAIT, "1.3.1 to run")
    image = _deployment_image(api_client, namespace, "game")

    def refused(reason: str) -> bool:
        return _ready_reason(api_client, namespace, "game")[0] == reason

    # Pinned: a downgrade, a version the catalog lacks, a revoked one, another app's. The app is
    # stopped first: one that is not running (or not Ready) is still installed, and held to the rules.
    _patch_source(api_client, namespace, "game", {"running": False})
    wait_until(lambda: "version" not in _status(api_client, namespace, "game"), WAIT, "the app to stop")
    _patch_source(api_client, namespace, "game", {"source": {"version": "1.2.0"}})
    wait_until(lambda: refused("Downgrade"), WAIT, "the downgrade to be refused")
    assert "spec.restoreFrom" in _ready_reason(api_client, namespace, "game")[1]
    _patch_source(api_client, namespace, "game", {"source": {"version": "9.9.9"}})
    wait_until(lambda: refused("VersionNotInCatalog"), WAIT, "a missing version to be named")
    assert "9.9.9" in _ready_reason(api_client, namespace, "game")[1]
    catalog_server.publish(
        "game.json",
        game_catalog({"1.3.1": {"manifest": {"tcpPorts": port}}, "1.3.2": {"publishState": "revoked"}}),
    )
    _patch_source(api_client, namespace, "game", {"source": {"version": "1.3.2"}})
    wait_until(lambda: refused("VersionRevoked"), WAIT, "a revoked version to be refused")
    _patch_source(
        api_client, namespace, "game", {"source": {"appId": "io.github.other.app", "version": "1.3.1"}}
    )
    wait_until(lambda: refused("AppNotInCatalog"), WAIT, "an id the catalog lacks to be named")
    assert _deployment_image(api_client, namespace, "game") == image, (
        "a refused spec leaves the app as it runs"
    )
    assert _status(api_client, namespace, "game")["package"]["version"] == "1.3.1"

    # Automatic: the next major waits for a pin, a version that drops an enabled port too, and an
    # update without a backup store is not made.
    _patch_source(
        api_client,
        namespace,
        "game",
        {"source": {"appId": GAME_ID, "version": None}, "updatePolicy": {"automatic": True}, "running": True},
    )
    wait_until(lambda: _running(api_client, namespace, "game", "1.3.1"), WAIT, "1.3.1 to run again")
    catalog_server.publish(
        "game.json",
        game_catalog({"1.3.1": {"manifest": {"tcpPorts": port}}, "2.0.0": {"manifest": {"tcpPorts": port}}}),
    )

    def blocked(reason: str) -> bool:
        updated = condition(get_app(api_client, namespace, "game"), "Updated")
        return updated.get("status") == "False" and updated.get("reason") == reason

    wait_until(lambda: blocked("MajorVersionChange"), WAIT, "the major version to wait for a pin")
    status = _status(api_client, namespace, "game")
    assert status["availableUpdate"] == "2.0.0" and status["updateBlocked"]["version"] == "2.0.0"
    catalog_server.publish(
        "game.json", game_catalog({"1.3.1": {"manifest": {"tcpPorts": port}}, "1.3.5": {}})
    )
    wait_until(lambda: blocked("PortDropped"), WAIT, "a dropped port in use to block the update")
    assert "STREAM_PORT" in _status(api_client, namespace, "game")["updateBlocked"]["message"]
    # Disabled (null, which a merge patch cannot write), the port is no longer in use.
    client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
        "cloudron.io",
        "v1alpha1",
        namespace,
        "cloudronapps",
        "game",
        [{"op": "add", "path": "/spec/ports", "value": {"STREAM_PORT": None}}],
        _content_type="application/json-patch+json",
    )
    wait_until(lambda: blocked("NoBackupStore"), WAIT, "an update without a store to wait")
    assert _status(api_client, namespace, "game")["package"]["version"] == "1.3.1"
    assert _deployment_image(api_client, namespace, "game") == image
    assert not k8s.list_objects(api_client, "cloudron.io/v1alpha1", "CloudronBackup", namespace)
