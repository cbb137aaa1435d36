"""Fixtures: the real local cluster, real database servers and the operator as a subprocess.

Each directory is a layer and a marker: tests/unit `unit` (nothing but Python: no server fixture,
no process started), tests/tools `tools` (the helm binary, the checkers under hack/tools or the npm
reference validator, and no server), tests/integration `integration` (the local cluster and the
database servers). A missing binary or server is an error, never a skip.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import pytest
import yaml
from kubernetes import client, config

from tests.harness.databases import DatabaseServer
from tests.harness.localenv import LocalEnv, abandoned_test_envs, session_env_name
from tests.harness.operator_process import OperatorProcess
from tests.harness.s3 import S3Server, create_bucket
from tests.harness.secret_scan import SecretLedger, collect_namespace

LAYERS = ("unit", "tools", "integration")
# Who writes an app's status, and when: the tests of the status writer read it from the audit log.
STATUS_AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {
            "level": "Metadata",
            "verbs": ["patch", "update"],
            "resources": [{"group": "cloudron.io", "resources": ["cloudronapps/status"]}],
        },
        {"level": "None"},
    ],
}
POD_SECURITY_ENFORCE = "pod-security.kubernetes.io/enforce"
SERVER_FIXTURES = {
    "local_env",
    "cluster",
    "api_client",
    "postgres_server",
    "mariadb_server",
    "redis_server",
    "s3_server",
}


def pytest_configure(config: pytest.Config) -> None:
    # SIGTERM (a CI job cancelled, `timeout`, `kill`) ends the session as Ctrl-C does: pytest then
    # tears the fixtures down, and the session's cluster and servers are removed.
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, _frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt(f"{signal.Signals(signum).name}: removing the test environment")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        layer = Path(str(item.path)).parent.name
        if layer in LAYERS:
            item.add_marker(getattr(pytest.mark, layer))
        marked = [name for name in LAYERS if item.get_closest_marker(name)]
        if len(marked) > 1:
            raise pytest.UsageError(f"{item.nodeid} is marked {marked}: a test is in one layer")
        if marked and marked != ["integration"] and SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            raise pytest.UsageError(f"{item.nodeid} is a {marked[0]} test but uses a server fixture")


# What a unit test may start: Python itself and the shell, which every machine has.
UNIT_PROGRAMS = frozenset({sys.executable, "python3", "bash", "sh", "/bin/sh", "/bin/bash", "/usr/bin/env"})


@pytest.fixture(autouse=True)
def _unit_tests_run_nothing_but_python(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A unit test that runs another program (helm, a Go checker, node) belongs in tests/tools."""
    if request.node.get_closest_marker("unit") is None:
        return
    start = subprocess.Popen.__init__

    def checked(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        program = str(args if isinstance(args, str | os.PathLike) else args[0])
        if program not in UNIT_PROGRAMS:
            raise pytest.UsageError(
                f"{request.node.nodeid} is a unit test but runs {program}: move it to tests/tools"
            )
        start(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", checked)


@pytest.fixture(scope="session")
def local_env() -> Iterator[LocalEnv]:
    """The session's environment: its own cluster and servers, removed at the end.

    Set CLOUDRON_TEST_KEEP=1 to leave them running for inspection (`python -m tests.harness down test-<pid>`).
    Those of earlier sessions killed before their teardown are removed first.
    """
    for abandoned in abandoned_test_envs():
        print(f"removing {abandoned.name}, left by a test session that was killed", file=sys.stderr)
        abandoned.down()
    env = LocalEnv.named(session_env_name(os.getpid()))
    yield env
    if os.environ.get("CLOUDRON_TEST_KEEP") == "1":
        env.keep()
    else:
        env.down()


@pytest.fixture(scope="session")
def cluster(local_env: LocalEnv) -> LocalEnv:
    """The session's cluster; its API server logs the writes of apps' status (`STATUS_AUDIT_POLICY`)."""
    local_env.root.mkdir(parents=True, exist_ok=True)
    policy = local_env.root / "audit-policy.yaml"
    policy.write_text(yaml.safe_dump(STATUS_AUDIT_POLICY))
    local_env.cluster.ensure_running(options={"kubeAuditPolicy": str(policy)})
    return local_env


@pytest.fixture(scope="session")
def kubeconfig(cluster: LocalEnv) -> Path:
    return cluster.cluster.kubeconfig


@pytest.fixture(scope="session")
def api_client(kubeconfig: Path) -> Iterator[client.ApiClient]:
    """A client with cluster-admin rights (kwokctl's admin certificate)."""
    api = config.new_client_from_config(config_file=str(kubeconfig))
    yield api
    api.close()


@pytest.fixture(scope="session")
def secret_ledger() -> SecretLedger:
    """Every secret value the session met (tests/harness/secret_scan.py): no log, Event, status or
    metric may hold one (tests/integration/conftest.py scans them at the end of the session)."""
    return SecretLedger()


@pytest.fixture(scope="session")
def cluster_texts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where each test namespace's Events, statuses, ConfigMaps and pod templates are written before
    the namespace goes, for the session's secret scan."""
    return tmp_path_factory.mktemp("cluster-texts")


@pytest.fixture
def namespace(
    api_client: client.ApiClient,
    request: pytest.FixtureRequest,
    secret_ledger: SecretLedger,
    cluster_texts: Path,
) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards (kube-controller-manager empties it); what
    it held is first kept for the secret scan."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"t-{slug}-{secrets.token_hex(3)}"
    core = client.CoreV1Api(api_client)
    # Pod Security's baseline, enforced: every pod the suite's apps, Redis servers, tasks and backups
    # make must pass it (tests/integration/test_pod_security.py has the level of each).
    labels = {POD_SECURITY_ENFORCE: "baseline", f"{POD_SECURITY_ENFORCE}-version": "latest"}
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels)))
    yield name
    collect_namespace(api_client, name, secret_ledger, cluster_texts / f"{name}.texts")
    core.delete_namespace(name)


