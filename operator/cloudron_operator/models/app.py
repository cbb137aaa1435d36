"""The CloudronApp kind: one Cloudron app package (image + manifest) served on a domain."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cloudron_operator.catalog.durations import duration_seconds
from cloudron_operator.manifest.cron import check_timed_schedule, next_due
from cloudron_operator.models.addon import AddonType
from cloudron_operator.models.base import NULL_IS_A_VALUE, SpecModel, StatusModel, cel, kube_schema
from cloudron_operator.models.catalog import Duration
from cloudron_operator.models.conditions import CONDITION_LIST, Condition
from cloudron_operator.models.types import (
    ENV_NAME_PATTERN,
    PORT_ENV_NAME_PATTERN,
    BytesQuantity,
    Count,
    DnsSubdomain,
    Fqdn,
    Image,
    Port,
    WildcardFqdn,
)
from cloudron_operator.models.user import DirectoryName

# Bounds on what CEL rules iterate, so their worst-case cost stays within the API server's budget.
MAX_HOSTS = 64
MAX_ACCESS_ENTRIES = 256
MAX_PORTS = 64
MAX_ENV = 256
MAX_PULL_SECRETS = 16
MAX_CHECKLIST = 64
MAX_NOTE_LENGTH = 16384  # a post-install message or a checklist item, as the status carries it
MAX_WARNINGS = 32  # manifest warnings in the status; the last one says how many more there are
MAX_WARNING_LENGTH = 1024
CHECKLIST_KEY_PATTERN = r"^[a-zA-Z0-9_-]+$"

RESERVED_ENV_PREFIX = "CLOUDRON_"
RESERVED_ENV_MESSAGE = f"env names must not start with {RESERVED_ENV_PREFIX}: the operator sets those"
ALIAS_IS_DOMAIN_MESSAGE = "aliases must not contain the domain"
REDIRECT_IS_DOMAIN_MESSAGE = "redirects must not contain the domain"
REDIRECT_IS_ALIAS_MESSAGE = "a host is either an alias or a redirect, not both"
IMAGE_AND_MANIFEST_MESSAGE = "image and manifest go together: set both, or neither with source or restoreFrom"
PACKAGE_OR_RESTORE_MESSAGE = "set image and manifest, or source to install from a catalog, or restoreFrom"
SOURCE_OR_IMAGE_MESSAGE = "source and image/manifest exclude each other: the catalog gives both"
UPDATE_POLICY_MESSAGE = "updatePolicy applies to apps with source"
UPDATE_SCHEDULE_MESSAGE = "updatePolicy.schedule says when automatic updates start: set automatic: true"
UPDATE_WINDOW_MESSAGE = "updatePolicy.window is the length of each window of updatePolicy.schedule: set both"
DEFAULT_UPDATE_WINDOW = "1h"
MIN_UPDATE_WINDOW_SECONDS = 60
AUTOMATIC_PINNED_MESSAGE = (
    "updatePolicy.automatic needs source without a version: a pinned version never moves"
)
APP_ID_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$"


# Validation context of a spec whose image and manifest the operator filled in from spec.source
# (`backup.package.running_package`): what the user wrote has only the source.
RESOLVED_PACKAGE = {"resolvedPackage": True}


def resolved_package(info: ValidationInfo) -> bool:
    return bool((info.context or {}).get("resolvedPackage"))


def _not_reserved(name: str) -> str:
    if name.startswith(RESERVED_ENV_PREFIX):
        raise ValueError(RESERVED_ENV_MESSAGE)
    return name


ChecklistKey = Annotated[str, StringConstraints(max_length=253, pattern=CHECKLIST_KEY_PATTERN)]
CustomEnvName = Annotated[str, StringConstraints(pattern=ENV_NAME_PATTERN), AfterValidator(_not_reserved)]
PortEnvName = Annotated[str, StringConstraints(pattern=PORT_ENV_NAME_PATTERN)]
HttpPortName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_]+$")]


class VolumeDeletePolicy(StrEnum):
    """What becomes of the app's volume when the app is deleted (a StatefulSet's `whenDeleted`)."""

    DELETE = "Delete"
    RETAIN = "Retain"


class StorageSpec(SpecModel):
    """The app's persistent volume, mounted at /app/data when the manifest asks for localstorage."""

    size: BytesQuantity = Field(default="1Gi", description="Requested size of the volume, e.g. 1Gi.")
    storage_class_name: Annotated[DnsSubdomain | None, NULL_IS_A_VALUE] = Field(
        default=None, description="StorageClass of the volume; null uses the cluster's default class."
    )
    persistent_dirs_size: BytesQuantity = Field(
        default="1Gi",
        description=(
            "Size of the second volume that holds the manifest's persistentDirs (Cloudron 9.1), made only "
            "when the manifest has some; same class as the app's volume."
        ),
    )
    when_deleted: VolumeDeletePolicy = Field(
        default=VolumeDeletePolicy.DELETE,
        description=(
            "Delete: the volumes go with the app, as on Cloudron. Retain: the app does not own its "
            "volumes, so deleting the app keeps them; an app of the same name made later takes them over."
        ),
    )


