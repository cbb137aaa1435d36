"""`python -m cloudron_operator manifest check|fields FILE...`: validate manifest files, or say which
of their fields the operator accepts and does not honour."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cloudron_operator.manifest.fidelity import unhonoured
from cloudron_operator.manifest.lenient_json import JsonSyntaxError, read_json
from cloudron_operator.manifest.validation import ManifestResult, parse_manifest


def check_files(paths: Sequence[str]) -> int:
    """Print one verdict line per file, then its warnings; return 0 if every file is valid, else 1."""
    all_valid = True
    for path in paths:
        try:
            result = parse_manifest(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            print(f"{path}: INVALID: cannot read the file: {error}")
            all_valid = False
            continue
        print(f"{path}: {_verdict(result)}")
        for warning in result.warnings:
            print(f"{path}: warning: {warning}")
        all_valid = all_valid and result.valid
    return 0 if all_valid else 1


def _verdict(result: ManifestResult) -> str:
    return "OK" if result.valid else "INVALID: " + "; ".join(map(str, result.errors))


def unhonoured_fields(paths: Sequence[str]) -> int:
    """Print, per valid file, each field that is accepted and changes nothing, with why.

    Returns 1 when a file is unreadable or invalid (`manifest check` says why), else 0.
    """
    all_valid = True
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
            document = read_json(text)
        except (OSError, UnicodeDecodeError, JsonSyntaxError) as error:
            print(f"{path}: cannot read the file: {error}")
            all_valid = False
            continue
        if not parse_manifest(text).valid or not isinstance(document.value, dict):
            print(f"{path}: INVALID: nothing of it is accepted (manifest check says why)")
            all_valid = False
            continue
        fields = unhonoured(document.value)
        if not fields:
            print(f"{path}: every field it sets is honoured")
        for field, why in fields.items():
            print(f"{path}: {field}: not honoured: {why}")
    return 0 if all_valid else 1
