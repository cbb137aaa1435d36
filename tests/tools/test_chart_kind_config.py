"""kind-config.yaml, read by kind's own loader and validation (hack/tools/kind-config-check)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.processes import HarnessError, run
from tests.harness.tools import tool
from tests.paths import REPO

CONFIG = REPO / "kind-config.yaml"


def check(path: Path) -> str:
    return run([str(tool("kind-config-check")), str(path)])


def test_the_kind_config_is_valid_and_ready_for_ingress() -> None:
    assert check(CONFIG).startswith("OK")


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        (("extraPortMappings", "extraPortMapping"), "field extraPortMapping not found in type v1alpha4.Node"),
        (("hostPort: 443", "hostPort: 70000"), "invalid port number: 70000"),
        (("role: worker", "role: agent"), '"agent" is not a valid node role'),
        (('ingress-ready: "true"', 'ingress-ready: "false"'), "ingress-ready=true"),
        (("hostPort: 80\n", "hostPort: 8080\n"), "does not map host port 80"),
        (("protocol: TCP", "protocol: SCTP"), "does not map host port"),
    ],
)
def test_the_checker_refuses_what_kind_or_the_install_guide_would(
    tmp_path: Path, edit: tuple[str, str], error: str
) -> None:
    """The check is real: kind's strict decoding and validation, then the guide's requirements."""
    text = CONFIG.read_text()
    assert edit[0] in text
    broken = tmp_path / "kind-config.yaml"
    broken.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(HarnessError, match=error):
        check(broken)
