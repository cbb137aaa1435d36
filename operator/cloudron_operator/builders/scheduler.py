"""The scheduler addon (CLOUDRON.md §2.12): a CronJob per task of the manifest, running the app's image.

As on Cloudron, each run is a container of its own from the app's image with the app's whole env
(its addon Secrets included), `/bin/sh -c <command>`, twice the app's memory limit, no restart,
and the app's `/app/data`. Where Kubernetes differs, and what is done about it:

- `/app/data` is the app's volume, mounted by the run's pod. A ReadWriteOnce volume (the default)
  can be mounted by pods of one node only: the run's pod must run on the app's pod's node (a
  required pod affinity). On a ReadWriteMany class the affinity is still there (the app's pod
  must be running, as Cloudron runs tasks only for a running app); the runs could go anywhere.
- Cloudron shares the app container's `/tmp` and `/run` with a run; a pod cannot share another
  pod's: the run gets its own, seeded from the image as the app's are.
- Never two runs of a task at once; Cloudron kills a run still going 30 minutes later at the next
  tick and starts a new one. Here a new tick is skipped while a run goes on
  (`concurrencyPolicy: Forbid`) and a run is stopped after 30 minutes (`activeDeadlineSeconds`):
  the next tick after that starts the new one.
- A stopped app (`running: false`) runs no task: the CronJobs are suspended.
- `@service` and `@reboot` have no honest counterpart (a run at the start of a box, or a service
  kept running beside the app): an app whose manifest has one is refused with a reason
  (`builders.validation`).
"""

from __future__ import annotations

import copy
import hashlib
import re
from typing import Any, Final

from cloudron_operator.builders.identity import (
    COMPONENT_LABEL,
    AppIdentity,
    child_name,
    common_labels,
    object_meta,
    workload_selector,
)
from cloudron_operator.builders.logs import LOGS_CONTAINER
from cloudron_operator.builders.memory import format_bytes, quantity_bytes
from cloudron_operator.builders.proxy_auth import CONFIG_VOLUME as AUTH_CONFIG_VOLUME
from cloudron_operator.builders.redis import TASK_COMPONENT
from cloudron_operator.manifest import Manifest
from cloudron_operator.manifest.cron import kubernetes_schedule
from cloudron_operator.models import CloudronAppSpec

TASK_LABEL: Final = "cloudron.io/task"
RUN_DEADLINE_SECONDS: Final = 30 * 60  # Cloudron's: a run older than this gives way to the next
CRONJOB_NAME_MAX: Final = 52  # the CronJob controller adds 11 characters for each Job's name
UNMAPPED_SCHEDULES: Final = frozenset({"@service", "@reboot"})
_HASH_LENGTH: Final = 8


def task_name(app_name: str, task: str) -> str:
    """The CronJob's name: `<app>-task-<task>` in DNS form, or a short unique one when that is too long."""
    slug = re.sub(r"[^a-z0-9]+", "-", task.lower()).strip("-")
    named = child_name(app_name, f"-task-{slug}")
    # Task names are case-sensitive and may hold '_': two of them can have the same slug.
    if len(named) <= CRONJOB_NAME_MAX and slug == task.replace("_", "-"):
        return named
    digest = hashlib.sha256(f"{app_name}/{task}".encode()).hexdigest()[:_HASH_LENGTH]
    stem = child_name(app_name)[: CRONJOB_NAME_MAX - len("-task-") - _HASH_LENGTH - 1].rstrip("-")
    short = slug[: CRONJOB_NAME_MAX - len(stem) - len("-task-") - _HASH_LENGTH - 1].rstrip("-")
    return f"{stem}-task-{short}-{digest}" if short else f"{stem}-task-{digest}"


def build_task_cronjobs(
    identity: AppIdentity, spec: CloudronAppSpec, manifest: Manifest, deployment: dict[str, Any]
) -> list[dict[str, Any]]:
    """A CronJob per scheduler task, each run's pod made from the app's Deployment's pod template."""
    tasks = manifest.addons.scheduler or {}
    pods = {task: _run_pod(identity, manifest, deployment, entry.command) for task, entry in tasks.items()}
    return [
        _cronjob(identity, spec, task, entry.schedule, pods[task]) for task, entry in sorted(tasks.items())
    ]


def _cronjob(
    identity: AppIdentity, spec: CloudronAppSpec, task: str, schedule: str, pod: dict[str, Any]
) -> dict[str, Any]:
    name = task_name(identity.name, task)
    labels = {**common_labels(identity), COMPONENT_LABEL: TASK_COMPONENT, TASK_LABEL: _label_value(task)}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": object_meta(identity, name),
        "spec": {
            "schedule": kubernetes_schedule(schedule),
            "suspend": not spec.running,
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {
                "metadata": {"labels": labels},
                "spec": {
                    "backoffLimit": 0,  # no restart, as on Cloudron
                    "activeDeadlineSeconds": RUN_DEADLINE_SECONDS,
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": pod,
                    },
                },
            },
        },
    }


def _run_pod(
    identity: AppIdentity, manifest: Manifest, deployment: dict[str, Any], command: str
) -> dict[str, Any]:
    """The app's pod spec, its container running the task: no ports, no probes, twice the memory."""
    pod = copy.deepcopy(deployment["spec"]["template"]["spec"])
    # The app's container alone: a run serves no HTTP, so no proxyAuth wall beside it.
    pod["containers"] = pod["containers"][:1]
    pod["volumes"] = [v for v in pod.get("volumes", []) if v["name"] != AUTH_CONFIG_VOLUME]
    app = pod["containers"][0]
    for key in ("ports", "startupProbe", "readinessProbe", "livenessProbe"):
        app.pop(key, None)
    app["name"] = TASK_COMPONENT
    app["command"] = ["/bin/sh", "-c", command]
    app["resources"] = _doubled(app["resources"])
    pod["restartPolicy"] = "Never"
    # A run's log files end with its pod: no follower (the run's own output is its log).
    pod["initContainers"] = [c for c in pod.get("initContainers", []) if c["name"] != LOGS_CONTAINER]
    if not pod["initContainers"]:
        del pod["initContainers"]
    if manifest.addons.localstorage is not None:
        # The app's volume: on the app's pod's node (ReadWriteOnce), and only while the app runs.
        term = {
            "labelSelector": {"matchLabels": workload_selector(identity)},
            "topologyKey": "kubernetes.io/hostname",
        }
        pod["affinity"] = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    return dict(pod)


def _doubled(resources: dict[str, Any]) -> dict[str, Any]:
    doubled = copy.deepcopy(resources)
    for part in ("requests", "limits"):
        memory = doubled.get(part, {}).get("memory")
        if memory is not None:
            doubled[part]["memory"] = format_bytes(2 * quantity_bytes(str(memory)))
    return dict(doubled)


def _label_value(task: str) -> str:
    """The task's name as a label value (63 characters of [A-Za-z0-9_.-]: a task name always is one)."""
    return task[:63]
