"""The Addon's app count is written on its own: a body the watch has not brought up to date must not
put back the conditions that the Addon's check has just written."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
import pytest

from cloudron_operator.handlers import addons
from cloudron_operator.k8s import api as k8s
from tests.runtime_cases import memo_of, runtime_for_tests

pytestmark = pytest.mark.unit


class OneRound:
    """kopf's DaemonStopped, stopping after the daemon's first round."""

    def __init__(self) -> None:
        self.rounds = 0

    def __bool__(self) -> bool:
        return self.rounds > 0

    async def wait(self, seconds: float) -> None:
        self.rounds += 1


def test_the_app_count_is_written_alone_under_its_own_field_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def fake_apply(api: Any, obj: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        written.append((obj, kwargs))
        return {**obj, "metadata": {**obj["metadata"], "resourceVersion": "7"}}

    monkeypatch.setattr(k8s, "apply", fake_apply)
    runtime = runtime_for_tests()
    runtime.store.apps.record(
        {
            "metadata": {"uid": "u1", "name": "wiki", "namespace": "apps", "resourceVersion": "3"},
            "status": {"addons": {"postgresql": {"ready": True, "addon": "pg"}}},
        }
    )
    stale: dict[str, Any] = {
        "metadata": {"name": "pg", "resourceVersion": "5"},
        "status": {
            "conditions": [{"type": "Ready", "status": "False", "reason": "Unreachable"}],
            "appCount": 0,
        },
    }
    body = kopf.Body(stale)  # type: ignore[arg-type]

    asyncio.run(addons.keep_app_count(OneRound(), body, memo_of(runtime)))  # type: ignore[arg-type]

    assert len(written) == 1
    obj, options = written[0]
    assert obj["status"] == {"appCount": 1}, "the conditions of the stale body are not written back"
    assert options == {"subresource": "status", "field_manager": addons.APP_COUNT_MANAGER}
    assert addons.APP_COUNT_MANAGER != k8s.FIELD_MANAGER, "else the apply would drop the check's fields"
