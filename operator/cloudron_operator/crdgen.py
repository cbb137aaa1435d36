"""Write the CRDs in crds/ from the models, or check that the files there are current.

python -m cloudron_operator.crdgen [--output-dir DIR]...          # (re)write the files
python -m cloudron_operator.crdgen [--output-dir DIR]... --check  # exit 1 naming stale files

The default directories are crds/ and the Helm chart's copy, helm/cloudron-operator/crds/.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from cloudron_operator.crd.resources import KINDS, Kind, custom_resource_definition

HEADER = "# Generated from cloudron_operator.models by `python -m cloudron_operator.crdgen`. Do not edit.\n"
DEFAULT_OUTPUT_DIRS = (Path("crds"), Path("helm/cloudron-operator/crds"))


def render(kind: Kind) -> str:
    """The CRD of `kind` as YAML: keys sorted, so the same models always give the same bytes."""
    body = yaml.safe_dump(
        custom_resource_definition(kind),
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )
    return HEADER + body


def rendered() -> dict[str, str]:
    """File name -> content of every CRD."""
    return {f"{kind.crd_name}.yaml": render(kind) for kind in KINDS}


def stale_files(directory: Path) -> list[Path]:
    """The CRD files in `directory` that are missing or differ from what the models give."""
    stale = []
    for name, content in rendered().items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            stale.append(path)
    return stale


def write(directory: Path) -> list[Path]:
    """Write the CRD files that changed; returns them."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = stale_files(directory)
    contents = rendered()
    for path in changed:
        path.write_text(contents[path.name], encoding="utf-8")
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cloudron_operator.crdgen", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        action="append",
        help="repeatable; default: ./crds and ./helm/cloudron-operator/crds",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is stale")
    args = parser.parse_args(argv)
    directories: list[Path] = args.output_dir or list(DEFAULT_OUTPUT_DIRS)
    if args.check:
        stale = [path for directory in directories for path in stale_files(directory)]
        for path in stale:
            print(f"stale: {path} (run `make crds`)", file=sys.stderr)
        return 1 if stale else 0
    for directory in directories:
        for path in write(directory):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
