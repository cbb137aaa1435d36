"""cert-manager itself issues and renews the apps' certificates in the local cluster.

Its own controllers (hack/tools/cert-manager-controller) sign with the cluster's CA issuer
(tests/harness/cert_manager.py); the test reads what a client of the app would get: the key pair in
the TLS Secret, its names, its issuer, its validity, and a new one after a renewal.
"""

from __future__ import annotations

import base64
import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kubernetes import client

from cloudron_operator.k8s import api as k8s
from tests.harness.cert_manager import LOCAL_CA_ISSUER
from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import wait_until
from tests.integration.apps_support import (
    WAIT,
    certificate_ready,
    condition,
    example,
    get_app,
    kubectl_apply,
    wait_for_resyncs,
    wait_until_ready,
)

CERTIFICATE = ("cert-manager.io/v1", "Certificate")
DEFAULT_DURATION = datetime.timedelta(days=90)  # cert-manager's, when the Certificate names none
REVISION_ANNOTATION = "cloudron.io/certificate-revision"


def _app(namespace: str) -> dict[str, Any]:
    app = example("znc", namespace)
    app["spec"]["redirects"] = ["irc.example.org"]
    app["spec"]["manifest"]["addons"]["tls"] = {}  # the app reads the key pair: renewal restarts it
    return app


def _key_pair(api: client.ApiClient, namespace: str) -> tuple[x509.Certificate, bytes]:
    secret = k8s.get(api, "v1", "Secret", namespace, "znc-tls") or {}
    data = secret.get("data", {})
    certificate = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
    key = serialization.load_pem_private_key(base64.b64decode(data["tls.key"]), password=None)
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return certificate, public


def _pod_template_annotations(api: client.ApiClient, namespace: str) -> dict[str, str]:
    deployment = k8s.get(api, "apps/v1", "Deployment", namespace, "znc") or {}
    return dict(deployment["spec"]["template"]["metadata"].get("annotations", {}))


def test_cert_manager_issues_the_apps_names_and_a_renewal_restarts_a_tls_app(
    api_client: client.ApiClient,
    cluster: LocalEnv,
    namespace: str,
    app_operator: OperatorProcess,
    data_volume: None,
) -> None:
    kubectl_apply(cluster.cluster, _app(namespace))
    wait_until_ready(api_client, namespace, "znc", "znc-tls")

    issued, public_key = _key_pair(api_client, namespace)
    names = issued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(names.get_values_for_type(x509.DNSName)) == ["irc.example.org", "znc.example.com"]
    ca_name = issued.issuer.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value
    assert ca_name == "cloudron-operator local CA"
    assert (
        issued.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == public_key
    ), "the Secret's key is the certificate's"
    lifetime = issued.not_valid_after_utc - issued.not_valid_before_utc
    assert abs(lifetime - DEFAULT_DURATION) < datetime.timedelta(minutes=5)
    certificate = k8s.get(api_client, *CERTIFICATE, namespace, "znc-tls") or {}
    assert certificate["spec"]["issuerRef"]["name"] == LOCAL_CA_ISSUER
    assert certificate["status"]["revision"] == 1
    wait_for_resyncs(app_operator, namespace, "znc", count=2)
    # The first issue restarts nothing: the pods started with it.
    assert REVISION_ANNOTATION not in _pod_template_annotations(api_client, namespace)

    # A renewal, as `cmctl renew` asks for one: cert-manager issues a new certificate with a new key.
    renew = {
        "type": "Issuing",
        "status": "True",
        "reason": "ManuallyTriggered",
        "message": "renewal asked for by the test",
        "lastTransitionTime": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    conditions = [c for c in certificate["status"]["conditions"] if c["type"] != "Issuing"]
    k8s.request(
        api_client,
        "PATCH",
        f"/apis/cert-manager.io/v1/namespaces/{namespace}/certificates/znc-tls/status",
        body={"status": {"conditions": [*conditions, renew]}},
        content_type="application/merge-patch+json",
    )

    def renewed() -> bool:
        current = k8s.get(api_client, *CERTIFICATE, namespace, "znc-tls") or {}
        return current.get("status", {}).get("revision") == 2 and bool(
            certificate_ready(api_client, namespace, "znc-tls")
        )

    wait_until(renewed, WAIT, "cert-manager to renew the certificate")
    again, new_public_key = _key_pair(api_client, namespace)
    assert again.serial_number != issued.serial_number
    assert new_public_key != public_key  # cert-manager's default: a new private key each time
    wait_until(
        lambda: _pod_template_annotations(api_client, namespace).get(REVISION_ANNOTATION) == "2",
        WAIT,
        "the app's pods to restart on the renewed certificate",
    )
    assert condition(get_app(api_client, namespace, "znc"), "CertificateReady")["reason"] == "Issued"


def test_an_issuer_that_does_not_exist_leaves_the_app_not_ready_with_cert_managers_word(
    api_client: client.ApiClient, cluster: LocalEnv, namespace: str, installed_crds: None, tmp_path: Path
) -> None:
    env = {"CLOUDRON_OPERATOR_NAMESPACES": namespace, "CLOUDRON_OPERATOR_CLUSTER_ISSUER": "no-such-issuer"}
    operator = OperatorProcess(cluster.cluster.kubeconfig, tmp_path / "operator.log", env=env)
    operator.start()
    try:
        kubectl_apply(cluster.cluster, example("znc", namespace))

        def not_issued() -> dict[str, Any]:
            found = condition(get_app(api_client, namespace, "znc"), "CertificateReady")
            return found if found.get("status") == "False" else {}

        wait_until(lambda: bool(not_issued()), WAIT, "CertificateReady=False")
        certificate = k8s.get(api_client, *CERTIFICATE, namespace, "znc-tls") or {}
        ready = next(c for c in certificate["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "False"
        assert ready["message"] in not_issued()["message"]  # cert-manager's own words reach the app
        assert condition(get_app(api_client, namespace, "znc"), "Ready")["status"] == "False"
    finally:
        operator.stop()
