"""The harness is real: each test here would fail against a mock API server or a fake database."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import psycopg2
import pymysql
import pytest
import redis
from botocore.exceptions import ClientError
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.harness.binaries import pinned_versions
from tests.harness.databases import DatabaseServer, server_version
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import wait_until
from tests.harness.s3 import S3Server, s3_client

WAIT = 60.0


def test_server_reports_the_pinned_version(api_client: client.ApiClient) -> None:
    info = client.VersionApi(api_client).get_code()
    assert info.git_version == pinned_versions()["KUBE_VERSION"]


def test_deployment_becomes_available_with_ready_pods_on_kwok_nodes(
    api_client: client.ApiClient, namespace: str
) -> None:
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    labels = {"app": "web"}
    apps.create_namespaced_deployment(
        namespace,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1DeploymentSpec(
                replicas=2,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="nginx:1.27")]),
                ),
            ),
        ),
    )

    def available() -> bool:
        status = apps.read_namespaced_deployment_status("web", namespace).status
        return any(c.type == "Available" and c.status == "True" for c in status.conditions or []) and (
            status.ready_replicas == 2
        )

    wait_until(available, WAIT, "deployment web to become Available")
    kwok_nodes = {
        n.metadata.name
        for n in core.list_node().items
        if (n.metadata.annotations or {}).get("kwok.x-k8s.io/node") == "fake"
    }
    pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 2
    for pod in pods:
        assert pod.spec.node_name in kwok_nodes, "the scheduler bound the pod to a kwok node"
        assert pod.status.phase == "Running"
        assert any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions)


def test_deleting_an_owner_garbage_collects_its_dependent(
    api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"))
    )
    reference = client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid, block_owner_deletion=True
    )
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="dependent", owner_references=[reference])),
    )
    core.delete_namespaced_config_map("owner", namespace)

    def dependent_gone() -> bool:
        return not any(
            cm.metadata.name == "dependent" for cm in core.list_namespaced_config_map(namespace).items
        )

    wait_until(dependent_gone, WAIT, "the garbage collector to delete the dependent")


def test_crd_with_structural_schema_rejects_an_invalid_object(
    api_client: client.ApiClient, namespace: str
) -> None:
    group = f"harness{secrets.token_hex(3)}.example.com"
    extensions = client.ApiextensionsV1Api(api_client)
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["size"],
                                    "properties": {"size": {"type": "integer", "minimum": 1}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    extensions.create_custom_resource_definition(crd)
    try:
        objects = client.CustomObjectsApi(api_client)

        def established() -> bool:
            status = extensions.read_custom_resource_definition(f"widgets.{group}").status
            return any(c.type == "Established" and c.status == "True" for c in status.conditions or [])

        wait_until(established, WAIT, "the CRD to be Established")
        widget = {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "ok"},
            "spec": {"size": 3},
        }
        _create_when_served(
            lambda: objects.create_namespaced_custom_object(group, "v1", namespace, "widgets", widget)
        )
        bad = {**widget, "metadata": {"name": "bad"}, "spec": {"size": "three"}}
        with pytest.raises(ApiException) as rejected:
            objects.create_namespaced_custom_object(group, "v1", namespace, "widgets", bad)
        assert rejected.value.status == 422
        assert "spec.size" in str(rejected.value.body)
    finally:
        extensions.delete_custom_resource_definition(f"widgets.{group}")


def _create_when_served(create: Callable[[], object]) -> None:
    """A new CRD's endpoint can answer 404 for a moment after Established; retry only that."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            create()
            return
        except ApiException as error:
            if error.status != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_service_account_without_a_role_is_forbidden_and_with_one_is_allowed(
    api_client: client.ApiClient,
    namespace: str,
    service_account_client: Callable[[str, str], client.ApiClient],
) -> None:
    as_robot = client.CoreV1Api(service_account_client(namespace, "robot"))
    with pytest.raises(ApiException) as forbidden:
        as_robot.list_namespaced_config_map(namespace)
    assert forbidden.value.status == 403

    rbac = client.RbacAuthorizationV1Api(api_client)
    rbac.create_namespaced_role(
        namespace,
        client.V1Role(
            metadata=client.V1ObjectMeta(name="read-configmaps"),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["list"])],
        ),
    )
    rbac.create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="robot-reads-configmaps"),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="Role", name="read-configmaps"
            ),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="robot", namespace=namespace)],
        ),
    )
    wait_until(
        lambda: as_robot.list_namespaced_config_map(namespace) is not None, WAIT, "the Role to take effect"
    )
    with pytest.raises(ApiException) as still_forbidden:
        as_robot.list_namespaced_secret(namespace)
    assert still_forbidden.value.status == 403