class LocalSecretReference(SpecModel):
    """A Secret in the app's namespace, referred to by name as in a pod's imagePullSecrets."""

    name: DnsSubdomain = Field(description="Name of the Secret.")


class AddonSelection(SpecModel):
    """The Addon to provision one addon in, instead of the default Addon of its type."""

    addon_ref: DnsSubdomain = Field(description="Name of the (cluster-scoped) Addon.")


class AccessSpec(SpecModel):
    """Who may log in to the app through the directory (CLOUDRON.md §4.9): the users named, and the
    members of the groups named; admins and owners always."""

    users: tuple[DirectoryName, ...] = Field(
        default=(),
        max_length=MAX_ACCESS_ENTRIES,
        json_schema_extra=kube_schema(list_type="set"),
        description="Usernames allowed (a user created later with that name counts at once).",
    )
    groups: tuple[DirectoryName, ...] = Field(
        default=(),
        max_length=MAX_ACCESS_ENTRIES,
        json_schema_extra=kube_schema(list_type="set"),
        description="Groups whose members are allowed.",
    )


class RetentionSpec(SpecModel):
    """Which scheduled backups to keep; the newest good backup and pre-update backups younger than
    three weeks are always kept, manual backups are never pruned."""

    keep_daily: Count = Field(default=7, description="The newest backup of each of the last N days.")
    keep_weekly: Count = Field(default=4, description="The newest backup of each of the last N weeks.")
    keep_monthly: Count = Field(default=0, description="The newest backup of each of the last N months.")


class BackupPolicy(SpecModel):
    """Where and when the app is backed up."""

    store: DnsSubdomain = Field(description="Name of the BackupStore backups of this app go to.")
    schedule: Annotated[str, StringConstraints(max_length=128)] | None = Field(
        default=None,
        description="Cron schedule (5 fields, UTC) of scheduled backups, e.g. '0 3 * * *'; absent: none.",
    )
    retention: RetentionSpec = Field(
        default_factory=RetentionSpec, description="Which scheduled backups to keep."
    )


class RestoreSource(SpecModel):
    backup: DnsSubdomain = Field(
        description=(
            "Name of a CloudronBackup in this namespace. The app runs that backup's image and manifest with "
            "its data; a backup of another app makes this app its clone (only for a new app)."
        )
    )


class PackageSource(SpecModel):
    """The package to run, by id from an AppCatalog: the catalog gives its image and manifest."""

    catalog: DnsSubdomain = Field(description="Name of the AppCatalog.")
    app_id: Annotated[str, StringConstraints(max_length=253, pattern=APP_ID_PATTERN)] = Field(
        description="The app's id in the catalog (its manifest's id), e.g. org.wikijs.cloudronapp."
    )
    version: Annotated[str, StringConstraints(max_length=128, pattern=r"^[0-9A-Za-z.+-]+$")] | None = Field(
        default=None,
        description=(
            "The version to run (pinned: nothing moves until it changes). Absent: the newest published "
            "version at install; later ones are reported in status.availableUpdate, and installed by "
            "themselves with updatePolicy.automatic."
        ),
    )


