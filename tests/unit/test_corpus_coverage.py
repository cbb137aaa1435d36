"""The corpus coverage report's pure parts: app names from file names, and the table."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.corpus import Coverage, Outcome, _app_name

pytestmark = pytest.mark.unit


def test_app_names_come_from_the_repository_part_and_are_unique_dns_names() -> None:
    used: set[str] = set()
    first = _app_name(Path("Chilipp__djac-app__CloudronManifest.json"), used)
    again = _app_name(Path("Other__djac-app__CloudronManifest.json"), used)
    digits = _app_name(Path("x__2048-game__CloudronManifest.json"), used)
    long = _app_name(Path("x__" + "Very_Long" * 10 + "__CloudronManifest.json"), used)
    assert (first, again, digits) == ("djac-app", "djac-app-2", "app-2048-game")
    assert len(long) <= 40 and long[0].isalpha() and long == long.lower()


def test_the_table_counts_apps_per_addon_and_the_reasons_of_those_not_ready() -> None:
    coverage = Coverage(
        [
            Outcome("a.json", ("postgresql", "redis"), ready=True, reason="Running", unhonoured={"x": "why"}),
            Outcome("b.json", ("postgresql", "mongodb"), reason="UnsupportedAddon"),
            Outcome("c.json", ("docker",), reason="AddonRefused"),
            Outcome("d.json", (), ready=True, reason="Running"),
        ]
    )
    table = coverage.table()
    assert table.startswith("4 manifests; Ready: 2")
    assert "| postgresql | 2 | 1 | UnsupportedAddon 1 |" in table
    assert "| docker | 1 | 0 | AddonRefused 1 |" in table
    assert "| (none) | 1 | 1 |  |" in table
    assert "Not Ready, by reason: UnsupportedAddon 1, AddonRefused 1" in table
    assert table.endswith(
        "Accepted but not honoured, in the 2 Ready apps' manifests:\n\n"
        "| field | apps | why |\n|---|---:|---|\n| x | 1 | why |"
    )
