"""The status condition shared by both kinds, shaped like `metav1.Condition` so every tool reads it."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints

from cloudron_operator.models.base import StatusModel, kube_schema
from cloudron_operator.models.types import Count

CAMEL_CASE_PATTERN = r"^[A-Z][A-Za-z0-9]*$"

CamelCase = Annotated[str, StringConstraints(max_length=128, pattern=CAMEL_CASE_PATTERN)]


class ConditionStatus(StrEnum):
    """Whether a condition holds: True, False, or Unknown while the operator cannot tell."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Reason(StrEnum):
    """Every reason the operator gives in a condition or an Event, in one place."""

    # Ready=False until the app's spec (or the cluster it needs) changes: no child state alters it.
    INVALID_SPEC = "InvalidSpec"
    INVALID_MANIFEST = "InvalidManifest"
    UNSUPPORTED_ADDON = "UnsupportedAddon"  # not served yet
    ADDON_REFUSED = "AddonRefused"  # never served: docker, and the retired oauth and simpleauth
    NAME_CONFLICT = "NameConflict"
    HOST_IN_USE = "HostInUse"
    KIND_NOT_SERVED = "KindNotServed"
    APPLY_FAILED = "ApplyFailed"
    DEPROVISION_FAILED = "DeprovisionFailed"
    # Ready and its parts.
    RUNNING = "Running"
    PENDING = "Pending"
    # AddonsReady.
    PROVISIONED = "Provisioned"
    NO_ADDONS = "NoAddons"
    ADDON_NOT_FOUND = "AddonNotFound"
    ADDON_TYPE_MISMATCH = "AddonTypeMismatch"
    NO_DEFAULT_ADDON = "NoDefaultAddon"
    AMBIGUOUS_DEFAULT_ADDON = "AmbiguousDefaultAddon"
    ADDON_NOT_READY = "AddonNotReady"
    ADDON_UNREACHABLE = "AddonUnreachable"
    ADDON_FAILED = "AddonFailed"
    INVALID_OPTIONS = "InvalidOptions"
    # WorkloadAvailable and CertificateReady.
    STOPPED = "Stopped"
    CREATING = "Creating"
    PODS_READY = "PodsReady"
    PODS_NOT_READY = "PodsNotReady"
    PODS_NOT_CREATED = "PodsNotCreated"  # the Deployment's ReplicaFailure: Pod Security, a quota
    ISSUED = "Issued"
    NOT_ISSUED = "NotIssued"
    ISSUING = "Issuing"
    # Routed (routing=gateway): the Gateway controller's view of the app's listeners and routes.
    ROUTED = "Routed"
    NOT_ROUTED = "NotRouted"
    WAITING_FOR_GATEWAY = "WaitingForGateway"
    # AccessResolved (spec.access): whether every user and group it names exists.
    ACCESS_RESOLVED = "AccessResolved"
    UNKNOWN_NAMES = "UnknownNames"
    # An Addon's Ready.
    CONNECTED = "Connected"
    UNREACHABLE = "Unreachable"
    AMBIGUOUS_DEFAULT = "AmbiguousDefault"
    # Backups (BackupStore, CloudronBackup) and restores (an app's Restored condition).
    STORE_REACHABLE = "StoreReachable"
    STORE_UNREACHABLE = "StoreUnreachable"
    SECRET_MISSING = "SecretMissing"  # noqa: S105 - a reason
    BACKUP_PENDING = "BackupPending"
    BACKUP_RUNNING = "BackupRunning"
    BACKUP_SUCCEEDED = "BackupSucceeded"
    BACKUP_FAILED = "BackupFailed"
    APP_NOT_FOUND = "AppNotFound"
    STORE_NOT_FOUND = "StoreNotFound"
    BACKUP_NOT_FOUND = "BackupNotFound"
    BACKUP_NOT_READY = "BackupNotReady"
    BACKUPS_IMPORTED = "BackupsImported"
    BACKUP_PRUNED = "BackupPruned"
    BACKUP_DATA_KEPT = "BackupDataKept"
    RESTORE_PENDING = "RestorePending"
    RESTORING = "Restoring"
    RESTORED = "Restored"
    RESTORE_FAILED = "RestoreFailed"
    RESTORE_REFUSED = "RestoreRefused"
    # An AppCatalog's Ready, and an app's package from its catalog (spec.source).
    FETCHED = "Fetched"
    SOME_VERSIONS_INVALID = "SomeVersionsInvalid"
    CATALOG_NOT_FOUND = "CatalogNotFound"
    CATALOG_UNREACHABLE = "CatalogUnreachable"
    CATALOG_INVALID = "CatalogInvalid"
    CONFIG_MAP_NOT_FOUND = "ConfigMapNotFound"
    APP_NOT_IN_CATALOG = "AppNotInCatalog"
    VERSION_NOT_IN_CATALOG = "VersionNotInCatalog"
    NO_PUBLISHED_VERSION = "NoPublishedVersion"
    # Updated: the app's last update, or the rule that blocks the next one.
    UPDATE_SUCCEEDED = "UpdateSucceeded"
    UP_TO_DATE = "UpToDate"
    UPDATE_AVAILABLE = "UpdateAvailable"
    UPDATE_SCHEDULED = "UpdateScheduled"
    UPDATE_IN_PROGRESS = "UpdateInProgress"
    UPDATE_ROLLED_BACK = "UpdateRolledBack"
    UPDATE_ROLLBACK_FAILED = "UpdateRollbackFailed"
    PRE_UPDATE_BACKUP_FAILED = "PreUpdateBackupFailed"
    MAJOR_VERSION_CHANGE = "MajorVersionChange"
    PORT_DROPPED = "PortDropped"
    DOWNGRADE = "Downgrade"
    OTHER_APP_ID = "OtherAppId"
    VERSION_REVOKED = "VersionRevoked"
    VERSION_INVALID = "VersionInvalid"
    NO_BACKUP_STORE = "NoBackupStore"
    APP_STOPPED = "AppStopped"
    # Events of a pass or a deletion.
    CREATED = "Created"
    UPDATED = "Updated"
    DELETED = "Deleted"
    DATABASES_RETAINED = "DatabasesRetained"
    VOLUME_RETAINED = "VolumeRetained"


