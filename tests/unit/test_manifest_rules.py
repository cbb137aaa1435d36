"""One small manifest per rule of docs/manifest.md: rejected, accepted, or accepted with a warning."""

from __future__ import annotations

from typing import Any

import pytest

from cloudron_operator.manifest.validation import ManifestResult, parse_manifest, validate_manifest

pytestmark = pytest.mark.unit

BASE: dict[str, Any] = {"manifestVersion": 2, "version": "1.0.0", "httpPort": 8000}
PORT = {"title": "SSH", "description": "Git over SSH"}
TASK = {"schedule": "*/5 * * * *", "command": "/app/code/cron.sh"}
REMOVE = object()


def manifest(**changes: Any) -> dict[str, Any]:
    """BASE with `changes` applied; a change to REMOVE drops the field."""
    merged = {**BASE, **changes}
    return {name: value for name, value in merged.items() if value is not REMOVE}


def messages(result: ManifestResult) -> tuple[list[str], list[str]]:
    return [str(error) for error in result.errors], [str(warning) for warning in result.warnings]


REJECTED = {
    "manifestVersion missing": (
        manifest(manifestVersion=REMOVE),
        "manifestVersion: is required",
    ),
    "manifestVersion 3": (manifest(manifestVersion=3), "manifestVersion: must be at most 2"),
    "manifestVersion 0": (manifest(manifestVersion=0), "manifestVersion: must be at least 1"),
    "version missing": (manifest(version=REMOVE), "version: is required"),
    "version not semver": (manifest(version="1.0"), "version: must be a semantic version such as 1.2.3"),
    "version leading zero": (manifest(version="01.0.0"), "version: must be a semantic version such as 1.2.3"),
    "version placeholder": (
        manifest(version="%%VERSION%%"),
        "version: must be a semantic version such as 1.2.3",
    ),
    "httpPort missing": (manifest(httpPort=REMOVE), "httpPort: is required"),
    "httpPort string": (manifest(httpPort="8000"), "httpPort: must be an integer"),
    "httpPort boolean": (manifest(httpPort=True), "httpPort: must be an integer"),
    "httpPort fraction": (manifest(httpPort=8000.5), "httpPort: must be an integer"),
    "httpPort zero": (manifest(httpPort=0), "httpPort: must be at least 1"),
    "httpPort too large": (manifest(httpPort=65536), "httpPort: must be at most 65535"),
    "healthCheckPath empty": (
        manifest(healthCheckPath=""),
        "healthCheckPath: must not be empty",
    ),
    "healthCheckPath null": (manifest(healthCheckPath=None), "healthCheckPath: must not be null"),
    "tcp port name lower case": (
        manifest(tcpPorts={"HASS_Bridge": PORT}),
        "tcpPorts.HASS_Bridge: port names must match ^[A-Z0-9_]+$",
    ),
    "udp port name with a dash": (
        manifest(udpPorts={"DNS-PORT": PORT}),
        "udpPorts.DNS-PORT: port names must match ^[A-Z0-9_]+$",
    ),
    "http port name with a dash": (
        manifest(httpPorts={"api-domain": {**PORT, "containerPort": 9000}}),
        "httpPorts.api-domain: port names must match ^[a-zA-Z0-9_]+$",
    ),
    "port name with the platform prefix": (
        manifest(tcpPorts={"CLOUDRON_SSH": PORT}),
        "tcpPorts.CLOUDRON_SSH: the CLOUDRON_ prefix is reserved for the platform",
    ),
    "http port name with the platform prefix": (
        manifest(httpPorts={"CLOUDRON_API": {**PORT, "containerPort": 9000}}),
        "httpPorts.CLOUDRON_API: the CLOUDRON_ prefix is reserved for the platform",
    ),
    "port without a title": (
        manifest(tcpPorts={"SSH_PORT": {"description": "Git over SSH"}}),
        "tcpPorts.SSH_PORT.title: is required",
    ),
    "port with a short description": (
        manifest(tcpPorts={"SSH_PORT": {**PORT, "description": "Git"}}),
        "tcpPorts.SSH_PORT.description: must be at least 5 characters long",
    ),
    "port with a misspelled key": (
        manifest(tcpPorts={"SSH_PORT": {**PORT, "containerport": 22}}),
        "tcpPorts.SSH_PORT.containerport: is not a known field here",
    ),
    "port container port out of range": (
        manifest(tcpPorts={"SSH_PORT": {**PORT, "containerPort": 0}}),
        "tcpPorts.SSH_PORT.containerPort: must be at least 1",
    ),
    "port default value as a string": (
        manifest(udpPorts={"DNS_PORT": {**PORT, "defaultValue": "53"}}),
        "udpPorts.DNS_PORT.defaultValue: must be an integer",
    ),
    "port count too large": (
        manifest(tcpPorts={"RTP": {**PORT, "portCount": 1001}}),
        "tcpPorts.RTP.portCount: must be at most 1000",
    ),
    "port readOnly not a boolean": (
        manifest(tcpPorts={"SSH_PORT": {**PORT, "readOnly": "yes"}}),
        "tcpPorts.SSH_PORT.readOnly: must be true or false",
    ),
    "http port without container port": (
        manifest(httpPorts={"API_DOMAIN": PORT}),
        "httpPorts.API_DOMAIN.containerPort: is required",
    ),
    "http port with a port count": (
        manifest(httpPorts={"API_DOMAIN": {**PORT, "containerPort": 9000, "portCount": 2}}),
        "httpPorts.API_DOMAIN.portCount: is not a known field here",
    ),
    "env name in tcp and udp ports": (
        manifest(tcpPorts={"DNS_PORT": PORT}, udpPorts={"DNS_PORT": PORT}),
        "udpPorts: DNS_PORT also in tcpPorts: env names must be unique across tcpPorts, udpPorts, httpPorts",
    ),
    "env name in udp and http ports": (
        manifest(udpPorts={"WEB": PORT}, httpPorts={"WEB": {**PORT, "containerPort": 9000}}),
        "httpPorts: WEB also in udpPorts: env names must be unique across tcpPorts, udpPorts, httpPorts",
    ),
    "addons not an object": (manifest(addons=["redis"]), "addons: must be an object"),
    "addon options not an object": (manifest(addons={"redis": True}), "addons.redis: must be an object"),
    "addon in lower case": (
        manifest(addons={"proxyauth": {}}),
        "addons: unknown addon proxyauth (names are case-sensitive: did you mean proxyAuth?); Cloudron's "
        "addons are docker, email, ldap, localstorage, mongodb, mysql, oauth, oidc, postgresql, proxyAuth, "
        "recvmail, redis, scheduler, sendmail, tls, turn",
    ),
    "retired addon": (manifest(addons={"simpleauth": {}}), "addons: unknown addon simpleauth; "),
    "oidc without loginRedirectUri": (
        manifest(addons={"oidc": {"logoutRedirectUri": "/"}}),
        "addons.oidc.loginRedirectUri: is required",
    ),
    "oidc loginRedirectUri not a string": (
        manifest(addons={"oidc": {"loginRedirectUri": ["/callback"]}}),
        "addons.oidc.loginRedirectUri: must be a string",
    ),
    "sqlite without paths": (
        manifest(addons={"localstorage": {"sqlite": {}}}),
        "addons.localstorage.sqlite.paths: is required",
    ),
    "sqlite paths not strings": (
        manifest(addons={"localstorage": {"sqlite": {"paths": ["/app/data/db", 1]}}}),
        "addons.localstorage.sqlite.paths[1]: must be a string",
    ),
    "sqlite false": (
        manifest(addons={"localstorage": {"sqlite": False}}),
        "addons.localstorage.sqlite: must be an object",
    ),
    "scheduler task name with a dash": (
        manifest(addons={"scheduler": {"clear-sessions": TASK}}),
        "addons.scheduler.clear-sessions: task names must match ^[a-zA-Z0-9_]+$",
    ),
    "scheduler cron out of range": (
        manifest(addons={"scheduler": {"cleanup": {**TASK, "schedule": "0 25 * * *"}}}),
        "addons.scheduler.cleanup.schedule: hour field: '25' is outside 0-23",
    ),
    "scheduler cron with seconds": (
        manifest(addons={"scheduler": {"cleanup": {**TASK, "schedule": "0 0 4 * * *"}}}),
        "addons.scheduler.cleanup.schedule: must be 5 space-separated cron fields",
    ),
    "scheduler task without schedule": (
        manifest(addons={"scheduler": {"cleanup": {"command": "/app/code/cron.sh"}}}),
        "addons.scheduler.cleanup.schedule: is required",
    ),
    "scheduler task with an empty command": (
        manifest(addons={"scheduler": {"cleanup": {**TASK, "command": ""}}}),
        "addons.scheduler.cleanup.command: must not be empty",
    ),
    "scheduler task with an unknown key": (
        manifest(addons={"scheduler": {"cleanup": {**TASK, "timeout": 60}}}),
        "addons.scheduler.cleanup.timeout: is not a known field here",
    ),
    "memoryLimit zero": (manifest(memoryLimit=0), "memoryLimit: must be a positive size"),
    "memoryLimit negative": (manifest(memoryLimit=-1), "memoryLimit: must be a positive size"),
    "memoryLimit negative string": (manifest(memoryLimit="-512mb"), "memoryLimit: must be a positive size"),
    "memoryLimit under a byte": (manifest(memoryLimit="0.0001kb"), "memoryLimit: must be a positive size"),
    "memoryLimit without b": (
        manifest(memoryLimit="512m"),
        "memoryLimit: must be a number of bytes or a size such as 512mb or 1.5gb (kb, mb, gb, tb)",
    ),
    "memoryLimit binary unit": (manifest(memoryLimit="512MiB"), "memoryLimit: must be a number of bytes"),
    "memoryLimit fraction of a byte": (manifest(memoryLimit=1.5), "memoryLimit: must be a number of bytes"),
    "capability unknown": (
        manifest(capabilities=["sys_admin"]),
        "capabilities[0]: must be one of 'net_admin', 'mlock', 'ping' or 'vaapi'",
    ),
    "capability repeated": (
        manifest(capabilities=["ping", "ping"]),
        "capabilities: must not list 'ping' twice",
    ),
    "runtimeDir outside the roots": (
        manifest(runtimeDirs=["/app/data/cache"]),
        "runtimeDirs[0]: must be /root, /app/code or /home/cloudron, or a directory under one of them",
    ),
    "runtimeDir sharing only a prefix": (
        manifest(runtimeDirs=["/app/code/cache", "/app/codebase"]),
        "runtimeDirs[1]: must be /root, /app/code or /home/cloudron, or a directory under one of them",
    ),
    "runtimeDir climbing out": (
        manifest(runtimeDirs=["/app/code/../data"]),
        "runtimeDirs[0]: must be an absolute path without '.' or '..' parts",
    ),
    "runtimeDir relative": (
        manifest(runtimeDirs=["app/code/cache"]),
        "runtimeDirs[0]: must be an absolute path without '.' or '..' parts",
    ),
    "persistentDir relative": (
        manifest(persistentDirs=["var/lib/db"]),
        "persistentDirs[0]: must be an absolute path without '.' or '..' parts",
    ),
    "backupCommand empty": (manifest(backupCommand=""), "backupCommand: must not be empty"),
    "logPaths repeated": (
        manifest(logPaths=["/run/app.log", "/run/app.log"]),
        "logPaths: must not list '/run/app.log' twice",
    ),
    "optionalSso not a boolean": (manifest(optionalSso="true"), "optionalSso: must be true or false"),
    "dockerImage with a URL": (
        manifest(dockerImage="https://registry.example.com/app:1.0.0"),
        "dockerImage: must be an image reference, not a URL (it contains '//')",
    ),
}


