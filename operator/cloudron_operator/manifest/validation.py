"""Validate a CloudronManifest by the policy in docs/manifest.md.

What would change how the app runs is an error; what only describes the app (App Store
metadata, unknown fields, JSON that is merely sloppy) is a warning.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from cloudron_operator.manifest.lenient_json import JsonSyntaxError, Leniency, read_json
from cloudron_operator.manifest.metadata import StoreMetadata
from cloudron_operator.manifest.model import DEFAULT_MEMORY_LIMIT, Manifest

# Rules of pydantic's own checks, worded like ours; pydantic's message for anything else.
_RULES: Final = {
    "missing": "is required",
    "extra_forbidden": "is not a known field here",
    "int_type": "must be an integer",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "list_type": "must be a list",
    "literal_error": "must be one of {expected}",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "string_too_short": "must be at least {min_length} characters long",
}
_KNOWN_FIELDS: Final = frozenset(field.alias or name for name, field in Manifest.model_fields.items())
_NOT_JSON: Final = {"comment": "comments", "trailing_comma": "trailing commas"}


@dataclass(frozen=True)
class ManifestIssue:
    path: str  # where in the manifest, e.g. "tcpPorts.SSH_PORT"; "" for the whole file
    message: str  # the rule that is broken, or what the warning is about
    code: str  # a stable name for the rule or policy item

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass(frozen=True)
class ManifestResult:
    manifest: Manifest | None  # None when there are errors
    errors: tuple[ManifestIssue, ...] = ()
    warnings: tuple[ManifestIssue, ...] = ()

    @property
    def valid(self) -> bool:
        return self.manifest is not None


def parse_manifest(text: str) -> ManifestResult:
    """Read and validate the text of a CloudronManifest.json file."""
    try:
        document = read_json(text)
    except JsonSyntaxError as error:
        return ManifestResult(None, errors=(ManifestIssue("", f"not valid JSON: {error}", "json_syntax"),))
    warnings = _leniency_warnings(document.leniencies)
    if not isinstance(document.value, dict):
        not_object = ManifestIssue("", "must be a JSON object", "not_an_object")
        return ManifestResult(None, errors=(not_object,), warnings=warnings)
    result = validate_manifest(document.value)
    return replace(result, warnings=warnings + result.warnings)


def validate_manifest(data: Mapping[str, Any]) -> ManifestResult:
    """Validate a manifest that is already a dict, such as the one in a CloudronApp spec."""
    metadata_warnings, usable = _set_aside_bad_metadata(dict(data))
    warnings = metadata_warnings + tuple(
        ManifestIssue(name, "is not a manifest field; kept, but unused", "unknown_field")
        for name in data
        if name not in _KNOWN_FIELDS
    )
    try:
        manifest = Manifest.model_validate(usable)
    except ValidationError as error:
        return ManifestResult(None, errors=tuple(map(_issue, error.errors())), warnings=warnings)
    return ManifestResult(manifest, warnings=warnings + _memory_warnings(manifest))


def _set_aside_bad_metadata(data: dict[str, Any]) -> tuple[tuple[ManifestIssue, ...], dict[str, Any]]:
    """Warn about metadata fields that break their rule, and drop them."""
    try:
        StoreMetadata.model_validate(data)
    except ValidationError as error:
        details = error.errors()
        warnings = tuple(
            ManifestIssue(issue.path, f"{issue.message} (store metadata: ignored)", "store_metadata")
            for issue in map(_issue, details)
        )
        bad_fields = {detail["loc"][0] for detail in details}
        return warnings, {name: value for name, value in data.items() if name not in bad_fields}
    return (), data


def _memory_warnings(manifest: Manifest) -> tuple[ManifestIssue, ...]:
    if manifest.memory_limit is None or manifest.memory_limit >= DEFAULT_MEMORY_LIMIT:
        return ()
    message = f"{manifest.memory_limit} bytes is below Cloudron's 256 MiB minimum, which applies instead"
    return (ManifestIssue("memoryLimit", message, "memory_limit_below_minimum"),)


def _leniency_warnings(leniencies: Sequence[Leniency]) -> tuple[ManifestIssue, ...]:
    by_kind: defaultdict[str, list[Leniency]] = defaultdict(list)
    for leniency in leniencies:
        by_kind[leniency.kind].append(leniency)
    warnings = [
        ManifestIssue(
            "",
            f"{found[0].position}: {_NOT_JSON[kind]} are not JSON ({len(found)} in this file); "
            "Cloudron's own tools cannot read this file",
            f"json_{kind}",
        )
        for kind, found in by_kind.items()
        if kind in _NOT_JSON
    ]
    warnings += [
        ManifestIssue(
            _dotted(duplicate.path),
            f"{duplicate.position}: duplicate key, the last value is used",
            "duplicate_key",
        )
        for duplicate in by_kind["duplicate_key"]
    ]
    return tuple(warnings)


def _issue(detail: ErrorDetails) -> ManifestIssue:
    rule = _RULES.get(detail["type"])
    message = rule.format(**detail.get("ctx", {})) if rule else detail["msg"]
    path = [part for part in detail["loc"] if part != "[key]"]  # a dict key's own error
    return ManifestIssue(_dotted(path), message, detail["type"])


def _dotted(path: Sequence[str | int]) -> str:
    dotted = ""
    for part in path:
        dotted += f"[{part}]" if isinstance(part, int) else f".{part}" if dotted else part
    return dotted
