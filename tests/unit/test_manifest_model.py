"""The parsed manifest: normalised values and the helpers the builders use."""

from __future__ import annotations

from typing import Any

import pytest

from cloudron_operator.manifest import DEFAULT_MEMORY_LIMIT, DeclaredPort, Manifest, SocketPort
from cloudron_operator.manifest.validation import validate_manifest

pytestmark = pytest.mark.unit

BASE: dict[str, Any] = {"manifestVersion": 2, "version": "1.0.0", "httpPort": 8000}
PORT = {"title": "SSH", "description": "Git over SSH"}


def parsed(**changes: Any) -> Manifest:
    result = validate_manifest({**BASE, **changes})
    assert result.manifest is not None, result.errors
    return result.manifest


@pytest.mark.parametrize(
    ("memory_limit", "size"),
    [
        (536870912, 536870912),
        ("512mb", 512 * 2**20),
        ("512MB", 512 * 2**20),
        ("1.5 GB", 3 * 2**29),
        ("+2gb", 2 * 2**30),
        ("1tb", 2**40),
        ("300000kb", 300000 * 1024),
        ("1.0000001kb", 1024),  # whole bytes, rounded down
        (4294967296.0, 2**32),
    ],
)
def test_memory_limit_is_normalised_to_bytes(memory_limit: object, size: int) -> None:
    assert parsed(memoryLimit=memory_limit).memory_limit == size


@pytest.mark.parametrize(
    ("changes", "limit"),
    [
        ({}, DEFAULT_MEMORY_LIMIT),
        ({"memoryLimit": "1gb"}, 2**30),
        ({"memoryLimit": 2048}, DEFAULT_MEMORY_LIMIT),
    ],
)
def test_memory_limit_bytes_defaults_to_and_never_goes_below_256_mib(
    changes: dict[str, Any], limit: int
) -> None:
    assert DEFAULT_MEMORY_LIMIT == 256 * 1024 * 1024
    assert parsed(**changes).memory_limit_bytes == limit


@pytest.mark.parametrize(("manifest_version", "prefix"), [(1, ""), (2, "CLOUDRON_")])
def test_env_prefix_is_dropped_for_manifest_version_1(manifest_version: int, prefix: str) -> None:
    assert parsed(manifestVersion=manifest_version).env_prefix == prefix


def test_declared_ports_list_tcp_then_udp_ports_with_their_defaults() -> None:
    manifest = parsed(
        tcpPorts={"SSH_PORT": {**PORT, "containerPort": 22}, "RTP_PORTS": {**PORT, "portCount": 10}},
        udpPorts={"TURN_PORT": {**PORT, "enabledByDefault": False}},
    )
    assert manifest.declared_ports == (
        DeclaredPort(
            "SSH_PORT", "TCP", SocketPort(title="SSH", description="Git over SSH", containerPort=22)
        ),
        DeclaredPort("RTP_PORTS", "TCP", SocketPort(title="SSH", description="Git over SSH", portCount=10)),
        DeclaredPort(
            "TURN_PORT", "UDP", SocketPort(title="SSH", description="Git over SSH", enabledByDefault=False)
        ),
    )
    ssh = manifest.declared_ports[0].port
    assert (ssh.read_only, ssh.enabled_by_default, ssh.default_value) == (False, True, None)


def test_http_ports_keep_their_container_port_and_subdomain() -> None:
    api = parsed(httpPorts={"API_DOMAIN": {**PORT, "containerPort": 9000, "defaultValue": "api"}}).http_ports
    assert (api["API_DOMAIN"].container_port, api["API_DOMAIN"].default_value) == (9000, "api")


def test_addon_names_are_the_manifest_spellings_of_the_addons_asked_for() -> None:
    addons = parsed(addons={"proxyAuth": {}, "localstorage": {}, "postgresql": {"locale": "C"}}).addons
    assert addons.names == ("localstorage", "postgresql", "proxyAuth")
    assert addons.postgresql == {"locale": "C"}
    assert parsed().addons.names == ()


def test_typed_addon_options_keep_their_other_options() -> None:
    addons = parsed(
        addons={
            "oidc": {"loginRedirectUri": "/callback", "tokenSignatureAlgorithm": "EdDSA"},
            "localstorage": {"ftp": {"uid": 1000}, "sqlite": {"paths": ["/app/data/db.sqlite"]}},
            "scheduler": {"cleanup": {"schedule": "@daily", "command": "/app/code/cleanup.sh"}},
        }
    ).addons
    assert addons.oidc is not None and addons.localstorage is not None and addons.scheduler is not None
    assert addons.oidc.login_redirect_uri == "/callback"
    assert addons.oidc.model_extra == {"tokenSignatureAlgorithm": "EdDSA"}
    assert addons.localstorage.model_extra == {"ftp": {"uid": 1000}}
    assert addons.localstorage.sqlite is not None
    assert addons.localstorage.sqlite.paths == ["/app/data/db.sqlite"]
    assert addons.scheduler["cleanup"].schedule == "@daily"


def test_runtime_fields_have_their_documented_defaults() -> None:
    manifest = parsed()
    assert (manifest.health_check_path, manifest.docker_image, manifest.memory_limit) == (None, None, None)
    assert (manifest.tcp_ports, manifest.udp_ports, manifest.http_ports) == ({}, {}, {})
    assert (manifest.capabilities, manifest.runtime_dirs, manifest.persistent_dirs) == ([], [], [])
    assert (manifest.optional_sso, manifest.multi_domain, manifest.aliasable_domain) == (False, False, False)


def test_a_parsed_manifest_dumps_to_an_equivalent_manifest() -> None:
    original = parsed(
        memoryLimit="1.5gb",
        addons={"oidc": {"loginRedirectUri": "/cb", "logoutRedirectUri": "/"}, "proxyAuth": {}},
        tcpPorts={"SSH_PORT": {**PORT, "containerPort": 22}},
        developmentMode=True,
    )
    dumped = original.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    assert dumped["memoryLimit"] == 3 * 2**29
    assert dumped["addons"]["proxyAuth"] == {}
    assert parsed(**dumped) == original
