"""Central users through the operator: CloudronUsers and their passwords become each app's view in a
real slapd (tests/harness/ldap.py), the apps get the exact CLOUDRON_LDAP_* variables, access follows
spec.access, changes show within seconds without restarting any app, and a wiped server is rebuilt."""

from __future__ import annotations

import base64
import io
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap3
import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from ldap3.core import exceptions as ldap_errors

from cloudron_operator.directory.cli import set_password
from cloudron_operator.directory.passwords import hash_user_password
from cloudron_operator.directory.state import password_secret
from cloudron_operator.k8s import api as k8s
from tests.builder_cases import corpus_manifest
from tests.harness.ldap import ADMIN_DN, LdapServer, start_ldap_server
from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import wait_until
from tests.integration.apps_support import (
    WAIT,
    condition,
    get_app,
    kubectl_apply,
    namespaced_operator,
    pre_bound_volume,
)

pytestmark = pytest.mark.integration
USER = ("cloudron.io/v1alpha1", "CloudronUser")
ADDON = ("cloudron.io/v1alpha1", "Addon")
FILTER = "(&(objectclass=user)(|(username={0})(mail={0})))"
FOLLOW = 10.0  # a change shows in every view within this
REBUILD = 60.0


@pytest.fixture(scope="module")
def ldap_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LdapServer]:
    server = start_ldap_server(tmp_path_factory.mktemp("directory"))
    yield server
    server.stop()


class Directory:
    """One test's directory: its Addon, its users (unique names: CloudronUsers are cluster-wide)."""

    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        server: LdapServer,
        cluster: LocalEnv,
        operator: OperatorProcess,
    ) -> None:
        self.api, self.namespace, self.server, self.cluster = api, namespace, server, cluster
        self.operator = operator
        self.tag = secrets.token_hex(3)
        self.addon = f"ldap-{self.tag}"
        self.users: dict[str, str] = {}  # username -> password

    def username(self, name: str) -> str:
        return f"{name}-{self.tag}"

    def create_addon(self, password: str | None = None) -> None:
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/basic-auth",
            "metadata": {"name": self.addon, "namespace": self.namespace},
            "stringData": {"username": ADMIN_DN, "password": password or self.server.admin_password},
        }
        k8s.apply(self.api, secret)
        ref = {"name": self.addon, "namespace": self.namespace}
        spec = {
            "type": "ldap",
            "connection": {"host": self.server.host, "port": self.server.port, "adminSecretRef": ref},
        }
        k8s.apply(
            self.api,
            {"apiVersion": ADDON[0], "kind": "Addon", "metadata": {"name": self.addon}, "spec": spec},
        )

    def create_user(self, name: str, **spec: Any) -> str:
        username = self.username(name)
        body = {"username": username, "email": f"{username}@example.com", **spec}
        k8s.apply(
            self.api,
            {"apiVersion": USER[0], "kind": "CloudronUser", "metadata": {"name": username}, "spec": body},
        )
        password = f"{name}-password-{self.tag}"
        set_password(self.api, username, self.namespace, io.StringIO(password + "\n"))
        self.users[username] = password
        return username

    def patch_user(self, name: str, **spec: Any) -> None:
        username = self.username(name)
        user = k8s.get(self.api, *USER, None, username) or {}
        k8s.apply(
            self.api,
            {
                "apiVersion": USER[0],
                "kind": "CloudronUser",
                "metadata": {"name": username},
                "spec": {**user["spec"], **spec},
            },
        )

    def install(self, name: str, access: dict[str, list[str]] | None) -> None:
        kubectl_apply(self.cluster.cluster, self.app(name, access))

    def in_view(self, app: str, username: str) -> None:
        """Wait until the app's Secret exists and its view has the user."""
        wait_until(
            lambda: bool(self.env(app)) and username in self.visible(app), WAIT, f"{username} in {app}'s view"
        )

    def cleanup(self) -> None:
        for username in self.users:
            k8s.delete(self.api, *USER, None, username)
        k8s.delete(self.api, *ADDON, None, self.addon)

    def app(self, name: str, access: dict[str, list[str]] | None) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "image": f"registry.example.com/{name}:1",
            "domain": f"{name}-{self.tag}.example.com",
            "manifest": {"manifestVersion": 2, "version": "1.0.0", "httpPort": 8000, "addons": {"ldap": {}}},
            "addons": {"ldap": {"addonRef": self.addon}},
        }
        if access is not None:
            users = [self.username(name) for name in access.get("users", [])]
            spec["access"] = {"users": users, "groups": access.get("groups", [])}
        return {
            "apiVersion": "cloudron.io/v1alpha1",
            "kind": "CloudronApp",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": spec,
        }

    def env(self, app: str) -> dict[str, str]:
        secret = k8s.get(self.api, "v1", "Secret", self.namespace, f"{app}-ldap") or {}
        return {key: base64.b64decode(value).decode() for key, value in secret.get("data", {}).items()}

    def found(self, app: str, who: str) -> list[str]:
        """The usernames the app finds for `who` (username or email), with its own bind credentials."""
        env = self.env(app)
        server = ldap3.Server(env["CLOUDRON_LDAP_SERVER"], port=int(env["CLOUDRON_LDAP_PORT"]))
        with ldap3.Connection(
            server, env["CLOUDRON_LDAP_BIND_DN"], env["CLOUDRON_LDAP_BIND_PASSWORD"], auto_bind=True
        ) as c:
            c.search(env["CLOUDRON_LDAP_USERS_BASE_DN"], FILTER.format(who), attributes=["username"])
            return [
                e["raw_attributes"]["username"][0].decode()
                for e in c.response or []
                if e["type"] == "searchResEntry"
            ]

    def visible(self, app: str) -> set[str]:
        return {name for username in self.users for name in self.found(app, username)}

    def binds(self, app: str, username: str, password: str | None = None) -> bool:
        env = self.env(app)
        server = ldap3.Server(env["CLOUDRON_LDAP_SERVER"], port=int(env["CLOUDRON_LDAP_PORT"]))
        dn = f"cn={username},{env['CLOUDRON_LDAP_USERS_BASE_DN']}"
        try:
            with ldap3.Connection(server, dn, password or self.users[username], auto_bind=True):
                return True
        except ldap_errors.LDAPBindError:
            return False


