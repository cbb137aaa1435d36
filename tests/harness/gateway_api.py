"""The Gateway API's CRDs in the local cluster, of the release Traefik supports (GATEWAY_API_VERSION).

hack/build-binaries.sh copies both channels of the release from its Go module into the cache. The
standard channel is what a cluster usually has; the experimental one adds the v1alpha2 versions of
TCPRoute, TLSRoute and UDPRoute (the standard channel of v1.6 serves only their v1), which Traefik
3.7 needs for TCPRoute. The release's ValidatingAdmissionPolicy (it refuses a CRD of the other
channel or of an older release over an installed one) is left out: a test cluster may switch.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from tests.harness.binaries import cache_dir, pinned_versions
from tests.harness.cluster import LocalCluster
from tests.harness.processes import HarnessError, wait_until

Channel = Literal["standard", "experimental"]
GROUP: Final = "gateway.networking.k8s.io"
API_VERSION: Final = f"{GROUP}/v1"
ESTABLISHED_TIMEOUT: Final = 60.0


def crds(channel: Channel = "standard") -> Path:
    """The directory of the pinned release's CRDs of `channel`; a HarnessError when not built."""
    directory = cache_dir() / "gateway-api-crds"
    wanted = pinned_versions()["GATEWAY_API_VERSION"]
    stamp = directory / ".version"
    if not stamp.exists() or stamp.read_text().strip() != wanted or not (directory / channel).is_dir():
        raise HarnessError(
            f"the Gateway API CRDs {wanted} are not in {directory}: run hack/build-binaries.sh"
        )
    return directory / channel


def install_crds(cluster: LocalCluster, channel: Channel = "standard") -> None:
    """Apply the CRDs of `channel`; return once each is Established and its resources are served."""
    definitions = [crd for path in sorted(crds(channel).glob("*.yaml")) for crd in _definitions(path)]
    cluster.apply(definitions)
    names = [f"crd/{crd['metadata']['name']}" for crd in definitions]
    cluster.kubectl("wait", "--for=condition=Established", f"--timeout={int(ESTABLISHED_TIMEOUT)}s", *names)
    for crd in definitions:
        name = crd["metadata"]["name"]
        wait_until(functools.partial(_served, cluster, crd), ESTABLISHED_TIMEOUT, f"{name} served")


def _definitions(path: Path) -> list[dict[str, Any]]:
    return [
        doc
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc["kind"] == "CustomResourceDefinition"
    ]


def _served(cluster: LocalCluster, crd: dict[str, Any]) -> bool:
    """Established is not enough: the API server may answer 404 for a moment after."""
    spec = crd["spec"]
    for version in (v["name"] for v in spec["versions"] if v.get("served", True)):
        cluster.kubectl("get", "--raw", f"/apis/{spec['group']}/{version}/{spec['names']['plural']}?limit=1")
    return True
