"""What kopf is told an app's handled spec is: the generation the app's status says was reconciled."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import kopf
import yaml
from kubernetes import client

from cloudron_operator.config import OperatorConfig
from cloudron_operator.handlers import build_registry
from cloudron_operator.kopf_adapters.storage import (
    AppStatusDiffBaseStorage,
    status_keeps_reconciled_generation,
)
from cloudron_operator.metrics import Metrics
from cloudron_operator.models import API_VERSION
from cloudron_operator.reconcile.status import desired_status
from cloudron_operator.store import Store
from tests.paths import REPO

SPEC = {"domain": "wiki.example.com", "image": "wiki:1", "manifest": {"version": "1.0.0", "httpPort": 8000}}
ANNOTATION = "cloudron.io/last-handled-configuration"


def app(
    generation: int,
    reconciled: int | None = None,
    *,
    version: str = "10",
    uid: str = "u1",
    spec: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    status = {} if reconciled is None else {"reconciledGeneration": reconciled}
    metadata: dict[str, Any] = {
        "namespace": "apps",
        "name": "wiki",
        "uid": uid,
        "generation": generation,
        "resourceVersion": version,
    }
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "cloudron.io/v1alpha1",
        "kind": "CloudronApp",
        "metadata": metadata,
        "spec": spec or SPEC,
        "status": status,
    }


def storage(*known: dict[str, Any]) -> AppStatusDiffBaseStorage:
    store = Store(client.ApiClient(), ())
    store.apps.replace(known)
    return AppStatusDiffBaseStorage(store, others=kopf.AnnotationsDiffBaseStorage(prefix="cloudron.io"))


def _body(raw: dict[str, Any]) -> kopf.Body:
    return kopf.Body(raw)  # type: ignore[arg-type]


def old_and_new(store: kopf.DiffBaseStorage, body: dict[str, Any]) -> tuple[Any, Any]:
    wrapped = _body(body)
    return store.fetch(body=wrapped), store.build(body=wrapped, extra_fields=[("spec",)])


def test_an_app_never_handled_is_a_creation() -> None:
    old, _ = old_and_new(storage(), app(1))
    assert old is None


def test_once_a_pass_wrote_its_status_kopf_sees_no_change_and_writes_nothing() -> None:
    handled = app(1, reconciled=1, version="12")
    store = storage(handled)
    old, new = old_and_new(store, handled)
    assert old == new
    patch = kopf.Patch()
    store.store(body=_body(app(1, version="11")), patch=patch, essence=new)
    assert not patch, "the known newer version of the app already says so"


def test_a_new_generation_is_a_change_of_spec() -> None:
    changed = app(4, reconciled=3, spec={**SPEC, "image": "wiki:2"})
    old, new = old_and_new(storage(changed), changed)
    assert old != new
    assert (old["spec"], new["spec"]) == ({"generation": 3}, {"generation": 4})


def test_a_late_event_of_an_app_handled_since_is_not_a_change() -> None:
    """The watch lags: kopf gets a version from before the pass of a newer spec wrote its status."""
    newest = app(4, reconciled=4, version="30")
    late = app(3, reconciled=2, version="20")
    old, new = old_and_new(storage(newest), late)
    assert old == new


def test_an_app_made_again_with_the_same_name_is_not_the_one_known() -> None:
    old, _ = old_and_new(storage(app(5, reconciled=5, uid="u1")), app(1, uid="u2"))
    assert old is None


def test_an_app_an_older_operator_handled_counts_as_handled_if_its_spec_is_the_annotations() -> None:
    stored = json.dumps({"spec": SPEC})
    unchanged = app(2, annotations={ANNOTATION: stored})
    old, new = old_and_new(storage(), unchanged)
    assert old == new
    edited = app(3, spec={**SPEC, "image": "wiki:2"}, annotations={ANNOTATION: stored})
    old, new = old_and_new(storage(), edited)
    assert old is not None and old != new


def test_a_handler_that_finished_without_a_pass_status_write_gets_the_generation_written_by_kopf() -> None:
    body = app(7, reconciled=6)
    store = storage(body)
    _, new = old_and_new(store, body)
    patch = kopf.Patch()
    store.store(body=_body(body), patch=patch, essence=new)
    assert patch == {"status": {"reconciledGeneration": 7}}


def _addon(spec: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "pg", "uid": "a1", "generation": 1}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "cloudron.io/v1alpha1", "kind": "Addon", "metadata": metadata, "spec": spec}


def test_other_kinds_keep_kopfs_annotation_with_a_digest_of_the_spec() -> None:
    # Found by the fuzzing (issue #25): a copy of large options passed the annotations' 256 KiB limit.
    spec = {"type": "postgresql", "options": {"note": "x" * 300_000}}
    store = storage()
    old, new = old_and_new(store, _addon(spec))
    assert old is None and new["spec"] == {"sha256": digest_of(spec)}
    patch = kopf.Patch()
    store.store(body=_body(_addon(spec)), patch=patch, essence=new)
    stored = patch["metadata"]["annotations"][ANNOTATION]
    assert len(stored) < 200 and json.loads(stored) == {"spec": {"sha256": digest_of(spec)}}
    handled = _addon(spec, {ANNOTATION: stored})
    assert old_and_new(store, handled)[0] == old_and_new(store, handled)[1], "unchanged: no update"
    changed = _addon({**spec, "default": True}, {ANNOTATION: stored})
    assert old_and_new(store, changed)[0] != old_and_new(store, changed)[1]


def test_a_copy_an_older_operator_stored_is_not_taken_for_a_change() -> None:
    spec = {"type": "postgresql"}
    older = _addon(spec, {ANNOTATION: json.dumps({"spec": spec})})
    old, new = old_and_new(storage(), older)
    assert old == new == {"spec": {"sha256": digest_of(spec)}}


def digest_of(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _status(current: dict[str, Any], *, reconciled: bool) -> dict[str, Any]:
    body = app(5)
    body["status"] = current
    return desired_status(body, None, None, None, datetime(2026, 11, 29, tzinfo=UTC), reconciled=reconciled)


def test_only_a_pass_marks_its_generation_reconciled_and_a_refresh_keeps_the_mark() -> None:
    assert _status({}, reconciled=True)["reconciledGeneration"] == 5
    assert _status({"reconciledGeneration": 4}, reconciled=False)["reconciledGeneration"] == 4
    assert "reconciledGeneration" not in _status({}, reconciled=False)


def test_the_status_diff_base_is_used_only_under_a_crd_that_keeps_the_field() -> None:
    crd = yaml.safe_load((REPO / "crds" / "cloudronapps.cloudron.io.yaml").read_text())
    assert status_keeps_reconciled_generation(crd)
    assert status_keeps_reconciled_generation(None), "no CRD yet: the one to come is this operator's"
    status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    del status["properties"]["reconciledGeneration"]
    assert not status_keeps_reconciled_generation(crd), "an older CRD prunes it"
    status["x-kubernetes-preserve-unknown-fields"] = True
    assert status_keeps_reconciled_generation(crd)
    crd["spec"]["versions"][0]["name"] = "v1beta9"
    assert not status_keeps_reconciled_generation(crd), "a CRD that does not serve the operator's version"


def test_kopf_watches_only_the_operators_own_kinds() -> None:
    """The children are watched by the store: kopf would build an essence of every child event."""
    registry = build_registry(OperatorConfig(), Metrics())
    watched = {
        f"{selector.group}/{selector.version}"
        for handlers in (registry._changing, registry._spawning, registry._watching, registry._indexing)
        for selector in handlers.get_all_selectors()
    }
    assert watched == {API_VERSION}