@pytest.fixture(scope="session")
def postgres_server(local_env: LocalEnv) -> DatabaseServer:
    return local_env.database("postgresql")


@pytest.fixture(scope="session")
def mariadb_server(local_env: LocalEnv) -> DatabaseServer:
    return local_env.database("mysql")


@pytest.fixture(scope="session")
def redis_server(local_env: LocalEnv) -> DatabaseServer:
    return local_env.database("redis")


@pytest.fixture(scope="session")
def s3_server(local_env: LocalEnv) -> S3Server:
    """The session's S3-compatible server (versitygw on loopback); it needs no cluster."""
    return local_env.s3()


@pytest.fixture
def s3_bucket(s3_server: S3Server, request: pytest.FixtureRequest) -> str:
    """A fresh, empty bucket for one test: a valid S3 name (lowercase, digits, hyphens; 3-63 chars)."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"t-{slug}-{secrets.token_hex(4)}"
    create_bucket(s3_server, name)
    return name


@pytest.fixture
def operator(kubeconfig: Path, tmp_path: Path) -> Iterator[OperatorProcess]:
    """The operator running as a subprocess against the session's cluster; stopped after the test."""
    process = OperatorProcess(kubeconfig, tmp_path / "operator.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def service_account_client(api_client: client.ApiClient) -> Iterator[Callable[[str, str], client.ApiClient]]:
    """A factory: a client authenticated with a real token of ServiceAccount `name` in `namespace`."""
    made: list[client.ApiClient] = []

    def make(namespace: str, name: str) -> client.ApiClient:
        core = client.CoreV1Api(api_client)
        core.create_namespaced_service_account(
            namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
        )
        token = core.create_namespaced_service_account_token(
            name, namespace, client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
        ).status.token
        admin = api_client.configuration
        settings = client.Configuration()
        settings.host = admin.host
        settings.ssl_ca_cert = admin.ssl_ca_cert
        settings.api_key = {"authorization": token}
        settings.api_key_prefix = {"authorization": "Bearer"}
        api = client.ApiClient(settings)
        made.append(api)
        return api

    yield make
    for api in made:
        api.close()
