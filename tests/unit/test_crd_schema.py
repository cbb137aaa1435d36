"""The CRDs in crds/ are structural, fully described, and say what DESIGN.md §2 promises."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudron_operator.crd.structural import schema_problems

pytestmark = pytest.mark.unit

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"
CRDS = {path.name: yaml.safe_load(path.read_text()) for path in sorted(CRD_DIR.glob("*.yaml"))}
APP = CRDS["cloudronapps.cloudron.io.yaml"]
ADDON = CRDS["addons.cloudron.io.yaml"]


def version(crd: dict[str, Any]) -> dict[str, Any]:
    (only,) = crd["spec"]["versions"]
    return dict(only)


def schema(crd: dict[str, Any]) -> dict[str, Any]:
    return dict(version(crd)["schema"]["openAPIV3Schema"])


def node(crd: dict[str, Any], path: str) -> dict[str, Any]:
    """The schema at a dotted path; `*` steps into a map's values, `[]` into a list's items."""
    current = schema(crd)
    for part in path.split("."):
        if part == "*":
            current = current["additionalProperties"]
        elif part == "[]":
            current = current["items"]
        else:
            current = current["properties"][part]
    return current


def properties(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every named property below `schema`, including those of list items and map values."""
    for name, sub in schema.get("properties", {}).items():
        yield f"{path}.{name}", sub
        yield from properties(sub, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from properties(schema[key], f"{path}[*]")


def test_every_crd_is_generated() -> None:
    assert sorted(CRDS) == [
        "addons.cloudron.io.yaml",
        "appcatalogs.cloudron.io.yaml",
        "backupstores.cloudron.io.yaml",
        "cloudronapps.cloudron.io.yaml",
        "cloudronbackups.cloudron.io.yaml",
        "cloudronusers.cloudron.io.yaml",
    ]


@pytest.mark.parametrize("name", sorted(CRDS))
def test_schema_is_structural(name: str) -> None:
    assert schema_problems(schema(CRDS[name])) == []


@pytest.mark.parametrize("name", sorted(CRDS))
def test_every_property_has_a_description(name: str) -> None:
    found = dict(properties(schema(CRDS[name])))
    undescribed = [path for path, sub in found.items() if not sub.get("description") and path != ".metadata"]
    assert len(found) > 10
    assert undescribed == []


GOOD = {
    "type": "object",
    "description": "Root.",
    "properties": {"a": {"type": "string", "description": "A."}},
}


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ({"a": {"description": "A."}}, ".a: has no type"),
        ({"a": {"type": "string"}}, ".a: has no description"),
        ({"a": {"$ref": "#/$defs/X", "description": "A."}}, ".a: `$ref` is not allowed"),
        ({"a": {"type": "string", "description": "A.", "const": "x"}}, ".a: `const` is not allowed"),
        (
            {"a": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "A."}},
            ".a: anyOf is only allowed in the int-or-string form",
        ),
        (
            {"a": {"type": "object", "description": "A.", "patternProperties": {"^x$": {"type": "string"}}}},
            ".a: `patternProperties` is not allowed",
        ),
        ({"a": {"type": "array", "description": "A."}}, ".a: an array needs `items`"),
        (
            {"a": {"type": "object", "description": "A.", "additionalProperties": False}},
            ".a.*: a schema must be an object",
        ),
        (
            {
                "a": {
                    "type": "object",
                    "description": "A.",
                    "properties": {"b": {"type": "string", "description": "B."}},
                    "additionalProperties": {"type": "string"},
                }
            },
            ".a: `properties` and `additionalProperties` exclude each other",
        ),
        (
            {
                "a": {
                    "x-kubernetes-int-or-string": True,
                    "type": "string",
                    "anyOf": [{"type": "integer"}, {"type": "string"}],
                    "description": "A.",
                }
            },
            ".a: an int-or-string node must not set `type`",
        ),
        (
            {
                "a": {
                    "type": "object",
                    "description": "A.",
                    "additionalProperties": {"type": "string"},
                    "x-kubernetes-validations": [{"rule": "self.all(k, k != 'x')"}],
                }
            },
            ".a: a map with CEL rules needs maxProperties",
        ),
        (
            {
                "a": {
                    "type": "array",
                    "description": "A.",
                    "items": {"type": "string"},
                    "x-kubernetes-validations": [{"rule": "self.all(x, x != 'y')"}],
                }
            },
            ".a: a list with CEL rules needs maxItems",
        ),
        ({"metadata": {"type": "object", "description": "M."}}, ".metadata: must not specify anything"),
    ],
)
def test_checker_finds_each_kind_of_problem(bad: dict[str, Any], problem: str) -> None:
    assert schema_problems(GOOD) == []
    problems = schema_problems({**GOOD, "properties": bad})
    assert any(p.startswith(problem) for p in problems), problems


