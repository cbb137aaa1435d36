"""The Argo CD health check for CloudronApp that the chart ships
(helm/cloudron-operator/files/argocd-cm-patch.yaml), run in Argo CD's Lua runtime (gopher-lua as
Argo CD sets it up: hack/tools/argocd-health) against apps in every state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cloudron_operator.models.conditions import INVALID_REASONS, STALLED_REASONS, Reason
from tests.harness.processes import run
from tests.harness.tools import tool
from tests.health_cases import CASES, STUCK, HealthCase, health_script


def evaluate(objects: list[dict[str, Any]], workdir: Path) -> list[dict[str, str]]:
    script = workdir / "health.lua"
    script.write_text(health_script())
    results: list[dict[str, str]] = json.loads(
        run([str(tool("argocd-health")), str(script)], stdin=json.dumps(objects))
    )
    return results


def test_the_stuck_reasons_are_the_operators_own() -> None:
    """Degraded means waiting will not help: the reasons only a change of the spec clears, a failed
    provisioning, and pods the cluster refuses to create; the operator's Stalled reasons."""
    assert set(STUCK) == INVALID_REASONS | {Reason.ADDON_FAILED, Reason.PODS_NOT_CREATED} == STALLED_REASONS
    for reason in STUCK:
        assert f"{reason} = true" in health_script()


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_health(case: HealthCase, tmp_path: Path) -> None:
    (result,) = evaluate([case.app], tmp_path)
    assert result["status"] == case.argocd, f"{case.name}: {result}"
    assert case.argocd_message in result["message"], f"{case.name}: {result}"
