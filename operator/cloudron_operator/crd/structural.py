"""Checks a CRD schema against Kubernetes' structural-schema rules and this project's own rules.

Kubernetes: every node has a type unless it is int-or-string or keeps unknown fields; no `$ref`,
`definitions`, `patternProperties` and the like; a logical junctor only in the int-or-string form;
`additionalProperties` is a schema and never next to `properties`; `metadata` says nothing but
its type. This project: every property has
a description (it is what `kubectl explain` shows), and every list or map a CEL rule iterates is
bounded, so the rule's worst-case cost fits the API server's budget.
"""

from __future__ import annotations

from typing import Any

_ALLOWED_KEYWORDS = frozenset(
    {
        "description",
        "type",
        "format",
        "title",
        "default",
        "enum",
        "nullable",
        "example",
        "externalDocs",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "multipleOf",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "maxProperties",
        "minProperties",
        "required",
        "items",
        "properties",
        "additionalProperties",
        "anyOf",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-int-or-string",
        "x-kubernetes-embedded-resource",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
        "x-kubernetes-validations",
    }
)
_METADATA_FIELDS = frozenset({"name", "generateName"})
_TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean"})
_INT_OR_STRING_BRANCHES = [{"type": "integer"}, {"type": "string"}]


def schema_problems(schema: dict[str, Any]) -> list[str]:
    """Every rule the object schema `schema` breaks, one line each naming the path; empty if none."""
    problems: list[str] = []
    properties = schema.get("properties", {})
    metadata = properties.get("metadata")
    # The API server owns metadata's schema: a CRD may only restrict name and generateName.
    if metadata is not None:
        restricted = metadata.get("properties", {}).keys()
        if metadata.keys() - {"type", "properties"} or restricted - _METADATA_FIELDS:
            problems.append(".metadata: must not specify anything but type and name/generateName")
        schema = {**schema, "properties": {k: v for k, v in properties.items() if k != "metadata"}}
    _check(schema, "", problems, is_field=True)
    return problems


def _check(node: Any, path: str, problems: list[str], *, is_field: bool) -> None:
    where = path or "<root>"
    if not isinstance(node, dict):
        problems.append(f"{where}: a schema must be an object, not {node!r}")
        return
    problems.extend(f"{where}: `{key}` is not allowed" for key in sorted(node.keys() - _ALLOWED_KEYWORDS))
    _check_type(node, where, problems)
    if is_field and not node.get("description"):
        problems.append(f"{where}: has no description")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{where}: `properties` and `additionalProperties` exclude each other")
    if node.get("type") == "array" and "items" not in node:
        problems.append(f"{where}: an array needs `items`")
    if node.get("x-kubernetes-list-type") in ("set", "map") and node.get("type") != "array":
        problems.append(f"{where}: x-kubernetes-list-type applies to arrays only")
    _check_cel_bounds(node, where, problems)
    for name in node.get("required", []):
        if name not in node.get("properties", {}):
            problems.append(f"{where}: required `{name}` is not a property")
    for name, sub in node.get("properties", {}).items():
        _check(sub, f"{path}.{name}", problems, is_field=True)
    if "items" in node:
        _check(node["items"], f"{path}[*]", problems, is_field=False)
    if "additionalProperties" in node:
        _check(node["additionalProperties"], f"{path}.*", problems, is_field=False)


def _check_type(node: dict[str, Any], where: str, problems: list[str]) -> None:
    int_or_string = node.get("x-kubernetes-int-or-string") is True
    if int_or_string:
        if "type" in node:
            problems.append(f"{where}: an int-or-string node must not set `type`")
        if node.get("anyOf", _INT_OR_STRING_BRANCHES) != _INT_OR_STRING_BRANCHES:
            problems.append(f"{where}: an int-or-string anyOf must be exactly integer, string")
        return
    if "anyOf" in node:
        problems.append(f"{where}: anyOf is only allowed in the int-or-string form")
    if "type" in node:
        if node["type"] not in _TYPES:
            problems.append(f"{where}: unknown type {node['type']!r}")
    elif node.get("x-kubernetes-preserve-unknown-fields") is not True:
        problems.append(f"{where}: has no type")


def _check_cel_bounds(node: dict[str, Any], where: str, problems: list[str]) -> None:
    if "x-kubernetes-validations" not in node:
        return
    if node.get("type") == "array" and "maxItems" not in node:
        problems.append(f"{where}: a list with CEL rules needs maxItems")
    if "additionalProperties" in node and "maxProperties" not in node:
        problems.append(f"{where}: a map with CEL rules needs maxProperties")
