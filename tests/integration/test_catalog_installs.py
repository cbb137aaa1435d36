"""Every app of the catalog corpus installs by id (issue #24): each catalog of
`../shared/corpus/catalogs`, served by the static server on loopback, becomes an AppCatalog, and each
app id with a published version (the AppCatalog's `status.entries[].latest`) becomes a CloudronApp
with `spec.source: {catalog, appId}` and no version.

The test serves every addon type the operator provides, each from a real server on loopback named by
an Addon of this test: PostgreSQL, MariaDB, Redis (one per app, run by the operator), sendmail (an SMTP
sink), turn (coturn), ldap (slapd), oidc and proxyAuth (Ory Hydra); the apps' claims are bound to
volumes made for them, as a provisioner would. What each app must become is computed from its
manifest's addons, never listed per app: `Ready`, running the catalog's newest published version and
its image, when the operator serves every addon it asks for; else `Ready=False` with the reason the
addons give (`expected_outcome`). kwok runs no container: Ready means the operator did everything the
app needs (databases, Secrets, volumes, certificate, Deployment with pods Ready).

The table of catalogs, apps, versions, addons and outcomes is printed (`pytest -s`) and is in the
message of a failed assertion.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import pytest
from kubernetes import client

from cloudron_operator.builders.identity import DATA_SUFFIX, DIRS_SUFFIX, child_name
from cloudron_operator.k8s import api as k8s
from cloudron_operator.models import API_VERSION
from cloudron_operator.models.conditions import INVALID_REASONS
from tests.catalog_corpus import NO_IMAGE, TESTING_ONLY, CorpusCatalog, corpus_catalogs
from tests.harness.catalog_server import CatalogServer
from tests.harness.catalogs import (
    PublishedApp,
    app_names,
    catalog_entry,
    catalog_object,
    published_apps,
    repository_of,
    source_app,
    table,
    wait_for_catalogs,
)
from tests.harness.corpus import _app_name
from tests.harness.databases import DatabaseServer
from tests.harness.hydra import HydraServer, start_hydra
from tests.harness.ldap import ADMIN_DN, LdapServer, start_ldap_server
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import LOOPBACK, free_port, wait_until
from tests.harness.smtp_sink import SmtpSink
from tests.harness.turn import TurnServer
from tests.integration.addon_support import ADDON, addons_for_test
from tests.integration.apps_support import WAIT, condition, get_app, pre_bound_volume

INSTALL_WAIT: Final = 240.0  # every app of the corpus at once
# What an app's manifest may ask for, and what the operator does with it (README, docs/addons.md).
BUILT_IN: Final = frozenset({"localstorage", "tls", "scheduler"})  # the app's own children serve them
NOT_PROVIDED: Final = frozenset({"email", "recvmail", "mongodb"})  # not yet: UnsupportedAddon
NEVER: Final = frozenset({"docker", "oauth"})  # no counterpart in a cluster, or retired: AddonRefused
BOOT_SCHEDULES: Final = frozenset({"@service", "@reboot"})  # scheduler tasks with no counterpart
READY: Final = "Ready"


def expected_outcome(manifest: Mapping[str, Any], served: frozenset[str]) -> str:
    """`Ready`, or the reason of Ready=False an app with this manifest gets where the addon types
    `served` have an Addon named in its spec (and no other type has a default Addon)."""
    addons: Mapping[str, Any] = manifest.get("addons") or {}
    tasks = (addons.get("scheduler") or {}).values()
    if NEVER & set(addons) or any(task.get("schedule") in BOOT_SCHEDULES for task in tasks):
        return "AddonRefused"
    if NOT_PROVIDED & set(addons):
        return "UnsupportedAddon"
    optional = {
        name for name, options in addons.items() if isinstance(options, dict) and options.get("optional")
    }
    if set(addons) - BUILT_IN - served - (optional & {"sendmail"}):
        return "NoDefaultAddon"
    return READY


@dataclass(frozen=True)
class Install:
    """One app installed from a catalog, and what it must become."""

    name: str
    repository: str  # the catalog's
    source: dict[str, str]  # catalog, appId, and version when pinned
    addons: tuple[str, ...]  # the manifest's
    selections: dict[str, str]  # spec.addons: the Addon of each type, by type
    expected: str  # READY or the reason of Ready=False
    version: str = ""  # the version and image it must run, when Ready
    image: str = ""


def install_of(name: str, app: PublishedApp, served: Mapping[str, str]) -> Install:
    """The app installed by id: the test's Addons of the manifest's types, the outcome its addons give."""
    return Install(
        name,
        app.repository,
        {"catalog": app.catalog, "appId": app.app_id},
        app.addons,
        {kind: served[kind] for kind in app.addons if kind in served},
        expected_outcome(app.manifest, frozenset(served)),
        app.version,
        app.image,
    )


@dataclass(frozen=True)
class Servers:
    """The module's servers on loopback for the addon types that are not databases."""

    smtp: SmtpSink
    turn: TurnServer
    ldap: LdapServer
    hydra: HydraServer


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, postgres_server: DatabaseServer) -> Iterator[Servers]:
    """An SMTP sink, coturn, slapd and Hydra (on a database of its own): about 5 s together."""
    root = tmp_path_factory.mktemp("servers")
    with ExitStack() as started:
        smtp = SmtpSink().start()
        started.callback(smtp.stop)
        turn = TurnServer(directory=root / "turn").start()
        started.callback(turn.stop)
        ldap = start_ldap_server(root / "ldap")
        started.callback(ldap.stop)
        # Hydra sends browsers to the login service; no browser comes here, so nothing listens there.
        hydra = start_hydra(root / "hydra", postgres_server, f"http://{LOOPBACK}:{free_port()}")
        started.callback(hydra.stop)
        yield Servers(smtp, turn, ldap, hydra)


