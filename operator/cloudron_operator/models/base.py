"""The base classes of the API models and the markers the CRD generator reads from them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler, JsonValue
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema


class ApiModel(BaseModel):
    """Part of a resource: camelCase names as in the YAML (Python names work too), immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        frozen=True,
    )


class SpecModel(ApiModel):
    """What users write. Unknown fields are refused.

    The API server prunes unknown fields before the operator sees an object, so this only matters
    where a spec is parsed from elsewhere (tests, files), and there it catches typos.
    """

    model_config = ConfigDict(extra="forbid")


class StatusModel(ApiModel):
    """What the operator writes. Fields an older operator wrote and this one dropped are ignored."""

    model_config = ConfigDict(extra="ignore")


class NullIsAValue:
    """Marks `X | None` where null means something, so the CRD says `nullable: true`.

    Elsewhere the API server prunes a null, which is the same as leaving the field out, and the
    generator drops the null from the schema.
    """

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(core_schema), "nullable": True}


NULL_IS_A_VALUE = NullIsAValue()


def cel(rule: str, message: str, *, field_path: str | None = None) -> JsonDict:
    """One `x-kubernetes-validations` entry: a CEL rule the API server checks on write."""
    entry: JsonDict = {"rule": rule, "message": message}
    if field_path is not None:
        entry["fieldPath"] = field_path
    return entry


def kube_schema(*rules: JsonDict, **extensions: JsonValue) -> JsonDict:
    """`json_schema_extra` of CEL rules and `x-kubernetes-*` extensions: `list_type="set"` and so on."""
    extra: JsonDict = {"x-kubernetes-" + name.replace("_", "-"): value for name, value in extensions.items()}
    if rules:
        extra["x-kubernetes-validations"] = list(rules)
    return extra
