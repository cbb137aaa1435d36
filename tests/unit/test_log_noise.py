"""The INFO log keeps every line but the per-event success lines of the watch-event handlers."""

from __future__ import annotations

import logging

import pytest

from cloudron_operator.handlers.apps import WATCH_EVENT_HANDLERS
from cloudron_operator.log_noise import QuietEventHandlers


def _record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("kopf.objects", level, __file__, 1, message, None, None)


@pytest.mark.parametrize("handler", WATCH_EVENT_HANDLERS)
def test_a_watch_event_handlers_success_is_not_logged_at_info(handler: str) -> None:
    assert not QuietEventHandlers(WATCH_EVENT_HANDLERS).filter(
        _record(logging.INFO, f"Handler {handler!r} succeeded.")
    )


@pytest.mark.parametrize(
    ("level", "message"),
    [
        (logging.INFO, "Handler 'reconcile_handler' succeeded."),  # a pass: kept
        (logging.INFO, "Resuming is processed: 1 succeeded; 0 failed."),
        (logging.ERROR, "Handler 'child_changed' failed with an exception. Will ignore."),
        (logging.WARNING, "Handler 'app_event' succeeded."),  # not INFO: not this filter's business
    ],
)
def test_every_other_line_is_kept(level: int, message: str) -> None:
    assert QuietEventHandlers(WATCH_EVENT_HANDLERS).filter(_record(level, message))
