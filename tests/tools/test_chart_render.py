"""The chart through the real helm binary: lint, and what `helm template` renders for default and
non-default values (the objects themselves are checked by the API server in
tests/integration/test_helm.py)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Any

import pytest
import yaml

from cloudron_operator.config import ENV_PREFIX, OperatorConfig, load_config
from tests.harness.processes import HarnessError, run
from tests.harness.tools import CHART, helm, helm_template
from tests.paths import REPO

KubeObject = dict[str, Any]
NAMESPACED: tuple[str, ...] = ("--set", "watchNamespaces={team-a,team-b}", "--set", "replicas=2")
NAMESPACED += ("--set", "ingressClass=nginx")
FORBIDDEN_VERBS = {"*", "escalate", "bind", "impersonate"}
FULLNAME = "cloudron-cloudron-operator"


def render(*args: str) -> list[KubeObject]:
    return [doc for doc in yaml.safe_load_all(helm_template(*args)) if doc]


def only(objects: Iterable[KubeObject], kind: str) -> list[KubeObject]:
    return [obj for obj in objects if obj["kind"] == kind]


def deployment_env(objects: Iterable[KubeObject]) -> dict[str, str]:
    (deployment,) = only(objects, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def operator_config(objects: Iterable[KubeObject]) -> OperatorConfig:
    env = {k: v for k, v in deployment_env(objects).items() if k.startswith(ENV_PREFIX)}
    return load_config(env)


def test_lint_passes_with_default_and_non_default_values() -> None:
    run([str(helm()), "lint", "--strict", str(CHART)])
    run([str(helm()), "lint", "--strict", str(CHART), *NAMESPACED])


def test_default_values_render_a_cluster_wide_operator() -> None:
    objects = render()
    assert sorted(obj["kind"] for obj in objects) == [
        "ClusterKopfPeering",
        "ClusterRole",
        "ClusterRole",  # the users' roles: -catalog-reader, -edit, -view
        "ClusterRole",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Namespace",  # the users' password Secrets'
        "Service",
        "ServiceAccount",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ]
    config = operator_config(objects)
    assert config.namespaces == ()
    assert config.peering == "cloudron-cloudron-operator"
    assert config.health_address == "0.0.0.0:8080"
    (deployment,) = [obj for obj in objects if obj["kind"] == "Deployment"]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert config.backup_image == image == "cloudron-operator:0.1.0", "backup Jobs run the operator's image"
    assert config == OperatorConfig(
        health_address="0.0.0.0:8080",
        metrics_address="0.0.0.0:9090",
        peering="cloudron-cloudron-operator",
        backup_image=image,
    )


def test_the_metrics_service_reaches_the_operators_metrics_port() -> None:
    objects = render()
    (service,) = only(objects, "Service")
    (deployment,) = only(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}
    ]
    assert ports["metrics"] == 9090
    assert not only(render("--set", "metrics.enabled=false"), "Service")


def test_the_deletion_policy_covers_the_served_namespaces_and_can_be_left_out() -> None:
    def scope(objects: list[KubeObject]) -> Any:
        (policy,) = only(objects, "ValidatingAdmissionPolicy")
        (binding,) = only(objects, "ValidatingAdmissionPolicyBinding")
        assert binding["spec"]["policyName"] == policy["metadata"]["name"]
        assert binding["spec"]["validationActions"] == ["Deny"]
        assert policy["spec"]["matchConstraints"]["resourceRules"][0]["operations"] == ["DELETE"]
        return binding["spec"].get("matchResources")

    assert scope(render()) is None  # every namespace
    (expression,) = scope(render(*NAMESPACED))["namespaceSelector"]["matchExpressions"]
    assert expression == {
        "key": "kubernetes.io/metadata.name",
        "operator": "In",
        "values": ["team-a", "team-b"],
    }
    disabled = render("--set", "deletionProtection.enabled=false")
    assert not only(disabled, "ValidatingAdmissionPolicy") and not only(
        disabled, "ValidatingAdmissionPolicyBinding"
    )


def test_non_default_values_render_a_namespaced_operator() -> None:
    objects = render(*NAMESPACED)
    (deployment,) = only(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    config = operator_config(objects)
    assert config.namespaces == ("team-a", "team-b")
    assert config.ingress_class == "nginx"
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]) for r in only(objects, "Role")}
    assert roles == {
        ("team-a", "cloudron-cloudron-operator"),
        ("team-b", "cloudron-cloudron-operator"),
        ("cloudron-system", "cloudron-cloudron-operator-addon-secrets"),
        ("default", "cloudron-cloudron-operator-addon-events"),
        ("cloudron-users", "cloudron-cloudron-operator-user-passwords"),
    }
    bindings = {(b["metadata"]["namespace"], b["roleRef"]["name"]) for b in only(objects, "RoleBinding")}
    assert bindings == roles
    peerings = {p["metadata"]["namespace"] for p in only(objects, "KopfPeering")}
    assert peerings == {"team-a", "team-b"}
    assert not only(objects, "ClusterKopfPeering")


def test_every_setting_of_the_operator_has_a_value() -> None:
    """Each OperatorConfig field is passed as its CLOUDRON_OPERATOR_* variable, and read back as set."""
    objects = render(
        *NAMESPACED,
        *("--set", "clusterIssuer=internal-ca", "--set", "portServiceType=NodePort"),
        *("--set", "apiOrigin=https://my.example.com", "--set", "proxyIP=10.0.0.1"),
        *("--set", "ingressNamespaceLabels.tier=edge", "--set", "logLevel=debug"),
        *("--set", "resyncSeconds=60", "--set", "maxWorkers=4", "--set", "health.port=9000"),
        *("--set", "peering.name=ops", "--set", "peering.lifetimeSeconds=20", "--set", "metrics.port=9100"),
        *("--set", "routing=gateway", "--set", "gateway.listeners=Gateway"),
        *("--set", "gateway.parent=gw/shared"),
        *("--set", "gateway.className=traefik", "--set", "gateway.httpsPort=8443"),
        *("--set-json", 'ingressAnnotations={"example.com/a":"x,y"}'),
    )
    env = deployment_env(objects)
    assert {f"{ENV_PREFIX}{name.upper()}" for name in OperatorConfig.model_fields} <= set(env)
    assert operator_config(objects) == OperatorConfig(
        namespaces=("team-a", "team-b"),
        health_address="0.0.0.0:9000",
        metrics_address="0.0.0.0:9100",
        max_workers=4,
        resync_seconds=60,
        routing="gateway",
        ingress_class="nginx",
        ingress_annotations={"example.com/a": "x,y"},
        gateway_listeners="Gateway",
        gateway="gw/shared",
        gateway_class="traefik",
        gateway_https_port=8443,
        cluster_issuer="internal-ca",
        users_namespace="cloudron-users",
        port_service_type="NodePort",
        api_origin="https://my.example.com",
        proxy_ip="10.0.0.1",
        ingress_namespace_labels={"kubernetes.io/metadata.name": "ingress-nginx", "tier": "edge"},
        peering="ops",
        peering_lifetime_seconds=20,
        log_level="debug",
        backup_image="cloudron-operator:0.1.0",
    )


@pytest.mark.parametrize("values", [(), NAMESPACED], ids=["cluster-wide", "namespaced"])
def test_the_pod_is_locked_down_and_probed_on_healthz(values: tuple[str, ...]) -> None:
    (deployment,) = only(render(*values), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["runAsNonRoot"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["resources"]["limits"]["memory"]
    port = next(p for p in container["ports"] if p["name"] == "health")["containerPort"]
    assert deployment_env([deployment])["CLOUDRON_OPERATOR_HEALTH_ADDRESS"] == f"0.0.0.0:{port}"
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    identity = next(e for e in container["env"] if e["name"] == "POD_ID")
    assert identity["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def _rules(objects: Iterable[KubeObject]) -> list[tuple[KubeObject, dict[str, Any]]]:
    return [(obj, rule) for obj in objects if obj["kind"] in ("Role", "ClusterRole") for rule in obj["rules"]]


@pytest.mark.parametrize("values", [(), NAMESPACED], ids=["cluster-wide", "namespaced"])
def test_rbac_names_every_verb_and_resource_and_grants_no_escalation(values: tuple[str, ...]) -> None:
    for role, rule in _rules(render(*values)):
        where = f"{role['kind']} {role['metadata']['name']}: {rule}"
        for field in ("apiGroups", "resources", "verbs"):
            assert rule[field] and "*" not in rule[field], where
        assert not FORBIDDEN_VERBS & set(rule["verbs"]), where
        assert "rbac.authorization.k8s.io" not in rule["apiGroups"], where
        assert "nonResourceURLs" not in rule, where


def test_namespaced_mode_grants_namespaced_kinds_only_per_namespace() -> None:
    objects = render(*NAMESPACED)
    (cluster_role,) = [r for r in only(objects, "ClusterRole") if r["metadata"]["name"] == FULLNAME]
    cluster_resources = {r for rule in cluster_role["rules"] for r in rule["resources"]}
    assert cluster_resources == {
        "addons",
        "addons/status",
        "appcatalogs",
        "appcatalogs/status",
        "backupstores",
        "backupstores/status",
        "cloudronusers",
        "cloudronusers/status",
        "configmaps",
        "customresourcedefinitions",
        "namespaces",
    }
    namespaces = next(rule for rule in cluster_role["rules"] if rule["resources"] == ["namespaces"])
    assert namespaces["verbs"] == ["list", "watch"]
    (secrets_role,) = [r for r in only(objects, "Role") if r["metadata"]["namespace"] == "cloudron-system"]
    assert secrets_role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    # The users' password Secrets: listed and watched, in a namespace that holds nothing else.
    (passwords_role,) = [r for r in only(objects, "Role") if r["metadata"]["namespace"] == "cloudron-users"]
    assert passwords_role["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch", "create", "delete"]}
    ], "and the invites beside them: made, and deleted once used or expired"
    (events_role,) = [r for r in only(objects, "Role") if r["metadata"]["namespace"] == "default"]
    assert events_role["rules"] == [
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]}
    ]


AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"
USER_ROLES: dict[str, tuple[set[str], list[dict[str, Any]]]] = {
    # name: (the built-in roles it is aggregated into, its rules)
    f"{FULLNAME}-view": (
        {"view", "edit", "admin"},
        [
            {
                "apiGroups": ["cloudron.io"],
                "resources": ["cloudronapps", "cloudronbackups"],
                "verbs": ["get", "list", "watch"],
            }
        ],
    ),
    f"{FULLNAME}-edit": (
        {"edit", "admin"},
        [
            {
                "apiGroups": ["cloudron.io"],
                "resources": ["cloudronapps", "cloudronbackups"],
                "verbs": ["create", "update", "patch", "delete", "deletecollection"],
            }
        ],
    ),
    # Cluster-scoped: a namespace's RoleBinding cannot grant it; aggregated into view only for those
    # bound to view cluster-wide (and from view on, as Kubernetes' view is, into edit and admin).
    f"{FULLNAME}-catalog-reader": (
        {"view"},
        [{"apiGroups": ["cloudron.io"], "resources": ["appcatalogs"], "verbs": ["get", "list", "watch"]}],
    ),
}


def _user_roles(objects: Iterable[KubeObject]) -> dict[str, KubeObject]:
    return {
        role["metadata"]["name"]: role
        for role in only(objects, "ClusterRole")
        if role["metadata"]["name"] != FULLNAME
    }


@pytest.mark.parametrize("values", [(), NAMESPACED], ids=["cluster-wide", "namespaced"])
def test_the_users_roles_are_aggregated_into_view_edit_and_admin(values: tuple[str, ...]) -> None:
    roles = _user_roles(render(*values))
    assert set(roles) == set(USER_ROLES)
    for name, (aggregated_into, rules) in USER_ROLES.items():
        labels = roles[name]["metadata"]["labels"]
        assert {
            key.removeprefix(AGGREGATE): value for key, value in labels.items() if key.startswith(AGGREGATE)
        } == {role: "true" for role in aggregated_into}, name
        assert labels["app.kubernetes.io/instance"] == "cloudron", name
        assert roles[name]["rules"] == rules, name
        assert "aggregationRule" not in roles[name], name
    granted = {
        resource for role in roles.values() for rule in role["rules"] for resource in rule["resources"]
    }
    # Never the operator's status, nor the platform admin's: credentials, shared servers, directory.
    assert not granted & {"secrets", "addons", "backupstores", "cloudronusers"}
    assert not [resource for resource in granted if "/" in resource], "no subresource (status)"


@pytest.mark.parametrize(
    "values",
    [("--set", "rbac.aggregateToDefaultRoles=false"), ("--set", "rbac.create=false")],
    ids=["off", "no-rbac"],
)
def test_the_users_roles_can_be_left_out(values: tuple[str, ...]) -> None:
    objects = render(*values)
    assert not [obj for obj in objects if obj["metadata"]["name"] in USER_ROLES]
    assert not [
        obj
        for obj in objects
        if any(key.startswith(AGGREGATE) for key in (obj["metadata"].get("labels") or {}))
    ]


def test_peering_writes_only_the_releases_own_peering_object() -> None:
    for values, plural in (((), "clusterkopfpeerings"), (NAMESPACED, "kopfpeerings")):
        rules = [rule for _, rule in _rules(render(*values)) if rule["apiGroups"] == ["kopf.dev"]]
        writes = [rule for rule in rules if "patch" in rule["verbs"]]
        assert writes and all(rule["resourceNames"] == ["cloudron-cloudron-operator"] for rule in writes)
        assert {r for rule in rules for r in rule["resources"]} == {plural}


def test_metrics_can_be_turned_off() -> None:
    objects = render("--set", "metrics.enabled=false")
    assert operator_config(objects).metrics_address == ""
    (deployment,) = only(objects, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert [p["name"] for p in container["ports"]] == ["health"]


def test_without_peering_there_is_no_peering_object_and_no_second_pod_during_updates() -> None:
    objects = render("--set", "peering.enabled=false")
    assert not only(objects, "ClusterKopfPeering")
    (deployment,) = only(objects, "Deployment")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert operator_config(objects).peering == ""


@pytest.mark.parametrize(
    ("values", "error"),
    [
        (("--set", "replicas=2", "--set", "peering.enabled=false"), "/peering/enabled"),
        (("--set", "portServiceType=ClusterIP"), "/portServiceType"),
        (("--set", "watchNamespace=team-a"), "watchNamespace"),
        (("--set", "logLevel=trace"), "/logLevel"),
        (("--set", "serviceAccount.create=false"), "/serviceAccount"),
        (("--set", "login.publicURL=http://login.example.com"), "/login/publicURL"),
        (("--set", "login.publicURL=https://login.example.com"), "login.hydraAdminURL"),
    ],
)
def test_the_schema_refuses_unsafe_or_misspelt_values(values: tuple[str, ...], error: str) -> None:
    with pytest.raises(HarnessError, match=error):
        helm_template(*values)


def test_the_install_guides_release_is_the_service_account_that_addons_trusts() -> None:
    """docs/install.md installs release cloudron-operator in cloudron-system with a few --set values;
    addons/00-namespace.yaml lets exactly that ServiceAccount read the servers' admin Secrets."""
    guide = (REPO / "docs" / "install.md").read_text()
    command = re.search(r"helm install cloudron-operator helm/cloudron-operator(.*?)\n\n", guide, re.DOTALL)
    assert command, "docs/install.md has the helm install command"
    sets = re.findall(r"--set (\S+)", command.group(1))
    assert "--namespace cloudron-system" in command.group(1)
    objects = [
        doc
        for doc in yaml.safe_load_all(
            helm_template(*[arg for s in sets for arg in ("--set", s)], release="cloudron-operator")
        )
        if doc
    ]
    (account,) = only(objects, "ServiceAccount")
    granted = [
        subject
        for doc in yaml.safe_load_all((REPO / "addons" / "00-namespace.yaml").read_text())
        if doc and doc["kind"] == "RoleBinding"
        for subject in doc["subjects"]
        if doc["roleRef"]["name"] == "cloudron-operator-admin-secrets"
    ]
    assert granted == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "cloudron-system"}
    ]
    assert account["metadata"]["namespace"] == "cloudron-system"


