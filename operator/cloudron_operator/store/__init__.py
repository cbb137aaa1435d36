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
from typing import Any, Final, Generic

from kubernetes import client

from cloudron_operator.builders import APP_LABEL, CHILD_KINDS
from cloudron_operator.directory.invites import INVITE_LABEL
from cloudron_operator.directory.state import PASSWORD_LABEL
from cloudron_operator.k8s.resources import Kind, kind_of
from cloudron_operator.models import API_VERSION
from cloudron_operator.store.apps import AppKey, AppSeen, app_seen
from cloudron_operator.store.children import ChildSeen, child_seen
from cloudron_operator.store.informer import Informer, Sink, informers_for
from cloudron_operator.store.routing import GatewayRouting, ParentSeen, parent_seen
from cloudron_operator.store.table import Change, T, Table
from cloudron_operator.store.users import (
    InviteSeen,
    PasswordSeen,
    UserSeen,
    invite_seen,
    password_seen,
    user_seen,
)

# The children the operator made: its label, and the app label that every child of an app carries.
CHILD_SELECTOR: Final = f"app.kubernetes.io/managed-by=cloudron-operator,{APP_LABEL}"
ChildListener = Callable[[Change[ChildSeen]], None]

__all__ = ["AppKey", "AppSeen", "Change", "ChildSeen", "GatewayRouting", "ParentSeen", "Store"]


class Store:
    def __init__(
        self,
        api: client.ApiClient,
        namespaces: tuple[str, ...],
        kinds: tuple[tuple[str, str], ...] = CHILD_KINDS,
        routing: GatewayRouting | None = None,
        users_namespace: str | None = None,
        **informer_options: Any,
    ) -> None:
        """`kinds`: (apiVersion, kind) of the children to keep (`builders.child_kinds`); `routing`: with
        routing=gateway, the parent of the apps' listeners is watched too; `users_namespace`: the
        CloudronUsers are watched, and their password Secrets there."""
        self.api, self.informer_options, self.routing = api, informer_options, routing
        self.apps: Table[AppSeen] = Table(app_seen, index=_hosts)
        self.children: dict[str, Table[ChildSeen]] = {
            kind: Table(partial(child_seen, api_version=api_version, kind=kind), index=_app_uid)
            for api_version, kind in kinds
        }
        self.on_child_change: ChildListener | None = None
        self.app_informers: list[Informer] = informers_for(
            api, kind_of(API_VERSION, "CloudronApp"), namespaces, _TableSink(self.apps), **informer_options
        )
        self.informers: list[Informer] = list(self.app_informers)
        for api_version, kind in kinds:
            sink = _ChildSink(self, self.children[kind])
            child_kind = kind_of(api_version, kind)
            options = {"label_selector": CHILD_SELECTOR, **informer_options}
            self.informers += informers_for(api, child_kind, namespaces, sink, **options)
        self.users: Table[UserSeen] = Table(user_seen)
        self.passwords: Table[PasswordSeen] = Table(password_seen)
        self.invites: Table[InviteSeen] = Table(invite_seen)
        self.on_directory_change: Callable[[], None] | None = None
        if users_namespace is not None:
            users_sink = _DirectorySink(self, self.users, lambda user: user.record)
            user_kind = kind_of(API_VERSION, "CloudronUser")
            self.informers += informers_for(api, user_kind, (), users_sink, **informer_options)
            passwords_sink = _DirectorySink(self, self.passwords, lambda seen: (seen.username, seen.hash))
            options = {"label_selector": PASSWORD_LABEL, **informer_options}
            secrets = kind_of("v1", "Secret")
            self.informers += informers_for(api, secrets, (users_namespace,), passwords_sink, **options)
            # An invite's change (made, used, deleted by an admin to renew it) counts as the
            # directory's: the next sync says where the user's link is, and makes a missing one.
            invites_sink = _DirectorySink(self, self.invites, lambda seen: (seen.username, seen.expires))
            options = {"label_selector": INVITE_LABEL, **informer_options}
            self.informers += informers_for(api, secrets, (users_namespace,), invites_sink, **options)
        self.parents: Table[ParentSeen] = Table(parent_seen)
        if routing is not None:
            where = (routing.parent_namespace,) if routing.parent_namespace else ()
            self.informers += informers_for(
                api, routing.parent, where, _TableSink(self.parents), **informer_options
            )

    @staticmethod
    def informers_needed(
        namespaces: tuple[str, ...],
        kinds: tuple[tuple[str, str], ...] = CHILD_KINDS,
        *,
        peering: bool = False,
        routing: bool = False,
        users: bool = False,
    ) -> int:
        """How many informers (each with a watch connection) a store of these namespaces runs."""
        watched = 1 + len(kinds) + (1 if peering else 0)
        return watched * max(1, len(namespaces)) + (1 if routing else 0) + (3 if users else 0)

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
            for (_, name), child in table.find(app_uid).items()
        }

    def gateway_parent(self) -> ParentSeen | None:
        """The parent of the apps' listeners (`routing`), None if it does not exist (or routing=ingress)."""
        if self.routing is None:
            return None
        return self.parents.get((self.routing.parent_namespace, self.routing.parent_name))

    def apps_with_host(self, host: str) -> list[AppSeen]:
        """The apps whose spec names `host` (`apps.spec_hosts`)."""
        return list(self.apps.find(host.lower()).values())

    def phases(self) -> Counter[str]:
        """How many apps are in each status.phase."""
        return Counter(app.phase for app in self.apps.values() if app.phase)

    def serving(self, addon: str) -> int:
        """How many apps have their addons provisioned in the Addon of that name."""
        return sum(1 for app in self.apps.values() if addon in app.addons)

    def _changed(self, change: Change[ChildSeen]) -> None:
        if self.on_child_change is not None and change.before != change.after:
            self.on_child_change(change)


def _app_uid(child: ChildSeen) -> tuple[str, ...]:
    return (child.app_uid,) if child.app_uid else ()


def _hosts(app: AppSeen) -> frozenset[str]:
    return app.hosts


class _TableSink(Generic[T]):
    """A table of the store's own, fed by a watch: the apps, the Gateway parent."""

    def __init__(self, table: Table[T]) -> None:
        self.table = table

    def replace(self, objects: Iterable[Mapping[str, Any]], namespace: str | None) -> None:
        self.table.replace(objects, namespace)

    def upsert(self, obj: Mapping[str, Any]) -> None:
        self.table.upsert(obj)

    def remove(self, obj: Mapping[str, Any]) -> None:
        self.table.remove(obj)


class _DirectorySink(Generic[T]):
    """A table of the directory's inputs; a change of what the directory is made from (not of a
    user's status, which the directory writes) is told to it."""

    def __init__(self, store: Store, table: Table[T], content: Callable[[T], object]) -> None:
        self.store, self.table, self.content = store, table, content

    def replace(self, objects: Iterable[Mapping[str, Any]], namespace: str | None) -> None:
        if any(self._differs(change) for change in self.table.replace(objects, namespace)):
            self._changed()

    def upsert(self, obj: Mapping[str, Any]) -> None:
        if self._differs(self.table.upsert(obj)):
            self._changed()

    def remove(self, obj: Mapping[str, Any]) -> None:
        self.table.remove(obj)
        self._changed()

    def _differs(self, change: Change[T]) -> bool:
        before = self.content(change.before) if change.before is not None else None
        after = self.content(change.after) if change.after is not None else None
        return before != after

    def _changed(self) -> None:
        if self.store.on_directory_change is not None:
            self.store.on_directory_change()


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
