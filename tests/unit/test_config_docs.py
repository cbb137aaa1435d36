"""docs/configuration.md lists every setting the operator reads, and nothing it does not."""

from __future__ import annotations

import re

import pytest

from cloudron_operator.config import ENV_PREFIX, OperatorConfig
from tests.paths import REPO

pytestmark = pytest.mark.unit


def test_every_setting_is_documented_once() -> None:
    documented = re.findall(
        rf"^\| `({ENV_PREFIX}[A-Z_]+)`", (REPO / "docs/configuration.md").read_text(), re.M
    )
    expected = [ENV_PREFIX + name.upper() for name in OperatorConfig.model_fields]
    assert sorted(documented) == sorted(expected)
