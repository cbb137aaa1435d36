"""The one lifecycle every addon type goes through, and what an addon backend implements for it.

The shared flow (`addons.flow`) picks the Addon, reads the app's addon Secret, asks the backend for
the app's variables, writes the Secret, then has the backend provision: a kill at any line leaves
a state the next pass completes, and a password, once in the Secret, stays. A backend knows only
its own addon type:

- `check`: is the Addon usable (the Addon's Ready condition), and which server version it runs;
- `env`: the app's exact CLOUDRON_* variables (generating a password through the request, so that
  the one in the Secret is reused);
- `provision`: converge the server to those variables, and return the children the addon gives the
  app (its own Redis, say);
- `deprovision`: drop what the app had on the server, when the app is deleted.

A backend raises `AddonProblem` with a condition reason; it never puts a secret in a message.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from cloudron_operator.builders.identity import AppIdentity
from cloudron_operator.builders.secrets import RESERVED_PREFIX
from cloudron_operator.manifest import Manifest
from cloudron_operator.models import AddonType, CloudronAppSpec

PASSWORD_BYTES: Final = 24  # 32 URL-safe characters


class AddonProblem(Exception):
    """An addon of the app cannot be provisioned now; `reason` is the condition's reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class AddonRecord:
    """What the operator keeps of an Addon object (from its watch, without another request)."""

    name: str
    type: str
    default: bool
    spec: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_object(cls, name: str, spec: Mapping[str, Any]) -> AddonRecord:
        return cls(name, str(spec.get("type", "")), spec.get("default") is True, spec)

    @property
    def connection(self) -> Mapping[str, Any]:
        return self.spec.get("connection") or {}

    @property
    def options(self) -> Mapping[str, Any]:
        return self.spec.get("options") or {}


@dataclass(frozen=True)
class AddonCheck:
    """What a working Addon answered: a message for its Ready condition, and the server's version."""

    message: str
    server_version: str | None = None


@dataclass
class AddonRequest:
    """One app's addon of one type, in the Addon chosen for it.

    `current`: the app's addon Secret as it is (empty before the first pass). A password is taken
    from it, or generated once per request, so `env` and `provision` see the same one.
    """

    identity: AppIdentity
    spec: CloudronAppSpec
    manifest: Manifest
    addon: AddonRecord
    options: Mapping[str, Any]  # the manifest's options of this addon, e.g. {"multipleDatabases": true}
    current: Mapping[str, str] = field(default_factory=dict, repr=False)
    _generated: dict[str, str] = field(default_factory=dict, repr=False)

    def password(self, key: str) -> str:
        """The password the app's Secret holds under `key` (either naming), else a new one."""
        existing = self.current.get(key) or self.current.get(key.removeprefix(RESERVED_PREFIX))
        if existing:
            return existing
        return self._generated.setdefault(key, secrets.token_urlsafe(PASSWORD_BYTES))


class AddonBackend(Protocol):
    """One addon type: everything the shared flow needs to give an app that addon."""

    addon_type: AddonType
    # The app's data lives in the Addon's server: status.addons records which Addon holds it, the app
    # keeps it there when the default changes, and deleting the app drops it there.
    holds_data: bool

    def check(self, addon: AddonRecord) -> AddonCheck:
        """Whether the Addon works as the apps' provisioning will use it; raises AddonProblem."""
        ...

    def env(self, request: AddonRequest) -> dict[str, str]:
        """The app's CLOUDRON_* variables (as for manifestVersion 2; the flow renames them for 1)."""
        ...

    def provision(self, request: AddonRequest) -> list[dict[str, Any]]:
        """Converge the server to the app's variables; the children the addon adds to the app."""
        ...

    def deprovision(self, identity: AppIdentity, addon: AddonRecord, options: Mapping[str, Any]) -> None:
        """Remove what the app has on the server (the app is being deleted: its spec and manifest may
        not even parse). Absent is fine; raises AddonProblem."""
        ...
