"""The scheduler addon's CronJobs: one per task, each run as the app runs, as CLOUDRON.md §2.12 says."""

from __future__ import annotations

from typing import Any

import pytest

from cloudron_operator.addons.plan import refused_addons
from cloudron_operator.builders import desired_children
from cloudron_operator.builders.redis import RedisOptions, build_redis_children
from cloudron_operator.builders.scheduler import CRONJOB_NAME_MAX, RUN_DEADLINE_SECONDS, task_name
from tests.builder_cases import BASE_MANIFEST, CONFIG, identity, manifest_of, spec

pytestmark = pytest.mark.unit

TASKS = {
    "update_feeds": {"schedule": "*/5 * * * *", "command": "python manage.py runjobs minutely"},
    "cleanup": {"schedule": "@daily", "command": "/app/code/cleanup.sh >> /app/data/cleanup.log 2>&1"},
}
SECRETS = {"wiki-postgresql": {"CLOUDRON_POSTGRESQL_URL": "postgres://u:p@db:5432/d"}}


def _children(tasks: dict[str, Any] = TASKS, **fields: Any) -> list[dict[str, Any]]:
    manifest = {
        **BASE_MANIFEST,
        "memoryLimit": 256 * 1024**2,
        "addons": {"localstorage": {}, "scheduler": tasks},
    }
    app_spec = spec(manifest, **fields)
    return desired_children(identity(), app_spec, manifest_of(app_spec), CONFIG, SECRETS)


def _by_kind(children: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [child for child in children if child["kind"] == kind]


def test_each_task_is_a_cronjob_running_its_command_with_the_apps_image_env_and_volume() -> None:
    children = _children()
    (deployment,) = _by_kind(children, "Deployment")
    jobs = {job["metadata"]["name"]: job for job in _by_kind(children, "CronJob")}
    assert set(jobs) == {"wiki-task-update-feeds", "wiki-task-cleanup"}
    app_pod = deployment["spec"]["template"]["spec"]
    app = app_pod["containers"][0]
    for task, job in (
        ("update_feeds", jobs["wiki-task-update-feeds"]),
        ("cleanup", jobs["wiki-task-cleanup"]),
    ):
        assert job["spec"]["schedule"] == TASKS[task]["schedule"]
        assert job["spec"]["concurrencyPolicy"] == "Forbid"  # never two runs at once
        assert job["spec"]["suspend"] is False
        run = job["spec"]["jobTemplate"]["spec"]
        assert (run["backoffLimit"], run["activeDeadlineSeconds"]) == (0, RUN_DEADLINE_SECONDS)
        pod = run["template"]["spec"]
        (container,) = pod["containers"]
        assert container["command"] == ["/bin/sh", "-c", TASKS[task]["command"]]
        assert container["image"] == app["image"]
        assert container["env"] == app["env"] and container["envFrom"] == app["envFrom"]
        assert container["volumeMounts"] == app["volumeMounts"]
        assert container["securityContext"] == app["securityContext"]
        assert pod["volumes"] == app_pod["volumes"]
        assert container["resources"]["limits"]["memory"] == "512Mi"  # twice the app's
        assert "ports" not in container and "readinessProbe" not in container
        assert pod["restartPolicy"] == "Never"
        assert "initContainers" not in pod  # no log follower beside a run
        term = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
        assert term["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        assert term["topologyKey"] == "kubernetes.io/hostname"
        labels = run["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == "task" and labels["cloudron.io/task"] == task
    assert job["metadata"]["ownerReferences"] == deployment["metadata"]["ownerReferences"]


def test_a_task_pulls_the_image_with_the_apps_pull_secrets() -> None:
    children = _children(imagePullSecrets=[{"name": "registry-a"}, {"name": "registry-b"}])
    (deployment,) = _by_kind(children, "Deployment")
    pods = [deployment["spec"]["template"]["spec"]] + [
        job["spec"]["jobTemplate"]["spec"]["template"]["spec"] for job in _by_kind(children, "CronJob")
    ]
    assert len(pods) == 1 + len(TASKS)
    for pod in pods:
        assert pod["imagePullSecrets"] == [{"name": "registry-a"}, {"name": "registry-b"}]


def test_a_stopped_app_runs_no_task() -> None:
    assert all(job["spec"]["suspend"] is True for job in _by_kind(_children(running=False), "CronJob"))


def test_an_app_without_tasks_has_no_cronjob() -> None:
    assert _by_kind(_children({}), "CronJob") == []


def test_task_names_become_dns_names_unique_within_the_app_and_short_enough() -> None:
    assert task_name("wiki", "backup") == "wiki-task-backup"
    assert task_name("wiki", "update_feeds") == "wiki-task-update-feeds"
    assert task_name("wiki", "Backup") != task_name("wiki", "backup")  # task names are case-sensitive
    assert task_name("wiki", "a__b") != task_name("wiki", "a_b")
    long = task_name("a" * 50, "b" * 60)
    assert len(long) <= CRONJOB_NAME_MAX and long.startswith("a") and long != task_name("a" * 50, "c" * 60)


def test_the_apps_redis_admits_its_task_runs_only_when_it_has_tasks() -> None:
    def clients(task_pods: bool) -> list[dict[str, Any]]:
        built = build_redis_children(
            identity(),
            RedisOptions(),
            secret_name="wiki-redis",
            password_key="CLOUDRON_REDIS_PASSWORD",
            password="x",
            app_memory=256 * 1024**2,
            running=True,
            task_pods=task_pods,
        )
        (policy,) = [child for child in built if child["kind"] == "NetworkPolicy"]
        return [peer["podSelector"]["matchLabels"] for peer in policy["spec"]["ingress"][0]["from"]]

    # The app's pods and its backup Jobs' always; task runs only when there are tasks.
    assert [peer["app.kubernetes.io/component"] for peer in clients(False)] == ["app", "backup"]
    assert [peer["app.kubernetes.io/component"] for peer in clients(True)] == ["app", "backup", "task"]


@pytest.mark.parametrize("schedule", ["@service", "@reboot"])
def test_a_schedule_with_no_honest_counterpart_is_refused_saying_why(schedule: str) -> None:
    manifest = {
        **BASE_MANIFEST,
        "addons": {"scheduler": {"worker": {"schedule": schedule, "command": "run"}}},
    }
    app_spec = spec(manifest)
    refused = refused_addons(manifest_of(app_spec), app_spec)
    assert list(refused) == ["scheduler"]
    assert f"task worker: {schedule}" in refused["scheduler"] and "start script" in refused["scheduler"]


def test_a_task_on_sunday_as_7_gets_a_schedule_the_cronjob_takes() -> None:
    tasks = {"weekly": {"schedule": "0 0 * * 7", "command": "true"}}
    (cronjob,) = _by_kind(_children(tasks), "CronJob")
    assert cronjob["spec"]["schedule"] == "0 0 * * 0"
