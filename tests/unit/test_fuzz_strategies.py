"""The fuzz strategies (tests/fuzz) and, with what they generate, the operator's pure parts: the manifest
validator, the spec's parse and checks and the builders take any input without raising anything but
their own refusals, and the built children are objects the API layer can send."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cloudron_operator import builders
from cloudron_operator.builders import InvalidSpec
from cloudron_operator.k8s import api as k8s
from cloudron_operator.k8s.api import API_SERVER_MAX_DEPTH, allow_api_server_nesting
from cloudron_operator.manifest.validation import validate_manifest
from cloudron_operator.models import AddonSpec, CloudronAppSpec, CloudronUserSpec
from cloudron_operator.models.types import DNS_SUBDOMAIN_PATTERN, HOST_PATTERN
from cloudron_operator.reconcile.errors import InvalidApp
from cloudron_operator.reconcile.parse import parse_with_warnings
from tests.builder_cases import CONFIG, identity
from tests.fuzz.strategies import (
    LOOPBACK_HOSTS,
    FuzzContext,
    FuzzObject,
    depth,
    fuzz_objects,
    generate,
    hostile_values,
    uniquified,
)
from tests.paths import REPO

pytestmark = pytest.mark.unit

CONTEXT = FuzzContext(
    namespace="fuzz",
    addon_refs={"postgresql": "fuzz-pg", "mysql": "fuzz-mysql", "redis": "fuzz-redis", "ldap": "fuzz-ldap"},
    ports={"postgresql": 5432, "mysql": 3306},
    closed_port=40000,
    secret_refs=({"name": "fuzz-pg", "namespace": "fuzz"},),
)
FUZZ = settings(
    max_examples=80, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck)
)


def as_sent(body: Any) -> Any:
    """The value as JSON carries it to the API server and back."""
    return json.loads(json.dumps(body))


def shallow(value: Any) -> bool:
    """Whether the API server would store the value (it decodes JSON nested up to 10000 deep); the
    operator then takes it as deep as that (`allow_api_server_nesting`, as `run` does)."""
    allow_api_server_nesting()
    return depth(value) < API_SERVER_MAX_DEPTH


def test_generation_is_deterministic_per_seed() -> None:
    first = [o.body for o in generate(fuzz_objects(CONTEXT), 30, seed=7)]
    assert first == [o.body for o in generate(fuzz_objects(CONTEXT), 30, seed=7)]
    assert len(first) == 30


def _digest_in_a_process(hash_seed: str) -> str:
    """The objects of seed 7 as a digest, generated in a new interpreter with this PYTHONHASHSEED."""
    program = (
        "import hashlib, json; from tests.unit.test_fuzz_strategies import CONTEXT; "
        "from tests.fuzz.strategies import fuzz_objects, generate; "
        "bodies = [o.body for o in generate(fuzz_objects(CONTEXT), 40, seed=7)]; "
        "print(hashlib.sha256(json.dumps(bodies, sort_keys=True, default=str).encode()).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, cwd=REPO, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_generation_is_the_same_in_every_process() -> None:
    """A seed names a run for everyone: string hashing, random per process, decides nothing."""
    assert _digest_in_a_process("1") == _digest_in_a_process("2")


def test_every_kind_and_level_is_generated() -> None:
    objects = generate(fuzz_objects(CONTEXT), 200, seed=1)
    assert {(o.kind, o.level) for o in objects} == {
        (kind, level)
        for kind in ("CloudronApp", "Addon", "CloudronUser")
        for level in ("valid", "near-valid", "hostile")
    }


@FUZZ
@given(fuzz_objects(CONTEXT))
def test_an_addon_the_api_server_accepts_points_at_loopback(obj: FuzzObject) -> None:
    if obj.kind != "Addon":
        return
    spec = obj.body.get("spec")
    connection = spec.get("connection") if isinstance(spec, dict) else None
    if not isinstance(connection, dict):
        return
    host, port = connection.get("host"), connection.get("port")
    if isinstance(host, str) and re.fullmatch(HOST_PATTERN, host):
        assert host in LOOPBACK_HOSTS
    if isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535:
        assert port in {40000, 5432, 3306}


def test_uniquified_names_differ_and_stay_valid() -> None:
    objects = [uniquified(o, i) for i, o in enumerate(generate(fuzz_objects(CONTEXT), 120, seed=2))]
    valid = [o for o in objects if o.kind == "CloudronApp" and o.level == "valid"]
    assert valid
    assert len({o.name for o in valid}) == len(valid)
    assert len({o.body["spec"]["domain"] for o in valid}) == len(valid)
    named = [o.name for o in objects if re.fullmatch(DNS_SUBDOMAIN_PATTERN, o.name)]
    assert len(set(named)) == len(named), "two objects the API server would take have one name"


def manifest_of(obj: FuzzObject) -> Any:
    spec = obj.body.get("spec")
    return spec.get("manifest") if isinstance(spec, dict) else None


@FUZZ
@given(st.one_of(fuzz_objects(CONTEXT).map(manifest_of), hostile_values()))
def test_the_manifest_validator_never_raises(manifest: Any) -> None:
    if isinstance(manifest, dict) and shallow(manifest):
        result = validate_manifest(as_sent(manifest))
        assert (result.manifest is None) == bool(result.errors)


@FUZZ
@given(fuzz_objects(CONTEXT))
def test_parse_check_and_build_raise_only_their_refusals(obj: FuzzObject) -> None:
    if obj.kind != "CloudronApp" or not isinstance(obj.body.get("spec"), dict) or not shallow(obj.body):
        return
    body = as_sent({"metadata": {"name": "app", "namespace": "fuzz", "uid": "u"}, "spec": obj.body["spec"]})
    try:
        CloudronAppSpec.model_validate(body["spec"])
    except ValidationError:
        return  # the API server refuses it: the same model made the CRD
    try:
        spec, manifest, _ = parse_with_warnings(body)
        builders.check_spec(spec, manifest)
    except (InvalidApp, InvalidSpec):
        return
    children = builders.desired_children(identity(), spec, manifest, CONFIG, {})
    for child in children:
        k8s.apply_body(child)


@FUZZ
@given(fuzz_objects(CONTEXT))
def test_addon_and_user_specs_raise_only_validation_errors(obj: FuzzObject) -> None:
    models: dict[str, type[AddonSpec | CloudronUserSpec]] = {
        "Addon": AddonSpec,
        "CloudronUser": CloudronUserSpec,
    }
    model = models.get(obj.kind)
    spec = obj.body.get("spec")
    if model is None or not isinstance(spec, dict) or not shallow(spec):
        return
    try:
        model.model_validate(as_sent(spec))
    except ValidationError:
        return
