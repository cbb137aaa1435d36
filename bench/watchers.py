"""Watches of the bench namespace: when each app, its Certificate and its Deployment reached what.

Times are the bench's wall clock (epoch seconds) when the watch event arrived, so they compare
with the audit log's timestamps. The Certificate watch also plays cert-manager: it marks every
new Certificate issued, from the bench's admin identity (outside the operator's request count).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kubernetes import client, watch

from cloudron_operator.children import workload_condition
from cloudron_operator.k8s import api as k8s

log = logging.getLogger("bench")
ClientFactory = Callable[[], client.ApiClient]


@dataclass
class AppTimes:
    created: float | None = None
    certificate_seen: float | None = None  # the operator created it
    certificate_issued: float | None = None  # the bench, as cert-manager, marked it Ready
    workload_ready: float | None = None  # the Deployment's pods are ready (controller-manager, kwok)
    ready: float | None = None  # the app's Ready condition turned True
    ready_reason: str = ""
    ready_message: str = ""
    ready_now: bool = False  # as of the latest event
    regressions: int = 0  # times Ready went from True to anything else

    @property
    def children_ready(self) -> float | None:
        """When the last thing the operator waits for outside itself was done."""
        if self.certificate_issued is None or self.workload_ready is None:
            return None
        return max(self.certificate_issued, self.workload_ready)


class Timeline:
    """Per app, the first time each milestone was seen. Thread-safe."""

    def __init__(self, names: Iterable[str]) -> None:
        self.apps = {name: AppTimes() for name in names}
        self._lock = threading.Lock()

    def mark(self, name: str | None, milestone: str, at: float | None = None) -> None:
        times = self.apps.get(name or "")
        if times is None:
            return
        with self._lock:
            if getattr(times, milestone) is None:
                setattr(times, milestone, time.time() if at is None else at)

    def not_ready(self) -> list[str]:
        """Apps that have never been Ready."""
        with self._lock:
            return [name for name, times in self.apps.items() if times.ready is None]

    def not_ready_now(self) -> list[str]:
        """Apps whose latest Ready condition is not True."""
        with self._lock:
            return [name for name, times in self.apps.items() if not times.ready_now]

    def on_app(self, app: dict[str, Any]) -> None:
        name = app["metadata"]["name"]
        ready = next(
            (c for c in app.get("status", {}).get("conditions", []) if c.get("type") == "Ready"), None
        )
        if ready is None or name not in self.apps:
            return
        now = ready.get("status") == "True"
        with self._lock:
            times = self.apps[name]
            times.ready_reason = str(ready.get("reason", ""))
            times.ready_message = str(ready.get("message", ""))
            times.regressions += times.ready_now and not now
            times.ready_now = now
        if now:
            self.mark(name, "ready")

    def on_deployment(self, deployment: dict[str, Any]) -> None:
        if workload_condition(deployment, True).status == "True":
            self.mark(_owner(deployment), "workload_ready")


def _owner(obj: dict[str, Any]) -> str | None:
    refs = obj["metadata"].get("ownerReferences", [])
    return next((str(r["name"]) for r in refs if r.get("kind") == "CloudronApp"), None)


class Watcher(threading.Thread):
    """List, then watch, one resource in one namespace; every object seen goes to `on_object`."""

    def __init__(
        self,
        make_client: ClientFactory,
        resource: tuple[str, str, str],
        namespace: str,
        on_object: Callable[[dict[str, Any]], None],
    ) -> None:
        super().__init__(daemon=True, name=f"watch-{resource[2]}")
        self.objects = client.CustomObjectsApi(make_client())
        self.resource, self.namespace, self.on_object = resource, namespace, on_object
        self.stopping = threading.Event()
        self.synced = threading.Event()

    def run(self) -> None:
        group, version, plural = self.resource
        while not self.stopping.is_set():
            try:
                listed = self.objects.list_namespaced_custom_object(group, version, self.namespace, plural)
                for item in listed["items"]:
                    self.on_object(item)
                self.synced.set()
                self._watch(listed["metadata"]["resourceVersion"])
            except Exception as error:  # noqa: BLE001 - expired or broken watch: list again
                if not self.stopping.is_set():
                    log.debug("watch of %s restarts: %s", plural, error)
                    time.sleep(1)

    def _watch(self, resource_version: str) -> None:
        group, version, plural = self.resource
        while not self.stopping.is_set():
            stream = watch.Watch().stream(
                self.objects.list_namespaced_custom_object,
                group,
                version,
                self.namespace,
                plural,
                resource_version=resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=20,
            )
            for event in stream:
                obj = event["object"]
                if event["type"] == "ERROR":
                    raise RuntimeError(f"watch error: {obj}")
                resource_version = obj["metadata"]["resourceVersion"]
                if event["type"] in ("ADDED", "MODIFIED"):
                    self.on_object(obj)

    def stop(self) -> None:
        self.stopping.set()


class CertificateIssuer:
    """What cert-manager would do: every Certificate not yet Ready is marked issued, by a few workers."""

    def __init__(self, make_client: ClientFactory, timeline: Timeline, workers: int = 2) -> None:
        self.timeline = timeline
        self._queue: queue.Queue[tuple[str, str, str | None]] = queue.Queue()
        self._queued: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        for index in range(workers):
            threading.Thread(
                target=self._work, args=(make_client(),), daemon=True, name=f"issuer-{index}"
            ).start()

    def on_certificate(self, certificate: dict[str, Any]) -> None:
        meta = certificate["metadata"]
        owner = _owner(certificate)
        self.timeline.mark(owner, "certificate_seen")
        conditions = certificate.get("status", {}).get("conditions", [])
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            return
        key = (meta["namespace"], meta["name"])
        with self._lock:
            if key in self._queued:
                return
            self._queued.add(key)
        self._queue.put((*key, owner))

    def _work(self, api: client.ApiClient) -> None:
        while True:
            namespace, name, owner = self._queue.get()
            try:
                _issue(api, namespace, name)
                self.timeline.mark(owner, "certificate_issued")
            except Exception as error:  # noqa: BLE001 - try again on the next event
                log.warning("could not issue Certificate %s/%s: %s", namespace, name, error)
                with self._lock:
                    self._queued.discard((namespace, name))


def _issue(api: client.ApiClient, namespace: str, name: str) -> None:
    status = {"conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "issued"}]}
    obj = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": namespace},
        "status": status,
    }
    k8s.apply(api, obj, subresource="status")
