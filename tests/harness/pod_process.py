"""A container of a pod the operator wrote, run as a local process: kwok runs no container, so a test
runs the exact command, arguments and environment (Secrets resolved) of the container with a
binary of the same program, its Secret volumes written to a directory and their mount paths in the
arguments mapped there. What this does not prove: the image, the kubelet's own part (probes,
restarts) and the pod network (everything is on loopback)."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubernetes import client

from cloudron_operator.k8s import api as k8s
from tests.harness.processes import HarnessError, spawn


def run_container(
    api: client.ApiClient,
    deployment: Mapping[str, Any],
    name: str,
    binaries: Mapping[str, Path],
    *,
    root: Path,
    log: Path,
) -> subprocess.Popen[bytes]:
    """Start container `name` of the Deployment; `binaries` maps its command to a local program."""
    namespace = deployment["metadata"]["namespace"]
    pod = deployment["spec"]["template"]["spec"]
    container = next((c for c in pod["containers"] if c["name"] == name), None)
    if container is None:
        raise HarnessError(f"the Deployment has no container {name}")
    command = [*container.get("command", []), *container.get("args", [])]
    if not command or command[0] not in binaries:
        raise HarnessError(f"no local program for {command[:1]}")
    mounted = _write_volumes(api, namespace, pod, container, root)
    argv = [str(binaries[command[0]]), *(_mapped(arg, mounted) for arg in command[1:])]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **_env(api, namespace, container)}
    return spawn(argv, log, env=env)


def _env(api: client.ApiClient, namespace: str, container: Mapping[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env |= _secret(api, namespace, source["secretRef"]["name"])
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = _secret(api, namespace, ref["name"])[ref["key"]]
    return env


def _write_volumes(
    api: client.ApiClient, namespace: str, pod: Mapping[str, Any], container: Mapping[str, Any], root: Path
) -> dict[str, Path]:
    """Each Secret volume the container mounts, as files under `root`: mount path -> directory."""
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    mounted: dict[str, Path] = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "secret" not in volume:
            raise HarnessError(f"volume {mount['name']} is not a Secret: this harness maps Secrets only")
        data = _secret(api, namespace, volume["secret"]["secretName"])
        items = volume["secret"].get("items") or [{"key": key, "path": key} for key in data]
        directory = root / mount["name"]
        directory.mkdir(parents=True, exist_ok=True)
        for item in items:
            (directory / item["path"]).write_text(data[item["key"]])
        mounted[mount["mountPath"]] = directory
    return mounted


def _mapped(arg: str, mounted: Mapping[str, Path]) -> str:
    for mount_path, directory in mounted.items():
        arg = arg.replace(mount_path, str(directory))
    return arg


def _secret(api: client.ApiClient, namespace: str, name: str) -> dict[str, str]:
    secret = k8s.get(api, "v1", "Secret", namespace, name)
    if secret is None:
        raise HarnessError(f"Secret {namespace}/{name} does not exist")
    return {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}
