"""The seam between the drivers and the engine, and the clock they wait on.

Both drivers compose one engine (neither is one); a fake clock wakes a waiting driver
the moment time is advanced, without polling; the asyncio driver does store I/O in a
worker thread, for API calls as for its own steps.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tickwork import AsyncScheduler, EventKind, Scheduler
from tickwork._engine import Engine
from tickwork.executors import InlineExecutor
from tickwork.stores import SQLiteStore
from tickwork.testing import FakeClock

from .jobs_for_tests import LIMIT, T0, Events, noop

# -- composition ------------------------------------------------------------------------


@pytest.mark.parametrize("driver", [Scheduler, AsyncScheduler])
def test_drivers_compose_the_engine_rather_than_being_one(driver: type[Any]) -> None:
    assert not issubclass(driver, Engine)
    assert isinstance(driver(timezone="UTC").engine, Engine)


def test_a_job_record_calls_back_the_scheduler_that_returned_it() -> None:
    clock = FakeClock(T0)
    scheduler = Scheduler(clock=clock, timezone="UTC")
    other = Scheduler(clock=clock, timezone="UTC")
    job = scheduler.add_job(noop, "interval", seconds=10, id="j")
    other.add_job(noop, "interval", seconds=10, id="j")
    paused = job.pause(note="maintenance")
    assert paused.paused
    assert scheduler.get_job("j").paused  # type: ignore[union-attr]
    assert not other.get_job("j").paused  # type: ignore[union-attr]
    job.remove()
    assert scheduler.get_job("j") is None
    assert other.get_job("j") is not None


def test_a_forwarded_method_keeps_the_engines_signature_and_docs() -> None:
    assert Scheduler.add_job.__doc__ == Engine.add_job.__doc__
    assert Scheduler.add_job.__name__ == "add_job"
    assert AsyncScheduler.modify_job.__doc__ == Engine.modify_job.__doc__
    assert asyncio.iscoroutinefunction(AsyncScheduler.add_job)
    assert not asyncio.iscoroutinefunction(AsyncScheduler.cron)


# -- the fake clock -----------------------------------------------------------------------


def test_advancing_a_fake_clock_calls_its_subscribers_and_a_jump_does_not() -> None:
    clock = FakeClock(T0)
    calls: list[float] = []
    unsubscribe = clock.subscribe(lambda: calls.append(clock.monotonic()))
    clock.advance(5)
    clock.set(T0 + timedelta(seconds=20))
    clock.jump(timedelta(hours=1))  # a changed wall clock: no time passed
    assert calls == [5.0, 20.0]
    unsubscribe()
    clock.advance(1)
    assert calls == [5.0, 20.0]
    unsubscribe()  # twice is harmless


def test_a_fake_clock_says_how_long_a_driver_blocks() -> None:
    clock = FakeClock(T0)
    assert clock.sleep_time(30) is None  # until advanced
    jumping = FakeClock(T0, autojump=True)
    assert jumping.sleep_time(30) == 0.0
    assert jumping.now() == T0 + timedelta(seconds=30)
    assert jumping.monotonic() == 30.0


def test_a_thread_waiting_on_a_fake_clock_uses_no_cpu_and_wakes_when_advanced() -> None:
    clock = FakeClock(T0)
    events = Events()
    scheduler = Scheduler(clock=clock, executors={"default": InlineExecutor()}, timezone="UTC")
    scheduler.add_listener(events, EventKind.JOB_EXECUTED)
    scheduler.add_job(noop, "date", run_date=T0 + timedelta(minutes=5), id="later")
    scheduler.start()
    try:
        cpu = time.process_time()
        threading.Event().wait(0.3)  # the thread waits: no polling of the fake clock
        assert time.process_time() - cpu < 0.05
        assert not events.of(EventKind.JOB_EXECUTED)
        clock.advance(timedelta(minutes=4))
        assert not events.of(EventKind.JOB_EXECUTED)
        started = time.monotonic()
        clock.advance(timedelta(minutes=1))
        (executed,) = events.wait_for(EventKind.JOB_EXECUTED, job_id="later")
        assert time.monotonic() - started < 0.5
        assert executed.scheduled_at == T0 + timedelta(minutes=5)
    finally:
        scheduler.shutdown()


def test_an_async_scheduler_on_a_fake_clock_wakes_when_advanced() -> None:
    async def main() -> list[Any]:
        clock = FakeClock(T0)
        executed: list[Any] = []
        scheduler = AsyncScheduler(
            clock=clock, executors={"default": InlineExecutor()}, timezone="UTC"
        )
        scheduler.add_listener(executed.append, EventKind.JOB_EXECUTED)
        await scheduler.add_job(noop, "date", run_date=T0 + timedelta(minutes=5), id="later")
        async with scheduler:
            await asyncio.sleep(0.05)
            assert not executed
            clock.advance(timedelta(minutes=5))
            deadline = time.monotonic() + LIMIT
            while not executed and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
        return executed

    (event,) = asyncio.run(asyncio.wait_for(main(), timeout=LIMIT * 2))
    assert event.scheduled_at == T0 + timedelta(minutes=5)


# -- the asyncio driver never blocks its loop on the store ---------------------------------


def test_an_async_api_call_on_a_locked_file_does_not_stall_the_loop(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"

    async def main() -> tuple[float, list[Any], set[int]]:
        added: list[Any] = []
        threads: set[int] = set()

        def listener(event: Any) -> None:
            added.append(event)
            threads.add(threading.get_ident())

        scheduler = AsyncScheduler(store=SQLiteStore(db), timezone="UTC")
        scheduler.add_listener(listener, EventKind.JOB_ADDED)
        await scheduler.get_jobs()  # opens the file and creates the tables
        other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another process holds the file
        loop = asyncio.get_running_loop()
        loop.call_later(0.5, lambda: (other.execute("COMMIT"), other.close()))
        longest, last = 0.0, time.monotonic()

        async def ticker() -> None:
            nonlocal longest, last
            while True:
                await asyncio.sleep(0.01)
                now = time.monotonic()
                longest, last = max(longest, now - last), now

        ticking = asyncio.create_task(ticker())
        await scheduler.add_job("tests.jobs_for_tests:noop", "interval", seconds=10, id="x")
        ticking.cancel()
        await scheduler.shutdown()
        return longest, added, threads

    longest, added, threads = asyncio.run(asyncio.wait_for(main(), timeout=LIMIT * 2))
    assert [event.job_id for event in added] == ["x"]
    assert threads == {threading.get_ident()}  # listeners on the loop's thread
    assert longest < 0.25, f"the event loop stalled for {longest:.2f} s"
