"""Whether this replica is the active one, decided as kopf decides it, from kopf's peering objects.

kopf pauses the handlers of a replica while another live replica has a higher priority (or the
same: then all pause). What the operator does outside kopf's handlers, the status refreshes that
the store's watches set off, must pause too. The peering object (a ClusterKopfPeering when the
operator watches all namespaces, a KopfPeering in each namespace it watches) keeps every replica's
priority, when it was last seen and for how long that counts; the store watches it, and this view
applies kopf's rule (`kopf._core.engines.peering.process_peering_event`, kopf 1.45).
"""

from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from kopf._core.engines.peering import Identity as KopfIdentity

from cloudron_operator.k8s.resources import Kind

CLUSTER_PEERING: Final = Kind("kopf.dev/v1", "ClusterKopfPeering", "clusterkopfpeerings", namespaced=False)
NAMESPACED_PEERING: Final = Kind("kopf.dev/v1", "KopfPeering", "kopfpeerings")
MAX_PRIORITY: Final = 2**31 - 1
DEFAULT_LIFETIME: Final = 60


@dataclass(frozen=True)
class Identity:
    """Who this replica is among its peers: the id and priority it hands kopf."""

    id: str
    priority: int

    def kopf_identity(self) -> KopfIdentity:
        return KopfIdentity(self.id)

    @classmethod
    def new(cls, pod: str | None) -> Identity:
        """Named as kopf names a replica: by its pod (POD_ID), else by its host and a random part; with
        a random priority (equal priorities would pause every replica: kopf's rule)."""
        name = pod or f"{socket.gethostname()}/{secrets.token_hex(4)}"
        return cls(name, secrets.randbelow(MAX_PRIORITY) + 1)


class PeeringView:
    """The peers that the peering objects of the name list now, by object (namespace, name)."""

    def __init__(self, identity: Identity, name: str, clock: Callable[[], datetime] | None = None) -> None:
        self.identity, self.name = identity, name
        self._clock = clock or (lambda: datetime.now(UTC))
        self._peers: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._lock = threading.Lock()

    def paused(self) -> bool:
        """Whether kopf pauses this replica: another live peer has a priority as high or higher."""
        now = self._clock()
        with self._lock:
            peers = [peer for status in self._peers.values() for peer in status.items()]
        return any(
            peer_id != self.identity.id and _alive(info, now) and _priority(info) >= self.identity.priority
            for peer_id, info in peers
        )

    # The store's informer feeds it (`store.informer.Sink`).
    def replace(self, objects: Iterable[Mapping[str, Any]], namespace: str | None) -> None:
        with self._lock:
            self._peers = {
                key: status for key, status in self._peers.items() if namespace not in (None, key[0])
            }
        for obj in objects:
            self.upsert(obj)

    def upsert(self, obj: Mapping[str, Any]) -> None:
        meta = obj["metadata"]
        if meta.get("name") != self.name:
            return
        status = obj.get("status") or {}
        with self._lock:
            self._peers[(str(meta.get("namespace") or ""), self.name)] = dict(status)

    def remove(self, obj: Mapping[str, Any]) -> None:
        meta = obj["metadata"]
        with self._lock:
            self._peers.pop((str(meta.get("namespace") or ""), str(meta["name"])), None)


def _alive(info: Mapping[str, Any], now: datetime) -> bool:
    try:
        seen = datetime.fromisoformat(str(info["lastseen"]))
    except (KeyError, ValueError):
        return True  # kopf takes a peer without a valid lastseen as seen just now
    if seen.tzinfo is None:
        seen = seen.replace(tzinfo=UTC)
    return seen + timedelta(seconds=int(info.get("lifetime", DEFAULT_LIFETIME))) > now


def _priority(info: Mapping[str, Any]) -> int:
    return int(info.get("priority", 0))
