"""Inputs of the builder tests: CloudronApp specs around real corpus manifests."""

from __future__ import annotations

import json
from typing import Any

from cloudron_operator.builders import AppIdentity
from cloudron_operator.config import OperatorConfig
from cloudron_operator.manifest import Manifest
from cloudron_operator.manifest.validation import validate_manifest
from cloudron_operator.models import CloudronAppSpec
from tests.paths import CORPUS

UID = "7d1a6f0e-3b5c-4e2a-9f41-0c8d2b6a9e13"
CONFIG = OperatorConfig(
    ingress_class="nginx",
    cluster_issuer="letsencrypt-prod",
    api_origin="https://my.example.com",
    proxy_ip="10.42.0.1",
)
BASE_MANIFEST: dict[str, Any] = {
    "manifestVersion": 2,
    "version": "1.0.0",
    "httpPort": 8000,
    "healthCheckPath": "/",
}
PORT = {"title": "Port", "description": "A TCP port"}


def identity(name: str = "wiki", namespace: str = "team-a") -> AppIdentity:
    return AppIdentity(name, namespace, UID)


def corpus_manifest(file_name: str) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((CORPUS / file_name).read_text(encoding="utf-8"))
    return manifest


def spec(manifest: dict[str, Any] | None = None, **fields: Any) -> CloudronAppSpec:
    """A valid spec for `manifest` (BASE_MANIFEST by default) with `fields` set, as camelCase YAML names."""
    body = {"image": "registry.example.com/app:1.0.0", "domain": "wiki.example.com", **fields}
    return CloudronAppSpec.model_validate({"manifest": manifest or BASE_MANIFEST, **body})


def manifest_of(app_spec: CloudronAppSpec) -> Manifest:
    result = validate_manifest(app_spec.package_manifest)
    assert result.manifest is not None, result.errors
    return result.manifest