@pytest.fixture
def directory(
    api_client: client.ApiClient,
    cluster: LocalEnv,
    namespace: str,
    ldap_server: LdapServer,
    directory_operator: OperatorProcess,
) -> Iterator[Directory]:
    """The test's directory, with the operator running."""
    found = Directory(api_client, namespace, ldap_server, cluster, directory_operator)
    yield found
    found.cleanup()


@pytest.fixture
def directory_operator(
    installed_crds: None, kubeconfig: Path, namespace: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """The operator watching the test's namespace, keeping the users' password Secrets there."""
    operator = namespaced_operator(
        kubeconfig, tmp_path / "operator.log", namespace, {"CLOUDRON_OPERATOR_USERS_NAMESPACE": namespace}
    )
    operator.start()
    yield operator
    operator.stop()


def wait_for_views(
    directory: Directory, expected: dict[str, set[str]], what: str, timeout: float = FOLLOW
) -> None:
    names = {app: {directory.username(n) for n in users} for app, users in expected.items()}
    wait_until(lambda: all(directory.visible(app) == users for app, users in names.items()), timeout, what)


def test_each_app_sees_and_admits_exactly_its_users_and_follows_changes(directory: Directory) -> None:
    api_client, namespace = directory.api, directory.namespace
    directory.create_addon()
    alice = directory.create_user("alice", groups=["engineering"], displayName="Alice Liddell")
    bob = directory.create_user("bob", groups=["sales"])
    carol = directory.create_user("carol", role="admin")
    apps = {"wiki": {"groups": ["engineering"]}, "crm": {"users": ["bob"]}, "chat": None}
    for name, access in apps.items():
        directory.install(name, access)
    wait_until(
        lambda: all(
            condition(get_app(api_client, namespace, n), "AddonsReady").get("status") == "True" for n in apps
        ),
        WAIT,
        "the apps' ldap addon provisioned",
    )
    env = directory.env("wiki")
    uid = get_app(api_client, namespace, "wiki")["metadata"]["uid"]
    assert env["CLOUDRON_LDAP_URL"] == f"ldap://{directory.server.host}:{directory.server.port}"
    assert env["CLOUDRON_LDAP_BIND_DN"] == f"cn={uid},ou=apps,dc=cloudron"
    assert env["CLOUDRON_LDAP_USERS_BASE_DN"] == f"ou=users,o={uid},dc=cloudron"
    assert env["CLOUDRON_LDAP_GROUPS_BASE_DN"] == f"ou=groups,o={uid},dc=cloudron"
    wait_for_views(
        directory,
        {"wiki": {"alice", "carol"}, "crm": {"bob", "carol"}, "chat": {"alice", "bob", "carol"}},
        "each app's view to hold exactly its users",
    )
    allowed = {"wiki": {alice, carol}, "crm": {bob, carol}, "chat": {alice, bob, carol}}
    for app, users in allowed.items():
        for username in (alice, bob, carol):
            assert directory.binds(app, username) is (username in users), (app, username)
            assert not directory.binds(app, username, "not-the-password")
        assert directory.found(app, f"{carol.upper()}@EXAMPLE.COM") == [carol], "mail, case-insensitively"
    deployments = {
        app: (k8s.get(api_client, "apps/v1", "Deployment", namespace, app) or {})["metadata"]["generation"]
        for app in apps
    }

    directory.patch_user("bob", groups=["sales", "engineering"])
    wait_for_views(
        directory, {"wiki": {"alice", "bob", "carol"}}, "bob to join wiki's view with his new group"
    )
    directory.patch_user("alice", active=False)
    wait_for_views(
        directory,
        {"wiki": {"bob", "carol"}, "chat": {"bob", "carol"}},
        "a deactivated user to leave every view",
    )
    assert not directory.binds("chat", alice)
    directory.install("crm", {"groups": ["engineering"]})
    wait_for_views(directory, {"crm": {"bob", "carol"}}, "crm's view to follow its new access")
    after = {
        app: (k8s.get(api_client, "apps/v1", "Deployment", namespace, app) or {})["metadata"]["generation"]
        for app in apps
    }
    assert after == deployments, "no app was restarted"

    # A deleted user leaves every view.
    k8s.delete(api_client, *USER, None, bob)
    wait_for_views(
        directory, {"wiki": {"carol"}, "crm": {"carol"}, "chat": {"carol"}}, "a deleted user gone everywhere"
    )

    # A deleted app's bind account and view are gone.
    env = directory.env("chat")
    k8s.delete(api_client, "cloudron.io/v1alpha1", "CloudronApp", namespace, "chat")
    wait_until(
        lambda: k8s.get(api_client, "cloudron.io/v1alpha1", "CloudronApp", namespace, "chat") is None,
        WAIT,
        "chat to go",
    )
    with pytest.raises(ldap_errors.LDAPBindError):
        ldap3.Connection(
            ldap3.Server(directory.server.host, port=directory.server.port),
            env["CLOUDRON_LDAP_BIND_DN"], env["CLOUDRON_LDAP_BIND_PASSWORD"], auto_bind=True,
        )  # fmt: skip


def test_a_wiped_directory_is_rebuilt_with_the_same_passwords(directory: Directory) -> None:
    directory.create_addon()
    dave = directory.create_user("dave")
    directory.install("notes", None)
    directory.in_view("notes", dave)
    directory.server.wipe()
    started = time.monotonic()
    wait_until(
        lambda: directory.binds("notes", dave), REBUILD, "the directory rebuilt, dave's password with it"
    )
    print(f"directory rebuilt {time.monotonic() - started:.1f}s after the wipe")


def test_the_password_command_reads_stdin_and_bad_users_are_named(directory: Directory) -> None:
    api_client, cluster, namespace = directory.api, directory.cluster, directory.namespace
    directory.create_addon()
    erin = directory.create_user("erin")
    directory.install("board", None)
    directory.in_view("board", erin)
    new_password = f"another-password-{directory.tag}"
    environment = {**os.environ, "KUBECONFIG": str(cluster.cluster.kubeconfig)}
    run = subprocess.run(
        [sys.executable, "-m", "cloudron_operator", "user", "set-password", erin, "--namespace", namespace],
        input=new_password + "\n", capture_output=True, text=True, env=environment, check=True,
    )  # fmt: skip
    assert new_password not in run.stdout + run.stderr
    wait_until(lambda: directory.binds("board", erin, new_password), FOLLOW, "the new password to work")
    assert not directory.binds("board", erin, directory.users[erin])

    # The schema refuses a reserved username; a taken email is the later user's problem.
    with pytest.raises(ApiException) as refused:
        k8s_user = {
            "apiVersion": USER[0],
            "kind": "CloudronUser",
            "metadata": {"name": f"admin-{directory.tag}"},
        }
        client.CustomObjectsApi(api_client).create_cluster_custom_object(
            "cloudron.io",
            "v1alpha1",
            "cloudronusers",
            {**k8s_user, "spec": {"username": "admin", "email": "a@example.com"}},
        )
    assert refused.value.status == 422 and "username is reserved" in str(refused.value.body)
    time.sleep(1.0)  # creationTimestamp counts seconds
    copy = directory.username("copy")
    user = {"username": copy, "email": f"{erin}@example.com"}
    k8s.apply(
        api_client, {"apiVersion": USER[0], "kind": "CloudronUser", "metadata": {"name": copy}, "spec": user}
    )
    directory.users[copy] = ""
    wait_until(
        lambda: (
            condition(k8s.get(api_client, *USER, None, copy) or {}, "Ready").get("reason") == "DuplicateEmail"
        ),
        WAIT,
        "the later user's Ready=False DuplicateEmail",
    )
    assert (
        f"CloudronUser {erin}, made first"
        in condition(k8s.get(api_client, *USER, None, copy) or {}, "Ready")["message"]
    )
    assert condition(k8s.get(api_client, *USER, None, erin) or {}, "Ready")["status"] == "True"

    # Kubernetes keeps the Events of cluster-scoped objects in `default`; the Event follows the status.
    def events() -> list[tuple[str, str]]:
        found = client.CoreV1Api(api_client).list_namespaced_event(
            "default", field_selector=f"involvedObject.name={copy}"
        )
        return [(event.type, event.reason) for event in found.items]

    wait_until(lambda: events() == [("Warning", "DuplicateEmail")], WAIT, "a Warning Event on the later user")


def test_a_wrong_admin_password_is_named_and_recovery_needs_no_restart(directory: Directory) -> None:
    api_client, namespace = directory.api, directory.namespace
    directory.create_addon(password="not-the-admin-password")
    frank = directory.create_user("frank")
    directory.install("forum", None)
    # An app without the ldap addon, beside it: the directory's trouble is not its own.
    bystander = directory.app("static", None)
    bystander["spec"]["manifest"]["addons"] = {}
    bystander["spec"].pop("addons")
    kubectl_apply(directory.cluster.cluster, bystander)

    def addon_ready() -> dict[str, Any]:
        return condition(k8s.get(api_client, *ADDON, None, directory.addon) or {}, "Ready")

    wait_until(lambda: addon_ready().get("status") == "False", WAIT, "the Addon Ready=False")
    assert "refused the admin login cn=admin,dc=cloudron" in addon_ready()["message"]
    assert "not-the-admin-password" not in str(k8s.get(api_client, *ADDON, None, directory.addon))
    wait_until(
        lambda: condition(get_app(api_client, namespace, "forum"), "AddonsReady").get("status") == "False",
        WAIT,
        "the app's AddonsReady=False",
    )
    wait_until(
        lambda: (
            condition(get_app(api_client, namespace, "static"), "AddonsReady").get("reason") == "NoAddons"
        ),
        WAIT,
        "the app without ldap unaffected",
    )
    directory.create_addon()  # the right password, in the same Secret
    wait_until(
        lambda: addon_ready().get("status") == "True", WAIT, "the Addon Ready once the Secret is right"
    )
    wait_until(lambda: frank in directory.visible("forum"), WAIT, "the app's view written")
    assert directory.binds("forum", frank)


def test_a_corpus_package_finds_and_binds_its_users_as_its_start_script_does(directory: Directory) -> None:
    """A real package that asks for ldap (and localstorage, and a TCP port), with the injected env and
    the filter Cloudron documents, through ldapsearch and ldapwhoami as a start script calls them."""
    api_client, cluster, namespace = directory.api, directory.cluster, directory.namespace
    directory.create_addon()
    grace = directory.create_user("grace", displayName="Grace Hopper")
    app = directory.app("minecraft", None)
    app["spec"]["manifest"] = corpus_manifest(
        "MrDevBot__paper-mc-1-19-for-cloudron-main__CloudronManifest.json"
    )
    volume = pre_bound_volume(api_client, namespace, "minecraft-data")
    try:
        run_the_start_scripts_commands(api_client, cluster, directory, app, grace)
    finally:
        client.CoreV1Api(api_client).delete_persistent_volume(volume)


def run_the_start_scripts_commands(
    api_client: client.ApiClient, cluster: Any, directory: Directory, app: dict[str, Any], grace: str
) -> None:
    kubectl_apply(cluster.cluster, app)
    directory.in_view("minecraft", grace)
    env = directory.env("minecraft")
    found = subprocess.run(
        ["ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-x", "-H", env["CLOUDRON_LDAP_URL"],
         "-D", env["CLOUDRON_LDAP_BIND_DN"],
         "-w", env["CLOUDRON_LDAP_BIND_PASSWORD"], "-b", env["CLOUDRON_LDAP_USERS_BASE_DN"],
         FILTER.format(f"{grace}@example.com"), "dn", "username", "displayName"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert f"username: {grace}" in found and "displayName: Grace Hopper" in found
    user_dn = next(line.removeprefix("dn: ") for line in found.splitlines() if line.startswith("dn: "))
    whoami = subprocess.run(
        ["ldapwhoami", "-x", "-H", env["CLOUDRON_LDAP_URL"], "-D", user_dn, "-w", directory.users[grace]],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert whoami.strip() == f"dn:{user_dn}"


KILL_USERS = 200
KILL_APPS = 20


def test_killed_while_syncing_it_converges_without_duplicates_or_new_passwords(directory: Directory) -> None:
    """200 users and 20 apps while the operator is SIGKILLed three times: every view ends whole, each
    entry once, no bind password made anew. The users share one hash (bcrypt's cost is the password
    command's, not the sync's)."""
    api_client, namespace = directory.api, directory.namespace
    directory.create_addon()
    shared = hash_user_password(f"kill-password-{directory.tag}")
    for i in range(KILL_USERS):
        username = directory.username(f"k{i}")
        spec = {"username": username, "email": f"{username}@example.com", "groups": [f"g{i % 4}"]}
        user = k8s.apply(
            api_client,
            {"apiVersion": USER[0], "kind": "CloudronUser", "metadata": {"name": username}, "spec": spec},
        )
        k8s.apply(api_client, password_secret(user, namespace, shared))
        directory.users[username] = f"kill-password-{directory.tag}"
    names = [f"kill{j}" for j in range(KILL_APPS)]
    for j, name in enumerate(names):
        directory.install(name, None if j % 2 == 0 else {"groups": [f"g{j % 4}"]})
    for _ in range(3):
        time.sleep(2.0)
        directory.operator.kill()
        directory.operator.start()
    wait_until(lambda: all(directory.env(name) for name in names), 2 * WAIT, "every app's ldap Secret")
    bind_passwords = {name: directory.env(name)["CLOUDRON_LDAP_BIND_PASSWORD"] for name in names}
    expected = {name: KILL_USERS if j % 2 == 0 else KILL_USERS // 4 for j, name in enumerate(names)}
    wait_until(
        lambda: {name: len(view_entries(directory, name)) for name in names} == expected,
        2 * WAIT,
        "every view whole",
    )
    for name in names:
        entries = view_entries(directory, name)
        assert len(entries) == len(set(entries)), f"{name}: an entry twice"
        assert directory.env(name)["CLOUDRON_LDAP_BIND_PASSWORD"] == bind_passwords[name]
    assert directory.binds(names[0], directory.username("k7"))


def view_entries(directory: Directory, app: str) -> list[str]:
    """The DNs of the users in the app's view, as the app reads them (every page)."""
    env = directory.env(app)
    server = ldap3.Server(env["CLOUDRON_LDAP_SERVER"], port=int(env["CLOUDRON_LDAP_PORT"]))
    with ldap3.Connection(
        server, env["CLOUDRON_LDAP_BIND_DN"], env["CLOUDRON_LDAP_BIND_PASSWORD"], auto_bind=True
    ) as c:
        found = c.extend.standard.paged_search(
            env["CLOUDRON_LDAP_USERS_BASE_DN"],
            "(objectclass=user)",
            attributes=[],
            paged_size=100,
            generator=False,
        )
        return [str(entry["dn"]) for entry in found if entry.get("type") == "searchResEntry"]


def test_access_naming_nobody_yet_installs_and_says_so(directory: Directory) -> None:
    api_client, namespace = directory.api, directory.namespace
    directory.create_addon()
    directory.create_user("henry", groups=["ops"])
    directory.install("vault", {"users": ["ivy"], "groups": ["ops", "ghosts"]})

    def access() -> dict[str, Any]:
        return condition(get_app(api_client, namespace, "vault"), "AccessResolved")

    wait_until(lambda: access().get("status") == "False", WAIT, "AccessResolved=False")
    assert (
        access()["message"]
        == f"no user {directory.username('ivy')}; no group ghosts (yet: one made later counts at once)"
    )
    assert condition(get_app(api_client, namespace, "vault"), "AddonsReady")["status"] == "True", (
        "the app installs"
    )
    wait_for_views(directory, {"vault": {"henry"}}, "henry, in ops, in the view")
    directory.create_user("ivy", groups=["ghosts"])
    wait_for_views(directory, {"vault": {"henry", "ivy"}}, "ivy, made later, counts at once")
    wait_until(lambda: access().get("status") == "True", WAIT, "AccessResolved=True at the app's next pass")
