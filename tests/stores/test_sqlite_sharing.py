"""Processes sharing a SQLite file share out a due backlog.

* A process waiting for another's write lock looks again after short pauses (SQLite's
  own busy handler sleeps up to 100 ms, and a waiter kept losing the lock to the
  process that had it), and gets it once it is let go.
* ``maintain`` counts the other live processes on the file (``Upkeep.peers``).
* While there are any, a scheduler claims no more due runs than its workers can start
  soon, and comes back for more as its runs end: the others claim the rest; unless
  the store split the backlog between the dispatching processes (its share is its own).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tickwork import Scheduler
from tickwork._model import Outcome, RunRequest, RunResult
from tickwork._pace import AHEAD_AT_FIRST, AHEAD_PER_WORKER, CLAIM_LEAST
from tickwork.executors import Executor
from tickwork.stores import SQLiteStore
from tickwork.stores import _sqlite_connection as connection_module
from tickwork.testing import FakeClock

from .. import dbfile

UTC = timezone.utc
T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
RECORD = "tests.stores.sqlite_jobs:record"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "jobs.db"


@pytest.fixture
def stores() -> Iterator[list[SQLiteStore]]:
    made: list[SQLiteStore] = []
    yield made
    for store in made:
        store.close()


class Holding(Executor):
    """A pool of *max_workers* whose runs go on until the test ends them."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self.taken: list[RunRequest] = []

    def submit(self, request: RunRequest) -> None:
        self.taken.append(request)

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        pass


def _leases(db: Path) -> int:
    with dbfile.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM leases").fetchone()[0])


@contextmanager
def _locked_by_another(
    db: Path, monkeypatch: pytest.MonkeyPatch, *, looks: int
) -> Iterator[list[float]]:
    """The file's write lock held by another connection until the store's *looks*-th
    pause while it waits for it; yields the pauses (in seconds; none is slept)."""
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == looks:
            other.execute("COMMIT")

    monkeypatch.setattr(connection_module.time, "sleep", pause)
    try:
        yield pauses
    finally:
        monkeypatch.undo()
        other.close()


def test_a_writer_waiting_for_the_lock_looks_again_often_and_gets_it_when_let_go(
    db: Path, monkeypatch: pytest.MonkeyPatch, stores: list[SQLiteStore]
) -> None:
    store = SQLiteStore(db, lock_timeout=60)
    stores.append(store)
    store.open()
    # (No real sleep: the lock is let go after the 50th look, by when SQLite's own busy
    # handler would be sleeping 100 ms at a time.)
    with _locked_by_another(db, monkeypatch, looks=50) as pauses:
        store.maintain(T0)  # a write: this process registers on the file
    assert [info.alive for info in store.processes(now=T0)] == [True]
    assert len(pauses) == 50
    assert max(pauses) <= connection_module._WAIT_MAX * 1.5
    # The connection has no busy handler of its own, which would sleep longer and longer.
    conn = store._connection()
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 0


def test_maintain_counts_the_other_live_processes(db: Path, stores: list[SQLiteStore]) -> None:
    first, second, third = (SQLiteStore(db, lease_time=30) for _ in range(3))
    stores += [first, second, third]
    assert first.maintain(T0).peers == 0  # the first on the file
    assert second.maintain(T0).peers == 1
    assert third.maintain(T0).peers == 2
    assert first.maintain(T0 + timedelta(seconds=1)).peers == 2
    third.close()  # leaves the file
    assert first.maintain(T0 + timedelta(seconds=2)).peers == 1
    # One silent for more than a lease time is not counted (it is taken for dead).
    assert first.maintain(T0 + timedelta(seconds=31)).peers == 0


def test_a_process_leaving_a_busy_file_waits_to_take_its_row_out(
    db: Path, monkeypatch: pytest.MonkeyPatch, stores: list[SQLiteStore]
) -> None:
    leaving, staying = SQLiteStore(db), SQLiteStore(db)
    stores += [leaving, staying]
    leaving.maintain(T0)
    with _locked_by_another(db, monkeypatch, looks=5) as pauses:
        leaving.close()
    assert len(pauses) == 5
    # Gone from the file: not counted as a live process by those that stay.
    assert staying.maintain(T0).peers == 0


def _backlog(db: Path, clock: FakeClock, count: int) -> datetime:
    due = T0 + timedelta(seconds=1)
    setup = Scheduler(store=SQLiteStore(db), clock=clock, timezone="UTC")
    setup.add_jobs(
        {"func": RECORD, "trigger": "date", "run_date": due, "id": f"j{n}"} for n in range(count)
    )
    setup.shutdown()
    return due


