"""CloudronApps in every state a GitOps tool meets, with their status made by the operator's own status
code, and what Argo CD's health check (helm/cloudron-operator/files/argocd-cm-patch.yaml) and Flux's
kstatus must read from each: docs/gitops.md's two lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml

from cloudron_operator.children import certificate_condition, workload_condition
from cloudron_operator.reconcile.status import app_updates
from cloudron_operator.status import FALSE, TRUE, UNKNOWN, ConditionUpdate, merge_conditions, ready_condition
from tests.paths import REPO

ARGOCD_PATCH = REPO / "helm" / "cloudron-operator" / "files" / "argocd-cm-patch.yaml"
ARGOCD_HEALTH_KEY = "resource.customizations.health.cloudron.io_CloudronApp"

STUCK = (
    "InvalidSpec",
    "InvalidManifest",
    "ApplyFailed",
    "KindNotServed",
    "AddonFailed",
    "UnsupportedAddon",
    "AddonRefused",
    "DeprovisionFailed",
    "NameConflict",
    "HostInUse",
    "RestoreRefused",
    "BackupNotFound",
    "CatalogNotFound",
    "AppNotInCatalog",
    "VersionNotInCatalog",
    "NoPublishedVersion",
    "VersionRevoked",
    "VersionInvalid",
    "Downgrade",
    "OtherAppId",
    "NoBackupStore",
    "PodsNotCreated",
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def health_script() -> str:
    """The script as Argo CD gets it: the value the patch gives the argocd-cm ConfigMap's key."""
    patch = yaml.safe_load(ARGOCD_PATCH.read_text())
    assert set(patch) == {"data"}, "a merge patch of the ConfigMap's data alone"
    script: str = patch["data"][ARGOCD_HEALTH_KEY]
    return script


@dataclass(frozen=True)
class HealthCase:
    name: str
    app: dict[str, Any]
    argocd: str  # Argo CD's health status
    argocd_message: str  # a part of Argo CD's message
    kstatus: str  # kstatus's status


def app(generation: int = 1, running: bool = True, status: dict[str, Any] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "cloudron.io/v1alpha1",
        "kind": "CloudronApp",
        "metadata": {"name": "wiki", "namespace": "team-a", "generation": generation},
        "spec": {"image": "registry.example.com/wiki:1", "domain": "wiki.example.com", "running": running},
    }
    if status is not None:
        obj["status"] = status
    return obj


def reported(parts: list[ConditionUpdate], observed: int) -> dict[str, Any]:
    """A status as the operator writes it: Ready first, from the parts, at generation `observed`."""
    ready = ready_condition(parts, "Running", "https://wiki.example.com is served")
    return {
        "observedGeneration": observed,
        "conditions": merge_conditions([], app_updates([ready, *parts]), observed, NOW),
    }


def invalid(reason: str, observed: int = 1) -> dict[str, Any]:
    ready = ConditionUpdate("Ready", FALSE, reason, f"{reason}: what to fix")
    return {
        "observedGeneration": observed,
        "conditions": merge_conditions([], app_updates([ready]), observed, NOW),
    }


DEPLOYMENT_READY = {
    "metadata": {"generation": 1},
    "spec": {"replicas": 1},
    "status": {"observedGeneration": 1, "updatedReplicas": 1, "readyReplicas": 1},
}
CERT_ISSUED = {"status": {"conditions": [{"type": "Ready", "status": TRUE}]}}

CASES: list[HealthCase] = [
    HealthCase("no status yet", app(), "Progressing", "waiting for the operator", "Current"),
    HealthCase(
        "a spec change not processed yet",
        app(generation=2, status=reported([workload_condition(DEPLOYMENT_READY, True)], observed=1)),
        "Progressing",
        "generation 2",
        "InProgress",
    ),
    HealthCase(
        "served",
        app(
            status=reported(
                [workload_condition(DEPLOYMENT_READY, True), certificate_condition(CERT_ISSUED)], observed=1
            )
        ),
        "Healthy",
        "https://wiki.example.com is served",
        "Current",
    ),
    HealthCase(
        "creating the workload",
        app(status=reported([workload_condition(None, True), certificate_condition(None)], observed=1)),
        "Progressing",
        "Creating",
        "InProgress",
    ),
    HealthCase(
        "waiting for the certificate",
        app(
            status=reported(
                [workload_condition(DEPLOYMENT_READY, True), certificate_condition({"status": {}})],
                observed=1,
            )
        ),
        "Progressing",
        "Issuing",
        "InProgress",
    ),
    HealthCase(
        "addons pending",
        app(status=reported([ConditionUpdate("AddonsReady", UNKNOWN, "Pending", "not checked yet")], 1)),
        "Progressing",
        "Pending",
        "InProgress",
    ),
    HealthCase(
        "stopped",
        app(running=False, status=reported([workload_condition(None, False)], observed=1)),
        "Suspended",
        "spec.running is false",
        "InProgress",
    ),
    HealthCase(
        "stopped and invalid",
        app(running=False, status=invalid("InvalidSpec")),
        "Degraded",
        "InvalidSpec",
        "Failed",
    ),
    HealthCase(
        "conditions without Ready",
        app(status={"observedGeneration": 1, "conditions": []}),
        "Progressing",
        "",
        "Current",
    ),
    *[
        HealthCase(
            f"stuck: {reason}",
            app(status=invalid(reason)),
            "Degraded",
            f"{reason}: {reason}: what to fix",
            "Failed",  # Stalled=True
        )
        for reason in STUCK
    ],
    HealthCase(
        "stuck, but on an older generation",
        app(generation=3, status=invalid("InvalidSpec", observed=2)),
        "Progressing",
        "generation 3",
        "InProgress",
    ),
]
