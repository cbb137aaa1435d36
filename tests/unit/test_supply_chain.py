"""The locks and the SBOM agree with pyproject.toml and with each other: what `make deps` installs, what
the image ships and what its SBOM says are the same packages at the same versions, each file hashed."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.paths import REPO

pytestmark = pytest.mark.unit

REQUIREMENTS = REPO / "requirements"
LOCKS = ("operator", "dev", "tools")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def _entries(name: str) -> dict[str, tuple[str, list[str]]]:
    """A lock's pins: canonical name -> (version, its sha256 hashes)."""
    text = re.sub(r"\\\n\s*", " ", (REQUIREMENTS / f"{name}.lock").read_text())
    entries: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        pin = PIN.match(line)
        if pin:
            hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})\b", line)
            entries[canonicalize_name(pin.group(1))] = (pin.group(2), hashes)
    return entries


def _pins(name: str) -> dict[str, str]:
    return {package: version for package, (version, _) in _entries(name).items()}


def _pyproject() -> dict[str, object]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


@pytest.mark.parametrize("lock", LOCKS)
def test_every_locked_package_is_pinned_with_hashes_and_nothing_of_this_machine(lock: str) -> None:
    text = (REQUIREMENTS / f"{lock}.lock").read_text()
    entries = _entries(lock)
    assert entries, f"{lock}.lock pins nothing"
    assert not [package for package, (_, hashes) in entries.items() if not hashes]
    requirement_lines = [
        line for line in text.splitlines() if line and not line.startswith((" ", "#")) and "==" not in line
    ]
    assert requirement_lines == [], "only exact pins: no index, find-links or unpinned line"
    assert "/opt/" not in text and "/root/" not in text and "/home/" not in text


def _satisfied(requirements: list[str], pins: dict[str, str], lock: str) -> None:
    for text in requirements:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock}.lock lacks {requirement.name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock}.lock pins {name}=={pins[name]}, outside pyproject.toml's {requirement.specifier}"
        )


def test_the_locks_satisfy_pyproject_and_the_dev_lock_runs_what_the_image_ships() -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    operator, dev = _pins("operator"), _pins("dev")
    _satisfied(project["dependencies"], operator, "operator")
    _satisfied([*project["dependencies"], *project["optional-dependencies"]["dev"]], dev, "dev")
    assert {name: dev.get(name) for name in operator} == operator
    tools = (REQUIREMENTS / "tools.in").read_text().splitlines()
    _satisfied([line for line in tools if line and not line.startswith("#")], _pins("tools"), "tools")


def test_the_sbom_lists_exactly_the_operator_lock() -> None:
    """sbom/cloudron-operator.cdx.json is `make sbom` of the operator lock: regenerate it with the lock."""
    sbom = json.loads((REPO / "sbom" / "cloudron-operator.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    root = sbom["metadata"]["component"]
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    assert (root["name"], root["version"]) == (project["name"], project["version"])
    listed = {canonicalize_name(c["name"]): c["version"] for c in sbom["components"]}
    assert listed == _pins("operator"), "the SBOM is older than requirements/operator.lock: run make sbom"
    assert all(c["purl"].startswith("pkg:pypi/") for c in sbom["components"])


def test_the_build_tools_of_the_editable_install_are_locked_too() -> None:
    build = _pyproject()["build-system"]
    assert isinstance(build, dict)
    _satisfied(list(build["requires"]), _pins("dev"), "dev")
