"""A trigger object built without a start takes the system clock's time; a scheduler on
a FakeClock starts it from the fake "now" instead (it ran years early or late before:
a FakeClock in 2024 got its first interval fire at today's real date)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from tickwork import AsyncScheduler, Scheduler
from tickwork.executors import InlineExecutor
from tickwork.testing import FakeClock, run_until
from tickwork.triggers import (
    AndTrigger,
    CalendarIntervalTrigger,
    CronTrigger,
    DateTrigger,
    IntervalTrigger,
    OrTrigger,
    Trigger,
)

UTC = timezone.utc
PAST = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
FUTURE = datetime(2091, 2, 3, 4, 5, 6, tzinfo=UTC)


def noop() -> None:
    pass


@pytest.mark.parametrize("start", [PAST, FUTURE], ids=["past", "future"])
@pytest.mark.parametrize(
    ("make", "first"),
    [
        (lambda: IntervalTrigger(minutes=10), lambda now: now + timedelta(minutes=10)),
        (
            lambda: CalendarIntervalTrigger(days=1, hour=3),
            lambda now: (now + timedelta(days=1)).replace(hour=3, minute=0, second=0),
        ),
    ],
    ids=["interval", "calendar"],
)
def test_a_trigger_object_without_start_counts_from_the_fake_clock(
    start: datetime,
    make: Callable[[], Trigger],
    first: Callable[[datetime], datetime],
) -> None:
    clock = FakeClock(start)
    scheduler = Scheduler(clock=clock, timezone="UTC", executors={"default": InlineExecutor()})
    job = scheduler.add_job(noop, make(), id="j")
    assert job.next_fire == first(start)
    scheduler.open()
    run_until(scheduler, first(start))
    assert [run.scheduled_at for run in scheduler.history("j")] == [first(start)]
    scheduler.shutdown()


def test_reschedule_with_a_trigger_object_counts_from_the_fake_clock() -> None:
    clock = FakeClock(PAST)
    scheduler = Scheduler(clock=clock, timezone="UTC")
    scheduler.add_job(noop, "interval", hours=1, id="j")
    clock.advance(timedelta(minutes=7))
    job = scheduler.reschedule_job("j", IntervalTrigger(minutes=30))
    assert job.next_fire == PAST + timedelta(minutes=37)
    scheduler.shutdown()


def test_an_async_scheduler_on_a_fake_clock_counts_from_it_too() -> None:
    async def main() -> datetime | None:
        clock = FakeClock(PAST)
        async with AsyncScheduler(clock=clock, timezone="UTC") as scheduler:
            job = await scheduler.add_job(noop, IntervalTrigger(seconds=5))
            return job.next_fire

    assert asyncio.run(main()) == PAST + timedelta(seconds=5)


def test_a_trigger_with_a_start_or_on_the_real_clock_is_kept_as_given() -> None:
    given = IntervalTrigger(minutes=10, start=PAST)
    scheduler = Scheduler(clock=FakeClock(FUTURE), timezone="UTC")
    assert scheduler.add_job(noop, given).trigger == given
    scheduler.shutdown()
    built = IntervalTrigger(minutes=10)
    real = Scheduler(timezone="UTC")
    assert real.add_job(noop, built).trigger is built
    real.shutdown()


def test_interval_triggers_inside_and_or_count_from_the_fake_clock() -> None:
    start = datetime(2001, 2, 3, 4, 5, tzinfo=UTC)
    scheduler = Scheduler(clock=FakeClock(start), timezone="UTC")
    # Every 10 minutes from 04:05 (04:15, 04:25...) and at every fifth minute: 04:15.
    both = AndTrigger([IntervalTrigger(minutes=10), CronTrigger("*/5 * * * *", timezone="UTC")])
    either = OrTrigger([IntervalTrigger(hours=1), DateTrigger(FUTURE)])
    assert scheduler.add_job(noop, both).next_fire == start + timedelta(minutes=10)
    assert scheduler.add_job(noop, either).next_fire == start + timedelta(hours=1)
    scheduler.shutdown()


def test_an_end_without_a_start_counts_from_the_fake_clock_too() -> None:
    # The end was checked against the real time the trigger was built: refused as
    # "before start" on a FakeClock in the past.
    scheduler = Scheduler(clock=FakeClock(PAST), timezone="UTC")
    end = PAST + timedelta(minutes=30)
    interval = scheduler.add_job(noop, IntervalTrigger(minutes=10, end=end))
    assert scheduler.next_fire_times(interval.id, 5) == [
        PAST + timedelta(minutes=m) for m in (10, 20, 30)
    ]
    daily = CalendarIntervalTrigger(days=1, hour=5, end=PAST + timedelta(days=1), timezone="UTC")
    calendar = scheduler.add_job(noop, daily)
    assert scheduler.next_fire_times(calendar.id, 5) == [PAST.replace(hour=5, minute=0, second=0)]
    scheduler.shutdown()


def test_on_the_real_clock_an_end_passed_without_a_start_never_fires() -> None:
    real = Scheduler(timezone="UTC")
    with pytest.raises(ValueError, match="would never run"):
        real.add_job(noop, IntervalTrigger(minutes=10, end=PAST))
    real.shutdown()
