"""The operator starts before its CRDs are served, as beside a fresh `helm install`, and works once they are.

The API server answers a resource it does not serve yet with a plain-text `404 page not found`, not
a JSON Status: the start-up path must take that for "no apps yet", and the operator must serve the
kind once it is served (it starts again in the same process: `kopf_adapters/late_crd.py`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from cloudron_operator.k8s import api as k8s
from tests.harness.localenv import LocalEnv
from tests.harness.processes import wait_until
from tests.integration.apps_support import (
    APP,
    WAIT,
    example,
    install_crds,
    namespaced_operator,
    wait_until_ready,
)

APPS_CRD = "cloudronapps.cloudron.io"
APPS_PATH = "/apis/cloudron.io/v1alpha1/cloudronapps"


def _remove_apps_crd(api: client.ApiClient) -> None:
    """Delete the CloudronApp CRD; apps other tests left behind lose their finalizers first.

    Their tests and operators have ended: nothing else would remove the finalizers, and the CRD
    would wait for them forever.
    """
    for app in [] if _not_served(api) else k8s.list_objects(api, *APP, None):  # run alone: no CRD yet
        meta = app["metadata"]
        if meta.get("finalizers"):
            client.CustomObjectsApi(api).patch_namespaced_custom_object(
                "cloudron.io",
                "v1alpha1",
                meta["namespace"],
                "cloudronapps",
                meta["name"],
                {"metadata": {"finalizers": None}},
            )
    k8s.delete(api, "apiextensions.k8s.io/v1", "CustomResourceDefinition", None, APPS_CRD)
    wait_until(lambda: _not_served(api), WAIT, f"{APPS_CRD} to be gone and its resource not served")


def _not_served(api: client.ApiClient) -> bool:
    try:
        k8s.request(api, "GET", APPS_PATH)
    except k8s.ApiError as error:
        if error.not_found:
            return True
        raise
    return False


def test_an_operator_started_before_its_crds_are_served_serves_the_apps_made_after(
    api_client: client.ApiClient,
    cluster: LocalEnv,
    namespace: str,
    tmp_path: Path,
    data_volume: None,
) -> None:
    _remove_apps_crd(api_client)
    # What the start-up path's list of the apps gets now.
    with pytest.raises(k8s.ApiError) as answer:
        k8s.request(api_client, "GET", APPS_PATH)
    assert answer.value.reason == k8s.NOT_SERVED and answer.value.retriable, answer.value
    operator = namespaced_operator(cluster.cluster.kubeconfig, tmp_path / "operator.log", namespace)
    crd_back = False
    try:
        operator.start()  # returns once /healthz answers: the start-up handler did not fail

        install_crds(cluster)
        crd_back = True
        k8s.create(api_client, example("znc", namespace))
        wait_until_ready(api_client, namespace, "znc", "znc-tls")
        assert operator.is_running()
        log = operator.log_tail(200_000)
        assert "JSONDecodeError" not in log and "Traceback" not in log, log[-4000:]
        # kopf looks the API up again only on a CRD event, which can come before discovery lists the
        # kind: the operator starts again, in the same process, once the kind is served.
        assert "the CloudronApp API is served now, after the operator started" in log
    finally:
        operator.stop()
        if not crd_back:
            install_crds(cluster)