def _done(scheduler: Scheduler, requests: list[RunRequest]) -> None:
    for request in requests:
        scheduler.engine._on_result(
            RunResult(request, Outcome.SUCCESS, started_at=T0, finished_at=T0)
        )


def _racing(db: Path, stores: list[SQLiteStore]) -> tuple[FakeClock, Holding, Scheduler]:
    """A scheduler opened on a file of 1,000 jobs due, with another scheduler process on
    the file, its executor a pool of 3 workers that hold their runs; the clock at the
    jobs' due time."""
    clock = FakeClock(T0)
    due = _backlog(db, clock, 1000)
    peer = SQLiteStore(db)
    stores.append(peer)
    peer.maintain(T0)  # another scheduler process on the file
    pool = Holding(max_workers=3)
    scheduler = Scheduler(
        store=SQLiteStore(db), clock=clock, executors={"default": pool}, timezone="UTC"
    )
    scheduler.open()
    clock.set(due)
    return clock, pool, scheduler


def test_with_other_processes_a_claim_is_what_the_workers_can_start_soon(
    db: Path, stores: list[SQLiteStore]
) -> None:
    clock, pool, scheduler = _racing(db, stores)
    most = 3 * AHEAD_PER_WORKER
    try:
        scheduler.engine.step()
        # How fast runs end here is not known yet: a few per worker.
        first = 3 * AHEAD_AT_FIRST
        assert len(pool.taken) == _leases(db) == first
        # Every worker is taken, and more wait: nothing more is claimed, and no step
        # is due until a run ends (no spinning on the backlog meanwhile).
        scheduler.engine.step()
        assert len(pool.taken) == first
        assert scheduler.engine.next_dispatch() is None
        # They end fast (12 in 50 ms: 240 a second, more than a second of work fits
        # in the cap): claimed up to the cap per worker.
        clock.advance(0.05)
        _done(scheduler, pool.taken)
        scheduler.engine.step()
        assert len(pool.taken) == first + most
        # A few runs end: too few for a claim of its own.
        _done(scheduler, pool.taken[first : first + CLAIM_LEAST - 1])
        scheduler.engine.step()
        assert len(pool.taken) == first + most
        # Enough have ended: as many are claimed as have ended.
        _done(scheduler, pool.taken[first + CLAIM_LEAST - 1 : first + CLAIM_LEAST + 9])
        scheduler.engine.step()
        assert len(pool.taken) == first + most + CLAIM_LEAST + 9
        assert _leases(db) == most
        ids = [request.job_id for request in pool.taken]
        assert len(set(ids)) == len(ids)
    finally:
        scheduler.shutdown(wait=False)


def test_with_other_processes_slow_runs_are_claimed_a_few_at_a_time(
    db: Path, stores: list[SQLiteStore]
) -> None:
    # Runs that take seconds: a process claims about a second of them beyond one per
    # worker, not AHEAD_PER_WORKER each, so the backlog is left to the other processes'
    # idle workers rather than queued here.
    clock, pool, scheduler = _racing(db, stores)
    try:
        scheduler.engine.step()
        first = 3 * AHEAD_AT_FIRST
        assert len(pool.taken) == first
        clock.advance(2)
        _done(scheduler, pool.taken[:3])  # 3 ended in 2 s: 1.5 a second
        scheduler.engine.step()
        # 3 workers + 2 (a second's worth) = 5 ahead; 9 still in flight: none claimed.
        assert len(pool.taken) == first
        clock.advance(2)
        _done(scheduler, pool.taken[3:first])  # 9 in 2 s: now (1.5 + 4.5) / 2 = 3 a second
        scheduler.engine.step()
        assert len(pool.taken) == first + 3 + 3  # 3 workers + 3 (a second's worth)
        assert _leases(db) == 6
    finally:
        scheduler.shutdown(wait=False)


class Unstarted(Holding):
    """Holds its runs unstarted until a scheduler shutting down takes them back."""

    def take_unstarted(self) -> list[RunRequest]:
        taken, self.taken = self.taken, []
        return taken