@pytest.fixture
def served(
    api_client: client.ApiClient,
    namespace: str,
    postgres_server: DatabaseServer,
    mariadb_server: DatabaseServer,
    servers: Servers,
) -> Iterator[dict[str, str]]:
    """The test's Addon of each addon type the operator serves, by type (proxyAuth: the oidc one)."""
    databases: dict[str, DatabaseServer | None] = {
        "postgresql": postgres_server,
        "mysql": mariadb_server,
        "redis": None,
    }
    with addons_for_test(api_client, namespace, databases) as addons:
        tag = secrets.token_hex(3)
        made = {kind: f"{kind}-{tag}" for kind in ("sendmail", "turn", "ldap", "oidc")}
        try:
            for kind, (spec, secret) in _addon_specs(servers, made, namespace).items():
                if secret is not None:
                    k8s.create(api_client, secret)
                addon = {
                    "apiVersion": ADDON[0],
                    "kind": "Addon",
                    "metadata": {"name": made[kind]},
                    "spec": spec,
                }
                k8s.create(api_client, addon)
            yield {**addons.names, **made, "proxyAuth": made["oidc"]}
        finally:
            for name in made.values():
                k8s.delete(api_client, *ADDON, None, name)


def _addon_specs(
    servers: Servers, names: Mapping[str, str], namespace: str
) -> dict[str, tuple[dict[str, Any], dict[str, Any] | None]]:
    """Each Addon's spec, and the Secret it names (in the test's namespace), by type."""

    def secret(kind: str, data: dict[str, str]) -> dict[str, Any]:
        meta = {"name": names[kind], "namespace": namespace}
        return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": data}

    def connection(kind: str, port: int, key: str | None = None) -> dict[str, Any]:
        ref = {"name": names[kind], "namespace": namespace, **({"key": key} if key else {})}
        return {"host": LOOPBACK, "port": port, "adminSecretRef": ref}

    hydra = servers.hydra
    return {
        "sendmail": ({"type": "sendmail", "connection": {"host": LOOPBACK, "port": servers.smtp.port}}, None),
        "turn": (
            {"type": "turn", "connection": connection("turn", servers.turn.port, "secret")},
            secret("turn", {"secret": servers.turn.secret}),
        ),
        "ldap": (
            {"type": "ldap", "connection": connection("ldap", servers.ldap.port)},
            secret("ldap", {"username": ADMIN_DN, "password": servers.ldap.admin_password}),
        ),
        "oidc": (
            {
                "type": "oidc",
                "connection": {"host": LOOPBACK, "port": hydra.admin_port},
                "options": {"issuer": hydra.issuer},
            },
            None,
        ),
    }


