"""The Argo CD health check for CloudronApp in docs/gitops.md, run in Argo CD's Lua runtime
(gopher-lua as Argo CD sets it up: hack/tools/argocd-health) against apps in every state, with
conditions made by the operator's own status code."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudron_operator.children import certificate_condition, workload_condition
from cloudron_operator.status import FALSE, TRUE, UNKNOWN, ConditionUpdate, merge_conditions, ready_condition
from tests.harness.processes import run
from tests.harness.tools import tool
from tests.paths import REPO

GITOPS = REPO / "docs" / "gitops.md"
KEY = "resource.customizations.health.cloudron.io_CloudronApp"
STUCK = (
    "InvalidSpec",
    "InvalidManifest",
    "ApplyFailed",
    "KindNotServed",
    "AddonFailed",
    "UnsupportedAddon",
    "AddonRefused",
    "DeprovisionFailed",
    "NameConflict",
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def health_script() -> str:
    """The script exactly as the docs give it: the argocd-cm ConfigMap's value."""
    for block in re.findall(r"```yaml\n(.*?)```", GITOPS.read_text(), re.DOTALL):
        if KEY in block:
            script: str = yaml.safe_load(block)["data"][KEY]
            return script
    raise AssertionError(f"docs/gitops.md has no yaml block with {KEY}")


def app(generation: int = 1, running: bool = True, status: dict[str, Any] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "cloudron.io/v1alpha1",
        "kind": "CloudronApp",
        "metadata": {"name": "wiki", "namespace": "team-a", "generation": generation},
        "spec": {"image": "registry.example.com/wiki:1", "domain": "wiki.example.com", "running": running},
    }
    if status is not None:
        obj["status"] = status
    return obj


def reported(parts: list[ConditionUpdate], observed: int) -> dict[str, Any]:
    """A status as the operator writes it: Ready first, from the parts, at generation `observed`."""
    ready = ready_condition(parts, "Running", "https://wiki.example.com is served")
    return {
        "observedGeneration": observed,
        "conditions": merge_conditions([], [ready, *parts], observed, NOW),
    }


def invalid(reason: str, observed: int = 1) -> dict[str, Any]:
    ready = ConditionUpdate("Ready", FALSE, reason, f"{reason}: what to fix")
    return {"observedGeneration": observed, "conditions": merge_conditions([], [ready], observed, NOW)}


def evaluate(objects: list[dict[str, Any]], workdir: Path) -> list[dict[str, str]]:
    script = workdir / "health.lua"
    script.write_text(health_script())
    results: list[dict[str, str]] = json.loads(
        run([str(tool("argocd-health")), str(script)], stdin=json.dumps(objects))
    )
    return results


DEPLOYMENT_READY = {
    "metadata": {"generation": 1},
    "spec": {"replicas": 1},
    "status": {"observedGeneration": 1, "updatedReplicas": 1, "readyReplicas": 1},
}
CERT_ISSUED = {"status": {"conditions": [{"type": "Ready", "status": TRUE}]}}

CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("no status yet", app(), "Progressing", "waiting for the operator"),
    (
        "a spec change not processed yet",
        app(generation=2, status=reported([workload_condition(DEPLOYMENT_READY, True)], observed=1)),
        "Progressing",
        "generation 2",
    ),
    (
        "served",
        app(
            status=reported(
                [workload_condition(DEPLOYMENT_READY, True), certificate_condition(CERT_ISSUED)], observed=1
            )
        ),
        "Healthy",
        "https://wiki.example.com is served",
    ),
    (
        "creating the workload",
        app(status=reported([workload_condition(None, True), certificate_condition(None)], observed=1)),
        "Progressing",
        "Creating",
    ),
    (
        "waiting for the certificate",
        app(
            status=reported(
                [workload_condition(DEPLOYMENT_READY, True), certificate_condition({"status": {}})],
                observed=1,
            )
        ),
        "Progressing",
        "Issuing",
    ),
    (
        "addons pending",
        app(status=reported([ConditionUpdate("AddonsReady", UNKNOWN, "Pending", "not checked yet")], 1)),
        "Progressing",
        "Pending",
    ),
    (
        "stopped",
        app(running=False, status=reported([workload_condition(None, False)], observed=1)),
        "Suspended",
        "spec.running is false",
    ),
    ("stopped and invalid", app(running=False, status=invalid("InvalidSpec")), "Degraded", "InvalidSpec"),
    ("conditions without Ready", app(status={"observedGeneration": 1, "conditions": []}), "Progressing", ""),
    *[
        (f"stuck: {reason}", app(status=invalid(reason)), "Degraded", f"{reason}: {reason}: what to fix")
        for reason in STUCK
    ],
    (
        "stuck, but on an older generation",
        app(generation=3, status=invalid("InvalidSpec", observed=2)),
        "Progressing",
        "generation 3",
    ),
]


def test_the_docs_give_a_script_for_the_configmap_key() -> None:
    assert "return hs" in health_script()


@pytest.mark.parametrize(("name", "obj", "status", "message"), CASES, ids=[c[0] for c in CASES])
def test_health(name: str, obj: dict[str, Any], status: str, message: str, tmp_path: Path) -> None:
    (result,) = evaluate([obj], tmp_path)
    assert result["status"] == status, f"{name}: {result}"
    assert message in result["message"], f"{name}: {result}"
