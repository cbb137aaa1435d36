"""Fixtures of the CloudronApp tests: the CRDs, the operator watching one namespace, a data volume."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess
from tests.integration.apps_support import install_crds, namespaced_operator, pre_bound_volume


@pytest.fixture(scope="session")
def installed_crds(cluster: LocalEnv) -> None:
    """Our CRDs and cert-manager's Certificate CRD, Established and served."""
    install_crds(cluster)


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
