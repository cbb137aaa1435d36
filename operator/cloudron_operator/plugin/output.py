"""Printing as kubectl prints: padded tables with upper-case headers, YAML and JSON documents, and
"No resources found" on stderr."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final, TextIO

import yaml

# kubectl's table writer (k8s.io/cli-runtime printers): cells padded by 3 spaces, at least 6 wide.
COLUMN_PADDING: Final = 3
MIN_COLUMN_WIDTH: Final = 6
NONE: Final = "<none>"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The rows under their headers, each column as wide as its widest cell plus the padding; the
    last column is not padded, so no line ends in spaces."""
    lines = [list(headers), *(list(row) for row in rows)]
    widths = [
        max(MIN_COLUMN_WIDTH, max(len(line[column]) for line in lines) + COLUMN_PADDING)
        for column in range(len(headers))
    ]
    text = []
    for line in lines:
        cells = [cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=False)]
        text.append(("".join(cells) + line[-1]).rstrip())
    return "\n".join(text) + "\n"


def document(value: Any, output_format: str) -> str:
    """`value` as `-o yaml` or `-o json` prints it (keys in the order given, as kubectl keeps them)."""
    if output_format == "json":
        return json.dumps(value, indent=4, ensure_ascii=False) + "\n"
    text: str = yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return text


def object_list(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Objects as `kubectl get -o yaml` wraps several: a v1 List."""
    return {"apiVersion": "v1", "items": list(items), "kind": "List", "metadata": {"resourceVersion": ""}}


def no_resources(namespace: str | None) -> str:
    """kubectl's message for an empty list: of a namespace, or of all (and of cluster-scoped kinds)."""
    return f"No resources found in {namespace} namespace." if namespace else "No resources found"


def print_listing(
    out: TextIO,
    err: TextIO,
    *,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    value: Any,
    output_format: str | None,
    namespace: str | None,
) -> None:
    """A listing in the format asked for: a table (empty: the message on stderr), or `value` printed."""
    if output_format in ("yaml", "json"):
        out.write(document(value, output_format))
    elif not rows:
        err.write(no_resources(namespace) + "\n")
    else:
        out.write(table(headers, rows))


def cell(value: Any) -> str:
    """A table cell: absent and empty values are `<none>`, as in kubectl's custom columns."""
    if value is None or value in ("", []):
        return NONE
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