@pytest.mark.parametrize(("data", "error"), REJECTED.values(), ids=REJECTED.keys())
def test_rejected(data: dict[str, Any], error: str) -> None:
    result = validate_manifest(data)
    assert not result.valid
    assert result.manifest is None
    assert [str(found) for found in result.errors if str(found).startswith(error)], messages(result)


ACCEPTED = {
    "the minimal manifest": manifest(healthCheckPath="/", addons={"localstorage": {}, "postgresql": {}}),
    "manifestVersion 1": manifest(manifestVersion=1),
    "version with v, prerelease and build": manifest(version="v1.2.3-beta.1+build.5"),
    "httpPort written as a float": manifest(httpPort=8000.0),
    "proxyAuth spelled as Cloudron does": manifest(addons={"proxyAuth": {"path": "/admin"}}),
    "free-form addon options": manifest(addons={"sendmail": {"optional": True, "futureOption": [1, None]}}),
    "oidc with more options": manifest(
        addons={"oidc": {"loginRedirectUri": "/cb", "logoutRedirectUri": "/"}}
    ),
    "sqlite paths": manifest(addons={"localstorage": {"sqlite": {"paths": ["/app/data/db.sqlite"]}}}),
    "named schedules": manifest(
        addons={
            "scheduler": {name: {**TASK, "schedule": f"@{name}"} for name in ("service", "reboot", "hourly")}
        }
    ),
    "ports with every option": manifest(
        tcpPorts={
            "SSH_PORT": {**PORT, "defaultValue": 2222, "containerPort": 22, "readOnly": True},
            "RTP_PORTS": {**PORT, "portCount": 100, "enabledByDefault": False},
        },
        udpPorts={"TURN_PORT": {**PORT, "defaultValue": 3478, "enabledByDefault": True}},
        httpPorts={
            "api_domain": {**PORT, "containerPort": 9000, "defaultValue": "api", "aliasableDomain": True}
        },
    ),
    "memoryLimit in bytes": manifest(memoryLimit=536870912),
    "memoryLimit as a size": manifest(memoryLimit="1.5 GB"),
    "every capability": manifest(capabilities=["net_admin", "mlock", "ping", "vaapi"]),
    "runtimeDirs at and under the roots": manifest(
        runtimeDirs=["/root", "/app/code/cache/", "/home/cloudron/x"]
    ),
    "newer runtime fields": manifest(
        persistentDirs=["/var/lib/clickhouse"],
        backupCommand="/app/code/backup.sh",
        restoreCommand="/app/code/r.sh",
    ),
    "dockerImage with a registry and digest": manifest(dockerImage="ghcr.io/org/app@sha256:" + "a" * 64),
    "complete store metadata": manifest(
        id="io.example.wiki",
        title="Wiki",
        author="Jane Doe <jane@example.com>",
        tagline="A wiki for teams",
        description="file://DESCRIPTION.md",
        changelog="file://CHANGELOG.md",
        website="https://example.com",
        contactEmail="support@example.com",
        documentationUrl="https://docs.example.com/wiki",
        icon="file://logo.png",
        tags=["wiki", "notes"],
        mediaLinks=["https://example.com/screenshot.png"],
        upstreamVersion="2.5.300",
        configurePath="/admin",
        postInstallMessage="Log in as admin.",
        checklist={"change-password": {"message": "Change the admin password", "sso": False}},
        minBoxVersion="7.1.0",
        iconUrl="https://example.com/icon.png",
        packagerName="Jane Doe",
        packagerUrl="https://example.com/jane",
    ),
}


