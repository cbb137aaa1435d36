"""Constrained scalar types shared by the models; each pattern is valid in Python, Go RE2 and CEL.

Numbers are strict (no "80" for 80, no 80.0), as the API server is: a model accepts what the CRD
accepts, so a spec that passes one passes the other.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt, StringConstraints, WithJsonSchema

_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"

FQDN_PATTERN = rf"^{_LABEL}(\.{_LABEL})+$"
WILDCARD_FQDN_PATTERN = rf"^(\*\.)?{_LABEL}(\.{_LABEL})+$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL_PATTERN = rf"^{_LABEL}$"
_HOST_LABEL = r"[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?"
HOST_PATTERN = rf"^({_HOST_LABEL}(\.{_HOST_LABEL})*|[0-9A-Fa-f:.]+)$"  # a DNS name or an IP address
IMAGE_PATTERN = r"^[^\s]+$"
DATA_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
PORT_ENV_NAME_PATTERN = r"^[A-Z0-9_]+$"
# A positive amount of bytes. Stricter than a Kubernetes quantity on purpose: no sign, no leading
# zero and no milli ("512m" is half a byte, a classic slip for "512Mi").
BYTES_QUANTITY_PATTERN = r"^[1-9][0-9]*(\.[0-9]+)?([KMGTPE]i|[kMGTPE])?$"

Fqdn = Annotated[str, StringConstraints(max_length=253, pattern=FQDN_PATTERN)]
WildcardFqdn = Annotated[str, StringConstraints(max_length=253, pattern=WILDCARD_FQDN_PATTERN)]
DnsSubdomain = Annotated[str, StringConstraints(max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
DnsLabel = Annotated[str, StringConstraints(max_length=63, pattern=DNS_LABEL_PATTERN)]
Host = Annotated[str, StringConstraints(max_length=253, pattern=HOST_PATTERN)]
Image = Annotated[str, StringConstraints(max_length=1024, pattern=IMAGE_PATTERN)]
DataKey = Annotated[str, StringConstraints(max_length=253, pattern=DATA_KEY_PATTERN)]
Port = Annotated[StrictInt, Field(ge=1, le=65535)]
Count = Annotated[StrictInt, Field(ge=0)]

# Int-or-string like every Kubernetes quantity (`memory: 1073741824` and `memory: 1Gi` both work),
# so the value can go into a container's resources or a PVC as the user wrote it. OpenAPI applies
# `pattern` to strings only and `minimum` to numbers only, so both sit beside the anyOf.
BytesQuantity = Annotated[
    Annotated[StrictInt, Field(ge=1)] | Annotated[str, StringConstraints(pattern=BYTES_QUANTITY_PATTERN)],
    WithJsonSchema(
        {
            "x-kubernetes-int-or-string": True,
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": BYTES_QUANTITY_PATTERN,
            "minimum": 1,
        }
    ),
]
