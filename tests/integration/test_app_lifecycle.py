"""What a user relies on over an app's life: updates reach the children, stop and start, drift repair,
deletion, invalid specs reported once, a restarted operator that writes nothing, and kubectl's columns.

The operator runs as a subprocess watching the test's namespace and resyncing every few seconds.
Windows in which nothing may happen are measured in the operator's own timer runs, not in sleeps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import pytest
from kubernetes import client

from cloudron_operator import builders
from cloudron_operator.k8s import api as k8s
from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess, scrape, value
from tests.harness.processes import HarnessError, wait_until
from tests.integration.addon_support import AddonSet, app_object
from tests.integration.apps_support import (
    APP,
    STARTING_MARKER,
    WAIT,
    condition,
    example,
    get_app,
    is_ready,
    kubectl_apply,
    wait_for_resyncs,
    wait_until_ready,
)

T = TypeVar("T")
Snapshot = dict[str, Any]

WATCHED_ENV = ("APP_DOMAIN", "APP_ORIGIN", "ZNC_PORT", "IDENT_PORT")


@pytest.fixture
def ready_znc(
    api_client: client.ApiClient,
    cluster: LocalEnv,
    namespace: str,
    app_operator: OperatorProcess,
    data_volume: None,
) -> None:
    """The znc example applied in the test's namespace, and Ready (its Certificate issued)."""
    kubectl_apply(cluster.cluster, example("znc", namespace))
    wait_until_ready(api_client, namespace, "znc", "znc-tls")


def eventually_equal(observe: Callable[[], T], expected: T, what: str) -> None:
    """Poll `observe` until it returns `expected`; else fail on one more observation (pytest shows a diff)."""
    try:
        wait_until(lambda: observe() == expected, WAIT, what)
    except HarnessError:
        assert observe() == expected, what


def child(api: client.ApiClient, namespace: str, api_version: str, kind: str, name: str) -> dict[str, Any]:
    found = k8s.get(api, api_version, kind, namespace, name)
    assert found is not None, f"{kind} {name} does not exist"
    return found


