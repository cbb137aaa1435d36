"""Keeping an app's data: `storage.whenDeleted: Retain` keeps its volume when the app goes, and the
chart's ValidatingAdmissionPolicy refuses deleting an app marked `cloudron.io/deletion-protection`.
The API server, kube-controller-manager's garbage collector and the operator are the real ones."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from cloudron_operator.k8s import api as k8s
from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import HarnessError, wait_until
from tests.integration.apps_support import APP, WAIT, example, kubectl_apply
from tests.integration.chart_support import installed, render

CLAIM = ("v1", "PersistentVolumeClaim")
PROTECTION = "cloudron.io/deletion-protection"
POLICY_KINDS = {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


def _znc(namespace: str, **storage: Any) -> dict[str, Any]:
    """The znc example with a persistentDir: two volumes, /app/data and the persistentDirs'."""
    app = example("znc", namespace)
    app["spec"]["manifest"]["persistentDirs"] = ["/var/lib/znc"]
    app["spec"]["storage"] = {**app["spec"].get("storage", {}), **storage}
    return app


def _claim(api: client.ApiClient, namespace: str, name: str = "znc-data") -> dict[str, Any] | None:
    return k8s.get(api, *CLAIM, namespace, name)


def _owner_uids(claim: dict[str, Any] | None) -> list[str]:
    return [ref["uid"] for ref in (claim or {}).get("metadata", {}).get("ownerReferences", [])]


def _deleting_or_gone(claim: dict[str, Any] | None) -> bool:
    return claim is None or "deletionTimestamp" in claim["metadata"]


def _app_uid(api: client.ApiClient, namespace: str) -> str | None:
    app = k8s.get(api, *APP, namespace, "znc")
    return app["metadata"]["uid"] if app is not None else None


def _events(api: client.ApiClient, namespace: str, reason: str) -> list[str]:
    events = client.CoreV1Api(api).list_namespaced_event(namespace, field_selector=f"reason={reason}")
    return [event.message for event in events.items]


def _delete_and_wait(api: client.ApiClient, namespace: str) -> None:
    k8s.delete(api, *APP, namespace, "znc")
    wait_until(lambda: k8s.get(api, *APP, namespace, "znc") is None, WAIT, "the app to be gone")


def test_a_kept_volume_outlives_its_app_and_the_next_app_of_the_name_takes_it_over(
    api_client: client.ApiClient,
    cluster: LocalEnv,
    namespace: str,
    app_operator: OperatorProcess,
    data_volume: None,
) -> None:
    kubectl_apply(cluster.cluster, _znc(namespace, whenDeleted="Retain"))
    wait_until(lambda: _claim(api_client, namespace, "znc-dirs") is not None, WAIT, "the app's volume claims")
    for name in ("znc-data", "znc-dirs"):
        assert _owner_uids(_claim(api_client, namespace, name)) == [], f"kept volume {name} has no owner"
    volume = (_claim(api_client, namespace) or {})["metadata"]["uid"]

    _delete_and_wait(api_client, namespace)
    for name in ("znc-data", "znc-dirs"):
        claim = _claim(api_client, namespace, name)
        assert claim is not None and "deletionTimestamp" not in claim["metadata"], name
    assert (_claim(api_client, namespace) or {})["metadata"]["uid"] == volume
    wait_until(
        lambda: any(
            "znc-data, PersistentVolumeClaim znc-dirs kept" in message
            for message in _events(api_client, namespace, "VolumeRetained")
        ),
        WAIT,
        "the Event saying the volumes were kept",
    )

    kubectl_apply(cluster.cluster, _znc(namespace))  # whenDeleted: Delete, the default
    wait_until(
        lambda: _owner_uids(_claim(api_client, namespace)) == [_app_uid(api_client, namespace)],
        WAIT,
        "the new app to take the volume over",
    )
    assert (_claim(api_client, namespace) or {})["metadata"]["uid"] == volume, (
        "the same volume, not a new one"
    )

    _delete_and_wait(api_client, namespace)
    wait_until(
        lambda: _deleting_or_gone(_claim(api_client, namespace)),
        WAIT,
        "the garbage collector to delete the volume of an app that did not keep it",
    )


def test_a_volume_kept_just_before_the_deletion_is_released_by_the_deletion_itself(
    api_client: client.ApiClient,
    cluster: LocalEnv,
    namespace: str,
    app_operator: OperatorProcess,
    data_volume: None,
) -> None:
    """The spec says Retain while no operator runs, then the app is deleted at once, with no pass
    between: the teardown itself takes the app's ownership off the volume."""
    kubectl_apply(cluster.cluster, _znc(namespace))
    wait_until(lambda: bool(_owner_uids(_claim(api_client, namespace))), WAIT, "the app's owned volume claim")
    volume = (_claim(api_client, namespace) or {})["metadata"]["uid"]

    app_operator.kill()
    kubectl_apply(cluster.cluster, _znc(namespace, whenDeleted="Retain"))
    k8s.delete(api_client, *APP, namespace, "znc")  # stays, behind the operator's finalizer
    app_operator.start()

    wait_until(lambda: k8s.get(api_client, *APP, namespace, "znc") is None, WAIT, "the app to be gone")
    claim = _claim(api_client, namespace)
    assert claim is not None and claim["metadata"]["uid"] == volume
    for name in ("znc-data", "znc-dirs"):
        claim = _claim(api_client, namespace, name)
        assert claim is not None and _owner_uids(claim) == [] and "deletionTimestamp" not in claim["metadata"]


@pytest.fixture
def deletion_policy(cluster: LocalEnv, installed_crds: None, namespace: str) -> Iterator[None]:
    """The chart's deletion-protection policy and binding, for the test's namespace."""
    objects = render(
        f"dp-{secrets.token_hex(3)}", "cloudron-system", "--set", f"watchNamespaces={{{namespace}}}"
    )
    with installed(cluster, [obj for obj in objects if obj["kind"] in POLICY_KINDS]):
        yield


def _delete_refusal(cluster: LocalEnv, namespace: str, *, dry_run: bool) -> str | None:
    """The API server's refusal of `kubectl delete` of the app; None when it deletes (or would)."""
    args = ["-n", namespace, "delete", "cloudronapp", "znc", "--wait=false"]
    try:
        cluster.cluster.kubectl(*args, *(["--dry-run=server"] if dry_run else []))
    except HarnessError as refused:
        return str(refused)
    return None


def test_a_protected_app_cannot_be_deleted_until_the_annotation_goes(
    api_client: client.ApiClient, cluster: LocalEnv, namespace: str, deletion_policy: None
) -> None:
    app = _znc(namespace)
    app["metadata"]["annotations"] = {PROTECTION: "true"}
    kubectl_apply(cluster.cluster, app)
    # The API server compiles a new policy within a second or so: until then a dry run would pass.
    wait_until(
        lambda: _delete_refusal(cluster, namespace, dry_run=True) is not None,
        WAIT,
        "the policy to refuse the deletion",
    )

    refusal = _delete_refusal(cluster, namespace, dry_run=False)
    assert refusal is not None and "protected from deletion" in refusal
    assert f"annotate cloudronapp znc {PROTECTION}-" in refusal, "the refusal says how to lift it"
    assert k8s.get(api_client, *APP, namespace, "znc") is not None

    cluster.cluster.kubectl("-n", namespace, "annotate", "cloudronapp", "znc", f"{PROTECTION}-")
    assert _delete_refusal(cluster, namespace, dry_run=False) is None
    wait_until(lambda: k8s.get(api_client, *APP, namespace, "znc") is None, WAIT, "the app to be deleted")