def test_namespace_deletion_completes(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    name = f"t-doomed-{secrets.token_hex(3)}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    core.create_namespaced_config_map(name, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="content")))
    core.delete_namespace(name)

    def gone() -> bool:
        return name not in {ns.metadata.name for ns in core.list_namespace().items}

    wait_until(gone, WAIT, f"namespace {name} to be deleted")


def test_postgresql_accepts_a_login_and_a_query(postgres_server: DatabaseServer) -> None:
    assert int(server_version(postgres_server).split(".")[0]) >= 15
    with (
        psycopg2.connect(
            host=postgres_server.host,
            port=postgres_server.port,
            user=postgres_server.admin_user,
            password=postgres_server.admin_password,
            dbname="postgres",
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT 6 * 7")
        assert cur.fetchone() == (42,)
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(
            host=postgres_server.host,
            port=postgres_server.port,
            user="postgres",
            password="wrong",
            dbname="postgres",
        )


def test_mariadb_accepts_a_login_and_a_query(mariadb_server: DatabaseServer) -> None:
    major, minor = (int(part) for part in server_version(mariadb_server).split(".")[:2])
    assert (major, minor) >= (10, 11)
    conn = pymysql.connect(
        host=mariadb_server.host,
        port=mariadb_server.port,
        user=mariadb_server.admin_user,
        password=mariadb_server.admin_password,
    )
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 6 * 7")
            assert cur.fetchone() == (42,)
    finally:
        conn.close()
    with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
        pymysql.connect(host=mariadb_server.host, port=mariadb_server.port, user="admin", password="wrong")


def test_redis_accepts_a_login_and_a_query(redis_server: DatabaseServer) -> None:
    assert int(server_version(redis_server).split(".")[0]) >= 7
    authed = redis.Redis(host=redis_server.host, port=redis_server.port, password=redis_server.admin_password)
    try:
        authed.set("answer", "42")
        assert authed.get("answer") == b"42"
    finally:
        authed.close()
    anonymous = redis.Redis(host=redis_server.host, port=redis_server.port)
    try:
        with pytest.raises(redis.exceptions.AuthenticationError):
            anonymous.get("answer")
    finally:
        anonymous.close()


def test_operator_runs_against_the_cluster_and_survives_sigkill(operator: OperatorProcess) -> None:
    first_pid = operator.pid
    operator.kill()
    assert not operator.is_running()
    operator.start()
    assert operator.pid != first_pid
    assert operator.is_running()


def test_s3_server_stores_and_returns_an_object(s3_server: S3Server, s3_bucket: str) -> None:
    s3 = s3_client(s3_server)
    assert s3.list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0
    body = secrets.token_bytes(4096)
    s3.put_object(Bucket=s3_bucket, Key="backups/app/data.tar", Body=body)
    assert s3.get_object(Bucket=s3_bucket, Key="backups/app/data.tar")["Body"].read() == body
    listed = s3.list_objects_v2(Bucket=s3_bucket, Prefix="backups/")["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("backups/app/data.tar", len(body))]


def test_s3_server_refuses_a_wrong_secret_key(s3_server: S3Server, s3_bucket: str) -> None:
    intruder = s3_client(s3_server, secret_key="wrong-" + secrets.token_urlsafe(24))
    with pytest.raises(ClientError) as refused:
        intruder.put_object(Bucket=s3_bucket, Key="intruder", Body=b"x")
    assert refused.value.response["Error"]["Code"] in {"SignatureDoesNotMatch", "AccessDenied"}
    assert "Contents" not in s3_client(s3_server).list_objects_v2(Bucket=s3_bucket)