def app_container(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    deployment = child(api, namespace, "apps/v1", "Deployment", name)
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def children_of(api: client.ApiClient, namespace: str, app: str) -> dict[str, dict[str, Any]]:
    """Every object labelled as the app's child, keyed "Kind/name"."""
    selector = f"{builders.APP_LABEL}={app}"
    found = {}
    for api_version, kind in builders.CHILD_KINDS:
        for obj in k8s.list_objects(api, api_version, kind, namespace, selector):
            found[f"{kind}/{obj['metadata']['name']}"] = obj
    return found


def resource_versions(api: client.ApiClient, namespace: str, app: str) -> dict[str, str]:
    """resourceVersion of the app and of each of its children: any write to one of them changes it."""
    versions = {
        key: obj["metadata"]["resourceVersion"] for key, obj in children_of(api, namespace, app).items()
    }
    versions["CloudronApp/" + app] = get_app(api, namespace, app)["metadata"]["resourceVersion"]
    return versions


def warning_events(api: client.ApiClient, namespace: str, app: dict[str, Any], reason: str) -> int:
    """How many times a Warning with `reason` was reported on the app (Events and their repeat counts)."""
    events = k8s.list_objects(api, "v1", "Event", namespace)
    return sum(
        int(event.get("count") or 1)
        for event in events
        if event["involvedObject"].get("uid") == app["metadata"]["uid"]
        and event.get("type") == "Warning"
        and event.get("reason") == reason
    )


# --- 1. spec changes -------------------------------------------------------------------------------


def znc_children_view(api: client.ApiClient, namespace: str) -> Snapshot:
    """What the znc app's children say about its image, ports, hosts and env, in comparable form."""
    container = app_container(api, namespace, "znc")
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    ports = k8s.get(api, "v1", "Service", namespace, "znc-ports")
    redirects = k8s.get(api, "networking.k8s.io/v1", "Ingress", namespace, "znc-redirects")
    ingress = child(api, namespace, "networking.k8s.io/v1", "Ingress", "znc")
    policy = child(api, namespace, "networking.k8s.io/v1", "NetworkPolicy", "znc")
    certificate = child(api, namespace, "cert-manager.io/v1", "Certificate", "znc-tls")
    return {
        "image": container["image"],
        "container_ports": sorted((p["containerPort"], p["protocol"]) for p in container["ports"]),
        "env": {name: env[name] for name in WATCHED_ENV if name in env},
        "ports_service": None
        if ports is None
        else sorted((p["port"], p["targetPort"], p["protocol"]) for p in ports["spec"]["ports"]),
        "policy_ports": sorted(
            (p["port"], p["protocol"]) for rule in policy["spec"]["ingress"] for p in rule["ports"]
        ),
        "hosts": [rule["host"] for rule in ingress["spec"]["rules"]],
        "redirect_hosts": None
        if redirects is None
        else [rule["host"] for rule in redirects["spec"]["rules"]],
        "dns_names": certificate["spec"]["dnsNames"],
    }


def test_spec_changes_reach_the_children_and_leave_nothing_behind(
    api_client: client.ApiClient, cluster: LocalEnv, namespace: str, app_operator: OperatorProcess
) -> None:
    app = example("znc", namespace)
    kubectl_apply(cluster.cluster, app)
    eventually_equal(
        lambda: znc_children_view(api_client, namespace),
        {
            "image": "registry.example.com/znc:0.1.5",
            "container_ports": [(6697, "TCP"), (8000, "TCP")],
            "env": {
                "APP_DOMAIN": "znc.example.com",
                "APP_ORIGIN": "https://znc.example.com",
                "ZNC_PORT": "6697",
            },
            "ports_service": [(6697, 6697, "TCP")],
            "policy_ports": [(6697, "TCP"), (8000, "TCP")],
            "hosts": ["znc.example.com"],
            "redirect_hosts": None,
            "dns_names": ["znc.example.com"],
        },
        "the children of the app as created",
    )

    # An update: new image and manifest version with another httpPort and one more TCP port, the
    # app moved to a new domain (the old one redirects there) and its port moved to 7000.
    spec = app["spec"]
    spec.update(
        image="registry.example.com/znc:0.1.6",
        domain="irc.example.com",
        redirects=["znc.example.com"],
        ports={"ZNC_PORT": 7000},
    )
    spec["manifest"].update(version="0.1.6", httpPort=8080)
    spec["manifest"]["tcpPorts"]["IDENT_PORT"] = {
        "title": "identd",
        "description": "identd",
        "defaultValue": 1113,
    }
    kubectl_apply(cluster.cluster, app)
    eventually_equal(
        lambda: znc_children_view(api_client, namespace),
        {
            "image": "registry.example.com/znc:0.1.6",
            "container_ports": [(1113, "TCP"), (7000, "TCP"), (8080, "TCP")],
            "env": {
                "APP_DOMAIN": "irc.example.com",
                "APP_ORIGIN": "https://irc.example.com",
                "ZNC_PORT": "7000",
                "IDENT_PORT": "1113",
            },
            "ports_service": [(1113, 1113, "TCP"), (7000, 7000, "TCP")],
            "policy_ports": [(1113, "TCP"), (7000, "TCP"), (8080, "TCP")],
            "hosts": ["irc.example.com"],
            "redirect_hosts": ["znc.example.com"],
            "dns_names": ["irc.example.com", "znc.example.com"],
        },
        "the children to follow the new image, manifest, domain and ports",
    )
    eventually_equal(
        lambda: get_app(api_client, namespace, "znc")["status"]["url"],
        "https://irc.example.com",
        "status.url",
    )

    spec["ports"] = {"ZNC_PORT": None}  # disabled: no Service port, no env var
    kubectl_apply(cluster.cluster, app)
    eventually_equal(
        lambda: {k: v for k, v in znc_children_view(api_client, namespace).items() if k != "image"},
        {
            "container_ports": [(1113, "TCP"), (8080, "TCP")],
            "env": {
                "APP_DOMAIN": "irc.example.com",
                "APP_ORIGIN": "https://irc.example.com",
                "IDENT_PORT": "1113",
            },
            "ports_service": [(1113, 1113, "TCP")],
            "policy_ports": [(1113, "TCP"), (8080, "TCP")],
            "hosts": ["irc.example.com"],
            "redirect_hosts": ["znc.example.com"],
            "dns_names": ["irc.example.com", "znc.example.com"],
        },
        "the disabled port to leave the Service, the container and the env",
    )

    # The next version drops IDENT_PORT and the redirect is no longer wanted: no port is left.
    del spec["manifest"]["tcpPorts"]["IDENT_PORT"]
    spec["manifest"]["version"] = "0.1.7"
    del spec["redirects"]
    kubectl_apply(cluster.cluster, app)
    eventually_equal(
        lambda: {k: v for k, v in znc_children_view(api_client, namespace).items() if k != "image"},
        {
            "container_ports": [(8080, "TCP")],
            "env": {"APP_DOMAIN": "irc.example.com", "APP_ORIGIN": "https://irc.example.com"},
            "ports_service": None,
            "policy_ports": [(8080, "TCP")],
            "hosts": ["irc.example.com"],
            "redirect_hosts": None,
            "dns_names": ["irc.example.com"],
        },
        "the removed port and redirect to leave no Service, Ingress, env var or certificate name behind",
    )
    assert sorted(children_of(api_client, namespace, "znc")) == [
        "Certificate/znc-tls",
        "Deployment/znc",
        "Ingress/znc",
        "NetworkPolicy/znc",
        "PersistentVolumeClaim/znc-data",
        "Service/znc",
    ]


# --- 2. stop and start -----------------------------------------------------------------------------


def deployment_scale(api: client.ApiClient, namespace: str, name: str) -> tuple[int, int]:
    """(wanted replicas, pods that exist) of the app's Deployment."""
    deployment = child(api, namespace, "apps/v1", "Deployment", name)
    return int(deployment["spec"]["replicas"]), int(deployment.get("status", {}).get("replicas") or 0)


def app_phase(api: client.ApiClient, namespace: str, name: str) -> tuple[str, str, str]:
    """(phase, Ready status, Ready reason) of the app."""
    app = get_app(api, namespace, name)
    ready = condition(app, "Ready")
    return app.get("status", {}).get("phase", ""), ready.get("status", ""), ready.get("reason", "")


def test_a_stopped_app_scales_to_zero_keeps_its_data_and_starts_again(
    api_client: client.ApiClient,
    cluster: LocalEnv,
    namespace: str,
    app_operator: OperatorProcess,
    data_volume: None,
) -> None:
    app = example("znc", namespace)
    kubectl_apply(cluster.cluster, app)
    wait_until_ready(api_client, namespace, "znc", "znc-tls")
    claim = child(api_client, namespace, "v1", "PersistentVolumeClaim", "znc-data")

    app["spec"]["running"] = False
    kubectl_apply(cluster.cluster, app)
    eventually_equal(
        lambda: deployment_scale(api_client, namespace, "znc"), (0, 0), "the app to scale to zero"
    )
    eventually_equal(
        lambda: app_phase(api_client, namespace, "znc"), ("Stopped", "False", "Stopped"), "phase Stopped"
    )
    kept = child(api_client, namespace, "v1", "PersistentVolumeClaim", "znc-data")
    assert kept["metadata"]["uid"] == claim["metadata"]["uid"], "the data volume is the same claim"
    assert kept["metadata"].get("deletionTimestamp") is None
    assert kept["status"]["phase"] == "Bound"

    app["spec"]["running"] = True
    kubectl_apply(cluster.cluster, app)
    eventually_equal(lambda: deployment_scale(api_client, namespace, "znc"), (1, 1), "the app to start again")
    eventually_equal(
        lambda: app_phase(api_client, namespace, "znc"), ("Running", "True", "Running"), "the app Ready again"
    )
    again = child(api_client, namespace, "v1", "PersistentVolumeClaim", "znc-data")
    assert again["metadata"]["uid"] == claim["metadata"]["uid"]


# --- 3. drift --------------------------------------------------------------------------------------


def test_a_hand_edited_image_is_restored_by_the_resync(
    api_client: client.ApiClient, cluster: LocalEnv, namespace: str, app_operator: OperatorProcess
) -> None:
    kubectl_apply(cluster.cluster, example("znc", namespace))
    wait_until(
        lambda: k8s.get(api_client, "apps/v1", "Deployment", namespace, "znc") is not None,
        WAIT,
        "the Deployment",
    )
    wanted = app_container(api_client, namespace, "znc")["image"]

    edited = cluster.cluster.kubectl(
        "set",
        "image",
        "-n",
        namespace,
        "deployment/znc",
        "app=registry.example.com/other:1",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    )
    assert edited == "registry.example.com/other:1"

    eventually_equal(
        lambda: app_container(api_client, namespace, "znc")["image"],
        wanted,
        "the resync to restore the image",
    )


def child_applies(operator: OperatorProcess, outcome: str) -> float:
    return value(scrape(operator), "cloudron_operator_child_applies_total", outcome=outcome)


def test_a_resync_asks_nothing_about_children_left_as_applied_yet_restores_an_edit(
    api_client: client.ApiClient,
    cluster: LocalEnv,
    namespace: str,
    app_operator: OperatorProcess,
    ready_znc: None,
) -> None:
    # The cluster wrote to the children since the app's first pass applied them (the Deployment's
    # rollout, the claim's binding, the Certificate's status), and so does someone here, to a field
    # the operator does not set: none of that is a field of the operator's.
    asked, known = child_applies(app_operator, "unchanged"), child_applies(app_operator, "known")
    cluster.cluster.kubectl("annotate", "-n", namespace, "deployment/znc", "example.com/team=search")
    # A tick runs no pass when it comes soon after the app's last one, or, once, when other passes
    # wait for a thread: of three ticks, the last runs one at least.
    wait_for_resyncs(app_operator, namespace, "znc", count=3)
    assert child_applies(app_operator, "unchanged") == asked, "a resync dry-ran a child left as applied"
    assert child_applies(app_operator, "known") >= known + 7, "a resync of seven known children"
    annotations = child(api_client, namespace, "apps/v1", "Deployment", "znc")["metadata"]["annotations"]
    assert annotations.get("example.com/team") == "search", "a field of someone else's is left alone"

    wanted = app_container(api_client, namespace, "znc")["image"]
    updated = child_applies(app_operator, "updated")
    other = "app=registry.example.com/other:1"
    cluster.cluster.kubectl("set", "image", "-n", namespace, "deployment/znc", other)
    eventually_equal(
        lambda: app_container(api_client, namespace, "znc")["image"],
        wanted,
        "the resync to restore the image of a Deployment it knew as applied",
    )
    eventually_equal(lambda: child_applies(app_operator, "updated"), updated + 1, "one update")


# --- 4. deletion -----------------------------------------------------------------------------------


def remaining_objects(api: client.ApiClient, namespace: str, app: str) -> list[str]:
    """The app itself, its children and its pods, as far as they still exist."""
    left = sorted(children_of(api, namespace, app))
    selector = f"{builders.APP_LABEL}={app}"
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=selector).items
    left += [f"Pod/{pod.metadata.name}" for pod in pods]
    if k8s.get(api, *APP, namespace, app) is not None:
        left.append(f"CloudronApp/{app}")
    return left


