"""The kinds this operator serves, and their CustomResourceDefinition objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from cloudron_operator.crd.schema import Schema, structural_schema
from cloudron_operator.crd.structural import schema_problems
from cloudron_operator.models import (
    GROUP,
    VERSION,
    AddonSpec,
    AddonStatus,
    AppCatalogSpec,
    AppCatalogStatus,
    BackupStoreSpec,
    BackupStoreStatus,
    CloudronAppSpec,
    CloudronAppStatus,
    CloudronBackupSpec,
    CloudronBackupStatus,
    CloudronUserSpec,
    CloudronUserStatus,
)

CATEGORY = "cloudron"
READY_PATH = '.status.conditions[?(@.type=="Ready")]'


class InvalidSchemaError(ValueError):
    """A model does not translate into a valid CRD schema; the message lists every problem."""


@dataclass(frozen=True)
class PrinterColumn:
    """A column of `kubectl get`; priority 1 shows only with `-o wide`."""

    name: str
    type: Literal["string", "integer", "boolean", "date"]
    json_path: str
    description: str
    priority: int = 0

    def as_dict(self) -> dict[str, Any]:
        column: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "jsonPath": self.json_path,
            "description": self.description,
        }
        if self.priority:
            column["priority"] = self.priority
        return column


@dataclass(frozen=True)
class Kind:
    """One custom resource kind: its names, schema models and `kubectl get` columns."""

    kind: str
    plural: str
    scope: Literal["Namespaced", "Cluster"]
    short_names: tuple[str, ...]
    description: str
    spec: type[BaseModel]
    status: type[BaseModel]
    columns: tuple[PrinterColumn, ...]

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


_READY = PrinterColumn("Ready", "string", f"{READY_PATH}.status", "Whether the Ready condition is True.")
_REASON = PrinterColumn("Reason", "string", f"{READY_PATH}.reason", "Reason of the Ready condition.", 1)
_AGE = PrinterColumn("Age", "date", ".metadata.creationTimestamp", "Time since the object was created.")

CLOUDRON_APP = Kind(
    kind="CloudronApp",
    plural="cloudronapps",
    scope="Namespaced",
    short_names=("capp", "capps"),
    description=(
        "A Cloudron app package (image and CloudronManifest.json) served on a domain, with the "
        "addons its manifest asks for provisioned in Addons."
    ),
    spec=CloudronAppSpec,
    status=CloudronAppStatus,
    columns=(
        PrinterColumn("Domain", "string", ".spec.domain", "Domain the app is served on."),
        PrinterColumn("Version", "string", ".status.version", "Manifest version that is running."),
        PrinterColumn("Update", "string", ".status.availableUpdate", "Newer version its catalog publishes."),
        _READY,
        PrinterColumn("Phase", "string", ".status.phase", "Where the app is in its lifecycle."),
        _AGE,
        _REASON,
        PrinterColumn("URL", "string", ".status.url", "Where the app is served.", 1),
        PrinterColumn("To-do", "integer", ".status.checklistPending", "Checklist items not done yet.", 1),
    ),
)

ADDON = Kind(
    kind="Addon",
    plural="addons",
    scope="Cluster",
    short_names=("cladd",),
    description=(
        "A server that apps' addons are provisioned in: a shared PostgreSQL, an LDAP directory, a "
        "mail relay, ... Apps use the default Addon of each type unless they name another one."
    ),
    spec=AddonSpec,
    status=AddonStatus,
    columns=(
        PrinterColumn("Type", "string", ".spec.type", "Which manifest addon the server provides."),
        PrinterColumn("Default", "boolean", ".spec.default", "Whether apps use it unless they name another."),
        _READY,
        _AGE,
        _REASON,
        PrinterColumn("Apps", "integer", ".status.appCount", "Apps provisioned in the server.", 1),
        PrinterColumn("Server", "string", ".status.serverVersion", "Version the server reports.", 1),
    ),
)

CLOUDRON_USER = Kind(
    kind="CloudronUser",
    plural="cloudronusers",
    scope="Cluster",
    short_names=("cuser", "cusers"),
    description=(
        "A person of the platform's central directory: the apps with the ldap addon see the users "
        "allowed to them, who log in with one password (set with `python -m cloudron_operator user "
        "set-password`, kept hashed in a Secret, never in the spec)."
    ),
    spec=CloudronUserSpec,
    status=CloudronUserStatus,
    columns=(
        PrinterColumn("Username", "string", ".spec.username", "Login name."),
        PrinterColumn("Email", "string", ".spec.email", "Primary email address."),
        PrinterColumn("Role", "string", ".spec.role", "user, usermanager, admin or owner."),
        PrinterColumn("Active", "boolean", ".spec.active", "Whether the user may log in."),
        _AGE,
        _READY,
        _REASON,
    ),
)

BACKUP_STORE = Kind(
    kind="BackupStore",
    plural="backupstores",
    scope="Cluster",
    short_names=("bstore",),
    description=(
        "Where backups go: an S3-compatible bucket and prefix, with optional encryption. Annotate it "
        "cloudron.io/import=<any new value> to list the backups it holds as CloudronBackups (another "
        "cluster's too)."
    ),
    spec=BackupStoreSpec,
    status=BackupStoreStatus,
    columns=(
        PrinterColumn("Endpoint", "string", ".spec.s3.endpoint", "URL of the S3 API."),
        PrinterColumn("Bucket", "string", ".spec.s3.bucket", "Bucket the backups go to."),
        PrinterColumn("Password", "string", ".spec.encryption.passwordSecretRef.name", "Its Secret.", 1),
        _READY,
        _AGE,
        _REASON,
    ),
)

CLOUDRON_BACKUP = Kind(
    kind="CloudronBackup",
    plural="cloudronbackups",
    scope="Namespaced",
    short_names=("cbackup", "cbackups"),
    description=(
        "One backup of one CloudronApp: its spec and manifest, a dump of each database addon and its files, "
        "in a BackupStore. Deleting it deletes the stored backup, unless annotated cloudron.io/retain=true."
    ),
    spec=CloudronBackupSpec,
    status=CloudronBackupStatus,
    columns=(
        PrinterColumn("App", "string", ".spec.app", "The app it is of."),
        PrinterColumn("Reason", "string", ".spec.reason", "manual, scheduled or preUpdate."),
        PrinterColumn("Phase", "string", ".status.phase", "Pending, Running, Succeeded or Failed."),
        PrinterColumn("Version", "string", ".status.appVersion", "The app's version in the backup."),
        PrinterColumn("Size", "integer", ".status.size", "Bytes stored."),
        _AGE,
        PrinterColumn("Store", "string", ".status.store", "The BackupStore it is in.", 1),
        PrinterColumn("Completed", "date", ".status.completedAt", "When it completed.", 1),
    ),
)

APP_CATALOG = Kind(
    kind="AppCatalog",
    plural="appcatalogs",
    scope="Cluster",
    short_names=("appcat", "appcats"),
    description=(
        "A CloudronVersions.json catalog of app packages, from a URL or a ConfigMap: apps install from it "
        "by id (CloudronApp spec.source) and learn of their updates from it."
    ),
    spec=AppCatalogSpec,
    status=AppCatalogStatus,
    columns=(
        PrinterColumn("URL", "string", ".spec.url", "Where the catalog is fetched from."),
        PrinterColumn("Apps", "integer", ".status.apps", "App ids in the catalog."),
        PrinterColumn("Versions", "integer", ".status.versions", "Versions in the catalog."),
        PrinterColumn("Invalid", "integer", ".status.invalid", "Versions that fail the manifest rules."),
        _READY,
        PrinterColumn("Fetched", "date", ".status.lastFetched", "When it was last read."),
        _AGE,
        _REASON,
        PrinterColumn("ConfigMap", "string", ".spec.configMapRef.name", "ConfigMap it is read from.", 1),
    ),
)

KINDS = (CLOUDRON_APP, ADDON, CLOUDRON_USER, BACKUP_STORE, CLOUDRON_BACKUP, APP_CATALOG)


def custom_resource_definition(kind: Kind) -> dict[str, Any]:
    """The apiextensions.k8s.io/v1 CustomResourceDefinition of `kind`."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": kind.crd_name, "labels": {"app.kubernetes.io/part-of": "cloudron-operator"}},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.kind.lower(),
                "shortNames": list(kind.short_names),
                "categories": [CATEGORY],
            },
            "scope": kind.scope,
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": openapi_schema(kind)},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [column.as_dict() for column in kind.columns],
                }
            ],
        },
    }


def openapi_schema(kind: Kind) -> Schema:
    """The whole object's schema; raises InvalidSchemaError naming every problem."""
    schema: Schema = {
        "type": "object",
        "description": kind.description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": f"Always {GROUP}/{VERSION}."},
            "kind": {"type": "string", "description": f"Always {kind.kind}."},
            "metadata": {"type": "object"},  # the API server allows nothing more, not even a description
            "spec": structural_schema(kind.spec),
            "status": structural_schema(kind.status),
        },
    }
    problems = schema_problems(schema)
    if problems:
        raise InvalidSchemaError(f"{kind.kind} schema:\n  " + "\n  ".join(problems))
    return schema
