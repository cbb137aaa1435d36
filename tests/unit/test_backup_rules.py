"""The pure rules of backups: when a schedule is due, what retention prunes, which package a
restoring app runs, and the Job a backup or restore becomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cloudron_operator.backup.package import held_for_restore, restoring, running_package
from cloudron_operator.backup.retention import BackupEntry, Retention, to_prune
from cloudron_operator.builders.backup_job import JobVolumes, StoreTarget, backup_job
from cloudron_operator.builders.identity import AppIdentity
from cloudron_operator.manifest.cron import latest_due
from cloudron_operator.reconcile.backups import recorded_spec, short_name

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 3, 3, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "after", "due"),
    [
        ("0 3 * * *", NOW - timedelta(hours=5), datetime(2026, 12, 3, 3, 0, tzinfo=UTC)),
        ("0 3 * * *", NOW, None),  # done already this minute
        ("0 4 * * *", NOW - timedelta(days=1), datetime(2026, 12, 2, 4, 0, tzinfo=UTC)),
        ("*/15 * * * *", None, datetime(2026, 12, 3, 3, 0, tzinfo=UTC)),
        ("@daily", NOW - timedelta(days=1), datetime(2026, 12, 3, 0, 0, tzinfo=UTC)),
        ("0 3 * * mon", NOW - timedelta(days=9), datetime(2026, 11, 30, 3, 0, tzinfo=UTC)),
        ("0 3 1 1 *", NOW - timedelta(days=400), datetime(2026, 1, 1, 3, 0, tzinfo=UTC)),  # yearly, missed
        # Both day fields restricted: either matches (cron's rule). The 3rd is a Thursday.
        ("0 3 1 * thu", NOW - timedelta(hours=1), datetime(2026, 12, 3, 3, 0, tzinfo=UTC)),
        # Missed for a month (the operator was down): it runs once, for the latest time.
        ("0 2 * * *", NOW - timedelta(days=30), datetime(2026, 12, 3, 2, 0, tzinfo=UTC)),
    ],
)
def test_a_schedule_is_due_at_the_latest_time_it_names_since_the_last(
    schedule: str, after: datetime | None, due: datetime | None
) -> None:
    assert latest_due(schedule, after, NOW) == due


@pytest.mark.parametrize("schedule", ["@service", "@reboot", "61 * * * *", "nonsense"])
def test_a_schedule_that_names_no_time_is_refused(schedule: str) -> None:
    with pytest.raises(ValueError):
        latest_due(schedule, None, NOW)


def _entry(name: str, days_ago: float, reason: str = "scheduled", phase: str = "Succeeded") -> BackupEntry:
    return BackupEntry(name, reason, phase, NOW - timedelta(days=days_ago))


def test_retention_keeps_the_newest_of_each_day_week_and_month() -> None:
    midnight = NOW.replace(hour=0, minute=0, second=0)
    entries = [
        BackupEntry(
            f"{day}-{hour}", "scheduled", "Succeeded", midnight - timedelta(days=day) + timedelta(hours=hour)
        )
        for day in range(70)
        for hour in (1, 2)
    ]
    pruned = set(to_prune(entries, Retention(keep_daily=3, keep_weekly=2, keep_monthly=2), NOW))
    kept = {e.name for e in entries} - pruned
    # Days: Dec 3, 2, 1. Weeks: this ISO week's newest is Dec 3's; the week before ends Sunday Nov 29.
    # Months: December's newest is Dec 3's; November's is Nov 30's.
    assert kept == {"0-2", "1-2", "2-2", "4-2", "3-2"}


def test_retention_never_prunes_manual_young_pre_update_running_or_the_last_good_backup() -> None:
    entries = [
        _entry("manual-old", 400, reason="manual"),
        _entry("pre-young", 20, reason="preUpdate"),
        _entry("pre-old", 22, reason="preUpdate"),
        _entry("running", 0.001, phase="Running"),
        _entry("failed-new", 0.01, phase="Failed"),
        _entry("failed-old", 50, phase="Failed"),
        _entry("scheduled-old", 40),
    ]
    assert to_prune(entries, Retention(0, 0, 0), NOW) == ["failed-old", "scheduled-old", "pre-old"]
    # The newest good backup is kept whatever the rules say.
    only_scheduled = [_entry("last-good", 30), _entry("older", 31), _entry("failed-since", 1, phase="Failed")]
    assert to_prune(only_scheduled, Retention(0, 0, 0), NOW) == ["older"]


def test_retention_prunes_nothing_without_a_good_backup() -> None:
    entries = [_entry("a", 10, phase="Failed"), _entry("b", 1, phase="Failed")]
    assert to_prune(entries, Retention(0, 0, 0), NOW) == []


def _app(spec: dict[str, Any], restore: dict[str, Any] | None) -> dict[str, Any]:
    return {"spec": spec, "status": {"restore": restore} if restore else {}}


OWN = {"image": "own:1", "manifest": {"version": "1.0.0"}}
RECORD = {"backup": "b1", "image": "backup:0", "manifest": {"version": "0.9.0"}}


@pytest.mark.parametrize(
    ("spec", "phase", "image", "held"),
    [
        ({**OWN}, None, "own:1", False),  # no restore
        ({**OWN, "restoreFrom": {"backup": "b1"}}, None, "own:1", True),  # not read yet: stopped
        ({**OWN, "restoreFrom": {"backup": "b1"}}, "Pending", "backup:0", True),
        ({**OWN, "restoreFrom": {"backup": "b1"}}, "Running", "backup:0", True),
        ({**OWN, "restoreFrom": {"backup": "b1"}}, "Succeeded", "backup:0", False),
        ({**OWN, "restoreFrom": {"backup": "b1"}}, "Failed", "own:1", False),  # its own package again
        ({"restoreFrom": {"backup": "b1"}}, "Failed", "backup:0", True),  # a clone has none: stopped
        ({**OWN, "restoreFrom": {"backup": "b2"}}, "Succeeded", "own:1", True),  # another backup now
    ],
)
def test_a_restoring_app_runs_the_backups_package_and_is_held_while_its_data_is_replaced(
    spec: dict[str, Any], phase: str | None, image: str, held: bool
) -> None:
    app = _app(spec, {**RECORD, "phase": phase} if phase else None)
    assert running_package(app).get("image") == image
    assert held_for_restore(app) is held
    assert running_package(_app(running_package(app), app["status"].get("restore"))) == running_package(app)


def test_no_restore_is_in_progress_without_restore_from() -> None:
    assert not restoring(_app(OWN, {**RECORD, "phase": "Running"}))


def _job(beside_app: bool, encrypted: bool = True) -> dict[str, Any]:
    return backup_job(
        AppIdentity("wiki", "team", "uid-1"),
        name="wiki-b1-backup",
        action="create",
        owner={"apiVersion": "cloudron.io/v1alpha1", "kind": "CloudronBackup", "name": "wiki-b1", "uid": "u"},
        image="cloudron-operator:0.1.0",
        app_env=[{"name": "CLOUDRON_APP_ORIGIN", "value": "https://wiki.example.com"}],
        app_env_from=[{"secretRef": {"name": "wiki-postgresql"}}],
        volumes=JobVolumes(data_claim=True, dirs_claim=True, sqlite_paths=("db/app.sqlite",)),
        store=StoreTarget(
            "http://s3",
            "bucket",
            "cluster-a/",
            "us-east-1",
            "team/wiki/wiki-b1/",
            "cloudron-backup-s3",
            encrypted,
        ),
        task_env={"CLOUDRON_BACKUP_RECORD": "{}"},
        addons=["postgresql"],
        beside_app=beside_app,
    )


def test_the_job_runs_the_operators_program_with_the_apps_env_volumes_and_store() -> None:
    job = _job(beside_app=True)
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "cloudron_operator", "backup", "create"]
    assert container["envFrom"] == [{"secretRef": {"name": "wiki-postgresql"}}]
    env = {e["name"]: e for e in container["env"]}
    assert env["CLOUDRON_BACKUP_DIR_DATA"]["value"] == "/app/data"
    assert env["CLOUDRON_BACKUP_DIR_PERSISTENT"]["value"] == "/app/persistent"
    assert env["CLOUDRON_BACKUP_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "cloudron-backup-s3",
        "key": "password",
    }
    assert (
        env["CLOUDRON_BACKUP_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "cloudron-backup-s3"
    )
    assert {
        v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v
    } == {
        "wiki-data",
        "wiki-dirs",
    }
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    term = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "app"
    assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "backup"
    assert job["metadata"]["ownerReferences"][0]["controller"] is True


def test_a_restore_job_goes_anywhere_and_an_unencrypted_store_has_no_password() -> None:
    job = _job(beside_app=False, encrypted=False)
    pod = job["spec"]["template"]["spec"]
    assert "affinity" not in pod
    assert "CLOUDRON_BACKUP_PASSWORD" not in {e["name"] for e in pod["containers"][0]["env"]}


def test_a_long_name_is_shortened_with_a_digest_and_stays_unique() -> None:
    assert short_name("wiki", "-backup") == "wiki-backup"
    long_a, long_b = "a" * 60 + "x", "a" * 60 + "y"
    assert len(short_name(long_a, "-backup")) == 63
    assert short_name(long_a, "-backup") != short_name(long_b, "-backup")


def test_a_backup_records_the_spec_without_env_values_or_the_restore() -> None:
    spec = {"image": "x:1", "env": {"API_TOKEN": "s3cr3t"}, "restoreFrom": {"backup": "b"}, "running": False}
    assert recorded_spec(spec) == {"image": "x:1", "env": {"API_TOKEN": ""}}
