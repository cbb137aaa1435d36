"""Operator settings: one frozen model, loaded once from the environment at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ENV_PREFIX = "CLOUDRON_OPERATOR_"


class OperatorConfig(BaseModel):
    """What a cluster admin sets for the whole operator (env `CLOUDRON_OPERATOR_<FIELD>`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    namespaces: tuple[str, ...] = Field(
        default=(), description="Namespaces to watch; empty means every namespace (comma-separated in env)."
    )
    health_address: str = Field(
        default="0.0.0.0:8080",
        description="host:port of the liveness endpoint (/healthz).",
    )
    max_workers: int = Field(default=8, ge=1, le=256, description="Threads for the blocking handlers.")

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value


class ConfigError(ValueError):
    """The operator's environment does not describe a valid configuration."""


def load_config(environ: Mapping[str, str] | None = None) -> OperatorConfig:
    """Build the config from `CLOUDRON_OPERATOR_*` variables; unknown ones are an error, not ignored."""
    environ = os.environ if environ is None else environ
    values = {
        key[len(ENV_PREFIX) :].lower(): value for key, value in environ.items() if key.startswith(ENV_PREFIX)
    }
    try:
        return OperatorConfig.model_validate(values)
    except ValidationError as error:
        raise ConfigError(f"invalid operator configuration from {ENV_PREFIX}* variables:\n{error}") from error
