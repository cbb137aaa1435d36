"""Every problem an app's status reports comes with a Warning Event, once: an addon whose server is
down, a deletion that cannot drop the databases, an invalid app. The chaos run (bench/chaos.py)
found the first two reported in the status only: kopf posts no Event for a handler's log lines."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import kopf
import pytest
from kubernetes import client

from cloudron_operator.addons.base import AddonProblem
from cloudron_operator.addons.flow import AddonOutcome, AddonsResult
from cloudron_operator.handlers import apps
from cloudron_operator.models import AddonType
from cloudron_operator.models.conditions import Reason
from cloudron_operator.reconcile import status
from cloudron_operator.status import ConditionUpdate
from cloudron_operator.store import Store
from tests.runtime_cases import memo_of, runtime_for_tests

pytestmark = pytest.mark.unit

UNREACHABLE = "postgresql: Addon pg: cannot log in to PostgreSQL at db:5432 as postgres: connection failed"
META = {"uid": "u1", "name": "wiki", "namespace": "apps", "resourceVersion": "1", "generation": 1}


@pytest.fixture
def told(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """The Warning Events posted, as (reason, message), in order with the status writes ("status")."""
    posted: list[tuple[str, str]] = []

    def warn(body: Any, *, reason: str, message: str) -> None:
        posted.append((reason, message))

    monkeypatch.setattr(kopf, "warn", warn)
    yield posted


def _app(conditions: list[dict[str, Any]]) -> kopf.Body:
    body = {"apiVersion": "cloudron.io/v1alpha1", "kind": "CloudronApp", "metadata": dict(META)}
    return kopf.Body({**body, "spec": {}, "status": {"conditions": conditions}})  # type: ignore[arg-type]


def _said(reason: str, message: str, state: str = "False") -> dict[str, Any]:
    return {"type": "AddonsReady", "status": state, "reason": reason, "message": message}


def test_a_problem_is_told_once_and_again_when_it_changes(told: list[tuple[str, str]]) -> None:
    problem = ConditionUpdate("AddonsReady", "False", Reason.ADDON_UNREACHABLE, UNREACHABLE)
    status.warn_of_new_problem(_app([]), problem, {})
    status.warn_of_new_problem(_app([]), problem, {"conditions": [_said(problem.reason, UNREACHABLE)]})
    assert told == [(Reason.ADDON_UNREACHABLE, UNREACHABLE)], "not again at every retry"

    other = ConditionUpdate("AddonsReady", "False", Reason.ADDON_UNREACHABLE, "mysql: error 2013")
    status.warn_of_new_problem(_app([]), other, {"conditions": [_said(problem.reason, UNREACHABLE)]})
    back = {"conditions": [_said(Reason.PROVISIONED, UNREACHABLE, "True")]}
    status.warn_of_new_problem(_app([]), problem, back)  # the same problem after it was solved
    assert told[1:] == [
        (Reason.ADDON_UNREACHABLE, "mysql: error 2013"),
        (Reason.ADDON_UNREACHABLE, UNREACHABLE),
    ]

    status.warn_of_new_problem(_app([]), ConditionUpdate("AddonsReady", "True", "Provisioned", "ok"), {})
    assert len(told) == 3, "no Event when there is no problem"


def test_a_pass_that_waits_for_an_addon_tells_it_before_writing_the_status(
    told: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refresh_status(api: Any, app: Mapping[str, Any], store: Store, addons: Any, **kwargs: Any) -> Any:
        told.append(("status", addons.condition().reason))
        return {**app, "metadata": {**app["metadata"], "resourceVersion": "2"}}

    monkeypatch.setattr(status, "refresh_status", refresh_status)
    problem = AddonProblem(Reason.ADDON_UNREACHABLE, "Addon pg: cannot log in")
    addons = AddonsResult([AddonOutcome(AddonType.POSTGRESQL, problem=problem)])
    body = _app([])
    store = Store(client.ApiClient(), ())
    store.apps.replace([dict(body)])
    status.write_pass_status(client.ApiClient(), body, addons, store, notes={}, reconciled=False)
    message = "postgresql: Addon pg: cannot log in"
    assert told == [(Reason.ADDON_UNREACHABLE, message), ("status", Reason.ADDON_UNREACHABLE)]

    told.clear()
    store.apps.replace([dict(_app([_said(Reason.ADDON_UNREACHABLE, message)]))])
    status.write_pass_status(client.ApiClient(), body, addons, store, notes={}, reconciled=False)
    assert told == [("status", Reason.ADDON_UNREACHABLE)], "the status says it already: no Event again"


def test_a_deletion_that_cannot_drop_the_databases_tells_it(
    told: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def drop_databases(backends: Any, body: Any, addons: Any, logger: Any) -> list[str]:
        return ["postgresql in Addon pg: cannot log in"]

    written: list[Mapping[str, Any]] = []
    monkeypatch.setattr(apps, "drop_databases", drop_databases)
    monkeypatch.setattr(apps, "write_status", lambda api, body, desired: written.append(desired))
    body = _app([])
    memo = memo_of(runtime_for_tests())
    with pytest.raises(kopf.TemporaryError):
        apps.delete_handler(body, memo, logging.getLogger("test"), addons_by_type={})
    assert [reason for reason, _ in told] == [Reason.DEPROVISION_FAILED]
    assert written, "and the status says it"
