"""Fixtures of the CloudronApp tests: the CRDs and cert-manager, the operator watching one namespace,
a data volume."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.harness import cert_manager
from tests.harness.catalog_server import CatalogServer
from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess
from tests.integration.apps_support import install_crds, namespaced_operator, pre_bound_volume


@pytest.fixture(scope="session")
def installed_crds(cluster: LocalEnv) -> Iterator[None]:
    """Our CRDs and cert-manager's, Established and served, and cert-manager's controllers running
    with the cluster's CA issuer: every app's Certificate is issued by cert-manager itself."""
    install_crds(cluster)
    controller = cert_manager.start_controller(cluster.cluster.kubeconfig, cluster.root / "cert-manager.log")
    try:
        cert_manager.install_issuers(cluster.cluster)
        yield
    finally:
        cert_manager.stop_controller(controller.pid)


@pytest.fixture
def app_operator(
    installed_crds: None, kubeconfig: Path, namespace: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """The operator watching the test's namespace, resyncing every few seconds."""
    process = namespaced_operator(kubeconfig, tmp_path / "operator.log", namespace)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def data_volume(api_client: client.ApiClient, namespace: str) -> Iterator[None]:
    """A PersistentVolume pre-bound to the znc app's claim: the local cluster has no provisioner."""
    name = pre_bound_volume(api_client, namespace, "znc-data")
    yield
    client.CoreV1Api(api_client).delete_persistent_volume(name)


@pytest.fixture
def catalog_server(tmp_path: Path) -> Iterator[CatalogServer]:
    """A static HTTP server on loopback for the test's catalogs (ETag, Last-Modified, 304, a request log)."""
    server = CatalogServer(tmp_path / "catalogs")
    server.start()
    yield server
    server.stop()
