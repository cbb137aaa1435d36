"""Who may use an app (CLOUDRON.md §4.9): no restriction means every active user; otherwise the
users named and the members of the groups named; admins and owners always."""

from __future__ import annotations

from cloudron_operator.models import ADMIN_ROLES, AccessSpec, CloudronUserSpec


def may_use(user: CloudronUserSpec, access: AccessSpec | None) -> bool:
    if not user.active:
        return False
    if access is None or user.role in ADMIN_ROLES or user.username in access.users:
        return True
    return any(group in access.groups for group in user.groups)
