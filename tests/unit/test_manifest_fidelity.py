"""Every manifest field has a stated use; those accepted and not honoured are few, each with its
reason, and docs/manifest.md lists exactly them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cloudron_operator.manifest.fidelity import FIELDS, Handling, field_paths, unhonoured, use_of
from cloudron_operator.manifest.lenient_json import read_json
from cloudron_operator.manifest.model import Addons, HttpPort, Manifest, SocketPort
from cloudron_operator.manifest.validation import parse_manifest
from tests.paths import REPO, corpus_files

pytestmark = pytest.mark.unit

DOCS = REPO / "docs" / "manifest.md"


def _aliases(model: type[Manifest] | type[SocketPort] | type[HttpPort] | type[Addons]) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()}


def test_every_field_the_validator_knows_has_a_stated_use() -> None:
    known = {path.split(".")[0] for path in FIELDS}
    assert _aliases(Manifest) - {"capabilities"} <= known
    assert {f"capabilities.{c}" for c in ("net_admin", "mlock", "ping", "vaapi")} <= set(FIELDS)
    for ports in ("tcpPorts", "udpPorts"):
        assert {f"{ports}.*.{field}" for field in _aliases(SocketPort)} <= set(FIELDS)
    assert {f"httpPorts.*.{field}" for field in _aliases(HttpPort)} <= set(FIELDS)
    assert {f"addons.{addon}" for addon in _aliases(Addons)} <= set(FIELDS)


def test_paths_reach_into_ports_capabilities_addons_and_scheduler_tasks() -> None:
    manifest = {
        "version": "1.0.0",
        "tcpPorts": {"SSH_PORT": {"title": "SSH", "portCount": 2}},
        "capabilities": ["vaapi"],
        "addons": {"scheduler": {"sync": {"schedule": "* * * * *", "command": "x"}}, "redis": {"x": 1}},
    }
    assert list(field_paths(manifest)) == [
        "version",
        "tcpPorts.*.title",
        "tcpPorts.*.portCount",
        "capabilities.vaapi",
        "addons.scheduler",
        "addons.scheduler.*.schedule",
        "addons.scheduler.*.command",
        "addons.redis",
        "addons.redis.x",
    ]
    assert unhonoured(manifest) == {
        "capabilities.vaapi": FIELDS["capabilities.vaapi"].note,
        "addons.redis.x": "an addon option Cloudron does not define: kept, no effect",
    }
    assert use_of("addons.recvmail.x") == (Handling.REFUSED, "an option of addons.recvmail, which is refused")
    assert use_of("addons.oidc.loginRedirectUri") == FIELDS["addons.oidc.loginRedirectUri"]


def _documented() -> dict[str, str]:
    """The table under "Accepted but not honoured" in docs/manifest.md: field -> reason."""
    section = DOCS.read_text().split("## Accepted but not honoured", 1)[1].split("\n## ", 1)[0]
    return {
        match.group(1): match.group(2).strip()
        for match in re.finditer(r"^\| `([^`]+)` \| (.+?) \|$", section, flags=re.MULTILINE)
    }


def test_the_docs_list_exactly_the_fields_that_are_not_honoured_with_the_same_reasons() -> None:
    listed = {path: use.note for path, use in FIELDS.items() if use.handling is Handling.NOT_HONOURED}
    assert _documented() == listed


def test_in_the_corpus_only_listed_fields_and_fields_cloudron_does_not_define_are_not_honoured() -> None:
    seen: dict[str, int] = {}
    for path in corpus_files():
        text = Path(path).read_text(encoding="utf-8")
        if not parse_manifest(text).valid:
            continue
        manifest = read_json(text).value
        assert isinstance(manifest, dict)
        for field, why in unhonoured(manifest).items():
            seen[field] = seen.get(field, 0) + 1
            assert use_of(field) is not None or why.endswith("Cloudron does not define: kept, no effect")
    # The corpus as it is (see `make corpus` for the same over the running operator).
    assert seen == {
        "dockerImage": 10,
        "addons.localstorage.ftp": 3,
        "backupCommand": 2,
        "restoreCommand": 2,
        "addons.sendmail.requiresValidCertificate": 1,
        "addons.postgresql.version": 2,
        "addons.ldap.version": 1,
        "addons.redis.version": 2,
        "addons.redis.optional": 2,
        "addons.sendmail.version": 1,
        "addons.localstorage.volumePath": 1,
        "screenshot": 1,
        "repository": 1,
    }
