"""The chart's RBAC is enough, and no more: the operator runs as the chart's ServiceAccount (a real
token from the TokenRequest API) with the chart's Roles for one watched namespace, takes an app
through its whole life and checks Addons, and is refused what it has no business doing. The users'
roles the chart aggregates into Kubernetes' own give a namespace's users its apps, and no more."""

from __future__ import annotations

import re
import secrets
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from cloudron_operator.builders.secrets import secret_values
from cloudron_operator.k8s import api as k8s
from cloudron_operator.models import GROUP
from tests.harness import gateway_api
from tests.harness.cert_manager import LOCAL_CA_ISSUER
from tests.harness.databases import DatabaseServer
from tests.harness.ldap import ADMIN_DN as LDAP_ADMIN_DN
from tests.harness.ldap import LdapServer, start_ldap_server
from tests.harness.localenv import LocalEnv
from tests.harness.login_service import LoginService
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import free_port, wait_until
from tests.integration.apps_support import WAIT, condition, example, wait_until_ready
from tests.integration.chart_support import (
    install_chart_crds,
    installed,
    operator_env,
    render,
    service_account_kubeconfig,
)
from tests.integration.plugin_support import kubectl_cloudron

ADDON = ("cloudron.io/v1alpha1", "Addon")
APP = ("cloudron.io/v1alpha1", "CloudronApp")
# What in a line of the operator's log would mean the chart forgot a permission. A line is read
# without its leading timestamp, whose milliseconds can be 403.
FORBIDDEN_MARKERS = ("403", "Forbidden", "forbidden", "Not enough permissions")
LOG_TIMESTAMP = re.compile(r"^\[[^\]]*\]")


@pytest.fixture(scope="module")
def chart_crds(cluster: LocalEnv) -> None:
    install_chart_crds(cluster)


def _new_namespace(api: client.ApiClient, name: str) -> str:
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


@pytest.fixture
def operator_namespace(api_client: client.ApiClient, namespace: str) -> Iterator[str]:
    """Where the chart is installed: the operator's ServiceAccount and the Addons' admin Secrets."""
    yield _new_namespace(api_client, f"{namespace}-sys")
    client.CoreV1Api(api_client).delete_namespace(f"{namespace}-sys")


@pytest.fixture
def unwatched(api_client: client.ApiClient, namespace: str) -> Iterator[str]:
    """A namespace the operator does not serve, with a Secret in it."""
    name = _new_namespace(api_client, f"{namespace}-other")
    client.CoreV1Api(api_client).create_namespaced_secret(
        name,
        client.V1Secret(metadata=client.V1ObjectMeta(name="private"), string_data={"password": "not-yours"}),
    )
    yield name
    client.CoreV1Api(api_client).delete_namespace(name)


@pytest.fixture
def chart_operator(
    request: pytest.FixtureRequest,
    *,
    chart_crds: None,
    installed_crds: None,
    cluster: LocalEnv,
    api_client: client.ApiClient,
    namespace: str,
    operator_namespace: str,
    tmp_path: Path,
) -> Iterator[tuple[OperatorProcess, client.ApiClient]]:
    """The chart installed for the test's namespace (all but the Deployment), and the operator run as
    the Deployment would run it: its environment, its ServiceAccount. Yields the process and a client
    authenticated as that ServiceAccount. An indirect parameter: more values for the chart."""
    release = f"rbac-{secrets.token_hex(3)}"
    objects = render(
        release,
        operator_namespace,
        "--set", f"watchNamespaces={{{namespace}}}",
        "--set", f"clusterIssuer={LOCAL_CA_ISSUER}",  # the local cluster's CA: no ACME server here
        "--set", f"users.namespace={namespace}-users",  # made and removed with the chart's objects
        *getattr(request, "param", ()),
    )  # fmt: skip
    with installed(cluster, objects):
        kubeconfig = service_account_kubeconfig(
            api_client, operator_namespace, f"{release}-cloudron-operator", tmp_path / "operator.kubeconfig"
        )
        env = {**operator_env(objects), "CLOUDRON_OPERATOR_RESYNC_SECONDS": "3"}
        process = OperatorProcess(kubeconfig, tmp_path / "operator.log", env=env)
        process.start()
        operator_api = config.new_client_from_config(config_file=str(kubeconfig))
        try:
            yield process, operator_api
        finally:
            operator_api.close()
            process.stop()
    forbidden = [
        line
        for line in process.log.read_text(errors="replace").splitlines()
        if any(marker in LOG_TIMESTAMP.sub("", line) for marker in FORBIDDEN_MARKERS)
    ]
    assert not forbidden, "the operator was refused something:\n" + "\n".join(forbidden[:20])


