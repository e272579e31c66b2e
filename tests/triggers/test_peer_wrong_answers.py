"""Regression tests: cron fire times that popular schedulers get wrong, and tickwork gets right.

One test per row of ``peer-wrong-answers.md`` that concerns cron expressions; the test
name carries the row number and the library that answers wrongly. Each docstring quotes
the wrong answer; the assertion is the right one under our rules (see the time-engine
issue), worked out by hand and checked against tzdata, never taken from tickwork.
Rows 21 and 22 (interval triggers, jitter) are not cron rows and live elsewhere.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from tickwork import CronTrigger


def next_fires(expression: str, zone: str, start: str, count: int = 1) -> list[str]:
    trigger = CronTrigger(expression, timezone=zone)
    return [t.isoformat() for t in trigger.next_times(datetime.fromisoformat(start), count)]


def test_row01_apscheduler_midnight_the_day_after_spring_forward() -> None:
    """``CronTrigger(hour=0, minute=0)``: after the 2022-03-13 fire, APScheduler says 03-15."""
    # The start is the previous fire itself, midnight PST on the day clocks spring forward.
    assert next_fires("0 0 * * *", "America/Los_Angeles", "2022-03-13T00:00:00-08:00") == [
        "2022-03-14T00:00:00-07:00"
    ]


def test_row02_apscheduler_nth_weekday_is_honoured() -> None:
    """``mon#2``: APScheduler drops the ``#2`` and answers Monday 2024-02-05."""
    assert next_fires("0 9 * * mon#2", "UTC", "2024-02-02T00:00:00+00:00") == [
        "2024-02-12T09:00:00+00:00"
    ]


def test_row03_apscheduler_weekday_zero_is_sunday() -> None:
    """``0 0 * * 0``: APScheduler reads 0 as Monday and answers 2024-01-08."""
    assert next_fires("0 0 * * 0", "UTC", "2024-01-01T00:00:00+00:00") == [
        "2024-01-07T00:00:00+00:00"
    ]


def test_row04_apscheduler_gap_time_merges_with_real_slot() -> None:
    """``0 2,3 * * *``: APScheduler fires at the instant 07:00Z twice."""
    assert next_fires("0 2,3 * * *", "America/New_York", "2024-03-09T12:00:00-05:00", 3) == [
        "2024-03-10T03:00:00-04:00",
        "2024-03-11T02:00:00-04:00",
        "2024-03-11T03:00:00-04:00",
    ]


def test_row05_apscheduler_gap_time_fires_at_end_of_gap() -> None:
    """``30 2 * * *``: APScheduler answers 02:30-05:00, a time that does not exist."""
    assert next_fires("30 2 * * *", "America/New_York", "2024-03-09T12:00:00-05:00") == [
        "2024-03-10T03:00:00-04:00"
    ]


def test_row06_apscheduler_missing_midnight_in_havana() -> None:
    """``0 0 * * *`` in Havana, where 2024-03-10 has no midnight: APScheduler skips the day."""
    assert next_fires("0 0 * * *", "America/Havana", "2024-03-09T12:00:00-05:00") == [
        "2024-03-10T01:00:00-04:00"
    ]


def test_row07_croniter_apscheduler_overlap_fires_once() -> None:
    """``30 1 * * *``: croniter and APScheduler fire at 01:30 EDT and again at 01:30 EST."""
    assert next_fires("30 1 * * *", "America/New_York", "2024-11-02T12:00:00-04:00", 2) == [
        "2024-11-03T01:30:00-04:00",
        "2024-11-04T01:30:00-05:00",
    ]


def test_row08_croniter_star_prefixed_day_field_means_and() -> None:
    """``0 0 */2 * 1``: croniter ORs the day fields (01-03, 01-05, ...)."""
    assert next_fires("0 0 */2 * 1", "UTC", "2024-01-01T00:00:00+00:00", 2) == [
        "2024-01-15T00:00:00+00:00",
        "2024-01-29T00:00:00+00:00",
    ]


def test_row09_croniter_single_month_range() -> None:
    """``0 0 1 JAN-JAN *``: croniter answers 2024-03-01."""
    assert next_fires("0 0 1 JAN-JAN *", "UTC", "2024-02-02T00:00:00+00:00") == [
        "2025-01-01T00:00:00+00:00"
    ]


def test_row10_cronsim_full_range_spelling_is_a_cadence() -> None:
    """``0-59 0-23 * * *``: cronsim (Debian's rule by spelling) has an hour with no fire."""
    start = "2024-11-03T01:58:00-04:00"
    expected = [
        "2024-11-03T01:59:00-04:00",
        "2024-11-03T01:00:00-05:00",
        "2024-11-03T01:01:00-05:00",
    ]
    assert next_fires("0-59 0-23 * * *", "America/New_York", start, 3) == expected
    # And across the whole repeated hour, exactly what '* * * * *' does.
    assert next_fires("0-59 0-23 * * *", "America/New_York", start, 90) == next_fires(
        "* * * * *", "America/New_York", start, 90
    )