def test_deleting_the_app_removes_it_and_everything_it_owned(
    api_client: client.ApiClient,
    cluster: LocalEnv,
    namespace: str,
    app_operator: OperatorProcess,
    ready_znc: None,
) -> None:
    assert "cloudron.io/finalizer" in get_app(api_client, namespace, "znc")["metadata"].get("finalizers", [])
    assert len(remaining_objects(api_client, namespace, "znc")) == 9  # the app, 7 children, the pod

    cluster.cluster.kubectl("delete", "-n", namespace, "cloudronapp/znc", "--wait=false")
    nothing: list[str] = []
    eventually_equal(
        lambda: remaining_objects(api_client, namespace, "znc"),
        nothing,
        "the app and its children to be gone (finalizer removed, then garbage collection)",
    )


# --- 5. invalid input ------------------------------------------------------------------------------


def invalid_apps(namespace: str) -> dict[str, tuple[dict[str, Any], str, tuple[str, ...]]]:
    """App name -> (the app as a user writes it, the Ready reason, words the message must contain)."""
    bad_manifest = example("znc", namespace)
    bad_manifest["metadata"]["name"] = "bad-manifest"
    bad_manifest["spec"]["manifest"]["httpPort"] = 80000  # the CRD keeps the manifest as it is
    no_sso = example("znc", namespace)
    no_sso["metadata"]["name"] = "no-sso"
    no_sso["spec"]["sso"] = False
    low_memory = example("znc", namespace)
    low_memory["metadata"]["name"] = "low-memory"
    low_memory["spec"]["memoryLimit"] = "128Mi"  # the manifest's minimum is 256Mi
    for app in (bad_manifest, no_sso, low_memory):  # a host is one app's
        app["spec"]["domain"] = f"{app['metadata']['name']}.example.com"
    return {
        "bad-manifest": (bad_manifest, "InvalidManifest", ("spec.manifest", "httpPort", "65535")),
        "no-sso": (no_sso, "InvalidSpec", ("spec.sso", "optionalSso", "set it to true")),
        "low-memory": (low_memory, "InvalidSpec", ("spec.memoryLimit", "128Mi", "256Mi")),
    }


