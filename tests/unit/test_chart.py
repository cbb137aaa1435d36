"""The chart's files on their own: CRDs in sync with crds/, values and schema, the Dockerfile's basics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from kopf._cogs.structs import references

from cloudron_operator import crdgen
from tests.paths import REPO

CHART = REPO / "helm" / "cloudron-operator"
CRD_DIR = REPO / "crds"


def test_the_charts_crds_are_the_generated_ones() -> None:
    """`make crds` writes both copies; a hand edit or a forgotten regeneration fails here."""
    stale = crdgen.stale_files(CHART / "crds")
    assert not stale, f"stale chart CRDs {[p.name for p in stale]}: run `make crds` and commit the result"
    for source in sorted(CRD_DIR.glob("*.yaml")):
        copy = CHART / "crds" / source.name
        assert copy.read_bytes() == source.read_bytes(), f"{copy} differs from {source}"


def test_the_generator_writes_the_chart_copy_by_default() -> None:
    assert Path("helm/cloudron-operator/crds") in crdgen.DEFAULT_OUTPUT_DIRS
    assert Path("crds") in crdgen.DEFAULT_OUTPUT_DIRS


def test_the_peering_crds_are_the_ones_kopf_looks_for() -> None:
    crds = {
        doc["spec"]["names"]["plural"]: doc
        for doc in yaml.safe_load_all((CHART / "crds" / "kopf-peering.yaml").read_text())
    }
    for selector, scope in (
        (references.CLUSTER_PEERINGS_K, "Cluster"),
        (references.NAMESPACED_PEERINGS_K, "Namespaced"),
    ):
        crd = crds[str(selector.any_name)]
        assert crd["spec"]["group"] == selector.group
        assert crd["spec"]["scope"] == scope
        assert [v["name"] for v in crd["spec"]["versions"]] == [selector.version]


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return schema


def test_every_value_is_in_the_schema_and_documented() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = _schema()
    assert set(values) == set(schema["properties"]), "values.yaml and values.schema.json name the same keys"
    assert schema["additionalProperties"] is False, "a misspelt value is an error, not ignored"
    lines = (CHART / "values.yaml").read_text().splitlines()
    for key in values:
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{key}:"))
        assert lines[index - 1].startswith("#"), f"values.yaml: {key} has no comment above it"


def _dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), split into build stages."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    stages: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_the_image_builds_a_wheel_and_installs_it_in_a_slim_final_stage() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.MULTILINE)
    build, final = _dockerfile_stages()
    assert any("pip wheel" in line for line in build)
    installs = [line for line in final if line.startswith("RUN") and "pip install" in line]
    assert installs and all("--no-index" in line for line in installs), (
        "the final stage installs our wheels only"
    )
    for line in final:
        assert not re.search(r"\b(gcc|build-essential|make)\b", line), f"build tools in the image: {line}"
    # Debian packages: only the database clients the backup Jobs run, without recommends or lists.
    (apt,) = [line for line in final if "apt-get install" in line]
    packages = set(apt.split("apt-get install", 1)[1].split("&&", 1)[0].split()) - {
        "-y",
        "--no-install-recommends",
    }
    assert packages == {"postgresql-client", "mariadb-client"}
    assert "--no-install-recommends" in apt and "rm -rf /var/lib/apt/lists/*" in apt


def test_the_image_runs_the_operator_as_a_numeric_non_root_user() -> None:
    final = _dockerfile_stages()[-1]
    users = [line.split(None, 1)[1] for line in final if line.upper().startswith("USER ")]
    assert users, "the final stage sets USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0, "numeric, so that runAsNonRoot can verify it"
    assert not gid or (gid.isdigit() and int(gid) > 0)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == int(uid)
    entrypoint = next(line for line in final if line.upper().startswith("ENTRYPOINT "))
    assert json.loads(entrypoint.split(None, 1)[1]) == ["python", "-m", "cloudron_operator"]


def test_the_build_context_keeps_what_the_dockerfile_copies() -> None:
    """.dockerignore excludes everything but the files the build stage COPYs."""
    rules = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*"
    kept = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    copied: set[str] = set()
    for stage in _dockerfile_stages():
        for line in stage:
            if line.upper().startswith("COPY ") and "--from" not in line:
                copied.update(part.rstrip("/") for part in line.split()[1:-1] if not part.startswith("--"))
    assert (
        copied
        == kept
        == {
            "requirements/operator.lock",
            "pyproject.toml",
            "README.md",
            "operator",
            "sbom/cloudron-operator.cdx.json",
        }
    )


def test_the_image_installs_the_locked_dependencies_checked_against_their_hashes() -> None:
    build, _ = _dockerfile_stages()
    wheels = [line for line in build if line.startswith("RUN") and "pip wheel" in line]
    locked = [line for line in wheels if "-r requirements/operator.lock" in line]
    assert locked and all("--require-hashes" in line for line in locked)
    assert all("--no-deps" in line for line in wheels), "nothing beyond the lock is resolved"
