"""The status condition shared by both kinds, shaped like `metav1.Condition` so every tool reads it."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints

from cloudron_operator.models.base import StatusModel, kube_schema
from cloudron_operator.models.types import Count

CAMEL_CASE_PATTERN = r"^[A-Z][A-Za-z0-9]*$"

CamelCase = Annotated[str, StringConstraints(max_length=128, pattern=CAMEL_CASE_PATTERN)]


class ConditionStatus(StrEnum):
    """Whether a condition holds: True, False, or Unknown while the operator cannot tell."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(StatusModel):
    """One aspect of the object's state, as in `metav1.Condition`."""

    type: CamelCase = Field(
        description="Aspect the condition reports on, in CamelCase: Ready, AddonsReady, ..."
    )
    status: ConditionStatus = Field(description="Whether the condition holds: True, False or Unknown.")
    reason: CamelCase = Field(description="Machine-readable cause of the last transition, in CamelCase.")
    message: Annotated[str, StringConstraints(max_length=32768)] = Field(
        description="Human-readable detail; when the condition is False it says what to do about it."
    )
    observed_generation: Count | None = Field(
        default=None, description="metadata.generation of the object the condition was computed from."
    )
    last_transition_time: AwareDatetime = Field(
        description="When the status last changed (RFC 3339 date-time)."
    )


# A list map keyed by type, so server-side apply merges conditions entry by entry.
CONDITION_LIST = kube_schema(list_type="map", list_map_keys=["type"])