def fix(app: dict[str, Any]) -> None:
    """Undo what `invalid_apps` broke."""
    app["spec"]["manifest"]["httpPort"] = 8000
    app["spec"].pop("sso", None)
    app["spec"].pop("memoryLimit", None)


def left_the_error(api: client.ApiClient, namespace: str, name: str, reason: str) -> bool:
    """Whether the app's Ready condition, computed from its fixed spec (generation 2), left `reason`."""
    app = get_app(api, namespace, name)
    ready = condition(app, "Ready")
    return (
        app["metadata"]["generation"] == ready.get("observedGeneration") == 2
        and ready.get("reason") not in (reason, None)
        and app["status"]["phase"] != "Error"
    )


def test_invalid_specs_are_reported_once_and_recover_when_fixed(
    api_client: client.ApiClient, cluster: LocalEnv, namespace: str, app_operator: OperatorProcess
) -> None:
    cases = invalid_apps(namespace)
    for app, _, _ in cases.values():
        kubectl_apply(cluster.cluster, app)
    for name, (_, reason, words) in cases.items():
        eventually_equal(partial(app_phase, api_client, namespace, name), ("Error", "False", reason), name)
        message = condition(get_app(api_client, namespace, name), "Ready")["message"]
        for word in words:
            assert word in message, f"{name}: {word!r} not in the Ready message {message!r}"
        stalled = condition(get_app(api_client, namespace, name), "Stalled")
        assert (stalled["status"], stalled["reason"], stalled["message"]) == ("True", reason, message), name
        assert k8s.get(api_client, "apps/v1", "Deployment", namespace, name) is None, name

    # Let what kopf writes after its handlers land, then nothing may change for a few resyncs.
    wait_for_resyncs(app_operator, namespace, *cases, count=1)
    before = {name: get_app(api_client, namespace, name) for name in cases}
    wait_for_resyncs(app_operator, namespace, *cases)
    for name, (_, reason, _) in cases.items():
        after = get_app(api_client, namespace, name)
        assert after["metadata"]["resourceVersion"] == before[name]["metadata"]["resourceVersion"], (
            f"{name}: the operator rewrote an app whose spec did not change"
        )
        assert warning_events(api_client, namespace, after, reason) == 1, (
            f"{name}: one Warning Event, not more"
        )

    for app, _, _ in cases.values():
        fix(app)
        kubectl_apply(cluster.cluster, app)
    for name, (_, reason, _) in cases.items():
        recovered = partial(left_the_error, api_client, namespace, name, reason)
        wait_until(recovered, WAIT, f"{name} to leave Ready reason {reason} once fixed")
        assert k8s.get(api_client, "apps/v1", "Deployment", namespace, name) is not None, name
        assert condition(get_app(api_client, namespace, name), "Stalled") == {}, f"{name}: still Stalled"