CHILDREN = (
    ("apps/v1", "Deployment", "znc"),
    ("v1", "Service", "znc"),
    ("v1", "Service", "znc-ports"),
    ("networking.k8s.io/v1", "Ingress", "znc"),
    ("networking.k8s.io/v1", "NetworkPolicy", "znc"),
    ("v1", "PersistentVolumeClaim", "znc-data"),
    ("cert-manager.io/v1", "Certificate", "znc-tls"),
)


def test_an_app_lives_and_dies_under_the_charts_rbac(
    api_client: client.ApiClient,
    namespace: str,
    chart_operator: tuple[OperatorProcess, client.ApiClient],
    data_volume: None,
) -> None:
    k8s.create(api_client, example("znc", namespace))
    wait_until(
        lambda: all(k8s.get(api_client, v, k, namespace, n) is not None for v, k, n in CHILDREN),
        WAIT,
        "the operator, as its ServiceAccount, to create every child",
    )
    wait_until_ready(api_client, namespace, "znc", "znc-tls")
    events = k8s.list_objects(api_client, "v1", "Event", namespace)
    assert any(e.get("reason") == "Created" for e in events), "the operator posted Events"

    k8s.delete(api_client, "cloudron.io/v1alpha1", "CloudronApp", namespace, "znc")
    wait_until(
        lambda: k8s.get(api_client, "cloudron.io/v1alpha1", "CloudronApp", namespace, "znc") is None,
        WAIT,
        "the operator to release its finalizer and the app to go",
    )
    wait_until(
        lambda: all(k8s.get(api_client, v, k, namespace, n) is None for v, k, n in CHILDREN),
        WAIT,
        "garbage collection of the children",
    )


GATEWAY_VALUES = ("--set", "routing=gateway", "--set", "gateway.parent=nowhere/absent")


@pytest.mark.parametrize("chart_operator", [GATEWAY_VALUES], indirect=True, ids=["gateway"])
def test_a_routed_app_lives_and_dies_under_the_charts_rbac(
    cluster: LocalEnv,
    api_client: client.ApiClient,
    namespace: str,
    chart_operator: tuple[OperatorProcess, client.ApiClient],
) -> None:
    """routing=gateway: the operator writes the app's HTTPRoute and ListenerSet and watches the shared
    Gateway (here a missing one, which the app's status names) with the chart's rights only."""
    gateway_api.install_crds(cluster.cluster)
    manifest = {"manifestVersion": 2, "version": "1.0.0", "httpPort": 8000, "healthCheckPath": "/"}
    spec = {"image": "registry.example.com/notes:1.0.0", "domain": "notes.example.com", "manifest": manifest}
    metadata = {"name": "notes", "namespace": namespace}
    k8s.create(api_client, {"apiVersion": APP[0], "kind": APP[1], "metadata": metadata, "spec": spec})
    children = (("HTTPRoute", "notes"), ("ListenerSet", "notes"))
    wait_until(
        lambda: all(
            k8s.get(api_client, gateway_api.API_VERSION, k, namespace, n) is not None for k, n in children
        ),
        WAIT,
        "the operator, as its ServiceAccount, to create the route and its listeners",
    )
    wait_until(
        lambda: (
            "Gateway nowhere/absent does not exist"
            in condition(k8s.get(api_client, *APP, namespace, "notes") or {}, "Routed").get("message", "")
        ),
        WAIT,
        "Routed to name the missing Gateway",
    )
    k8s.delete(api_client, *APP, namespace, "notes")
    wait_until(lambda: k8s.get(api_client, *APP, namespace, "notes") is None, WAIT, "the app to go")


