"""The app's Deployment: one pod that runs the package as Cloudron runs it (CLOUDRON.md §3)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from cloudron_operator.builders.env import container_env, secrets_hash
from cloudron_operator.builders.http_ports import http_services
from cloudron_operator.builders.identity import (
    COMPONENT_LABEL,
    WORKLOAD_COMPONENT,
    AppIdentity,
    child_name,
    common_labels,
    object_meta,
    workload_selector,
)
from cloudron_operator.builders.logs import logs_sidecar
from cloudron_operator.builders.memory import effective_memory_limit, format_bytes
from cloudron_operator.builders.ports import enabled_ports
from cloudron_operator.builders.proxy_auth import auth_container, auth_volume, proxy_auth_on
from cloudron_operator.builders.secrets import addon_secret_name
from cloudron_operator.builders.volumes import app_volumes
from cloudron_operator.config import OperatorConfig
from cloudron_operator.manifest import Manifest
from cloudron_operator.models import AddonType, CloudronAppSpec

SECRETS_HASH_ANNOTATION: Final = "cloudron.io/secrets-hash"
# The tls addon's certificate the pods started with, once renewed (see `certificate_annotations`).
CERTIFICATE_REVISION_ANNOTATION: Final = "cloudron.io/certificate-revision"
HTTP_PORT_NAME: Final = "http"

# Docker's default capabilities without NET_RAW, which Cloudron grants only to apps that ask for
# `ping` (CLOUDRON.md §1.2); this is also Pod Security's "baseline" list. Named one by one because
# container runtimes' defaults differ (CRI-O's lack MKNOD, SYS_CHROOT, AUDIT_WRITE and SETFCAP).
BASE_CAPABILITIES: Final = (
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
)
# `vaapi` (the host's /dev/dri) has no counterpart: a pod gets devices only through a device plugin.
MANIFEST_CAPABILITIES: Final = {"net_admin": "NET_ADMIN", "mlock": "IPC_LOCK", "ping": "NET_RAW"}

HEALTH_CHECK_USER_AGENT: Final = "Mozilla (CloudronHealth)"
HEALTH_CHECK_SECONDS: Final = 10  # Cloudron's interval and timeout
STARTUP_ALLOWANCE_CHECKS: Final = 360  # an hour for the first healthy answer: apps migrate on start
READINESS_FAILURES: Final = 3
LIVENESS_PERIOD_SECONDS: Final = 60
LIVENESS_FAILURES: Final = 10  # ten minutes, Cloudron's time before it calls an app down


def build_deployment(
    identity: AppIdentity,
    spec: CloudronAppSpec,
    manifest: Manifest,
    config: OperatorConfig,
    addon_secrets: Mapping[str, Mapping[str, str]],
    *,
    certificate_revision: int | None = None,
) -> dict[str, Any]:
    """The Deployment; `addon_secrets` are the Secrets (name -> data) whose keys become env vars.

    `certificate_revision`: the app's Certificate's status.revision, when known.
    """
    annotations = {
        SECRETS_HASH_ANNOTATION: secrets_hash(addon_secrets),
        **certificate_annotations(manifest, certificate_revision),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta(identity, child_name(identity.name)),
        "spec": {
            "replicas": 1 if spec.running else 0,
            # One writer of /app/data at a time: the old pod stops before the new one starts.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": workload_selector(identity)},
            "template": {
                "metadata": {
                    "labels": {**common_labels(identity), COMPONENT_LABEL: WORKLOAD_COMPONENT},
                    "annotations": annotations,
                },
                "spec": _pod_spec(identity, spec, manifest, config, addon_secrets),
            },
        },
    }


def certificate_annotations(manifest: Manifest, revision: int | None) -> dict[str, str]:
    """The pod template's mark of a renewed certificate: a tls addon app restarts on it, as on Cloudron.

    Its files change in the pods (a Secret volume), but the app keeps what it read at start. The
    first issue needs no restart: a pod does not start before its Secret volume exists, so the
    first revision is the one it read, and an unknown revision (a pass that did not list the
    children) changes nothing either.
    """
    if manifest.addons.tls is None or revision is None or revision < 2:
        return {}
    return {CERTIFICATE_REVISION_ANNOTATION: str(revision)}


def _pod_spec(
    identity: AppIdentity,
    spec: CloudronAppSpec,
    manifest: Manifest,
    config: OperatorConfig,
    addon_secrets: Mapping[str, Mapping[str, str]],
) -> dict[str, Any]:
    volumes = app_volumes(identity, manifest)
    wall = addon_secret_name(identity.name, AddonType.PROXY_AUTH) if proxy_auth_on(spec, manifest) else None
    # The wall's Secret holds its client's credentials: the sidecar's, never the app's.
    env_from = [{"secretRef": {"name": name}} for name in sorted(addon_secrets) if name != wall]
    app = {
        "name": "app",
        "image": spec.package_image,
        "ports": _container_ports(spec, manifest),
        "env": container_env(identity, spec, manifest, config),
        **({"envFrom": env_from} if env_from else {}),
        "resources": _resources(spec, manifest),
        **_probes(spec, manifest),
        "securityContext": _security_context(manifest),
        "volumeMounts": volumes.mounts,
    }
    pod: dict[str, Any] = {
        "hostname": identity.uid,  # Cloudron's container hostname is the app id
        # Service links would add a variable per Service in the namespace to the app's env.
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
    }
    if spec.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": secret.name} for secret in spec.image_pull_secrets]
    if volumes.seed_mounts:
        # runtimeDirs start as the image's content, made writable: copy it into the emptyDirs; the
        # persistentDirs too, at the first start. (The name predates the latter: renaming it would
        # restart every app with runtimeDirs.)
        seed = {
            "name": "seed-runtime-dirs",
            "image": spec.package_image,
            "command": ["/bin/sh", "-c", volumes.seed_script],
            "resources": _resources(spec, manifest),
            "securityContext": _security_context(manifest),
            "volumeMounts": volumes.seed_mounts,
        }
        pod["initContainers"] = [seed]
    logs = logs_sidecar(
        spec.package_image, manifest, _security_context(manifest), copy.deepcopy(volumes.mounts)
    )
    pod["initContainers"] = [*pod.get("initContainers", []), logs]
    containers, pod_volumes = [app], list(volumes.volumes)
    if wall is not None:
        options = manifest.addons.model_dump(by_alias=True, exclude_none=True).get("proxyAuth") or {}
        containers.append(auth_container(config.proxy_auth_image, spec.domain, wall, options))
        pod_volumes.append(auth_volume(wall))
    return pod | {"containers": containers, "volumes": pod_volumes}


def _container_ports(spec: CloudronAppSpec, manifest: Manifest) -> list[dict[str, Any]]:
    ports: list[dict[str, Any]] = [
        {"name": HTTP_PORT_NAME, "containerPort": manifest.http_port, "protocol": "TCP"}
    ]
    # Server-side apply refuses two entries with the same (containerPort, protocol), the list's key.
    listed = {(manifest.http_port, "TCP")}
    for service in http_services(spec, manifest):
        if (service.container_port, "TCP") not in listed:
            listed.add((service.container_port, "TCP"))
            ports.append({"containerPort": service.container_port, "protocol": "TCP"})
    for port in enabled_ports(spec, manifest):
        for _, container in port.pairs():
            if (container, port.protocol) not in listed:
                listed.add((container, port.protocol))
                ports.append({"containerPort": container, "protocol": port.protocol})
    return ports


def _resources(spec: CloudronAppSpec, manifest: Manifest) -> dict[str, Any]:
    # Cloudron gives half its limit as RAM and half as swap, so half is what the app is sure to get.
    limit = effective_memory_limit(spec, manifest)
    return {"requests": {"memory": format_bytes(limit // 2)}, "limits": {"memory": format_bytes(limit)}}


def _security_context(manifest: Manifest) -> dict[str, Any]:
    extra = {MANIFEST_CAPABILITIES[c] for c in manifest.capabilities if c in MANIFEST_CAPABILITIES}
    return {
        # Start scripts run as root to chown the writable dirs, then drop to uid 1000 with gosu.
        "readOnlyRootFilesystem": True,
        # no_new_privs would keep the app's user from file capabilities and setuid helpers
        # (`ping` as uid 1000 needs them); Cloudron does not set it either.
        "allowPrivilegeEscalation": True,
        "capabilities": {"drop": ["ALL"], "add": sorted({*BASE_CAPABILITIES, *extra})},
    }


def _probes(spec: CloudronAppSpec, manifest: Manifest) -> dict[str, Any]:
    """Readiness gates traffic as Cloudron's health check does; liveness restarts only a long-dead app.

    Cloudron itself never restarts an unhealthy app. The liveness probe restarts one that failed
    every check for ten minutes, and only after the startup probe saw it healthy once, so a long
    migration at start is not cut short.
    """
    if manifest.health_check_path is None:
        # Cloudron counts such an app healthy while it runs; traffic waits until the port is open.
        return {
            "readinessProbe": {"tcpSocket": {"port": HTTP_PORT_NAME}, "periodSeconds": HEALTH_CHECK_SECONDS}
        }
    return {
        "startupProbe": _http_probe(spec, manifest, HEALTH_CHECK_SECONDS, STARTUP_ALLOWANCE_CHECKS),
        "readinessProbe": _http_probe(spec, manifest, HEALTH_CHECK_SECONDS, READINESS_FAILURES),
        "livenessProbe": _http_probe(spec, manifest, LIVENESS_PERIOD_SECONDS, LIVENESS_FAILURES),
    }


def _http_probe(spec: CloudronAppSpec, manifest: Manifest, period: int, failures: int) -> dict[str, Any]:
    """Cloudron's health check: GET healthCheckPath with the app's Host; 2xx and 3xx are healthy."""
    return {
        "httpGet": {
            "path": manifest.health_check_path,
            "port": HTTP_PORT_NAME,
            "httpHeaders": [
                {"name": "Host", "value": spec.domain},
                {"name": "User-Agent", "value": HEALTH_CHECK_USER_AGENT},
            ],
        },
        "timeoutSeconds": HEALTH_CHECK_SECONDS,
        "periodSeconds": period,
        "failureThreshold": failures,
    }