class ServedCatalogs:
    """Corpus catalogs served by the test's static server as AppCatalogs (cluster-scoped: named after
    the test's namespace), each with its file."""

    def __init__(self, api: client.ApiClient, namespace: str, server: CatalogServer) -> None:
        self.api, self.namespace, self.server = api, namespace, server
        self.files: dict[str, Path] = {}  # by AppCatalog name
        self._used: set[str] = set()

    def serve(self, corpus: list[CorpusCatalog]) -> dict[str, dict[str, Any]]:
        """The AppCatalogs of these catalogs, by name, once read."""
        names = []
        for catalog in corpus:
            name = f"{_app_name(catalog.path, self._used)}-{self.namespace[-6:]}"
            self.server.publish(catalog.name, catalog.path.read_bytes())
            k8s.create(self.api, catalog_object(name, self.server.url(catalog.name)))
            self.files[name] = catalog.path
            names.append(name)
        return wait_for_catalogs(self.api, names, WAIT)

    def delete(self) -> None:
        for name in self.files:
            k8s.delete(self.api, API_VERSION, "AppCatalog", None, name)
        wait_until(
            lambda: all(k8s.get(self.api, API_VERSION, "AppCatalog", None, n) is None for n in self.files),
            WAIT,
            "the AppCatalogs to be deleted",
        )


@pytest.fixture
def catalogs(
    api_client: client.ApiClient,
    app_operator: OperatorProcess,
    namespace: str,
    catalog_server: CatalogServer,
) -> Iterator[ServedCatalogs]:
    """The test's AppCatalogs, deleted before the operator stops (which removes its finalizer)."""
    served = ServedCatalogs(api_client, namespace, catalog_server)
    yield served
    served.delete()


@pytest.fixture
def volumes(
    api_client: client.ApiClient, namespace: str
) -> Iterator[Callable[[str, Mapping[str, Any]], None]]:
    """Bind the claims an app's manifest makes (localstorage, persistentDirs) to volumes made for them."""
    made: list[str] = []

    def bind(app: str, manifest: Mapping[str, Any]) -> None:
        if "localstorage" in (manifest.get("addons") or {}):
            made.append(pre_bound_volume(api_client, namespace, child_name(app, DATA_SUFFIX)))
        if manifest.get("persistentDirs"):
            made.append(pre_bound_volume(api_client, namespace, child_name(app, DIRS_SUFFIX)))

    yield bind
    for name in made:
        client.CoreV1Api(api_client).delete_persistent_volume(name)


def _deployment_image(api: client.ApiClient, namespace: str, name: str) -> str:
    deployment = k8s.get(api, "apps/v1", "Deployment", namespace, name) or {}
    containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    return str(next((c["image"] for c in containers if c["name"] == "app"), ""))


def _observed(api: client.ApiClient, namespace: str, install: Install) -> tuple[str, str]:
    """`Ready` when the app is Ready on its version and image; else what it is, and Ready's message."""
    app = get_app(api, namespace, install.name)
    ready = condition(app, "Ready")
    if ready.get("status") != "True":
        return str(ready.get("reason") or "NoStatus"), str(ready.get("message") or "")
    running = ((app.get("status") or {}).get("package") or {}).get("version")
    if running != install.version:
        return f"Ready on {running}", ""
    image = _deployment_image(api, namespace, install.name)
    return (READY, "") if image == install.image else (f"Ready with image {image}", "")


