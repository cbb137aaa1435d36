"""`python -m tests.harness catalogs`: every app of the catalog corpus installed by id in the demo.

The catalogs of `../shared/corpus/catalogs` are served by the harness's static server on loopback
(`catalog_server.py`, for as long as the command runs); each becomes an AppCatalog, and every app id
with a published version (the AppCatalog's `status.entries[].latest`) becomes a CloudronApp with
`spec.source: {catalog, appId}` and no version in a fresh namespace, served by the demo's default
Addons (every addon type the operator provides). Then, per catalog and app: the version installed,
the manifest's addons, and Ready or the reason it is not. The AppCatalogs are deleted at the end,
as their server stops with the command: the apps keep running the package they recorded.

The pieces that read the catalogs and make the objects are shared with
tests/integration/test_catalog_installs.py.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from kubernetes import client, config

from cloudron_operator.k8s import api as k8s
from cloudron_operator.models import API_VERSION
from tests.catalog_corpus import corpus_catalogs
from tests.harness import demo
from tests.harness.catalog_server import CatalogServer
from tests.harness.corpus import Outcome, _app_name, fresh_namespace, wait_for_apps
from tests.harness.localenv import LocalEnv
from tests.harness.processes import HarnessError, wait_until

NAMESPACE: Final = "catalogs"
LABEL: Final = "cloudron.io/harness"  # =catalogs on the command's AppCatalogs (cluster-scoped)
WAIT_SECONDS: Final = 240.0
CATALOG_WAIT_SECONDS: Final = 60.0
INTERVAL: Final = "10m"  # the catalogs do not change while they are served


@dataclass(frozen=True)
class PublishedApp:
    """An app id of a served catalog and its newest published version, as the catalog's file has it."""

    file: str  # the catalog's file in the corpus: owner__repo__CloudronVersions.json
    catalog: str  # its AppCatalog
    app_id: str
    version: str
    image: str
    manifest: Mapping[str, Any]

    @property
    def repository(self) -> str:
        return repository_of(self.file)

    @property
    def addons(self) -> tuple[str, ...]:
        addons = self.manifest.get("addons")
        return tuple(sorted(addons)) if isinstance(addons, Mapping) else ()


def repository_of(file: str) -> str:
    """`owner/repo` of a corpus file named `owner__repo__<file>`."""
    return "/".join(file.split("__")[:2])


def catalog_object(name: str, url: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, **({"labels": dict(labels)} if labels else {})}
    return {
        "apiVersion": API_VERSION,
        "kind": "AppCatalog",
        "metadata": metadata,
        "spec": {"url": url, "interval": INTERVAL},
    }


