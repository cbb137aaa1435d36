"""The models accept the DESIGN.md example and refuse every bad shape, naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from cloudron_operator.models import (
    AddonSpec,
    AddonStatus,
    AddonType,
    AppCatalogSpec,
    AppCatalogStatus,
    AppPhase,
    BackupStoreSpec,
    BackupStoreStatus,
    CloudronAppSpec,
    CloudronAppStatus,
    CloudronBackupSpec,
    CloudronBackupStatus,
    CloudronUserSpec,
    CloudronUserStatus,
    ConditionStatus,
)
from tests.crd_cases import EXAMPLES, INVALID, edited

pytestmark = pytest.mark.unit

MODELS: dict[str, dict[str, type[BaseModel]]] = {
    "CloudronApp": {"spec": CloudronAppSpec, "status": CloudronAppStatus},
    "Addon": {"spec": AddonSpec, "status": AddonStatus},
    "CloudronUser": {"spec": CloudronUserSpec, "status": CloudronUserStatus},
    "BackupStore": {"spec": BackupStoreSpec, "status": BackupStoreStatus},
    "CloudronBackup": {"spec": CloudronBackupSpec, "status": CloudronBackupStatus},
    "AppCatalog": {"spec": AppCatalogSpec, "status": AppCatalogStatus},
}


def error_paths(prefix: str, error: ValidationError) -> list[str]:
    """Each error's location written the way the API server writes field paths."""
    return [
        prefix + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in e["loc"])
        for e in error.errors()
    ]


def test_design_example_app_round_trips() -> None:
    example = EXAMPLES["CloudronApp"]
    spec = CloudronAppSpec.model_validate(example["spec"])
    status = CloudronAppStatus.model_validate(example["status"])

    assert spec.domain == "wiki.example.com"
    assert spec.package_manifest["addons"]["postgresql"] == {"anOptionFromTheFuture": {"kept": True}}
    assert spec.addons[AddonType.POSTGRESQL].addon_ref == "pg-main"
    assert status.phase is AppPhase.RUNNING
    assert status.conditions[0].status is ConditionStatus.TRUE
    dumped = spec.model_dump(mode="json")
    assert dumped.pop("access") is None, "no access restriction: every user"
    assert dumped.pop("backup") is None and dumped.pop("restoreFrom") is None
    assert dumped.pop("source") is None and dumped.pop("updatePolicy") is None, "a package of its own"
    assert dumped == example["spec"]
    assert status.model_dump(mode="json", exclude_none=True) == example["status"]


def test_design_example_addon_round_trips() -> None:
    example = EXAMPLES["Addon"]
    spec = AddonSpec.model_validate(example["spec"])
    status = AddonStatus.model_validate(example["status"])

    assert spec.type is AddonType.POSTGRESQL
    assert spec.connection is not None
    assert spec.connection.admin_secret_ref is not None
    assert spec.connection.admin_secret_ref.namespace == "cloudron-system"
    assert status.server_version == "16.4"
    assert spec.model_dump(mode="json", exclude_none=True) == example["spec"]
    assert status.model_dump(mode="json", exclude_none=True) == example["status"]


def test_a_minimal_app_gets_the_documented_defaults() -> None:
    spec = CloudronAppSpec.model_validate({"image": "wiki:1", "manifest": {}, "domain": "wiki.example.com"})

    assert (spec.running, spec.sso, spec.memory_limit) == (True, True, None)
    assert spec.storage.size == "1Gi"
    assert spec.storage.storage_class_name is None
    assert (spec.aliases, spec.redirects, spec.ports, spec.env, spec.addons) == ((), (), {}, {}, {})


@pytest.mark.parametrize(
    "changes",
    [
        {"ports": {"SSH_PORT": None}},
        {"memoryLimit": 536870912},
        {"memoryLimit": "1.5Gi"},
        {"aliases": ["*.wiki.example.com", "www.example.com"], "redirects": ["old.example.com"]},
        {"env": {"lower_case_ok": "1", "_LEADING_UNDERSCORE": ""}},
        {"storage": {"size": 10737418240, "storageClassName": "fast-ssd"}},
    ],
    ids=["null-port", "int-memory", "decimal-memory", "hosts", "env-names", "int-storage"],
)
def test_app_accepts_valid_variants(changes: dict[str, Any]) -> None:
    spec = {**EXAMPLES["CloudronApp"]["spec"], **changes}
    CloudronAppSpec.model_validate(spec)


def test_redis_addon_needs_no_connection() -> None:
    spec = AddonSpec.model_validate({"type": "redis", "options": {"maxmemory": "64mb"}})
    assert spec.connection is None
    assert spec.options == {"maxmemory": "64mb"}


def test_models_take_python_names_and_dump_camel_case() -> None:
    spec = CloudronAppSpec.model_validate(
        {"image": "wiki:1", "manifest": {}, "domain": "wiki.example.com", "memory_limit": "1Gi"}
    )
    assert spec.model_dump(mode="json", exclude_none=True)["memoryLimit"] == "1Gi"


def test_models_are_frozen() -> None:
    spec = CloudronAppSpec.model_validate(EXAMPLES["CloudronApp"]["spec"])
    with pytest.raises(ValidationError, match="frozen"):
        spec.domain = "other.example.com"  # type: ignore[misc]


def test_spec_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError) as raised:
        CloudronAppSpec.model_validate({**EXAMPLES["CloudronApp"]["spec"], "memorylimit": "1Gi"})
    assert "spec.memorylimit" in error_paths("spec", raised.value)


@pytest.mark.parametrize("case", INVALID, ids=[case["id"] for case in INVALID])
def test_models_refuse_invalid_shapes(case: dict[str, Any]) -> None:
    part = case["field"].split(".")[0]
    obj = edited(case)
    model = MODELS[case["kind"]][part]

    with pytest.raises(ValidationError) as raised:
        model.model_validate(obj.get(part))

    paths = error_paths(part, raised.value)
    assert any(path.startswith(case["field"]) for path in paths), f"errors name {paths}, not {case['field']}"
