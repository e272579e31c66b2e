"""Start-up code run again at every start (and in every worker) on a file store: a
fire that already ran is not run again, and an operator's pause outlives it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tickwork import Scheduler
from tickwork.executors import InlineExecutor
from tickwork.stores import MemoryStore, SQLiteStore
from tickwork.testing import FakeClock, run_until
from tickwork.triggers import (
    AndTrigger,
    CalendarIntervalTrigger,
    CronTrigger,
    IntervalTrigger,
    OrTrigger,
    Trigger,
)

UTC = timezone.utc
NINE = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
NOOP = "tests.jobs_for_tests:noop"


def boot(path: Path, clock: FakeClock, declare: Callable[[Scheduler], object]) -> Scheduler:
    scheduler = Scheduler(
        store=SQLiteStore(path),
        clock=clock,
        executors={"default": InlineExecutor()},
        timezone="UTC",
    )
    declare(scheduler)
    scheduler.open()
    return scheduler


def ran(scheduler: Scheduler, job_id: str) -> list[datetime]:
    return sorted(run.scheduled_at for run in scheduler.history(job_id))


def test_a_one_off_in_start_up_code_runs_once_over_restarts(tmp_path: Path) -> None:
    def declare(scheduler: Scheduler) -> object:
        return scheduler.add_job(NOOP, "date", NINE, id="welcome", replace_existing=True)

    clock = FakeClock(NINE - timedelta(minutes=30))
    path = tmp_path / "jobs.db"
    for _ in range(3):
        scheduler = boot(path, clock, declare)
        run_until(scheduler, clock.now() + timedelta(hours=1))
        assert ran(scheduler, "welcome") == [NINE]
        assert scheduler.get_job("welcome") is None  # done, and not added back
        scheduler.shutdown()
        clock.advance(timedelta(hours=1))


def test_a_worker_that_starts_after_a_one_off_ran_does_not_run_it_again(
    tmp_path: Path,
) -> None:
    def declare(scheduler: Scheduler) -> object:
        return scheduler.add_job(NOOP, "date", NINE, id="migrate", replace_existing=True)

    clock = FakeClock(NINE - timedelta(minutes=1))
    path = tmp_path / "jobs.db"
    first = boot(path, clock, declare)
    run_until(first, NINE + timedelta(minutes=5))
    second = boot(path, clock, declare)
    run_until(second, clock.now() + timedelta(minutes=5))
    assert ran(second, "migrate") == [NINE]
    first.shutdown()
    second.shutdown()


def test_a_one_off_whose_time_passed_while_down_still_runs_at_the_start(tmp_path: Path) -> None:
    # Nothing recorded it: it is due, late (the misfire grace decides, none here).
    def declare(scheduler: Scheduler) -> object:
        return scheduler.add_job(NOOP, "date", NINE, id="late", replace_existing=True)

    clock = FakeClock(NINE + timedelta(hours=1))
    scheduler = boot(tmp_path / "jobs.db", clock, declare)
    run_until(scheduler, clock.now() + timedelta(minutes=1))
    assert ran(scheduler, "late") == [NINE]
    scheduler.shutdown()


def test_a_first_fire_given_again_does_not_rewind_the_schedule(tmp_path: Path) -> None:
    first_fire = NINE - timedelta(minutes=20)

    def declare(scheduler: Scheduler) -> object:
        return scheduler.add_job(
            NOOP, "cron", "0 9 * * *", id="ff", first_fire=first_fire, replace_existing=True
        )

    clock = FakeClock(first_fire - timedelta(minutes=5))
    path = tmp_path / "jobs.db"
    scheduler = boot(path, clock, declare)
    run_until(scheduler, NINE + timedelta(minutes=45))
    assert ran(scheduler, "ff") == [first_fire, NINE]
    scheduler.shutdown()
    scheduler = boot(path, clock, declare)
    job = scheduler.get_job("ff")
    assert job is not None
    assert job.next_fire == NINE + timedelta(days=1)
    run_until(scheduler, clock.now() + timedelta(hours=1))
    assert ran(scheduler, "ff") == [first_fire, NINE]
    scheduler.shutdown()


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_a_pause_outlives_start_up_code_that_declares_the_job_again(
    tmp_path: Path, kind: str
) -> None:
    clock = FakeClock(NINE)
    store = SQLiteStore(tmp_path / "jobs.db") if kind == "sqlite" else MemoryStore()
    scheduler = Scheduler(
        store=store, clock=clock, executors={"default": InlineExecutor()}, timezone="UTC"
    )
    scheduler.add_job(NOOP, "cron", "0 * * * *", id="report", replace_existing=True)
    scheduler.open()
    scheduler.pause_job("report", note="server migration")
    again = scheduler.add_job(NOOP, "cron", "0 * * * *", id="report", replace_existing=True)
    assert (again.paused, again.pause_note) == (True, "server migration")
    run_until(scheduler, NINE + timedelta(hours=3))
    assert ran(scheduler, "report") == []
    scheduler.resume_job("report")  # what undoes it: from 12:00, the clock's now
    run_until(scheduler, NINE + timedelta(hours=4))
    assert ran(scheduler, "report") == [NINE + timedelta(hours=h) for h in (3, 4)]
    scheduler.shutdown()


def test_a_one_off_declared_without_replace_existing_runs_once_over_restarts(
    tmp_path: Path,
) -> None:
    # Done, it was removed from the file: the plain add found no conflict.
    def declare(scheduler: Scheduler) -> object:
        return scheduler.add_job(NOOP, "date", NINE, id="once")

    clock = FakeClock(NINE - timedelta(minutes=5))
    path = tmp_path / "jobs.db"
    for _ in range(2):
        scheduler = boot(path, clock, declare)
        run_until(scheduler, clock.now() + timedelta(minutes=30))
        assert ran(scheduler, "once") == [NINE]
        scheduler.shutdown()


def test_remaining_runs_go_on_from_where_they_were_over_restarts(tmp_path: Path) -> None:
    def declare(scheduler: Scheduler) -> object:
        return scheduler.add_job(
            NOOP, "cron", "0 * * * *", id="limited", remaining_runs=3, replace_existing=True
        )

    clock = FakeClock(NINE - timedelta(minutes=5))
    path = tmp_path / "jobs.db"
    for left in (2, 1):  # a restart after each of the first two runs
        scheduler = boot(path, clock, declare)
        run_until(scheduler, clock.now() + timedelta(hours=1))
        job = scheduler.get_job("limited")
        assert job is not None
        assert job.remaining_runs == left
        scheduler.shutdown()
    scheduler = boot(path, clock, declare)
    job = scheduler.get_job("limited")
    assert job is not None
    assert job.remaining_runs == 1
    run_until(scheduler, clock.now() + timedelta(hours=3))
    assert ran(scheduler, "limited") == [NINE + timedelta(hours=h) for h in range(3)]
    assert scheduler.get_job("limited") is None  # done after its three runs
    scheduler.shutdown()


def test_a_run_asked_for_by_hand_does_not_hide_the_fires_due_after_a_restart(
    tmp_path: Path,
) -> None:
    # Paused for maintenance, run by hand, restarted: the hourly fires nobody ran are
    # caught up as without the declaration (catchup="all").
    def declare(scheduler: Scheduler) -> object:
        return scheduler.add_job(
            NOOP, "cron", "0 * * * *", id="hourly", catchup="all", replace_existing=True
        )

    clock = FakeClock(NINE + timedelta(minutes=30))
    path = tmp_path / "jobs.db"
    scheduler = boot(path, clock, declare)
    run_until(scheduler, NINE + timedelta(hours=1, minutes=30))  # ran 10:00
    scheduler.pause()
    clock.set(NINE + timedelta(hours=3, minutes=30))
    scheduler.run_job_now("hourly")  # 12:30, by hand
    scheduler.shutdown()
    clock.set(NINE + timedelta(hours=6, minutes=10))
    scheduler = boot(path, clock, declare)
    run_until(scheduler, clock.now() + timedelta(minutes=5))
    hours = [NINE + timedelta(hours=h) for h in range(1, 7)]
    assert ran(scheduler, "hourly") == sorted([*hours, NINE + timedelta(hours=3, minutes=30)])
    scheduler.shutdown()


def test_a_job_turned_into_a_one_off_at_a_past_time_nobody_ran_runs_it(tmp_path: Path) -> None:
    def declare(scheduler: Scheduler) -> object:
        return scheduler.add_job(NOOP, "cron", "0 * * * *", id="r", replace_existing=True)

    clock = FakeClock(NINE - timedelta(minutes=5))
    scheduler = boot(tmp_path / "jobs.db", clock, declare)
    run_until(scheduler, NINE + timedelta(minutes=30))
    past = NINE - timedelta(minutes=15)
    job = scheduler.add_job(NOOP, "date", past, id="r", replace_existing=True)
    assert job.next_fire == past
    run_until(scheduler, clock.now() + timedelta(minutes=5))
    assert ran(scheduler, "r") == [past, NINE]
    assert scheduler.get_jobs() == []
    scheduler.shutdown()


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: IntervalTrigger(hours=24), id="interval"),
        pytest.param(lambda: CalendarIntervalTrigger(days=1, hour=3), id="calendar"),
        pytest.param(
            lambda: OrTrigger([IntervalTrigger(hours=24), CronTrigger("0 0 1 1 *")]), id="or"
        ),
        pytest.param(
            lambda: AndTrigger([CalendarIntervalTrigger(days=1, hour=3), CronTrigger("0 3 * * *")]),
            id="and",
        ),
    ],
)
def test_a_trigger_object_without_a_start_keeps_its_schedule_over_frequent_restarts(
    tmp_path: Path, make: Callable[[], Trigger]
) -> None:
    # Deployed every 10 hours with a daily job: were each start a new schedule, the
    # job would never come due. It keeps its schedule, as the "interval" shortcut does.
    def declare(scheduler: Scheduler) -> object:
        return scheduler.add_job(NOOP, make(), id="daily", replace_existing=True)

    clock = FakeClock(NINE)
    path = tmp_path / "jobs.db"
    for _ in range(5):
        scheduler = boot(path, clock, declare)
        run_until(scheduler, clock.now() + timedelta(hours=10))
        scheduler.shutdown()
        clock.advance(timedelta(minutes=5))
    scheduler = boot(path, clock, declare)
    try:
        days = {run.scheduled_at.date() for run in scheduler.history("daily")}
        assert len(days) == 2  # 50 hours from 09:00: two fires, one a day
    finally:
        scheduler.shutdown()


def test_a_changed_interval_object_is_a_new_schedule(tmp_path: Path) -> None:
    clock = FakeClock(NINE)
    path = tmp_path / "jobs.db"
    scheduler = boot(path, clock, lambda s: s.add_job(NOOP, IntervalTrigger(hours=24), id="j"))
    scheduler.shutdown()
    clock.advance(timedelta(hours=1))
    again = IntervalTrigger(hours=2)
    scheduler = boot(path, clock, lambda s: s.add_job(NOOP, again, id="j", replace_existing=True))
    try:
        job = scheduler.get_job("j")
        assert job is not None
        assert job.next_fire == clock.now() + timedelta(hours=2)
    finally:
        scheduler.shutdown()
