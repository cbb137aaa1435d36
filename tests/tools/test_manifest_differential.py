"""Our verdict on every manifest, compared with Cloudron's own validator.

Cloudron's validator is the npm package cloudron-manifestformat 5.27.0, installed by
`npm ci --prefix tests/reference` and run by tests/reference/verdicts.js. Verdicts may differ
only for a reason named below, and each reason is an item under "Differences from Cloudron's
validator" in docs/manifest.md. A reason counts only when it is shown to cover the difference:

- we accept, Cloudron rejects: removing what the applicable reasons cover (and writing the
  manifest as strict JSON) must make Cloudron accept it;
- we reject, Cloudron accepts: each of our errors must be one that a reason covers.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cloudron_operator.manifest import RUNTIME_DIR_ROOTS
from cloudron_operator.manifest.lenient_json import JsonSyntaxError, read_json
from cloudron_operator.manifest.validation import ManifestIssue, ManifestResult, parse_manifest
from tests.paths import corpus_files

pytestmark = pytest.mark.tools

TESTS = Path(__file__).parents[1]
REFERENCE = TESTS / "reference"
POLICY_DOC = TESTS.parent / "docs" / "manifest.md"
MANIFESTS = {
    "corpus": corpus_files(),
    "synthetic": sorted((TESTS / "data" / "manifests").glob("*/*.json")),
}
INSTALL = "npm ci --prefix tests/reference"
MISSING = object()

JsonObject = dict[str, Any]

# We accept, Cloudron rejects: for each reason, the manifest without what the reason covers.
NEWER_FIELDS = ("persistentDirs", "backupCommand", "restoreCommand", "iconUrl", "packagerName", "packagerUrl")


def _without_newer_fields(data: JsonObject, _: ManifestResult) -> JsonObject:
    stripped = {name: value for name, value in data.items() if name not in NEWER_FIELDS}
    for ports in ("tcpPorts", "udpPorts"):
        if ports in stripped:
            stripped[ports] = {
                env_name: {key: value for key, value in entry.items() if key != "enabledByDefault"}
                for env_name, entry in stripped[ports].items()
            }
    return stripped


def _without_fields_warned_about(code: str) -> Callable[[JsonObject, ManifestResult], JsonObject]:
    def strip(data: JsonObject, result: ManifestResult) -> JsonObject:
        warned = {re.split(r"[.\[]", warning.path)[0] for warning in result.warnings if warning.code == code}
        return {name: value for name, value in data.items() if name not in warned}

    return strip


ACCEPTED_BY_POLICY: dict[str, Callable[[JsonObject, ManifestResult], JsonObject]] = {
    "newer-fields": _without_newer_fields,
    "unknown-fields": _without_fields_warned_about("unknown_field"),
    "store-metadata": _without_fields_warned_about("store_metadata"),
}
LENIENT_JSON = "lenient-json"  # covers a file that is not strict JSON; the re-check is written as strict JSON


# We reject, Cloudron accepts: does a reason cover this error, given the value at its path?
def _size_string_not_positive(error: ManifestIssue, value: object) -> bool:
    return error.path == "memoryLimit" and error.code == "not_positive" and isinstance(value, str)


def _http_port_zero(error: ManifestIssue, value: object) -> bool:
    return error.path == "httpPort" and value == 0 and not isinstance(value, bool)


def _incomplete_scheduler_task(error: ManifestIssue, value: object) -> bool:
    task_field = re.fullmatch(r"addons\.scheduler\.\w+\.(schedule|command)", error.path)
    return task_field is not None and error.code in ("missing", "empty")


def _runtime_dir_with_a_root_prefix(error: ManifestIssue, value: object) -> bool:
    # Cloudron's test is a string prefix, so these are the runtimeDirs it lets through.
    return (
        error.path.startswith("runtimeDirs[")
        and isinstance(value, str)
        and value.startswith(RUNTIME_DIR_ROOTS)
    )


def _falsy_sqlite(error: ManifestIssue, value: object) -> bool:
    # JavaScript-falsy: Cloudron skips its sqlite check for these.
    return error.path == "addons.localstorage.sqlite" and value in (False, 0, "")


def _cron_library_quirk(error: ManifestIssue, value: object) -> bool:
    if error.code != "cron" or not isinstance(value, str):
        return False
    fields = value.split(" ")
    return "" in fields or any(re.search("[a-zA-Z]", field) for field in fields[:3])


REJECTED_BY_POLICY: dict[str, Callable[[ManifestIssue, object], bool]] = {
    "positive-memory-limit": _size_string_not_positive,
    "http-port-nonzero": _http_port_zero,
    "complete-scheduler-tasks": _incomplete_scheduler_task,
    "runtime-dirs-are-paths": _runtime_dir_with_a_root_prefix,
    "sqlite-options-object": _falsy_sqlite,
    "cron-fields": _cron_library_quirk,
}
REASONS = {LENIENT_JSON, *ACCEPTED_BY_POLICY, *REJECTED_BY_POLICY}


@dataclass(frozen=True)
class Verdict:
    valid: bool
    error: str | None


@dataclass(frozen=True)
class Comparison:
    path: Path
    ours: bool
    cloudron: Verdict
    reasons: tuple[str, ...] = ()  # the documented differences that explain different verdicts
    unexplained: str | None = None  # set when the verdicts differ and no reason covers it

    @property
    def agree(self) -> bool:
        return self.ours == self.cloudron.valid


def cloudron_verdicts(paths: Sequence[Path]) -> dict[Path, Verdict]:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            f"node is not on PATH, and this test runs Cloudron's validator: install Node.js, then `{INSTALL}`"
        )
    if not (REFERENCE / "node_modules" / "cloudron-manifestformat").is_dir():
        pytest.fail(f"Cloudron's manifest validator is not installed: run `{INSTALL}`")
    completed = subprocess.run(
        [node, str(REFERENCE / "verdicts.js"), *map(str, paths)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    lines = [json.loads(line) for line in completed.stdout.splitlines()]
    return {Path(line["file"]): Verdict(line["valid"], line["error"]) for line in lines}


@functools.cache
def compared(kind: str) -> tuple[Comparison, ...]:
    paths = MANIFESTS[kind]
    verdicts = cloudron_verdicts(paths)
    comparisons: list[Comparison] = []
    rechecks: dict[Path, tuple[Path, tuple[str, ...]]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for path in paths:
            text = path.read_text(encoding="utf-8")
            ours = parse_manifest(text)
            if ours.valid == verdicts[path].valid:
                comparisons.append(Comparison(path, ours.valid, verdicts[path]))
            elif ours.valid:
                reasons, stripped = _strip_accepted_by_policy(text, ours)
                recheck = Path(workdir) / f"{len(rechecks)}.json"
                recheck.write_text(json.dumps(stripped), encoding="utf-8")
                rechecks[recheck] = (path, reasons)
            else:
                comparisons.append(_explain_rejection(path, text, ours, verdicts[path]))
        for recheck, verdict in cloudron_verdicts(list(rechecks)).items():
            path, reasons = rechecks[recheck]
            unexplained = (
                None if verdict.valid and reasons else f"we accept, Cloudron rejects: {verdict.error}"
            )
            comparisons.append(Comparison(path, True, verdicts[path], reasons, unexplained))
    return tuple(sorted(comparisons, key=lambda comparison: comparison.path))


def _strip_accepted_by_policy(text: str, ours: ManifestResult) -> tuple[tuple[str, ...], JsonObject]:
    data: JsonObject = read_json(text).value  # type: ignore[assignment]  # ours.valid: an object
    reasons = [] if _is_strict_json(text) else [LENIENT_JSON]
    for reason, strip in ACCEPTED_BY_POLICY.items():
        stripped = strip(data, ours)
        if stripped != data:
            reasons.append(reason)
            data = stripped
    return tuple(reasons), data


def _explain_rejection(path: Path, text: str, ours: ManifestResult, cloudron: Verdict) -> Comparison:
    try:
        data: object = read_json(text).value
    except JsonSyntaxError:
        data = MISSING
    reasons: set[str] = set()
    for error in ours.errors:
        value = _value_at(data, error.path)
        covering = {reason for reason, covers in REJECTED_BY_POLICY.items() if covers(error, value)}
        if not covering:
            return Comparison(path, False, cloudron, unexplained=f"we reject, Cloudron accepts: {error}")
        reasons |= covering
    return Comparison(path, False, cloudron, tuple(sorted(reasons)))


def _is_strict_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def _value_at(data: object, path: str) -> object:
    for key in re.findall(r"[^.\[\]]+", path):
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            return MISSING
    return data


def _summary(kind: str, comparisons: Sequence[Comparison]) -> str:
    agreeing = sum(comparison.agree for comparison in comparisons)
    explained = [
        comparison for comparison in comparisons if not comparison.agree and not comparison.unexplained
    ]
    per_reason = Counter(reason for comparison in explained for reason in comparison.reasons)
    details = ", ".join(f"{reason}: {count}" for reason, count in sorted(per_reason.items()))
    return (
        f"manifest differential ({kind}): {agreeing}/{len(comparisons)} agree, "
        f"{len(explained)} explained by policy ({details})"
    )


@pytest.mark.parametrize("kind", MANIFESTS)
def test_verdicts_agree_with_cloudron_or_differ_by_documented_policy(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    comparisons = compared(kind)
    with capsys.disabled():
        print(f"\n{_summary(kind, comparisons)}")
    assert len(comparisons) == len(MANIFESTS[kind])
    unexplained = [
        f"{comparison.path.name}: {comparison.unexplained}"
        for comparison in comparisons
        if comparison.unexplained
    ]
    assert unexplained == []


def test_every_documented_difference_occurs_in_the_manifests() -> None:
    seen = {reason for kind in MANIFESTS for comparison in compared(kind) for reason in comparison.reasons}
    assert seen == REASONS


def test_every_reason_is_a_policy_item_in_the_docs() -> None:
    documented = re.findall(r"^### ([a-z-]+):", POLICY_DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert sorted(documented) == sorted(REASONS)


def test_the_reference_is_cloudron_manifestformat_5_27_0_with_safetydance_2_5_1() -> None:
    lock = json.loads((REFERENCE / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    assert lock["node_modules/cloudron-manifestformat"]["version"] == "5.27.0"
    assert lock["node_modules/safetydance"]["version"] == "2.5.1"
    resolved = [entry["resolved"] for entry in lock.values() if "resolved" in entry]
    assert all(url.startswith("https://registry.npmjs.org/") for url in resolved), resolved