def _allowed(api: client.ApiClient, verb: str, resource: str, namespace: str = "", group: str = "") -> bool:
    resource, _, subresource = resource.partition("/")
    review = client.AuthorizationV1Api(api).create_self_subject_access_review(
        client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    verb=verb,
                    group=group,
                    resource=resource,
                    subresource=subresource or None,
                    namespace=namespace or None,
                )
            )
        )
    )
    return bool(review.status.allowed)


def test_the_operator_may_do_its_job_and_nothing_else(
    namespace: str,
    operator_namespace: str,
    unwatched: str,
    chart_operator: tuple[OperatorProcess, client.ApiClient],
) -> None:
    _, api = chart_operator
    may = {
        # (verb, resource, namespace, group)
        ("patch", "deployments", namespace, "apps"),
        ("watch", "cronjobs", namespace, "batch"),
        ("create", "secrets", namespace, ""),
        ("delete", "ingresses", namespace, "networking.k8s.io"),
        ("patch", "cloudronapps/status", namespace, "cloudron.io"),
        ("watch", "addons", "", "cloudron.io"),
        ("patch", "addons/status", "", "cloudron.io"),
        ("get", "secrets", operator_namespace, ""),  # the Addons' admin Secrets
    }
    may_not = {
        ("get", "secrets", unwatched, ""),
        ("list", "secrets", "", ""),  # every namespace
        ("list", "secrets", operator_namespace, ""),  # only named Secrets there, no listing
        ("create", "deployments", unwatched, "apps"),
        ("get", "cloudronapps", unwatched, "cloudron.io"),
        ("create", "clusterroles", "", "rbac.authorization.k8s.io"),
        ("create", "rolebindings", namespace, "rbac.authorization.k8s.io"),
        ("escalate", "roles", namespace, "rbac.authorization.k8s.io"),
        ("bind", "clusterroles", "", "rbac.authorization.k8s.io"),
        ("impersonate", "serviceaccounts", namespace, ""),
        ("create", "pods", namespace, ""),
        ("create", "pods/exec", namespace, ""),
        ("get", "namespaces", namespace, ""),
        ("delete", "customresourcedefinitions", "", "apiextensions.k8s.io"),
        ("create", "addons", "", "cloudron.io"),
        ("delete", "addons", "", "cloudron.io"),
    }
    assert {check for check in may if not _allowed(api, *check)} == set()
    assert {check for check in may_not if _allowed(api, *check)} == set()

    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(api).read_namespaced_secret("private", unwatched)
    assert refused.value.status == 403


def _addon(name: str, server: DatabaseServer, secret_namespace: str) -> dict[str, Any]:
    connection = {
        "host": server.host,
        "port": server.port,
        "adminSecretRef": {"name": f"{name}-admin", "namespace": secret_namespace},
    }
    return {
        "apiVersion": ADDON[0],
        "kind": "Addon",
        "metadata": {"name": name},
        "spec": {"type": "postgresql", "default": False, "connection": connection},
    }


def _admin_secret(name: str, namespace: str, server: DatabaseServer) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"{name}-admin", "namespace": namespace},
        "stringData": {"username": server.admin_user, "password": server.admin_password},
    }


def test_addons_read_their_admin_secret_only_from_the_operators_namespace(
    api_client: client.ApiClient,
    operator_namespace: str,
    unwatched: str,
    postgres_server: DatabaseServer,
    chart_operator: tuple[OperatorProcess, client.ApiClient],
) -> None:
    suffix = secrets.token_hex(3)
    usable, out_of_reach = f"pg-rbac-{suffix}", f"pg-elsewhere-{suffix}"
    k8s.create(api_client, _admin_secret(usable, operator_namespace, postgres_server))
    k8s.create(api_client, _admin_secret(out_of_reach, unwatched, postgres_server))
    try:
        k8s.create(api_client, _addon(usable, postgres_server, operator_namespace))
        k8s.create(api_client, _addon(out_of_reach, postgres_server, unwatched))

        def ready(name: str) -> dict[str, Any]:
            addon = k8s.get(api_client, *ADDON, None, name) or {}
            return condition(addon, "Ready")

        wait_until(lambda: ready(usable).get("status") == "True", WAIT, f"Addon {usable} to become Ready")
        wait_until(
            lambda: ready(out_of_reach).get("status") == "False", WAIT, f"Addon {out_of_reach} to fail"
        )
        assert "may not read" in ready(out_of_reach)["message"]
    finally:
        for name in (usable, out_of_reach):
            k8s.delete(api_client, *ADDON, None, name)


