"""Apply and prune: the app's children as found, brought to what the pass desires, the stale ones deleted.

An Event per kind of change names every object the pass created, updated or deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import kopf
from kubernetes import client

from cloudron_operator import builders
from cloudron_operator.k8s import api as k8s
from cloudron_operator.k8s.managed_fields import apply_changes_nothing
from cloudron_operator.metrics import Metrics
from cloudron_operator.models.conditions import Reason
from cloudron_operator.reconcile.errors import InvalidApp
from cloudron_operator.store import ChildSeen, Store

Logger = logging.Logger | logging.LoggerAdapter[Any]


class AppChildren:
    """The app's children as the store has them at the start of a pass: what is applied is taken off,
    the rest is stale.

    The store may lag behind the API server by a watch event: a child it lacks is applied as new
    (an apply converges one that exists), an addon Secret it lacks is read by name (its password
    must never be made anew by mistake), and a child it still has after a deletion is pruned
    (a delete of what is gone changes nothing).
    """

    def __init__(
        self, api: client.ApiClient, body: kopf.Body, *, logger: Logger, store: Store, metrics: Metrics
    ) -> None:
        self.api, self.body, self.logger = api, body, logger
        self.store, self.metrics = store, metrics
        self.existing = store.children_of(body.meta["uid"])
        self.changes: dict[str, list[str]] = {}  # Created/Updated/Deleted -> "Kind name"

    def existing_secrets(self, names: Iterable[str]) -> dict[str, Mapping[str, Any]]:
        """The app's Secrets of these names that exist, as objects; read by name if the store lacks one."""
        found: dict[str, Mapping[str, Any]] = {}
        for name in names:
            child = self.existing.get(("Secret", name))
            if child is not None:
                found[name] = child.as_object()
                continue
            secret = k8s.get(self.api, "v1", "Secret", self.body.meta["namespace"], name)
            if secret is not None and _owned_by(secret, self.body.meta["uid"]):
                self.store.record({**secret, "apiVersion": "v1", "kind": "Secret"})
                found[name] = secret
        return found

    def apply(self, obj: Mapping[str, Any]) -> None:
        key = (obj["kind"], obj["metadata"]["name"])
        verb = self._apply(obj, self.existing.pop(key, None) or self._unowned(obj))
        if verb is not None:
            self.changes.setdefault(verb, []).append(f"{obj['kind']} {obj['metadata']['name']}")
            self.logger.info("%s %s %s", verb.lower(), obj["kind"], obj["metadata"]["name"])

    def _unowned(self, obj: Mapping[str, Any]) -> ChildSeen | None:
        """The child of that name if no app owns it: a volume kept (`storage.whenDeleted: Retain`), by
        this app or by a deleted one of the same name. It is applied as any child, which is how a new
        app takes over a kept volume."""
        found = self.store.child(obj["metadata"]["namespace"], obj["kind"], obj["metadata"]["name"])
        return found if found is not None and found.app_uid is None else None

    def _apply(self, obj: Mapping[str, Any], before: ChildSeen | None) -> str | None:
        """Created or Updated if the apply changed the child; None if it was left as it was."""
        if before is not None and apply_changes_nothing(obj, before.owned):
            self.metrics.child_applies.labels("known").inc()
            return None
        with _kind_served(obj):
            after, created = k8s.apply_reporting_creation(self.api, obj)
        self.store.record(after)
        if created:
            self.metrics.child_applies.labels("created").inc()
            return Reason.CREATED
        changed = before is None or before.resource_version != after["metadata"]["resourceVersion"]
        self.metrics.child_applies.labels("updated" if changed else "unchanged").inc()
        return Reason.UPDATED if changed and before is not None else None

    def prune(self, keep: set[tuple[str, str]]) -> None:
        """Delete the children found and not applied, except those in `keep` (kind, name)."""
        namespace = self.body.meta["namespace"]
        for (kind, name), stale in self.existing.items():
            # The data claim goes only with the app itself, by garbage collection.
            if kind == "PersistentVolumeClaim" or (kind, name) in keep:
                continue
            if k8s.delete(self.api, stale.api_version, kind, namespace, name):
                self.changes.setdefault(Reason.DELETED, []).append(f"{kind} {name}")
                self.logger.info("deleted %s %s: no longer desired", kind, name)

    def report(self) -> None:
        """One Event per kind of change in this pass, naming every object it touched."""
        for verb, objects in self.changes.items():
            kopf.info(self.body, reason=verb, message=f"{verb} {', '.join(objects)}")


@contextmanager
def _kind_served(obj: Mapping[str, Any]) -> Iterator[None]:
    try:
        yield
    except k8s.ApiError as error:
        if error.not_found:  # the kind itself is not served: a CRD (cert-manager's) is missing
            raise InvalidApp(
                Reason.KIND_NOT_SERVED,
                f"this cluster does not serve {obj['kind']} ({obj['apiVersion']}): install its CRDs "
                "(cert-manager for Certificates, the Gateway API for HTTPRoutes and ListenerSets)",
            ) from error
        raise


def certificate_revision(store: Store, identity: builders.AppIdentity) -> int | None:
    """The status.revision of the app's Certificate (None: there is none, or it is not issued yet)."""
    certificate = store.child(identity.namespace, "Certificate", builders.tls_name(identity.name))
    revision = certificate.state.get("status", {}).get("revision") if certificate is not None else None
    return revision if isinstance(revision, int) and not isinstance(revision, bool) else None


def _owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences", []))