# The reasons of an app's Ready=False that only a change of its spec (or of the cluster) clears.
INVALID_REASONS = frozenset(
    {
        Reason.INVALID_SPEC,
        Reason.INVALID_MANIFEST,
        Reason.APPLY_FAILED,
        Reason.KIND_NOT_SERVED,
        Reason.UNSUPPORTED_ADDON,
        Reason.ADDON_REFUSED,
        Reason.DEPROVISION_FAILED,
        Reason.NAME_CONFLICT,
        Reason.HOST_IN_USE,
        Reason.RESTORE_REFUSED,
        Reason.BACKUP_NOT_FOUND,
        Reason.CATALOG_NOT_FOUND,
        Reason.APP_NOT_IN_CATALOG,
        Reason.VERSION_NOT_IN_CATALOG,
        Reason.NO_PUBLISHED_VERSION,
        Reason.VERSION_REVOKED,
        Reason.VERSION_INVALID,
        Reason.DOWNGRADE,
        Reason.OTHER_APP_ID,
        Reason.NO_BACKUP_STORE,
    }
)
# The reasons of Ready=False that waiting does not clear: the invalid ones, and a provisioning the
# server refused. The app then says `Stalled=True` (kstatus: Failed; Argo CD: Degraded).
STALLED_REASONS = INVALID_REASONS | {Reason.ADDON_FAILED, Reason.PODS_NOT_CREATED}


class Condition(StatusModel):
    """One aspect of the object's state, as in `metav1.Condition`."""

    type: CamelCase = Field(
        description="Aspect the condition reports on, in CamelCase: Ready, AddonsReady, ..."
    )
    status: ConditionStatus = Field(description="Whether the condition holds: True, False or Unknown.")
    reason: CamelCase = Field(description="Machine-readable cause of the last transition, in CamelCase.")
    message: Annotated[str, StringConstraints(max_length=32768)] = Field(
        description="Human-readable detail; when the condition is False it says what to do about it."
    )
    observed_generation: Count | None = Field(
        default=None, description="metadata.generation of the object the condition was computed from."
    )
    last_transition_time: AwareDatetime = Field(
        description="When the status last changed (RFC 3339 date-time)."
    )


# A list map keyed by type, so server-side apply merges conditions entry by entry.
CONDITION_LIST = kube_schema(list_type="map", list_map_keys=["type"])
