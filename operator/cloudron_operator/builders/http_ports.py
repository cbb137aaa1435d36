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
    aliases: tuple[str, ...] = ()  # more hosts of the service (spec.httpPortAliases)


def location_and_zone(domain: str) -> tuple[str, str]:
    """Cloudron's split of an app's name into its location (subdomain) and the domain it is in.

    A CloudronApp has one name: the domain is taken as the name without its first label
    (`git.example.com` → `git`, `example.com`), and a two-label name as an app on the bare domain
    (`example.com` → ``, `example.com`).
    """
    location, _, zone = domain.partition(".")
    return (location, zone) if "." in zone else ("", domain)


def default_host(domain: str, suggestion: str) -> str:
    """Where Cloudron would put the service: the suggested subdomain in the app's domain."""
    return f"{suggestion.lower()}.{location_and_zone(domain)[1]}"


def http_services(spec: CloudronAppSpec, manifest: Manifest) -> tuple[HttpService, ...]:
    """Each httpPorts entry on the host spec.httpPorts gives it, else on its default; an entry with
    neither (no defaultValue, or one that makes no valid host) is left out: `check_spec` refuses it."""
    services = []
    for name, port in manifest.http_ports.items():
        host = spec.http_ports.get(name)
        if host is None and port.default_value is not None:
            host = default_host(spec.domain, port.default_value)
        if host is not None and _FQDN.fullmatch(host):
            aliases = spec.http_port_aliases.get(name, ()) if port.aliasable_domain else ()
            services.append(HttpService(name, host, port.container_port, tuple(aliases)))
    return tuple(services)
