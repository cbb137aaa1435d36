"""The operator's Prometheus endpoint, scraped while it serves an app with a database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from cloudron_operator.k8s import api as k8s
from tests.harness.databases import DatabaseServer
from tests.harness.operator_process import OperatorProcess, scrape, value
from tests.harness.processes import wait_until
from tests.integration.addon_support import AddonSet, addons_for_test, addons_ready, app_object
from tests.integration.apps_support import APP, WAIT


@pytest.fixture
def postgres_addon(
    api_client: client.ApiClient, namespace: str, postgres_server: DatabaseServer
) -> Iterator[AddonSet]:
    with addons_for_test(api_client, namespace, {"postgresql": postgres_server}) as made:
        yield made


def test_reconciles_phases_and_provisioning_are_counted(
    api_client: client.ApiClient, namespace: str, app_operator: OperatorProcess, postgres_addon: AddonSet
) -> None:
    k8s.create(api_client, app_object("counted", namespace, postgres_addon, {"postgresql": {}}))
    wait_until(lambda: addons_ready(api_client, namespace, "counted"), WAIT, "the app's database")

    samples = scrape(app_operator)
    assert value(samples, "cloudron_operator_reconcile_total", kind="CloudronApp", result="ok") >= 1
    assert value(samples, "cloudron_operator_reconcile_duration_seconds_count", kind="CloudronApp") >= 1
    assert value(samples, "cloudron_operator_reconcile_total", kind="Addon", result="ok") >= 1
    assert value(samples, "cloudron_operator_addon_provision_duration_seconds_count", type="postgresql") >= 1

    def counted_in_its_phase() -> bool:
        # Installing until cert-manager issues its Certificate, Running after: the gauge says the same.
        phase = (k8s.get(api_client, *APP, namespace, "counted") or {}).get("status", {}).get("phase")
        found = scrape(app_operator)
        counts = {labels: v for (name, labels), v in found.items() if name == "cloudron_operator_apps"}
        return phase in ("Installing", "Running") and counts == {
            (("phase", other),): (1.0 if other == phase else 0.0)
            for other in ("Pending", "Installing", "Running", "Stopped", "Error")
        }

    wait_until(counted_in_its_phase, WAIT, "the apps gauge to count the app in its phase")

    k8s.delete(api_client, *APP, namespace, "counted")

    def no_app_counted() -> bool:
        found = scrape(app_operator)
        return sum(v for (name, _), v in found.items() if name == "cloudron_operator_apps") == 0

    wait_until(no_app_counted, WAIT, "the deleted app to leave the gauge")