LOGIN: tuple[str, ...] = (
    "--set", "login.publicURL=https://login.example.com",
    "--set", "login.hydraAdminURL=http://hydra-admin.hydra:4445",
    "--set", "login.ldapURL=ldap://openldap.cloudron-system:389",
)  # fmt: skip


def test_the_login_service_runs_with_a_public_url_and_reads_what_it_needs_only() -> None:
    assert not [obj for obj in render() if obj["metadata"]["name"].endswith("-login")], "off by default"
    objects = render(*LOGIN)
    (login,) = [obj for obj in only(objects, "Deployment") if obj["metadata"]["name"].endswith("-login")]
    (container,) = login["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["login"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["CLOUDRON_LOGIN_PUBLIC_URL"] == "https://login.example.com"
    assert env["CLOUDRON_LOGIN_USERS_NAMESPACE"] == "cloudron-users"
    key = env["CLOUDRON_LOGIN_SESSION_KEY"]["secretKeyRef"]
    (secret,) = [obj for obj in only(objects, "Secret") if obj["metadata"]["name"] == key["name"]]
    assert len(base64.b64decode(secret["data"][key["key"]])) >= 32
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    operator = next(obj for obj in only(objects, "Deployment") if obj is not login)
    assert deployment_env([operator])["CLOUDRON_OPERATOR_LOGIN_URL"] == "https://login.example.com"
    service_account = login["spec"]["template"]["spec"]["serviceAccountName"]
    granted = {
        (binding["roleRef"]["name"], binding["metadata"].get("namespace"))
        for binding in objects
        if binding["kind"] in ("RoleBinding", "ClusterRoleBinding")
        and any(subject["name"] == service_account for subject in binding["subjects"])
    }
    rules = {
        (rule_name, tuple(rule["resources"]), tuple(rule["verbs"]))
        for role in objects
        if role["kind"] in ("Role", "ClusterRole")
        and (role["metadata"]["name"], role["metadata"].get("namespace")) in granted
        for rule in role["rules"]
        for rule_name in [role["metadata"]["name"]]
    }
    assert {(resources, verbs) for _, resources, verbs in rules} == {
        (("cloudronusers", "cloudronapps"), ("list",)),
        (("secrets",), ("get", "create", "patch", "delete")),
    }


def test_the_apps_namespaces_get_their_pod_security_levels_when_the_chart_creates_them() -> None:
    assert not [
        ns for ns in only(render(*NAMESPACED), "Namespace") if ns["metadata"]["name"].startswith("team")
    ]
    objects = render(*NAMESPACED, "--set", "podSecurity.createWatchNamespaces=true")
    namespaces = {ns["metadata"]["name"]: ns["metadata"] for ns in only(objects, "Namespace")}
    for name in ("team-a", "team-b"):
        assert namespaces[name]["annotations"] == {"helm.sh/resource-policy": "keep"}, (
            "they hold the apps' data"
        )
        labels = namespaces[name]["labels"]
        assert {
            mode: labels[f"pod-security.kubernetes.io/{mode}"] for mode in ("enforce", "warn", "audit")
        } == {
            "enforce": "baseline",
            "warn": "baseline",
            "audit": "restricted",
        }
        assert labels["pod-security.kubernetes.io/enforce-version"] == "latest"
    assert namespaces["cloudron-users"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
