"""Runs left in a shared store go to a process that can run them.

Several processes share a store (two or three store objects on one SQLite file or one
PostgreSQL schema stand for them). A run one process leaves (claimed and not started
when it shut down, a retry waiting for its time) or leaves cut off is taken over only by
a process that can run it: one with the job's executor and where the job loads (its
function imports: a rolling deploy's old code cannot import the new code's jobs). The
others leave it in the store, untouched, and record nothing. And a job that an old
process marked broken (it could not import its function) is still claimed and run by
the processes that load it; the mark is cleared, and not written again.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tickwork import RetryPolicy, Scheduler, SchedulerStateError
from tickwork._model import Outcome, RunRequest, RunResult
from tickwork._references import FUNCTIONS
from tickwork.executors import Executor
from tickwork.stores import JobStore, PostgresStore, SQLiteStore
from tickwork.testing import FakeClock

from . import pg

UTC = timezone.utc
T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)  # long past: due now by a server's clock too
DUE = T0 + timedelta(seconds=1)
NEW_CODE = "tests.rolling_deploy_jobs"
NEW_JOB = f"{NEW_CODE}:job"
RECORD = "tests.stores.sqlite_jobs:record"

pg_tables = pg.pg_tables


class Holding(Executor):
    """A pool of *max_workers* whose runs go on until the test ends them; a scheduler
    shutting down takes back those not started (with ``unstarted``)."""

    def __init__(self, max_workers: int, *, unstarted: bool = False) -> None:
        self.max_workers = max_workers
        self.taken: list[RunRequest] = []
        if unstarted:
            self.take_unstarted = self._take_unstarted

    def submit(self, request: RunRequest) -> None:
        self.taken.append(request)

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        pass

    def _take_unstarted(self) -> list[RunRequest]:
        taken, self.taken = self.taken, []
        return taken

    def runs(self) -> list[tuple[str, int]]:
        return sorted((request.job_id, request.attempt) for request in self.taken)


@pytest.fixture(params=["sqlite", "postgres"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], JobStore]:
    """A new store object on the test's data, as another process would open it."""
    if request.param == "sqlite":
        path = tmp_path / "jobs.db"
        return lambda: SQLiteStore(path)
    schema = request.getfixturevalue("pg_tables")
    return lambda: PostgresStore(pg.dsn(), schema=schema, notify=False)


@pytest.fixture
def schedulers() -> Iterator[list[Scheduler]]:
    made: list[Scheduler] = []
    yield made
    for scheduler in made:
        with contextlib.suppress(SchedulerStateError):  # (one the test shut down)
            scheduler.shutdown(wait=False)


def _on(
    make: Callable[[], JobStore],
    clock: FakeClock,
    made: list[Scheduler],
    **executors: Executor,
) -> Scheduler:
    scheduler = Scheduler(store=make(), clock=clock, executors=executors, timezone="UTC")
    made.append(scheduler)
    return scheduler


class _Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        if name == NEW_CODE:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


@contextmanager
def old_code() -> Iterator[None]:
    """Within the block this process is an old one: the new code does not import."""
    blocker = _Blocked()
    sys.meta_path.insert(0, blocker)
    sys.modules.pop(NEW_CODE, None)
    FUNCTIONS._found.pop(NEW_JOB, None)
    try:
        yield
    finally:
        sys.meta_path.remove(blocker)


def _outcomes(scheduler: Scheduler) -> list[tuple[str, str, int]]:
    return sorted((run.job_id, run.outcome.value, run.attempt) for run in scheduler.history())


def test_runs_left_at_shutdown_wait_for_a_process_with_their_executor(
    make: Callable[[], JobStore], schedulers: list[Scheduler]
) -> None:
    clock = FakeClock(T0)
    queue = Holding(1, unstarted=True)
    first = _on(make, clock, schedulers, default=Holding(1), special=queue)
    first.add_jobs(
        {"func": RECORD, "trigger": "date", "run_date": DUE, "id": f"s{n}", "executor": "special"}
        for n in range(3)
    )
    first.open()
    clock.set(DUE)
    first.engine.step()
    left = queue.runs()
    assert left  # claimed, not started
    first.shutdown()  # they stay in the store, due at once
    # A process without "special" leaves them (and the fires it never claims) alone.
    plain = Holding(4)
    second = _on(make, clock, schedulers, default=plain)
    second.open()
    for _ in range(3):
        clock.advance(1)
        second.engine.step()
    assert plain.taken == []
    assert _outcomes(second) == []  # nothing recorded interrupted
    # One that has it runs each of them, from its first attempt.
    special = Holding(8)
    third = _on(make, clock, schedulers, default=Holding(1), special=special)
    third.open()
    clock.advance(1)
    third.engine.step()
    assert special.runs() == [(f"s{n}", 1) for n in range(3)]
    assert set(left) <= set(special.runs())
    assert _outcomes(third) == []