def _install_all(api: client.ApiClient, namespace: str, installs: list[Install]) -> None:
    """Create every app, then wait until each is what it must become; print the table either way."""
    tag = namespace[-6:]
    for install in installs:
        domain = f"{install.name}.{tag}.example.com"
        k8s.create(api, source_app(install.name, namespace, install.source, domain, install.selections))
    seen: dict[str, tuple[str, str]] = {}
    deadline = time.monotonic() + INSTALL_WAIT
    while True:
        seen = {install.name: _observed(api, namespace, install) for install in installs}
        # Done when each app is what it must be, or stuck where only a change of its spec moves it.
        if all(seen[i.name][0] in (i.expected, *INVALID_REASONS) for i in installs):
            break
        if time.monotonic() >= deadline:
            break
        time.sleep(2.0)
    report = _report(installs, seen)
    print(f"\n{report}")
    wrong = [i.name for i in installs if seen[i.name][0] != i.expected]
    assert not wrong, f"{len(wrong)} apps are not what their manifest says they must be: {wrong}\n{report}"


def _report(installs: list[Install], seen: Mapping[str, tuple[str, str]]) -> str:
    rows = []
    for install in installs:
        outcome, message = seen[install.name]
        if outcome != install.expected:
            outcome = f"{outcome} (expected {install.expected}) {message[:200]}".rstrip()
        version = install.source.get("version", install.version) or "-"
        addons = ", ".join(install.addons) or "-"
        rows.append((install.repository, install.source["appId"], version, addons, outcome))
    ready = sum(seen[i.name][0] == READY for i in installs)
    return f"{len(installs)} apps, {ready} Ready\n" + table(rows)


def test_every_catalogs_newest_published_version_installs_by_id(
    api_client: client.ApiClient,
    namespace: str,
    served: dict[str, str],
    catalogs: ServedCatalogs,
    volumes: Callable[[str, Mapping[str, Any]], None],
) -> None:
    """Each AppCatalog lists SOURCES.tsv's newest version as `latest`; each app installed by id runs
    it, or says why it cannot, as its manifest's addons say."""
    corpus = corpus_catalogs()
    read, files = catalogs.serve(corpus), catalogs.files
    by_file = {c.name: c for c in corpus}
    for name, obj in read.items():
        ready = condition(obj, "Ready")
        assert ready.get("status") == "True", (name, ready)
        listed = {e["id"]: e.get("latest") for e in obj["status"].get("entries", [])}
        catalog = by_file[files[name].name]
        assert listed == ({catalog.app_id: catalog.latest} if catalog.app_id else {}), (name, listed)

    apps = app_names(published_apps(read, files))
    assert len(apps) == sum(c.latest is not None for c in corpus)
    installs = [install_of(name, app, served) for name, app in apps.items()]
    for name, app in apps.items():
        volumes(name, app.manifest)
    _install_all(api_client, namespace, installs)


def test_an_app_without_a_published_version_installs_only_by_a_pinned_version(
    api_client: client.ApiClient,
    namespace: str,
    served: dict[str, str],
    catalogs: ServedCatalogs,
    volumes: Callable[[str, Mapping[str, Any]], None],
) -> None:
    """bluesky-pds has only a testing version, omniroute only an invalid one: by id, neither installs
    (NoPublishedVersion); pinned, the testing version does and the invalid one does not."""
    read = catalogs.serve([c for c in corpus_catalogs() if c.name in (TESTING_ONLY, NO_IMAGE)])
    files = catalogs.files
    installs = []
    used: set[str] = set()
    for catalog, obj in read.items():
        for entry in obj["status"]["entries"]:
            assert "latest" not in entry, entry
            name = _app_name(files[catalog], used)
            source = {"catalog": catalog, "appId": entry["id"]}
            repository = repository_of(files[catalog].name)
            installs.append(Install(name, repository, source, (), {}, "NoPublishedVersion"))
            for listed in entry["versions"]:
                manifest, image = catalog_entry(files[catalog], listed["version"])
                pinned = {**source, "version": listed["version"]}
                app = PublishedApp(
                    files[catalog].name, catalog, entry["id"], listed["version"], image, manifest
                )
                install = install_of(f"{name}-pinned", app, served)
                if listed["state"] == "invalid":
                    install = replace(install, expected="VersionInvalid")
                else:
                    assert listed["state"] == "testing", listed
                    volumes(install.name, manifest)
                installs.append(replace(install, source=pinned))
    assert sorted(i.expected for i in installs) == [
        "NoPublishedVersion",
        "NoPublishedVersion",
        READY,
        "VersionInvalid",
    ]
    _install_all(api_client, namespace, installs)
