"""The example resources and the invalid shapes in tests/data/resources, shared by the model tests
(tests/unit) and the API server tests (tests/integration), so both layers refuse the same things."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).resolve().parent / "data" / "resources"

# Kind -> the DESIGN.md §2 example object of that kind.
EXAMPLES: dict[str, dict[str, Any]] = {
    doc["kind"]: doc for doc in yaml.safe_load_all((DATA / "design-example.yaml").read_text())
}
# Each case: id, kind, set {dotted path: value}, unset [dotted path], field (the path errors must name).
INVALID: list[dict[str, Any]] = yaml.safe_load((DATA / "invalid.yaml").read_text())


def example(kind: str) -> dict[str, Any]:
    """A fresh copy of the example object of `kind`."""
    return copy.deepcopy(EXAMPLES[kind])


def edited(case: dict[str, Any]) -> dict[str, Any]:
    """The example object of the case's kind with its `set` and `unset` edits applied."""
    obj = example(case["kind"])
    for path, value in case.get("set", {}).items():
        parent, key = _parent(obj, path)
        parent[key] = value
    for path in case.get("unset", []):
        parent, key = _parent(obj, path)
        del parent[key]
    return obj


def _parent(obj: Any, path: str) -> tuple[Any, Any]:
    *parents, last = path.split(".")
    for part in parents:
        obj = obj[int(part)] if isinstance(obj, list) else obj.setdefault(part, {})
    return obj, int(last) if isinstance(obj, list) else last
