"""crds/ is what the models give, the generator's --check notices when it is not, and it refuses
a model whose schema cannot become a good CRD."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, Field

from cloudron_operator import crdgen
from cloudron_operator.crd.resources import CLOUDRON_APP, KINDS, InvalidSchemaError, Kind, openapi_schema

pytestmark = pytest.mark.unit

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"


def test_crd_files_are_current() -> None:
    stale = crdgen.stale_files(CRD_DIR)
    assert not stale, f"stale CRDs {[p.name for p in stale]}: run `make crds` and commit the result"


def test_check_passes_after_write_and_names_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert crdgen.main(["--output-dir", str(tmp_path)]) == 0
    assert crdgen.main(["--output-dir", str(tmp_path), "--check"]) == 0

    stale = tmp_path / f"{CLOUDRON_APP.crd_name}.yaml"
    stale.write_text(stale.read_text() + "# edited by hand\n")
    assert crdgen.main(["--output-dir", str(tmp_path), "--check"]) == 1
    assert str(stale) in capsys.readouterr().err


def test_check_notices_a_missing_file(tmp_path: Path) -> None:
    assert crdgen.main(["--output-dir", str(tmp_path), "--check"]) == 1


def test_write_touches_only_changed_files(tmp_path: Path) -> None:
    assert len(crdgen.write(tmp_path)) == len(KINDS)
    assert crdgen.write(tmp_path) == []


def test_output_is_deterministic_yaml_of_the_crd() -> None:
    first, second = crdgen.rendered(), crdgen.rendered()
    assert first == second
    for kind in KINDS:
        text = first[f"{kind.crd_name}.yaml"]
        assert text.startswith(crdgen.HEADER)
        assert yaml.safe_load(text)["spec"]["names"]["kind"] == kind.kind


class _Undescribed(BaseModel):
    """A spec with one field nobody explained."""

    documented: str = Field(description="Explained.")
    mystery: str


class _Status(BaseModel):
    """A status."""


def test_a_field_without_description_fails_generation() -> None:
    kind = Kind("Bad", "bads", "Cluster", (), "A bad kind.", _Undescribed, _Status, ())
    with pytest.raises(InvalidSchemaError, match=r"\.spec\.mystery: has no description"):
        openapi_schema(kind)
