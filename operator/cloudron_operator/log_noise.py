"""Keep kopf's per-event success lines of the watch-event handlers out of the INFO log.

kopf logs every handler's success at INFO. For the handlers that follow every watch event of every
app and child, that is a line per event (about 15 000 while a thousand apps converge) saying only
that memory was updated; the passes' own lines, warnings and errors stay. `debug` shows them all.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

KOPF_OBJECTS_LOGGER = "kopf.objects"


class QuietEventHandlers(logging.Filter):
    """Drops the INFO line "Handler '<id>' succeeded." of the named handlers; keeps everything else."""

    def __init__(self, handler_ids: Iterable[str]) -> None:
        super().__init__()
        self._messages = frozenset(f"Handler {handler_id!r} succeeded." for handler_id in handler_ids)

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno != logging.INFO or record.getMessage() not in self._messages


def quiet_event_handlers(handler_ids: Iterable[str]) -> None:
    logging.getLogger(KOPF_OBJECTS_LOGGER).addFilter(QuietEventHandlers(handler_ids))
