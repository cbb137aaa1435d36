"""The container of a Job the operator wrote, run as a local process, its end reported as a kubelet would.

kwok runs no container, and the harness's kwok stages leave a Job's pod Running (`tests.harness.cluster`):
`run_job` takes the Job's current pod, runs its container's command with a local program (environment
resolved from the API, volumes mapped to local directories), then writes the pod's status through the
status subresource: phase Succeeded or Failed, the container terminated with its exit code. The real
job controller then counts the pod and marks the Job Complete or Failed (`wait_for_job_condition`).

Volumes: a persistentVolumeClaim is the directory the test gives for the claim, an emptyDir a fresh
directory, a Secret or ConfigMap its files written out. Every mount path (with its subPath) maps to a
local path; an env value or argument that is a mount path or under one (also the value of an
`--option=value` argument) is rewritten to the local path, and the process gets the whole mapping as
CLOUDRON_TEST_MOUNTS (JSON, mount path -> local path, the termination message path included) for the
paths it builds itself. What this does not prove: the image, the pod's user, network and limits.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client

from cloudron_operator.k8s import api as k8s
from tests.harness.pod_process import (
    config_map_data,
    container_env,
    expand,
    pod_field,
    secret_data,
    write_key_files,
)
from tests.harness.processes import HarnessError

MOUNTS_ENV = "CLOUDRON_TEST_MOUNTS"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})
JOB_CONDITIONS = ("Complete", "Failed")
POLL_INTERVAL = 0.2
# The kubelet's bounds (pkg/kubelet/container/runtime.go): a termination message file is read up to
# 4 KiB; FallbackToLogsOnError takes the log's last 80 lines, at most 2 KiB of them.
MESSAGE_FILE_BYTES = 4096
MESSAGE_LOG_LINES = 80
MESSAGE_LOG_BYTES = 2048
STATUS_WRITE_ATTEMPTS = 5
STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL when a run overruns its timeout


@dataclass(frozen=True)
class JobRun:
    """How the container ended: its exit code (128 + signal when killed), its output, its pod."""

    exit_code: int
    output: str
    pod_name: str


def run_job(
    api: client.ApiClient,
    namespace: str,
    job_name: str,
    *,
    programs: Mapping[str, Sequence[str]],
    claims: Mapping[str, Path],
    root: Path,
    timeout: float = 300,
    env: Mapping[str, str] | None = None,
) -> JobRun:
    """Run the container of the Job's current pod to its end and report it on the pod.

    `programs` maps the command's first word to a local argv prefix, e.g. {"python": [sys.executable]};
    `claims` maps each PersistentVolumeClaim the pod mounts to a local directory; the run's files go
    under `root`/<pod>. `timeout` bounds the wait for the pod (Running on a kwok node), then the run:
    a process still running then is stopped (SIGTERM, then SIGKILL), its end reported, and a
    HarnessError raised. `env` is more environment for the process over the container's, what a pod
    would have had otherwise (KUBECONFIG for its ServiceAccount, say).
    """
    pod = _current_pod(api, namespace, job_name, timeout)
    pod_name = pod["metadata"]["name"]
    spec = pod["spec"]
    if len(spec["containers"]) != 1 or spec.get("initContainers"):
        raise HarnessError(f"pod {namespace}/{pod_name}: this harness runs a pod of one container only")
    container = spec["containers"][0]
    base = root / pod_name
    base.mkdir(parents=True, exist_ok=False)

    container_vars = container_env(api, namespace, container, pod)
    mounts = _mounts(api, pod, container, env=container_vars, claims=claims, base=base)
    message_file = base / "termination-log"
    message_file.touch()
    mounts[container.get("terminationMessagePath", "/dev/termination-log")] = message_file
    argv = _argv(container, container_vars, mounts, programs)
    process_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOSTNAME": pod_name,
        **{name: map_path(value, mounts) for name, value in container_vars.items()},
        MOUNTS_ENV: json.dumps({path: str(local) for path, local in mounts.items()}),
        **(env or {}),
    }
    working_dir = map_path(container.get("workingDir", ""), mounts)
    cwd = Path(working_dir) if working_dir and Path(working_dir).is_dir() else base

    log = base / "output.log"
    started = _now()
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            env=process_env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            returncode = process.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            returncode = _stop(process)
            timed_out = True
    _kill_group(process.pid)  # what the program left running ends with its container
    finished = _now()
    exit_code = 128 - returncode if returncode < 0 else returncode
    output = log.read_bytes().decode(errors="replace")

    message = _termination_message(container, exit_code, message_file, output)
    _report(
        api, namespace, pod_name, exit_code=exit_code, message=message, started=started, finished=finished
    )
    if timed_out:
        raise HarnessError(
            f"pod {namespace}/{pod_name}: {' '.join(argv)} did not end within {timeout:.0f}s "
            f"(stopped, reported with exit code {exit_code}); its output ends:\n{output[-4000:]}"
        )
    return JobRun(exit_code, output, pod_name)


def wait_for_job_condition(
    api: client.ApiClient, namespace: str, job_name: str, condition: str, timeout: float
) -> None:
    """Wait until the job controller gives the Job `condition` (Complete or Failed) with status True;
    a HarnessError as soon as it has the other one, or after `timeout` seconds."""
    if condition not in JOB_CONDITIONS:
        raise ValueError(f"a Job ends Complete or Failed, not {condition}")
    deadline = time.monotonic() + timeout
    job: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        job = _get(api, _job_path(namespace, job_name))
        ended = _job_end(job) if job is not None else None
        if ended == condition:
            return
        if ended is not None:
            raise HarnessError(
                f"Job {namespace}/{job_name} ended {ended}, not {condition}: {_job_status(job)}"
            )
        time.sleep(POLL_INTERVAL)
    raise HarnessError(
        f"timed out after {timeout:.0f}s waiting for Job {namespace}/{job_name} to be {condition}: "
        f"{_job_status(job)}"
    )


def map_path(value: str, mounts: Mapping[str, Path]) -> str:
    """`value` with a mount path it is, or starts with (then a "/"), replaced by the local path;
    an `--option=value` argument's value likewise. The longest mount path wins."""
    if not value:
        return value
    if value.startswith("-") and "=" in value:
        option, _, rest = value.partition("=")
        return f"{option}={map_path(rest, mounts)}"
    for mount_path in sorted(mounts, key=len, reverse=True):
        stem = mount_path.rstrip("/")
        if value in (mount_path, stem) or (stem and value.startswith(stem + "/")):
            return str(mounts[mount_path]) + value[len(stem) :]
    return value