def test_the_login_service_does_its_job_under_the_charts_rbac(
    api_client: client.ApiClient,
    *,
    chart_crds: None,
    installed_crds: None,
    cluster: LocalEnv,
    namespace: str,
    operator_namespace: str,
    tmp_path: Path,
) -> None:
    """The operator makes a new user's invite and the login service, as its own ServiceAccount, takes
    it, sets her password, signs her in and shows her apps: neither is refused anything."""
    ldap = start_ldap_server(tmp_path / "slapd")
    release = f"login-{secrets.token_hex(3)}"
    users = f"{namespace}-users"
    login_port = free_port()
    objects = render(
        release,
        operator_namespace,
        "--set", f"watchNamespaces={{{namespace}}}",
        "--set", f"users.namespace={users}",
        "--set", f"login.publicURL=https://login-{release}.example.com",
        "--set", "login.hydraAdminURL=http://127.0.0.1:9",  # no provider needed for invites
        "--set", f"login.ldapURL={ldap.url}",
    )  # fmt: skip
    try:
        with installed(cluster, objects):
            kubeconfigs = {
                who: service_account_kubeconfig(
                    api_client, operator_namespace, account, tmp_path / f"{who}.kubeconfig"
                )
                for who, account in (
                    ("operator", f"{release}-cloudron-operator"),
                    ("login", f"{release}-cloudron-operator-login"),
                )
            }
            env = {**operator_env(objects), "CLOUDRON_OPERATOR_RESYNC_SECONDS": "3"}
            operator = OperatorProcess(kubeconfigs["operator"], tmp_path / "operator.log", env=env)
            login = LoginService(
                kubeconfigs["login"], tmp_path / "login.log", ldap.url, users, port=login_port
            )
            login.hydra_admin_url = "http://127.0.0.1:9"
            operator.start()
            login.start()
            try:
                _sign_up_through_an_invite(api_client, ldap, operator_namespace, users, login)
            finally:
                login.stop()
                operator.stop()
    finally:
        ldap.stop()
    for process_log in (tmp_path / "operator.log", tmp_path / "login.log"):
        refused = [
            line
            for line in process_log.read_text(errors="replace").splitlines()
            if any(marker in LOG_TIMESTAMP.sub("", line) for marker in FORBIDDEN_MARKERS)
        ]
        assert not refused, f"{process_log.name}: refused something:\n" + "\n".join(refused[:20])


def _sign_up_through_an_invite(
    api: client.ApiClient, ldap: LdapServer, secrets_namespace: str, users: str, login: LoginService
) -> None:
    tag = secrets.token_hex(3)
    k8s.create(
        api,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/basic-auth",
            "metadata": {"name": f"ldap-{tag}", "namespace": secrets_namespace},
            "stringData": {"username": LDAP_ADMIN_DN, "password": ldap.admin_password},
        },
    )
    ref = {"name": f"ldap-{tag}", "namespace": secrets_namespace}
    addon = {"type": "ldap", "connection": {"host": ldap.host, "port": ldap.port, "adminSecretRef": ref}}
    k8s.create(
        api, {"apiVersion": ADDON[0], "kind": "Addon", "metadata": {"name": f"ldap-{tag}"}, "spec": addon}
    )
    username = f"dana-{tag}"
    user = {"username": username, "email": f"{username}@example.com"}
    k8s.create(
        api, {"apiVersion": ADDON[0], "kind": "CloudronUser", "metadata": {"name": username}, "spec": user}
    )
    try:
        invite = f"cloudron-invite-{username}"
        wait_until(lambda: k8s.get(api, "v1", "Secret", users, invite) is not None, WAIT, "the invite")
        link = secret_values(k8s.get(api, "v1", "Secret", users, invite) or {})["link"]
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link).query))
        session = requests.Session()
        form = session.get(f"{login.url}/invite", params=query, timeout=10)
        assert form.status_code == 200, form.text
        password = "danas-first-password"
        data = {**query, "csrf": session.cookies.get("cloudron-csrf"), "new": password, "again": password}
        assert session.post(f"{login.url}/invite", data=data, timeout=10).status_code == 200
        wait_until(lambda: k8s.get(api, "v1", "Secret", users, invite) is None, WAIT, "the used invite gone")

        def signs_in() -> bool:
            fresh = requests.Session()
            fresh.get(f"{login.url}/login", timeout=10)
            answer = fresh.post(
                f"{login.url}/login",
                data={"csrf": fresh.cookies.get("cloudron-csrf"), "login": username, "password": password},
                allow_redirects=False,
                timeout=10,
            )
            return answer.status_code == 303 and answer.headers["Location"] == "/account"

        wait_until(signs_in, WAIT, "dana signs in with the password she chose (the directory has it)")
        account = session.get(f"{login.url}/account", timeout=10)
        assert account.status_code == 200 and username in account.text
    finally:
        k8s.delete(api, ADDON[0], "CloudronUser", None, username)
        k8s.delete(api, *ADDON, None, f"ldap-{tag}")


