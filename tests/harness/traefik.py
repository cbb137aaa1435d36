"""Traefik in the local cluster: its ingress and Gateway API controller, run as a local process.

Traefik (hack/build-binaries.sh builds it from its Go module) watches the local API server through
the kubeconfig in KUBECONFIG, which its Kubernetes providers read when they find no in-cluster
service account. Its entry points listen on loopback ports chosen at start: `web` (HTTP),
`websecure` (HTTPS: TLS on the entry point, every router on it terminates TLS), `traefik` (its API,
insecure, and /ping), and with the experimental channel `tcp` (TCPRoutes).

Its providers: `kubernetesIngress` (Ingresses of IngressClass `traefik`), `kubernetesIngressNGINX`
(Ingresses of IngressClass `nginx`, read as ingress-nginx reads them, annotations included: Traefik's
way off the retired ingress-nginx), both writing the Ingresses' status.loadBalancer as 127.0.0.1, and
`kubernetesGateway` (Gateways of GatewayClass `traefik`; it writes the status of GatewayClasses,
Gateways and routes). Traefik maps a Gateway listener to the
entry point whose address ends in `:<listener port>`, and an HTTP listener only to an entry point
without TLS: so `install_classes` gives the Gateway the ports of this process. Nothing is simulated:
requests to the entry points reach the Services' EndpointSlices' addresses. kwok runs no pod, so a
test serves a backend itself on loopback and describes it with `loopback_endpoint_slice`.
"""

from __future__ import annotations

import base64
import datetime
import http.client
import json
import os
import re
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.harness import gateway_api
from tests.harness.binaries import built
from tests.harness.cluster import LocalCluster
from tests.harness.processes import LOOPBACK, HarnessError, free_port, spawn, stop_process_group, wait_until

INGRESS_CLASS: Final = "traefik"
INGRESS_CONTROLLER: Final = "traefik.io/ingress-controller"
NGINX_INGRESS_CLASS: Final = "nginx"
NGINX_INGRESS_CONTROLLER: Final = "k8s.io/ingress-nginx"  # the class Traefik's ingress-nginx provider serves
GATEWAY_CLASS: Final = "traefik"
GATEWAY_CONTROLLER: Final = "traefik.io/gateway-controller"
GATEWAY: Final = "cloudron"
GATEWAY_NAMESPACE: Final = "cloudron-gateway"
# The https listener needs a certificate of its own to be valid; Traefik serves, by SNI, any
# certificate it has loaded (a listener's, an Ingress's), and its own default one for unknown names.
GATEWAY_CERTIFICATE_SECRET: Final = "cloudron-gateway-default-tls"
GATEWAY_CERTIFICATE_HOSTNAME: Final = "cloudron-gateway.invalid"
START_TIMEOUT: Final = 60.0
PROGRAMMED_TIMEOUT: Final = "60s"
REQUEST_TIMEOUT: Final = 10.0


def binary() -> Path:
    """The built traefik binary; a HarnessError naming the build command when missing or stale."""
    return built("traefik", "TRAEFIK_VERSION")


def crds(channel: gateway_api.Channel = "standard") -> Path:
    """The Gateway API CRDs Traefik is started with (see `gateway_api`)."""
    return gateway_api.crds(channel)


class Response(NamedTuple):
    """What an entry point answered: status, headers, body, and for HTTPS the certificate (DER)."""

    status: int
    headers: dict[str, str]
    body: bytes
    certificate: bytes | None


