"""The store against the real API server: complete before kopf's watches begin, and right after a
re-list (no ghost of what was deleted while no watch ran).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml
from kubernetes import client

from cloudron_operator.config import OperatorConfig
from cloudron_operator.handlers import lifecycle
from cloudron_operator.k8s import api as k8s
from cloudron_operator.kopf_adapters.storage import AppStatusDiffBaseStorage
from cloudron_operator.metrics import Metrics
from cloudron_operator.runtime import runtime
from cloudron_operator.store import Store
from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess, scrape, value
from tests.harness.processes import wait_until
from tests.integration.addon_support import addons_for_test, app_object
from tests.integration.apps_support import APP, WAIT, example, install_crds, namespaced_operator
from tests.paths import REPO


def _with_status(api: client.ApiClient, app: dict[str, Any], status: dict[str, Any]) -> None:
    meta = app["metadata"]
    obj = {
        "apiVersion": app["apiVersion"],
        "kind": "CloudronApp",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
        "status": status,
    }
    k8s.apply(api, obj, subresource="status")


def test_the_start_up_handler_lists_every_app_page_by_page(
    api_client: client.ApiClient,
    namespace: str,
    installed_crds: None,
    kubeconfig: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served = {"postgresql": {"addon": "pg-main", "secretName": "s", "ready": True}}
    for index, phase in enumerate(["Running", "Running", "Installing"]):
        app = example("znc", namespace)
        app["metadata"]["name"] = f"znc-{index}"
        created = k8s.apply(api_client, app)
        _with_status(api_client, created, {"phase": phase, "addons": served if index < 2 else {}})
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setattr(lifecycle, "LIST_CHUNK_SIZE", 2)  # three apps: two pages

    memo = kopf.Memo(config=OperatorConfig(namespaces=(namespace,), metrics_address=""), metrics=Metrics())
    asyncio.run(lifecycle.configure(kopf.OperatorSettings(), memo, logger=logging.getLogger("test")))
    context = runtime(memo)
    try:
        assert all(context.store.app((namespace, f"znc-{index}")) is not None for index in range(3))
        assert context.store.serving("pg-main") == 2
        assert context.store.phases() == {"Running": 2, "Installing": 1}
        samples = next(context.metrics.app_phases.collect()).samples
        scraped = {sample.labels["phase"]: sample.value for sample in samples}
        assert (scraped["Running"], scraped["Installing"], scraped["Error"]) == (2, 1, 0)
        lists = [informer for informer in context.store.informers if informer.kind.kind == "CloudronApp"]
        assert [informer.lists for informer in lists] == [1]
    finally:
        lifecycle.stop(memo)
        context.api.close()


def _znc_apps(api: client.ApiClient, namespace: str, count: int) -> list[dict[str, Any]]:
    made = []
    for index in range(count):
        app = example("znc", namespace)
        app["metadata"]["name"] = f"znc-{index}"
        created = k8s.apply(api, app)
        _with_status(api, created, {"phase": "Running", "addons": {"postgresql": {"addon": "pg-relist"}}})
        made.append(created)
    return made


def test_objects_deleted_while_no_watch_ran_leave_no_ghost_after_the_re_list(
    api_client: client.ApiClient, cluster: LocalEnv, namespace: str, installed_crds: None
) -> None:
    """A watch resumed after the API server restarted cannot catch up (410 Gone): the informer
    lists again, and what the list does not return is gone from the store, its counts and its
    metrics' sources."""
    _znc_apps(api_client, namespace, 3)
    store = Store(api_client, (namespace,), watch_seconds=5)
    store.sync()
    assert store.serving("pg-relist") == 3 and store.phases() == {"Running": 3}
    apps = next(informer for informer in store.informers if informer.kind.kind == "CloudronApp")
    last_seen = apps.resource_version

    # No watch runs while two apps are deleted and the API server restarts (its watch cache starts
    # anew, so no watch can resume from before).
    for name in ("znc-0", "znc-1"):
        k8s.delete(api_client, *APP, namespace, name)
    cluster.cluster.stop()
    cluster.cluster.start()
    install_crds(cluster)

    store.start()
    try:
        wait_until(lambda: apps.lists >= 2, WAIT, "the informer to list the apps again")
        wait_until(lambda: store.serving("pg-relist") == 1, WAIT, "the deleted apps to leave the store")
        assert apps.resource_version != last_seen
        assert store.app((namespace, "znc-0")) is None and store.app((namespace, "znc-2")) is not None
        assert store.phases() == {"Running": 1}
    finally:
        store.stop()


