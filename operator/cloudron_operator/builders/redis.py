"""The app's own Redis (CLOUDRON.md §2.5): a Deployment, its volume, a Service and a NetworkPolicy.

Cloudron runs one Redis container per app, so one app can never read another's keys; here it is
one pod per app, reachable only from that app's pods.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from cloudron_operator.builders.backup_job import backup_client_labels
from cloudron_operator.builders.identity import (
    APP_LABEL,
    COMPONENT_LABEL,
    REDIS_SUFFIX,
    AppIdentity,
    app_label_value,
    child_name,
    common_labels,
    object_meta,
    workload_selector,
)
from cloudron_operator.builders.memory import format_bytes, quantity_bytes

REDIS_COMPONENT: Final = "redis"
TASK_COMPONENT: Final = "task"  # the scheduler's runs (`builders.scheduler`)
REDIS_PORT: Final = 6379
REDIS_USER: Final = "redisuser"  # the user name in Cloudron's CLOUDRON_REDIS_URL
DEFAULT_IMAGE: Final = "docker.io/library/redis:7.4.2-alpine"
DEFAULT_STORAGE: Final = "1Gi"
REDIS_UID: Final = 999  # the `redis` user of the official image
PASSWORD_HASH_ANNOTATION: Final = "cloudron.io/password-hash"  # noqa: S105 - an annotation name
_GIB: Final = 1024**3
SMALL_APP_MEMORY: Final = 150 * 1024**2  # Cloudron's Redis memory for apps with a limit up to 2 GiB
LARGE_APP_MEMORY: Final = 600 * 1024**2


@dataclass(frozen=True)
class RedisOptions:
    """The redis Addon's spec.options: image, memory and volume of every app's Redis."""

    image: str = DEFAULT_IMAGE
    memory_limit: int | None = None  # bytes; None follows Cloudron's rule from the app's limit
    storage_size: str = DEFAULT_STORAGE
    storage_class_name: str | None = None

    @classmethod
    def from_addon(cls, options: Mapping[str, Any]) -> RedisOptions:
        """The Addon's options; ValueError names the option that is not a byte quantity."""
        memory = options.get("memoryLimit")
        storage_size = options.get("storageSize") or DEFAULT_STORAGE
        storage_class = options.get("storageClassName")
        _bytes_option("storageSize", storage_size)  # kept as written, for the claim
        return cls(
            image=str(options.get("image") or DEFAULT_IMAGE),
            memory_limit=None if memory is None else _bytes_option("memoryLimit", memory),
            storage_size=str(storage_size),
            storage_class_name=str(storage_class) if storage_class else None,
        )


def _bytes_option(name: str, value: Any) -> int:
    if isinstance(value, int | str) and not isinstance(value, bool):
        with suppress(ValueError):
            return quantity_bytes(value)
    raise ValueError(f"options.{name}: {value!r} is not a byte quantity such as 256Mi")


def redis_service_name(app_name: str) -> str:
    return child_name(app_name, REDIS_SUFFIX)


def redis_env(identity: AppIdentity, password: str | None) -> dict[str, str]:
    """CLOUDRON_REDIS_*; with the manifest's noPassword there is no password at all."""
    host = redis_service_name(identity.name)
    if password is None:
        return {
            "CLOUDRON_REDIS_URL": f"redis://{host}:{REDIS_PORT}",
            "CLOUDRON_REDIS_HOST": host,
            "CLOUDRON_REDIS_PORT": str(REDIS_PORT),
        }
    return {
        "CLOUDRON_REDIS_URL": f"redis://{REDIS_USER}:{quote(password, safe='')}@{host}:{REDIS_PORT}",
        "CLOUDRON_REDIS_HOST": host,
        "CLOUDRON_REDIS_PORT": str(REDIS_PORT),
        "CLOUDRON_REDIS_PASSWORD": password,
    }


def redis_memory(options: RedisOptions, app_memory: int) -> int:
    if options.memory_limit is not None:
        return options.memory_limit
    return SMALL_APP_MEMORY if app_memory <= 2 * _GIB else LARGE_APP_MEMORY


def redis_server_args(password_env: str | None) -> list[str]:
    """The shell command line of redis-server; the password comes from the environment, not the spec.

    Clients that authenticate with only a password use the default user; clients that send the
    user name of Cloudron's URL use `redisuser`. Both have the same password.
    """
    base = "exec redis-server --dir /data --appendonly yes --save 60 1 --protected-mode no"
    if password_env is None:
        return ["/bin/sh", "-c", base]
    secret = f'"${password_env}"'
    return [
        "/bin/sh",
        "-c",
        f"{base} --requirepass {secret} --user {REDIS_USER} on \">${password_env}\" '~*' '&*' '+@all'",
    ]


def build_redis_children(
    identity: AppIdentity,
    options: RedisOptions,
    *,
    secret_name: str,
    password_key: str | None,
    password: str | None,
    app_memory: int,
    running: bool,
    task_pods: bool = False,
) -> list[dict[str, Any]]:
    """The app's Redis: volume, policy, Deployment and Service, in the order to apply them.

    `task_pods`: the app has scheduler tasks, whose runs reach its Redis too.
    """
    name = redis_service_name(identity.name)
    selector = {APP_LABEL: app_label_value(identity.name), COMPONENT_LABEL: REDIS_COMPONENT}
    # The app's pods, and its backup and restore Jobs' (which dump and restore the keys).
    clients = [workload_selector(identity), backup_client_labels(identity)]
    if task_pods:
        clients.append({APP_LABEL: app_label_value(identity.name), COMPONENT_LABEL: TASK_COMPONENT})
    claim: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": options.storage_size}},
    }
    if options.storage_class_name is not None:
        claim["storageClassName"] = options.storage_class_name
    password_ref = {"secretKeyRef": {"name": secret_name, "key": password_key}}
    env = [{"name": "REDIS_PASSWORD", "valueFrom": password_ref}] if password_key is not None else []
    memory = format_bytes(redis_memory(options, app_memory))
    container = {
        "name": "redis",
        "image": options.image,
        "command": redis_server_args("REDIS_PASSWORD" if password_key is not None else None),
        "env": env,
        "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
        "resources": {"requests": {"memory": memory}, "limits": {"memory": memory}},
        "readinessProbe": {"tcpSocket": {"port": REDIS_PORT}, "periodSeconds": 10},
        "securityContext": {
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    password_hash = hashlib.sha256((password or "").encode()).hexdigest()
    pod = {
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": REDIS_UID,
            "runAsGroup": REDIS_UID,
            "fsGroup": REDIS_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": f"{name}-data"}}],
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": object_meta(identity, f"{name}-data"),
            "spec": claim,
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": object_meta(identity, name),
            "spec": {
                "podSelector": {"matchLabels": selector},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{"podSelector": {"matchLabels": labels}} for labels in clients],
                        "ports": [{"protocol": "TCP", "port": REDIS_PORT}],
                    }
                ],
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": object_meta(identity, name),
            "spec": {
                "replicas": 1 if running else 0,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {
                        "labels": {**common_labels(identity), COMPONENT_LABEL: REDIS_COMPONENT},
                        # A new password restarts Redis with it.
                        "annotations": {PASSWORD_HASH_ANNOTATION: password_hash},
                    },
                    "spec": pod,
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": object_meta(identity, name),
            "spec": {
                "type": "ClusterIP",
                "selector": selector,
                "ports": [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis", "protocol": "TCP"}],
            },
        },
    ]
