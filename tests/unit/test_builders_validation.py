"""Specs the manifest does not allow are refused with what to change."""

from __future__ import annotations

import pytest

from cloudron_operator.builders import InvalidSpec, check_spec, effective_memory_limit
from cloudron_operator.models import CloudronAppSpec
from tests.builder_cases import BASE_MANIFEST, PORT, manifest_of, spec

pytestmark = pytest.mark.unit

PORTS_MANIFEST = {
    **BASE_MANIFEST,
    "tcpPorts": {
        "SSH_PORT": {**PORT, "defaultValue": 2222},
        "FIXED_PORT": {**PORT, "defaultValue": 3478, "readOnly": True},
    },
    "udpPorts": {"VOICE_PORT": {**PORT, "defaultValue": 9987}},
}

RANGE_MANIFEST = {
    **BASE_MANIFEST,
    "tcpPorts": {
        "RTP_PORT": {**PORT, "defaultValue": 40000, "portCount": 100},
        "SIP_PORT": {**PORT, "defaultValue": 5060},
    },
}


def problems(app_spec: CloudronAppSpec) -> tuple[str, ...]:
    with pytest.raises(InvalidSpec) as raised:
        check_spec(app_spec, manifest_of(app_spec))
    return raised.value.problems


@pytest.mark.parametrize(
    ("app_spec", "message"),
    [
        (
            spec(PORTS_MANIFEST, ports={"SHH_PORT": 22}),
            "spec.ports.SHH_PORT: the app's manifest declares no TCP or UDP port of that name "
            "(its ports: SSH_PORT, FIXED_PORT, VOICE_PORT); remove SHH_PORT from spec.ports",
        ),
        (
            spec(ports={"SSH_PORT": 22}),
            "spec.ports.SSH_PORT: the app's manifest declares no TCP or UDP port of that name "
            "(its ports: none); remove SSH_PORT from spec.ports",
        ),
        (
            spec(PORTS_MANIFEST, ports={"FIXED_PORT": 3479}),
            "spec.ports.FIXED_PORT: the app's manifest fixes this port at 3478; "
            "set it to 3478, or to null to disable the port",
        ),
        (
            spec(PORTS_MANIFEST, ports={"SSH_PORT": 3478}),
            "spec.ports: 2 ports would use 3478/TCP; give each a port of its own",
        ),
        (
            spec(RANGE_MANIFEST, ports={"RTP_PORT": 65500}),
            "spec.ports.RTP_PORT: its range of 100 ports from 65500 goes past 65535; "
            "choose a first port of at most 65436",
        ),
        (
            spec(RANGE_MANIFEST, ports={"SIP_PORT": 40050}),
            "spec.ports: 2 ports would use 40050/TCP; give each a port of its own",
        ),
        (
            spec(sso=False),
            "spec.sso: the app's manifest does not make single sign-on optional "
            "(it has no optionalSso: true); remove spec.sso or set it to true",
        ),
        (
            spec(aliases=["alias.example.com"]),
            "spec.aliases: the app's manifest does not accept alias domains (it sets neither multiDomain nor "
            "aliasableDomain); remove spec.aliases, or move those hosts to spec.redirects",
        ),
        (
            spec(PORTS_MANIFEST, env={"SSH_PORT": "22"}),
            "spec.env.SSH_PORT: the operator sets this variable for the app; remove it from spec.env",
        ),
        (
            spec(
                {**BASE_MANIFEST, "manifestVersion": 1}, env={"APP_ORIGIN": "https://elsewhere.example.com"}
            ),
            "spec.env.APP_ORIGIN: the operator sets this variable for the app; remove it from spec.env",
        ),
        (
            spec({**BASE_MANIFEST, "memoryLimit": 2**30}, memoryLimit="512Mi"),
            "spec.memoryLimit: 512Mi is below the 1Gi the app's manifest needs; "
            "set it to at least 1Gi, or remove it to use 1Gi",
        ),
    ],
)
def test_each_rule_says_what_to_change(app_spec: CloudronAppSpec, message: str) -> None:
    assert problems(app_spec) == (message,)


def test_every_problem_is_reported_at_once() -> None:
    app_spec = spec(ports={"SSH_PORT": 22}, sso=False, memoryLimit="128Mi")
    found = problems(app_spec)
    assert [problem.split(":")[0] for problem in found] == [
        "spec.ports.SSH_PORT",
        "spec.sso",
        "spec.memoryLimit",
    ]
    with pytest.raises(InvalidSpec) as raised:
        check_spec(app_spec, manifest_of(app_spec))
    assert str(raised.value) == "; ".join(found)


@pytest.mark.parametrize(
    "app_spec",
    [
        spec(PORTS_MANIFEST, ports={"SSH_PORT": 22, "FIXED_PORT": 3478, "VOICE_PORT": None}),
        spec(PORTS_MANIFEST, ports={"FIXED_PORT": None, "SSH_PORT": 9987}),  # same number, other protocol
        spec({**BASE_MANIFEST, "optionalSso": True}, sso=False),
        spec({**BASE_MANIFEST, "multiDomain": True}, aliases=["alias.example.com"]),
        spec({**BASE_MANIFEST, "aliasableDomain": True}, aliases=["*.example.org"]),
        spec(env={"APP_ORIGIN": "kept for manifestVersion 2 apps"}),
        spec({**BASE_MANIFEST, "memoryLimit": 2**30}, memoryLimit="1Gi"),
    ],
)
def test_what_the_manifest_allows_passes(app_spec: CloudronAppSpec) -> None:
    check_spec(app_spec, manifest_of(app_spec))


def test_the_memory_limit_is_the_manifests_unless_the_spec_raises_it() -> None:
    manifest_spec = spec({**BASE_MANIFEST, "memoryLimit": 2**30})
    assert effective_memory_limit(manifest_spec, manifest_of(manifest_spec)) == 2**30
    raised = spec({**BASE_MANIFEST, "memoryLimit": 2**30}, memoryLimit="1.5Gi")
    assert effective_memory_limit(raised, manifest_of(raised)) == 3 * 2**29
    small = spec(memoryLimit=300 * 2**20)  # above the 256 MiB floor of a manifest without a limit
    assert effective_memory_limit(small, manifest_of(small)) == 300 * 2**20
    with pytest.raises(InvalidSpec, match="below the 256Mi"):
        below_floor = spec(memoryLimit="200Mi")
        effective_memory_limit(below_floor, manifest_of(below_floor))