def test_runs_left_at_shutdown_come_before_the_backlog_planned_where_they_are_taken(
    db: Path, stores: list[SQLiteStore]
) -> None:
    # B races A for a backlog (it plans a pool and claims a few at a time); A shuts
    # down with runs it claimed and never started: B takes their leases over at its
    # next upkeep and runs them next, by their fire time, not after the pool it planned.
    clock = FakeClock(T0)
    due = _backlog(db, clock, 600)
    clock.set(due)
    queue, pool = Unstarted(max_workers=2), Holding(max_workers=1)
    first = Scheduler(store=SQLiteStore(db), clock=clock, executors={"default": queue},
                      timezone="UTC")  # fmt: skip
    second = Scheduler(store=SQLiteStore(db), clock=clock, executors={"default": pool},
                       timezone="UTC")  # fmt: skip
    first.open()
    stores_closed = [first.shutdown]
    try:
        first.engine.step()
        second.open()  # (it reads the file as A left it: A's claims are A's)
        second.engine.step()
        assert queue.taken
        assert pool.taken
        left = {request.job_id for request in queue.taken}
        stores_closed.pop()()  # A shuts down: its unstarted runs stay in the file
        assert second.engine._link._leftover  # B planned more than it claimed
        clock.advance(1)  # B's next upkeep takes A's runs over
        _done(second, list(pool.taken))  # B's worker is free again
        before = len(pool.taken)
        second.engine.step()
        after = [request.job_id for request in pool.taken[before:]]
        assert after
        # First the runs A left, then the fires B had planned (A is gone: B, alone now,
        # claims the rest as a whole chunk).
        assert set(after[: len(left)]) == left
    finally:
        for shutdown in stores_closed:
            shutdown()
        second.shutdown(wait=False)


def _holding_on(db: Path, clock: FakeClock, pool: Holding) -> Scheduler:
    """A scheduler on the file whose executor is *pool*, opened."""
    scheduler = Scheduler(
        store=SQLiteStore(db), clock=clock, executors={"default": pool}, timezone="UTC"
    )
    scheduler.open()
    return scheduler


def test_alone_a_process_claims_what_its_workers_start_soon_and_fast_runs_in_chunks(
    db: Path,
) -> None:
    # Alone on the file, a process still claims only what its workers will start soon:
    # a few per worker until it knows how fast runs end; fast ones are then claimed in
    # whole chunks (no cap per worker: no one races it for them).
    clock = FakeClock(T0)
    due = _backlog(db, clock, 1000)
    pool = Holding(max_workers=3)
    scheduler = _holding_on(db, clock, pool)
    try:
        clock.set(due)
        scheduler.engine.step()
        first = 3 * AHEAD_AT_FIRST
        assert len(pool.taken) == _leases(db) == first
        assert scheduler.engine.next_dispatch() is None  # no spinning: a run's end wakes it
        clock.advance(0.05)  # 12 ended in 50 ms: 240 a second
        _done(scheduler, pool.taken)
        scheduler.engine.step()
        # 3 workers + a second's worth, past the cap per worker of a racing process.
        assert len(pool.taken) - first == 3 + 240 > 3 * AHEAD_PER_WORKER
    finally:
        scheduler.shutdown(wait=False)


def test_a_process_starting_while_another_works_alone_through_slow_runs_gets_a_share(
    db: Path,
) -> None:
    # The workers of one app start together; the first one up finds the backlog alone.
    # Its runs are slow: it holds about a second of them, and the one that starts a
    # moment later claims the rest of the backlog with it (before: the first claimed
    # the whole backlog at once and the others idled while its own workers ran it).
    clock = FakeClock(T0)
    due = _backlog(db, clock, 300)
    pool, later_pool = Holding(max_workers=3), Holding(max_workers=3)
    first = _holding_on(db, clock, pool)
    later: Scheduler | None = None
    try:
        clock.set(due)
        first.engine.step()
        clock.advance(1)
        _done(first, pool.taken[:3])  # 3 a second
        first.engine.step()
        held = len(pool.taken)
        assert held < 3 * AHEAD_PER_WORKER
        later = _holding_on(db, clock, later_pool)
        later.engine.step()
        assert later_pool.taken
        both = [request.job_id for request in pool.taken + later_pool.taken]
        assert len(set(both)) == len(both)  # no run claimed twice
        assert _leases(db) == len(both) - 3
    finally:
        first.shutdown(wait=False)
        if later is not None:
            later.shutdown(wait=False)


