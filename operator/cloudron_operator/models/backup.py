"""The BackupStore and CloudronBackup kinds: where backups go, and one backup of one app.

A backup is the whole app (its spec and manifest, a dump per database addon, its files), made
by a Job in the app's namespace; the store holds it self-described, so another cluster can list
and restore it (docs/backups.md).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Final

from pydantic import ConfigDict, Field, StrictBool, StringConstraints

from cloudron_operator.models.base import SpecModel, StatusModel, cel, kube_schema
from cloudron_operator.models.conditions import CONDITION_LIST, Condition
from cloudron_operator.models.types import Count, DataKey, DnsLabel, DnsSubdomain

BUCKET_PATTERN: Final = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
PREFIX_PATTERN: Final = r"^$|^[^/].*/$"
ENDPOINT_PATTERN: Final = r"^https?://[^\s/]+(/[^\s]*)?$"
RETAIN_ANNOTATION: Final = "cloudron.io/retain"  # on a CloudronBackup: deleting it keeps the stored data
IMPORT_ANNOTATION: Final = "cloudron.io/import"  # on a BackupStore: a new value lists the store into objects


class StoreSecretRef(SpecModel):
    """A Secret in the operator's reach (a BackupStore is cluster-scoped, so it names the namespace)."""

    name: DnsSubdomain = Field(description="Name of the Secret.")
    namespace: DnsLabel = Field(description="Namespace of the Secret.")


class PasswordSecretRef(StoreSecretRef):
    key: DataKey = Field(default="password", description="Key of the Secret that holds the password.")


class S3Location(SpecModel):
    """An S3-compatible bucket (AWS, MinIO, Ceph RGW, Garage, versitygw, ...)."""

    endpoint: Annotated[str, StringConstraints(max_length=2048, pattern=ENDPOINT_PATTERN)] = Field(
        description="URL of the S3 API, e.g. https://s3.eu-central-1.amazonaws.com or http://minio.minio:9000."
    )
    bucket: Annotated[str, StringConstraints(pattern=BUCKET_PATTERN)] = Field(
        description="Bucket the backups go to; it must exist."
    )
    prefix: Annotated[str, StringConstraints(max_length=512, pattern=PREFIX_PATTERN)] = Field(
        default="",
        description="Folder in the bucket, ending with '/' (e.g. cluster-a/); empty: the bucket's root.",
    )
    region: Annotated[str, StringConstraints(max_length=64, pattern=r"^[a-z0-9-]+$")] = Field(
        default="us-east-1", description="Region to sign requests for."
    )
    credentials_secret_ref: StoreSecretRef = Field(
        description="Secret with the keys accessKeyId and secretAccessKey.",
    )


class EncryptionSpec(SpecModel):
    password_secret_ref: PasswordSecretRef = Field(
        description=(
            "Secret whose password encrypts every backup written from now on (AES-256-GCM, key derived with "
            "scrypt). Keep a copy elsewhere: without it no backup can be restored."
        )
    )


class BackupStoreSpec(SpecModel):
    """The desired state of a BackupStore."""

    s3: S3Location = Field(description="The S3-compatible bucket.")
    encryption: EncryptionSpec | None = Field(default=None, description="Absent: backups are not encrypted.")


class ImportStatus(StatusModel):
    request: str = Field(description="The cloudron.io/import annotation's value this import answered.")
    found: Count = Field(description="Backups the store holds.")
    created: Count = Field(description="CloudronBackup objects made for backups the cluster did not list.")
    message: str | None = Field(default=None, description="What could not be imported, and why.")


class BackupStoreStatus(StatusModel):
    """The observed state of a BackupStore."""

    observed_generation: Count | None = Field(
        default=None, description="metadata.generation the status is of."
    )
    conditions: tuple[Condition, ...] = Field(
        default=(),
        description="Ready means the operator wrote, read and deleted an object under the prefix.",
        json_schema_extra=CONDITION_LIST,
    )
    last_import: ImportStatus | None = Field(default=None, description="The last import the admin asked for.")


class BackupReason(StrEnum):
    MANUAL = "manual"
    SCHEDULED = "scheduled"
    PRE_UPDATE = "preUpdate"


class CloudronBackupSpec(SpecModel):
    """The desired state of a CloudronBackup; immutable, since a backup is made once."""

    model_config = ConfigDict(
        json_schema_extra=kube_schema(cel("self == oldSelf", "a backup's spec is immutable"))
    )

    app: DnsSubdomain = Field(description="Name of the CloudronApp in this namespace to back up.")
    store: DnsSubdomain | None = Field(
        default=None, description="BackupStore to write to; absent: the app's spec.backup.store."
    )
    reason: BackupReason = Field(
        default=BackupReason.MANUAL,
        description="manual, scheduled (made by the app's schedule, pruned by its retention) or preUpdate.",
    )


class BackupPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class CloudronBackupStatus(StatusModel):
    """The observed state of a CloudronBackup."""

    phase: BackupPhase | None = Field(default=None, description="Pending, Running, Succeeded or Failed.")
    store: str | None = Field(default=None, description="The BackupStore it is in.")
    location: str | None = Field(
        default=None, description="Its folder in the store, under the store's prefix."
    )
    size: Count | None = Field(default=None, description="Bytes stored.")
    app_uid: str | None = Field(default=None, description="metadata.uid of the app it is of.")
    app_version: str | None = Field(default=None, description="Manifest version of the app it is of.")
    contents: tuple[str, ...] | None = Field(
        default=None,
        description="What it holds: files and a dump per database addon (postgresql, mysql, redis).",
    )
    encrypted: StrictBool | None = Field(default=None, description="Whether its parts are encrypted.")
    started_at: str | None = Field(default=None, description="When the backup began.")
    completed_at: str | None = Field(default=None, description="When its index was written.")
    job: str | None = Field(default=None, description="The Job that makes it.")
    conditions: tuple[Condition, ...] = Field(
        default=(),
        description="Ready means the backup is complete in the store and can be restored.",
        json_schema_extra=CONDITION_LIST,
    )
