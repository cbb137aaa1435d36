"""The app's memory limit: the manifest's minimum, raised (never lowered) by spec.memoryLimit."""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal
from typing import Final

from cloudron_operator.builders.errors import InvalidSpec
from cloudron_operator.manifest import Manifest
from cloudron_operator.models import CloudronAppSpec

_QUANTITY: Final = re.compile(r"(\d+(?:\.\d+)?)([KMGTPE]i|[kMGTPE])?")
_MULTIPLIERS: Final[dict[str | None, int]] = {
    None: 1,
    **{suffix + "i": 1024 ** (power + 1) for power, suffix in enumerate("KMGTPE")},
    **{suffix: 1000 ** (power + 1) for power, suffix in enumerate("kMGTPE")},
}
_BINARY_SUFFIXES: Final = ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki")


def quantity_bytes(quantity: int | str) -> int:
    """Bytes in a Kubernetes quantity such as 512Mi, 1.5Gi or 2G; a fraction of a byte counts as one."""
    if isinstance(quantity, int):
        return quantity
    match = _QUANTITY.fullmatch(quantity)
    if match is None:
        raise ValueError(f"not a byte quantity: {quantity!r}")
    number, suffix = match.groups()
    return int((Decimal(number) * _MULTIPLIERS[suffix]).to_integral_value(rounding=ROUND_CEILING))


def format_bytes(size: int) -> str:
    """`size` in the largest binary unit that holds it exactly (3221225472 -> 3Gi), else in bytes."""
    for suffix in _BINARY_SUFFIXES:
        unit = _MULTIPLIERS[suffix]
        if size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def effective_memory_limit(spec: CloudronAppSpec, manifest: Manifest) -> int:
    """The app's memory limit in bytes.

    Cloudron's limit counts RAM and swap; Kubernetes has no per-pod swap, so the whole value is
    the container's memory limit. The manifest's value (at least 256 MiB) is the app's minimum.
    """
    minimum = manifest.memory_limit_bytes
    if spec.memory_limit is None:
        return minimum
    requested = quantity_bytes(spec.memory_limit)
    if requested < minimum:
        raise InvalidSpec(
            f"spec.memoryLimit: {spec.memory_limit} is below the {format_bytes(minimum)} the app's manifest "
            f"needs; set it to at least {format_bytes(minimum)}, or remove it to use {format_bytes(minimum)}"
        )
    return requested
