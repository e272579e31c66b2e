"""Fire times at the ends of the datetime range: the years 1 and 9999, in UTC and in the zone.

A fire time is an instant a ``datetime`` holds both in UTC (a store keeps it there) and
in the trigger's zone (the result is given there). Up to those ends the triggers answer
as anywhere else; past them, ``None``. Offsets in the year 1 are local mean time:
New York -04:56:02, Berlin +00:53:28.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from tickwork import CalendarIntervalTrigger, CronTrigger, IntervalTrigger, Trigger

UTC = timezone.utc
MIN = datetime.min.replace(tzinfo=UTC)  # 0001-01-01 00:00 UTC
MAX = datetime.max.replace(tzinfo=UTC)  # 9999-12-31 23:59:59.999999 UTC
PLUS_5 = timezone(timedelta(hours=5))


def cron(expression: str, zone: str) -> Callable[[], Trigger]:
    return lambda: CronTrigger(expression, timezone=zone)


def calendar(hour: int, zone: str, start: datetime) -> Callable[[], Trigger]:
    return lambda: CalendarIntervalTrigger(days=1, hour=hour, timezone=zone, start=start)


def hourly(zone: str, start: datetime) -> Callable[[], Trigger]:
    return lambda: IntervalTrigger(hours=1, timezone=zone, start=start)


NEXT, PREVIOUS = "next_after", "previous_before"

# (trigger, method, moment, expected fire time or None)
CASES = [
    pytest.param(
        cron("0 9 * * *", "America/New_York"), NEXT, MIN, "0001-01-01T09:00:00-04:56:02",
        id="cron-first-fire-west-of-utc",
    ),
    pytest.param(
        # 00:30 local on the 1st is in the year 0 in UTC: the 2nd is the first fire.
        cron("30 0 * * *", "Europe/Berlin"), NEXT, datetime(1, 1, 1, tzinfo=PLUS_5),
        "0001-01-02T00:30:00+00:53:28", id="cron-before-the-year-1-in-utc-east-of-utc",
    ),
    pytest.param(
        cron("* * * * *", "UTC"), NEXT, datetime(1, 1, 1, tzinfo=PLUS_5),
        "0001-01-01T00:00:00+00:00", id="cron-from-a-moment-before-the-year-1-in-utc",
    ),
    pytest.param(
        cron("30 0 * * *", "Europe/Berlin"), PREVIOUS, datetime(1, 1, 1, 12, tzinfo=UTC), None,
        id="cron-nothing-before-the-year-1-in-utc",
    ),
    pytest.param(
        cron("0 9 * * *", "Europe/Berlin"), PREVIOUS, MAX, "9999-12-31T09:00:00+01:00",
        id="cron-last-fire-east-of-utc",
    ),
    pytest.param(
        cron("0 9 * * *", "Europe/Berlin"), PREVIOUS, datetime(9999, 12, 31, 23, 30, tzinfo=UTC),
        "9999-12-31T09:00:00+01:00", id="cron-moment-in-the-year-10000-locally",
    ),
    pytest.param(
        # 19:00 in New York on the last day is in the year 10000 in UTC.
        cron("* * * * *", "America/New_York"), NEXT, datetime(9999, 12, 31, 23, 59, 30, tzinfo=UTC),
        None, id="cron-no-fire-in-the-year-10000-in-utc",
    ),
    pytest.param(
        cron("* * * * *", "America/New_York"), PREVIOUS, MAX, "9999-12-31T18:59:00-05:00",
        id="cron-last-fire-west-of-utc",
    ),
    pytest.param(
        calendar(9, "Europe/Berlin", datetime(9999, 1, 1, tzinfo=UTC)), PREVIOUS, MAX,
        "9999-12-31T09:00:00+01:00", id="calendar-last-fire-east-of-utc",
    ),
    pytest.param(
        calendar(9, "America/New_York", datetime(1, 1, 1, 6, tzinfo=UTC)), NEXT, MIN,
        "0001-01-01T09:00:00-04:56:02", id="calendar-first-fire-west-of-utc",
    ),
    pytest.param(
        calendar(19, "America/New_York", datetime(9999, 12, 1, tzinfo=UTC)), NEXT,
        datetime(9999, 12, 31, 12, tzinfo=UTC), None, id="calendar-no-fire-in-the-year-10000",
    ),
    pytest.param(
        # 23:00 UTC is in the year 10000 in Berlin: 22:00 UTC is the last it can show.
        hourly("Europe/Berlin", datetime(9999, 1, 1, tzinfo=UTC)), PREVIOUS, MAX,
        "9999-12-31T23:00:00+01:00", id="interval-last-fire-east-of-utc",
    ),
    pytest.param(
        # Its first fires are in the year 0 in New York: 05:00 UTC is the first it can show.
        hourly("America/New_York", datetime(1, 1, 1, tzinfo=UTC)), NEXT, MIN,
        "0001-01-01T00:03:58-04:56:02", id="interval-first-fire-west-of-utc",
    ),
    pytest.param(
        hourly("America/New_York", datetime(9999, 1, 1, tzinfo=UTC)), NEXT,
        datetime(9999, 12, 31, 23, tzinfo=UTC), None, id="interval-no-fire-in-the-year-10000",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("build", "method", "moment", "expected"), CASES)
def test_fire_times_at_the_ends_of_the_range(
    build: Callable[[], Trigger], method: str, moment: datetime, expected: str | None
) -> None:
    fire = getattr(build(), method)(moment)
    assert (None if fire is None else fire.isoformat()) == expected
    if fire is not None:
        fire.astimezone(UTC)  # a store can keep it


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Berlin", "Pacific/Kiritimati"])
def test_every_fire_near_the_ends_is_one_a_datetime_holds(zone: str) -> None:
    trigger = CronTrigger("*/7 * * * *", timezone=zone)
    last = trigger.previous_times(MAX, 300)
    first = trigger.next_times(MIN, 300)
    for fire in [*first, *last]:
        fire.astimezone(UTC)
    # Each walk agrees with the other direction, so no fire is skipped at the ends.
    assert trigger.next_after(last[0]) is None
    assert trigger.previous_before(first[0]) is None
    assert trigger.previous_times(first[-1], 299) == first[-2::-1]


def test_a_calendar_start_with_no_date_in_its_zone_is_refused() -> None:
    # datetime.min in UTC is 0000-12-31 19:03:58 in New York: no anchor date to count from.
    with pytest.raises(ValueError, match="before the year 1 in timezone America/New_York"):
        CalendarIntervalTrigger(days=1, timezone="America/New_York", start=MIN)
