"""`python -m cloudron_operator manifest check FILE...`: validate manifest files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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