CLOUDRON_VERSION = "v1alpha1"
RBAC_GROUP = "rbac.authorization.k8s.io"


def _aggregated(api: client.ApiClient, role: str, resource: str, verb: str) -> bool:
    """Whether Kubernetes' own ClusterRole `role` has, by aggregation, `verb` on cloudron.io's `resource`."""
    rules = client.RbacAuthorizationV1Api(api).read_cluster_role(role).rules or []
    return any(
        rule.api_groups == [GROUP] and resource in (rule.resources or []) and verb in rule.verbs
        for rule in rules
    )


def _bind(api: client.ApiClient, namespace: str, account: str, cluster_role: str) -> None:
    """A RoleBinding in `namespace` of the ClusterRole to the namespace's ServiceAccount `account`."""
    client.RbacAuthorizationV1Api(api).create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name=f"{account}-{cluster_role}"[:63].rstrip("-")),
            role_ref=client.V1RoleRef(api_group=RBAC_GROUP, kind="ClusterRole", name=cluster_role),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name=account, namespace=namespace)],
        ),
    )


@contextmanager
def _bound_cluster_wide(
    api: client.ApiClient, cluster_role: str, namespace: str, account: str
) -> Iterator[None]:
    """A ClusterRoleBinding of the ClusterRole to ServiceAccount `namespace/account`, for the block."""
    rbac = client.RbacAuthorizationV1Api(api)
    name = f"{cluster_role}-{namespace}-{account}"[:253]
    rbac.create_cluster_role_binding(
        client.V1ClusterRoleBinding(
            metadata=client.V1ObjectMeta(name=name),
            role_ref=client.V1RoleRef(api_group=RBAC_GROUP, kind="ClusterRole", name=cluster_role),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name=account, namespace=namespace)],
        )
    )
    try:
        yield
    finally:
        rbac.delete_cluster_role_binding(name)


@contextmanager
def _catalog(api: client.ApiClient, name: str, app_id: str) -> Iterator[None]:
    """An AppCatalog listing one app, with the status the operator would have written after reading it."""
    objects = client.CustomObjectsApi(api)
    body = {
        "apiVersion": f"{GROUP}/{CLOUDRON_VERSION}",
        "kind": "AppCatalog",
        "metadata": {"name": name},
        "spec": {"url": "https://example.com/CloudronVersions.json"},
    }
    objects.create_cluster_custom_object(GROUP, CLOUDRON_VERSION, "appcatalogs", body)
    ready = {"type": "Ready", "status": "True", "reason": "Fetched", "message": "read"}
    entry = {
        "id": app_id,
        "title": "Notes",
        "latest": "1.0.0",
        "versions": [{"version": "1.0.0", "state": "published", "image": "cloudron/notes:1.0.0"}],
    }
    status = {"conditions": [{**ready, "lastTransitionTime": "2026-12-03T10:00:00Z"}], "entries": [entry]}
    try:
        objects.patch_cluster_custom_object_status(
            GROUP, CLOUDRON_VERSION, "appcatalogs", name, {"status": status}
        )
        yield
    finally:
        objects.delete_cluster_custom_object(GROUP, CLOUDRON_VERSION, "appcatalogs", name)


def _refused(request: Callable[..., object], *args: Any) -> int:
    """The HTTP status with which the API server refuses `request(*args)`."""
    with pytest.raises(ApiException) as refused:
        request(*args)
    return int(refused.value.status)


