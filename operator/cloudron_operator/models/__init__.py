"""Pydantic models of the CloudronApp, Addon, CloudronUser, BackupStore, CloudronBackup and AppCatalog
resources (cloudron.io/v1alpha1); the CRDs derive from them.

Parse a resource body with `CloudronAppSpec.model_validate(body["spec"])`; dump one for the API with
`model.model_dump(mode="json", exclude_none=True)` (field names come out camelCase, as in the YAML).
"""

from cloudron_operator.models.addon import (
    AddonConnection,
    AddonSpec,
    AddonStatus,
    AddonType,
    SecretKeyRef,
)
from cloudron_operator.models.app import (
    AccessSpec,
    AddonSelection,
    AppAddonStatus,
    AppPhase,
    CloudronAppSpec,
    CloudronAppStatus,
    StorageSpec,
    VolumeDeletePolicy,
)
from cloudron_operator.models.backup import (
    BackupPhase,
    BackupReason,
    BackupStoreSpec,
    BackupStoreStatus,
    CloudronBackupSpec,
    CloudronBackupStatus,
)
from cloudron_operator.models.catalog import AppCatalogSpec, AppCatalogStatus, VersionState
from cloudron_operator.models.conditions import Condition, ConditionStatus
from cloudron_operator.models.user import ADMIN_ROLES, CloudronUserSpec, CloudronUserStatus, UserRole

GROUP = "cloudron.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

__all__ = [
    "ADMIN_ROLES",
    "API_VERSION",
    "GROUP",
    "VERSION",
    "AccessSpec",
    "AddonConnection",
    "AddonSelection",
    "AddonSpec",
    "AddonStatus",
    "AddonType",
    "AppAddonStatus",
    "AppCatalogSpec",
    "AppCatalogStatus",
    "AppPhase",
    "BackupPhase",
    "BackupReason",
    "BackupStoreSpec",
    "BackupStoreStatus",
    "CloudronAppSpec",
    "CloudronAppStatus",
    "CloudronBackupSpec",
    "CloudronBackupStatus",
    "CloudronUserSpec",
    "CloudronUserStatus",
    "Condition",
    "ConditionStatus",
    "SecretKeyRef",
    "StorageSpec",
    "UserRole",
    "VersionState",
    "VolumeDeletePolicy",
]
