"""List, then watch, one kind in one namespace (or all), feeding a table of the store.

Why not kopf's watch: kopf re-lists a kind after its watch expires (410 Gone) and hands each listed
object to the event handlers as if it had changed, but an object deleted while no watch ran is
never reported: a store fed by kopf's events keeps it as a ghost. Here every list replaces the
kind's contents of the table (`Table.replace`): what the list does not return is gone.

The first list runs in the caller (`sync`), so the store is complete before any handler runs;
then a thread watches from the list's resourceVersion, resumes after each end of a watch from the
last version it saw (bookmarks keep that version fresh), and lists again when the API server
says that version is too old. Errors are retried with a growing pause; none stops the thread.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final, Protocol

from kubernetes import client

from cloudron_operator.k8s import api as k8s
from cloudron_operator.k8s.resources import Kind

LIST_PAGE_SIZE: Final = 500
WATCH_SECONDS: Final = 300
RETRY_DELAYS: Final = (0.5, 1.0, 2.0, 5.0, 10.0)
NOT_SERVED_DELAY: Final = 30.0  # a kind the API server does not serve (yet): how often to look again
GONE: Final = 410

logger = logging.getLogger(__name__)

KubeObject = dict[str, Any]


class Sink(Protocol):
    """Where an informer's objects go: a list replaces (in its namespace, or in all), events upsert
    and remove."""

    def replace(self, objects: Iterable[Mapping[str, Any]], namespace: str | None) -> None: ...

    def upsert(self, obj: Mapping[str, Any]) -> None: ...

    def remove(self, obj: Mapping[str, Any]) -> None: ...


class Informer:
    def __init__(
        self,
        api: client.ApiClient,
        kind: Kind,
        namespace: str | None,
        sink: Sink,
        *,
        label_selector: str = "",
        page_size: int = LIST_PAGE_SIZE,
        watch_seconds: int = WATCH_SECONDS,
    ) -> None:
        self.api, self.kind, self.namespace, self.sink = api, kind, namespace, sink
        self.label_selector, self.page_size, self.watch_seconds = label_selector, page_size, watch_seconds
        self.resource_version = ""  # of the last list or event; "" until the first list
        self.served = False  # whether the API server serves the kind (a CRD may come later)
        self.lists = 0  # how many lists it made: 1 after `sync`, more after each expired watch
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return f"{self.kind.kind} in {self.namespace or 'all namespaces'}"

    def sync(self) -> None:
        """List the kind and replace the sink's contents. A kind not served yet counts as empty.

        The pages are handed on as they come: the sink reduces each object, so one page of whole
        objects is held at a time, not the whole kind (a few hundred MB of Deployments at 5000 apps).
        """
        pages = self._pages()
        try:
            first = next(pages)
        except k8s.ApiError as error:
            if not error.not_found:
                raise
            self.served, self.resource_version = False, ""
            self.lists += 1
            self.sink.replace([], self.namespace)
            return
        self.served = True
        self.sink.replace(itertools.chain(first, itertools.chain.from_iterable(pages)), self.namespace)
        self.lists += 1

    def _pages(self) -> Iterator[list[KubeObject]]:
        """The list's pages; the resourceVersion of the whole list is kept once the last one came."""
        path = self.kind.path(self.namespace)
        token = ""
        while True:
            query = [("limit", str(self.page_size))]
            query += [("continue", token)] if token else []
            query += [("labelSelector", self.label_selector)] if self.label_selector else []
            page = k8s.request(self.api, "GET", path, query=query)
            meta = page.get("metadata", {})
            token = str(meta.get("continue") or "")
            if not token:
                self.resource_version = str(meta.get("resourceVersion", ""))
            yield list(page.get("items", []))
            if not token:
                return

    def start(self) -> None:
        """Watch in a thread of its own (a daemon: it ends with the process)."""
        self._thread = threading.Thread(target=self._run, name=f"informer {self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the watch under way ends (at most `watch_seconds`); wait up to `timeout`."""
        self._stop.set()
        if self._thread is not None and timeout is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                if not self.served or not self.resource_version:
                    self.sync()
                if self.served:
                    self._watch()
                else:
                    self._stop.wait(NOT_SERVED_DELAY)
                failures = 0
            except _Expired:
                self.resource_version = ""  # list again, at once
            except k8s.ApiError as error:
                if error.status == GONE:  # the answer to the watch request itself, not an event
                    self.resource_version = ""
                    continue
                failures = self._pause(failures, error)
            except Exception as error:  # noqa: BLE001 - the informer must outlive any one failure
                failures = self._pause(failures, error)

    def _pause(self, failures: int, error: Exception) -> int:
        """Wait longer after each failure in a row; the count of failures so far."""
        delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
        logger.warning("watching %s failed (%s); again in %.1f s", self.name, error, delay)
        self._stop.wait(delay)
        return failures + 1

    def _watch(self) -> None:
        events = k8s.watch(
            self.api,
            self.kind.path(self.namespace),
            resource_version=self.resource_version,
            label_selector=self.label_selector,
            timeout_seconds=self.watch_seconds,
        )
        for event in events:
            if self._stop.is_set():
                return
            self._handle(event)

    def _handle(self, event: Mapping[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == GONE:
                raise _Expired
            raise k8s.ApiError(
                int(obj.get("code") or 0), str(obj.get("reason", "")), str(obj.get("message", ""))
            )
        version = str(obj.get("metadata", {}).get("resourceVersion", ""))
        if kind == "BOOKMARK":
            self.resource_version = version
            return
        if kind == "DELETED":
            self.sink.remove(obj)
        elif kind in ("ADDED", "MODIFIED"):
            self.sink.upsert(obj)
        self.resource_version = version or self.resource_version


class _Expired(Exception):
    """The watch's resourceVersion is too old (410 Gone): only a new list can catch up."""


def informers_for(
    api: client.ApiClient,
    kind: Kind,
    namespaces: tuple[str, ...],
    sink: Sink,
    **options: Any,
) -> list[Informer]:
    """One informer per watched namespace, or one for all namespaces."""
    if not kind.namespaced or not namespaces:
        return [Informer(api, kind, None, sink, **options)]
    return [Informer(api, kind, namespace, sink, **options) for namespace in namespaces]
