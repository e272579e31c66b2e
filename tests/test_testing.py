"""``tickwork.testing``'s FakeClock refuses what it cannot mean: a str or a bool for
seconds, NaN or infinity, a moment in the past for ``set``, a start that is no aware
datetime (each was taken: ``advance("5")`` moved 5 s, ``set`` to the past did nothing,
``advance(inf)`` failed deep in timedelta)."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tickwork import AsyncScheduler, Scheduler, SchedulerStateError
from tickwork.executors import InlineExecutor
from tickwork.testing import FakeClock, advance, run_until

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("wrong", ["5", True, None, [1]])
def test_advance_takes_a_number_or_a_timedelta_only(wrong: object) -> None:
    clock = FakeClock(T0)
    with pytest.raises(TypeError, match="seconds must be a number or a timedelta"):
        clock.advance(wrong)  # type: ignore[arg-type]
    assert clock.now() == T0


@pytest.mark.parametrize("wrong", [math.nan, math.inf, -1, timedelta(seconds=-1)])
def test_advance_refuses_what_is_not_finite_or_goes_back(wrong: object) -> None:
    clock = FakeClock(T0)
    with pytest.raises(ValueError, match=r"finite|forward"):
        clock.advance(wrong)  # type: ignore[arg-type]
    assert clock.now() == T0
    assert clock.advance(timedelta(seconds=1.5)) == T0 + timedelta(seconds=1.5)
    assert clock.advance(2) == T0 + timedelta(seconds=3.5)


def test_set_refuses_a_moment_in_the_past_and_a_naive_one() -> None:
    clock = FakeClock(T0)
    clock.advance(10)
    with pytest.raises(ValueError, match=r"before now.*jump"):
        clock.set(T0)
    with pytest.raises(TypeError, match="aware datetime"):
        clock.set(datetime(2024, 1, 2))
    assert clock.set(T0 + timedelta(seconds=10)) == T0 + timedelta(seconds=10)  # (now: no-op)
    assert clock.monotonic() == 10


@pytest.mark.parametrize(
    "wrong", ["2024-01-01T00:00:00+00:00", date(2024, 1, 1), datetime(2024, 1, 1)]
)
def test_a_start_must_be_an_aware_datetime(wrong: object) -> None:
    with pytest.raises(TypeError, match="FakeClock start must be an aware datetime"):
        FakeClock(wrong)  # type: ignore[arg-type]


def test_jump_refuses_a_bool_or_a_str() -> None:
    clock = FakeClock(T0)
    for wrong in (True, "60"):
        with pytest.raises(TypeError, match=r"FakeClock\.jump needs"):
            clock.jump(wrong)  # type: ignore[arg-type]
    assert clock.jump(-60) == T0 - timedelta(seconds=60)


def test_jump_refuses_what_is_not_finite() -> None:
    clock = FakeClock(T0)
    for wrong in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="finite"):
            clock.jump(wrong)
    assert clock.now() == T0


# -- run_until and advance drive a scheduler nothing else steps ---------------------------


def test_run_until_refuses_a_started_async_scheduler() -> None:
    # It blocked the loop 5 s per step (waiting for runs that only the loop could
    # start) and lost them.
    clock = FakeClock(T0)
    ran: list[datetime] = []

    async def poll() -> None:
        ran.append(clock.now())

    async def main() -> None:
        async with AsyncScheduler(clock=clock, timezone="UTC") as scheduler:
            await scheduler.add_job(poll, "interval", minutes=20)
            began = time.monotonic()
            with pytest.raises(SchedulerStateError, match=r"AsyncScheduler was started.*open\(\)"):
                run_until(scheduler, T0 + timedelta(minutes=40))
            with pytest.raises(SchedulerStateError, match="its own task steps it"):
                advance(scheduler.engine, 60)
            assert time.monotonic() - began < 1
            assert clock.now() == T0

    asyncio.run(main())
    assert ran == []


def test_run_until_refuses_a_started_thread_scheduler_and_drives_an_opened_one() -> None:
    clock = FakeClock(T0)
    scheduler = Scheduler(clock=clock, executors={"default": InlineExecutor()}, timezone="UTC")
    ran: list[datetime] = []
    scheduler.add_job(lambda: ran.append(clock.now()), "interval", minutes=20)
    scheduler.start()
    try:
        with pytest.raises(SchedulerStateError, match="Scheduler was started: its own thread"):
            advance(scheduler, timedelta(minutes=40))
    finally:
        scheduler.shutdown()
    assert clock.now() == T0
    opened = Scheduler(clock=clock, executors={"default": InlineExecutor()}, timezone="UTC")
    opened.add_job(lambda: ran.append(clock.now()), "interval", minutes=20)
    opened.open()
    try:
        advance(opened, timedelta(minutes=40))
    finally:
        opened.shutdown()
    assert ran == [T0 + timedelta(minutes=20), T0 + timedelta(minutes=40)]


# -- what else the black-box tester of policies found taken ------------------------------


@pytest.mark.parametrize(
    ("move", "name"),
    [
        (lambda clock: clock.advance(1e20), "seconds=1e+20"),  # (was a bare OverflowError)
        (lambda clock: clock.advance(timedelta(days=999_999_999)), "seconds="),
        (lambda clock: clock.jump(-1e20), "by=-1e+20"),
        (lambda clock: clock.jump(timedelta(days=-999_999_999)), "by="),
    ],
)
def test_a_step_past_the_range_of_datetime_is_a_value_error_naming_it(
    move: object, name: str
) -> None:
    clock = FakeClock(T0)
    with pytest.raises(ValueError, match="too large") as raised:
        move(clock)  # type: ignore[operator]
    assert name in str(raised.value)
    assert clock.now() == T0


def test_advance_of_a_scheduler_past_the_range_of_datetime_names_seconds() -> None:
    scheduler = Scheduler(clock=FakeClock(T0), executors={"default": InlineExecutor()})
    scheduler.open()
    with pytest.raises(ValueError, match=r"seconds=1e\+20 is too large"):
        advance(scheduler, 1e20)
    scheduler.shutdown()


def test_autojump_must_be_a_bool() -> None:
    # "no" is truthy: the clock jumped.
    with pytest.raises(TypeError, match="autojump must be a bool"):
        FakeClock(T0, autojump="no")  # type: ignore[arg-type]


def test_run_until_refuses_a_str_a_moment_before_now_and_a_negative_settle() -> None:
    clock = FakeClock(T0 + timedelta(hours=1))
    scheduler = Scheduler(clock=clock, executors={"default": InlineExecutor()}, timezone="UTC")
    scheduler.open()
    try:
        with pytest.raises(TypeError, match="until must be an aware datetime, got '2024"):
            run_until(scheduler, "2024-01-02T00:00:00+00:00")  # type: ignore[arg-type]
        # It returned with the clock an hour past the moment given.
        with pytest.raises(ValueError, match=r"before the clock's now.*only moves forward"):
            run_until(scheduler, T0)
        with pytest.raises(ValueError, match="settle must be >= 0"):
            run_until(scheduler, clock.now(), settle=-1)
        assert clock.now() == T0 + timedelta(hours=1)
        assert run_until(scheduler, clock.now()) == 1  # (now itself: one step)
    finally:
        scheduler.shutdown()


def test_run_until_refuses_a_scheduler_never_opened() -> None:
    # It moved the clock and ran nothing, silently (a forgotten open()).
    clock = FakeClock(datetime(2024, 1, 1, tzinfo=timezone.utc))
    scheduler = Scheduler(clock=clock, timezone="UTC")
    scheduler.add_job(print, "interval", minutes=1)
    with pytest.raises(SchedulerStateError, match=r"never opened.*open\(\)"):
        run_until(scheduler, clock.now() + timedelta(hours=1))
    assert clock.now() == datetime(2024, 1, 1, tzinfo=timezone.utc)
    scheduler.shutdown()


def test_run_until_sees_what_another_process_changed_before_it_moves_the_clock(
    tmp_path: Path,
) -> None:
    # It jumped to the next due time it knew of: a job another process added for ten
    # minutes on ran a day late, when the job it knew came due.
    from tickwork.stores import SQLiteStore

    path = tmp_path / "jobs.db"
    clock = FakeClock(T0)
    ours = Scheduler(
        store=SQLiteStore(path),
        clock=clock,
        executors={"default": InlineExecutor()},
        timezone="UTC",
    )
    ours.add_job("tests.jobs_for_tests:noop", "date", run_date=T0 + timedelta(days=1), id="later")
    ours.open()
    advance(ours, 0)
    other = Scheduler(store=SQLiteStore(path), clock=clock, timezone="UTC")
    other.add_job(
        "tests.jobs_for_tests:noop", "date", run_date=T0 + timedelta(minutes=10), id="soon"
    )
    other.shutdown()
    run_until(ours, T0 + timedelta(days=2))
    (run,) = ours.history("soon")
    assert run.started_at == T0 + timedelta(minutes=10)
    ours.shutdown()
