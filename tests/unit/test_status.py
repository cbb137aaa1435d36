from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cloudron_operator.children import certificate_condition, workload_condition
from cloudron_operator.status import (
    MAX_MESSAGE_LENGTH,
    ConditionUpdate,
    merge_conditions,
    ready_condition,
    status_patch,
)

EARLIER = "2026-01-01T00:00:00Z"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_transition_time_is_kept_while_the_status_stays_the_same() -> None:
    current = [
        {"type": "Ready", "status": "False", "reason": "A", "message": "a", "lastTransitionTime": EARLIER}
    ]
    same = merge_conditions(current, [ConditionUpdate("Ready", "False", "B", "b")], 2, NOW)
    flipped = merge_conditions(current, [ConditionUpdate("Ready", "True", "Running", "ok")], 2, NOW)
    assert same[0]["lastTransitionTime"] == EARLIER
    assert same[0]["reason"] == "B"
    assert same[0]["observedGeneration"] == 2
    assert flipped[0]["lastTransitionTime"] == "2026-11-25T12:00:00Z"


def test_ready_carries_the_first_part_that_is_not_true() -> None:
    parts = [
        ConditionUpdate("WorkloadAvailable", "True", "PodsReady", "1/1"),
        ConditionUpdate("CertificateReady", "Unknown", "Issuing", "waiting"),
    ]
    assert ready_condition(parts, "Running", "ok") == ConditionUpdate(
        "Ready", "Unknown", "Issuing", "waiting"
    )
    assert ready_condition(parts[:1], "Running", "ok").status == "True"


def test_an_unchanged_status_gives_an_empty_patch() -> None:
    current = {"phase": "Running", "url": "https://a.example.com"}
    assert status_patch(current, dict(current)) == {}
    assert status_patch(current, {"phase": "Stopped", "url": "https://a.example.com"}) == {"phase": "Stopped"}


def test_workload_is_available_only_when_the_rollout_is_complete() -> None:
    deployment = {
        "metadata": {"generation": 2},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1, "updatedReplicas": 1, "readyReplicas": 1},
    }
    assert workload_condition(deployment, running=True).status == "False"
    deployment["status"]["observedGeneration"] = 2
    assert workload_condition(deployment, running=True).status == "True"
    assert workload_condition(deployment, running=False).reason == "Stopped"
    assert workload_condition(None, running=True).status == "Unknown"


FORBIDDEN = (
    'pods "wiki-6f7d9c" is forbidden: violates PodSecurity "baseline:latest": non-default capabilities '
    '(container "app" must not include "NET_RAW" in securityContext.capabilities.add)'
)


def test_pods_the_replicaset_cannot_create_are_said_with_the_api_servers_words() -> None:
    failure = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": FORBIDDEN}
    deployment: dict[str, Any] = {
        "metadata": {"generation": 1},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 1,
            "conditions": [
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetCreated"},
                failure,
            ],
        },
    }
    condition = workload_condition(deployment, running=True)
    assert (condition.status, condition.reason) == ("False", "PodsNotCreated")
    assert condition.message == f"0/1 pods ready: the pods cannot be created: {FORBIDDEN}"
    failure["status"] = "False"  # the controller cleared it
    assert workload_condition(deployment, running=True).reason == "PodsNotReady"


def test_certificate_condition_follows_cert_managers_ready_condition() -> None:
    issued = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    failed = {
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Failed", "message": "x"}]}
    }
    assert certificate_condition(issued).status == "True"
    assert certificate_condition(failed).status == "False"
    assert "Failed" in certificate_condition(failed).message
    assert certificate_condition({"status": {}}).status == "Unknown"


def test_a_message_past_the_conditions_limit_is_cut_and_says_so() -> None:
    long = "tcpPorts." + "X" * 40000 + ": not a valid name"
    (condition,) = merge_conditions([], [ConditionUpdate("Ready", "False", "InvalidManifest", long)], 1, NOW)
    assert len(condition["message"]) == MAX_MESSAGE_LENGTH
    assert condition["message"].startswith("tcpPorts.XXX") and condition["message"].endswith(" [...]")
    (short,) = merge_conditions([], [ConditionUpdate("Ready", "False", "InvalidManifest", "short")], 1, NOW)
    assert short["message"] == "short"