@pytest.mark.parametrize("data", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_accepted_without_warnings(data: dict[str, Any]) -> None:
    assert messages(validate_manifest(data)) == ([], [])


WARNED = {
    "tagline of one character": (manifest(tagline="x"), "tagline: must be at least 5 characters long"),
    "title not a string": (manifest(title=["Wiki"]), "title: must be a string"),
    "website not a URL": (
        manifest(website="example"),
        "website: must be an http(s) URL with a public host name",
    ),
    "contactEmail not an email": (manifest(contactEmail="support"), "contactEmail: must be an email address"),
    "id in upper case": (
        manifest(id="IO.Example.Wiki"),
        "id: must be a reverse domain name such as io.example.app",
    ),
    "tags as a string": (manifest(tags="wiki"), "tags: must be a list"),
    "mediaLinks of objects": (
        manifest(mediaLinks=[{"url": "https://x.io/a.png"}]),
        "mediaLinks[0]: must be a",
    ),
    "minBoxVersion not semver": (manifest(minBoxVersion="7"), "minBoxVersion: must be a semantic version"),
    "checklist item with an unknown key": (
        manifest(checklist={"setup": {"message": "Set up", "severity": "high"}}),
        "checklist.setup.severity: is not a known field here",
    ),
    "packagerUrl not a URL": (manifest(packagerUrl="github"), "packagerUrl: must be an http(s) URL"),
    "unknown field": (
        manifest(developmentMode=True),
        "developmentMode: is not a manifest field; kept, but unused",
    ),
    "field named in snake case": (
        manifest(health_check_path="/"),
        "health_check_path: is not a manifest field",
    ),
    "memoryLimit below Cloudron's minimum": (
        manifest(memoryLimit=2048),
        "memoryLimit: 2048 bytes is below Cloudron's 256 MiB minimum, which applies instead",
    ),
}


@pytest.mark.parametrize(("data", "warning"), WARNED.values(), ids=WARNED.keys())
def test_accepted_with_a_warning(data: dict[str, Any], warning: str) -> None:
    errors, warnings = messages(validate_manifest(data))
    assert errors == []
    assert len(warnings) == 1
    assert warnings[0].startswith(warning)


def test_broken_metadata_is_left_out_of_the_parsed_manifest() -> None:
    result = validate_manifest(manifest(tagline="x", title="Wiki"))
    assert result.manifest is not None
    assert result.manifest.tagline is None
    assert result.manifest.title == "Wiki"
    assert result.warnings[0].code == "store_metadata"


def test_unknown_fields_are_kept_in_the_parsed_manifest() -> None:
    result = validate_manifest(manifest(developmentMode=True))
    assert result.manifest is not None
    assert result.manifest.model_extra == {"developmentMode": True}
    assert result.warnings[0].code == "unknown_field"


def test_every_error_is_reported_not_only_the_first() -> None:
    result = validate_manifest(
        manifest(version="1", httpPort=REMOVE, capabilities=["sys_admin"], tagline="x")
    )
    assert [error.path for error in result.errors] == ["version", "httpPort", "capabilities[0]"]
    assert [warning.path for warning in result.warnings] == ["tagline"]


def test_a_file_reports_json_leniencies_as_warnings() -> None:
    text = (
        '{\n  // notes\n  "manifestVersion": 2, "version": "1.0.0",\n  "httpPort": 3000, "httpPort": 8000,\n}'
    )
    result = parse_manifest(text)
    assert result.manifest is not None
    assert result.manifest.http_port == 8000
    assert [(warning.code, str(warning)) for warning in result.warnings] == [
        (
            "json_comment",
            "line 2, column 3: comments are not JSON (1 in this file); Cloudron's own tools cannot "
            "read this file",
        ),
        (
            "json_trailing_comma",
            "line 4, column 37: trailing commas are not JSON (1 in this file); Cloudron's own "
            "tools cannot read this file",
        ),
        ("duplicate_key", "httpPort: line 4, column 21: duplicate key, the last value is used"),
    ]


def test_a_file_that_is_not_json_is_invalid_with_line_and_column() -> None:
    result = parse_manifest('{\n  "manifestVersion": 2,\n  "httpPort": {{ port }}\n}')
    assert messages(result) == (
        [
            "not valid JSON: line 3, column 16: expected a property name in double quotes, found '{' "
            "(this looks like an unrendered template placeholder)"
        ],
        [],
    )


def test_a_file_holding_another_json_value_is_invalid() -> None:
    assert messages(parse_manifest("[]")) == (["must be a JSON object"], [])
