"""AppCatalogs through the operator: every catalog of the corpus, served by a static HTTP server on
loopback, loads with the counts its SOURCES.tsv gives; later reads are conditional, answered 304 and
write nothing; a change is picked up within the interval; a missing file, invalid JSON and a stopped
server make Ready False with a Warning Event while the last good entries stay; ConfigMaps; and
`read_catalog`, what an app's pass calls, on its own.

Each AppCatalog is read every 10 s (spec.interval), the floor.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client

from cloudron_operator.catalog.cache import Catalogs, CatalogUnavailable
from cloudron_operator.catalog.document import digest_of
from cloudron_operator.k8s import api as k8s
from cloudron_operator.models.conditions import Reason
from cloudron_operator.reconcile.catalogs import read_catalog
from tests.catalog_corpus import NO_IMAGE, corpus_catalogs
from tests.harness.catalog_server import CatalogServer, etag_of
from tests.harness.localenv import LocalEnv
from tests.harness.operator_process import OperatorProcess
from tests.harness.processes import wait_until

CATALOG = ("cloudron.io/v1alpha1", "AppCatalog")
INTERVAL_SECONDS = 10
WAIT = 60.0
BIND = next(c for c in corpus_catalogs() if c.name.startswith("0dataapp__bind"))
BUZZ = next(c for c in corpus_catalogs() if c.name.startswith("marcusquinn__cloudron-buzz-app"))

MakeCatalog = Callable[[str, dict[str, Any]], str]


def _new_catalog(api: client.ApiClient, name: str, spec: dict[str, Any]) -> None:
    obj = {"apiVersion": CATALOG[0], "kind": CATALOG[1], "metadata": {"name": name}, "spec": spec}
    k8s.create(api, obj)


@pytest.fixture
def catalogs(
    api_client: client.ApiClient, app_operator: OperatorProcess, namespace: str
) -> Iterator[MakeCatalog]:
    """Make AppCatalogs (cluster-scoped: named after the test's namespace), read every 10 s; they are
    deleted before the operator stops, which removes its finalizer."""
    made: list[str] = []

    def make(suffix: str, spec: dict[str, Any]) -> str:
        name = f"{namespace}-{suffix}"
        _new_catalog(api_client, name, {"interval": f"{INTERVAL_SECONDS}s", **spec})
        made.append(name)
        return name

    yield make
    for name in made:
        k8s.delete(api_client, *CATALOG, None, name)
    wait_until(
        lambda: all(k8s.get(api_client, *CATALOG, None, name) is None for name in made),
        WAIT,
        "the AppCatalogs to be deleted",
    )


def _get(api: client.ApiClient, name: str) -> dict[str, Any]:
    found = k8s.get(api, *CATALOG, None, name)
    assert found is not None, f"AppCatalog {name} is gone"
    return found


def _ready(obj: dict[str, Any]) -> dict[str, Any]:
    conditions = (obj.get("status") or {}).get("conditions", [])
    return next((c for c in conditions if c["type"] == "Ready"), {})


def _wait_for(api: client.ApiClient, name: str, status: str, reason: str | None = None) -> dict[str, Any]:
    """The AppCatalog once its Ready condition, of its current generation, has `status` (and `reason`)."""

    def there() -> bool:
        obj = _get(api, name)
        ready = _ready(obj)
        return (
            ready.get("status") == status
            and (reason is None or ready.get("reason") == reason)
            and ready.get("observedGeneration") == obj["metadata"]["generation"]
        )

    wait_until(there, WAIT, f"AppCatalog {name} Ready={status} {reason or ''}")
    return _get(api, name)


def _events(api: client.ApiClient, name: str) -> list[dict[str, Any]]:
    """The Events of a cluster-scoped object, which kopf posts in the namespace default."""
    selector = f"involvedObject.kind=AppCatalog,involvedObject.name={name}"
    return k8s.list_objects(api, "v1", "Event", "default", field_selector=selector)


def _wait_for_event(api: client.ApiClient, name: str, kind: str, reason: str, text: str) -> dict[str, Any]:
    def matching() -> list[dict[str, Any]]:
        return [
            e
            for e in _events(api, name)
            if e["type"] == kind and e["reason"] == reason and text in e.get("message", "")
        ]

    wait_until(lambda: bool(matching()), WAIT, f"a {kind} Event {reason} on {name} saying {text!r}")
    return matching()[0]


def _listing(status: dict[str, Any]) -> dict[str, Any]:
    """What a failed read must leave as it was."""
    return {
        key: status.get(key) for key in ("apps", "versions", "invalid", "digest", "lastChanged", "entries")
    }


def _with_new_version(data: bytes, version: str) -> bytes:
    """The catalog with a copy of its newest entry as `version` (its manifest and image say so)."""
    document = json.loads(data)
    newest = copy.deepcopy(next(iter(document["versions"].values())))
    newest["manifest"]["version"] = version
    newest["manifest"]["dockerImage"] = newest["manifest"]["dockerImage"].split(":")[0] + ":" + version
    document["versions"][version] = newest
    return json.dumps(document, indent=2).encode()


def test_every_corpus_catalog_loads_with_its_counts(
    api_client: client.ApiClient, cluster: LocalEnv, catalog_server: CatalogServer, catalogs: MakeCatalog
) -> None:
    corpus = corpus_catalogs()
    names = {}
    for number, catalog in enumerate(corpus):
        catalog_server.publish(catalog.name, catalog.path.read_bytes())
        names[catalog.name] = catalogs(f"corpus{number:02}", {"url": catalog_server.url(catalog.name)})
    for catalog in corpus:
        name = names[catalog.name]
        reason = Reason.SOME_VERSIONS_INVALID if catalog.name == NO_IMAGE else Reason.FETCHED
        status = _wait_for(api_client, name, "True", reason)["status"]
        assert (status["apps"], status["versions"], status["invalid"]) == (
            1 if catalog.app_id else 0,
            catalog.versions,
            catalog.invalid,
        ), catalog.name
        assert status["digest"] == digest_of(catalog.path.read_bytes())
        assert status["lastFetched"] and status["lastChanged"]
        entries = status.get("entries", [])
        assert [e["id"] for e in entries] == ([catalog.app_id] if catalog.app_id else []), catalog.name
        for entry in entries:
            assert entry.get("latest") == catalog.latest, catalog.name
            assert entry["versions"][0]["version"] == catalog.newest_version
            assert len(entry["versions"]) == catalog.versions
    omniroute = _ready(_get(api_client, names[NO_IMAGE]))["message"]
    assert "com.toldyouso.omniroute 0.1.0: its manifest has no dockerImage" in omniroute
    _wait_for_event(
        api_client, names[BIND.name], "Normal", Reason.FETCHED, "read the catalog: 1 version of 1 app"
    )

    # kubectl's printer columns, as a user sees them.
    table = cluster.cluster.kubectl("get", "appcatalogs", names[BIND.name], names[NO_IMAGE], "-o", "wide")
    header, *rows = [line.split() for line in table.strip().splitlines()]
    assert header == [
        "NAME",
        "URL",
        "APPS",
        "VERSIONS",
        "INVALID",
        "READY",
        "FETCHED",
        "AGE",
        "REASON",
        "CONFIGMAP",
    ]
    cells = {row[0]: row for row in rows}
    bind, omni = cells[names[BIND.name]], cells[names[NO_IMAGE]]
    assert bind[1:6] == [catalog_server.url(BIND.name), "1", "1", "0", "True"]
    assert bind[8:] == ["Fetched"], "no ConfigMap: an empty cell"
    assert omni[2:6] == ["1", "1", "1", "True"] and omni[8] == "SomeVersionsInvalid"


def test_reads_are_conditional_write_nothing_unchanged_and_pick_up_a_change(
    api_client: client.ApiClient,
    catalog_server: CatalogServer,
    catalogs: MakeCatalog,
    app_operator: OperatorProcess,
) -> None:
    data = BIND.path.read_bytes()
    catalog_server.publish("bind.json", data)
    name = catalogs("bind", {"url": catalog_server.url("bind.json")})
    first = _wait_for(api_client, name, "True", Reason.FETCHED)

    def answered_304() -> int:
        return len([r for r in catalog_server.requests("bind.json") if r.status == 304])

    wait_until(lambda: answered_304() >= 1, WAIT, "a conditional read answered 304")
    version = _get(api_client, name)["metadata"]["resourceVersion"]
    wait_until(lambda: answered_304() >= 3, 3 * INTERVAL_SECONDS + WAIT, "two more reads answered 304")
    unchanged = _get(api_client, name)
    assert unchanged["metadata"]["resourceVersion"] == version, "a 304 writes nothing"
    assert unchanged["status"] == first["status"]
    initial, *later = catalog_server.requests("bind.json")
    assert (initial.status, initial.conditional) == (200, False)
    assert later and all(r.if_none_match == etag_of(data) and r.if_modified_since for r in later)

    changed = _with_new_version(data, "0.0.2")
    catalog_server.publish("bind.json", changed)
    wait_until(
        lambda: _get(api_client, name)["status"]["digest"] == digest_of(changed),
        INTERVAL_SECONDS + WAIT,
        "the changed catalog to be read",
    )
    status = _get(api_client, name)["status"]
    assert status["versions"] == 2 and status["lastChanged"] > first["status"]["lastChanged"]
    assert status["lastFetched"] > first["status"]["lastFetched"]
    (entry,) = status["entries"]
    assert entry["latest"] == "0.0.2" and [v["version"] for v in entry["versions"]] == ["0.0.2", "0.0.1"]
    assert entry["versions"][0]["image"] == "0data/bind:0.0.2"
    read = next(r for r in catalog_server.requests("bind.json") if r.status == 200 and r.conditional)
    assert read.if_none_match == etag_of(data), "the change came as the answer to a conditional request"
    _wait_for_event(api_client, name, "Normal", Reason.FETCHED, "the catalog changed: 2 versions of 1 app")

    # A restarted operator has no validators: it reads the whole catalog again, finds what the
    # status says, and writes nothing.
    version = _get(api_client, name)["metadata"]["resourceVersion"]
    app_operator.stop()
    catalog_server.clear_log()
    app_operator.start()
    wait_until(lambda: bool(catalog_server.requests("bind.json")), WAIT, "the restarted operator's read")
    assert [(r.status, r.conditional) for r in catalog_server.requests("bind.json")][:1] == [(200, False)]
    wait_until(lambda: answered_304() >= 1, INTERVAL_SECONDS + WAIT, "its next read, conditional")
    assert _get(api_client, name)["metadata"]["resourceVersion"] == version


def test_failed_reads_say_why_and_keep_the_last_good_entries(
    api_client: client.ApiClient, catalog_server: CatalogServer, catalogs: MakeCatalog
) -> None:
    data = BIND.path.read_bytes()
    catalog_server.publish("bind.json", data)
    url = catalog_server.url("bind.json")
    name = catalogs("bind", {"url": url})
    good = _listing(_wait_for(api_client, name, "True", Reason.FETCHED)["status"])
    kept = f"; apps keep using the content read before ({digest_of(data)[:19]})"

    catalog_server.fail("bind.json", 404)
    failed = _wait_for(api_client, name, "False", Reason.CATALOG_UNREACHABLE)
    assert _ready(failed)["message"] == f"{url} answered HTTP 404 Not Found{kept}"
    assert _listing(failed["status"]) == good
    _wait_for_event(api_client, name, "Warning", Reason.CATALOG_UNREACHABLE, "answered HTTP 404 Not Found")

    catalog_server.heal("bind.json")
    catalog_server.publish("bind.json", b'{"stable": true, "versions": {')
    failed = _wait_for(api_client, name, "False", Reason.CATALOG_INVALID)
    assert _ready(failed)["message"].startswith(f"{url}: not valid JSON: ")
    assert _listing(failed["status"]) == good
    _wait_for_event(api_client, name, "Warning", Reason.CATALOG_INVALID, "not valid JSON")

    catalog_server.stop()
    failed = _wait_for(api_client, name, "False", Reason.CATALOG_UNREACHABLE)
    assert _ready(failed)["message"] == f"cannot fetch {url}: connection refused{kept}"
    assert _listing(failed["status"]) == good
    _wait_for_event(api_client, name, "Warning", Reason.CATALOG_UNREACHABLE, "connection refused")

    catalog_server.start()
    catalog_server.publish("bind.json", data)
    recovered = _wait_for(api_client, name, "True", Reason.FETCHED)
    assert _listing(recovered["status"]) == good
    _wait_for_event(api_client, name, "Normal", Reason.FETCHED, "the catalog can be read again")


def test_a_catalog_deleted_while_it_is_read_is_gone_once_the_read_ends(
    api_client: client.ApiClient, catalog_server: CatalogServer, catalogs: MakeCatalog
) -> None:
    """kopf holds its finalizer until the catalog's daemon has exited; a daemon busy with a read exits
    when the read ends, and kopf must look again then, not a minute later (its default)."""
    data = BIND.path.read_bytes()
    catalog_server.publish("bind.json", data)
    name = catalogs("bind", {"url": catalog_server.url("bind.json")})
    _wait_for(api_client, name, "True", Reason.FETCHED)

    read_seconds = 6.0
    catalog_server.publish("bind.json", _with_new_version(data, "0.0.2"))  # a 200, not a quick 304
    catalog_server.delay("bind.json", read_seconds)
    arrived = catalog_server.arrivals("bind.json")
    wait_until(
        lambda: catalog_server.arrivals("bind.json") > arrived, INTERVAL_SECONDS + WAIT, "the next read"
    )
    k8s.delete(api_client, *CATALOG, None, name)
    wait_until(
        lambda: k8s.get(api_client, *CATALOG, None, name) is None,
        read_seconds + 10,
        "the AppCatalog to be gone a few seconds after its read ended",
    )


def test_a_catalog_in_a_config_map(
    api_client: client.ApiClient, namespace: str, catalogs: MakeCatalog
) -> None:
    core = client.CoreV1Api(api_client)
    bind, buzz = BIND.path.read_bytes(), BUZZ.path.read_bytes()
    core.create_namespaced_config_map(
        namespace,
        {
            "metadata": {"name": "catalogs"},
            "data": {"CloudronVersions.json": bind.decode()},
            "binaryData": {"buzz.json": base64.b64encode(buzz).decode()},
        },
    )
    in_data = catalogs("data", {"configMapRef": {"name": "catalogs", "namespace": namespace}})
    in_binary = catalogs(
        "binary", {"configMapRef": {"name": "catalogs", "namespace": namespace, "key": "buzz.json"}}
    )
    absent = catalogs("absent", {"configMapRef": {"name": "later", "namespace": namespace}})
    no_key = catalogs(
        "nokey", {"configMapRef": {"name": "catalogs", "namespace": namespace, "key": "x.json"}}
    )

    status = _wait_for(api_client, in_data, "True", Reason.FETCHED)["status"]
    assert (status["apps"], status["versions"], status["digest"]) == (1, 1, digest_of(bind))
    status = _wait_for(api_client, in_binary, "True", Reason.FETCHED)["status"]
    assert (status["versions"], status["digest"]) == (BUZZ.versions, digest_of(buzz))
    assert _ready(_get(api_client, in_binary))["message"] == (
        f"8 versions of 1 app from ConfigMap {namespace}/catalogs key buzz.json"
    )
    missing = _wait_for(api_client, absent, "False", Reason.CONFIG_MAP_NOT_FOUND)
    assert _ready(missing)["message"] == f"ConfigMap {namespace}/later does not exist"
    _wait_for_event(api_client, absent, "Warning", Reason.CONFIG_MAP_NOT_FOUND, "does not exist")
    keyless = _wait_for(api_client, no_key, "False", Reason.CONFIG_MAP_NOT_FOUND)
    assert _ready(keyless)["message"] == (
        f"ConfigMap {namespace}/catalogs has no key x.json (its keys: CloudronVersions.json, buzz.json)"
    )

    # The ConfigMap is read again at the interval: made now, it is found.
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "later"}, "data": {"CloudronVersions.json": bind.decode()}}
    )
    found = _wait_for(api_client, absent, "True", Reason.FETCHED)
    assert found["status"]["digest"] == digest_of(bind)


def test_read_catalog_reads_a_catalog_once_per_spec_and_says_why_it_cannot(
    api_client: client.ApiClient, installed_crds: None, namespace: str, catalog_server: CatalogServer
) -> None:
    """What an app's pass calls, here without an operator (no kopf: its Events are log lines)."""
    cache = Catalogs()
    name, broken = f"{namespace}-direct", f"{namespace}-broken"
    with pytest.raises(CatalogUnavailable) as absent:
        read_catalog(api_client, cache, name)
    assert (absent.value.reason, absent.value.message) == (
        Reason.CATALOG_NOT_FOUND,
        f"there is no AppCatalog {name}",
    )

    catalog_server.publish("buzz.json", BUZZ.path.read_bytes())
    _new_catalog(api_client, name, {"url": catalog_server.url("buzz.json")})
    _new_catalog(api_client, broken, {"url": catalog_server.url("missing.json")})
    try:
        loaded = read_catalog(api_client, cache, name)
        assert list(loaded.catalog.apps) == [BUZZ.app_id] and len(loaded.catalog.versions) == BUZZ.versions
        assert _ready(_get(api_client, name))["reason"] == Reason.FETCHED, "the status is written as it reads"
        assert read_catalog(api_client, cache, name) is loaded, "read once for this spec"
        assert len(catalog_server.requests("buzz.json")) == 1

        client.CustomObjectsApi(api_client).patch_cluster_custom_object(
            "cloudron.io", "v1alpha1", "appcatalogs", name, {"spec": {"interval": "2h"}}
        )
        again = read_catalog(api_client, cache, name)
        assert again is not loaded and again.generation == loaded.generation + 1
        assert again.catalog.digest == loaded.catalog.digest
        assert [r.conditional for r in catalog_server.requests("buzz.json")] == [False, False]

        with pytest.raises(CatalogUnavailable) as unreachable:
            read_catalog(api_client, cache, broken)
        assert unreachable.value.reason == Reason.CATALOG_UNREACHABLE
        assert _ready(_get(api_client, broken))["reason"] == Reason.CATALOG_UNREACHABLE
    finally:
        for made in (name, broken):
            k8s.delete(api_client, *CATALOG, None, made)
