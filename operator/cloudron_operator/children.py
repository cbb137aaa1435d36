"""Pure readings of the children's observed state, as conditions of the app."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudron_operator.models.conditions import Reason
from cloudron_operator.status import FALSE, TRUE, UNKNOWN, ConditionUpdate


def workload_condition(deployment: Mapping[str, Any] | None, running: bool) -> ConditionUpdate:
    if not running:
        return ConditionUpdate(
            "WorkloadAvailable", FALSE, Reason.STOPPED, "spec.running is false: scaled to zero"
        )
    if deployment is None:
        return ConditionUpdate(
            "WorkloadAvailable", UNKNOWN, Reason.CREATING, "the Deployment does not exist yet"
        )
    spec, status = deployment.get("spec", {}), deployment.get("status", {})
    wanted = int(spec.get("replicas", 1))
    current = status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
    updated, ready = int(status.get("updatedReplicas", 0)), int(status.get("readyReplicas", 0))
    if current and updated >= wanted and ready >= wanted:
        return ConditionUpdate("WorkloadAvailable", TRUE, Reason.PODS_READY, f"{ready}/{wanted} pods ready")
    # The message changes only with the ready count: every other step of a rollout would be
    # another status write for each app, with nothing a user acts on.
    return ConditionUpdate("WorkloadAvailable", FALSE, Reason.PODS_NOT_READY, f"{ready}/{wanted} pods ready")


def certificate_condition(certificate: Mapping[str, Any] | None) -> ConditionUpdate:
    if certificate is None:
        return ConditionUpdate(
            "CertificateReady", UNKNOWN, Reason.CREATING, "the Certificate does not exist yet"
        )
    for condition in certificate.get("status", {}).get("conditions", []):
        if condition.get("type") == "Ready":
            if condition.get("status") == TRUE:
                return ConditionUpdate(
                    "CertificateReady", TRUE, Reason.ISSUED, "the TLS certificate is issued"
                )
            return ConditionUpdate(
                "CertificateReady",
                FALSE,
                Reason.NOT_ISSUED,
                f"cert-manager: {condition.get('reason', '')}: {condition.get('message', '')}".strip(),
            )
    return ConditionUpdate(
        "CertificateReady", UNKNOWN, Reason.ISSUING, "waiting for cert-manager to issue it"
    )
