"""Fixtures of the CloudronApp tests: the CRDs and cert-manager, the operator watching one namespace,
a data volume; and the session's secret scan."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from tests.harness import cert_manager
from tests.harness.catalog_server import CatalogServer
from tests.harness.databases import DatabaseKind
from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess
from tests.harness.secret_scan import SecretLedger, collect_namespace, scan_files, scanned_files
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


SCAN_SUMMARY = pytest.StashKey[str]()


@pytest.fixture(scope="session", autouse=True)
def no_secret_anywhere(
    local_env: LocalEnv,
    secret_ledger: SecretLedger,
    cluster_texts: Path,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[None]:
    """At the end of the session: every password, token and key the session's Secrets and servers
    held is looked for in every log (operators, login services, Jobs, the harness's servers, the API
    server's audit log), every Event, status, ConfigMap and pod template, and the operators' /metrics
    (saved as each stopped). One hit fails the session, naming where, never the value."""
    yield
    _take_the_rest(local_env, secret_ledger, cluster_texts)
    files = scanned_files([tmp_path_factory.getbasetemp(), local_env.root])
    hits, read = scan_files(secret_ledger, files)
    summary = (
        f"secret scan: {len(secret_ledger)} secret values looked for in {len(files)} files "
        f"({read / 1e6:.1f} MB of logs, Events, statuses and metrics): {len(hits)} hits"
    )
    request.config.stash[SCAN_SUMMARY] = summary
    if hits:
        shown = "\n".join(f"  {hit}" for hit in hits[:50])
        raise AssertionError(f"{summary}\n{shown}")


def _take_the_rest(env: LocalEnv, ledger: SecretLedger, texts: Path) -> None:
    """What the namespaces' teardowns did not see: the namespaces that remain, the cluster-scoped
    kinds, and the harness's own servers' credentials."""
    kinds: tuple[DatabaseKind, ...] = ("postgresql", "mysql", "redis")
    for kind in kinds:
        server = env.recorded_database(kind)
        if server is not None and server.admin_password:
            ledger.add(server.admin_password, f"the harness's {kind} administrator")
    s3 = env.recorded_s3()
    if s3 is not None:
        ledger.add(s3.secret_key, "the harness's S3 root account")
    if env.cluster.kubeconfig.exists() and env.cluster.is_ready():
        api = config.new_client_from_config(config_file=str(env.cluster.kubeconfig))
        try:
            collect_namespace(api, None, ledger, texts / "cluster.texts")
        finally:
            api.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    summary = config.stash.get(SCAN_SUMMARY, None)
    if summary is not None:
        terminalreporter.write_line(summary)
