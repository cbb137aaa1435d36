"""The files in addons/ on a real API server, with the CRDs installed.

Every object is accepted by `kubectl apply --server-side --dry-run=server --warnings-as-errors` in
the namespace 00-namespace.yaml makes (so the restricted Pod Security Standard judges the pods),
and the admin-password Job's script, run here as the Job's ServiceAccount, creates the Secret the
operator reads. kwok runs no container, so no database server actually starts here.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from cloudron_operator.addons.base import AddonRecord
from cloudron_operator.addons.logins import AdminSecrets, server_access
from tests.harness.cluster import LocalCluster
from tests.harness.localenv import LocalEnv
from tests.harness.processes import HarnessError
from tests.paths import REPO

pytestmark = pytest.mark.integration

ADDONS = REPO / "addons"
FILES = sorted(ADDONS.glob("*.yaml"))
DATABASE_FILES = ["postgresql.yaml", "mariadb.yaml"]
Obj = dict[str, Any]


def documents(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def key(obj: Obj) -> tuple[str, str, str]:
    return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def dry_run(kube: LocalCluster, *args: str, stdin: str | None = None) -> str:
    """`kubectl apply` as the docs say, stored nowhere; a warning (e.g. from PodSecurity) fails it."""
    return kube.kubectl(
        "--warnings-as-errors", "apply", "--server-side", "--dry-run=server", *args, stdin=stdin
    )


def assert_kept(expected: Any, actual: Any, where: str) -> None:
    """Every field of `expected` is in `actual` with its value: the server dropped or changed nothing."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        for name, value in expected.items():
            assert name in actual, f"{where}.{name} was dropped"
            assert_kept(value, actual[name], f"{where}.{name}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), where
        assert len(actual) == len(expected), where
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            assert_kept(want, got, f"{where}[{index}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


@pytest.fixture(scope="module")
def kube(cluster: LocalEnv, installed_crds: None) -> Iterator[LocalCluster]:
    """The cluster with the namespaces addons/ defines, created for real from the files.

    A dry-run create in a namespace that does not exist fails, and the namespace's labels are what
    make the API server judge the pods by the restricted Pod Security Standard.
    """
    kube = cluster.cluster
    namespaces = [obj for path in FILES for obj in documents(path) if obj["kind"] == "Namespace"]
    assert namespaces
    for namespace in namespaces:
        kube.kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(namespace))
    yield kube
    for namespace in namespaces:
        kube.kubectl(
            "delete", "namespace", namespace["metadata"]["name"], "--ignore-not-found", "--wait=false"
        )


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_every_object_is_accepted_as_written(kube: LocalCluster, path: Path) -> None:
    objects = documents(path)
    answer = json.loads(dry_run(kube, "-f", str(path), "-o", "json"))
    applied = answer["items"] if answer["kind"] == "List" else [answer]

    assert [key(obj) for obj in applied] == [key(obj) for obj in objects]
    for want, got in zip(objects, applied, strict=True):
        assert_kept(want, got, "/".join(key(want)))


def test_the_whole_directory_applies_as_the_docs_say(kube: LocalCluster) -> None:
    names = dry_run(kube, "-f", str(ADDONS), "-o", "name").split()
    expected = [obj for path in FILES for obj in documents(path)]

    assert len(names) == len(expected)
    assert {name.split("/", 1)[1] for name in names} == {obj["metadata"]["name"] for obj in expected}


def test_a_pod_that_breaks_the_restricted_standard_is_refused(kube: LocalCluster) -> None:
    """The control for the test above: without the containers' security context, the apply fails."""
    (server,) = [obj for obj in documents(ADDONS / "postgresql.yaml") if obj["kind"] == "StatefulSet"]
    for container in server["spec"]["template"]["spec"]["containers"]:
        del container["securityContext"]

    with pytest.raises(HarnessError, match=r'would violate PodSecurity "restricted'):
        dry_run(kube, "-f", "-", stdin=yaml.safe_dump(server))


@pytest.fixture
def service_account_dir(kube: LocalCluster, tmp_path: Path) -> Path:
    """What the Job's pod finds under /var/run/secrets/kubernetes.io/serviceaccount, for real.

    00-namespace.yaml is applied for real, so the token is the generator's own, with its rights.
    """
    kube.kubectl("apply", "--server-side", "-f", str(ADDONS / "00-namespace.yaml"))
    (account,) = [o for o in documents(ADDONS / "00-namespace.yaml") if o["kind"] == "ServiceAccount"]
    name, namespace = account["metadata"]["name"], account["metadata"]["namespace"]
    directory = tmp_path / "serviceaccount"
    directory.mkdir()
    token = kube.kubectl("create", "token", name, "--namespace", namespace, "--duration=10m").strip()
    (directory / "token").write_text(token)
    (directory / "namespace").write_text(namespace)
    cluster_entry = yaml.safe_load(kube.kubeconfig.read_text())["clusters"][0]["cluster"]
    if "certificate-authority-data" in cluster_entry:
        (directory / "ca.crt").write_bytes(base64.b64decode(cluster_entry["certificate-authority-data"]))
    else:
        (directory / "ca.crt").write_text(Path(cluster_entry["certificate-authority"]).read_text())
    (directory / "server").write_text(cluster_entry["server"])
    return directory


def run_generator(job: Obj, service_account: Path, work: Path) -> subprocess.CompletedProcess[str]:
    """The Job's script, outside a container: the API server's address and the pod's paths replaced."""
    (container,) = job["spec"]["template"]["spec"]["containers"]
    script = container["command"][2]
    work.mkdir(exist_ok=True)
    server = (service_account / "server").read_text()
    for variable, value in (("api", server), ("sa", str(service_account)), ("work", str(work))):
        line = re.compile(rf"^{variable}=\S+$", re.MULTILINE)
        assert len(line.findall(script)) == 1, f"the script sets {variable} once"
        script = line.sub(f"{variable}={value}", script)
    env = {"PATH": "/usr/bin:/bin", **{e["name"]: e["value"] for e in container["env"]}}
    return subprocess.run(
        ["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("file", DATABASE_FILES)
def test_the_job_creates_the_secret_the_operator_reads_once(
    kube: LocalCluster, api_client: client.ApiClient, service_account_dir: Path, tmp_path: Path, file: str
) -> None:
    objects = documents(ADDONS / file)
    (job,) = [obj for obj in objects if obj["kind"] == "Job"]
    (addon,) = [obj for obj in objects if obj["kind"] == "Addon"]
    ref = addon["spec"]["connection"]["adminSecretRef"]
    core = client.CoreV1Api(api_client)

    first = run_generator(job, service_account_dir, tmp_path / "work")
    assert first.returncode == 0, first.stderr
    assert f"created Secret {ref['namespace']}/{ref['name']}" in first.stdout
    try:
        secret = core.read_namespaced_secret(ref["name"], ref["namespace"])
        password = base64.b64decode(secret.data["password"]).decode()
        access = server_access(
            AdminSecrets.from_api(api_client),
            AddonRecord.from_object(addon["metadata"]["name"], addon["spec"]),
        )

        assert secret.type == "kubernetes.io/basic-auth"
        assert re.fullmatch(r"[0-9a-f]{48}", password)
        assert password not in first.stdout + first.stderr
        assert (access.host, access.port) == (
            addon["spec"]["connection"]["host"],
            addon["spec"]["connection"]["port"],
        )
        assert (access.username, access.password) == (
            {"postgresql": "postgres", "mysql": "root"}[addon["spec"]["type"]],
            password,
        )

        second = run_generator(job, service_account_dir, tmp_path / "work")
        assert second.returncode == 0, second.stderr
        assert "exists: left as it is" in second.stdout
        again = core.read_namespaced_secret(ref["name"], ref["namespace"])
        assert again.data == secret.data
        assert again.metadata.resource_version == secret.metadata.resource_version
    finally:
        core.delete_namespaced_secret(ref["name"], ref["namespace"])


def can_i(kube: LocalCluster, account: str, verb: str, resource: str) -> bool:
    """`kubectl auth can-i` as `account` in cloudron-addons: the API server's own RBAC answer."""
    try:
        kube.kubectl("auth", "can-i", verb, resource, "--namespace", "cloudron-addons", "--as", account)
    except HarnessError as error:  # can-i exits 1 for "no"
        assert str(error).split(":\n", 1)[-1].startswith("no"), error
        return False
    return True


def test_the_service_accounts_may_do_what_the_files_need_and_no_more(kube: LocalCluster) -> None:
    kube.kubectl("apply", "--server-side", "-f", str(ADDONS / "00-namespace.yaml"))
    generator = "system:serviceaccount:cloudron-addons:admin-secret-generator"
    operator = "system:serviceaccount:cloudron-system:cloudron-operator"

    assert can_i(kube, generator, "create", "secrets")
    for verb in ("get", "list", "patch", "delete"):
        assert not can_i(kube, generator, verb, "secrets/postgresql-admin")
    assert can_i(kube, operator, "get", "secrets/postgresql-admin")
    assert can_i(kube, operator, "get", "secrets/mariadb-admin")
    assert not can_i(kube, operator, "get", "secrets/something-else")
    assert not can_i(kube, operator, "list", "secrets")
    assert not can_i(kube, operator, "patch", "secrets/postgresql-admin")