def source_app(
    name: str,
    namespace: str,
    source: Mapping[str, str],
    domain: str,
    addons: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A CloudronApp installed from a catalog (`source`: catalog, appId and maybe version); `addons`
    names an Addon per type (spec.addons), else the defaults serve it."""
    spec: dict[str, Any] = {"source": dict(source), "domain": domain}
    if addons:
        spec["addons"] = {addon_type: {"addonRef": addon} for addon_type, addon in addons.items()}
    return {
        "apiVersion": API_VERSION,
        "kind": "CloudronApp",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def catalog_entry(path: Path, version: str) -> tuple[Mapping[str, Any], str]:
    """The manifest and image of `version` in the catalog's file: `versions` keyed by version, or the
    list form (`{version, dockerImage, manifest}`), the image from the manifest or else the entry."""
    versions = json.loads(path.read_text())["versions"]
    entries = versions.values() if isinstance(versions, dict) else versions
    for entry in entries:
        manifest = entry.get("manifest") if isinstance(entry, dict) else None
        if isinstance(manifest, dict) and str(manifest.get("version")) == version:
            return manifest, str(manifest.get("dockerImage") or entry.get("dockerImage") or "")
    raise LookupError(f"{path.name} has no version {version}")


def ready_condition(obj: Mapping[str, Any]) -> dict[str, Any]:
    conditions = (obj.get("status") or {}).get("conditions", [])
    return next((dict(c) for c in conditions if c["type"] == "Ready"), {})


def wait_for_catalogs(api: client.ApiClient, names: Iterable[str], wait: float) -> dict[str, dict[str, Any]]:
    """The AppCatalogs once each has been read (a Ready condition of its generation), by name."""
    wanted, deadline = list(names), time.monotonic() + wait
    while True:
        found = {name: k8s.get(api, API_VERSION, "AppCatalog", None, name) or {} for name in wanted}
        pending = [
            name
            for name, obj in found.items()
            if ready_condition(obj).get("observedGeneration") != obj.get("metadata", {}).get("generation")
        ]
        if not pending:
            return found
        if time.monotonic() >= deadline:
            raise HarnessError(f"AppCatalogs not read within {wait:.0f}s: {', '.join(pending)}")
        time.sleep(1.0)


def published_apps(catalogs: Mapping[str, dict[str, Any]], files: Mapping[str, Path]) -> list[PublishedApp]:
    """Every app id with a `latest` in the AppCatalogs' status (by AppCatalog name; `files` gives
    each one's file), with that version's manifest and image from the file."""
    found = []
    for name, obj in catalogs.items():
        for entry in (obj.get("status") or {}).get("entries", []):
            if entry.get("latest"):
                manifest, image = catalog_entry(files[name], entry["latest"])
                found.append(
                    PublishedApp(files[name].name, name, entry["id"], entry["latest"], image, manifest)
                )
    return found


def app_names(apps: Iterable[PublishedApp]) -> dict[str, PublishedApp]:
    """Each app by a DNS name of its own, from its catalog's repository (as `make corpus` names apps)."""
    used: set[str] = set()
    return {_app_name(Path(app.file), used): app for app in apps}


def table(rows: Iterable[tuple[str, str, str, str, str]]) -> str:
    """Rows of catalog, app id, version, addons, outcome, as a markdown table."""
    lines = ["| catalog | app id | version | addons | outcome |", "|---|---|---|---|---|"]
    return "\n".join(lines + [f"| {' | '.join(row)} |" for row in rows])


def outcome_text(outcome: Outcome) -> str:
    return "Ready" if outcome.ready else f"{outcome.reason}: {outcome.message[:160]}"


@dataclass
class CatalogRun:
    catalogs: dict[str, dict[str, Any]]  # AppCatalog by name
    files: dict[str, Path]  # its file, by AppCatalog name
    apps: dict[str, PublishedApp]  # by CloudronApp name
    outcomes: dict[str, Outcome]  # by CloudronApp name

    def report(self) -> str:
        rows = []
        for name in sorted(self.catalogs, key=lambda n: self.files[n].name.lower()):
            repository = repository_of(self.files[name].name)
            listed = [(app, self.apps[app]) for app in self.outcomes if self.apps[app].catalog == name]
            if not listed:
                rows.append(
                    (repository, "-", "-", "-", f"nothing to install: {_why_none(self.catalogs[name])}")
                )
            for app, published in listed:
                addons = ", ".join(published.addons) or "-"
                outcome = outcome_text(self.outcomes[app])
                rows.append((repository, published.app_id, published.version, addons, outcome))
        ready = sum(o.ready for o in self.outcomes.values())
        reasons = Counter(o.reason for o in self.outcomes.values() if not o.ready)
        summary = (
            f"{len(self.catalogs)} catalogs, {len(self.outcomes)} apps with a published version; "
            f"Ready: {ready}; not Ready: "
            + (", ".join(f"{r} {n}" for r, n in reasons.most_common()) or "none")
        )
        return summary + "\n\n" + table(rows)


def _why_none(catalog: Mapping[str, Any]) -> str:
    """Why an AppCatalog offers nothing to install by id: it was not read, is empty, or its apps
    have no published valid version (their versions' states)."""
    read = ready_condition(catalog)
    if read.get("status") != "True":
        return f"{read.get('reason', 'not read')}: {read.get('message', '')}"
    entries = (catalog.get("status") or {}).get("entries", [])
    states = ", ".join(f"{v['version']} {v['state']}" for e in entries for v in e.get("versions", []))
    return f"no published version ({states})" if entries else "the catalog lists no version"


def catalogs(wait: float = WAIT_SECONDS) -> CatalogRun:
    demo.demo()
    env = LocalEnv.named(demo.DEMO)
    api = config.new_client_from_config(config_file=str(env.cluster.kubeconfig))
    served = tempfile.TemporaryDirectory(prefix="cloudron-catalogs-")
    server = CatalogServer(Path(served.name))
    server.start()
    try:
        _delete_catalogs(api)
        fresh_namespace(env, NAMESPACE)
        files: dict[str, Path] = {}
        used: set[str] = set()
        for catalog in corpus_catalogs():
            name = f"{NAMESPACE}-{_app_name(catalog.path, used)}"
            server.publish(catalog.name, catalog.path.read_bytes())
            k8s.create(api, catalog_object(name, server.url(catalog.name), {LABEL: NAMESPACE}))
            files[name] = catalog.path
        read = wait_for_catalogs(api, files, CATALOG_WAIT_SECONDS)
        apps = app_names(published_apps(read, files))
        outcomes: dict[str, Outcome] = {}
        for name, app in apps.items():
            source = {"catalog": app.catalog, "appId": app.app_id}
            k8s.create(api, source_app(name, NAMESPACE, source, f"{name}.{NAMESPACE}.example.com"))
            outcomes[name] = Outcome(app.file, app.addons)
        wait_for_apps(api, NAMESPACE, outcomes, wait)
        return CatalogRun(read, files, apps, outcomes)
    finally:
        _delete_catalogs(api)
        server.stop()
        served.cleanup()
        api.close()


def _delete_catalogs(api: client.ApiClient) -> None:
    """Delete the command's AppCatalogs (of an earlier run too) and wait until they are gone."""
    selector = f"{LABEL}={NAMESPACE}"
    for obj in k8s.list_objects(api, API_VERSION, "AppCatalog", None, selector):
        k8s.delete(api, API_VERSION, "AppCatalog", None, obj["metadata"]["name"])
    wait_until(
        lambda: not k8s.list_objects(api, API_VERSION, "AppCatalog", None, selector),
        CATALOG_WAIT_SECONDS,
        "the AppCatalogs to be deleted",
    )
