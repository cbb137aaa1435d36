"""What keeps child events cheap: one refresh per app at a time, and the apps as the store keeps them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from cloudron_operator.addons.flow import AddonsResult
from cloudron_operator.reconcile.refresh import AppRefreshes
from cloudron_operator.reconcile.status import desired_status
from cloudron_operator.store import Store
from cloudron_operator.store.apps import AppSeen, app_seen

APP = ("apps", "wiki")
OTHER = ("apps", "chat")


def test_an_event_during_a_refresh_asks_for_exactly_one_more_round() -> None:
    refreshes = AppRefreshes()
    assert refreshes.begin(APP)
    assert not refreshes.begin(APP)  # a second event: no second refresh
    assert not refreshes.begin(APP)  # a third one: still only one more round
    assert refreshes.another_round(APP)
    assert not refreshes.another_round(APP)
    refreshes.end(APP)
    assert refreshes.begin(APP)  # once ended, the next event refreshes again


def test_refreshes_of_different_apps_do_not_wait_for_each_other() -> None:
    refreshes = AppRefreshes()
    assert refreshes.begin(APP)
    assert refreshes.begin(OTHER)
    assert not refreshes.another_round(OTHER)


def _app(
    status: dict[str, Any], spec: dict[str, Any] | None = None, version: str = "10", uid: str = "u1"
) -> dict[str, Any]:
    metadata = {"namespace": "apps", "name": "wiki", "uid": uid, "resourceVersion": version}
    return {"metadata": metadata, "spec": spec or {}, "status": status}


# A Deployment whose one pod is ready and a Certificate that is issued: an app that runs.
READY_DEPLOYMENT = {
    "metadata": {"generation": 1},
    "spec": {"replicas": 1},
    "status": {"observedGeneration": 1, "updatedReplicas": 1, "readyReplicas": 1},
}
ISSUED_CERTIFICATE = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
NOW = datetime(2026, 11, 29, tzinfo=UTC)


def _seen(status: dict[str, Any], spec: dict[str, Any] | None = None) -> AppSeen:
    return app_seen(_app(status, spec))


def test_a_known_app_tells_a_first_pass_still_running_from_one_that_wrote_the_status() -> None:
    running = _seen({})
    written = _seen(
        {
            "conditions": [
                {"type": "AddonsReady", "status": "True", "reason": "Provisioned", "message": ""},
                {"type": "WorkloadAvailable", "status": "False", "reason": "Progressing", "message": "0/1"},
            ]
        },
        spec={"running": False},
    )
    assert not running.first_pass_done
    assert written.first_pass_done
    assert written.conditions == {"WorkloadAvailable": ("False", "Progressing", "0/1")}
    assert not written.running


def test_a_known_app_marks_an_app_whose_spec_must_be_fixed() -> None:
    invalid = _seen({"conditions": [{"type": "Ready", "status": "False", "reason": "InvalidSpec"}]})
    waiting = _seen({"conditions": [{"type": "Ready", "status": "False", "reason": "AddonsNotReady"}]})
    assert invalid.invalid
    assert not waiting.invalid


def _named(name: str, status: dict[str, Any]) -> dict[str, Any]:
    app = _app(status, uid=f"uid-{name}")
    app["metadata"]["name"] = name
    return app


def test_the_stores_apps_are_counted_by_phase_and_by_the_addon_serving_them() -> None:
    known = Store(client.ApiClient(), ())
    pg = {"postgresql": {"addon": "pg", "secret": "s"}}
    known.apps.replace(
        [
            _named("a", {"phase": "Running", "addons": pg}),
            _named("b", {"phase": "Running", "addons": {**pg, "redis": {"addon": "redis"}}}),
            _named("c", {"phase": "Installing", "addons": {"mysql": {"addon": "mariadb"}}}),
            _named("d", {}),  # not seen by a pass yet: no phase, no addons
        ]
    )
    assert known.phases() == {"Running": 2, "Installing": 1}
    assert (known.serving("pg"), known.serving("redis"), known.serving("mariadb")) == (2, 1, 1)
    assert known.serving("other") == 0
    known.apps.remove(_named("b", {}))
    assert known.serving("pg") == 1
    assert known.phases() == {"Running": 1, "Installing": 1}


def test_a_known_app_computes_the_same_status_as_the_whole_app() -> None:
    """A refresh starts from the reduced app kept in memory: it must lack nothing the status needs."""
    whole = _app(
        {
            "phase": "Installing",
            "addons": {"postgresql": {"addon": "pg", "secret": "wiki-postgresql"}},
            "conditions": [
                {"type": "AddonsReady", "status": "True", "reason": "Provisioned", "message": "ok"},
                {"type": "WorkloadAvailable", "status": "False", "reason": "PodsNotReady", "message": "0/1"},
            ],
        },
        spec={
            "domain": "wiki.example.com",
            "image": "registry.example.com/wiki:2",
            "running": True,
            "manifest": {"version": "2.1.0", "httpPort": 8000, "addons": {"postgresql": {}}},
        },
    )
    whole["metadata"] |= {
        "generation": 3,
        "annotations": {"note": "x"},
        "finalizers": ["cloudron.io/finalizer"],
    }
    deployment, certificate, now = READY_DEPLOYMENT, ISSUED_CERTIFICATE, NOW
    reduced = app_seen(whole).app
    assert reduced["spec"]["manifest"] == {"version": "2.1.0"} and "annotations" not in reduced["metadata"]
    expected = desired_status(whole, deployment, certificate, None, now)
    assert desired_status(reduced, deployment, certificate, None, now) == expected
    assert expected["version"] == "2.1.0" and expected["phase"] == "Running"


def test_a_refresh_before_the_pass_of_a_new_spec_reports_on_the_spec_the_children_were_made_from() -> None:
    """A child event between a spec change and its pass must not make the new generation look done."""
    app = _app(
        {
            "observedGeneration": 2,
            "url": "https://wiki.example.com",
            "version": "1.0.0",
            "conditions": [{"type": "AddonsReady", "status": "True", "reason": "Provisioned", "message": ""}],
        },
        spec={"domain": "docs.example.com", "running": True, "manifest": {"version": "2.0.0"}},
    )
    app["metadata"]["generation"] = 3
    deployment, certificate, now = READY_DEPLOYMENT, ISSUED_CERTIFICATE, NOW

    refreshed = desired_status(app, deployment, certificate, None, now)
    assert (refreshed["observedGeneration"], refreshed["url"], refreshed["version"]) == (
        2,
        "https://wiki.example.com",
        "1.0.0",
    )
    assert {c["observedGeneration"] for c in refreshed["conditions"]} == {2}

    passed = desired_status(app, deployment, certificate, AddonsResult(), now)
    assert (passed["observedGeneration"], passed["url"], passed["version"]) == (
        3,
        "https://docs.example.com",
        "2.0.0",
    )
    assert {c["observedGeneration"] for c in passed["conditions"]} == {3}


def test_a_refresh_keeps_the_packages_notes_and_a_pass_replaces_them() -> None:
    notes = {
        "title": "Wiki",
        "checklist": [{"key": "a", "message": "do a", "done": False}],
        "checklistPending": 1,
    }
    app = _app(
        {"conditions": [], **notes},
        spec={"domain": "wiki.example.com", "running": True, "manifest": {"version": "1.0.0"}},
    )
    app["metadata"]["generation"] = 1
    reduced = app_seen(app).app
    refreshed = desired_status(reduced, READY_DEPLOYMENT, ISSUED_CERTIFICATE, None, NOW)
    assert {key: refreshed[key] for key in notes} == notes

    passed = desired_status(
        app, READY_DEPLOYMENT, ISSUED_CERTIFICATE, AddonsResult(), NOW, notes={"title": "Wiki 2"}
    )
    assert passed["title"] == "Wiki 2" and "checklist" not in passed and "checklistPending" not in passed
