"""One store of the apps and their children, fed by watches (`informer`), read by everything else.

The apps (reduced: `apps.AppSeen`) and every kind of child an app gets (reduced: `children.ChildSeen`),
in the namespaces the operator watches. A pass finds an app's children here, not by listing them;
the status is computed from the children here; the Addons count their apps and the metrics the
apps' phases here. Our own writes are recorded as they are answered (`record`), ahead of the watch.

The first list of every kind runs before any handler (`sync`); then each kind is watched in a
thread. A child's change that may change its app's status is handed to `on_child_change`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any, Final

from kubernetes import client

from cloudron_operator.builders import APP_LABEL, CHILD_KINDS
from cloudron_operator.k8s.resources import Kind, kind_of
from cloudron_operator.models import API_VERSION
from cloudron_operator.store.apps import AppKey, AppSeen, app_seen
from cloudron_operator.store.children import ChildSeen, child_seen
from cloudron_operator.store.informer import Informer, Sink, informers_for
from cloudron_operator.store.table import Change, Table

# The children the operator made: its label, and the app label that every child of an app carries.
CHILD_SELECTOR: Final = f"app.kubernetes.io/managed-by=cloudron-operator,{APP_LABEL}"
ChildListener = Callable[[Change[ChildSeen]], None]

__all__ = ["AppKey", "AppSeen", "Change", "ChildSeen", "Store"]


class Store:
    def __init__(self, api: client.ApiClient, namespaces: tuple[str, ...], **informer_options: Any) -> None:
        self.api, self.informer_options = api, informer_options
        self.apps: Table[AppSeen] = Table(app_seen, owner=lambda app: None)
        self.children: dict[str, Table[ChildSeen]] = {
            kind: Table(partial(child_seen, api_version=api_version, kind=kind), owner=_app_uid)
            for api_version, kind in CHILD_KINDS
        }
        self.on_child_change: ChildListener | None = None
        self.app_informers: list[Informer] = informers_for(
            api, kind_of(API_VERSION, "CloudronApp"), namespaces, _AppSink(self.apps), **informer_options
        )
        self.informers: list[Informer] = list(self.app_informers)
        for api_version, kind in CHILD_KINDS:
            sink = _ChildSink(self, self.children[kind])
            child_kind = kind_of(api_version, kind)
            options = {"label_selector": CHILD_SELECTOR, **informer_options}
            self.informers += informers_for(api, child_kind, namespaces, sink, **options)

    @staticmethod
    def informers_needed(namespaces: tuple[str, ...], *, peering: bool = False) -> int:
        """How many informers (each with a watch connection) a store of these namespaces runs."""
        kinds = 1 + len(CHILD_KINDS) + (1 if peering else 0)
        return kinds * max(1, len(namespaces))

    def watch(self, kind: Kind, namespaces: tuple[str, ...], sink: Sink) -> None:
        """Also list and watch `kind` (before `sync`) into a sink of the caller's."""
        self.informers += informers_for(self.api, kind, namespaces, sink, **self.informer_options)

    def sync(self) -> None:
        """List every kind: the store is complete when this returns."""
        for informer in self.informers:
            informer.sync()

    def start(self) -> None:
        for informer in self.informers:
            informer.start()

    def stop(self, timeout: float | None = None) -> None:
        for informer in self.informers:
            informer.stop()
        for informer in self.informers:
            informer.stop(timeout)

    def app(self, key: AppKey) -> AppSeen | None:
        return self.apps.get(key)

    def record(self, obj: Mapping[str, Any]) -> None:
        """The answer to one of our writes, of an app or a child: ahead of the watch."""
        if obj.get("kind") == "CloudronApp":
            self.apps.record(obj)
        elif (table := self.children.get(str(obj.get("kind")))) is not None:
            table.record(obj)  # no listener: the pass that wrote it writes the app's status itself

    def child(self, namespace: str, kind: str, name: str) -> ChildSeen | None:
        table = self.children.get(kind)
        return table.get((namespace, name)) if table is not None else None

    def children_of(self, app_uid: str) -> dict[tuple[str, str], ChildSeen]:
        """The app's children, by (kind, name)."""
        return {
            (kind, name): child
            for kind, table in self.children.items()
            for (_, name), child in table.owned_by(app_uid).items()
        }

    def phases(self) -> Counter[str]:
        """How many apps are in each status.phase."""
        return Counter(app.phase for app in self.apps.values() if app.phase)

    def serving(self, addon: str) -> int:
        """How many apps have their addons provisioned in the Addon of that name."""
        return sum(1 for app in self.apps.values() if addon in app.addons)

    def _changed(self, change: Change[ChildSeen]) -> None:
        if self.on_child_change is not None and change.before != change.after:
            self.on_child_change(change)


def _app_uid(child: ChildSeen) -> str | None:
    return child.app_uid


class _AppSink:
    def __init__(self, table: Table[AppSeen]) -> None:
        self.table = table

    def replace(self, objects: Iterable[Mapping[str, Any]], namespace: str | None) -> None:
        self.table.replace(objects, namespace)

    def upsert(self, obj: Mapping[str, Any]) -> None:
        self.table.upsert(obj)

    def remove(self, obj: Mapping[str, Any]) -> None:
        self.table.remove(obj)


class _ChildSink:
    """A child kind's table; every change is told to the store's listener."""

    def __init__(self, store: Store, table: Table[ChildSeen]) -> None:
        self.store, self.table = store, table

    def replace(self, objects: Iterable[Mapping[str, Any]], namespace: str | None) -> None:
        for change in self.table.replace(objects, namespace):
            self.store._changed(change)

    def upsert(self, obj: Mapping[str, Any]) -> None:
        self.store._changed(self.table.upsert(obj))

    def remove(self, obj: Mapping[str, Any]) -> None:
        self.store._changed(self.table.remove(obj))