def test_row11_croniter_2022_keeps_wall_time_after_fall_back() -> None:
    """``00 20 * * *`` in Paris: croniter (2022) gives 2022-10-31 21:00+01:00 as second fire."""
    assert next_fires("00 20 * * *", "Europe/Paris", "2022-10-30T00:00:00+02:00", 2) == [
        "2022-10-30T20:00:00+01:00",
        "2022-10-31T20:00:00+01:00",
    ]


def test_row12_croniter_older_gap_time_fires_the_same_night() -> None:
    """``1 2 * * *`` in Paris: older croniter answers 2020-03-30 01:01+02:00."""
    # 02:01 does not exist on 2020-03-29; the anchored time fires at the end of the gap,
    # 03:00 (never 02:01 plus the gap, 03:01).
    assert next_fires("1 2 * * *", "Europe/Paris", "2020-03-29T01:59:55+01:00") == [
        "2020-03-29T03:00:00+02:00"
    ]


def test_row13_croniter_older_wall_time_kept_across_fall_back() -> None:
    """``0 8 * * 1-5``: older croniter's *previous* fire from 2018-11-04 05:00 EST is 09:00 EDT.

    The row's point is that Friday's fire is 08:00 EDT (the wall time is kept, not
    shifted by the offset change that follows): ``previous_before`` answers it, and
    walking forward from one second before it gives it again, then Monday 08:00 EST
    across the fall-back night.
    """
    trigger = CronTrigger("0 8 * * 1-5", timezone="America/New_York")
    before = datetime.fromisoformat("2018-11-04T05:00:00-05:00")
    assert [t.isoformat() for t in trigger.previous_times(before, 2)] == [
        "2018-11-02T08:00:00-04:00",
        "2018-11-01T08:00:00-04:00",
    ]
    assert next_fires("0 8 * * 1-5", "America/New_York", "2018-11-02T07:59:59-04:00", 2) == [
        "2018-11-02T08:00:00-04:00",
        "2018-11-05T08:00:00-05:00",
    ]


def test_row14_croniter_6_after_the_overlap_is_plain_time() -> None:
    """``10 3 * * 0`` in Prague: croniter 6.0 answers 2025-10-26 04:10."""
    assert next_fires("10 3 * * 0", "Europe/Prague", "2025-10-19T12:00:00+02:00") == [
        "2025-10-26T03:10:00+01:00"
    ]


def test_row15_croniter_before_7_cadence_skips_gap_hour() -> None:
    """``0 * * * *`` at Lord Howe (30-minute gap): older croniter invents 02:30+11:00."""
    # A cadence has no slot in the gap 02:00-02:29:59, and 02:30 is not on the hour.
    assert next_fires("0 * * * *", "Australia/Lord_Howe", "2019-10-06T01:03:00+10:30") == [
        "2019-10-06T03:00:00+11:00"
    ]


def test_row16_cronie_cronnext_sunday_of_spring_forward() -> None:
    """``0 12 * * 0`` in Berlin: cronie's ``cronnext`` skips to 2022-04-03."""
    assert next_fires("0 12 * * 0", "Europe/Berlin", "2022-03-24T12:00:00+01:00") == [
        "2022-03-27T12:00:00+02:00"
    ]


def test_row17_cronie_cronnext_first_minute_of_the_quarter() -> None:
    """``* * * */3 *`` in New York: cronie's ``cronnext`` answers 2015-04-01 01:00 EDT."""
    assert next_fires("* * * */3 *", "America/New_York", "2015-02-15T00:00:00-05:00") == [
        "2015-04-01T00:00:00-04:00"
    ]


def test_row18_spring_missing_midnight_in_cairo() -> None:
    """Spring's ``0 0 */2 * * ?`` in Cairo skips all of 2025-04-25.

    Seconds first: second 0, minute 0, every even hour. The hour set {0, 2, ..., 22} is
    not all 24 hours, so the schedule is anchored. Cairo has no 2025-04-25 00:00
    (23:59:59 +02:00 is followed by 01:00 +03:00), so midnight fires once at 01:00, then
    the even hours go on: the table's "01:00, 02:00, ..." continues 04:00, 06:00.
    """
    assert next_fires("0 0 */2 * * ?", "Africa/Cairo", "2025-04-24T21:10:00+02:00", 5) == [
        "2025-04-24T22:00:00+02:00",
        "2025-04-25T01:00:00+03:00",
        "2025-04-25T02:00:00+03:00",
        "2025-04-25T04:00:00+03:00",
        "2025-04-25T06:00:00+03:00",
    ]


