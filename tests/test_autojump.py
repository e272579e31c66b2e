"""A started scheduler on an autojumping ``FakeClock``, as a black-box tester found it:

* paused (``start(paused=True)``, or ``pause()`` from a job as docs/testing.md does),
  it kept jumping the clock, by ``max_wait`` at a time, spinning a core: days of fake
  time went by while nothing could run;
* an ``AsyncScheduler`` jumped the clock before the ends of the runs it had just
  started were taken in: runs of a catch-up waiting behind ``max_instances=1`` started
  an hour (the next fire time) apart instead of one after another;
* ``start(paused="no")`` started paused ("no" is truthy).

Real-thread tests wait on events with timeouts; the one that checks that nothing
happens gives it a tenth of a second.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta

import pytest

from tickwork import AsyncScheduler, EventKind, Scheduler, current_run
from tickwork._driver import Pacer
from tickwork.executors import InlineExecutor
from tickwork.testing import FakeClock

from .jobs_for_tests import LIMIT, T0, Events

#: How long (real seconds) a test gives a paused scheduler to move the clock wrongly.
QUIET = 0.1


def moved(clock: FakeClock) -> threading.Event:
    """An event set the first time fake time passes."""
    event = threading.Event()
    clock.subscribe(event.set)
    return event


def test_a_pacer_of_a_paused_engine_waits_until_woken_without_jumping() -> None:
    clock = FakeClock(T0, autojump=True)
    scheduler = Scheduler(clock=clock, timezone="UTC")
    scheduler.open(paused=True)
    try:
        sleeps = Pacer(scheduler.engine).sleeps(60)
        assert next(sleeps) is None  # (it was 0.0, the clock a minute on)
        assert clock.now() == T0
    finally:
        scheduler.shutdown()


def test_a_scheduler_started_paused_leaves_the_clock_until_resumed() -> None:
    clock = FakeClock(T0, autojump=True)
    events = Events()
    scheduler = Scheduler(clock=clock, executors={"default": InlineExecutor()}, timezone="UTC")
    scheduler.add_listener(events, EventKind.JOB_EXECUTED)
    scheduler.add_job(print, "cron", "0 0 1 1 *", args=["new year"], id="yearly")
    scheduler.add_job(lambda: None, "cron", "0 * * * *", id="hourly")
    went = moved(clock)
    scheduler.start(paused=True)
    try:
        assert not went.wait(QUIET)  # (59 days went by in a second)
        assert clock.now() == T0
        scheduler.resume()
        (first,) = events.wait_for(EventKind.JOB_EXECUTED, job_id="hourly")[:1]
        assert first.scheduled_at == T0
    finally:
        scheduler.shutdown()


def test_a_scheduler_paused_from_its_job_leaves_the_clock_there() -> None:
    # docs/testing.md's way to stop the race: the clock still ran on, days at a time.
    clock = FakeClock(T0, autojump=True)
    scheduler = Scheduler(clock=clock, executors={"default": InlineExecutor()}, timezone="UTC")
    seen: list[datetime] = []
    done = threading.Event()

    def hourly() -> None:
        seen.append(current_run().scheduled_at)
        if len(seen) == 2:
            scheduler.pause()
            done.set()

    scheduler.add_job(hourly, "cron", "0 * * * *")
    scheduler.start()
    try:
        assert done.wait(LIMIT)
        went = moved(clock)
        assert not went.wait(QUIET)
        assert clock.now() == T0 + timedelta(hours=1)
        clock.advance(timedelta(hours=3))  # the test may still move it: nothing runs
        again = moved(clock)
        assert not again.wait(QUIET)
        assert clock.now() == T0 + timedelta(hours=4)
        assert seen == [T0, T0 + timedelta(hours=1)]
    finally:
        scheduler.shutdown()


def test_a_paused_async_scheduler_leaves_the_clock_and_catches_up_at_once() -> None:
    clock = FakeClock(T0, autojump=True)
    log: list[tuple[datetime, datetime]] = []

    async def job() -> None:
        log.append((current_run().scheduled_at, clock.now()))

    async def main() -> None:
        async with AsyncScheduler(clock=clock, timezone="UTC", max_wait=3600) as scheduler:
            await scheduler.add_job(job, "cron", "0 * * * *", id="hourly", catchup="all")
            await scheduler.pause()
            await asyncio.sleep(QUIET)
            assert clock.now() == T0  # (it had moved on by weeks)
            clock.advance(timedelta(hours=3))
            await scheduler.resume()
            for _ in range(50):
                if len(log) >= 4:
                    break
                await asyncio.sleep(0)
            await scheduler.pause()

    asyncio.run(asyncio.wait_for(main(), LIMIT))
    resumed = T0 + timedelta(hours=3)
    # One after another, oldest first, at the time of the resume: not an hour apart.
    assert log[:4] == [(T0 + timedelta(hours=hour), resumed) for hour in range(4)]


@pytest.mark.parametrize("paused", ["no", 0, None])
def test_start_refuses_a_paused_that_is_not_a_bool(paused: object) -> None:
    # "no" is truthy: the scheduler started paused.
    scheduler = Scheduler(clock=FakeClock(T0), timezone="UTC")
    with pytest.raises(TypeError, match="paused must be a bool"):
        scheduler.start(paused=paused)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="paused must be a bool"):
        scheduler.open(paused=paused)  # type: ignore[arg-type]
    scheduler.shutdown()

    async def main() -> None:
        runner = AsyncScheduler(clock=FakeClock(T0), timezone="UTC")
        with pytest.raises(TypeError, match="paused must be a bool"):
            await runner.start(paused=paused)  # type: ignore[arg-type]
        await runner.shutdown()

    asyncio.run(main())


def test_runs_in_worker_threads_end_before_the_clock_jumps_on() -> None:
    """Regression: with the default thread pool, the clock jumped while a trivial run was
    still in its worker thread, so most later fires found it going and were skipped
    (45 of 60 events ``JOB_SKIPPED`` for an hourly job)."""
    clock = FakeClock(T0, autojump=True)
    scheduler = Scheduler(clock=clock, timezone="UTC")  # (the default ThreadExecutor)
    seen: list[tuple[datetime, datetime]] = []
    skipped: list[datetime] = []
    done = threading.Event()

    def hourly() -> None:
        seen.append((current_run().scheduled_at, clock.now()))
        if len(seen) == 12:
            scheduler.pause()
            done.set()

    scheduler.add_listener(lambda event: skipped.append(event.scheduled_at), EventKind.JOB_SKIPPED)
    scheduler.add_job(hourly, "cron", "0 * * * *")
    scheduler.start()
    try:
        assert done.wait(LIMIT)
    finally:
        scheduler.shutdown()
    assert skipped == []
    # Each run at the time it was due: the clock waited for the one before to end.
    assert seen == [(T0 + timedelta(hours=hour),) * 2 for hour in range(12)]


def test_an_async_scheduler_waits_for_plain_functions_in_threads_before_jumping() -> None:
    # docs/testing.md said such runs race the jumps (make them async def): they wait now.
    clock = FakeClock(T0, autojump=True)
    seen: list[tuple[datetime, datetime]] = []
    skipped: list[datetime] = []

    def hourly() -> None:  # (a plain function: the thread pool runs it)
        seen.append((current_run().scheduled_at, clock.now()))
        threading.Event().wait(0.005)  # (work that takes a little real time)

    async def main() -> None:
        async with AsyncScheduler(clock=clock, timezone="UTC") as scheduler:
            scheduler.add_listener(lambda e: skipped.append(e.scheduled_at), EventKind.JOB_SKIPPED)
            await scheduler.add_job(hourly, "cron", "0 * * * *")
            while len(seen) < 8:
                await asyncio.sleep(0.001)
            await scheduler.pause()

    asyncio.run(asyncio.wait_for(main(), LIMIT))
    assert skipped == []
    assert seen[:8] == [(T0 + timedelta(hours=hour),) * 2 for hour in range(8)]