def test_a_retry_left_at_shutdown_waits_for_a_process_with_its_executor(
    make: Callable[[], JobStore], schedulers: list[Scheduler]
) -> None:
    clock = FakeClock(T0)
    flaky = Holding(1)
    first = _on(make, clock, schedulers, default=Holding(1), special=flaky)
    retry = RetryPolicy(attempts=3, delay=30, jitter=0)
    first.add_job(RECORD, "date", run_date=DUE, id="f", executor="special", retry=retry)
    first.open()
    clock.set(DUE)
    first.engine.step()
    [request] = flaky.taken
    first.engine._on_result(
        RunResult(request, Outcome.FAILURE, exception=ConnectionError("down"),
                  started_at=DUE, finished_at=DUE)
    )  # fmt: skip
    first.engine.step()  # attempt 2 waits 30 s
    first.shutdown()  # and is left in the store, due then
    plain = Holding(4)
    second = _on(make, clock, schedulers, default=plain)
    second.open()
    clock.advance(40)
    second.engine.step()
    clock.advance(1)
    second.engine.step()
    assert plain.taken == []
    assert _outcomes(second) == [("f", "failure", 1)]  # (attempt 2 not interrupted)
    special = Holding(1)
    third = _on(make, clock, schedulers, default=Holding(1), special=special)
    third.open()
    clock.advance(1)
    third.engine.step()
    assert special.runs() == [("f", 2)]


def test_runs_left_at_shutdown_wait_for_a_process_where_their_function_imports(
    make: Callable[[], JobStore], schedulers: list[Scheduler]
) -> None:
    # A rolling deploy: a new-code process claims runs of a job of new code, and shuts
    # down before it starts them; an old-code process cannot import the job.
    clock = FakeClock(T0)
    queue = Holding(1, unstarted=True)
    new = _on(make, clock, schedulers, default=queue)
    new.add_jobs(
        {"func": NEW_JOB, "trigger": "date", "run_date": DUE, "id": f"d{n}"} for n in range(4)
    )
    new.open()
    clock.set(DUE)
    new.engine.step()
    left = queue.runs()
    assert left
    new.shutdown()
    old_pool = Holding(4)
    with old_code():
        old = _on(make, clock, schedulers, default=old_pool)
        old.open()
        for _ in range(3):
            clock.advance(1)
            old.engine.step()
        assert old_pool.taken == []
        assert _outcomes(old) == []  # not "skipped: its job no longer exists"
        old.shutdown()
    newer = Holding(8)
    again = _on(make, clock, schedulers, default=newer)
    again.open()
    clock.advance(1)
    again.engine.step()
    assert newer.runs() == [(f"d{n}", 1) for n in range(4)]
    assert set(left) <= set(newer.runs())
    assert _outcomes(again) == []


def test_a_job_an_old_process_marked_broken_runs_on_where_it_loads(
    make: Callable[[], JobStore], schedulers: list[Scheduler]
) -> None:
    clock = FakeClock(T0)
    pool = Holding(4)
    new = _on(make, clock, schedulers, default=pool)
    new.add_job(NEW_JOB, "interval", seconds=10, id="j")
    new.open()
    new.engine.step()
    store = make()
    try:
        with old_code():
            old_pool = Holding(1)
            old = _on(make, clock, schedulers, default=old_pool)
            old.open()
            assert old.get_jobs() == []  # it cannot import the job: it marks it broken
            assert list(store.broken_jobs()) == ["j"]
            for fire in (1, 2, 3):
                clock.advance(10)
                new.engine.step()
                # Claimed and run where it loads all the same; the claim clears the mark.
                assert pool.runs() == [("j", 1)] * fire
                assert store.broken_jobs() == {}
                _done(new, pool.taken[-1])
                old.engine.step()  # it reads the job claimed: it does not mark it again
                assert store.broken_jobs() == {}
            assert old_pool.taken == []
    finally:
        store.close()


def _done(scheduler: Scheduler, request: RunRequest) -> None:
    at = scheduler.engine.clock.now()
    result = RunResult(request, Outcome.SUCCESS, started_at=at, finished_at=at)
    scheduler.engine._on_result(result)
