"""The spec rules that depend on the app's manifest; the CRD schema checks the rest."""

from __future__ import annotations

from collections import Counter

from cloudron_operator.builders.env import platform_env_names
from cloudron_operator.builders.errors import InvalidSpec
from cloudron_operator.builders.http_ports import http_services
from cloudron_operator.builders.memory import effective_memory_limit
from cloudron_operator.builders.ports import MAX_PORT, enabled_ports
from cloudron_operator.manifest import Manifest
from cloudron_operator.models import CloudronAppSpec


def check_spec(spec: CloudronAppSpec, manifest: Manifest) -> None:
    """Raise InvalidSpec naming every rule the spec breaks, each with what to change."""
    problems = [
        *_port_problems(spec, manifest),
        *_http_port_problems(spec, manifest),
        *_sso_problems(spec, manifest),
        *_alias_problems(spec, manifest),
        *_env_problems(spec, manifest),
    ]
    try:
        effective_memory_limit(spec, manifest)
    except InvalidSpec as invalid:
        problems += invalid.problems
    if problems:
        raise InvalidSpec(*problems)


def _http_port_problems(spec: CloudronAppSpec, manifest: Manifest) -> list[str]:
    declared = manifest.http_ports
    choices = ", ".join(declared) or "none"
    problems = [
        f"spec.httpPorts.{name}: the app's manifest declares no httpPorts service of that name "
        f"(its services: {choices}); remove {name} from spec.httpPorts"
        for name in spec.http_ports
        if name not in declared
    ]
    served = {service.env_name: service.host for service in http_services(spec, manifest)}
    problems += [
        f"spec.httpPorts.{name}: the app's manifest suggests no usable host for this service "
        f"({port.default_value or 'no defaultValue'}); give it one in spec.httpPorts.{name}"
        for name, port in declared.items()
        if name not in served
    ]
    problems += [
        f"spec.httpPortAliases.{name}: the app's manifest declares no httpPorts service of that name "
        f"(its services: {choices}); remove {name} from spec.httpPortAliases"
        for name in spec.http_port_aliases
        if name not in declared
    ]
    problems += [
        f"spec.httpPortAliases.{name}: the manifest's httpPorts.{name} does not accept alias domains "
        "(no aliasableDomain); remove its aliases, or redirect those hosts elsewhere"
        for name, aliases in spec.http_port_aliases.items()
        if aliases and name in declared and not declared[name].aliasable_domain
    ]
    service_aliases = [host for service in http_services(spec, manifest) for host in service.aliases]
    taken = Counter([spec.domain, *spec.aliases, *spec.redirects, *served.values(), *service_aliases])
    problems += [
        f"spec.httpPorts.{name}: {host} is already another of the app's hosts; "
        "give the service a host of its own"
        for name, host in served.items()
        if taken[host] > 1
    ]
    problems += [
        f"spec.httpPortAliases: {host} is already another of the app's hosts; give each host one use"
        for host in sorted({host for host in service_aliases if taken[host] > 1})
    ]
    return problems


def _port_problems(spec: CloudronAppSpec, manifest: Manifest) -> list[str]:
    declared = {port.env_name: port.port for port in manifest.declared_ports}
    choices = ", ".join(declared) or "none"
    problems = [
        f"spec.ports.{name}: the app's manifest declares no TCP or UDP port of that name "
        f"(its ports: {choices}); remove {name} from spec.ports"
        for name in spec.ports
        if name not in declared
    ]
    for name, chosen in spec.ports.items():
        port = declared.get(name)
        if (
            port
            and port.read_only
            and port.default_value is not None
            and chosen not in (None, port.default_value)
        ):
            problems.append(
                f"spec.ports.{name}: the app's manifest fixes this port at {port.default_value}; "
                f"set it to {port.default_value}, or to null to disable the port"
            )
    enabled = enabled_ports(spec, manifest)
    problems += [
        f"spec.ports.{port.env_name}: its range of {port.port_count} ports from {port.external_port} "
        f"goes past {MAX_PORT}; choose a first port of at most {MAX_PORT - port.port_count + 1}"
        for port in enabled
        if port.external_port + port.port_count - 1 > MAX_PORT
    ]
    problems += [
        f"spec.ports.{port.env_name}: the manifest maps its {port.port_count} ports to container ports "
        f"from {port.container_port}, past {MAX_PORT}: the package must be fixed"
        for port in enabled
        if port.container_port != port.external_port and port.container_port + port.port_count - 1 > MAX_PORT
    ]
    in_use = Counter(
        (external, port.protocol) for port in enabled for external, _ in port.pairs() if external <= MAX_PORT
    )
    problems += [
        f"spec.ports: {count} ports would use {number}/{protocol}; give each a port of its own"
        for (number, protocol), count in in_use.items()
        if count > 1
    ]
    return problems


def _sso_problems(spec: CloudronAppSpec, manifest: Manifest) -> list[str]:
    if spec.sso or manifest.optional_sso:
        return []
    return [
        "spec.sso: the app's manifest does not make single sign-on optional (it has no optionalSso: true); "
        "remove spec.sso or set it to true"
    ]


def _alias_problems(spec: CloudronAppSpec, manifest: Manifest) -> list[str]:
    if not spec.aliases or manifest.allows_aliases:
        return []
    return [
        "spec.aliases: the app's manifest does not accept alias domains (it sets neither multiDomain nor "
        "aliasableDomain); remove spec.aliases, or move those hosts to spec.redirects"
    ]


def _env_problems(spec: CloudronAppSpec, manifest: Manifest) -> list[str]:
    reserved = platform_env_names(manifest)
    return [
        f"spec.env.{name}: the operator sets this variable for the app; remove it from spec.env"
        for name in spec.env
        if name in reserved
    ]