def test_row19_schedule_daily_at_in_another_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """``every().day.at("00:00", "US/Central")`` on a Budapest host at 2023-04-14 04:50:
    schedule <= 1.2.0 answers 2023-04-15 07:00 local, a day late.

    Midnight in Chicago (CDT, -05:00) is 07:00 in Budapest (CEST, +02:00), and at 04:50
    in Budapest it is 21:50 the evening before in Chicago: the next run is 2023-04-14
    07:00 Budapest time. The host's zone (here the scheduler's default timezone, read
    from TZ) must not change that.
    """
    from zoneinfo import ZoneInfo

    from tickwork import Scheduler
    from tickwork.executors import InlineExecutor
    from tickwork.testing import FakeClock, run_until

    start = datetime.fromisoformat("2023-04-14T04:50:00+02:00")
    for host in ("Europe/Budapest", "UTC", "Asia/Kolkata", "America/Santiago", "US/Central"):
        monkeypatch.setenv("TZ", host)
        runs: list[datetime] = []
        scheduler = Scheduler(clock=FakeClock(start), executors={"default": InlineExecutor()})
        assert scheduler.timezone == ZoneInfo(host)
        job = scheduler.every().day.at("00:00", "US/Central").do(runs.append, start)
        assert job.next_fire is not None
        assert job.next_fire.isoformat() == "2023-04-14T00:00:00-05:00"
        budapest = job.next_fire.astimezone(ZoneInfo("Europe/Budapest"))
        assert budapest.isoformat() == "2023-04-14T07:00:00+02:00"
        scheduler.open()
        run_until(scheduler, datetime.fromisoformat("2023-04-14T07:00:00+02:00"))
        scheduler.shutdown()
        assert len(runs) == 1, host


def test_row20_schedule_hourly_through_the_repeated_hour() -> None:
    """``every().hour`` through a fall-back night: schedule 1.2.2 has no runs in the
    repeated hour; hourly by real time means one run per elapsed hour, in both passes.

    New York, 2024-11-03: 02:00 EDT becomes 01:00 EST, so from 00:00 EDT to 04:00 EST five
    hours pass, and the 01:00 wall time is lived twice.
    """
    from itertools import pairwise
    from zoneinfo import ZoneInfo

    from tickwork import Scheduler, current_run
    from tickwork.executors import InlineExecutor
    from tickwork.testing import FakeClock, run_until

    zone = ZoneInfo("America/New_York")
    start = datetime.fromisoformat("2024-11-03T00:00:00-04:00")
    scheduler = Scheduler(
        clock=FakeClock(start), timezone=zone, executors={"default": InlineExecutor()}
    )
    runs: list[datetime] = []
    scheduler.every().hour.do(lambda: runs.append(current_run().scheduled_at))
    scheduler.open()
    run_until(scheduler, datetime.fromisoformat("2024-11-03T04:00:00-05:00"))
    scheduler.shutdown()
    assert [run.astimezone(zone).isoformat() for run in runs] == [
        "2024-11-03T01:00:00-04:00",
        "2024-11-03T01:00:00-05:00",
        "2024-11-03T02:00:00-05:00",
        "2024-11-03T03:00:00-05:00",
        "2024-11-03T04:00:00-05:00",
    ]
    # (as instants: Python subtracts two datetimes of one zone by wall time)
    instants = [run.timestamp() for run in runs]
    assert [later - earlier for earlier, later in pairwise(instants)] == [3600.0] * 4


@pytest.mark.parametrize(
    ("zone", "start", "expected"),
    [
        ("Europe/Berlin", "2024-03-01T00:00:00+01:00", "2024-04-01T00:00:00+02:00"),
        ("Europe/Berlin", "2024-03-30T23:00:00+01:00", "2024-04-01T00:00:00+02:00"),
        ("America/New_York", "2024-03-01T00:00:00-05:00", "2024-04-01T00:00:00-04:00"),
        ("America/New_York", "2024-03-09T23:59:00-05:00", "2024-04-01T00:00:00-04:00"),
        ("America/New_York", "2025-03-05T12:00:00-05:00", "2025-04-01T00:00:00-04:00"),
    ],
)
def test_note_apscheduler_april_first_is_not_skipped(zone: str, start: str, expected: str) -> None:
    """``0 0 1 * *`` asked in March before the DST change: APScheduler 3.11.3 answers May 1."""
    assert next_fires("0 0 1 * *", zone, start) == [expected]
