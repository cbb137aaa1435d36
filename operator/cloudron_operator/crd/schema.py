"""Turns a model's pydantic JSON schema into a Kubernetes structural schema.

Pydantic speaks JSON Schema; a CRD takes the OpenAPI v3 subset Kubernetes calls structural:
no `$ref`, no `anyOf` except for int-or-string, no null type, no pattern-keyed maps. Each
rewrite below keeps the meaning the model gives the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.config import JsonDict

from cloudron_operator.models.base import cel

Schema = dict[str, Any]

_NULL = {"type": "null"}
_VALIDATIONS = "x-kubernetes-validations"
_DROPPED = frozenset({"title", "$ref", "$defs"})


def structural_schema(model: type[BaseModel]) -> Schema:
    """The structural schema of `model`, camelCase as the YAML is written."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _convert(raw, raw.get("$defs", {}))


def _convert(node: Schema, defs: Mapping[str, Schema]) -> Schema:
    node = _map_keys_to_cel(_flatten(node, defs), defs)
    out: Schema = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "default":
            # Null and empty-container defaults stay in the model: the API server would otherwise
            # write `aliases: []` and friends into every stored object.
            if isinstance(value, bool | int | float | str):
                out[key] = value
        elif key == "properties":
            out[key] = {name: _convert(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out[key] = _convert(value, defs)
        elif key == "additionalProperties":
            if value is True:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif isinstance(value, dict):
                out[key] = _convert(value, defs)
            # `false` (extra="forbid") has no place in a CRD: pruning drops unknown fields.
        else:
            out[key] = value
    return out


def _flatten(node: Schema, defs: Mapping[str, Schema]) -> Schema:
    """Inline `$ref` and turn `X | None` into X, until neither is left at the top of `node`."""
    while True:
        if "$ref" in node:
            target = defs[node["$ref"].rsplit("/", 1)[-1]]
            rules = target.get(_VALIDATIONS, []) + node.get(_VALIDATIONS, [])
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
            if rules:
                node[_VALIDATIONS] = rules
        elif _NULL in node.get("anyOf", []):
            # The API server prunes a null, so `X | None` means "may be left out" unless the model
            # marked the field NULL_IS_A_VALUE, which already put `nullable: true` beside the anyOf.
            branches = [branch for branch in node["anyOf"] if branch != _NULL]
            rest = {k: v for k, v in node.items() if k != "anyOf"}
            node = {**branches[0], **rest} if len(branches) == 1 else {**rest, "anyOf": branches}
        else:
            return node


def _map_keys_to_cel(node: Schema, defs: Mapping[str, Schema]) -> Schema:
    """CRDs cannot constrain map keys (no propertyNames, no patternProperties), so a CEL rule does."""
    if "patternProperties" not in node and "propertyNames" not in node:
        return node
    node = dict(node)
    rules: list[JsonDict] = list(node.get(_VALIDATIONS, []))
    if "patternProperties" in node:
        ((pattern, values),) = node.pop("patternProperties").items()
        node["additionalProperties"] = values
        rules.append(_key_rule({"pattern": pattern}))
    if "propertyNames" in node:
        rules.append(_key_rule(_flatten(node.pop("propertyNames"), defs)))
    node[_VALIDATIONS] = rules
    return node


def _key_rule(keys: Schema) -> JsonDict:
    if "enum" in keys:
        allowed = ", ".join(f"'{value}'" for value in keys["enum"])
        return cel(f"self.all(k, k in [{allowed}])", "keys must be one of " + ", ".join(keys["enum"]))
    pattern = keys.get("pattern")
    if pattern is None or "'" in pattern:
        raise ValueError(f"cannot express map keys {keys} in CEL")
    return cel(f"self.all(k, k.matches(r'{pattern}'))", f"keys must match {pattern}")