class UpdatePolicy(SpecModel):
    """How the app moves to newer versions of its catalog (spec.source without a version)."""

    model_config = ConfigDict(
        json_schema_extra=kube_schema(
            cel("!has(self.schedule) || self.automatic", UPDATE_SCHEDULE_MESSAGE, field_path=".schedule"),
            cel("!has(self.window) || has(self.schedule)", UPDATE_WINDOW_MESSAGE, field_path=".window"),
        )
    )

    automatic: StrictBool = Field(
        default=False,
        description=(
            "Update by itself to the newest published version, never across a major version (unless the "
            "major is 0), never dropping a port in use; each update is backed up first."
        ),
    )
    health_timeout: Duration = Field(
        default="10m",
        description=(
            "How long an updated app has to become Ready; after it, the pre-update backup is restored "
            "(previous image, manifest and data) and that version is not tried again until the catalog or "
            "the spec changes."
        ),
    )
    schedule: Annotated[str, StringConstraints(max_length=128)] | None = Field(
        default=None,
        description=(
            "When automatic updates may start: a cron schedule (5 fields or @daily, @weekly, ...; UTC), "
            "like Cloudron's auto-update pattern ('30 1,3,5,23 * * *' there, in the server's time zone). "
            "Each time it names opens a window of `window`; an automatic update starts only in one. "
            "Absent: as soon as the catalog shows the version."
        ),
    )
    window: Duration | None = Field(
        default=None,
        description=(
            f"How long after each time of `schedule` an automatic update may still start (default "
            f"{DEFAULT_UPDATE_WINDOW}, at least 1m)."
        ),
    )

    @field_validator("schedule")
    @classmethod
    def _schedule_names_times(cls, schedule: str | None) -> str | None:
        if schedule is not None:
            check_timed_schedule(schedule)
            if next_due(schedule, datetime(2000, 1, 1, tzinfo=UTC)) is None:  # a leap year: Feb 29 counts
                raise ValueError(f"{schedule!r} names no date")
        return schedule

    @model_validator(mode="after")
    def _schedule_with_automatic(self) -> UpdatePolicy:
        if self.schedule is not None and not self.automatic:
            raise ValueError(UPDATE_SCHEDULE_MESSAGE)
        if self.window is not None and self.schedule is None:
            raise ValueError(UPDATE_WINDOW_MESSAGE)
        return self

    @field_validator("window")
    @classmethod
    def _window_of_a_minute_or_more(cls, window: str | None) -> str | None:
        if window is not None and duration_seconds(window) < MIN_UPDATE_WINDOW_SECONDS:
            raise ValueError(f"{window!r} is shorter than a minute: an update would rarely find it open")
        return window


