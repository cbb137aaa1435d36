"""A BackupStore as the operator uses it: its location and credentials read from its Secrets, and
a copy of those credentials in an app's namespace for the app's backup Jobs."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kubernetes import client

from cloudron_operator.backup.store import StoreLocation
from cloudron_operator.builders.backup_job import StoreTarget, store_credentials_secret
from cloudron_operator.k8s import api as k8s
from cloudron_operator.models import API_VERSION
from cloudron_operator.models.conditions import Reason

NAMESPACE_SECRET_PREFIX: Final = "cloudron-backup-"  # noqa: S105 - a name


class StoreProblem(Exception):
    """The store cannot be used: `reason` for the condition, the message says what to do."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class StoreAccess:
    name: str
    uid: str
    location: StoreLocation
    password: str | None

    def __repr__(self) -> str:
        return f"StoreAccess({self.name!r}, {self.location!r}, encrypted={self.password is not None})"

    @property
    def owner(self) -> dict[str, Any]:
        return {"apiVersion": API_VERSION, "kind": "BackupStore", "name": self.name, "uid": self.uid}

    def target(self, folder: str) -> StoreTarget:
        return StoreTarget(
            endpoint=self.location.endpoint,
            bucket=self.location.bucket,
            prefix=self.location.prefix,
            region=self.location.region,
            folder=folder,
            secret_name=namespace_secret_name(self.name),
            encrypted=self.password is not None,
        )


def namespace_secret_name(store: str) -> str:
    name = NAMESPACE_SECRET_PREFIX + store
    if len(name) <= 253:
        return name
    return name[:240] + "-" + hashlib.sha256(store.encode()).hexdigest()[:12]


def read_store(api: client.ApiClient, name: str) -> Mapping[str, Any]:
    store = k8s.get(api, API_VERSION, "BackupStore", None, name)
    if store is None:
        raise StoreProblem(Reason.STORE_NOT_FOUND, f"there is no BackupStore {name}")
    return store


def store_access(api: client.ApiClient, store: Mapping[str, Any]) -> StoreAccess:
    """The store's location and credentials; StoreProblem if a Secret or key is missing."""
    spec = store["spec"]
    s3 = spec["s3"]
    ref = s3["credentialsSecretRef"]
    credentials = _secret(api, ref["namespace"], ref["name"], ("accessKeyId", "secretAccessKey"))
    password = None
    encryption = spec.get("encryption")
    if encryption:
        password_ref = encryption["passwordSecretRef"]
        key = password_ref.get("key", "password")
        password = _secret(api, password_ref["namespace"], password_ref["name"], (key,))[key]
        if not password:
            raise StoreProblem(
                Reason.SECRET_MISSING, f"the password in Secret {password_ref['name']} is empty"
            )
    location = StoreLocation(
        endpoint=s3["endpoint"],
        bucket=s3["bucket"],
        prefix=s3.get("prefix", ""),
        access_key_id=credentials["accessKeyId"],
        secret_access_key=credentials["secretAccessKey"],
        region=s3.get("region", "us-east-1"),
    )
    return StoreAccess(store["metadata"]["name"], store["metadata"]["uid"], location, password)


def _secret(api: client.ApiClient, namespace: str, name: str, keys: tuple[str, ...]) -> dict[str, str]:
    secret = k8s.get(api, "v1", "Secret", namespace, name)
    if secret is None:
        raise StoreProblem(Reason.SECRET_MISSING, f"there is no Secret {namespace}/{name}")
    data = secret.get("data") or {}
    missing = [key for key in keys if key not in data]
    if missing:
        raise StoreProblem(
            Reason.SECRET_MISSING, f"Secret {namespace}/{name} has no key {', '.join(missing)}"
        )
    return {key: base64.b64decode(data[key]).decode() for key in keys}


def ensure_namespace_secret(api: client.ApiClient, access: StoreAccess, namespace: str) -> str:
    """The store's credentials in `namespace` for the Jobs there; written only when they differ."""
    desired = store_credentials_secret(
        namespace,
        namespace_secret_name(access.name),
        owner=access.owner,
        access_key_id=access.location.access_key_id,
        secret_access_key=access.location.secret_access_key,
        password=access.password,
    )
    existing = k8s.get(api, "v1", "Secret", namespace, desired["metadata"]["name"])
    if existing is None or (existing.get("data") or {}) != desired["data"]:
        k8s.apply(api, desired)
    return str(desired["metadata"]["name"])
