"""The commands that only read: `catalog list`, `catalog search`, `list`, `users` and `logs`."""

from __future__ import annotations

from typing import Any

from cloudron_operator.plugin import catalog
from cloudron_operator.plugin.kube import KubeObject
from cloudron_operator.plugin.logs import LogOptions, show_logs
from cloudron_operator.plugin.output import object_list, print_listing
from cloudron_operator.plugin.resources import APPS, CATALOGS, USERS
from cloudron_operator.plugin.session import Session
from cloudron_operator.plugin.views import (
    USER_HEADERS,
    USER_WIDE_HEADERS,
    app_headers,
    app_row,
    condition,
    sort_key,
    user_row,
)


def catalog_list(session: Session) -> int:
    return _print_catalog_apps(session, term=None)


def catalog_search(session: Session) -> int:
    return _print_catalog_apps(session, term=session.args.term)


def _print_catalog_apps(session: Session, term: str | None) -> int:
    catalogs = session.cluster.list(CATALOGS)
    _warn_unread(session, catalogs)
    apps = catalog.catalog_apps(catalogs)
    if term is not None:
        apps = catalog.search(apps, term)
        if not apps and session.args.output not in ("yaml", "json"):
            session.err.write(f'No apps match "{term}".\n')
            return 0
    wide = session.args.output == "wide"
    print_listing(
        session.out,
        session.err,
        headers=catalog.WIDE_HEADERS if wide else catalog.LIST_HEADERS,
        rows=[catalog.list_row(app, wide=wide) for app in apps],
        value=[catalog.entry_document(app) for app in apps],
        output_format=session.args.output,
        namespace=None,
    )
    return 0


def _warn_unread(session: Session, catalogs: list[KubeObject]) -> None:
    """A catalog that is not Ready lists old entries or none: say why, as kubectl says warnings."""
    for found in sorted(catalogs, key=sort_key):
        ready = condition(found, "Ready")
        if ready.get("status") != "True":
            why = f"{ready.get('reason')}: {ready.get('message')}" if ready else "not read yet"
            session.err.write(f"Warning: catalog {found['metadata']['name']} is not Ready: {why}\n")


def list_apps(session: Session) -> int:
    namespace = session.listed_namespace
    apps = sorted(session.cluster.list(APPS, namespace), key=sort_key)
    wide, every_namespace = session.args.output == "wide", namespace is None
    print_listing(
        session.out,
        session.err,
        headers=app_headers(wide=wide, with_namespace=every_namespace),
        rows=[app_row(app, wide=wide, with_namespace=every_namespace) for app in apps],
        value=object_list(apps),
        output_format=session.args.output,
        namespace=namespace,
    )
    return 0


def users(session: Session) -> int:
    found = sorted(session.cluster.list(USERS), key=_username)
    wide = session.args.output == "wide"
    print_listing(
        session.out,
        session.err,
        headers=USER_WIDE_HEADERS if wide else USER_HEADERS,
        rows=[user_row(user, wide=wide) for user in found],
        value=object_list(found),
        output_format=session.args.output,
        namespace=None,
    )
    return 0


def _username(user: KubeObject) -> str:
    spec: dict[str, Any] = user.get("spec") or {}
    return str(spec.get("username") or user["metadata"]["name"])


def logs(session: Session) -> int:
    args = session.args
    app = session.cluster.get(APPS, args.name, session.namespace)
    tail = args.tail if args.tail is not None and args.tail >= 0 else None  # kubectl's -1: every line
    options = LogOptions(follow=args.follow, tail=tail, since_seconds=args.since, container=args.container)
    return 0 if show_logs(session.cluster, app, options, session.out, session.err) else 1
