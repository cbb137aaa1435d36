"""What the operator does with each manifest field: the one list of what is honoured and what is not.

Every field a manifest can have is here, by path (`tcpPorts.*.portCount`, `addons.sendmail.optional`,
`capabilities.vaapi` for a list value), with what happens to it. `unhonoured` gives a manifest's
fields that are accepted but change nothing, each with its reason; docs/manifest.md lists the same
(a unit test compares them) and `make corpus` prints them for the corpus.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any, Final, NamedTuple


class Handling(StrEnum):
    HONOURED = "honoured"  # the app runs, or its status reads, as on Cloudron
    METADATA = "metadata"  # describes the package for a store listing; nothing runs on it
    REFUSED = "refused"  # the manifest or the app is refused, saying why (the docs say which)
    NOT_HONOURED = "not honoured"  # accepted, and changes nothing here: the reason says why
    RETIRED = "retired"  # a field Cloudron itself dropped: kept, with a warning from the validator


class FieldUse(NamedTuple):
    handling: Handling
    note: str


def _all(handling: Handling, note: str, *paths: str) -> dict[str, FieldUse]:
    return dict.fromkeys(paths, FieldUse(handling, note))


_H, _M, _R = Handling.HONOURED, Handling.METADATA, Handling.REFUSED
_N, _X = Handling.NOT_HONOURED, Handling.RETIRED
_NO_BACKUPS: Final = "backups are not implemented yet (the backups issue); nothing runs it"

FIELDS: Final[Mapping[str, FieldUse]] = {
    **_all(_H, "its env var names (manifestVersion 1: without CLOUDRON_)", "manifestVersion"),
    **_all(_H, "status.version", "version"),
    **_all(_H, "the Service's and Ingress's port", "httpPort"),
    **_all(_H, "the readiness and liveness probe", "healthCheckPath"),
    **_all(_H, "the container's memory limit", "memoryLimit"),
    **_all(
        _N,
        "spec.image decides what runs: a CloudronApp names its image, which may be a mirror of the one "
        "`cloudron build` pushed; the catalog issue's spec.source resolves it from the catalog",
        "dockerImage",
    ),
    **_all(
        _H,
        "the app's ports: Service ports, env vars, NetworkPolicy (docs/workload.md)",
        "tcpPorts.*.containerPort",
        "tcpPorts.*.defaultValue",
        "tcpPorts.*.enabledByDefault",
        "tcpPorts.*.portCount",
        "tcpPorts.*.readOnly",
        "udpPorts.*.containerPort",
        "udpPorts.*.defaultValue",
        "udpPorts.*.enabledByDefault",
        "udpPorts.*.portCount",
        "udpPorts.*.readOnly",
    ),
    **_all(
        _M,
        "the install dialog's text",
        "tcpPorts.*.title",
        "tcpPorts.*.description",
        "udpPorts.*.title",
        "udpPorts.*.description",
        "httpPorts.*.title",
        "httpPorts.*.description",
    ),
    **_all(
        _H,
        "a host, an Ingress rule, the Certificate, the env var (docs/workload.md)",
        "httpPorts.*.containerPort",
        "httpPorts.*.defaultValue",
        "httpPorts.*.aliasableDomain",
    ),
    **_all(
        _H,
        "the container's capabilities",
        "capabilities.net_admin",
        "capabilities.mlock",
        "capabilities.ping",
    ),
    **_all(
        _N,
        "the host's /dev/dri has no portable counterpart (devices come from device plugins): apps fall back "
        "to software video",
        "capabilities.vaapi",
    ),
    **_all(_H, "writable (docs/workload.md)", "runtimeDirs"),
    **_all(_H, "kept on the app's volume", "persistentDirs"),
    **_all(_H, "followed to the pod's log by a sidecar", "logPaths"),
    **_all(_H, "spec.sso decides; login addons then need no server", "optionalSso"),
    **_all(_H, "spec.aliases allowed, CLOUDRON_ALIAS_DOMAINS", "multiDomain", "aliasableDomain"),
    **_all(_N, _NO_BACKUPS, "backupCommand", "restoreCommand", "addons.localstorage.sqlite"),
    **_all(_H, "status.title; the mail display name", "title"),
    **_all(_H, "status.iconUrl", "iconUrl"),
    **_all(_H, "status.configureUrl", "configurePath"),
    **_all(_H, "status.postInstallMessage", "postInstallMessage"),
    **_all(_H, "status.checklist, spec.checklistDone", "checklist"),
    **_all(
        _M,
        "the App Store's listing (no store UI is part of the operator)",
        "id",
        "author",
        "tagline",
        "description",
        "changelog",
        "website",
        "contactEmail",
        "documentationUrl",
        "forumUrl",
        "icon",
        "tags",
        "mediaLinks",
        "upstreamVersion",
        "packagerName",
        "packagerUrl",
    ),
    **_all(
        _M,
        "gates installs on a Cloudron box's version; there is no box",
        "minBoxVersion",
        "maxBoxVersion",
        "targetBoxVersion",
    ),
    **_all(_X, "dropped by Cloudron (box 1.6 docs)", "developmentMode", "singleUser"),
    # Addons: what each gives is in docs/provisioning.md.
    **_all(
        _H,
        "provisioned (docs/provisioning.md)",
        "addons.localstorage",
        "addons.postgresql",
        "addons.mysql",
        "addons.redis",
        "addons.sendmail",
        "addons.scheduler",
        "addons.tls",
        "addons.turn",
    ),
    **_all(_H, "the database's collation", "addons.postgresql.locale"),
    **_all(_H, "a database prefix instead of one database", "addons.mysql.multipleDatabases"),
    **_all(_H, "the app's Redis has no password", "addons.redis.noPassword"),
    **_all(_H, "no mail variables: the app lets its users configure mail", "addons.sendmail.optional"),
    **_all(_H, "CLOUDRON_MAIL_FROM_DISPLAY_NAME", "addons.sendmail.supportsDisplayName"),
    **_all(
        _N,
        "the relay's host is the Addon's connection.host: point the Addon at a name with a valid certificate",
        "addons.sendmail.requiresValidCertificate",
    ),
    **_all(
        _N,
        "no SFTP/FTP service for /app/data is part of the operator; use kubectl cp or a sidecar",
        "addons.localstorage.ftp",
    ),
    **_all(_H, "a CronJob per task", "addons.scheduler.*.schedule", "addons.scheduler.*.command"),
    **_all(_R, "refused (AddonRefused): no safe counterpart in a cluster", "addons.docker"),
    **_all(_R, "refused (AddonRefused): Cloudron's retired login addon", "addons.oauth"),
    **_all(_R, "refused (UnsupportedAddon): mail server not served", "addons.recvmail", "addons.email"),
    **_all(_R, "refused (UnsupportedAddon): no isolating MongoDB server (docs/addons.md)", "addons.mongodb"),
    **_all(_H, "the app's view of the directory (docs/identity.md)", "addons.ldap"),
    **_all(_H, "a client at the platform's OpenID provider (docs/identity.md)", "addons.oidc"),
    **_all(
        _H,
        "the client's redirect URIs: each path on the app's hosts, own-scheme URIs as written",
        "addons.oidc.loginRedirectUri",
    ),
    **_all(_H, "the client's post-logout redirect URI on the app's hosts", "addons.oidc.logoutRedirectUri"),
    **_all(
        _H,
        "checked against the provider's algorithm (one per oidc Addon: options.idTokenAlgorithm)",
        "addons.oidc.tokenSignatureAlgorithm",
    ),
    **_all(_H, "a login wall before the app: oauth2-proxy beside it (docs/identity.md)", "addons.proxyAuth"),
    **_all(_H, "only this prefix is behind the wall (!/prefix: all but it)", "addons.proxyAuth.path"),
    **_all(
        _H,
        "a bearer token passes when it is a JWT the provider signed for the app (opaque tokens do not)",
        "addons.proxyAuth.supportsBearerAuth",
    ),
    **_all(
        _N,
        "the wall (oauth2-proxy) cannot check a password against the directory: no HTTP Basic sign-in",
        "addons.proxyAuth.basicAuth",
    ),
}

# Under an addon that is refused, its options are refused with it.
_REFUSED_ADDONS: Final = frozenset(
    path.removeprefix("addons.")
    for path, use in FIELDS.items()
    if path.count(".") == 1 and use.handling is _R
)


def field_paths(manifest: Mapping[str, Any]) -> Iterator[str]:
    """The paths of the fields a manifest sets, as FIELDS names them."""
    for key, value in manifest.items():
        if key in ("tcpPorts", "udpPorts", "httpPorts") and isinstance(value, Mapping):
            for entry in value.values():
                yield from (f"{key}.*.{field}" for field in (entry if isinstance(entry, Mapping) else {}))
        elif key == "capabilities" and isinstance(value, list):
            yield from (f"capabilities.{capability}" for capability in value if isinstance(capability, str))
        elif key == "addons" and isinstance(value, Mapping):
            yield from _addon_paths(value)
        else:
            yield key


def _addon_paths(addons: Mapping[str, Any]) -> Iterator[str]:
    for name, options in addons.items():
        yield f"addons.{name}"
        for option, setting in (options if isinstance(options, Mapping) else {}).items():
            if name == "scheduler":
                yield from (
                    f"addons.scheduler.*.{field}"
                    for field in (setting if isinstance(setting, Mapping) else {})
                )
            else:
                yield f"addons.{name}.{option}"


def use_of(path: str) -> FieldUse | None:
    """What the operator does with the field at `path`; None for a field it does not know."""
    if path in FIELDS:
        return FIELDS[path]
    parts = path.split(".")
    if parts[0] == "addons" and len(parts) == 2:
        return FieldUse(Handling.REFUSED, "not an addon Cloudron has: the manifest is invalid")
    if parts[0] == "addons" and len(parts) >= 3 and parts[1] in _REFUSED_ADDONS:
        return FieldUse(Handling.REFUSED, f"an option of addons.{parts[1]}, which is refused")
    return None


def unhonoured(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Path -> why, for every field the manifest sets that is accepted and changes nothing.

    A field the operator does not know is accepted too: an unknown top-level field is kept with a
    warning from the validator, an unknown addon option is kept as Cloudron adds options over time.
    """
    found: dict[str, str] = {}
    for path in field_paths(manifest):
        use = use_of(path)
        if use is None:
            where = "an addon option" if path.startswith("addons.") else "a top-level field"
            found[path] = f"{where} Cloudron does not define: kept, no effect"
        elif use.handling is Handling.NOT_HONOURED:
            found[path] = use.note
    return found