def test_run_until_runs_a_whole_backlog_claimed_a_part_at_a_time(
    db: Path, stores: list[SQLiteStore]
) -> None:
    from tickwork.executors import ThreadExecutor
    from tickwork.testing import run_until

    from . import sqlite_jobs

    clock = FakeClock(T0)
    count = 5 * AHEAD_PER_WORKER
    due = _backlog(db, clock, count)
    peer = SQLiteStore(db)
    stores.append(peer)
    peer.maintain(T0)
    scheduler = Scheduler(
        store=SQLiteStore(db),
        clock=clock,
        executors={"default": ThreadExecutor(max_workers=1)},
        timezone="UTC",
    )
    sqlite_jobs.RUNS.clear()
    scheduler.open()
    try:
        # Each step claims one worker's part; a step whose runs have all ended is not
        # held back, so the backlog is run to its end.
        assert run_until(scheduler, due) >= 5
        ran = [job_id for job_id, _, _ in sqlite_jobs.RUNS]
        assert sorted(ran) == sorted(f"j{n}" for n in range(count))
    finally:
        scheduler.shutdown()
        sqlite_jobs.RUNS.clear()


def test_a_share_the_store_split_off_is_claimed_at_the_workers_pace_and_no_more(
    db: Path, stores: list[SQLiteStore]
) -> None:
    clock = FakeClock(T0)
    due = _backlog(db, clock, 3000)
    peer = SQLiteStore(db)
    stores.append(peer)
    peer.dispatching(["default"])  # another scheduler process, dispatching: a share is its
    peer.maintain(T0)
    pool = Holding(max_workers=3)
    scheduler = Scheduler(
        store=SQLiteStore(db), clock=clock, executors={"default": pool}, timezone="UTC"
    )
    scheduler.open()
    try:
        clock.set(due)
        scheduler.engine.step()
        assert len(pool.taken) == 3 * AHEAD_AT_FIRST  # what the workers start soon
        ended = 0
        for _ in range(20):  # fast runs: 240 a second and more
            clock.advance(0.05)
            _done(scheduler, pool.taken[ended:])
            ended = len(pool.taken)
            scheduler.engine.step()
        # Not capped at 3 * AHEAD_PER_WORKER (no one races it for its share), and no
        # more than its share: the rest of the backlog is the peer's (it holds it, and
        # claims it).
        ids = [request.job_id for request in pool.taken]
        assert len(set(ids)) == len(ids)
        assert 3 * AHEAD_PER_WORKER < len(ids) < 3000
        assert 1200 < len(ids) < 1800  # (a hash of the ids splits them: about half)
    finally:
        scheduler.shutdown(wait=False)


class _ClaimsHeldUp(SQLiteStore):
    """A store whose next claim returns *delay* fake seconds late: another process held
    the file's write lock meanwhile."""

    def __init__(self, path: Path, clock: FakeClock) -> None:
        super().__init__(path)
        self.clock = clock
        self.delay = 0.0

    def claim_fires(self, claims: Any, *, now: datetime) -> list[int | None]:
        if self.delay:
            self.clock.advance(self.delay)
            self.delay = 0.0
        return super().claim_fires(claims, now=now)


def test_a_run_overdue_when_its_claim_returns_is_missed_and_leaves_the_catch_up_its_instance(
    db: Path, stores: list[SQLiteStore]
) -> None:
    """Regression: a run claimed before a 2 s wait for the lock went to its executor past
    its grace, which would report it missed later; meanwhile it held the job's one
    instance, and the catch-up run of the fire times due during the wait was skipped
    ("1 run(s) still going") though nothing ran."""
    clock = FakeClock(T0)
    store = _ClaimsHeldUp(db, clock)
    stores.append(store)
    pool = Holding(max_workers=4)  # (starts nothing, reports nothing)
    scheduler = Scheduler(store=store, clock=clock, executors={"default": pool}, timezone="UTC")
    scheduler.add_job(RECORD, "interval", seconds=1, misfire_grace_time=0.5, id="tick")
    scheduler.open()
    try:
        clock.set(T0 + timedelta(seconds=1))
        store.delay = 2.0
        scheduler.process_due()  # claims the 1 s fire; the claim returns at 3 s
        scheduler.process_due()  # the 2 s and 3 s fires
        assert [request.scheduled_at for request in pool.taken] == [T0 + timedelta(seconds=3)]
        rows = {(run.scheduled_at, run.outcome) for run in scheduler.history("tick")}
        assert (T0 + timedelta(seconds=1), Outcome.MISSED) in rows
        assert (T0 + timedelta(seconds=2), Outcome.MISSED) in rows
        assert Outcome.SKIPPED not in {outcome for _, outcome in rows}
    finally:
        scheduler.shutdown(wait=False)