def test_an_app_whose_children_would_have_another_apps_names_waits_for_it(
    api_client: client.ApiClient, namespace: str, app_operator: OperatorProcess
) -> None:
    """App `wiki`'s Redis would be Deployment, Service and NetworkPolicy `wiki-redis`, as app
    `wiki-redis`'s own are: each apply would take them over from the other app."""
    no_addons = AddonSet({}, {})
    k8s.create(api_client, app_object("wiki", namespace, no_addons, manifest_addons={}))
    wait_until(lambda: deployment_owner(api_client, namespace, "wiki") is not None, WAIT, "wiki's Deployment")
    later = k8s.create(api_client, app_object("wiki-redis", namespace, no_addons, manifest_addons={}))

    def reason() -> str:
        return str(condition(get_app(api_client, namespace, "wiki-redis"), "Ready").get("reason"))

    wait_until(lambda: reason() == "NameConflict", WAIT, "wiki-redis to report NameConflict")
    message = condition(get_app(api_client, namespace, "wiki-redis"), "Ready")["message"]
    assert "app wiki in this namespace was made first" in message
    assert "named wiki-redis: give this app another name" in message
    assert deployment_owner(api_client, namespace, "wiki-redis") is None
    assert warning_events(api_client, namespace, later, "NameConflict") == 1

    k8s.delete(api_client, *APP, namespace, "wiki")
    wait_until(
        lambda: deployment_owner(api_client, namespace, "wiki-redis") == later["metadata"]["uid"],
        WAIT,
        "wiki-redis to get its children once wiki is gone",
    )


