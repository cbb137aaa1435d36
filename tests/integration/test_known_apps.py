"""At start-up the operator knows every app before kopf's watches begin (against the real API server).

kopf's indexes used to guarantee that; they are gone (quadratic at start-up), so the start-up
handler lists the apps itself. An Addon's first count and the first child events depend on it.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml
from kubernetes import client

from cloudron_operator.config import OperatorConfig
from cloudron_operator.handlers import lifecycle
from cloudron_operator.handlers.known_apps import KnownApps
from cloudron_operator.handlers.kopf_storage import AppStatusDiffBaseStorage
from cloudron_operator.k8s import api as k8s
from cloudron_operator.metrics import Metrics
from tests.integration.apps_support import example
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
    lifecycle.configure(kopf.OperatorSettings(), memo, logger=logging.getLogger("test"))

    known: KnownApps = memo["known_apps"]
    assert all(known.newest((namespace, f"znc-{index}")) is not None for index in range(3))
    assert known.serving("pg-main") == 2
    assert known.phases() == {"Running": 2, "Installing": 1}
    scraped = {
        sample.labels["phase"]: sample.value for sample in next(memo["metrics"].app_phases.collect()).samples
    }
    assert (scraped["Running"], scraped["Installing"], scraped["Error"]) == (2, 1, 0)
    memo["api"].close()


def _diff_base_under(api: client.ApiClient, crd_name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(lifecycle, "APPS_CRD", crd_name)
    return lifecycle._diffbase_storage(api, KnownApps(), logging.getLogger("test"))


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
