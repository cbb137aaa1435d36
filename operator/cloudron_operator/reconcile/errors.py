"""What stops a pass, and what each stop becomes, in one place.

- `InvalidApp`: the app cannot run as it is (its spec, its manifest, a kind the cluster lacks):
  `Ready=False` with the reason, a Warning Event when that changed, and the generation counts as
  handled (kopf does not retry; the next pass comes with a new spec or the resync).
- `k8s.ApiError` that is retriable (a conflict, throttling, the API server down or not serving a
  kind yet): kopf retries the pass after `RETRY_DELAY`.
- any other `k8s.ApiError` from a child's apply: the API server refused what the operator built,
  which only a change of the spec (or of the operator) fixes: `Ready=False`, reason `ApplyFailed`.
- An addon that waits for its server is not an error here: the pass reports it in `AddonsReady`
  and raises kopf's TemporaryError itself (`app_pass.ADDON_RETRY_DELAY`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import kopf

from cloudron_operator.k8s import api as k8s
from cloudron_operator.models.conditions import Reason
from cloudron_operator.reconcile.status import RETRY_DELAY, report_invalid

if TYPE_CHECKING:
    from cloudron_operator.runtime import Runtime


class InvalidApp(Exception):
    """The app's spec or manifest cannot be run; `reason` and the message tell the user what to fix."""

    def __init__(self, reason: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after  # what it waits for may come by itself: kopf tries again then


@contextmanager
def reported(context: Runtime, body: kopf.Body) -> Iterator[None]:
    """Run a pass of the app `body`; what stops it becomes what the module's docstring says."""
    try:
        yield
    except InvalidApp as invalid:
        _report_invalid(
            context, body, invalid.reason, str(invalid), mark_reconciled=invalid.retry_after is None
        )
        if invalid.retry_after is not None:
            raise kopf.TemporaryError(str(invalid), delay=invalid.retry_after) from invalid
    except k8s.ApiError as error:
        if error.retriable:
            raise kopf.TemporaryError(f"the API server answered {error}", delay=RETRY_DELAY) from error
        message = f"the API server refused a child: {error.message}"
        _report_invalid(context, body, Reason.APPLY_FAILED, message)


def _report_invalid(
    context: Runtime, body: kopf.Body, reason: str, message: str, *, mark_reconciled: bool = True
) -> None:
    written = report_invalid(
        context.api,
        body,
        reason,
        message,
        mark_reconciled=mark_reconciled and context.status_keeps_reconciled,
    )
    if written is not None:
        context.store.record(written)