def _diff_base_under(api: client.ApiClient, crd_name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(lifecycle, "APPS_CRD", crd_name)
    return lifecycle._diffbase_storage(api, Store(api, ()), logging.getLogger("test"))


def test_kopf_keeps_its_annotations_while_the_installed_crd_predates_reconciled_generation(
    api_client: client.ApiClient, installed_crds: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Helm does not upgrade a chart's CRDs: an older one would prune the field kopf is told to read."""
    assert isinstance(
        _diff_base_under(api_client, "cloudronapps.cloudron.io", monkeypatch), AppStatusDiffBaseStorage
    )

    older = yaml.safe_load((REPO / "crds" / "cloudronapps.cloudron.io.yaml").read_text())
    group = f"older-{secrets.token_hex(3)}.example.com"
    older["metadata"] = {"name": f"cloudronapps.{group}"}
    older["spec"]["group"] = group
    for version in older["spec"]["versions"]:
        del version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["reconciledGeneration"]
    extensions = client.ApiextensionsV1Api(api_client)
    extensions.create_custom_resource_definition(older)
    try:
        storage = _diff_base_under(api_client, older["metadata"]["name"], monkeypatch)
        assert isinstance(storage, kopf.AnnotationsDiffBaseStorage)
    finally:
        extensions.delete_custom_resource_definition(older["metadata"]["name"])
    assert isinstance(_diff_base_under(api_client, "none.example.com", monkeypatch), AppStatusDiffBaseStorage)


def test_an_operator_that_missed_deletions_counts_no_ghost_app(
    api_client: client.ApiClient, cluster: LocalEnv, namespace: str, installed_crds: None, tmp_path: Path
) -> None:
    """The operator is frozen while two of its three apps are deleted and the API server restarts:
    once it runs again, its watches cannot resume and list again. The Addon's appCount and the
    apps metric count the one app left."""
    operator = namespaced_operator(cluster.cluster.kubeconfig, tmp_path / "operator.log", namespace)
    with addons_for_test(api_client, namespace, {"redis": None}) as made:
        addon = made.names["redis"]
        operator.start()
        try:
            for index in range(3):
                k8s.create(api_client, app_object(f"cache-{index}", namespace, made, {"redis": {}}))
            wait_until(lambda: _app_count(api_client, addon) == 3, WAIT, "appCount 3")
            wait_until(lambda: _apps_counted(operator) == 3, WAIT, "3 apps in the metrics")

            os.killpg(operator.pid, signal.SIGSTOP)
            try:
                for name in ("cache-0", "cache-1"):
                    _delete_without_operator(api_client, namespace, name)
                cluster.cluster.stop()
                cluster.cluster.start()
                install_crds(cluster)
            finally:
                os.killpg(operator.pid, signal.SIGCONT)

            wait_until(lambda: _app_count(api_client, addon) == 1, WAIT, "appCount 1 after the re-list")
            wait_until(lambda: _apps_counted(operator) == 1, WAIT, "1 app in the metrics after the re-list")
        finally:
            operator.stop()


PHASES = ("Pending", "Installing", "Running", "Stopped", "Error")


def _app_count(api: client.ApiClient, addon: str) -> object:
    found = k8s.get(api, "cloudron.io/v1alpha1", "Addon", None, addon)
    return (found or {}).get("status", {}).get("appCount")


def _apps_counted(operator: OperatorProcess) -> float:
    samples = scrape(operator)
    return sum(value(samples, "cloudron_operator_apps", phase=phase) for phase in PHASES)


def _delete_without_operator(api: client.ApiClient, namespace: str, name: str) -> None:
    """Delete an app whose operator cannot run its finalizer (it is frozen)."""
    patch = {"metadata": {"finalizers": None}}
    client.CustomObjectsApi(api).patch_namespaced_custom_object(
        "cloudron.io", "v1alpha1", namespace, "cloudronapps", name, patch
    )
    k8s.delete(api, *APP, namespace, name)
    wait_until(lambda: k8s.get(api, *APP, namespace, name) is None, WAIT, f"app {name} gone")