@dataclass(frozen=True)
class TraefikProcess:
    """A running Traefik: its process group and the loopback ports of its entry points."""

    pid: int
    web_port: int
    websecure_port: int
    api_port: int
    tcp_port: int | None = None  # the `tcp` entry point: only with the experimental channel

    @property
    def experimental_channel(self) -> bool:
        return self.tcp_port is not None

    def api(self, path: str) -> Any:
        """GET Traefik's API, e.g. /api/http/routers, /api/http/services, /api/tcp/routers,
        /api/overview, /api/rawdata, /api/entrypoints; the decoded JSON."""
        connection = http.client.HTTPConnection(LOOPBACK, self.api_port, timeout=REQUEST_TIMEOUT)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise HarnessError(f"Traefik's API answered {response.status} to GET {path}: {body[:500]!r}")
        return json.loads(body)

    def routers(self, protocol: str = "http") -> dict[str, dict[str, Any]]:
        """The routers Traefik serves, by name (`<name>@<provider>`)."""
        return {router["name"]: router for router in self.api(f"/api/{protocol}/routers")}

    def request(
        self, host: str, path: str = "/", *, tls: bool = False, method: str = "GET", port: int | None = None
    ) -> Response:
        """One request to `web` (or `websecure` with `tls`, SNI `host`) with Host `host`; no redirect
        followed, no certificate verified (the one served is in the Response)."""
        if tls:
            connection: http.client.HTTPConnection = _SNIConnection(
                LOOPBACK, port or self.websecure_port, host, timeout=REQUEST_TIMEOUT
            )
        else:
            connection = http.client.HTTPConnection(LOOPBACK, port or self.web_port, timeout=REQUEST_TIMEOUT)
        try:
            connection.connect()
            certificate = None
            if isinstance(connection.sock, ssl.SSLSocket):
                certificate = connection.sock.getpeercert(binary_form=True)
            connection.request(method, path, headers={"Host": host})
            response = connection.getresponse()
            return Response(response.status, dict(response.getheaders()), response.read(), certificate)
        finally:
            connection.close()

    def certificate(self, host: str) -> bytes:
        """The certificate (DER) `websecure` serves for SNI `host`: a TLS handshake, no request (that
        would go on to the app, which kwok does not run)."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with (
            socket.create_connection((LOOPBACK, self.websecure_port), REQUEST_TIMEOUT) as sock,
            context.wrap_socket(sock, server_hostname=host) as tls,
        ):
            certificate = tls.getpeercert(binary_form=True)
        if certificate is None:
            raise HarnessError(f"Traefik served no certificate for {host}")
        return certificate

    def backends(self, host: str, namespace: str, entry_point: str = "websecure") -> dict[str, set[str]]:
        """What Traefik does with a request for `host` on `entry_point`, as its API says: for each of its
        routers of objects in `namespace` whose rule names the host, the URLs of the servers its
        service sends to (a RequestRedirect route's service has none). A wildcard host
        (`*.example.com`) is matched by a `Host` of that very name or a `HostRegexp` that matches a
        name under it. Traefik names each router after its object's namespace, and so do tests."""
        raw = self.api("/api/rawdata")
        routers = {
            name: router
            for name, router in raw.get("routers", {}).items()
            if f"-{namespace}-" in f"-{name}"
            and entry_point in router.get("entryPoints", [])
            and _rule_serves(router.get("rule", ""), host)
        }
        return {
            name: _servers(raw.get("services", {}), name, router["service"])
            for name, router in routers.items()
        }


def _rule_serves(rule: str, host: str) -> bool:
    # Traefik's rules quote as Go does: a "…" string has its backslashes doubled.
    hosts = re.findall(r'Host\(["`]([^"`]+)["`]\)', rule)
    patterns = [json.loads(f'"{quoted}"') for quoted in re.findall(r'HostRegexp\("([^"]+)"\)', rule)]
    probe = "probe" + host[1:] if host.startswith("*.") else host
    return host in hosts or any(re.fullmatch(pattern, probe) for pattern in patterns)


def _servers(services: dict[str, Any], router: str, service: str) -> set[str]:
    """The server URLs of `service` (named as the router names it), through weighted services."""
    name = service if "@" in service else f"{service}@{router.rsplit('@', 1)[-1]}"
    found = services.get(name, {})
    urls = {server["url"] for server in found.get("loadBalancer", {}).get("servers", [])}
    for child in found.get("weighted", {}).get("services", []):
        urls |= _servers(services, router, child["name"])
    return urls


class _SNIConnection(http.client.HTTPSConnection):
    """HTTPS to a loopback address with another name in the TLS handshake (SNI)."""

    def __init__(self, address: str, port: int, server_name: str, timeout: float) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        super().__init__(address, port, timeout=timeout, context=context)
        self._server_name = server_name
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self._server_name)