def test_app_names_scope_and_subresources() -> None:
    names = APP["spec"]["names"]
    assert (names["kind"], names["plural"], APP["spec"]["scope"]) == (
        "CloudronApp",
        "cloudronapps",
        "Namespaced",
    )
    assert set(names["shortNames"]) >= {"capp"}
    assert "cloudron" in names["categories"]
    assert APP["spec"]["group"] == "cloudron.io"
    assert version(APP)["name"] == "v1alpha1"
    assert version(APP)["subresources"] == {"status": {}}


def test_addon_names_scope_and_subresources() -> None:
    names = ADDON["spec"]["names"]
    assert (names["kind"], ADDON["spec"]["scope"]) == ("Addon", "Cluster")
    assert names["shortNames"] and "cloudron" in names["categories"]
    assert version(ADDON)["subresources"] == {"status": {}}


def columns(crd: dict[str, Any]) -> dict[str, str]:
    return {
        c["name"]: c["jsonPath"] for c in version(crd)["additionalPrinterColumns"] if not c.get("priority")
    }


def test_printer_columns() -> None:
    ready = '.status.conditions[?(@.type=="Ready")].status'
    assert columns(APP) == {
        "Domain": ".spec.domain",
        "Version": ".status.version",
        "Update": ".status.availableUpdate",
        "Ready": ready,
        "Phase": ".status.phase",
        "Age": ".metadata.creationTimestamp",
    }
    assert columns(ADDON) == {
        "Type": ".spec.type",
        "Default": ".spec.default",
        "Ready": ready,
        "Age": ".metadata.creationTimestamp",
    }


def test_required_fields() -> None:
    assert schema(APP)["required"] == ["spec"]
    assert set(node(APP, "spec")["required"]) == {"domain"}  # image and manifest: a rule, with restoreFrom
    assert node(ADDON, "spec")["required"] == ["type"]
    assert set(node(APP, "status.conditions.[]")["required"]) >= {"type", "status", "lastTransitionTime"}


@pytest.mark.parametrize(
    ("crd", "path"), [(APP, "spec.manifest"), (ADDON, "spec.options")], ids=["manifest", "options"]
)
def test_free_form_objects_keep_unknown_fields(crd: dict[str, Any], path: str) -> None:
    assert node(crd, path) | {"description": ""} == {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "description": "",
    }


def test_null_is_kept_only_where_it_means_something() -> None:
    nullable = {path for path, sub in properties(schema(APP)) if sub.get("nullable")}
    assert nullable == {".spec.storage.storageClassName"}
    assert node(APP, "spec.ports.*")["nullable"] is True
    assert node(APP, "spec.ports.*")["maximum"] == 65535


@pytest.mark.parametrize("path", ["spec.memoryLimit", "spec.storage.size"])
def test_quantities_are_int_or_string(path: str) -> None:
    quantity = node(APP, path)
    assert quantity["x-kubernetes-int-or-string"] is True
    assert "type" not in quantity
    assert quantity["pattern"].startswith("^[1-9]")


def test_enums() -> None:
    assert node(APP, "status.phase")["enum"] == [
        "Pending",
        "Installing",
        "Running",
        "Stopped",
        "Restoring",
        "Error",
    ]
    assert node(APP, "status.conditions.[].status")["enum"] == ["True", "False", "Unknown"]
    assert {"postgresql", "mysql", "redis", "mongodb", "sendmail", "ldap", "oidc"} <= set(
        node(ADDON, "spec.type")["enum"]
    )


def rules(crd: dict[str, Any], path: str) -> list[str]:
    return [rule["rule"] for rule in node(crd, path).get("x-kubernetes-validations", [])]


def test_cel_rules_guard_what_the_schema_cannot() -> None:
    assert "self.all(k, !k.startsWith('CLOUDRON_'))" in rules(APP, "spec.env")
    assert any("self.domain in self.aliases" in r for r in rules(APP, "spec"))
    assert any("self.domain in self.redirects" in r for r in rules(APP, "spec"))
    assert any("k.matches" in r for r in rules(APP, "spec.ports"))
    assert any("'postgresql'" in r for r in rules(APP, "spec.addons"))
    assert any("has(self.connection)" in r for r in rules(ADDON, "spec"))
