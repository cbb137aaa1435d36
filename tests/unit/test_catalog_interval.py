"""spec.interval of an AppCatalog: a Go-style duration, raised to the 10 s floor (and said so); and
when the daemon reads a catalog again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloudron_operator.catalog.cache import LoadedCatalog
from cloudron_operator.catalog.document import parse_catalog
from cloudron_operator.handlers.catalogs import FAILED_RETRY_SECONDS, next_read
from cloudron_operator.reconcile.catalogs import MIN_INTERVAL_SECONDS, Interval, catalog_interval

pytestmark = pytest.mark.unit

START = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10), ("30s", 30), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("90m", 5400), ("2h0m5s", 7205)],
)
def test_durations_in_seconds(text: str, seconds: int) -> None:
    assert catalog_interval(text) == Interval(seconds)


@pytest.mark.parametrize("text", ["0s", "1s", "9s"])
def test_an_interval_below_the_floor_is_raised_to_it_and_said(text: str) -> None:
    interval = catalog_interval(text)
    assert interval.seconds == MIN_INTERVAL_SECONDS == 10
    assert interval.note == f"spec.interval {text} is below the 10s floor: read every 10s"


@pytest.mark.parametrize("text", ["", "1d", "1.5h", "h", "10", "1m1h", "-5s", "1h 30m"])
def test_what_is_not_a_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        catalog_interval(text)


def _loaded(fetched_at: datetime) -> LoadedCatalog:
    catalog = parse_catalog(b'{"versions": {}}')
    return LoadedCatalog(catalog, uid="u", generation=1, fetched_at=fetched_at, changed_at=fetched_at)


def test_the_next_read_is_an_interval_after_the_last() -> None:
    assert next_read({"interval": "10m"}, START, None, failed=False) == START + timedelta(minutes=10)
    assert next_read({}, START, None, failed=False) == START + timedelta(hours=1), "the default, 1h"
    assert next_read({"interval": "2s"}, START, None, failed=False) == START + timedelta(seconds=10)


def test_a_read_by_a_handler_counts_as_the_last() -> None:
    later = START + timedelta(minutes=3)
    assert next_read({"interval": "10m"}, START, _loaded(later), failed=False) == later + timedelta(
        minutes=10
    )
    assert next_read({"interval": "10m"}, later, _loaded(START), failed=False) == later + timedelta(
        minutes=10
    )


def test_a_failed_read_is_tried_again_sooner_than_a_long_interval() -> None:
    assert next_read({"interval": "1h"}, START, None, failed=True) == START + timedelta(
        seconds=FAILED_RETRY_SECONDS
    )
    assert next_read({"interval": "10s"}, START, None, failed=True) == START + timedelta(seconds=10)


def test_an_interval_that_is_not_a_duration_waits_an_hour() -> None:
    assert next_read({"interval": "soon"}, START, None, failed=False) == START + timedelta(hours=1)
