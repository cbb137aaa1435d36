"""`python -m cloudron_operator manifest check FILE...`, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import CORPUS, corpus_files

pytestmark = pytest.mark.unit

DATA = Path(__file__).parents[1] / "data"


def check(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cloudron_operator", "manifest", "check", *map(str, paths)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_valid_files_print_ok_then_their_warnings_and_exit_0() -> None:
    clean = CORPUS / "cloudron-io__releasebell__CloudronManifest.json"
    with_comments = CORPUS / "Cherycoco__fastapi-ci-cd__CloudronManifest@b8dbaedc.json"
    completed = check(clean, with_comments)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        f"{clean}: OK",
        f"{with_comments}: OK",
        f"{with_comments}: warning: line 2, column 30: comments are not JSON (14 in this file); "
        "Cloudron's own tools cannot read this file",
    ]


def test_invalid_and_unreadable_files_print_why_and_exit_1(tmp_path: Path) -> None:
    valid = CORPUS / "cloudron-io__releasebell__CloudronManifest.json"
    invalid = DATA / "manifests" / "invalid" / "tcp-port-lower-case-name.json"
    with_warnings = CORPUS / "cloudron-io__meemo__CloudronManifest@62283622.json"
    missing = tmp_path / "CloudronManifest.json"
    not_utf8 = tmp_path / "latin1.json"
    not_utf8.write_bytes(b'{"title": "caf\xe9"}')

    completed = check(valid, invalid, with_warnings, missing, not_utf8)

    assert completed.returncode == 1
    lines = completed.stdout.splitlines()
    assert lines[:2] == [
        f"{valid}: OK",
        f"{invalid}: INVALID: tcpPorts.HASS_Bridge: port names must match ^[A-Z0-9_]+$",
    ]
    assert lines[2].startswith(f"{with_warnings}: INVALID: addons: unknown addon simpleauth;")
    assert lines[3:6] == [
        f"{with_warnings}: warning: changelog: line 21, column 3: duplicate key, the last value is used",
        f"{with_warnings}: warning: developmentMode: is not a manifest field; kept, but unused",
        f"{with_warnings}: warning: singleUser: is not a manifest field; kept, but unused",
    ]
    assert lines[6].startswith(
        f"{missing}: INVALID: cannot read the file: [Errno 2] No such file or directory"
    )
    assert lines[7].startswith(f"{not_utf8}: INVALID: cannot read the file: 'utf-8' codec can't decode")
    assert len(lines) == 8


def test_the_whole_corpus_gets_one_verdict_per_file() -> None:
    completed = check(*corpus_files())
    assert completed.returncode == 1  # the corpus holds invalid manifests
    verdicts = [line for line in completed.stdout.splitlines() if ": warning: " not in line]
    assert len(verdicts) == 85
    assert sum(": INVALID: " in line for line in verdicts) == 5


def test_fields_lists_what_is_accepted_and_not_honoured_with_why() -> None:
    clean = CORPUS / "cloudron-io__releasebell__CloudronManifest.json"
    with_backup = CORPUS / "OrcVole__langfuse-cloudron__CloudronManifest.json"
    invalid = DATA / "manifests" / "invalid" / "tcp-port-lower-case-name.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "cloudron_operator",
            "manifest",
            "fields",
            str(clean),
            str(with_backup),
            str(invalid),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 1, completed.stderr  # one file is invalid
    lines = completed.stdout.splitlines()
    assert lines[0] == f"{clean}: every field it sets is honoured"
    assert f"{with_backup}: backupCommand: not honoured: backups are not implemented yet" in "\n".join(lines)
    assert lines[-1] == f"{invalid}: INVALID: nothing of it is accepted (manifest check says why)"
