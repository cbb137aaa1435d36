"""Backups through the operator: the BackupStore check, a CloudronBackup's Job, restore and clone with
spec.restoreFrom, retention, deletion, and a new cluster importing the store.

kwok runs no container: each Job the operator writes is run by the harness as a kubelet would
(its container's command, env with Secrets resolved, volumes mapped to directories), and the
real job controller marks it Complete or Failed from the pod's status.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import redis
from kubernetes import client, config

from cloudron_operator.k8s import api as k8s
from cloudron_operator.provisioners.base import AppDatabase, ServerAccess
from cloudron_operator.provisioners.postgresql import PostgresqlBackend
from tests.harness.databases import DatabaseServer
from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import wait_until
from tests.harness.s3 import S3Server, s3_client
from tests.integration.addon_support import (
    AddonSet,
    addons_for_test,
    addons_ready,
    app_object,
    pg_login,
    secret_data,
)
from tests.integration.apps_support import (
    condition,
    get_app,
    install_crds,
    namespaced_operator,
    pre_bound_volume,
)
from tests.integration.backup_support import change_everything, fingerprint, make_tree, private_redis
from tests.integration.backups_support import (
    BACKUP,
    WAIT,
    backup_store,
    clone_of,
    complete_backup,
    get_backup,
    make_backup,
    ready,
    redis_env,
    redis_password,
    restore_status,
    run_backup_program,
    run_restore,
    store_ready,
    wait_for_phase,
    wait_for_restore_job,
)

MIB = 1024 * 1024
MANIFEST_ADDONS: dict[str, Any] = {"postgresql": {}, "redis": {}, "localstorage": {}}


@pytest.fixture
def addons(api_client: client.ApiClient, namespace: str, postgres_server: DatabaseServer) -> Any:
    with addons_for_test(api_client, namespace, {"postgresql": postgres_server, "redis": None}) as made:
        yield made


def _rows(env: dict[str, str]) -> list[tuple[Any, ...]]:
    with pg_login(env) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('pages') IS NOT NULL")
        (exists,) = cur.fetchone() or (False,)
        if not exists:
            return []
        cur.execute("SELECT * FROM pages ORDER BY id")
        rows = list(cur.fetchall())
    conn.close()
    return rows


def _keys(port: int, password: str) -> dict[bytes, Any]:
    server = redis.Redis(host="127.0.0.1", port=port, password=password)
    return {key: server.dump(key) for key in sorted(server.keys("*"))}  # type: ignore[arg-type]


def _patch_spec(api: client.ApiClient, namespace: str, name: str, spec: dict[str, Any]) -> None:
    client.CustomObjectsApi(api).patch_namespaced_custom_object(
        "cloudron.io", "v1alpha1", namespace, "cloudronapps", name, {"spec": spec}
    )


def _restore_job(api: client.ApiClient, namespace: str, app: str) -> None:
    wait_until(
        lambda: bool(restore_status(api, namespace, app).get("job")), WAIT, f"the restore Job of {app}"
    )


def _replicas(api: client.ApiClient, namespace: str, app: str) -> int:
    deployment = k8s.get(api, "apps/v1", "Deployment", namespace, app) or {}
    return int((deployment.get("spec") or {}).get("replicas", -1))


def _store_keys(s3: S3Server, bucket: str, prefix: str) -> list[str]:
    answer = s3_client(s3).list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in answer.get("Contents", [])]


def test_a_backup_restores_the_app_and_clones_it_into_a_new_one(  # noqa: PLR0917 - fixtures
    api_client: client.ApiClient,
    namespace: str,
    app_operator: OperatorProcess,
    addons: AddonSet,
    s3_server: S3Server,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    store_name = f"store-{namespace}"
    jobs = tmp_path / "jobs"
    for claim in ("wiki-data", "copy-data"):
        pre_bound_volume(api_client, namespace, claim)
    with backup_store(
        api_client, namespace, store_name, s3_server, s3_bucket, password="a long passphrase"
    ) as _:
        wait_until(
            lambda: (
                ready(k8s.get(api_client, "cloudron.io/v1alpha1", "BackupStore", None, store_name)).get(
                    "status"
                )
                == "True"
            ),
            WAIT,
            "the store to be Ready",
        )
        app = app_object("wiki", namespace, addons, manifest_addons=MANIFEST_ADDONS)
        app["spec"]["backup"] = {"store": store_name}
        k8s.create(api_client, app)
        wait_until(lambda: addons_ready(api_client, namespace, "wiki"), WAIT, "the app's addons")
        data = tmp_path / "wiki-data"
        make_tree(data, files=300, total_bytes=8 * MIB)
        pg = secret_data(api_client, namespace, "wiki-postgresql")
        with pg_login(pg) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE pages (id serial PRIMARY KEY, title text)")
            cur.execute("INSERT INTO pages (title) SELECT 'page ' || i FROM generate_series(1, 1000) i")
        conn.close()
        wiki_redis_password = redis_password(api_client, namespace, "wiki")
        (tmp_path / "redis-wiki").mkdir()
        with private_redis(tmp_path / "redis-wiki", wiki_redis_password) as wiki_redis:
            port = int(wiki_redis["CLOUDRON_REDIS_PORT"])
            redis.Redis(host="127.0.0.1", port=port, password=wiki_redis_password).set("session", "kept")
            files, rows, keys = fingerprint(data), _rows(pg), _keys(port, wiki_redis_password)

            make_backup(api_client, namespace, "wiki-b1", "wiki")
            backup = complete_backup(
                api_client,
                namespace,
                "wiki-b1",
                claims={"wiki-data": data},
                root=tmp_path / "jobs",
                env=redis_env(port),
            )
            status = backup["status"]
            assert status["contents"] == ["postgresql", "redis", "files"]
            assert status["appVersion"] == "1.0.0" and status["encrypted"] is True
            assert status["size"] > 8 * MIB and ready(backup)["status"] == "True"
            folder = f"cluster-a/{namespace}/wiki/wiki-b1/"
            assert status["location"] == f"{namespace}/wiki/wiki-b1/"
            assert f"{folder}index.json" in _store_keys(s3_server, s3_bucket, folder)

            # Everything changes; then the app is brought back to the backup.
            change_everything(data)
            with pg_login(pg) as conn, conn.cursor() as cur:
                cur.execute("DELETE FROM pages WHERE id > 10")
            conn.close()
            redis.Redis(host="127.0.0.1", port=port, password=wiki_redis_password).flushall()
            _patch_spec(api_client, namespace, "wiki", {"restoreFrom": {"backup": "wiki-b1"}})
            wait_for_restore_job(api_client, namespace, "wiki")
            assert _replicas(api_client, namespace, "wiki") == 0, (
                "the app is stopped while its data is replaced"
            )
            wait_until(
                lambda: get_app(api_client, namespace, "wiki")["status"]["phase"] == "Restoring",
                WAIT,
                "phase Restoring",
            )
            ready_while = condition(get_app(api_client, namespace, "wiki"), "Ready")
            assert (ready_while["status"], ready_while["reason"]) in {
                ("False", "Restoring"),
                ("False", "RestorePending"),
            }
            run_restore(api_client, namespace, "wiki", claims={"wiki-data": data}, root=jobs, redis_port=port)
            wait_until(lambda: _replicas(api_client, namespace, "wiki") == 1, WAIT, "the app to start again")
            wait_until(
                lambda: condition(get_app(api_client, namespace, "wiki"), "Restored").get("status") == "True",
                WAIT,
                "Restored=True",
            )
            assert fingerprint(data) == files
            assert _rows(pg) == rows
            assert _keys(port, wiki_redis_password) == keys

            # A clone: a new app from the same backup, with databases and passwords of its own.
            k8s.create(api_client, clone_of("copy", namespace, "wiki-b1", addons.names))
            wait_for_restore_job(api_client, namespace, "copy")  # its addons are provisioned by then
            copy_data = tmp_path / "copy-data"
            copy_data.mkdir()
            copy_redis_password = redis_password(api_client, namespace, "copy")
            assert copy_redis_password != wiki_redis_password
            (tmp_path / "redis-copy").mkdir()
            with private_redis(tmp_path / "redis-copy", copy_redis_password) as copy_redis:
                copy_port = int(copy_redis["CLOUDRON_REDIS_PORT"])
                claims = {"copy-data": copy_data}
                run_restore(api_client, namespace, "copy", claims=claims, root=jobs, redis_port=copy_port)
                copy_pg = secret_data(api_client, namespace, "copy-postgresql")
                for key in (
                    "CLOUDRON_POSTGRESQL_DATABASE",
                    "CLOUDRON_POSTGRESQL_USERNAME",
                    "CLOUDRON_POSTGRESQL_PASSWORD",
                ):
                    assert copy_pg[key] != pg[key]
                assert fingerprint(copy_data) == files
                assert _rows(copy_pg) == rows
                assert _keys(copy_port, copy_redis_password) == keys
                copy_app = get_app(api_client, namespace, "copy")
                assert copy_app["status"]["restore"]["clone"] is True
                assert copy_app["status"]["restore"]["image"] == app["spec"]["image"]

                # An app that has run refuses another app's backup: its data is not a clone's.
                make_backup(api_client, namespace, "copy-b1", "copy", store=store_name)
                complete_backup(
                    api_client,
                    namespace,
                    "copy-b1",
                    claims={"copy-data": copy_data},
                    root=tmp_path / "jobs",
                    env=redis_env(copy_port),
                )
                _patch_spec(api_client, namespace, "wiki", {"restoreFrom": {"backup": "copy-b1"}})
                wait_until(
                    lambda: (
                        condition(get_app(api_client, namespace, "wiki"), "Ready").get("reason")
                        == "RestoreRefused"
                    ),
                    WAIT,
                    "the restore to be refused",
                )
                assert _replicas(api_client, namespace, "wiki") == 1, "the refused app keeps running"

        # Deleting the backup deletes what the store holds of it.
        k8s.delete(api_client, *BACKUP, namespace, "wiki-b1")
        wait_until(
            lambda: k8s.get(api_client, *BACKUP, namespace, "wiki-b1") is None, WAIT, "the backup's deletion"
        )
        assert _store_keys(s3_server, s3_bucket, folder) == []


def test_an_unreachable_store_or_a_failing_job_is_reported_and_the_app_untouched(  # noqa: PLR0917
    api_client: client.ApiClient,
    namespace: str,
    app_operator: OperatorProcess,
    addons: AddonSet,
    s3_server: S3Server,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    pre_bound_volume(api_client, namespace, "wiki-data")
    jobs = tmp_path / "jobs"
    bad, good = f"bad-{namespace}", f"good-{namespace}"
    with (
        backup_store(api_client, namespace, bad, s3_server, s3_bucket, secret_key="not-the-secret"),
        backup_store(api_client, namespace, good, s3_server, s3_bucket),
    ):
        wait_until(
            lambda: (
                ready(k8s.get(api_client, "cloudron.io/v1alpha1", "BackupStore", None, bad)).get("reason")
                == "StoreUnreachable"
            ),
            WAIT,
            "the wrong credentials to be reported",
        )
        bad_store = k8s.get(api_client, "cloudron.io/v1alpha1", "BackupStore", None, bad)
        assert "SignatureDoesNotMatch" in ready(bad_store)["message"]
        assert "not-the-secret" not in ready(bad_store)["message"]
        wait_until(lambda: store_ready(api_client, good), WAIT, "the good store")

        app = app_object("wiki", namespace, addons, manifest_addons=MANIFEST_ADDONS)
        k8s.create(api_client, app)
        wait_until(lambda: addons_ready(api_client, namespace, "wiki"), WAIT, "the app's addons")
        make_backup(api_client, namespace, "to-bad", "wiki", store=bad)
        wait_until(
            lambda: ready(get_backup(api_client, namespace, "to-bad")).get("reason") == "StoreUnreachable",
            WAIT,
            "the backup to wait for its store",
        )
        assert get_backup(api_client, namespace, "to-bad")["status"]["phase"] == "Pending"
        assert k8s.get(api_client, "batch/v1", "Job", namespace, "to-bad-backup") is None

        # The app's Redis does not answer: each of the Job's tries fails, then the backup.
        data = tmp_path / "wiki-data"
        data.mkdir()
        make_backup(api_client, namespace, "to-good", "wiki", store=good)
        outputs = []
        for _attempt in range(3):  # backoffLimit 2: three pods
            run = run_backup_program(
                api_client,
                namespace,
                "to-good-backup",
                claims={"wiki-data": data},
                root=tmp_path / "jobs",
                env={"CLOUDRON_REDIS_HOST": "127.0.0.1", "CLOUDRON_REDIS_PORT": "9"},
            )
            outputs.append(run.output)
            assert run.exit_code == 1
        failed = wait_for_phase(api_client, namespace, "to-good", "Failed")
        assert "Connection refused" in ready(failed)["message"] or "connecting" in ready(failed)["message"]
        assert ready(failed)["reason"] == "BackupFailed"
        folder = f"cluster-a/{namespace}/wiki/to-good/"
        assert f"{folder}index.json" not in _store_keys(s3_server, s3_bucket, folder)
        assert _replicas(api_client, namespace, "wiki") == 1, "a failed backup leaves the app running"

        # A backup that is damaged in the store: the restore refuses it and the app is as it was.
        (tmp_path / "redis").mkdir()
        with private_redis(tmp_path / "redis", redis_password(api_client, namespace, "wiki")) as own_redis:
            port = int(own_redis["CLOUDRON_REDIS_PORT"])
            (data / "kept.txt").write_text("the app's data before the restore")
            make_backup(api_client, namespace, "damaged", "wiki", store=good)
            complete_backup(
                api_client,
                namespace,
                "damaged",
                claims={"wiki-data": data},
                root=jobs,
                env=redis_env(port),
            )
            key = f"cluster-a/{namespace}/wiki/damaged/files.tar"
            s3 = s3_client(s3_server)
            stored = s3.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
            s3.put_object(Bucket=s3_bucket, Key=key, Body=stored[:-100])
            (data / "kept.txt").write_text("written after the backup")
            before = fingerprint(data)
            _patch_spec(api_client, namespace, "wiki", {"restoreFrom": {"backup": "damaged"}})
            job = wait_for_restore_job(api_client, namespace, "wiki")
            for _attempt in range(3):  # backoffLimit 2: three pods, each refusing
                run = run_backup_program(
                    api_client, namespace, job, claims={"wiki-data": data}, root=jobs, env=redis_env(port)
                )
                assert run.exit_code == 1
            wait_until(
                lambda: restore_status(api_client, namespace, "wiki").get("phase") == "Failed", WAIT, "it"
            )
            assert "corrupted or truncated" in restore_status(api_client, namespace, "wiki")["message"]
            wait_until(
                lambda: (
                    condition(get_app(api_client, namespace, "wiki"), "Restored").get("reason")
                    == "RestoreFailed"
                ),
                WAIT,
                "Restored=False",
            )
            wait_until(lambda: _replicas(api_client, namespace, "wiki") == 1, WAIT, "the app to run again")
            assert fingerprint(data) == before


def test_the_schedule_makes_backups_and_retention_prunes_them(  # noqa: PLR0917
    api_client: client.ApiClient,
    namespace: str,
    app_operator: OperatorProcess,
    addons: AddonSet,
    s3_server: S3Server,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    pre_bound_volume(api_client, namespace, "wiki-data")
    store_name = f"store-{namespace}"
    with backup_store(api_client, namespace, store_name, s3_server, s3_bucket):
        wait_until(lambda: store_ready(api_client, store_name), WAIT, "the store")
        app = app_object("wiki", namespace, addons, manifest_addons=MANIFEST_ADDONS)
        retention = {"keepDaily": 1, "keepWeekly": 0}
        app["spec"]["backup"] = {"store": store_name, "schedule": "* * * * *", "retention": retention}
        k8s.create(api_client, app)
        wait_until(lambda: addons_ready(api_client, namespace, "wiki"), WAIT, "the app's addons")
        data = tmp_path / "wiki-data"
        make_tree(data, files=20, total_bytes=MIB)
        password = redis_password(api_client, namespace, "wiki")
        (tmp_path / "redis").mkdir()
        with private_redis(tmp_path / "redis", password) as own_redis:
            env = redis_env(int(own_redis["CLOUDRON_REDIS_PORT"]))
            make_backup(api_client, namespace, "older", "wiki", reason="scheduled")
            complete_backup(
                api_client,
                namespace,
                "older",
                claims={"wiki-data": data},
                root=tmp_path / "jobs",
                env=env,
            )
            make_backup(api_client, namespace, "by-hand", "wiki")
            complete_backup(
                api_client,
                namespace,
                "by-hand",
                claims={"wiki-data": data},
                root=tmp_path / "jobs",
                env=env,
            )
            assert k8s.get(api_client, *BACKUP, namespace, "older") is not None, "the newest good is by hand"

            def scheduled() -> list[str]:
                items = k8s.list_objects(api_client, *BACKUP, namespace, "cloudron.io/backup-of=wiki")
                return [i["metadata"]["name"] for i in items if i["spec"]["reason"] == "scheduled"]

            wait_until(lambda: bool(scheduled()), 75, "the schedule to make a backup")
            (made,) = scheduled()
            assert made.startswith("wiki-")
            complete_backup(
                api_client,
                namespace,
                made,
                claims={"wiki-data": data},
                root=tmp_path / "jobs",
                env=env,
            )
            # keepDaily 1: the older scheduled backup of the same day goes, with its data; by hand stays.
            wait_until(lambda: k8s.get(api_client, *BACKUP, namespace, "older") is None, WAIT, "the pruning")
            assert _store_keys(s3_server, s3_bucket, f"cluster-a/{namespace}/wiki/older/") == []
            assert k8s.get(api_client, *BACKUP, namespace, "by-hand") is not None, "never pruned: by hand"
            assert k8s.get(api_client, *BACKUP, namespace, made) is not None, "the newest of the day"


def _annotate_store(api: client.ApiClient, name: str, annotations: dict[str, str]) -> None:
    client.CustomObjectsApi(api).patch_cluster_custom_object(
        "cloudron.io", "v1alpha1", "backupstores", name, {"metadata": {"annotations": annotations}}
    )


def test_a_new_cluster_imports_the_store_and_restores_the_app_from_it(  # noqa: PLR0917
    api_client: client.ApiClient,
    namespace: str,
    app_operator: OperatorProcess,
    postgres_server: DatabaseServer,
    s3_server: S3Server,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    """The app is backed up on a cluster that is then torn down; the session's cluster, new to it,
    imports the store and restores the app from it: same files, rows and keys."""
    old = LocalEnv.named(f"test-{os.getpid()}-old")
    old_uid = ""
    data = tmp_path / "wiki-data"
    store_name = f"store-{namespace}"
    (tmp_path / "redis").mkdir()
    password = "the same passphrase on both clusters"
    try:
        old.cluster.ensure_running()
        install_crds(old)
        old_api = config.new_client_from_config(config_file=str(old.cluster.kubeconfig))
        client.CoreV1Api(old_api).create_namespace({"metadata": {"name": namespace}})
        old_operator = namespaced_operator(old.cluster.kubeconfig, tmp_path / "old-operator.log", namespace)
        old_operator.start()
        try:
            pre_bound_volume(old_api, namespace, "wiki-data")
            with (
                addons_for_test(old_api, namespace, {"postgresql": postgres_server, "redis": None}) as addons,
                backup_store(old_api, namespace, store_name, s3_server, s3_bucket, password=password),
            ):
                app = app_object("wiki", namespace, addons, manifest_addons=MANIFEST_ADDONS)
                old_uid = k8s.create(old_api, app)["metadata"]["uid"]
                wait_until(lambda: addons_ready(old_api, namespace, "wiki"), WAIT, "the old app's addons")
                make_tree(data, files=100, total_bytes=4 * MIB)
                pg = secret_data(old_api, namespace, "wiki-postgresql")
                with pg_login(pg) as conn, conn.cursor() as cur:
                    cur.execute("CREATE TABLE pages (id serial PRIMARY KEY, title text)")
                    cur.execute(
                        "INSERT INTO pages (title) SELECT 'page ' || i FROM generate_series(1, 500) i"
                    )
                conn.close()
                old_redis_password = redis_password(old_api, namespace, "wiki")
                with private_redis(tmp_path / "redis", old_redis_password) as old_redis:
                    port = int(old_redis["CLOUDRON_REDIS_PORT"])
                    redis.Redis(host="127.0.0.1", port=port, password=old_redis_password).set("k", "v")
                    files, rows, keys = fingerprint(data), _rows(pg), _keys(port, old_redis_password)
                    make_backup(old_api, namespace, "wiki-last", "wiki", store=store_name)
                    complete_backup(
                        old_api,
                        namespace,
                        "wiki-last",
                        claims={"wiki-data": data},
                        root=tmp_path / "jobs",
                        env=redis_env(port),
                    )
        finally:
            old_operator.stop()
            old_api.close()
    finally:
        old.cluster.delete()  # the old cluster is gone, its data with it but the store's
    shutil.rmtree(data)

    jobs = tmp_path / "jobs"
    new_data = tmp_path / "new-data"
    new_data.mkdir()
    pre_bound_volume(api_client, namespace, "wiki-data")
    try:
        with (
            addons_for_test(api_client, namespace, {"postgresql": postgres_server, "redis": None}) as addons,
            backup_store(api_client, namespace, store_name, s3_server, s3_bucket, password=password),
        ):
            wait_until(lambda: store_ready(api_client, store_name), WAIT, "the store on the new cluster")
            _annotate_store(api_client, store_name, {"cloudron.io/import": "1"})
            imported = wait_for_phase(api_client, namespace, "wiki-last", "Succeeded")
            assert imported["metadata"]["annotations"]["cloudron.io/retain"] == "true"
            store = k8s.get(api_client, "cloudron.io/v1alpha1", "BackupStore", None, store_name) or {}
            assert store["status"]["lastImport"] == {"request": "1", "found": 1, "created": 1}

            k8s.create(api_client, clone_of("wiki", namespace, "wiki-last", addons.names))
            wait_for_restore_job(api_client, namespace, "wiki")  # its addons are provisioned by then
            new_password = redis_password(api_client, namespace, "wiki")
            (tmp_path / "new-redis").mkdir()
            with private_redis(tmp_path / "new-redis", new_password) as new_redis:
                new_port = int(new_redis["CLOUDRON_REDIS_PORT"])
                claims = {"wiki-data": new_data}
                run_restore(api_client, namespace, "wiki", claims=claims, root=jobs, redis_port=new_port)
                assert fingerprint(new_data) == files
                assert _rows(secret_data(api_client, namespace, "wiki-postgresql")) == rows
                assert _keys(new_port, new_password) == keys
    finally:
        if old_uid:  # the old cluster's operator is gone: its app's database is dropped here
            server = ServerAccess(
                postgres_server.host,
                postgres_server.port,
                postgres_server.admin_user,
                postgres_server.admin_password,
            )
            PostgresqlBackend().deprovision(server, AppDatabase(old_uid))