def _job_status(job: Mapping[str, Any] | None) -> str:
    """A Job's counts and conditions, for messages."""
    if job is None:
        return "no such Job"
    status = job.get("status") or {}
    counts = {key: status[key] for key in ("active", "ready", "succeeded", "failed") if key in status}
    conditions = [
        f"{c['type']}={c['status']} ({c.get('reason', '')}: {c.get('message', '')})"
        for c in status.get("conditions") or []
    ]
    return f"{counts} {conditions}"


def _current_pod(api: client.ApiClient, namespace: str, job_name: str, timeout: float) -> dict[str, Any]:
    """The Job's pod that has not ended, once kwok runs it; an error if the Job has ended without one."""
    deadline = time.monotonic() + timeout
    job: dict[str, Any] | None = None
    pods: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        job = _get(api, _job_path(namespace, job_name))
        if job is not None:
            pods = _live_pods(api, namespace, job)
            running = [pod for pod in pods if (pod.get("status") or {}).get("phase") == "Running"]
            if running:
                return running[0]
            if not pods and _job_end(job) is not None:
                raise HarnessError(
                    f"Job {namespace}/{job_name} has ended, with no pod to run: {_job_status(job)}"
                )
        time.sleep(POLL_INTERVAL)
    seen = "; ".join(f"{p['metadata']['name']}: {_pod_summary(p)}" for p in pods) or "no pod"
    raise HarnessError(
        f"timed out after {timeout:.0f}s waiting for a Running pod of Job {namespace}/{job_name} "
        f"({_job_status(job)}): {seen}"
    )