def deployment_owner(api: client.ApiClient, namespace: str, name: str) -> str | None:
    deployment = k8s.get(api, "apps/v1", "Deployment", namespace, name)
    if deployment is None:
        return None
    return next((ref["uid"] for ref in deployment["metadata"].get("ownerReferences", [])), None)


# --- 6. restart ------------------------------------------------------------------------------------


def test_a_restarted_operator_writes_nothing_to_unchanged_objects(
    api_client: client.ApiClient,
    cluster: LocalEnv,
    namespace: str,
    app_operator: OperatorProcess,
    ready_znc: None,
) -> None:
    wait_for_resyncs(app_operator, namespace, "znc", count=1)  # let what kopf writes after its handlers land
    settled = resource_versions(api_client, namespace, "znc")
    assert len(settled) == 8, settled  # the app and its seven children
    wait_for_resyncs(app_operator, namespace, "znc", count=2)
    assert resource_versions(api_client, namespace, "znc") == settled, "a resync wrote to an unchanged object"

    app_operator.kill()
    app_operator.start()
    wait_for_resyncs(app_operator, namespace, "znc")
    assert resource_versions(api_client, namespace, "znc") == settled, (
        "the restart wrote to an unchanged object"
    )
    assert is_ready(api_client, namespace, "znc")


def handled_causes(operator: OperatorProcess, namespace: str, app: str) -> list[str]:
    """What kopf ran the app's handlers for since the operator last started: Creation, Updating, Resuming."""
    log = operator.log.read_text(errors="replace").rsplit(STARTING_MARKER, 1)[-1]
    return re.findall(rf"\[{re.escape(namespace)}/{re.escape(app)}\] (\w+) is processed", log)


def reconciled_generation(api: client.ApiClient, namespace: str, name: str) -> tuple[Any, Any]:
    app = get_app(api, namespace, name)
    return app.get("status", {}).get("reconciledGeneration"), app["metadata"]["generation"]


