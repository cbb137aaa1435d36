"""Who the children belong to: their names, labels, owner reference and metadata."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from cloudron_operator.models import API_VERSION

DNS_LABEL_MAX: Final = 63
# Every child name is the app's base name plus one of these, so all children share the base.
DATA_SUFFIX: Final = "-data"
DIRS_SUFFIX: Final = "-dirs"  # the volume of the manifest's persistentDirs
PORTS_SUFFIX: Final = "-ports"
REDIRECTS_SUFFIX: Final = "-redirects"
TLS_SUFFIX: Final = "-tls"
REDIS_SUFFIX: Final = "-redis"  # the app's own Redis: Deployment, Service, NetworkPolicy, and -data
# The children with these suffixes have a kind that other apps have children of without one: app
# `wiki`'s ports Service is app `wiki-ports`'s Service, its Redis Deployment `wiki-redis`'s.
SHARED_KIND_SUFFIXES: Final = (PORTS_SUFFIX, REDIRECTS_SUFFIX, REDIS_SUFFIX)
_LONGEST_SUFFIX: Final = max(
    len(s) for s in (DATA_SUFFIX, DIRS_SUFFIX, PORTS_SUFFIX, REDIRECTS_SUFFIX, TLS_SUFFIX)
)
_HASH_LENGTH: Final = 8
# Service names must be DNS-1035 labels (start with a letter, no dots), the strictest rule of
# all the kinds; following it everywhere gives every child the same base name.
_DNS_1035_LABEL: Final = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")

APP_LABEL: Final = "cloudron.io/app"
COMPONENT_LABEL: Final = "app.kubernetes.io/component"
# The app's own pods; other pods of the app (a future Redis or scheduler run) get other components.
WORKLOAD_COMPONENT: Final = "app"


@dataclass(frozen=True)
class AppIdentity:
    """The CloudronApp the children belong to."""

    name: str
    namespace: str
    uid: str


def child_name(app_name: str, suffix: str = "") -> str:
    """Name of the app's child with `suffix`: the app's name when it fits, else a short unique form.

    A name that is not a DNS-1035 label or leaves no room for the suffixes is cut and given a
    hash of the whole app name, so two apps never share a base name.
    """
    if _DNS_1035_LABEL.fullmatch(app_name) and len(app_name) <= DNS_LABEL_MAX - _LONGEST_SUFFIX:
        return app_name + suffix
    digest = hashlib.sha256(app_name.encode()).hexdigest()[:_HASH_LENGTH]
    room = DNS_LABEL_MAX - _LONGEST_SUFFIX - _HASH_LENGTH - 1
    stem = re.sub(r"[^a-z0-9-]", "-", app_name)[:room].strip("-")
    if not stem[:1].isalpha():
        stem = ("app-" + stem)[:room].rstrip("-")
    return f"{stem}-{digest}{suffix}"


def apps_sharing_child_names(app_name: str) -> list[str]:
    """The names of the other apps in a namespace whose children can have the names of this app's.

    `wiki` and `wiki-redis`: `wiki`'s Redis is a Deployment, Service and NetworkPolicy named
    `wiki-redis`, as `wiki-redis`'s own are. The names compared are the children's base names, so
    an app name too long to be a base name (cut and hashed) shares them with no other.
    """
    base = child_name(app_name)
    longer = [app_name + suffix for suffix in SHARED_KIND_SUFFIXES]
    shorter = [app_name.removesuffix(suffix) for suffix in SHARED_KIND_SUFFIXES if app_name.endswith(suffix)]
    return [
        other
        for other in longer + shorter
        if other
        and other != app_name
        and any(
            child_name(other) == base + suffix or base == child_name(other) + suffix
            for suffix in SHARED_KIND_SUFFIXES
        )
    ]


def tls_name(app_name: str) -> str:
    """Name of the app's Certificate and of the Secret cert-manager writes it to."""
    return child_name(app_name, TLS_SUFFIX)


def app_label_value(app_name: str) -> str:
    """Value of the `cloudron.io/app` label: the app's name, shortened only past the 63-character limit."""
    return app_name if len(app_name) <= DNS_LABEL_MAX else child_name(app_name)


def common_labels(identity: AppIdentity) -> dict[str, str]:
    """Labels of every child; `cloudron.io/app` finds an app's children."""
    instance = app_label_value(identity.name)
    return {
        "app.kubernetes.io/name": "cloudron-app",
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/managed-by": "cloudron-operator",
        APP_LABEL: instance,
    }


def workload_selector(identity: AppIdentity) -> dict[str, str]:
    """Labels that select the app's own pods, and only those."""
    return {APP_LABEL: app_label_value(identity.name), COMPONENT_LABEL: WORKLOAD_COMPONENT}


def owner_reference(identity: AppIdentity) -> dict[str, Any]:
    """Makes the CloudronApp the controller of a child, so deleting the app deletes the child."""
    return {
        "apiVersion": API_VERSION,
        "kind": "CloudronApp",
        "name": identity.name,
        "uid": identity.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_meta(
    identity: AppIdentity, name: str, *, annotations: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """`metadata` of a child: its name, the app's namespace, the common labels and the owner."""
    meta: dict[str, Any] = {"name": name, "namespace": identity.namespace, "labels": common_labels(identity)}
    if annotations:
        meta["annotations"] = dict(annotations)
    meta["ownerReferences"] = [owner_reference(identity)]
    return meta
