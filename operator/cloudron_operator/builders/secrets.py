"""A Secret per app and addon; its keys are the exact variables the app reads (CLOUDRON_POSTGRESQL_URL...)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Final

from cloudron_operator.builders.identity import AppIdentity, child_name, object_meta
from cloudron_operator.manifest import Manifest

RESERVED_PREFIX: Final = "CLOUDRON_"
# Generated objects are not in anyone's Git: GitOps tools must neither prune nor diff them.
GITOPS_ANNOTATIONS: Final = {
    "argocd.argoproj.io/compare-options": "IgnoreExtraneous",
    "argocd.argoproj.io/sync-options": "Prune=false",
    "kustomize.toolkit.fluxcd.io/prune": "disabled",
}


def addon_secret_name(app_name: str, addon_type: str) -> str:
    return child_name(app_name, f"-{addon_type.lower()}")


def addon_env_names(env: Mapping[str, str], manifest: Manifest) -> dict[str, str]:
    """The addon's variables as the app expects them: manifestVersion 1 apps read them un-prefixed."""
    if manifest.env_prefix:
        return dict(env)
    return {name.removeprefix(RESERVED_PREFIX): value for name, value in env.items()}


def build_addon_secret(identity: AppIdentity, addon_type: str, env: Mapping[str, str]) -> dict[str, Any]:
    """An Opaque Secret owned by the app; `data` is encoded here so an unchanged Secret applies as a no-op."""
    data = {name: base64.b64encode(value.encode()).decode() for name, value in sorted(env.items())}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": object_meta(
            identity, addon_secret_name(identity.name, addon_type), annotations=GITOPS_ANNOTATIONS
        ),
        "data": data,
    }


def secret_values(secret: Mapping[str, Any] | None) -> dict[str, str]:
    """The decoded `data` of a Secret as read from the API server; empty for None."""
    if secret is None:
        return {}
    return {name: base64.b64decode(value).decode() for name, value in (secret.get("data") or {}).items()}