def _live_pods(api: client.ApiClient, namespace: str, job: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Job's own pods (by its uid) that have not ended and are not being deleted, oldest first."""
    name, uid = job["metadata"]["name"], job["metadata"]["uid"]
    answer = k8s.request(
        api,
        "GET",
        f"/api/v1/namespaces/{namespace}/pods",
        query=[("labelSelector", f"{JOB_NAME_LABEL}={name}")],
    )
    pods = [
        pod
        for pod in answer["items"]
        if any(ref.get("uid") == uid for ref in pod["metadata"].get("ownerReferences") or [])
        and "deletionTimestamp" not in pod["metadata"]
        and (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES
    ]
    return sorted(pods, key=lambda pod: str(pod["metadata"]["creationTimestamp"]))


def _mounts(
    api: client.ApiClient,
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    *,
    env: Mapping[str, str],
    claims: Mapping[str, Path],
    base: Path,
) -> dict[str, Path]:
    """Each mount path of the container -> its local path (the volume's directory, or its subPath)."""
    volumes = {volume["name"]: volume for volume in pod["spec"].get("volumes", [])}
    directories: dict[str, Path] = {}
    mounts: dict[str, Path] = {}
    for mount in container.get("volumeMounts", []):
        name = mount["name"]
        if name not in volumes:
            raise HarnessError(f"volumeMount {name} names no volume of the pod")
        if name not in directories:
            directories[name] = _volume_directory(api, pod, volumes[name], claims, base / "volumes")
        sub_path = mount.get("subPath") or expand(mount.get("subPathExpr", ""), env)
        local = directories[name] / sub_path if sub_path else directories[name]
        if not local.exists():
            local.mkdir(parents=True)  # the kubelet makes a missing subPath a directory
        mounts[mount["mountPath"]] = local
    return mounts


def _volume_directory(
    api: client.ApiClient,
    pod: Mapping[str, Any],
    volume: Mapping[str, Any],
    claims: Mapping[str, Path],
    volumes: Path,
) -> Path:
    name: str = volume["name"]
    namespace: str = pod["metadata"]["namespace"]
    if "persistentVolumeClaim" in volume:
        claim = volume["persistentVolumeClaim"]["claimName"]
        if claim not in claims:
            raise HarnessError(f"volume {name}: no local directory for claim {claim} (pass it in `claims`)")
        if not claims[claim].is_dir():
            raise HarnessError(f"volume {name}: the directory for claim {claim}, {claims[claim]}, is missing")
        return claims[claim]
    directory = volumes / name
    if "emptyDir" in volume:
        directory.mkdir(parents=True)
    elif "secret" in volume:
        source = volume["secret"]
        ref = {"name": source["secretName"], "optional": source.get("optional")}
        data = secret_data(api, namespace, ref, f"volume {name}") or {}
        write_key_files(data, source, directory, f"Secret {namespace}/{source['secretName']}")
    elif "configMap" in volume:
        source = volume["configMap"]
        data = config_map_data(api, namespace, source, f"volume {name}") or {}
        write_key_files(data, source, directory, f"ConfigMap {namespace}/{source['name']}")
    elif "projected" in volume:
        _write_projected(api, pod, volume["projected"], directory)
    else:
        kinds = sorted(set(volume) - {"name"})
        raise HarnessError(f"volume {name}: a kind this harness does not map: {kinds}")
    return directory


def _write_projected(
    api: client.ApiClient, pod: Mapping[str, Any], projected: Mapping[str, Any], directory: Path
) -> None:
    """A projected volume's files: Secrets, ConfigMaps, downward API fields and ServiceAccount tokens
    (a real one, from a TokenRequest bound to the pod, as the kubelet asks for it)."""
    namespace = pod["metadata"]["namespace"]
    mode = projected.get("defaultMode", 0o644)
    for source in projected.get("sources", []):
        if "secret" in source or "configMap" in source:
            ref = source.get("secret") or source["configMap"]
            read = secret_data if "secret" in source else config_map_data
            data = read(api, namespace, ref, f"projected {ref['name']}") or {}
            write_key_files(data, {"defaultMode": mode, **ref}, directory, f"{namespace}/{ref['name']}")
        elif "downwardAPI" in source:
            fields = {
                item["path"]: pod_field(pod, item["fieldRef"]["fieldPath"]).encode()
                for item in source["downwardAPI"]["items"]
            }
            items = [{"key": path, "path": path} for path in fields]
            write_key_files(fields, {"defaultMode": mode, "items": items}, directory, "downwardAPI")
        elif "serviceAccountToken" in source:
            token = source["serviceAccountToken"]
            write_key_files(
                {token["path"]: _service_account_token(api, pod, token).encode()},
                {"defaultMode": mode},
                directory,
                "serviceAccountToken",
            )
        else:
            raise HarnessError(f"a projected source this harness does not map: {sorted(source)}")


def _service_account_token(api: client.ApiClient, pod: Mapping[str, Any], source: Mapping[str, Any]) -> str:
    meta = pod["metadata"]
    account = pod["spec"].get("serviceAccountName", "default")
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "audiences": [source["audience"]] if source.get("audience") else [],
            "expirationSeconds": source.get("expirationSeconds", 3607),
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]},
        },
    }
    path = f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/{account}/token"
    return str(k8s.request(api, "POST", path, body=request)["status"]["token"])


