"""``CronTrigger.count_between``: how many fire times lie in (after, until], computed
(days whose clocks keep one offset counted from the fields, the others walked), always
equal to walking the fires one ``next_after`` at a time; and what it is for, a missed
count after a long downtime that is exact."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwork import CronTrigger, EventKind, Scheduler
from tickwork.executors import InlineExecutor
from tickwork.testing import FakeClock

from .test_cron_properties import TRANSITIONS, Spec, build, specs

UTC = timezone.utc
US = timedelta(microseconds=1)


def walked(trigger: CronTrigger, after: datetime, until: datetime) -> int:
    count = 0
    moment = trigger.next_after(after)
    while moment is not None and moment.astimezone(UTC) <= until.astimezone(UTC):
        count += 1
        moment = trigger.next_after(moment)
    return count


#: Expressions with the day specials, seconds and years, beside the generated ones.
SPECIAL = [
    "*/7 * * * * *",
    "30 1,2,3 * * *",
    "0 0 L * *",
    "0 12 15W * *",
    "0 9 * * 5#3",
    "0 9 * * 5L",
    "0 0 LW * *",
    "*/20 2 * * * *",
    "0 30 2 * * * 2024,2025",
    "15 * * * sat,sun",
]


@given(
    spec=specs(),
    where=st.sampled_from(TRANSITIONS),
    lead=st.integers(-4 * 86_400_000_000, 2 * 86_400_000_000),
    span=st.integers(0, 6 * 86_400_000_000),
)
def test_counting_agrees_with_walking_around_transitions(
    spec: Spec, where: tuple[str, datetime], lead: int, span: int
) -> None:
    zone, transition = where
    trigger = build(spec, zone)
    if trigger is None:
        return
    after = transition + lead * US
    until = after + span * US
    assert trigger.count_between(after, until) == walked(trigger, after, until)


@pytest.mark.parametrize("expression", SPECIAL)
@pytest.mark.parametrize(("zone", "transition"), TRANSITIONS[:6])
@given(lead=st.integers(-40 * 86_400, 2 * 86_400), span=st.integers(0, 45 * 86_400))
def test_counting_agrees_with_walking_for_the_day_specials(
    expression: str, zone: str, transition: datetime, lead: int, span: int
) -> None:
    trigger = CronTrigger(expression, timezone=zone)
    if len(expression.split()) == 6 and "*/7" in expression:
        span %= 2 * 86_400  # (walking a fire every 7 s costs: two days, 25,000 fires)
    after = transition + timedelta(seconds=lead, microseconds=lead % 7)
    until = after + timedelta(seconds=span)
    assert trigger.count_between(after, until) == walked(trigger, after, until)


@pytest.mark.parametrize(
    ("expression", "zone", "after", "until"),
    [
        # A fire moved to the end of a gap that ends at the next midnight: counted with
        # the day it belongs to, not lost between that day and the next.
        ("30 23 * * *", "Asia/Pyongyang", datetime(2018, 5, 4, 14, tzinfo=UTC),
         datetime(2018, 5, 4, 16, tzinfo=UTC)),
        ("0 12 * * *", "Pacific/Apia", datetime(2011, 12, 29, 12, tzinfo=UTC),
         datetime(2011, 12, 30, 12, tzinfo=UTC)),
        ("0 9 * * 5", "Pacific/Apia", datetime(2011, 12, 28, tzinfo=UTC),
         datetime(2012, 1, 10, tzinfo=UTC)),
        ("0 12 * * *", "Pacific/Kwajalein", datetime(1993, 8, 19, tzinfo=UTC),
         datetime(1993, 8, 23, tzinfo=UTC)),
        ("0 0 * * *", "Pacific/Apia", datetime(2011, 12, 28, tzinfo=UTC),
         datetime(2012, 1, 3, tzinfo=UTC)),  # (and a native midnight fire there too)
        # Clocks going back across midnight (St. John's at 00:01): an hour of a date
        # comes again after the next date began.
        ("*/30 * * * *", "America/St_Johns", datetime(2004, 10, 31, 2, 4, 14, tzinfo=UTC),
         datetime(2004, 10, 31, 2, 37, 50, tzinfo=UTC)),
        ("30 23 * * *", "America/Goose_Bay", datetime(1989, 10, 29, 3, 1, tzinfo=UTC),
         datetime(1989, 10, 30, 6, 47, tzinfo=UTC)),
        ("45 23 * * *", "America/Goose_Bay", datetime(1997, 10, 26, 2, 59, 30, tzinfo=UTC),
         datetime(1997, 10, 26, 3, 2, 45, tzinfo=UTC)),  # (none: once -1, the old count)
        # The ends of the calendar.
        ("0 9 * * *", "UTC", datetime(9999, 12, 1, tzinfo=UTC),
         datetime(9999, 12, 31, 23, tzinfo=UTC)),
        ("0 9 * * *", "America/New_York", datetime(9999, 12, 20, tzinfo=UTC),
         datetime(9999, 12, 31, 23, tzinfo=UTC)),
        ("0 9 * * *", "Asia/Tokyo", datetime(1, 1, 1, tzinfo=UTC),
         datetime(1, 1, 20, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_counting_agrees_with_walking_over_skipped_days_and_calendar_ends(
    expression: str, zone: str, after: datetime, until: datetime
) -> None:
    trigger = CronTrigger(expression, timezone=zone)
    assert trigger.count_between(after, until) == walked(trigger, after, until)


def test_the_triggers_own_start_and_end_bound_the_count() -> None:
    start = datetime(2024, 3, 9, 10, 30, 15, 5, tzinfo=UTC)
    end = datetime(2024, 3, 12, 4, 0, tzinfo=UTC)
    trigger = CronTrigger("*/15 * * * *", timezone="America/New_York", start=start, end=end)
    after, until = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 20, tzinfo=UTC)
    assert trigger.count_between(after, until) == walked(trigger, after, until) > 0
    assert trigger.count_between(end, until) == 0
    assert trigger.count_between(until, after) == 0  # an empty span


def test_a_year_of_seconds_is_counted_not_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    trigger = CronTrigger("* * * * * *", timezone="Europe/Berlin")
    after = datetime(2023, 6, 1, tzinfo=UTC)
    calls = 0
    step = CronTrigger.next_after

    def counted(self: CronTrigger, moment: datetime) -> datetime | None:
        nonlocal calls
        calls += 1
        if calls > 2 * 86_400 + 10:  # (fail at once, not after walking a year)
            raise AssertionError(f"walked past the two DST days, at {moment}")
        return step(self, moment)

    # (Counted, not timed: a slow machine takes seconds for the two days walked.)
    monkeypatch.setattr(CronTrigger, "next_after", counted)
    count = trigger.count_between(after, after + timedelta(days=365))
    assert count == 365 * 86_400
    # Two DST days are walked (an hour less, an hour more), fire by fire, and no more.
    assert 2 * 86_400 - 3_600 <= calls <= 2 * 86_400 + 10


def test_an_unbound_hashed_trigger_cannot_count() -> None:
    with pytest.raises(Exception, match="hash"):
        CronTrigger("H * * * *", timezone="UTC").count_between(
            datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)
        )


def test_a_naive_bound_is_refused() -> None:
    with pytest.raises(TypeError, match="until"):
        CronTrigger("* * * * *", timezone="UTC").count_between(
            datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2)
        )


def test_a_month_of_downtime_reports_every_missed_cron_fire() -> None:
    """Regression: the count stopped at 10,000 fire times (9,999 missed reported for a
    month of a cron every minute: 43,199)."""
    clock = FakeClock(datetime(2024, 1, 1, 0, 0, 30, tzinfo=UTC))
    scheduler = Scheduler(clock=clock, executors={"default": InlineExecutor()}, timezone="UTC")
    missed: list[int | None] = []
    scheduler.add_listener(lambda event: missed.append(event.missed), EventKind.JOB_MISSED)
    scheduler.add_job(lambda: None, "cron", "* * * * *", id="every-minute")
    scheduler.open()
    clock.advance(timedelta(days=30))
    scheduler.process_due()
    assert missed == [43_199]
    (row,) = [run for run in scheduler.history("every-minute") if run.outcome.value == "missed"]
    assert (row.error_message or "").startswith("43199 fire time(s) missed")
    scheduler.shutdown()
