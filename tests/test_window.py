"""A scheduler on a store too big to load whole holds only a window of its jobs.

``SQLiteStore`` lists its jobs in due order (``WindowedJobStore.due_jobs``); a scheduler
on it reads the jobs due next, a page at a time, and leaves the others in the file.
These tests make a window of 10 jobs and give the scheduler 100 or more, so that every
promise is kept across many pages: each fire runs once and in order, every job can be
read and changed, a backlog is caught up, two processes share the file, and the core
never holds more than about two windows.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tickwork import Scheduler
from tickwork import _window as window_module
from tickwork.cli import main
from tickwork.executors import InlineExecutor
from tickwork.stores import MemoryStore, SQLiteStore, WindowedJobStore
from tickwork.testing import FakeClock, run_until

from .stores import sqlite_jobs

UTC = timezone.utc
T0 = datetime(2024, 1, 1, tzinfo=UTC)
RECORD = "tests.stores.sqlite_jobs:record"
WINDOW = 10


@pytest.fixture(autouse=True)
def _small_window(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(window_module, "SIZE", WINDOW)
    sqlite_jobs.RUNS.clear()
    yield
    sqlite_jobs.RUNS.clear()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "jobs.db"


def scheduler_on(path: Path, clock: FakeClock) -> Scheduler:
    return Scheduler(
        store=SQLiteStore(path),
        clock=clock,
        executors={"default": InlineExecutor()},
        timezone="UTC",
    )


def held(scheduler: Scheduler) -> int:
    """How many jobs the scheduler's core holds."""
    return len(scheduler.engine._core)


def every(seconds: float, first: datetime, job_id: str, **options: Any) -> dict[str, Any]:
    """add_job arguments: RECORD every *seconds*, first at *first*."""
    return {
        "func": RECORD,
        "trigger": "interval",
        "seconds": seconds,
        "start_date": first,
        "id": job_id,
        **options,
    }


def once(at: datetime, job_id: str, **options: Any) -> dict[str, Any]:
    return {"func": RECORD, "trigger": "date", "run_date": at, "id": job_id, **options}


def fill(path: Path, clock: FakeClock, jobs: list[dict[str, Any]]) -> None:
    """Store *jobs* in the file with a scheduler that never starts."""
    adder = scheduler_on(path, clock)
    adder.add_jobs(jobs)
    adder.shutdown()


def drive(scheduler: Scheduler, until: datetime) -> int:
    """run_until, noting how many jobs the core holds after each step; return the most."""
    engine = scheduler.engine
    most = [held(scheduler)]
    step = engine.step

    def step_and_count() -> datetime | None:
        upcoming = step()
        most.append(held(scheduler))
        return upcoming

    engine.step = step_and_count  # type: ignore[method-assign]
    try:
        run_until(scheduler, until)
    finally:
        del engine.step
    return max(most)


def ran() -> list[tuple[str, datetime]]:
    return [(job_id, at) for job_id, at, _ in sqlite_jobs.RUNS]


# -- what is windowed -------------------------------------------------------------------


def test_sqlite_store_is_windowed_and_the_memory_store_is_loaded_whole(db: Path) -> None:
    assert isinstance(SQLiteStore(db), WindowedJobStore)
    assert not isinstance(MemoryStore(), WindowedJobStore)
    clock = FakeClock(T0)
    memory = Scheduler(store=MemoryStore(), clock=clock, executors={"default": InlineExecutor()})
    memory.add_jobs([every(60, T0 + timedelta(seconds=n), f"j{n:03d}") for n in range(100)])
    memory.open()
    assert held(memory) == 100
    memory.shutdown()