def start(
    kubeconfig: Path, log: Path, *, experimental_channel: bool = False, log_level: str = "INFO"
) -> TraefikProcess:
    """Traefik watching the whole cluster through `kubeconfig`; its log goes to `log`.

    Returns once it answers /ping. The Gateway API CRDs must be installed first (of the experimental
    channel with `experimental_channel`: Traefik then watches TCPRoute v1alpha2, and without those
    CRDs its Gateway provider never starts, silently).
    """
    names = ["web", "websecure", "traefik", *(["tcp"] if experimental_channel else [])]
    ports: dict[str, int] = {}
    while len(set(ports.values())) < len(names):
        ports = {name: free_port() for name in names}
    argv = [str(binary()), *_arguments(ports, experimental_channel, log_level)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE_")}
    process = spawn(argv, log, env={**env, "KUBECONFIG": str(kubeconfig)})
    traefik = TraefikProcess(
        process.pid, ports["web"], ports["websecure"], ports["traefik"], ports.get("tcp")
    )

    def answers() -> bool:
        if process.poll() is not None:
            raise HarnessError(f"traefik exited {process.returncode}; see {log}")
        connection = http.client.HTTPConnection(LOOPBACK, traefik.api_port, timeout=2)
        try:
            connection.request("GET", "/ping")
            return connection.getresponse().status == 200
        finally:
            connection.close()

    try:
        wait_until(answers, START_TIMEOUT, f"traefik to answer /ping (log {log})")
    except HarnessError:
        stop(traefik)
        raise
    return traefik


def _arguments(ports: dict[str, int], experimental_channel: bool, log_level: str) -> list[str]:
    entry_points = [
        f"--entryPoints.{name}.{option}"
        for name, port in ports.items()
        for option in (f"address={LOOPBACK}:{port}", "transport.lifeCycle.graceTimeOut=1s")
    ]
    return [
        *entry_points,
        # Routers that name no entry point (an Ingress's) are on web and websecure only.
        "--entryPoints.web.asDefault=true",
        "--entryPoints.websecure.asDefault=true",
        "--entryPoints.websecure.http.tls=true",
        "--api.insecure=true",
        "--api.dashboard=false",  # the module ships no web UI build: its page would be a 500
        "--ping=true",
        "--providers.kubernetesIngress=true",
        f"--providers.kubernetesIngress.ingressClass={INGRESS_CLASS}",
        f"--providers.kubernetesIngress.ingressEndpoint.ip={LOOPBACK}",
        # A stopped app's Service has no endpoints: its hosts answer 503, not 404 (no router).
        "--providers.kubernetesIngress.allowEmptyServices=true",
        "--providers.kubernetesIngressNGINX=true",
        f"--providers.kubernetesIngressNGINX.ingressClass={NGINX_INGRESS_CLASS}",
        f"--providers.kubernetesIngressNGINX.controllerClass={NGINX_INGRESS_CONTROLLER}",
        f"--providers.kubernetesIngressNGINX.publishStatusAddress={LOOPBACK}",
        "--providers.kubernetesIngressNGINX.httpEntryPoint=web",
        "--providers.kubernetesIngressNGINX.httpsEntryPoint=websecure",
        "--providers.kubernetesGateway=true",
        f"--providers.kubernetesGateway.experimentalChannel={str(experimental_channel).lower()}",
        f"--providers.kubernetesGateway.statusAddress.ip={LOOPBACK}",
        "--providers.providersThrottleDuration=200ms",
        f"--log.level={log_level}",
        "--log.noColor=true",
        # Nothing here reaches the internet: no version check, no usage report.
        "--global.checkNewVersion=false",
        "--global.sendAnonymousUsage=false",
    ]


def stop(traefik: TraefikProcess) -> None:
    stop_process_group(traefik.pid)


def install_classes(
    cluster: LocalCluster, traefik: TraefikProcess, namespace: str = GATEWAY_NAMESPACE, name: str = GATEWAY
) -> None:
    """IngressClasses `traefik` and `nginx`, GatewayClass `traefik`, and Gateway `name` in
    `namespace` with listeners on this Traefik's ports: `http` (web), `https` (websecure, terminating
    TLS with a self-signed certificate of its own) and, with the experimental channel, `tcp`; each
    allows routes from every namespace. Returns once Traefik has written that the Gateway is
    Programmed."""
    listeners: list[dict[str, Any]] = [
        _listener("http", traefik.web_port, "HTTP"),
        {
            **_listener("https", traefik.websecure_port, "HTTPS"),
            "tls": {
                "mode": "Terminate",
                "certificateRefs": [{"kind": "Secret", "name": GATEWAY_CERTIFICATE_SECRET}],
            },
        },
    ]
    if traefik.tcp_port is not None:
        listeners.append(_listener("tcp", traefik.tcp_port, "TCP"))
    items = [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": INGRESS_CLASS},
            "spec": {"controller": INGRESS_CONTROLLER},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": NGINX_INGRESS_CLASS},
            "spec": {"controller": NGINX_INGRESS_CONTROLLER},
        },
        {
            "apiVersion": gateway_api.API_VERSION,
            "kind": "GatewayClass",
            "metadata": {"name": GATEWAY_CLASS},
            "spec": {"controllerName": GATEWAY_CONTROLLER},
        },
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        tls_secret(GATEWAY_CERTIFICATE_SECRET, namespace, [GATEWAY_CERTIFICATE_HOSTNAME]),
        {
            "apiVersion": gateway_api.API_VERSION,
            "kind": "Gateway",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"gatewayClassName": GATEWAY_CLASS, "listeners": listeners},
        },
    ]
    cluster.apply(items)
    cluster.kubectl(
        "wait",
        "--for=condition=Programmed",
        f"--timeout={PROGRAMMED_TIMEOUT}",
        "-n",
        namespace,
        f"gateways.{gateway_api.GROUP}/{name}",
    )


