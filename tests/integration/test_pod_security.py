"""Pod Security Admission: the strictest level each pod the operator (and its chart) makes passes, as
the real API server's PodSecurity admission judges it, and the rules that keep it from the next.

Every pod template is sent as a Pod (server-side dry run) to three namespaces enforcing
`restricted`, `baseline` and `privileged`. The levels are a contract (docs/reliability.md): apps
start as root and drop to their user (Cloudron's runtime), so they cannot be `restricted`; an app
whose manifest asks for `ping`, `net_admin` or `mlock` needs `privileged`. Every other test's
namespace enforces `baseline` (tests/conftest.py), so every pod the suite's apps, Redis servers,
tasks and backups make is admitted at that level by the real controllers.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from cloudron_operator.builders import desired_children
from cloudron_operator.builders.backup_job import JobVolumes, StoreTarget, backup_job
from cloudron_operator.builders.redis import RedisOptions, build_redis_children
from cloudron_operator.k8s import api as k8s
from cloudron_operator.models.conditions import Reason
from tests.builder_cases import BASE_MANIFEST, CONFIG, identity, manifest_of, spec
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import wait_until
from tests.integration.chart_support import render

Level = Literal["restricted", "baseline", "privileged"]
LEVELS: tuple[Level, ...] = ("restricted", "baseline", "privileged")
ENFORCE = "pod-security.kubernetes.io/enforce"
# What keeps an app from `restricted`: Cloudron's start scripts run as root, chown the writable
# dirs and drop to uid 1000 with gosu, which needs these capabilities and setuid.
APP_RESTRICTED_RULES = (
    "allowPrivilegeEscalation != false",
    "unrestricted capabilities",
    "runAsNonRoot != true",
)
BACKUP_RESTRICTED_RULES = ("unrestricted capabilities", "runAsNonRoot != true", "runAsUser=0")


def _app_children(**manifest_fields: Any) -> list[dict[str, Any]]:
    manifest = {**BASE_MANIFEST, "memoryLimit": 256 * 1024**2, **manifest_fields}
    app_spec = spec(manifest)
    return desired_children(identity(), app_spec, manifest_of(app_spec), CONFIG, {})


def _of_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(obj for obj in objects if obj["kind"] == kind)


def _pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    if workload["kind"] == "CronJob":
        template = workload["spec"]["jobTemplate"]["spec"]["template"]
    else:
        template = workload["spec"]["template"]
    # The chart's ServiceAccount does not exist here, and Pod Security does not look at it.
    return {key: value for key, value in template["spec"].items() if key != "serviceAccountName"}


def _backup_job(action: Literal["create", "restore"]) -> dict[str, Any]:
    return backup_job(
        identity(),
        name=f"wiki-{action}",
        action=action,
        owner={"apiVersion": "cloudron.io/v1alpha1", "kind": "CloudronBackup", "name": "b", "uid": "u"},
        image="cloudron-operator:0.1.0",
        app_env=[],
        app_env_from=[{"secretRef": {"name": "wiki-postgresql"}}],
        volumes=JobVolumes(data_claim=True, dirs_claim=False, sqlite_paths=()),
        store=StoreTarget("http://s3", "bucket", "", "us-east-1", "team/wiki/b/", "wiki-store", True),
        task_env={"CLOUDRON_BACKUP_RECORD": "{}"},
        addons=["postgresql"],
        beside_app=action == "create",
    )


def _chart_deployments() -> dict[str, dict[str, Any]]:
    objects = render(
        "cloudron",
        "cloudron-system",
        "--set",
        "login.publicURL=https://login.example.com",
        "--set",
        "login.hydraAdminURL=http://hydra:4445",
        "--set",
        "login.ldapURL=ldap://directory:389",
    )
    deployments = [obj for obj in objects if obj["kind"] == "Deployment"]
    return {obj["metadata"]["name"]: obj for obj in deployments}


def _workloads() -> dict[str, tuple[dict[str, Any], Level]]:
    """Each pod the operator makes, and the level it must pass."""
    tasks = {"cleanup": {"schedule": "@daily", "command": "/app/code/cleanup.sh"}}
    app = _app_children(addons={"localstorage": {}, "scheduler": tasks})
    redis = build_redis_children(
        identity(),
        RedisOptions.from_addon({}),
        secret_name="wiki-redis",
        password_key="CLOUDRON_REDIS_PASSWORD",
        password="x" * 32,
        app_memory=256 * 1024**2,
        running=True,
    )
    chart = _chart_deployments()
    return {
        "app": (_of_kind(app, "Deployment"), "baseline"),
        "app's scheduler task": (_of_kind(app, "CronJob"), "baseline"),
        "app behind proxyAuth": (
            _of_kind(_app_children(addons={"localstorage": {}, "proxyAuth": {}}), "Deployment"),
            "baseline",
        ),
        "app asking for ping": (_of_kind(_app_children(capabilities=["ping"]), "Deployment"), "privileged"),
        "app asking for net_admin": (
            _of_kind(_app_children(capabilities=["net_admin"]), "Deployment"),
            "privileged",
        ),
        "app asking for mlock": (_of_kind(_app_children(capabilities=["mlock"]), "Deployment"), "privileged"),
        "app's Redis": (_of_kind(redis, "Deployment"), "restricted"),
        "backup Job": (_backup_job("create"), "baseline"),
        "restore Job": (_backup_job("restore"), "baseline"),
        "the operator (chart)": (chart["cloudron-cloudron-operator"], "restricted"),
        "the login service (chart)": (chart["cloudron-cloudron-operator-login"], "restricted"),
    }


@pytest.fixture(scope="module")
def level_namespaces(api_client: client.ApiClient) -> Iterator[dict[Level, str]]:
    core = client.CoreV1Api(api_client)
    names: dict[Level, str] = {level: f"psa-{level}-{secrets.token_hex(3)}" for level in LEVELS}
    for level, name in names.items():
        labels = {ENFORCE: level, f"{ENFORCE}-version": "latest"}
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels)))
    yield names
    for name in names.values():
        core.delete_namespace(name)


def _refusal(api: client.ApiClient, namespace: str, pod_spec: dict[str, Any]) -> str | None:
    """None if the namespace admits the pod (a server-side dry run), else the API server's message."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"}, "spec": pod_spec}
    try:
        client.CoreV1Api(api).create_namespaced_pod(namespace, pod, dry_run="All")
    except ApiException as error:
        assert error.status == 403, error.body
        return str(error.body)
    return None


