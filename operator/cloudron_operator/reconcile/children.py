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
from cloudron_operator.handlers.applied_children import AppliedChildren
from cloudron_operator.handlers.child_states import ChildStates
from cloudron_operator.k8s import api as k8s
from cloudron_operator.metrics import Metrics
from cloudron_operator.reconcile.errors import InvalidApp

Logger = logging.Logger | logging.LoggerAdapter[Any]


class AppChildren:
    """The app's children as found at the start of a pass: what is applied is taken off, the rest is stale.

    `existing` None: the children were not listed (an app's first pass); nothing is pruned then.
    """

    def __init__(
        self,
        api: client.ApiClient,
        body: kopf.Body,
        *,
        logger: Logger,
        existing: dict[tuple[str, str], k8s.KubeObject] | None,
        states: ChildStates,
        applied: AppliedChildren,
        metrics: Metrics,
    ) -> None:
        self.api, self.body, self.logger = api, body, logger
        self.applied, self.metrics = applied, metrics
        self.listed = existing is not None
        self.existing = existing if existing is not None else {}
        self.states = states  # what the app's status is computed from: kept from the answers
        self.changes: dict[str, list[str]] = {}  # Created/Updated/Deleted -> "Kind name"

    def existing_secrets(self, names: Iterable[str]) -> dict[str, k8s.KubeObject]:
        """The app's Secrets of these names that exist; read one by one if the children were not listed."""
        wanted = set(names)
        if not self.listed:
            for name in wanted:
                secret = k8s.get(self.api, "v1", "Secret", self.body.meta["namespace"], name)
                if secret is not None and _owned_by(secret, self.body.meta["uid"]):
                    self.existing[("Secret", name)] = secret
        return {
            name: obj for (kind, name), obj in self.existing.items() if kind == "Secret" and name in wanted
        }

    def apply(self, obj: Mapping[str, Any]) -> None:
        key = (obj["kind"], obj["metadata"]["name"])
        before = self.existing.pop(key, None)
        after, verb = self._apply(obj, before)
        self.states.record({**after, "kind": obj["kind"]})
        if verb is not None:
            self.changes.setdefault(verb, []).append(f"{obj['kind']} {obj['metadata']['name']}")
            self.logger.info("%s %s %s", verb.lower(), obj["kind"], obj["metadata"]["name"])

    def _apply(
        self, obj: Mapping[str, Any], before: Mapping[str, Any] | None
    ) -> tuple[k8s.KubeObject, str | None]:
        """The child as applied, and Created/Updated if the apply changed it (None: unchanged or unknown)."""
        uid = self.body.meta["uid"]
        if before is not None and self.applied.unchanged_since_applied(uid, obj, before):
            self.metrics.child_applies.labels("known").inc()
            return dict(before), None
        verb: str | None
        if before is not None:
            after = _apply_child(self.api, obj, before)
            changed = before["metadata"]["resourceVersion"] != after["metadata"]["resourceVersion"]
            verb, outcome = ("Updated", "updated") if changed else (None, "unchanged")
        elif self.listed:
            after, verb, outcome = _apply_child(self.api, obj, None), "Created", "created"
        else:
            # Not listed: the child may be there already, from a killed pass; whether this apply
            # changed it is not known, only whether it created it.
            after, created = _apply_child_reporting_creation(self.api, obj)
            verb, outcome = ("Created", "created") if created else (None, "applied")
        self.applied.record(uid, obj, after)
        self.metrics.child_applies.labels(outcome).inc()
        return after, verb

    def prune(self, keep: set[tuple[str, str]]) -> None:
        """Delete the children found and not applied, except those in `keep` (kind, name)."""
        namespace = self.body.meta["namespace"]
        for (kind, name), stale in self.existing.items():
            # The data claim goes only with the app itself, by garbage collection.
            if kind == "PersistentVolumeClaim" or (kind, name) in keep:
                continue
            k8s.delete(self.api, stale["apiVersion"], kind, namespace, name)
            self.changes.setdefault("Deleted", []).append(f"{kind} {name}")
            self.logger.info("deleted %s %s: no longer desired", kind, name)

    def report(self) -> None:
        """One Event per kind of change in this pass, naming every object it touched."""
        for verb, objects in self.changes.items():
            kopf.info(self.body, reason=verb, message=f"{verb} {', '.join(objects)}")


def _apply_child(
    api: client.ApiClient, obj: Mapping[str, Any], live: Mapping[str, Any] | None
) -> k8s.KubeObject:
    with _kind_served(obj):
        return k8s.apply(api, obj) if live is None else k8s.apply_unless_unchanged(api, obj, live)


def _apply_child_reporting_creation(
    api: client.ApiClient, obj: Mapping[str, Any]
) -> tuple[k8s.KubeObject, bool]:
    with _kind_served(obj):
        return k8s.apply_reporting_creation(api, obj)


@contextmanager
def _kind_served(obj: Mapping[str, Any]) -> Iterator[None]:
    try:
        yield
    except k8s.ApiError as error:
        if error.not_found:  # the kind itself is not served: a CRD (cert-manager's) is missing
            raise InvalidApp(
                "KindNotServed",
                f"this cluster does not serve {obj['kind']} ({obj['apiVersion']}): install its CRDs "
                "(cert-manager for Certificates)",
            ) from error
        raise


def certificate_revision(
    existing: Mapping[tuple[str, str], Mapping[str, Any]] | None, identity: builders.AppIdentity
) -> int | None:
    """The status.revision of the app's Certificate as listed (None: not listed, not issued yet)."""
    certificate = (existing or {}).get(("Certificate", builders.tls_name(identity.name)))
    revision = (certificate or {}).get("status", {}).get("revision")
    return revision if isinstance(revision, int) and not isinstance(revision, bool) else None


def _owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences", []))


def existing_children(
    api: client.ApiClient, identity: builders.AppIdentity
) -> dict[tuple[str, str], k8s.KubeObject]:
    """The app's children as they are now, by (kind, name): only objects this app owns."""
    selector = f"{builders.APP_LABEL}={builders.app_label_value(identity.name)}"
    found: dict[tuple[str, str], k8s.KubeObject] = {}
    for api_version, kind in builders.CHILD_KINDS:
        try:
            listed = k8s.list_objects(api, api_version, kind, identity.namespace, selector)
        except k8s.ApiError as error:
            if error.not_found:  # a kind this cluster does not serve has no objects
                continue
            raise
        for obj in listed:
            if _owned_by(obj, identity.uid):
                obj.setdefault("apiVersion", api_version)
                found[(kind, obj["metadata"]["name"])] = obj
    return found
