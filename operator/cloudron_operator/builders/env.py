"""The app's environment: Cloudron's runtime variables, the port variables and the custom env."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Final

from cloudron_operator.builders.http_ports import http_services
from cloudron_operator.builders.identity import AppIdentity
from cloudron_operator.builders.ports import enabled_ports
from cloudron_operator.config import OperatorConfig
from cloudron_operator.manifest import Manifest
from cloudron_operator.models import CloudronAppSpec

# The runtime variables, without the prefix manifestVersion 2 apps get (CLOUDRON_APP_ORIGIN, ...).
_RUNTIME_NAMES: Final = (
    "APP_ORIGIN",
    "APP_DOMAIN",
    "APP_HOSTNAME",
    "API_ORIGIN",
    "WEBADMIN_ORIGIN",
    "PROXY_IP",
    "ALIAS_DOMAINS",
)
PLATFORM_FLAG: Final = "CLOUDRON"  # always un-prefixed: "CLOUDRON=1" tells the app where it runs
COUNT_SUFFIX: Final = "_COUNT"


def runtime_env(
    identity: AppIdentity, spec: CloudronAppSpec, manifest: Manifest, config: OperatorConfig
) -> dict[str, str]:
    """The platform's variables (CLOUDRON.md §3.1), then one per enabled port and httpPorts service.

    An origin or address the operator is not configured with is left out rather than set empty.
    """
    prefix = manifest.env_prefix
    values = {
        "APP_ORIGIN": f"https://{spec.domain}",
        "APP_DOMAIN": spec.domain,
        "APP_HOSTNAME": identity.uid,  # Cloudron's app id, which is also the pod's hostname
        "API_ORIGIN": config.api_origin,
        "WEBADMIN_ORIGIN": config.api_origin,
        "PROXY_IP": config.proxy_ip,
    }
    env = {PLATFORM_FLAG: "1"} | {prefix + name: value for name, value in values.items() if value}
    if manifest.allows_aliases:
        env[prefix + "ALIAS_DOMAINS"] = ",".join(spec.aliases)
    for port in enabled_ports(spec, manifest):
        env[port.env_name] = str(port.external_port)
        if port.declares_count:
            env[port.env_name + COUNT_SUFFIX] = str(port.port_count)
    for service in http_services(spec, manifest):
        env[service.env_name] = service.host
    return env


def platform_env_names(manifest: Manifest) -> frozenset[str]:
    """Every variable the operator may set for the app, which the custom env must not redefine."""
    ports = [port.env_name for port in manifest.declared_ports]
    return frozenset(
        [PLATFORM_FLAG]
        + [manifest.env_prefix + name for name in _RUNTIME_NAMES]
        + ports
        + [name + COUNT_SUFFIX for name in ports]
        + list(manifest.http_ports)
    )


def container_env(
    identity: AppIdentity, spec: CloudronAppSpec, manifest: Manifest, config: OperatorConfig
) -> list[dict[str, str]]:
    """The container's `env`: the runtime variables, then spec.env by name."""
    env = runtime_env(identity, spec, manifest, config) | dict(sorted(spec.env.items()))
    return [{"name": name, "value": value} for name, value in env.items()]


def secrets_hash(secrets: Mapping[str, Mapping[str, str]]) -> str:
    """A digest of the Secrets' names and content: it changes, and the pods restart, when any value does."""
    canonical = json.dumps({name: dict(data) for name, data in secrets.items()}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()