def test_each_pod_passes_its_level_and_no_stricter(
    api_client: client.ApiClient, level_namespaces: dict[Level, str]
) -> None:
    found: dict[str, Level | None] = {}
    refusals: dict[str, str] = {}
    for name, (workload, _) in _workloads().items():
        pod_spec = _pod_spec(workload)
        verdicts = {level: _refusal(api_client, level_namespaces[level], pod_spec) for level in LEVELS}
        found[name] = next((level for level in LEVELS if verdicts[level] is None), None)
        refusals[name] = verdicts["restricted"] or ""
    print("\n".join(f"{name}: {level}" for name, level in found.items()))  # the table of docs/reliability.md
    assert found == {name: level for name, (_, level) in _workloads().items()}
    for name in ("app", "app's scheduler task", "app behind proxyAuth"):
        assert all(rule in refusals[name] for rule in APP_RESTRICTED_RULES), refusals[name]
    for name in ("backup Job", "restore Job"):
        assert all(rule in refusals[name] for rule in BACKUP_RESTRICTED_RULES), refusals[name]


def test_the_suites_namespaces_enforce_baseline(api_client: client.ApiClient, namespace: str) -> None:
    labels = client.CoreV1Api(api_client).read_namespace(namespace).metadata.labels
    assert labels[ENFORCE] == "baseline"


def test_an_app_whose_pods_pod_security_refuses_says_so_and_runs_once_allowed(
    api_client: client.ApiClient, namespace: str, app_operator: OperatorProcess
) -> None:
    """An app asking for `ping` in a baseline namespace: the ReplicaSet cannot create its pod; the app
    says why in the API server's words (Stalled: someone must act), and runs once the namespace
    allows it."""
    manifest = {**BASE_MANIFEST, "capabilities": ["ping"]}
    app = {
        "apiVersion": "cloudron.io/v1alpha1",
        "kind": "CloudronApp",
        "metadata": {"name": "pinger", "namespace": namespace},
        "spec": {
            "image": "registry.example.com/pinger:1.0.0",
            "domain": "pinger.example.com",
            "manifest": manifest,
        },
    }
    k8s.create(api_client, app)

    def ready() -> dict[str, Any]:
        found = k8s.get(api_client, "cloudron.io/v1alpha1", "CloudronApp", namespace, "pinger")
        assert found is not None
        conditions = found.get("status", {}).get("conditions", [])
        return {c["type"]: c for c in conditions}

    wait_until(
        lambda: ready().get("Ready", {}).get("reason") == Reason.PODS_NOT_CREATED, 90, "PodsNotCreated"
    )
    conditions = ready()
    assert 'violates PodSecurity "baseline:latest"' in conditions["Ready"]["message"]
    assert '"NET_RAW"' in conditions["Ready"]["message"]
    assert conditions["Stalled"]["status"] == "True"

    client.CoreV1Api(api_client).patch_namespace(namespace, {"metadata": {"labels": {ENFORCE: "privileged"}}})
    wait_until(lambda: ready().get("Ready", {}).get("status") == "True", 120, "the app Ready once allowed")
    assert "Stalled" not in ready()