def _argv(
    container: Mapping[str, Any],
    env: Mapping[str, str],
    mounts: Mapping[str, Path],
    programs: Mapping[str, Sequence[str]],
) -> list[str]:
    """The container's command and args, `$(VAR)` expanded, the first word a local program's argv."""
    if not container.get("command"):
        raise HarnessError("the container has no command: the image's entrypoint is not known here")
    command = [expand(word, env) for word in [*container["command"], *container.get("args", [])]]
    if command[0] not in programs:
        raise HarnessError(f"no local program for {command[0]!r} (pass it in `programs`)")
    return [*programs[command[0]], *(map_path(word, mounts) for word in command[1:])]


def _stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM the process's group, SIGKILL it after a grace period, as the kubelet stops a container.

    Popen.wait reaps it (a helper that reaped it first would leave Popen a returncode of 0)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        return process.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        return process.wait()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _termination_message(
    container: Mapping[str, Any], exit_code: int, message_file: Path, output: str
) -> str:
    """The kubelet's: the termination message file (its last 4 KiB); when it is empty, a failed
    container with FallbackToLogsOnError gets its output's last 80 lines (their last 2 KiB)."""
    written = message_file.read_bytes()[-MESSAGE_FILE_BYTES:]
    if written or exit_code == 0 or container.get("terminationMessagePolicy") != "FallbackToLogsOnError":
        return written.decode(errors="replace")
    lines = "".join(output.splitlines(keepends=True)[-MESSAGE_LOG_LINES:])
    return lines.encode()[-MESSAGE_LOG_BYTES:].decode(errors="ignore")


def _report(
    api: client.ApiClient,
    namespace: str,
    pod_name: str,
    *,
    exit_code: int,
    message: str,
    started: str,
    finished: str,
) -> None:
    """Write the pod's status as the kubelet does when its only container has ended (restartPolicy Never)."""
    path = f"/api/v1/namespaces/{namespace}/pods/{pod_name}"
    for attempt in range(1, STATUS_WRITE_ATTEMPTS + 1):
        pod = k8s.request(api, "GET", path)
        pod["status"] = _ended_status(pod, exit_code, message, started, finished)
        try:
            k8s.request(api, "PUT", f"{path}/status", body=pod)  # resourceVersion: no lost update
        except k8s.ApiError as error:
            if error.status != 409 or attempt == STATUS_WRITE_ATTEMPTS:
                raise
        else:
            return


def _ended_status(
    pod: Mapping[str, Any], exit_code: int, message: str, started: str, finished: str
) -> dict[str, Any]:
    status = dict(pod.get("status") or {})
    container = pod["spec"]["containers"][0]
    previous = (status.get("containerStatuses") or [{}])[0]
    terminated: dict[str, Any] = {
        "exitCode": exit_code,
        "reason": "Completed" if exit_code == 0 else "Error",
        "startedAt": started,
        "finishedAt": finished,
    }
    if message:
        terminated["message"] = message
    status["containerStatuses"] = [
        {
            "name": container["name"],
            "image": previous.get("image", container.get("image", "")),
            "imageID": previous.get("imageID", ""),
            "ready": False,
            "started": False,
            "restartCount": previous.get("restartCount", 0),
            "state": {"terminated": terminated},
        }
    ]
    conditions = [dict(c) for c in status.get("conditions") or []]
    for kind in ("ContainersReady", "Ready"):
        if not any(c["type"] == kind for c in conditions):
            conditions.append({"type": kind})
    for condition in conditions:
        if condition["type"] in ("ContainersReady", "Ready"):
            condition.update(status="False", reason="PodCompleted", lastTransitionTime=finished)
            condition.pop("message", None)
    status["conditions"] = conditions
    status["phase"] = "Succeeded" if exit_code == 0 else "Failed"
    return status


def _job_end(job: Mapping[str, Any]) -> str | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition["type"] in JOB_CONDITIONS and condition["status"] == "True":
            return str(condition["type"])
    return None


def _pod_summary(pod: Mapping[str, Any]) -> str:
    status = pod.get("status") or {}
    conditions = [
        f"{c['type']}={c['status']}" + (f" ({c['message']})" if c.get("message") else "")
        for c in status.get("conditions") or []
    ]
    return f"{status.get('phase')} {conditions}"


def _job_path(namespace: str, name: str) -> str:
    return f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}"


def _get(api: client.ApiClient, path: str) -> dict[str, Any] | None:
    try:
        return k8s.request(api, "GET", path)
    except k8s.ApiError as error:
        if error.not_found:
            return None
        raise


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
