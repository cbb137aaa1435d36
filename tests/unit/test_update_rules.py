"""Which version an app may move to (catalog.rules), on versions of a real catalog of the corpus:
each of Cloudron's rules blocks exactly the move it names."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from cloudron_operator.catalog.document import CatalogVersion, parse_catalog
from cloudron_operator.catalog.durations import duration_seconds
from cloudron_operator.catalog.rules import Running, dropped_ports, update_block
from cloudron_operator.models import CloudronAppSpec, VersionState
from cloudron_operator.models.conditions import Reason
from tests.paths import CORPUS

CATALOG = CORPUS.parent / "catalogs" / "OrcVole__laminar-cloudron__CloudronVersions.json"
APP_ID = "io.github.orcvole.laminar"


def laminar() -> tuple[CatalogVersion, ...]:
    return parse_catalog(CATALOG.read_bytes()).apps[APP_ID].versions


def running(version: CatalogVersion) -> Running:
    assert version.manifest is not None
    return Running(APP_ID, version.version, version.manifest)


def spec(**fields: Any) -> CloudronAppSpec:
    return CloudronAppSpec.model_validate(
        {"source": {"catalog": "orcvole", "appId": APP_ID}, "domain": "lmnr.example.com", **fields}
    )


def variant(base: CatalogVersion, version: str, **manifest: Any) -> CatalogVersion:
    """`base` published again as `version`, with manifest fields changed (None removes one)."""
    assert base.manifest is not None
    changed = copy.deepcopy(dict(base.manifest)) | {"version": version}
    for key, value in manifest.items():
        if value is None:
            changed.pop(key, None)
        else:
            changed[key] = value
    return CatalogVersion(version, base.state, base.image, changed)


def test_a_newer_published_version_of_the_same_app_is_allowed_both_ways() -> None:
    newest, *older = laminar()
    for automatic in (True, False):
        assert update_block(running(older[-1]), newest, spec(), automatic=automatic) is None


def test_a_downgrade_is_blocked_also_when_pinned() -> None:
    newest, older = laminar()[0], laminar()[1]
    block = update_block(running(newest), older, spec(), automatic=False)
    assert block is not None and block.reason is Reason.DOWNGRADE
    assert older.version in block.message and "spec.restoreFrom" in block.message


def test_a_revoked_version_is_never_installed() -> None:
    newest, older = laminar()[0], laminar()[-1]
    revoked = CatalogVersion(newest.version, VersionState.REVOKED, newest.image, newest.manifest)
    for automatic in (True, False):
        block = update_block(running(older), revoked, spec(), automatic=automatic)
        assert block is not None and block.reason is Reason.VERSION_REVOKED


def test_another_app_id_never_updates_an_app() -> None:
    newest, older = laminar()[0], laminar()[-1]
    other = variant(newest, "9.0.0", id="org.example.other")
    for automatic in (True, False):
        block = update_block(running(older), other, spec(), automatic=automatic)
        assert block is not None and block.reason is Reason.OTHER_APP_ID


def test_a_major_version_change_waits_for_a_pin() -> None:
    newest = laminar()[0]
    one = variant(newest, "1.4.0")
    two = variant(newest, "2.0.0")
    block = update_block(running(one), two, spec(), automatic=True)
    assert block is not None and block.reason is Reason.MAJOR_VERSION_CHANGE
    assert update_block(running(one), two, spec(), automatic=False) is None, "pinned by the admin"


def test_major_zero_moves_to_one_by_itself() -> None:
    newest = laminar()[0]
    assert newest.version.startswith("0.")
    assert update_block(running(newest), variant(newest, "1.0.0"), spec(), automatic=True) is None


def test_a_dropped_port_that_is_enabled_blocks_an_automatic_update() -> None:
    newest = laminar()[0]
    port = {"SSH_PORT": {"title": "SSH", "description": "git over ssh", "defaultValue": 2222}}
    with_port = variant(newest, "0.9.0", tcpPorts=port)
    without = variant(newest, "0.9.1", tcpPorts=None)
    block = update_block(running(with_port), without, spec(), automatic=True)
    assert block is not None and block.reason is Reason.PORT_DROPPED and "SSH_PORT" in block.message
    assert update_block(running(with_port), without, spec(), automatic=False) is None


def test_a_dropped_port_that_is_disabled_is_no_block() -> None:
    newest = laminar()[0]
    port = {"SSH_PORT": {"title": "SSH", "description": "git over ssh", "defaultValue": 2222}}
    with_port = variant(newest, "0.9.0", tcpPorts=port)
    without = variant(newest, "0.9.1", tcpPorts=None)
    disabled = spec(ports={"SSH_PORT": None})
    assert with_port.manifest is not None and without.manifest is not None
    assert dropped_ports(with_port.manifest, without.manifest, disabled) == ()
    assert update_block(running(with_port), without, disabled, automatic=True) is None


def test_a_testing_version_is_only_installed_when_pinned() -> None:
    newest, older = laminar()[0], laminar()[-1]
    testing = CatalogVersion(newest.version, VersionState.TESTING, newest.image, newest.manifest)
    block = update_block(running(older), testing, spec(), automatic=True)
    assert block is not None and block.reason is Reason.VERSION_INVALID
    assert update_block(running(older), testing, spec(), automatic=False) is None


@pytest.mark.parametrize("state", [VersionState.INVALID])
def test_an_invalid_version_is_never_installed(state: VersionState) -> None:
    older = laminar()[-1]
    invalid = CatalogVersion("0.9.9", state, None, None, "its manifest has no dockerImage")
    block = update_block(running(older), invalid, spec(), automatic=False)
    assert block is not None and block.reason is Reason.VERSION_INVALID and "dockerImage" in block.message


def test_the_corpus_catalog_is_what_these_tests_assume() -> None:
    document = json.loads(CATALOG.read_text())
    assert len(document["versions"]) == len(laminar()) >= 3


@pytest.mark.parametrize(("text", "seconds"), [("45s", 45), ("10m", 600), ("1h30m", 5400), ("2h0m5s", 7205)])
def test_durations_are_whole_hours_minutes_and_seconds(text: str, seconds: int) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "1.5h", "10 m", "5x", "m", "30s1h"])
def test_other_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        duration_seconds(text)
