"""cert-manager in the local cluster: its own CRDs and controllers, and a CA of the cluster's own.

The controllers are cert-manager's (hack/tools/cert-manager-controller runs them), started as a
process against the local API server like the operator. `install_issuers` gives the cluster what a
real one configures once: a self-signed ClusterIssuer that issues a CA certificate, and the CA
ClusterIssuer (`LOCAL_CA_ISSUER`) that signs the apps' certificates. Nothing here can reach an ACME
server, so the apps' issuer is a CA; everything else (the Certificate, its CertificateRequest, the
key pair in the TLS Secret, renewal) is cert-manager's own doing.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Final

from tests.harness.binaries import cache_dir
from tests.harness.cluster import LocalCluster
from tests.harness.processes import HarnessError, spawn, stop_process_group
from tests.harness.tools import TOOLS_DIR, tool

NAMESPACE: Final = "cert-manager"  # where the CA's Secret lives (ClusterIssuers' resource namespace)
SELF_SIGNED_ISSUER: Final = "cloudron-selfsigned"
LOCAL_CA_ISSUER: Final = "cloudron-local-ca"
CA_SECRET: Final = "cloudron-local-ca"
READY_TIMEOUT: Final = "60s"
API_VERSION: Final = "cert-manager.io/v1"


def crds() -> Path:
    """The directory of cert-manager's CRDs, of the version hack/tools/cert-manager-controller builds."""
    directory = cache_dir() / "cert-manager-crds"
    wanted = _module_version()
    stamp = directory / ".version"
    if not stamp.exists() or stamp.read_text().strip() != wanted:
        raise HarnessError(f"cert-manager's CRDs {wanted} are not in {directory}: run hack/build-binaries.sh")
    return directory


def _module_version() -> str:
    for line in (TOOLS_DIR / "cert-manager-controller" / "go.mod").read_text().splitlines():
        parts = line.split()
        if "github.com/cert-manager/cert-manager" in parts:
            return parts[parts.index("github.com/cert-manager/cert-manager") + 1]
    raise HarnessError(
        "hack/tools/cert-manager-controller/go.mod requires no github.com/cert-manager/cert-manager"
    )


def start_controller(kubeconfig: Path, log: Path) -> subprocess.Popen[bytes]:
    """cert-manager's controllers, watching every namespace; its log goes to `log`."""
    argv = [str(tool("cert-manager-controller")), "--kubeconfig", str(kubeconfig)]
    return spawn([*argv, "--cluster-resource-namespace", NAMESPACE, "-v=2"], log)


def stop_controller(pid: int) -> None:
    stop_process_group(pid)


def install_issuers(cluster: LocalCluster) -> None:
    """The self-signed bootstrap, the cluster's CA certificate and the CA ClusterIssuer; returns once
    cert-manager says the CA issuer is Ready (it has read the CA's key pair)."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    items = [namespace, *_issuer_objects()]
    cluster.kubectl(
        "apply",
        "--server-side",
        "-f",
        "-",
        stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
    )
    cluster.kubectl(
        "wait", "--for=condition=Ready", f"--timeout={READY_TIMEOUT}", f"clusterissuer/{LOCAL_CA_ISSUER}"
    )


def ca_issuer(name: str, secret: str = CA_SECRET) -> dict[str, Any]:
    """A ClusterIssuer that signs with the CA key pair in Secret `secret` of the cert-manager namespace."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterIssuer",
        "metadata": {"name": name},
        "spec": {"ca": {"secretName": secret}},
    }


def _issuer_objects() -> list[dict[str, Any]]:
    ca_certificate = {
        "apiVersion": API_VERSION,
        "kind": "Certificate",
        "metadata": {"name": CA_SECRET, "namespace": NAMESPACE},
        "spec": {
            "isCA": True,
            "commonName": "cloudron-operator local CA",
            "secretName": CA_SECRET,
            "duration": "87600h",
            "privateKey": {"algorithm": "ECDSA", "size": 256},
            "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": SELF_SIGNED_ISSUER},
        },
    }
    self_signed = {
        "apiVersion": API_VERSION,
        "kind": "ClusterIssuer",
        "metadata": {"name": SELF_SIGNED_ISSUER},
        "spec": {"selfSigned": {}},
    }
    return [self_signed, ca_certificate, ca_issuer(LOCAL_CA_ISSUER)]