def test_the_status_says_which_spec_was_reconciled_and_kopf_adds_only_its_finalizer(
    api_client: client.ApiClient,
    cluster: LocalEnv,
    namespace: str,
    app_operator: OperatorProcess,
    ready_znc: None,
) -> None:
    app = get_app(api_client, namespace, "znc")
    assert app["status"]["reconciledGeneration"] == app["metadata"]["generation"]
    assert app["metadata"]["finalizers"] == ["cloudron.io/finalizer"]
    assert not [key for key in app["metadata"].get("annotations", {}) if key.startswith("cloudron.io/")]
    assert handled_causes(app_operator, namespace, "znc") == ["Creation"]

    cluster.cluster.kubectl(
        "patch",
        "-n",
        namespace,
        "cloudronapp/znc",
        "--type=merge",
        "-p",
        '{"spec":{"image":"registry.example.com/znc:0.1.6"}}',
    )
    eventually_equal(
        lambda: app_container(api_client, namespace, "znc")["image"],
        "registry.example.com/znc:0.1.6",
        "the new image to reach the Deployment",
    )
    generation = get_app(api_client, namespace, "znc")["metadata"]["generation"]
    eventually_equal(
        lambda: reconciled_generation(api_client, namespace, "znc"),
        (generation, generation),
        "the new generation marked reconciled",
    )
    assert handled_causes(app_operator, namespace, "znc") == ["Creation", "Updating"]
    app_operator.kill()
    app_operator.start()
    wait_for_resyncs(app_operator, namespace, "znc", count=1)
    assert handled_causes(app_operator, namespace, "znc") == ["Resuming"]


def test_an_app_an_older_operator_handled_is_resumed_and_marked_reconciled(
    api_client: client.ApiClient,
    cluster: LocalEnv,
    namespace: str,
    app_operator: OperatorProcess,
    ready_znc: None,
) -> None:
    """Before the status said it, kopf kept a copy of the handled spec in an annotation."""
    app_operator.kill()
    app = get_app(api_client, namespace, "znc")
    kubectl = cluster.cluster.kubectl
    remove = json.dumps([{"op": "remove", "path": "/status/reconciledGeneration"}])
    kubectl("patch", "-n", namespace, "cloudronapp/znc", "--subresource=status", "--type=json", "-p", remove)
    handled = json.dumps({"spec": app["spec"]})
    kubectl(
        "annotate", "-n", namespace, "cloudronapp/znc", f"cloudron.io/last-handled-configuration={handled}"
    )
    assert reconciled_generation(api_client, namespace, "znc")[0] is None
    app_operator.start()
    generation = app["metadata"]["generation"]
    eventually_equal(
        lambda: reconciled_generation(api_client, namespace, "znc"),
        (generation, generation),
        "the resumed pass to mark the generation reconciled",
    )
    assert handled_causes(app_operator, namespace, "znc") == ["Resuming"]
    assert is_ready(api_client, namespace, "znc")


def test_a_fresh_claim_that_waits_for_a_volume_is_not_rewritten(
    api_client: client.ApiClient, cluster: LocalEnv, namespace: str, app_operator: OperatorProcess
) -> None:
    # No volume for it: the claim stays Pending, so no binding rewrites it either.
    kubectl_apply(cluster.cluster, example("znc", namespace))
    wait_until(
        lambda: k8s.get(api_client, "v1", "PersistentVolumeClaim", namespace, "znc-data") is not None,
        WAIT,
        "the data claim",
    )
    created = child(api_client, namespace, "v1", "PersistentVolumeClaim", "znc-data")
    wait_for_resyncs(app_operator, namespace, "znc")
    now = child(api_client, namespace, "v1", "PersistentVolumeClaim", "znc-data")
    assert now["status"]["phase"] == "Pending"
    assert now["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


# --- 7. kubectl get ---------------------------------------------------------------------------------


def test_kubectl_get_shows_domain_version_ready_phase_and_age(
    api_client: client.ApiClient,
    cluster: LocalEnv,
    namespace: str,
    app_operator: OperatorProcess,
    ready_znc: None,
) -> None:

    table = cluster.cluster.kubectl("get", "capp", "-n", namespace).splitlines()
    header, row = table[0].split(), _cells(table[0], table[1])
    assert header == ["NAME", "DOMAIN", "VERSION", "UPDATE", "READY", "PHASE", "AGE"]
    assert row[:6] == ["znc", "znc.example.com", "0.1.5", "", "True", "Running"], "no update: an own image"
    assert re.fullmatch(r"\d+s|\d+m\d*s?", row[6]), f"AGE {row[6]!r}"


def _cells(header: str, line: str) -> list[str]:
    """The cells of a kubectl table line, by the header's column positions (an empty cell is "")."""
    starts = [match.start() for match in re.finditer(r"\S+", header)]
    ends = [*starts[1:], None]
    return [line[start:end].strip() for start, end in zip(starts, ends, strict=True)]
