"""A scheduler saves only its own counters over a job another process changed.

When a run ends, the scheduler writes the job's failure count (and, when the failures
or a raising trigger make the core pause it, the pause). Another process may have
changed the stored job since this one read it: paused or resumed it from the command
line, given it new arguments. Those changes must survive the save; writing the
scheduler's copy whole would undo them.

The job's own function plays the other process here: it changes the stored record
through a store object of its own while the run is going, so the change lands after
the scheduler read the job and before it saves the run's result, whatever its sync
does.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tickwork import Scheduler, current_run
from tickwork._model import evolve
from tickwork.executors import InlineExecutor
from tickwork.stores import JobStore, PostgresStore, SQLiteStore
from tickwork.testing import FakeClock, advance

from . import pg

pg_tables = pg.pg_tables  # (a schema of the test's own with tickwork's tables, emptied)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
HERE = "tests.test_counter_saves"


def _open(where: dict[str, str]) -> JobStore:
    if "path" in where:
        return SQLiteStore(where["path"])
    return PostgresStore(where["dsn"], schema=where["schema"], pool_size=1)


def change_elsewhere(where: dict[str, str], changes: dict[str, Any], failing: int) -> None:
    """The job, fired every 10 s from T0: change the stored record of job "j" from
    another store object (another process, as far as the scheduler can tell), a name
    saying which run did it; then fail if this is one of the first *failing* runs."""
    number = round((current_run().scheduled_at - T0) / timedelta(seconds=10))
    store = _open(where)
    try:
        job = store.get_job("j")
        store.update_job(evolve(job, name=f"renamed by run {number}", **changes), schedule=False)
    finally:
        store.close()
    if number <= failing:
        raise RuntimeError(f"run {number} failed")


@pytest.fixture(params=["sqlite", "postgres"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {"path": str(tmp_path / "jobs.db")}
    else:
        yield {"dsn": pg.dsn(), "schema": request.getfixturevalue("pg_tables")}


def _scheduler(where: dict[str, str]) -> Scheduler:
    return Scheduler(
        store=_open(where),
        clock=FakeClock(T0),
        executors={"default": InlineExecutor()},
        timezone="UTC",
    )


def _stored(where: dict[str, str]) -> Any:
    store = _open(where)
    try:
        return store.get_job("j")
    finally:
        store.close()


def test_a_failure_counted_after_a_pause_elsewhere_keeps_the_pause(where: dict[str, str]) -> None:
    scheduler = _scheduler(where)
    changes = {"paused": True, "pause_note": "paused by hand"}
    scheduler.add_job(f"{HERE}:change_elsewhere", "interval", seconds=10, id="j",
                      args=[where, changes, 1])  # fmt: skip
    scheduler.start()
    try:
        advance(scheduler, 10)
    finally:
        scheduler.shutdown()
    stored = _stored(where)
    assert (stored.paused, stored.pause_note) == (True, "paused by hand")
    assert stored.consecutive_failures == 1


def test_a_success_after_a_failure_keeps_a_change_made_elsewhere(where: dict[str, str]) -> None:
    scheduler = _scheduler(where)
    scheduler.add_job(f"{HERE}:change_elsewhere", "interval", seconds=10, id="j",
                      args=[where, {}, 1])  # fmt: skip
    scheduler.start()
    try:
        advance(scheduler, 10)  # run 1 fails: one failure counted
        assert _stored(where).consecutive_failures == 1
        advance(scheduler, 10)  # run 2 renames the job elsewhere, then succeeds
    finally:
        scheduler.shutdown()
    stored = _stored(where)
    assert stored.consecutive_failures == 0
    assert stored.name == "renamed by run 2"


def test_the_core_pauses_a_failing_job_without_undoing_other_changes(
    where: dict[str, str],
) -> None:
    scheduler = _scheduler(where)
    scheduler.add_job(f"{HERE}:change_elsewhere", "interval", seconds=10, id="j",
                      args=[where, {}, 1],
                      max_consecutive_failures=1)  # fmt: skip
    scheduler.start()
    try:
        advance(scheduler, 10)
        job = scheduler.get_job("j")
        assert job is not None
        assert job.paused
    finally:
        scheduler.shutdown()
    stored = _stored(where)
    assert stored.paused
    assert "1 consecutive failures" in (stored.pause_note or "")
    assert stored.name == "renamed by run 1"
    assert stored.consecutive_failures == 1


def test_a_job_removed_elsewhere_during_its_run_stays_removed(where: dict[str, str]) -> None:
    scheduler = _scheduler(where)
    scheduler.add_job(f"{HERE}:remove_elsewhere", "interval", seconds=10, id="j",
                      args=[where])  # fmt: skip
    scheduler.start()
    try:
        advance(scheduler, 10)
    finally:
        scheduler.shutdown()
    store = _open(where)
    try:
        assert store.get_jobs() == []
    finally:
        store.close()


def remove_elsewhere(where: dict[str, str]) -> None:
    store = _open(where)
    try:
        store.remove_job("j")
    finally:
        store.close()
    raise RuntimeError("the run failed after its job was removed")


#: The scheduler's clock, for the job of the test below to move.
_CLOCK: list[FakeClock] = []


def change_polled_then_fail(where: dict[str, str], poll: float) -> None:
    """Rename job "j" from another store object, let the store's poll interval pass
    (the step that takes in this run's failure reads the change too), then fail."""
    change_elsewhere(where, {}, 0)
    _CLOCK[0].advance(poll)
    raise RuntimeError("failed after the rename")


def test_a_change_read_before_the_failure_is_saved_keeps_the_pause(
    where: dict[str, str],
) -> None:
    # The run's result and another process's change are taken in by the same step:
    # the change is read (the job as stored: renamed, no failure counted) after the
    # core counted the failure and paused the job, and before that was written. The
    # read must not undo the count and the pause in the scheduler's copy, which would
    # run the job on.
    store = _open(where)
    clock = FakeClock(T0)
    _CLOCK[:] = [clock]
    scheduler = Scheduler(store=store, clock=clock, executors={"default": InlineExecutor()},
                          timezone="UTC")  # fmt: skip
    poll = store.poll_interval
    assert poll is not None
    scheduler.add_job(f"{HERE}:change_polled_then_fail", "interval", seconds=60, id="j",
                      args=[where, poll], max_consecutive_failures=1)  # fmt: skip
    scheduler.open()
    try:
        advance(scheduler, 60)
        job = scheduler.get_job("j")
        assert job is not None
        assert (job.name, job.consecutive_failures, job.paused) == ("renamed by run 6", 1, True)
        advance(scheduler, 300)  # (paused: no run renames it again)
    finally:
        scheduler.shutdown()
    stored = _stored(where)
    assert (stored.name, stored.consecutive_failures) == ("renamed by run 6", 1)
    assert stored.paused
