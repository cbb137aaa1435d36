"""The operator limits glibc's malloc arenas itself, unless the administrator set MALLOC_ARENA_MAX."""

from __future__ import annotations

import pytest

from cloudron_operator.malloc_arenas import limit_malloc_arenas


def test_glibc_accepts_the_limit() -> None:  # the image and CI run on glibc (Debian)
    assert limit_malloc_arenas()


def test_the_administrators_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert not limit_malloc_arenas()