def _notes(namespace: str) -> dict[str, Any]:
    manifest = {"manifestVersion": 2, "version": "1.0.0", "httpPort": 8000, "healthCheckPath": "/"}
    spec = {"image": "registry.example.com/notes:1.0.0", "domain": "notes.example.com", "manifest": manifest}
    return {
        "apiVersion": APP[0],
        "kind": APP[1],
        "metadata": {"name": "notes", "namespace": namespace},
        "spec": spec,
    }


def _notes_backup(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{CLOUDRON_VERSION}",
        "kind": "CloudronBackup",
        "metadata": {"name": "notes-by-hand", "namespace": namespace},
        "spec": {"app": "notes", "store": "s3-main", "reason": "manual"},
    }


def test_namespace_users_get_apps_from_the_builtin_edit_role_and_catalogs_from_the_reader(
    api_client: client.ApiClient,
    *,
    chart_crds: None,
    cluster: LocalEnv,
    namespace: str,
    unwatched: str,
    service_account_client: Callable[[str, str], client.ApiClient],
    tmp_path: Path,
) -> None:
    """The chart's users' roles, aggregated by kube-controller-manager into Kubernetes' own roles.
    dana, bound to the built-in `edit` in her namespace only (what a cluster admin gives a team),
    writes apps and backups there and nowhere else; she reads the AppCatalogs, with `kubectl
    cloudron` too, once bound cluster-wide to the catalog reader, and never writes one. What the
    chart adds grants no Secret (`edit` itself grants her namespace's own) and no status: `bare`,
    bound to `view` and the chart's -edit (docs/install.md's way), has the apps without the Secrets."""
    release = f"users-{secrets.token_hex(3)}"
    fullname = f"{release}-cloudron-operator"
    roles = [
        obj
        for obj in render(release, namespace)
        if obj["kind"] == "ClusterRole" and obj["metadata"]["name"].startswith(f"{fullname}-")
    ]
    reader = f"{fullname}-catalog-reader"
    assert sorted(r["metadata"]["name"] for r in roles) == [reader, f"{fullname}-edit", f"{fullname}-view"]
    catalog, app_id = f"team-{release}", f"org.notes{release.replace('-', '')}.cloudronapp"
    with installed(cluster, roles), _catalog(api_client, catalog, app_id):
        # The local cluster's kube-controller-manager runs every controller, clusterrole-aggregation too.
        wait_until(
            lambda: (
                _aggregated(api_client, "edit", "cloudronapps", "create")
                and _aggregated(api_client, "edit", "cloudronbackups", "get")
                and _aggregated(api_client, "admin", "cloudronapps", "delete")
                and _aggregated(api_client, "view", "cloudronapps", "watch")
                and _aggregated(api_client, "view", "appcatalogs", "list")
            ),
            WAIT,
            "the chart's roles to be aggregated into view, edit and admin",
        )
        dana = service_account_client(namespace, "dana")
        _bind(api_client, namespace, "dana", "edit")
        bare = service_account_client(namespace, "bare")
        _bind(api_client, namespace, "bare", "view")
        _bind(api_client, namespace, "bare", f"{fullname}-edit")
        wait_until(
            lambda: (
                _allowed(dana, "create", "cloudronbackups", namespace, GROUP)
                and _allowed(bare, "create", "cloudronbackups", namespace, GROUP)
            ),
            WAIT,
            "the RoleBindings to take effect",
        )
        kubeconfig = service_account_kubeconfig(api_client, namespace, "dana", tmp_path / "dana.kubeconfig")

        # Apps and backups: in her namespace, and in no other.
        as_dana = client.CustomObjectsApi(dana)
        create = as_dana.create_namespaced_custom_object
        create(GROUP, CLOUDRON_VERSION, namespace, "cloudronapps", _notes(namespace))
        create(GROUP, CLOUDRON_VERSION, namespace, "cloudronbackups", _notes_backup(namespace))
        assert _refused(create, GROUP, CLOUDRON_VERSION, unwatched, "cloudronapps", _notes(unwatched)) == 403
        backup_elsewhere = _notes_backup(unwatched)
        assert (
            _refused(create, GROUP, CLOUDRON_VERSION, unwatched, "cloudronbackups", backup_elsewhere) == 403
        )
        listed = kubectl_cloudron(kubeconfig, "list")
        assert listed.returncode == 0, listed.stderr
        assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == ["notes"]

        # The catalogs are cluster-scoped: her RoleBinding of edit does not reach them.
        catalogs = (GROUP, CLOUDRON_VERSION, "appcatalogs")
        assert _refused(as_dana.list_cluster_custom_object, *catalogs) == 403
        without = kubectl_cloudron(kubeconfig, "catalog", "list")
        assert (without.returncode, without.stdout) == (1, ""), without
        assert without.stderr == (
            f'error: appcatalogs.cloudron.io is forbidden: User "system:serviceaccount:{namespace}:dana" '
            'cannot list resource "appcatalogs" in API group "cloudron.io" at the cluster scope\n'
        )
        with _bound_cluster_wide(api_client, reader, namespace, "dana"):
            wait_until(lambda: _allowed(dana, "list", "appcatalogs", "", GROUP), WAIT, "the reader's binding")
            found = as_dana.list_cluster_custom_object(*catalogs)["items"]
            assert catalog in {item["metadata"]["name"] for item in found}
            with_reader = kubectl_cloudron(kubeconfig, "catalog", "list")
            assert with_reader.returncode == 0, with_reader.stderr
            rows = [line.split() for line in with_reader.stdout.splitlines()]
            assert [catalog, app_id, "Notes", "1.0.0", "1"] in rows
            install = ("install", app_id, "--domain", "wiki.example.com", "--name", "wiki")
            from_catalog = kubectl_cloudron(kubeconfig, *install)
            assert from_catalog.returncode == 0, from_catalog.stderr
            assert from_catalog.stdout == "cloudronapp.cloudron.io/wiki created\n"
            elsewhere = kubectl_cloudron(kubeconfig, *install, "-n", unwatched)
            assert elsewhere.returncode == 1, elsewhere
            assert elsewhere.stderr.startswith("error: cloudronapps.cloudron.io is forbidden"), (
                elsewhere.stderr
            )
            mine = {
                "apiVersion": f"{GROUP}/{CLOUDRON_VERSION}",
                "kind": "AppCatalog",
                "metadata": {"name": f"mine-{release}"},
                "spec": {"url": "https://example.com/mine.json"},
            }
            assert _refused(as_dana.create_cluster_custom_object, *catalogs, mine) == 403
            assert _refused(client.CoreV1Api(dana).read_namespaced_secret, "private", unwatched) == 403

            writes = ("create", "update", "patch", "delete", "deletecollection")
            may = {
                # (who, verb, resource, namespace, group)
                *(
                    ("dana", verb, kind, namespace, GROUP)
                    for verb in ("get", "list", "watch", *writes)
                    for kind in ("cloudronapps", "cloudronbackups")
                ),
                ("dana", "get", "appcatalogs", "", GROUP),
                ("dana", "watch", "appcatalogs", "", GROUP),
                ("bare", "get", "cloudronapps", namespace, GROUP),
                ("bare", "get", "pods/log", namespace, ""),
                ("bare", "delete", "cloudronbackups", namespace, GROUP),
            }
            may_not = {
                *(("dana", verb, "appcatalogs", "", GROUP) for verb in writes),
                ("dana", "patch", "appcatalogs/status", "", GROUP),
                ("dana", "patch", "cloudronapps/status", namespace, GROUP),
                ("dana", "patch", "cloudronbackups/status", namespace, GROUP),
                ("dana", "get", "cloudronapps", unwatched, GROUP),
                ("dana", "get", "secrets", unwatched, ""),
                ("dana", "list", "secrets", "", ""),
                *(("dana", "list", kind, "", GROUP) for kind in ("addons", "backupstores", "cloudronusers")),
                ("bare", "get", "secrets", namespace, ""),
                ("bare", "list", "secrets", namespace, ""),
                ("bare", "patch", "cloudronapps/status", namespace, GROUP),
                ("bare", "list", "appcatalogs", "", GROUP),
            }
            clients = {"dana": dana, "bare": bare}
            assert {check for check in may if not _allowed(clients[check[0]], *check[1:])} == set()
            assert {check for check in may_not if _allowed(clients[check[0]], *check[1:])} == set()