def _listener(name: str, port: int, protocol: str) -> dict[str, Any]:
    return {
        "name": name,
        "port": port,
        "protocol": protocol,
        "allowedRoutes": {"namespaces": {"from": "All"}},
    }


def tls_secret(name: str, namespace: str, hostnames: Sequence[str]) -> dict[str, Any]:
    """A kubernetes.io/tls Secret with a new self-signed certificate for `hostnames` (its SANs)."""
    certificate, key = self_signed(hostnames)
    data = {"tls.crt": certificate, "tls.key": key}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "kubernetes.io/tls",
        "data": {field: base64.b64encode(value).decode() for field, value in data.items()},
    }


def self_signed(hostnames: Sequence[str]) -> tuple[bytes, bytes]:
    """A new self-signed certificate for `hostnames` (its SANs) and its key, both PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hostnames]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), pem_key


def loopback_endpoint_slice(
    namespace: str, service: str, port: int, *, port_name: str = "http", name: str | None = None
) -> dict[str, Any]:
    """An EndpointSlice that sends the traffic of Service `service` (its port named `port_name`, and
    no selector) to a server of the test on 127.0.0.1:`port`.

    The API server refuses loopback addresses in IPv4 slices; an FQDN slice takes "127.0.0.1" as a
    name, and Traefik uses the addresses of any slice as they are. Traefik's Gateway provider takes
    only endpoints with conditions.ready true, its Ingress provider those serving (or unset).
    """
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name or f"{service}-loopback",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": "FQDN",
        "endpoints": [{"addresses": [LOOPBACK], "conditions": {"ready": True, "serving": True}}],
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
    }
