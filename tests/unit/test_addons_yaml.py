"""The ready-to-apply files in addons/: their objects refer to each other correctly, and stay safe.

Each database Addon names the Secret its file's Job creates, the Secret its server reads, and the
Service its server answers on; each addon type has one default; images are pinned; every pod runs
non-root. The admin-password script runs here with a stand-in for curl; the integration test runs
it against a real API server.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudron_operator.addons.logins import DEFAULT_ADMIN_USERS
from cloudron_operator.builders.redis import DEFAULT_IMAGE, DEFAULT_STORAGE, RedisOptions
from cloudron_operator.handlers.apps import RETAIN_ANNOTATION
from cloudron_operator.models import API_VERSION, AddonSpec
from cloudron_operator.models.addon import DATABASE_TYPES
from tests.paths import REPO

pytestmark = pytest.mark.unit

ADDONS = REPO / "addons"
DOCS = REPO / "docs" / "addons.md"
Obj = dict[str, Any]

# The Secret key each server image takes its admin password from, by addon type.
PASSWORD_ENV = {"postgresql": "POSTGRES_PASSWORD", "mysql": "MARIADB_ROOT_PASSWORD"}
# Where the data directory is, below the claim's mount point, by addon type.
DATA_DIRECTORY = {"postgresql": "/var/lib/postgresql/data/pgdata", "mysql": "/var/lib/mysql/data"}
CLUSTER_SCOPED = {"Namespace", "Addon"}
PINNED_IMAGE = re.compile(r"^[a-z0-9.-]+\.[a-z]+/[a-z0-9._/-]+:v?\d[\w.-]*$")  # registry/name:1.2.3


def documents(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


FILES = {path.name: documents(path) for path in sorted(ADDONS.glob("*.yaml"))}
OBJECTS = [obj for objs in FILES.values() for obj in objs]
DATABASE_FILES = sorted(
    name
    for name, objs in FILES.items()
    if any(o["kind"] == "Addon" and o["spec"]["type"] in DATABASE_TYPES for o in objs)
)


def of_kind(objs: list[Obj], kind: str) -> list[Obj]:
    return [obj for obj in objs if obj["kind"] == kind]


def named(objs: list[Obj], kind: str, name: str) -> Obj:
    found = [obj for obj in of_kind(objs, kind) if obj["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def database_addon(file: str) -> Obj:
    (addon,) = of_kind(FILES[file], "Addon")
    return addon


def pod_templates() -> Iterator[tuple[str, Obj]]:
    for obj in OBJECTS:
        if obj["kind"] in ("StatefulSet", "Deployment", "Job", "DaemonSet"):
            yield f"{obj['kind']} {obj['metadata']['name']}", obj["spec"]["template"]["spec"]


def containers(pod: Obj) -> list[Obj]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def env_value(container: Obj, name: str) -> Any:
    (entry,) = [e for e in container.get("env", []) if e["name"] == name]
    return entry.get("value", entry.get("valueFrom"))


def generator_job(file: str) -> Obj:
    (job,) = of_kind(FILES[file], "Job")
    return job


def generator_container(file: str) -> Obj:
    containers: list[Obj] = generator_job(file)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


# ---- the files and their objects


def test_the_directory_holds_the_documented_files() -> None:
    assert set(FILES) == {
        "00-namespace.yaml",
        "postgresql.yaml",
        "mariadb.yaml",
        "redis.yaml",
        "openldap.yaml",
        "hydra.yaml",
    }
    docs = DOCS.read_text()
    for name in FILES:
        assert f"addons/{name}" in docs, f"docs/addons.md does not mention addons/{name}"
    # `kubectl apply -f addons/` goes in name order: the namespace must come first.
    assert sorted(FILES)[0] == "00-namespace.yaml"


def test_every_namespaced_object_names_a_namespace_the_directory_creates() -> None:
    """Without metadata.namespace, `kubectl apply -f` would put it in the current context's namespace."""
    created = {obj["metadata"]["name"] for obj in of_kind(FILES["00-namespace.yaml"], "Namespace")}
    assert created == {"cloudron-addons"}
    for obj in OBJECTS:
        where = f"{obj['kind']} {obj['metadata']['name']}"
        if obj["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in obj["metadata"], where
        else:
            assert obj["metadata"].get("namespace") in created, where


def test_the_namespace_enforces_the_restricted_pod_security_standard() -> None:
    (namespace,) = of_kind(FILES["00-namespace.yaml"], "Namespace")
    labels = namespace["metadata"]["labels"]
    for mode in ("enforce", "warn", "audit"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_no_password_is_committed() -> None:
    assert not of_kind(OBJECTS, "Secret"), "admin Secrets are generated in the cluster, never committed"
    for where, pod in pod_templates():
        for container in containers(pod):
            for entry in container.get("env", []):
                if "PASSWORD" in entry["name"]:
                    assert "value" not in entry, f"{where}: {entry['name']} is written in the file"


def test_every_addon_is_a_valid_spec() -> None:
    for addon in of_kind(OBJECTS, "Addon"):
        assert addon["apiVersion"] == API_VERSION
        AddonSpec.model_validate(addon["spec"])


def test_each_addon_type_has_exactly_one_default() -> None:
    addons = of_kind(OBJECTS, "Addon")
    names = Counter(a["metadata"]["name"] for a in addons)
    assert all(count == 1 for count in names.values()), names
    defaults = Counter(a["spec"]["type"] for a in addons if a["spec"].get("default") is True)
    assert defaults == Counter({"postgresql": 1, "mysql": 1, "redis": 1, "ldap": 1, "oidc": 1})
    assert {a["spec"]["type"] for a in addons} == set(defaults)


# ---- each database file: Addon -> Secret, Service, server


@pytest.mark.parametrize("file", DATABASE_FILES)
def test_the_admin_secret_ref_names_the_secret_the_files_job_creates(file: str) -> None:
    addon = database_addon(file)
    ref = addon["spec"]["connection"]["adminSecretRef"]
    job = generator_job(file)
    container = generator_container(file)

    assert "key" not in ref, "the Secret is read as kubernetes.io/basic-auth: username and password"
    assert job["metadata"]["namespace"] == ref["namespace"]
    assert env_value(container, "SECRET_NAME") == ref["name"]
    assert env_value(container, "ADMIN_USERNAME") == DEFAULT_ADMIN_USERS[addon["spec"]["type"]]


@pytest.mark.parametrize("file", DATABASE_FILES)
def test_the_server_takes_its_password_from_that_secret(file: str) -> None:
    addon = database_addon(file)
    ref = addon["spec"]["connection"]["adminSecretRef"]
    (server,) = of_kind(FILES[file], "StatefulSet")
    (container,) = server["spec"]["template"]["spec"]["containers"]

    assert server["metadata"]["namespace"] == ref["namespace"]
    password = env_value(container, PASSWORD_ENV[addon["spec"]["type"]])
    assert password == {"secretKeyRef": {"name": ref["name"], "key": "password"}}
    if addon["spec"]["type"] == "postgresql":
        assert env_value(container, "POSTGRES_USER") == {
            "secretKeyRef": {"name": ref["name"], "key": "username"}
        }


@pytest.mark.parametrize("file", DATABASE_FILES)
def test_the_connection_is_the_servers_cluster_ip_service(file: str) -> None:
    connection = database_addon(file)["spec"]["connection"]
    service_name, namespace, suffix = connection["host"].split(".", 2)
    service = named(FILES[file], "Service", service_name)
    (server,) = of_kind(FILES[file], "StatefulSet")
    pod = server["spec"]["template"]
    (container,) = pod["spec"]["containers"]

    assert suffix in ("svc", "svc.cluster.local")
    assert service["metadata"]["namespace"] == namespace
    assert service["spec"].get("clusterIP") != "None", "the Addon must name the ClusterIP Service"
    (port,) = [p for p in service["spec"]["ports"] if p["port"] == connection["port"]]
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container_ports[port["targetPort"]] == connection["port"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()


@pytest.mark.parametrize("file", DATABASE_FILES)
def test_the_server_keeps_its_data_on_a_claim_of_its_own(file: str) -> None:
    addon_type = database_addon(file)["spec"]["type"]
    (server,) = of_kind(FILES[file], "StatefulSet")
    spec = server["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    (claim,) = spec["volumeClaimTemplates"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == claim["metadata"]["name"]]
    headless = named(FILES[file], "Service", spec["serviceName"])

    assert headless["spec"]["clusterIP"] == "None"
    assert spec["replicas"] == 1
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    # The data directory is below the mount point, away from the filesystem's lost+found.
    data = DATA_DIRECTORY[addon_type]
    assert data.startswith(mount["mountPath"] + "/")
    if addon_type == "postgresql":
        assert env_value(container, "PGDATA") == data
    else:
        assert f"--datadir={data}" in container["args"]
        probe = container["readinessProbe"]["exec"]["command"]
        assert f"--defaults-extra-file={data}/.my-healthcheck.cnf" in probe
    assert "readinessProbe" in container
    assert {"requests", "limits"} <= container["resources"].keys()
    assert "memory" in container["resources"]["limits"]


# ---- every pod


def test_images_are_pinned() -> None:
    images = [(where, c["image"]) for where, pod in pod_templates() for c in containers(pod)]
    assert images
    for where, image in images:
        assert PINNED_IMAGE.match(image), f"{where}: {image} is not registry/name:version"
        assert "latest" not in image, f"{where}: {image}"


def test_containers_run_non_root_without_privileges() -> None:
    for where, pod in pod_templates():
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True, where
        assert security["runAsUser"] > 0, where
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for container in containers(pod):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert "runAsUser" not in context or context["runAsUser"] > 0, where


@pytest.mark.parametrize("file", DATABASE_FILES)
def test_database_servers_run_as_the_images_own_user(file: str) -> None:
    (server,) = of_kind(FILES[file], "StatefulSet")
    security = server["spec"]["template"]["spec"]["securityContext"]
    assert (security["runAsUser"], security["runAsGroup"], security["fsGroup"]) == (999, 999, 999)
    assert server["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


# ---- the admin-password Jobs


def test_the_generator_jobs_run_one_script() -> None:
    scripts = {generator_container(file)["command"][2] for file in DATABASE_FILES}
    assert len(scripts) == 1, "the Jobs' scripts differ: keep them the same"
    for file in DATABASE_FILES:
        assert generator_container(file)["command"][:2] == ["/bin/sh", "-c"]


def test_the_generator_may_only_create_secrets_in_its_namespace() -> None:
    setup = FILES["00-namespace.yaml"]
    for file in DATABASE_FILES:
        pod = generator_job(file)["spec"]["template"]["spec"]
        account = named(setup, "ServiceAccount", pod["serviceAccountName"])
        namespace = account["metadata"]["namespace"]
        bindings = [
            b
            for b in of_kind(setup, "RoleBinding")
            if {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": namespace}
            in b["subjects"]
        ]
        assert len(bindings) == 1
        assert bindings[0]["roleRef"]["kind"] == "Role"
        role = named(setup, "Role", bindings[0]["roleRef"]["name"])
        assert role["metadata"]["namespace"] == namespace
        assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}]
    assert not of_kind(OBJECTS, "ClusterRole")
    assert not of_kind(OBJECTS, "ClusterRoleBinding")


def test_the_operator_may_read_exactly_the_admin_secrets() -> None:
    """For an operator whose chart serves a list of namespaces: its ClusterRole reads no Secret here."""
    setup = FILES["00-namespace.yaml"]
    binding = named(setup, "RoleBinding", "cloudron-operator-admin-secrets")
    role = named(setup, "Role", binding["roleRef"]["name"])
    refs = [
        a["spec"]["connection"]["adminSecretRef"]
        for a in of_kind(OBJECTS, "Addon")
        if "adminSecretRef" in a["spec"].get("connection", {})
    ]

    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "cloudron-operator", "namespace": "cloudron-system"}
    ]
    assert {ref["namespace"] for ref in refs} == {role["metadata"]["namespace"]}
    (rule,) = role["rules"]
    assert (rule["apiGroups"], rule["resources"], rule["verbs"]) == ([""], ["secrets"], ["get"])
    assert sorted(rule["resourceNames"]) == sorted(ref["name"] for ref in refs)


FAKE_CURL = """#!{python}
# Stands in for curl: records the request, writes FAKE_BODY to --output, prints FAKE_STATUS.
import json, os, sys
args = sys.argv[1:]
headers = [open(v[1:]).read() for k, v in zip(args, args[1:]) if k == "--header" and v.startswith("@")]
output = args[args.index("--output") + 1]
with open(os.environ["FAKE_RECORD"], "w") as record:
    json.dump({{"args": args, "headers": headers, "body": sys.stdin.read()}}, record)
with open(output, "w") as out:
    out.write(os.environ["FAKE_BODY"])
sys.stdout.write(os.environ["FAKE_STATUS"])
"""


def run_script(
    file: str, tmp_path: Path, status: str, body: str = "{}"
) -> tuple[subprocess.CompletedProcess[str], Obj]:
    """Run the Job's script with a fake curl and service-account directory; its result and request."""
    container = generator_container(file)
    sa, work, bin_dir = tmp_path / "sa", tmp_path / "work", tmp_path / "bin"
    for directory in (sa, work, bin_dir):
        directory.mkdir(exist_ok=True)
    (sa / "token").write_text("the-token")
    (sa / "namespace").write_text("cloudron-addons")
    (sa / "ca.crt").write_text("a CA")
    curl = bin_dir / "curl"
    curl.write_text(FAKE_CURL.format(python=sys.executable))
    curl.chmod(0o755)
    script = container["command"][2]
    for variable, value in (("sa", sa), ("work", work)):
        line = re.compile(rf"^{variable}=\S+$", re.MULTILINE)
        assert len(line.findall(script)) == 1, f"the script sets {variable} once"
        script = line.sub(f"{variable}={value}", script)
    record = tmp_path / "request.json"
    env = {
        **{e["name"]: e["value"] for e in container["env"]},
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_RECORD": str(record),
        "FAKE_STATUS": status,
        "FAKE_BODY": body,
    }
    result = subprocess.run(
        ["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert not list(work.iterdir()), "the script leaves the token and the response behind"
    request: Obj = json.loads(record.read_text()) if record.exists() else {}
    return result, request


@pytest.mark.parametrize("file", DATABASE_FILES)
def test_the_script_creates_a_basic_auth_secret_with_a_random_password(file: str, tmp_path: Path) -> None:
    result, request = run_script(file, tmp_path, "201")
    ref = database_addon(file)["spec"]["connection"]["adminSecretRef"]
    secret = json.loads(request["body"])
    password = secret["stringData"]["password"]

    assert result.returncode == 0, result.stderr
    assert request["args"][-1] == "https://kubernetes.default.svc/api/v1/namespaces/cloudron-addons/secrets"
    assert request["headers"] == ["Authorization: Bearer the-token\n"]
    assert "the-token" not in " ".join(request["args"])
    assert secret["type"] == "kubernetes.io/basic-auth"
    assert secret["metadata"]["name"] == ref["name"]
    assert secret["stringData"]["username"] == env_value(generator_container(file), "ADMIN_USERNAME")
    assert re.fullmatch(r"[0-9a-f]{48}", password)
    assert password not in result.stdout + result.stderr
    assert "created Secret cloudron-addons/" + ref["name"] in result.stdout
    _, again = run_script(file, tmp_path, "201")
    assert json.loads(again["body"])["stringData"]["password"] != password


@pytest.mark.parametrize("file", DATABASE_FILES)
def test_the_script_leaves_a_secret_that_exists_alone(file: str, tmp_path: Path) -> None:
    result, _ = run_script(file, tmp_path, "409", body='{"reason": "AlreadyExists"}')
    assert result.returncode == 0, result.stderr
    assert "exists: left as it is" in result.stdout


@pytest.mark.parametrize("file", DATABASE_FILES)
def test_the_script_fails_and_says_why_on_any_other_answer(file: str, tmp_path: Path) -> None:
    result, _ = run_script(file, tmp_path, "403", body='{"reason": "Forbidden"}')
    assert result.returncode == 1
    assert "HTTP 403" in result.stderr
    assert '"reason": "Forbidden"' in result.stderr


# ---- redis and the docs


def test_the_redis_addon_names_no_server() -> None:
    (addon,) = of_kind(FILES["redis.yaml"], "Addon")
    assert addon["spec"] == {"type": "redis", "default": True}


def test_the_commented_redis_options_are_what_the_operator_reads() -> None:
    text = (ADDONS / "redis.yaml").read_text()
    block = re.search(r"^  # options:\n((?:  #   .*\n)+)", text, re.MULTILINE)
    assert block is not None, "redis.yaml shows its options in a comment"
    uncommented = "options:\n" + "".join(line.replace("#", "", 1) for line in block.group(1).splitlines(True))
    options = yaml.safe_load(uncommented)["options"]
    parsed = RedisOptions.from_addon(options)

    assert set(options) == {"image", "memoryLimit", "storageSize", "storageClassName"}
    assert parsed.image == DEFAULT_IMAGE
    assert parsed.storage_size == DEFAULT_STORAGE
    assert parsed.memory_limit == 256 * 1024**2
    AddonSpec.model_validate({"type": "redis", "default": True, "options": options})


def test_the_docs_show_the_retain_annotation_and_the_local_cluster_limit() -> None:
    docs = DOCS.read_text()
    assert f'{RETAIN_ANNOTATION}: "true"' in docs
    assert "kwok" in docs
