"""turn: the cluster's TURN server, which the Addon names, and its shared secret (CLOUDRON.md §2.14).

Cloudron runs one TURN server for all apps and gives each the server and the shared secret; an app
derives time-limited credentials from it (the TURN REST API scheme: user `<expiry>:<name>`,
password `base64(HMAC-SHA1(secret, user))`), which the server checks with the same secret
(coturn's `use-auth-secret`). Nothing is made per app. The Addon's check asks the server for a STUN
binding over UDP, which every TURN server answers without credentials.
"""

from __future__ import annotations

import secrets
import socket
import struct
from collections.abc import Mapping
from typing import Any, Final

from cloudron_operator.addons.base import AddonCheck, AddonProblem, AddonRecord, AddonRequest
from cloudron_operator.addons.logins import AdminSecrets, shared_secret
from cloudron_operator.builders.identity import AppIdentity
from cloudron_operator.models import AddonType
from cloudron_operator.models.conditions import Reason

STUN_BINDING_REQUEST: Final = 0x0001
STUN_BINDING_SUCCESS: Final = 0x0101
STUN_MAGIC_COOKIE: Final = 0x2112A442
TIMEOUT_SECONDS: Final = 3.0


class TurnAddon:
    addon_type = AddonType.TURN
    holds_data = False

    def __init__(self, logins: AdminSecrets) -> None:
        self.logins = logins

    def check(self, addon: AddonRecord) -> AddonCheck:
        shared_secret(self.logins, addon, fresh=True)
        host, port = str(addon.connection.get("host", "")), int(addon.connection.get("port", 0))
        stun_binding(host, port)
        return AddonCheck(f"the TURN server at {host}:{port} answers STUN")

    def env(self, request: AddonRequest) -> dict[str, str]:
        connection, options = request.addon.connection, request.addon.options
        env = {
            "CLOUDRON_TURN_SERVER": str(connection.get("host", "")),
            "CLOUDRON_TURN_PORT": str(connection.get("port", "")),
            "CLOUDRON_TURN_SECRET": shared_secret(self.logins, request.addon),
        }
        if isinstance(options.get("tlsPort"), int):
            env["CLOUDRON_TURN_TLS_PORT"] = str(options["tlsPort"])
        return env

    def provision(self, request: AddonRequest) -> list[dict[str, Any]]:
        return []  # the server is the cluster's; credentials derive from the shared secret

    def deprovision(self, identity: AppIdentity, addon: AddonRecord, options: Mapping[str, Any]) -> None:
        return None


def stun_binding(host: str, port: int) -> None:
    """Send a STUN Binding Request over UDP and wait for the success answer; AddonProblem if none comes."""
    transaction = secrets.token_bytes(12)
    request = struct.pack("!HHI", STUN_BINDING_REQUEST, 0, STUN_MAGIC_COOKIE) + transaction
    where = f"{host}:{port}"
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(TIMEOUT_SECONDS)
            sock.sendto(request, (host, port))
            answer, _ = sock.recvfrom(2048)
    except OSError as error:
        message = f"no STUN answer from the TURN server at {where}: {error.strerror or type(error).__name__}"
        raise AddonProblem(Reason.UNREACHABLE, message) from None
    kind, _, cookie = struct.unpack("!HHI", answer[:8]) if len(answer) >= 20 else (0, 0, 0)
    if kind != STUN_BINDING_SUCCESS or cookie != STUN_MAGIC_COOKIE or answer[8:20] != transaction:
        raise AddonProblem(
            Reason.UNREACHABLE, f"the server at {where} did not answer STUN as a TURN server does"
        )