class CloudronAppSpec(SpecModel):
    """The desired state of a CloudronApp."""

    model_config = ConfigDict(
        json_schema_extra=kube_schema(
            cel(
                "!has(self.aliases) || !(self.domain in self.aliases)",
                ALIAS_IS_DOMAIN_MESSAGE,
                field_path=".aliases",
            ),
            cel(
                "!has(self.redirects) || !(self.domain in self.redirects)",
                REDIRECT_IS_DOMAIN_MESSAGE,
                field_path=".redirects",
            ),
            cel(
                "!has(self.aliases) || !has(self.redirects) || !self.redirects.exists(r, r in self.aliases)",
                REDIRECT_IS_ALIAS_MESSAGE,
                field_path=".redirects",
            ),
            cel("has(self.image) == has(self.manifest)", IMAGE_AND_MANIFEST_MESSAGE),
            cel("has(self.image) || has(self.source) || has(self.restoreFrom)", PACKAGE_OR_RESTORE_MESSAGE),
            cel("!has(self.source) || !has(self.image)", SOURCE_OR_IMAGE_MESSAGE),
            cel("!has(self.updatePolicy) || has(self.source)", UPDATE_POLICY_MESSAGE),
            cel(
                "!has(self.updatePolicy) || !self.updatePolicy.automatic || !has(self.source.version)",
                AUTOMATIC_PINNED_MESSAGE,
            ),
        )
    )

    image: Image | None = Field(
        default=None,
        description=(
            "Container image of the app package, e.g. registry.example.com/wiki:1.2.0. Required unless "
            "source names the package in a catalog, or restoreFrom runs a backup's."
        ),
    )
    manifest: dict[str, Any] | None = Field(
        default=None,
        description=(
            "The app's CloudronManifest.json as published, kept whole: unknown fields and addon options "
            "are preserved. The operator checks it by the manifest format rules and reports violations in "
            "the Ready condition. Required with image."
        ),
    )
    source: PackageSource | None = Field(
        default=None,
        description="The package by id from an AppCatalog, instead of image and manifest.",
    )
    update_policy: UpdatePolicy | None = Field(
        default=None,
        description="How the app moves to newer versions of its catalog (apps with source only).",
    )
    domain: Fqdn = Field(
        description=(
            "Fully qualified domain name the app is served on; "
            "CLOUDRON_APP_DOMAIN and CLOUDRON_APP_ORIGIN derive from it."
        )
    )
    aliases: tuple[WildcardFqdn, ...] = Field(
        default=(),
        max_length=MAX_HOSTS,
        description="More hosts that serve the app (the manifest must allow aliases); may be *.example.com.",
        json_schema_extra=kube_schema(list_type="set"),
    )
    redirects: tuple[Fqdn, ...] = Field(
        default=(),
        max_length=MAX_HOSTS,
        description="Hosts that answer with a permanent redirect to https://<domain>/ (see docs/ingress.md).",
        json_schema_extra=kube_schema(list_type="set"),
    )
    ports: dict[PortEnvName, Annotated[Port | None, NULL_IS_A_VALUE]] = Field(
        default_factory=dict,
        max_length=MAX_PORTS,
        description=(
            "External port per key of the manifest's tcpPorts/udpPorts; the app reads it from the env var "
            "of that name. null disables the port, and the env var is then absent."
        ),
    )
    image_pull_secrets: tuple[LocalSecretReference, ...] = Field(
        default=(),
        max_length=MAX_PULL_SECRETS,
        description=(
            "Secrets of type kubernetes.io/dockerconfigjson in the app's namespace that let the cluster "
            "pull the image from a private registry; given to every pod of the app."
        ),
        json_schema_extra=kube_schema(list_type="map", list_map_keys=["name"]),
    )
    http_ports: dict[HttpPortName, Fqdn] = Field(
        default_factory=dict,
        max_length=MAX_PORTS,
        description=(
            "Host per key of the manifest's httpPorts (extra HTTP services of the app on their own "
            "domains); the app reads it from the env var of that name. A key left out is served on the "
            "manifest's suggested subdomain in the app's domain."
        ),
    )
    http_port_aliases: dict[
        HttpPortName,
        Annotated[
            tuple[WildcardFqdn, ...],
            Field(max_length=MAX_HOSTS, json_schema_extra=kube_schema(list_type="set")),
        ],
    ] = Field(
        default_factory=dict,
        max_length=MAX_PORTS,
        description=(
            "More hosts per key of the manifest's httpPorts that serve that service, for the entries "
            "the manifest marks aliasableDomain; may be *.example.com."
        ),
    )
    env: dict[CustomEnvName, str] = Field(
        default_factory=dict,
        max_length=MAX_ENV,
        description=f"Custom environment variables; names must not start with {RESERVED_ENV_PREFIX}.",
        json_schema_extra=kube_schema(
            cel(f"self.all(k, !k.startsWith('{RESERVED_ENV_PREFIX}'))", RESERVED_ENV_MESSAGE)
        ),
    )
    memory_limit: BytesQuantity | None = Field(
        default=None,
        description="Memory limit of the app (e.g. 512Mi); never below the manifest's memoryLimit.",
    )
    running: StrictBool = Field(default=True, description="false scales the app to zero and keeps its data.")
    sso: StrictBool = Field(
        default=True,
        description=(
            "Whether the app uses the cluster's single sign-on; "
            "false is allowed only where the manifest says optionalSso."
        ),
    )
    storage: StorageSpec = Field(default_factory=StorageSpec, description="The localstorage volume.")
    addons: dict[AddonType, AddonSelection] = Field(
        default_factory=dict,
        max_length=len(AddonType),
        description="Per addon type, the Addon to provision in instead of the default Addon of that type.",
    )
    access: AccessSpec | None = Field(
        default=None,
        description=(
            "Which users may log in through the directory (ldap addon); absent: every active user. "
            "Admins and owners may always."
        ),
    )
    backup: BackupPolicy | None = Field(default=None, description="Where and when the app is backed up.")
    restore_from: RestoreSource | None = Field(
        default=None,
        description=(
            "Bring the app back to a backup: its image, manifest, databases and files. Kept while the app "
            "should run the backup's package; remove it (and set image and manifest) to move on."
        ),
    )
    checklist_done: tuple[ChecklistKey, ...] = Field(
        default=(),
        max_length=MAX_CHECKLIST,
        description=(
            "Keys of the manifest's checklist (the package's post-install to-dos) that the admin has done; "
            "status.checklist marks them done."
        ),
        json_schema_extra=kube_schema(list_type="set"),
    )

    @property
    def package_image(self) -> str:
        """The image to run: the spec's, the catalog's or the restored backup's (`backup.package` puts
        those in: so a spec with source is parsed with the image it resolved to)."""
        if self.image is None:
            raise ValueError(PACKAGE_OR_RESTORE_MESSAGE)
        return self.image

    @property
    def package_manifest(self) -> dict[str, Any]:
        if self.manifest is None:
            raise ValueError(PACKAGE_OR_RESTORE_MESSAGE)
        return self.manifest

    @model_validator(mode="after")
    def _package_or_restore(self, info: ValidationInfo) -> CloudronAppSpec:
        if (self.image is None) != (self.manifest is None):
            raise ValueError(IMAGE_AND_MANIFEST_MESSAGE)
        if self.source is not None and self.image is not None and not resolved_package(info):
            raise ValueError(SOURCE_OR_IMAGE_MESSAGE)
        if self.image is None and self.restore_from is None and self.source is None:
            raise ValueError(PACKAGE_OR_RESTORE_MESSAGE)
        if self.update_policy is not None:
            if self.source is None:
                raise ValueError(UPDATE_POLICY_MESSAGE)
            if self.update_policy.automatic and self.source.version is not None:
                raise ValueError(AUTOMATIC_PINNED_MESSAGE)
        return self

    @field_validator("aliases", "redirects")
    @classmethod
    def _no_duplicates(cls, hosts: tuple[str, ...]) -> tuple[str, ...]:
        # x-kubernetes-list-type: set makes the API server refuse duplicates too.
        if len(set(hosts)) != len(hosts):
            raise ValueError("duplicate host")
        return hosts

    @field_validator("image_pull_secrets")
    @classmethod
    def _one_reference_per_secret(
        cls, secrets: tuple[LocalSecretReference, ...]
    ) -> tuple[LocalSecretReference, ...]:
        # x-kubernetes-list-type: map keyed by name makes the API server refuse duplicates too.
        if len({secret.name for secret in secrets}) != len(secrets):
            raise ValueError("duplicate Secret name")
        return secrets

    @field_validator("aliases")
    @classmethod
    def _aliases_exclude_domain(cls, aliases: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if info.data.get("domain") in aliases:
            raise ValueError(ALIAS_IS_DOMAIN_MESSAGE)
        return aliases

    @field_validator("redirects")
    @classmethod
    def _redirects_exclude_domain_and_aliases(
        cls, redirects: tuple[str, ...], info: ValidationInfo
    ) -> tuple[str, ...]:
        if info.data.get("domain") in redirects:
            raise ValueError(REDIRECT_IS_DOMAIN_MESSAGE)
        if set(redirects) & set(info.data.get("aliases", ())):
            raise ValueError(REDIRECT_IS_ALIAS_MESSAGE)
        return redirects


class AppPhase(StrEnum):
    """Where the app is in its lifecycle; the conditions carry the detail."""

    PENDING = "Pending"
    INSTALLING = "Installing"
    RUNNING = "Running"
    STOPPED = "Stopped"
    RESTORING = "Restoring"
    ERROR = "Error"


class AppAddonStatus(StatusModel):
    """What the operator provisioned for one addon of the manifest."""

    addon: str | None = Field(
        default=None,
        description="Addon it is provisioned in; absent for addons that need none (localstorage, ...).",
    )
    secret_name: str | None = Field(
        default=None,
        description="Secret in the app's namespace whose keys are this addon's CLOUDRON_* variables.",
    )
    ready: StrictBool | None = Field(
        default=None, description="Whether the addon is provisioned and its Secret is current."
    )
    message: str | None = Field(default=None, description="What the addon waits for or why it failed.")


class ChecklistItem(StatusModel):
    """One of the package's post-install to-dos, as the admin sees it."""

    key: str = Field(description="Its key in the manifest's checklist, as spec.checklistDone names it.")
    message: Annotated[str, StringConstraints(max_length=MAX_NOTE_LENGTH)] = Field(
        description="What to do (markdown), with the app's placeholders filled in."
    )
    done: StrictBool = Field(description="Whether spec.checklistDone names it.")


class RestorePhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class RestoreStatus(StatusModel):
    """The restore spec.restoreFrom asked for: from which backup, how far, and what it runs."""

    backup: str = Field(description="The CloudronBackup restored from.")
    backup_uid: str | None = Field(default=None, description="Its metadata.uid.")
    clone: StrictBool | None = Field(default=None, description="Whether the backup is of another app.")
    phase: RestorePhase = Field(description="Pending, Running, Succeeded or Failed.")
    image: str | None = Field(default=None, description="The backup's image, which the app runs.")
    manifest: dict[str, Any] | None = Field(
        default=None, description="The backup's manifest, which the app runs."
    )
    job: str | None = Field(default=None, description="The Job that restores it.")
    started_at: str | None = Field(default=None, description="When the restore began.")
    completed_at: str | None = Field(default=None, description="When it ended.")
    message: str | None = Field(default=None, description="Why it failed.")


class PackageStatus(StatusModel):
    """The package spec.source resolved to, which the app runs (kept when the catalog is unreachable)."""

    catalog: str = Field(description="The AppCatalog it came from.")
    app_id: str = Field(description="The app's id.")
    version: str = Field(description="Its version.")
    image: str = Field(description="Its image.")
    manifest: dict[str, Any] = Field(description="Its manifest, as the catalog published it.")
    manifest_digest: str = Field(description="sha256 of the manifest's canonical JSON, as 'sha256:<hex>'.")
    resolved_at: str | None = Field(default=None, description="When it was taken from the catalog.")
    first_ready_at: str | None = Field(
        default=None,
        description=(
            "When the app was first Ready (on this package, or on the one it was updated from): from then "
            "on, moving to another version is an update, backed up first and held to the rules."
        ),
    )


class UpdatePhase(StrEnum):
    BACKING_UP = "BackingUp"
    UPDATING = "Updating"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"


class UpdateStatus(StatusModel):
    """The app's last update from its catalog, and how it went."""

    phase: UpdatePhase = Field(
        description="BackingUp, Updating (waiting for Ready), Succeeded, Failed, RollingBack or RolledBack."
    )
    from_version: str = Field(description="The version before the update.")
    to_version: str = Field(description="The version updated to.")
    backup: str | None = Field(default=None, description="The pre-update CloudronBackup.")
    started_at: str | None = Field(default=None, description="When the update began.")
    deadline: str | None = Field(
        default=None, description="When the updated app must be Ready by (updatePolicy.healthTimeout)."
    )
    completed_at: str | None = Field(default=None, description="When it ended.")
    reason: str | None = Field(default=None, description="Why it failed or was rolled back.")
    message: str | None = Field(default=None, description="The detail.")
    catalog_digest: str | None = Field(
        default=None,
        description=(
            "The catalog's digest when the update began: a failed version is tried again only once it "
            "changes (or the spec does)."
        ),
    )
    generation: Count | None = Field(default=None, description="metadata.generation when the update began.")


class UpdateBlock(StatusModel):
    """The rule that keeps the app off a newer version of its catalog."""

    version: str = Field(description="The version it keeps the app off.")
    reason: str = Field(description="The rule: MajorVersionChange, PortDropped, NoBackupStore, ...")
    message: str = Field(description="Why, and what to do.")


class CloudronAppStatus(StatusModel):
    """The observed state of a CloudronApp."""

    observed_generation: Count | None = Field(
        default=None, description="metadata.generation the status was computed from."
    )
    reconciled_generation: Count | None = Field(
        default=None,
        description="metadata.generation of the spec the operator's last complete pass applied: "
        "a newer generation is a change still to apply.",
    )
    phase: AppPhase | None = Field(default=None, description="Where the app is in its lifecycle.")
    url: str | None = Field(
        default=None, description="Where the app is served, e.g. https://wiki.example.com."
    )
    version: str | None = Field(default=None, description="Manifest version that is running now.")
    title: str | None = Field(default=None, description="The package's title, from its manifest.")
    icon_url: str | None = Field(default=None, description="The package's icon, from its manifest's iconUrl.")
    configure_url: str | None = Field(
        default=None, description="The app's settings page, from its manifest's configurePath."
    )
    post_install_message: Annotated[str, StringConstraints(max_length=MAX_NOTE_LENGTH)] | None = Field(
        default=None,
        description=(
            "What the package tells the admin after installing it (markdown), with the <sso>/<nosso> part "
            "that applies and the app's placeholders filled in."
        ),
    )
    checklist: tuple[ChecklistItem, ...] | None = Field(
        default=None,
        max_length=MAX_CHECKLIST,
        description="The package's post-install to-dos that apply to this app, and which are done.",
    )
    manifest_warnings: tuple[Annotated[str, StringConstraints(max_length=MAX_WARNING_LENGTH)], ...] | None = (
        Field(
            default=None,
            max_length=MAX_WARNINGS,
            description=(
                "What the manifest's check warned of (store metadata left out, unknown fields), and each "
                "of its fields that is accepted and changes nothing here, with why (docs/manifest.md)."
            ),
        )
    )
    checklist_pending: Count | None = Field(
        default=None, description="How many checklist items are not done yet."
    )
    conditions: tuple[Condition, ...] = Field(
        default=(),
        description="Ready first, then AddonsReady, WorkloadAvailable, CertificateReady and so on.",
        json_schema_extra=CONDITION_LIST,
    )
    restore: RestoreStatus | None = Field(default=None, description="The restore spec.restoreFrom asked for.")
    package: PackageStatus | None = Field(
        default=None, description="The package spec.source resolved to, which the app runs."
    )
    available_update: str | None = Field(
        default=None, description="The newest published version of spec.source newer than the running one."
    )
    update: UpdateStatus | None = Field(default=None, description="The last update, and how it went.")
    update_blocked: UpdateBlock | None = Field(
        default=None, description="The rule that keeps updatePolicy.automatic off the newest version."
    )
    next_update_at: str | None = Field(
        default=None,
        description=(
            "When updatePolicy.schedule next opens a window for the automatic update to availableUpdate "
            "(UTC); absent while none waits for one."
        ),
    )
    last_scheduled_backup: str | None = Field(
        default=None, description="When spec.backup.schedule last made a backup (the schedule's time, UTC)."
    )
    addons: dict[str, AppAddonStatus] = Field(
        default_factory=dict, description="Per addon of the manifest, what was provisioned for it."
    )