def test_start_reads_only_the_first_page(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(window_module, "FIRST", 4)
    clock = FakeClock(T0)
    fill(db, clock, [every(3600, T0 + timedelta(seconds=n), f"j{n:03d}") for n in range(100)])
    scheduler = scheduler_on(db, clock)
    scheduler.open()
    try:
        assert held(scheduler) == 4
        assert len(scheduler.get_jobs()) == 100
        drive(scheduler, T0 + timedelta(seconds=1.5))
        assert held(scheduler) == 4
        # Past half the page (j000-j002 fired, and next fire in an hour): the next page
        # is read ahead of time, and the three that fired are evicted.
        drive(scheduler, T0 + timedelta(seconds=2.5))
        assert held(scheduler) == 1 + WINDOW
        assert scheduler.engine._core.get("j000") is None
    finally:
        scheduler.shutdown()


# -- dispatch across pages --------------------------------------------------------------


def test_every_fire_runs_once_and_in_order_across_pages(db: Path) -> None:
    clock = FakeClock(T0)
    # 70 jobs each at its own second, every 100 s; 30 more due together, every 100 s
    # too (three pages of one instant).
    jobs = [every(100, T0 + timedelta(seconds=n), f"a{n:03d}") for n in range(70)]
    jobs += [every(100, T0 + timedelta(seconds=35), f"b{n:03d}") for n in range(30)]
    fill(db, clock, jobs)
    scheduler = scheduler_on(db, clock)
    scheduler.open()
    until = T0 + timedelta(seconds=350)
    most = drive(scheduler, until)
    scheduler.shutdown()
    expected = sorted(
        (job["start_date"] + timedelta(seconds=100 * k), job["id"])
        for job in jobs
        for k in range(4)
        if job["start_date"] + timedelta(seconds=100 * k) <= until
    )
    assert [(at, job_id) for job_id, at in ran()] == expected  # once each, in order
    assert most <= 2 * WINDOW + 1


def test_a_backlog_after_downtime_is_caught_up_page_by_page(db: Path) -> None:
    clock = FakeClock(T0)
    # Down for an hour: 100 one-off jobs due together at T0, and 20 jobs every ten
    # minutes that catch up every missed fire.
    jobs = [once(T0, f"once{n:03d}") for n in range(100)]
    jobs += [every(600, T0, f"tick{n:02d}", catchup="all") for n in range(20)]
    fill(db, clock, jobs)
    clock.set(T0 + timedelta(hours=1, seconds=30))
    scheduler = scheduler_on(db, clock)
    scheduler.open()
    most = drive(scheduler, clock.now())
    runs = ran()
    assert sorted(job_id for job_id, _ in runs if job_id.startswith("once")) == [
        f"once{n:03d}" for n in range(100)
    ]
    for n in range(20):
        fires = [at for job_id, at in runs if job_id == f"tick{n:02d}"]
        assert fires == [T0 + timedelta(minutes=10 * k) for k in range(7)]
    assert most <= 2 * WINDOW + 1
    # The one-off jobs are done and gone; the others wait for their next fire.
    assert sorted(job.id for job in scheduler.get_jobs()) == [f"tick{n:02d}" for n in range(20)]
    scheduler.shutdown()


def test_a_grace_time_misses_a_backlog_page_by_page(db: Path) -> None:
    clock = FakeClock(T0)
    fill(db, clock, [once(T0, f"late{n:03d}", misfire_grace_time=60) for n in range(50)])
    clock.set(T0 + timedelta(hours=1))
    scheduler = scheduler_on(db, clock)
    missed: list[str] = []
    scheduler.add_listener(lambda event: missed.append(event.job_id or ""), mask=_missed())
    scheduler.open()
    drive(scheduler, clock.now())
    assert ran() == []
    assert sorted(missed) == [f"late{n:03d}" for n in range(50)]
    scheduler.shutdown()


def _missed() -> Any:
    from tickwork import EventKind

    return EventKind.JOB_MISSED


# -- reading and changing jobs outside the window --------------------------------------


def test_get_jobs_and_the_command_line_see_every_job(db: Path) -> None:
    clock = FakeClock(T0)
    fill(db, clock, [every(3600, T0 + timedelta(seconds=n), f"j{n:03d}") for n in range(100)])
    scheduler = scheduler_on(db, clock)
    scheduler.open()
    drive(scheduler, T0 + timedelta(seconds=4.5))  # five fired: held, moved on
    jobs = scheduler.get_jobs()
    assert [job.id for job in jobs] == [f"j{n:03d}" for n in range(5, 100)] + [
        f"j{n:03d}" for n in range(5)
    ]
    with SQLiteStore(db) as store:
        assert jobs == store.get_jobs()
    assert all(job.func is sqlite_jobs.record for job in jobs)
    assert scheduler.get_job("j099") == jobs[94]
    out = io.StringIO()
    assert main(["jobs", str(db)], out=out) == 0
    assert all(f"j{n:03d}" in out.getvalue() for n in range(100))
    scheduler.shutdown()


def test_a_job_outside_the_window_can_be_changed_run_and_removed(db: Path) -> None:
    clock = FakeClock(T0)
    fill(db, clock, [every(3600, T0 + timedelta(seconds=n), f"j{n:03d}") for n in range(100)])
    scheduler = scheduler_on(db, clock)
    scheduler.open()
    far = "j090"
    assert scheduler.modify_job(far, name="renamed").name == "renamed"
    with SQLiteStore(db) as store:
        assert store.get_job(far).name == "renamed"
    assert scheduler.pause_job(far).paused
    assert scheduler.resume_job(far).next_fire == T0 + timedelta(seconds=90)
    scheduler.run_job_now(far)
    assert ran() == [(far, T0)]
    # Moved into the window: it fires at its new time.
    scheduler.reschedule_job("j080", "date", run_date=T0 + timedelta(seconds=2.5))
    scheduler.remove_job("j070")
    assert scheduler.get_job("j070") is None
    drive(scheduler, T0 + timedelta(seconds=2.9))
    assert [job_id for job_id, _ in ran()] == [far, "j000", "j001", "j002", "j080"]
    assert len(scheduler.get_jobs()) == 98  # j080 ran its one fire and is done
    assert held(scheduler) <= 2 * WINDOW
    scheduler.shutdown()


def test_a_job_added_beyond_the_window_is_stored_not_held(db: Path) -> None:
    clock = FakeClock(T0)
    fill(db, clock, [every(3600, T0 + timedelta(seconds=n), f"j{n:03d}") for n in range(100)])
    scheduler = scheduler_on(db, clock)
    scheduler.open()
    before = held(scheduler)
    scheduler.add_job(RECORD, "date", run_date=T0 + timedelta(seconds=95.5), id="late")
    assert held(scheduler) == before
    scheduler.add_job(RECORD, "date", run_date=T0 + timedelta(seconds=0.5), id="soon")
    assert held(scheduler) == before + 1
    assert scheduler.get_job("late") is not None
    drive(scheduler, T0 + timedelta(seconds=95.9))
    order = [job_id for job_id, _ in ran()]
    assert order[:2] == ["j000", "soon"]
    assert order[-2:] == ["j095", "late"]
    assert len(order) == 98
    scheduler.shutdown()


def test_a_small_store_is_held_whole_until_it_grows(db: Path) -> None:
    clock = FakeClock(T0)
    fill(db, clock, [every(60, T0 + timedelta(seconds=n), f"j{n}") for n in range(5)])
    scheduler = scheduler_on(db, clock)
    scheduler.open()
    window = scheduler.engine._link.window
    assert window is not None
    assert window.whole
    scheduler.add_jobs([every(60, T0 + timedelta(seconds=n), f"k{n:03d}") for n in range(50)])
    assert held(scheduler) == 55  # whole: every new job is held...
    most = drive(scheduler, T0 + timedelta(seconds=130))
    assert not window.whole  # ...until the core holds more than two windows
    assert most <= 55
    assert held(scheduler) <= 2 * WINDOW
    expected = {
        f"{prefix}{n:0{width}d}": len([k for k in range(3) if n + 60 * k <= 130])
        for prefix, width, count in (("j", 1, 5), ("k", 3, 50))
        for n in range(count)
    }
    counts = dict.fromkeys(expected, 0)
    for job_id, _ in ran():
        counts[job_id] += 1
    assert counts == expected
    scheduler.shutdown()


# -- other processes -----------------------------------------------------------------


def test_another_process_adding_a_job_due_soon_is_seen_at_sync(db: Path) -> None:
    clock = FakeClock(T0)
    fill(db, clock, [every(3600, T0 + timedelta(seconds=10 + n), f"j{n:03d}") for n in range(100)])
    scheduler = scheduler_on(db, clock)
    scheduler.open()
    other = scheduler_on(db, clock)  # a process that only adds jobs
    other.add_job(RECORD, "date", run_date=T0 + timedelta(seconds=5), id="theirs")
    other.add_job(RECORD, "date", run_date=T0 + timedelta(seconds=200), id="theirs-later")
    other.shutdown()
    drive(scheduler, T0 + timedelta(seconds=300))
    order = [job_id for job_id, _ in ran()]
    assert order[0] == "theirs"
    assert order[-1] == "theirs-later"
    assert len(order) == 102
    scheduler.shutdown()


def test_jobs_another_process_changes_beyond_the_window_are_not_decoded_at_sync(
    db: Path,
) -> None:
    # Each poll decoded every changed row: another process's bulk adds of far-off jobs
    # (5,000 a call) cost a windowed scheduler about 0.3 s a poll, in a probe.
    clock = FakeClock(T0)
    fill(db, clock, [every(3600, T0 + timedelta(seconds=10 + n), f"j{n:03d}") for n in range(100)])
    scheduler = scheduler_on(db, clock)
    scheduler.open()
    store = scheduler.engine._link.store
    decoded: list[str] = []
    decode = store._decode_rows  # type: ignore[attr-defined]

    def counting(rows: Any) -> Any:
        decoded.extend(row[0] for row in rows)
        return decode(rows)

    store._decode_rows = counting  # type: ignore[attr-defined]
    assert held(scheduler) > 0
    other = scheduler_on(db, clock)
    other.add_jobs([once(T0 + timedelta(hours=2, seconds=n), f"far{n:02d}") for n in range(50)])
    other.add_job(RECORD, "date", run_date=T0 + timedelta(seconds=5), id="soon")
    other.reschedule_job("j001", "date", run_date=T0 + timedelta(hours=3))  # held here
    other.pause_job("j002")  # held here too
    other.shutdown()
    before = held(scheduler)
    scheduler.engine.step()  # (the file changed: the first step reads the changes)
    assert decoded == ["soon"]
    core = scheduler.engine._core
    assert core.get("j001") is None  # forgotten here: its key moved past the bound
    assert core.get("j002") is None
    assert held(scheduler) == before - 1
    drive(scheduler, T0 + timedelta(hours=3, seconds=1))
    runs = [job_id for job_id, _ in ran()]
    assert runs[0] == "soon"
    assert "j002" not in runs
    assert runs.count("j001") == 1
    assert runs[-1] == "j001"
    assert sorted(job_id for job_id in runs if job_id.startswith("far")) == [
        f"far{n:02d}" for n in range(50)
    ]
    scheduler.shutdown()


def test_a_job_running_here_that_another_process_pauses_beyond_the_window_is_read_whole(
    db: Path,
) -> None:
    # Its runs queued here are taken back, as without a window: the job is read again
    # (the change comes undecoded: its key, None when paused, is past the bound).
    from tickwork import EventKind
    from tickwork.executors import ThreadExecutor

    from .jobs_for_tests import Events, wait_until

    start = datetime.now(UTC) + timedelta(minutes=10)
    fill(db, FakeClock(T0), [every(3600, start + timedelta(seconds=n), f"j{n:03d}")
                             for n in range(100)])  # fmt: skip
    sqlite_jobs.RELEASE.clear()
    events = Events()
    here = Scheduler(store=SQLiteStore(db, poll_interval=0.05), timezone="UTC",
                     executors={"default": ThreadExecutor(max_workers=1)})  # fmt: skip
    here.add_listener(events)
    try:
        here.start()
        window = here.engine._link.window
        assert window is not None
        assert window.started
        assert not window.whole
        here.add_job(f"{sqlite_jobs.__name__}:wait_released", "interval", hours=1,
                     run_immediately=True, id="blocker")  # fmt: skip
        assert wait_until(lambda: bool(sqlite_jobs.runs_of("blocker")))
        here.add_job(RECORD, "interval", hours=1, run_immediately=True, id="paused")
        events.wait_for(EventKind.JOB_SUBMITTED, count=2)
        elsewhere = Scheduler(store=SQLiteStore(db), timezone="UTC")
        elsewhere.pause_job("paused")
        elsewhere.shutdown()
        [skipped] = events.wait_for(EventKind.JOB_SKIPPED, job_id="paused")
    finally:
        sqlite_jobs.RELEASE.set()
        here.shutdown()
    assert skipped.reason == "its job was paused before it started"
    assert sqlite_jobs.runs_of("paused") == []


def test_two_schedulers_with_windows_share_a_file_and_run_each_fire_once(db: Path) -> None:
    clock = FakeClock(T0)
    jobs = [every(50, T0 + timedelta(seconds=n), f"j{n:03d}") for n in range(60)]
    fill(db, clock, jobs)
    first, second = scheduler_on(db, clock), scheduler_on(db, clock)
    first.open()
    second.open()
    until = T0 + timedelta(seconds=203)
    moment = T0
    while moment < until:
        moment += timedelta(seconds=7)
        run_until(first, moment)
        run_until(second, moment)
    first.shutdown()
    second.shutdown()
    runs = ran()
    expected = sorted(
        (job["id"], job["start_date"] + timedelta(seconds=50 * k))
        for job in jobs
        for k in range(5)
        if job["start_date"] + timedelta(seconds=50 * k) <= until
    )
    assert sorted(runs) == expected  # each fire once, between them


def test_a_retry_handed_off_for_a_job_outside_the_window_is_taken_over(db: Path) -> None:
    from tickwork import RetryPolicy

    clock = FakeClock(T0)
    jobs = [every(3600, T0 + timedelta(seconds=10 + n), f"j{n:03d}") for n in range(100)]
    failing = "tests.stores.sqlite_jobs:fail"
    retry = RetryPolicy(attempts=2, delay=5)
    jobs.append(every(3600, T0 + timedelta(seconds=1), "flaky", func=failing, retry=retry))
    fill(db, clock, jobs)
    leaving = scheduler_on(db, clock)
    leaving.open()
    drive(leaving, T0 + timedelta(seconds=2))  # attempt 1 fails; 2 is due at 6 s
    leaving.shutdown()  # and is left in the file for another process
    # This one starts after: "flaky" fires next in an hour, far beyond its window.
    staying = scheduler_on(db, clock)
    staying.open()
    assert staying.engine._core.get("flaky") is None
    drive(staying, T0 + timedelta(seconds=60))
    staying.shutdown()
    fire = T0 + timedelta(seconds=1)
    assert sqlite_jobs.runs_of("flaky") == [(fire, 1), (fire, 2)]


def test_get_jobs_after_shutdown_still_lists_every_job_and_leaves_no_file_open(
    db: Path,
) -> None:
    clock = FakeClock(T0)
    fill(db, clock, [every(3600, T0 + timedelta(seconds=n), f"j{n:03d}") for n in range(30)])
    scheduler = scheduler_on(db, clock)
    scheduler.open()
    scheduler.shutdown()
    assert len(scheduler.get_jobs()) == 30
    assert not Path(f"{db}-wal").exists()
