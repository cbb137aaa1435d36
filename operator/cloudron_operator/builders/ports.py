"""Which of the manifest's TCP/UDP ports are enabled, and on which external port."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, Literal, NamedTuple

from cloudron_operator.manifest import DeclaredPort, Manifest
from cloudron_operator.models import CloudronAppSpec

MAX_PORT: Final = 65535


class EnabledPort(NamedTuple):
    """One enabled entry of the manifest's tcpPorts/udpPorts: a port, or a range of `port_count` ports."""

    env_name: str  # the manifest key; the app reads the (first) external port from this env var
    protocol: Literal["TCP", "UDP"]
    external_port: int  # where clients connect: the Service port (the range's first)
    container_port: int  # where the app listens (the range's first)
    declares_count: bool  # the manifest gave a portCount, so the app reads <env_name>_COUNT
    port_count: int = 1  # portCount: external_port.. and container_port.. are `port_count` consecutive ports

    def pairs(self) -> Iterator[tuple[int, int]]:
        """Each (external, container) port of the range, the first first."""
        for offset in range(self.port_count):
            yield self.external_port + offset, self.container_port + offset


def _external_port(declared: DeclaredPort, spec: CloudronAppSpec) -> int | None:
    """The port spec.ports gives, else the manifest's suggestion; None when the port is disabled.

    A port the spec does not mention is enabled on its `defaultValue`, unless the manifest says
    `enabledByDefault: false` or suggests no port at all: then only spec.ports can enable it.
    """
    if declared.env_name in spec.ports:
        return spec.ports[declared.env_name]
    port = declared.port
    return port.default_value if port.enabled_by_default else None


def enabled_ports(spec: CloudronAppSpec, manifest: Manifest) -> tuple[EnabledPort, ...]:
    """The enabled ports, TCP then UDP, in manifest order."""
    enabled = []
    for declared in manifest.declared_ports:
        external = _external_port(declared, spec)
        if external is not None:
            enabled.append(
                EnabledPort(
                    env_name=declared.env_name,
                    protocol=declared.protocol,
                    external_port=external,
                    container_port=declared.port.container_port or external,
                    declares_count=declared.port.port_count is not None,
                    port_count=declared.port.port_count or 1,
                )
            )
    return tuple(enabled)
