"""What Flux reads from a CloudronApp: its kstatus library (github.com/fluxcd/cli-utils, built as
hack/tools/kstatus-check) on apps in every state, against docs/gitops.md's list for Flux."""

from __future__ import annotations

import json

import pytest

from tests.harness.processes import run
from tests.harness.tools import tool
from tests.health_cases import CASES, HealthCase


def kstatus(*objects: dict[str, object]) -> list[dict[str, str]]:
    results: list[dict[str, str]] = json.loads(run([str(tool("kstatus-check"))], stdin=json.dumps(objects)))
    return results


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_kstatus_reads_the_apps_status_as_the_docs_say(case: HealthCase) -> None:
    (result,) = kstatus(case.app)
    assert result["status"] == case.kstatus, f"{case.name}: {result}"


def test_kstatus_passes_on_the_ready_conditions_message_while_in_progress() -> None:
    stuck = next(case for case in CASES if case.name == "stuck: InvalidSpec")
    (result,) = kstatus(stuck.app)
    assert result["message"] == "InvalidSpec: what to fix"
