from __future__ import annotations

import re

import pytest

from cloudron_operator.manifest.cron import NAMED_SCHEDULES, check_schedule, kubernetes_schedule

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "schedule",
    [
        "* * * * *",
        "*/5 * * * *",
        "0 4 * * *",
        "0,30 8-18/2 1-15 jan-JUN 0",
        "5/15 0 * * *",
        "59 23 31 12 7",
        "0 0 * * Mon-fri",
        *sorted(NAMED_SCHEDULES),
    ],
)
def test_valid_schedules(schedule: str) -> None:
    check_schedule(schedule)


@pytest.mark.parametrize(
    ("schedule", "reason"),
    [
        ("0 */5 * * * *", "must be 5 space-separated cron fields"),
        ("* * * *", "must be 5 space-separated cron fields"),
        ("@every", "must be 5 space-separated cron fields"),
        ("0  * * *", "hour field: cannot read ''"),
        ("61 * * * *", "minute field: '61' is outside 0-59"),
        ("* 24 * * *", "hour field: '24' is outside 0-23"),
        ("* * 0 * *", "day of month field: '0' is outside 1-31"),
        ("* * * 13 *", "month field: '13' is outside 1-12"),
        ("* * * * 8", "day of week field: '8' is outside 0-7"),
        ("*/0 * * * *", "minute field: step must not be 0"),
        ("* 18-8 * * *", "hour field: range '18-8' runs backwards"),
        ("* * ? * *", "day of month field: cannot read '?'"),
        ("*-5 * * * *", "minute field: cannot read '*-5'"),
        ("0 0 L * *", "day of month field: unknown name 'L'"),
        ("0 0 jan * *", "day of month field: unknown name 'jan'"),
        ("0 0 * * jan", "day of week field: unknown name 'jan'"),
        ("0 0 1,,2 * *", "day of month field: cannot read ''"),
    ],
)
def test_invalid_schedules_say_which_field_and_why(schedule: str, reason: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(reason)}"):
        check_schedule(schedule)


@pytest.mark.parametrize(
    ("schedule", "cronjob"),
    [
        # Found by the fuzzing (issue #25): a CronJob refuses day of week 7, which Cloudron takes as Sunday.
        ("0 0 * * 7", "0 0 * * 0"),
        ("59 23 31 12 7", "59 23 31 12 0"),
        ("0 3 * * 5-7", "0 3 * * 0,5,6"),
        ("0 3 * * 1,7", "0 3 * * 0,1"),
        ("0 3 * * 1/3", "0 3 * * 0,1,4"),
        ("0 3 * * mon-fri,7", "0 3 * * 0,1,2,3,4,5"),
        # Kept as written: nothing names 7 (a star's range is the CronJob's own 0-6).
        ("0 0 * * 0", "0 0 * * 0"),
        ("0 0 * * */2", "0 0 * * */2"),
        ("0 0 * * Mon-fri", "0 0 * * Mon-fri"),
        ("0,30 8-18/2 1-15 jan-JUN 0", "0,30 8-18/2 1-15 jan-JUN 0"),
        ("@weekly", "@weekly"),
    ],
)
def test_a_cronjob_gets_sunday_as_0(schedule: str, cronjob: str) -> None:
    check_schedule(schedule)
    assert kubernetes_schedule(schedule) == cronjob
