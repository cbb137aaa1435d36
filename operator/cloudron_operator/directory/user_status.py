"""Each CloudronUser's status after a directory sync: Ready when the user is in the directory (and
whether a password is set), Ready=False with the reason when another user has their username or
email; written only when it changed, with a Warning Event when the reason is new."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from cloudron_operator.directory.dit import DirectoryUser
from cloudron_operator.directory.service import StatusWriter
from cloudron_operator.directory.state import UserProblem
from cloudron_operator.k8s import api as k8s
from cloudron_operator.models import API_VERSION
from cloudron_operator.status import FALSE, TRUE, ConditionUpdate, merge_conditions, status_patch
from cloudron_operator.store import Store

HOW_TO_SET = "python -m cloudron_operator user set-password {name}"


def desired_user_status(
    seen_status: Mapping[str, Any],
    generation: int,
    name: str,
    user: DirectoryUser | None,
    problem: UserProblem | None,
) -> dict[str, Any]:
    if problem is not None:
        ready = ConditionUpdate("Ready", FALSE, problem.reason, problem.message)
    elif user is not None and user.password_hash is None:
        message = f"in the directory; no password yet: set one with `{HOW_TO_SET.format(name=name)}`"
        ready = ConditionUpdate("Ready", TRUE, "NoPassword", message)
    else:
        ready = ConditionUpdate("Ready", TRUE, "InDirectory", "in the directory, with a password")
    return {
        "observedGeneration": generation,
        "passwordSet": bool(user is not None and user.password_hash),
        "conditions": merge_conditions(
            seen_status.get("conditions", []), [ready], generation, datetime.now(UTC)
        ),
    }


def user_status_writer(api: client.ApiClient, store: Store) -> StatusWriter:
    """What the directory calls after each sync."""

    def write(users: list[DirectoryUser], problems: dict[str, UserProblem]) -> None:
        by_username = {user.spec.username: user for user in users}
        for seen in store.users.values():
            record = seen.record
            user = by_username.get(str(record.spec.get("username", "")))
            desired = desired_user_status(
                seen.status, seen.generation, record.name, user, problems.get(record.name)
            )
            if not status_patch(seen.status, desired):
                continue
            obj = {
                "apiVersion": API_VERSION,
                "kind": "CloudronUser",
                "metadata": {"name": record.name},
                "status": desired,
            }
            written = k8s.apply(api, obj, subresource="status")
            store.users.record(written)
            problem = problems.get(record.name)
            previous = {c.get("type"): c for c in seen.status.get("conditions", [])}.get("Ready", {})
            if problem is not None and previous.get("reason") != problem.reason:
                _warn(api, record.name, record.uid, problem)

    return write


def _warn(api: client.ApiClient, name: str, uid: str, problem: UserProblem) -> None:
    now = datetime.now(UTC)
    event = client.CoreV1Event(
        metadata=client.V1ObjectMeta(generate_name=f"{name}.", namespace="default"),
        involved_object=client.V1ObjectReference(
            api_version=API_VERSION, kind="CloudronUser", name=name, uid=uid
        ),
        reason=problem.reason,
        message=problem.message,
        type="Warning",
        first_timestamp=now,
        last_timestamp=now,
        count=1,
        source=client.V1EventSource(component=k8s.FIELD_MANAGER),
    )
    client.CoreV1Api(api).create_namespaced_event("default", event)
