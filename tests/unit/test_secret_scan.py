"""The secret scan finds a secret however a log line carries it, names where it came from and where it
was found, and never repeats its value."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest

from tests.harness.secret_scan import SecretLedger, scan_files, scanned_files

pytestmark = pytest.mark.unit

PASSWORD = secrets.token_urlsafe(24)


def _encoded(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _ledger() -> SecretLedger:
    ledger = SecretLedger()
    ledger.add_secret_data(
        {
            "CLOUDRON_POSTGRESQL_PASSWORD": _encoded(PASSWORD),
            "CLOUDRON_POSTGRESQL_USERNAME": _encoded("user4c1a9f0e2b7d6c35"),
            "CLOUDRON_BACKUP_ACCESS_KEY_ID": _encoded("AKIAEXAMPLEEXAMPLE12"),
            "CLOUDRON_POSTGRESQL_PORT": _encoded("5432"),
        },
        "Secret ns/app-postgresql",
    )
    return ledger


@pytest.mark.parametrize(
    "line",
    [
        f"INFO provisioned with password {PASSWORD}",
        f"url=postgres://user:{PASSWORD}@127.0.0.1:5432/db",
        f'{{"password": "{PASSWORD}"}}',
        f"PASSWORD={PASSWORD}",
        f"data: {{CLOUDRON_POSTGRESQL_PASSWORD: {_encoded(PASSWORD)}}}",
        f'operator_build_info{{secret="{PASSWORD}"}} 1',
    ],
)
def test_a_secret_is_found_however_the_line_carries_it(line: str) -> None:
    (hit,) = _ledger().scan(f"first line\n{line}\n", "operator.log")
    assert hit.secret == "Secret ns/app-postgresql key CLOUDRON_POSTGRESQL_PASSWORD"
    assert hit.place == "operator.log:2"
    assert PASSWORD not in str(hit) and _encoded(PASSWORD) not in str(hit)
    assert "<redacted>" in hit.context


def test_what_is_not_a_secret_is_not_looked_for() -> None:
    """Usernames, key ids and ports appear in logs by right: only the secret keys are taken."""
    text = "user user4c1a9f0e2b7d6c35 with key id AKIAEXAMPLEEXAMPLE12 on port 5432\n"
    assert _ledger().scan(text, "operator.log") == []
    assert len(_ledger()) == 2, "the password and its base64 form"


def test_a_password_with_spaces_and_a_private_key_are_found_too() -> None:
    ledger = SecretLedger()
    ledger.add("correct horse battery staple", "CloudronUser alice's initial password")
    body = secrets.token_urlsafe(48)
    ledger.add(
        f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n", "Secret ns/tls key tls.key"
    )
    hits = ledger.scan(f"a\nset password 'correct horse battery staple'\nkey {body}\n", "login.log")
    assert sorted((hit.secret, hit.place) for hit in hits) == [
        ("CloudronUser alice's initial password", "login.log:2"),
        ("Secret ns/tls key tls.key", "login.log:3"),
    ]
    assert all("correct horse" not in hit.context and body not in hit.context for hit in hits)


def test_the_files_scanned_are_the_logs_metrics_and_collected_texts(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "operator.log").write_text(f"x {PASSWORD}\n")
    (tmp_path / "a" / "operator.log.metrics").write_text("ok 1\n")
    (tmp_path / "a" / "b" / "ns.texts").write_text(f"Event ns/app: {PASSWORD}\n")
    (tmp_path / "a" / "dump.sql").write_text(f"{PASSWORD}\n")  # a backup's content, not a log
    files = scanned_files([tmp_path])
    assert sorted(path.name for path in files) == ["ns.texts", "operator.log", "operator.log.metrics"]
    hits, read = scan_files(_ledger(), files)
    assert sorted(hit.place.rsplit("/", 1)[-1] for hit in hits) == ["ns.texts:1", "operator.log:1"]
    assert read > 0
