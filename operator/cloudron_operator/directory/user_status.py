"""Each CloudronUser's status after a directory sync: Ready when the user is in the directory (and
whether a password is set), Ready=False with the reason when another user has their username or
email; written only when it changed, with a Warning Event when the reason is new."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from cloudron_operator.directory.dit import DirectoryUser
from cloudron_operator.directory.invites import LINK_KEY, invite_actions, invite_secret
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
    *,
    invite: str | None = None,
) -> dict[str, Any]:
    """`invite`: where the user's invite link is (a Secret's namespace/name, and until when)."""
    if problem is not None:
        ready = ConditionUpdate("Ready", FALSE, problem.reason, problem.message)
    elif user is not None and user.password_hash is None:
        how = f"set one with `{HOW_TO_SET.format(name=name)}`"
        if invite:
            how = f"send the user the invite link in {invite}, or {how}"
        ready = ConditionUpdate("Ready", TRUE, "NoPassword", f"in the directory; no password yet: {how}")
    else:
        ready = ConditionUpdate("Ready", TRUE, "InDirectory", "in the directory, with a password")
    return {
        "observedGeneration": generation,
        "passwordSet": bool(user is not None and user.password_hash),
        "conditions": merge_conditions(
            seen_status.get("conditions", []), [ready], generation, datetime.now(UTC)
        ),
    }


def user_status_writer(
    api: client.ApiClient, store: Store, users_namespace: str = "", login_url: str = ""
) -> StatusWriter:
    """What the directory calls after each sync: the users' invites (with `login_url`, the login
    service's), then their statuses."""

    def write(users: list[DirectoryUser], problems: dict[str, UserProblem]) -> None:
        by_username = {user.spec.username: user for user in users}
        if login_url:
            keep_invites(api, store, users_namespace, login_url, in_directory=by_username, problems=problems)
        invites = {seen.username: seen for seen in store.invites.values()}
        for seen in store.users.values():
            record = seen.record
            user = by_username.get(str(record.spec.get("username", "")))
            invite = invites.get(str(record.spec.get("username", ""))) if login_url else None
            where = (
                f"Secret {users_namespace}/{invite.name} (key {LINK_KEY}, valid until {invite.expires})"
                if invite
                else None
            )
            desired = desired_user_status(
                seen.status, seen.generation, record.name, user, problems.get(record.name), invite=where
            )
            if not status_patch(seen.status, desired):
                continue
            obj = {
                "apiVersion": API_VERSION,
                "kind": "CloudronUser",
                "metadata": {"name": record.name},
                "status": desired,
            }
            try:
                written = k8s.apply(api, obj, subresource="status")
            except k8s.ApiError as error:
                if error.not_found:  # deleted since the store's copy: its watch event removes it
                    continue
                raise
            store.users.record(written)
            problem = problems.get(record.name)
            previous = {c.get("type"): c for c in seen.status.get("conditions", [])}.get("Ready", {})
            if problem is not None and previous.get("reason") != problem.reason:
                _warn(api, record.name, record.uid, problem)

    return write


def keep_invites(
    api: client.ApiClient,
    store: Store,
    namespace: str,
    login_url: str,
    *,
    in_directory: Mapping[str, DirectoryUser],
    problems: Mapping[str, UserProblem],
) -> None:
    """Make the invites that are missing or expired, delete those used up (a password is set).
    A user refused a place in the directory (a duplicate) gets none: their username is another's."""
    users = []
    for seen in store.users.values():
        user = in_directory.get(str(seen.record.spec.get("username", "")))
        if user is not None and seen.record.name not in problems:
            spec = user.spec.model_dump(by_alias=True, exclude_none=True)
            users.append(
                (_as_object(seen.record.name, seen.record.uid, spec), user.password_hash is not None)
            )
    held = {seen.username: (seen.name, seen.expires) for seen in store.invites.values()}
    actions = invite_actions(users, held, datetime.now(UTC))
    for name in actions.drop:  # the watch brings the deletion; deleting again is harmless
        k8s.delete(api, "v1", "Secret", namespace, name)
    for invited in actions.make:
        try:
            store.invites.record(
                k8s.create(api, invite_secret(invited, namespace, login_url, datetime.now(UTC)))
            )
        except k8s.ApiError as error:
            if error.status != 409:  # one made since this sync's read: the watch brings it
                raise


def _as_object(name: str, uid: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": uid}, "spec": dict(spec)}


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
