"""A container of a pod the operator wrote, run as a local process: kwok runs no container, so a test
runs the exact command, arguments and environment (Secrets resolved) of the container with a
binary of the same program, its Secret volumes written to a directory and their mount paths in the
arguments mapped there. What this does not prove: the image, the kubelet's own part (probes,
restarts) and the pod network (everything is on loopback).

The helpers below resolve a container's environment and write its Secret and ConfigMap volumes as the
kubelet would; `tests.harness.job_process` runs a Job's container with them.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kubernetes import client

from cloudron_operator.k8s import api as k8s
from tests.harness.processes import HarnessError, spawn

# What the kubelet takes as a variable's name from envFrom (others are skipped, with an event).
ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")


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
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **container_env(api, namespace, container)}
    return spawn(argv, log, env=env)


def container_env(
    api: client.ApiClient,
    namespace: str,
    container: Mapping[str, Any],
    pod: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """The container's environment as the kubelet makes it: `envFrom` first (Secrets and ConfigMaps,
    with their prefix), then `env` in order (a plain value with its `$(VAR)` references to what is
    defined before it expanded; `secretKeyRef`, `configMapKeyRef`; `fieldRef` when `pod` is given)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "secretRef" in source:
            data = secret_data(api, namespace, source["secretRef"], "envFrom")
        elif "configMapRef" in source:
            data = config_map_data(api, namespace, source["configMapRef"], "envFrom")
        else:
            raise HarnessError(f"an envFrom source this harness does not resolve: {source}")
        for key, raw in (data or {}).items():
            if ENV_NAME.fullmatch(prefix + key):
                env[prefix + key] = raw.decode()
    for entry in container.get("env", []):
        value = _env_value(api, namespace, entry, env, pod)
        if value is not None:
            env[entry["name"]] = value
    return env


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion (env values, command, args): `$$` is `$`, an unknown `$(VAR)` stays."""
    out: list[str] = []
    cursor = 0
    while cursor < len(text):
        if text[cursor] != "$" or cursor + 1 == len(text):
            out.append(text[cursor])
            cursor += 1
            continue
        following = text[cursor + 1]
        close = text.find(")", cursor + 2) if following == "(" else -1
        if following == "$":
            out.append("$")
        elif close != -1:
            name = text[cursor + 2 : close]
            out.append(env.get(name, f"$({name})"))
            cursor = close + 1
            continue
        else:
            out.append("$" + following)
        cursor += 2
    return "".join(out)


def secret_data(
    api: client.ApiClient, namespace: str, ref: Mapping[str, Any], what: str
) -> dict[str, bytes] | None:
    """The Secret a reference (`name`, `optional`) names, decoded; None if it is missing and optional."""
    secret = k8s.get(api, "v1", "Secret", namespace, ref["name"])
    if secret is None:
        _missing(ref, f"Secret {namespace}/{ref['name']} ({what})")
        return None
    return {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}


def config_map_data(
    api: client.ApiClient, namespace: str, ref: Mapping[str, Any], what: str
) -> dict[str, bytes] | None:
    """The ConfigMap a reference names, `data` and `binaryData`; None if it is missing and optional."""
    try:
        config_map = k8s.request(api, "GET", f"/api/v1/namespaces/{namespace}/configmaps/{ref['name']}")
    except k8s.ApiError as error:
        if not error.not_found:
            raise
        _missing(ref, f"ConfigMap {namespace}/{ref['name']} ({what})")
        return None
    data = {key: value.encode() for key, value in (config_map.get("data") or {}).items()}
    binary = {key: base64.b64decode(value) for key, value in (config_map.get("binaryData") or {}).items()}
    return data | binary


def write_key_files(data: Mapping[str, bytes], source: Mapping[str, Any], directory: Path, what: str) -> None:
    """A Secret or ConfigMap volume's files: its `items` (key -> path, mode), or every key."""
    directory.mkdir(parents=True, exist_ok=True)
    items: Sequence[Mapping[str, Any]] = source.get("items") or [{"key": key, "path": key} for key in data]
    for item in items:
        if item["key"] not in data:
            if source.get("optional"):
                continue
            raise HarnessError(f"{what} has no key {item['key']}")
        path = directory / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data[item["key"]])
        path.chmod(item.get("mode", source.get("defaultMode", 0o644)))


def _env_value(
    api: client.ApiClient,
    namespace: str,
    entry: Mapping[str, Any],
    defined: Mapping[str, str],
    pod: Mapping[str, Any] | None,
) -> str | None:
    """One `env` entry's value; None when it refers to an optional Secret or ConfigMap key that is missing."""
    if "valueFrom" not in entry:
        return expand(str(entry.get("value", "")), defined)
    source = entry["valueFrom"]
    what = f"env {entry['name']}"
    if "secretKeyRef" in source or "configMapKeyRef" in source:
        ref = source.get("secretKeyRef") or source["configMapKeyRef"]
        read = secret_data if "secretKeyRef" in source else config_map_data
        data = read(api, namespace, ref, what)
        if data is None:  # optional, and missing
            return None
        if ref["key"] not in data:
            _missing(ref, f"key {ref['key']} of {ref['name']} ({what})")
            return None
        return data[ref["key"]].decode()
    if "fieldRef" in source and pod is not None:
        return pod_field(pod, source["fieldRef"]["fieldPath"])
    raise HarnessError(f"{what}: a source this harness does not resolve: {source}")


def pod_field(pod: Mapping[str, Any], path: str) -> str:
    """A downward API field of the pod (`fieldRef.fieldPath`)."""
    meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
    fields = {
        "metadata.name": meta["name"],
        "metadata.namespace": meta["namespace"],
        "metadata.uid": meta["uid"],
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": status.get("podIP", ""),
        "status.hostIP": status.get("hostIP", ""),
    }
    if path in fields:
        return str(fields[path])
    keyed = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if keyed:
        return str((meta.get(keyed.group(1)) or {}).get(keyed.group(2), ""))
    raise HarnessError(f"a fieldRef this harness does not resolve: {path}")


def _missing(ref: Mapping[str, Any], what: str) -> None:
    """Raise unless the reference is optional (then the kubelet goes on without it)."""
    if ref.get("optional"):
        return
    raise HarnessError(f"{what} does not exist: the kubelet would not start the container")


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
        what = f"Secret {namespace}/{volume['secret']['secretName']}"
        ref = {"name": volume["secret"]["secretName"], "optional": volume["secret"].get("optional")}
        data = secret_data(api, namespace, ref, f"volume {mount['name']}") or {}
        directory = root / mount["name"]
        write_key_files(data, volume["secret"], directory, what)
        mounted[mount["mountPath"]] = directory
    return mounted


def _mapped(arg: str, mounted: Mapping[str, Path]) -> str:
    for mount_path, directory in mounted.items():
        arg = arg.replace(mount_path, str(directory))
    return arg
