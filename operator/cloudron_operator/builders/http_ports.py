"""The manifest's httpPorts: extra HTTP services of the app, each on a host of its own."""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from cloudron_operator.manifest import Manifest
from cloudron_operator.models import CloudronAppSpec
from cloudron_operator.models.types import FQDN_PATTERN

_FQDN: Final = re.compile(FQDN_PATTERN)


class HttpService(NamedTuple):
    env_name: str  # the manifest key; the app reads the service's host from this env var
    host: str
    container_port: int  # where the app serves it


def default_host(domain: str, suggestion: str) -> str:
    """Where Cloudron would put the service: the suggested subdomain in the app's domain.

    A CloudronApp has one name where Cloudron has a location and a domain; the domain is taken as
    the name without its first label (`git.example.com` → `example.com`), or the name itself when
    that would leave a single label.
    """
    _, _, zone = domain.partition(".")
    return f"{suggestion.lower()}.{zone if '.' in zone else domain}"


def http_services(spec: CloudronAppSpec, manifest: Manifest) -> tuple[HttpService, ...]:
    """Each httpPorts entry on the host spec.httpPorts gives it, else on its default; an entry with
    neither (no defaultValue, or one that makes no valid host) is left out: `check_spec` refuses it."""
    services = []
    for name, port in manifest.http_ports.items():
        host = spec.http_ports.get(name)
        if host is None and port.default_value is not None:
            host = default_host(spec.domain, port.default_value)
        if host is not None and _FQDN.fullmatch(host):
            services.append(HttpService(name, host, port.container_port))
    return tuple(services)
