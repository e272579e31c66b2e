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

import contextlib
import io
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tickwork import DateTrigger, Scheduler, current_run
from tickwork._model import evolve
from tickwork.cli import main as cli_main
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
    scheduler.open()  # (run_until and advance drive it: no thread of its own)
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
    scheduler.open()  # (run_until and advance drive it: no thread of its own)
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
    scheduler.open()  # (run_until and advance drive it: no thread of its own)
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
    scheduler.open()  # (run_until and advance drive it: no thread of its own)
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


#: What the one-off's run below gives it elsewhere, when asked to: one fire more.
LATER = T0 + timedelta(hours=1)


def rename_then_poll(where: dict[str, str], poll: float, again: bool) -> None:
    """Change job "j" from another store object (with *again*, give it a fire at
    LATER), then let the store's poll interval pass: the step that takes in this run
    reads the change too."""
    store = _open(where)
    try:
        job = evolve(store.get_job("j"), name="changed elsewhere")
        if again:  # (as a reschedule does: a new fire state)
            job = evolve(job, trigger=DateTrigger(LATER), next_fire=LATER)
        store.update_job(job, schedule=again)
    finally:
        store.close()
    _CLOCK[0].advance(poll)


def _one_off(
    where: dict[str, str], again: bool, *, polled: bool = True
) -> tuple[Scheduler, JobStore]:
    store = _open(where)
    clock = FakeClock(T0)
    _CLOCK[:] = [clock]
    scheduler = Scheduler(store=store, clock=clock, executors={"default": InlineExecutor()},
                          timezone="UTC")  # fmt: skip
    poll = store.poll_interval if polled else 0
    scheduler.add_job(f"{HERE}:rename_then_poll", "date", run_at=T0 + timedelta(seconds=60),
                      id="j", args=[where, poll, again])  # fmt: skip
    scheduler.open()
    return scheduler, store


def test_a_one_off_done_in_the_step_that_reads_a_change_to_it_is_gone(
    where: dict[str, str],
) -> None:
    # Its record leaves the store in that step; the row read before must not bring it
    # back into the scheduler, which would list a job that no longer exists.
    scheduler, _ = _one_off(where, False)
    try:
        advance(scheduler, 60)
        assert scheduler.get_job("j") is None
        assert scheduler.get_jobs() == []
    finally:
        scheduler.shutdown()
    store = _open(where)
    try:
        assert store.get_jobs() == []
    finally:
        store.close()


def test_a_one_off_given_a_new_fire_elsewhere_during_its_last_run_stays(
    where: dict[str, str],
) -> None:
    scheduler, _ = _one_off(where, True)
    try:
        advance(scheduler, 60)
        job = scheduler.get_job("j")
        assert job is not None
        assert job.next_fire == LATER
    finally:
        scheduler.shutdown()
    stored = _stored(where)
    assert (stored.name, stored.next_fire) == ("changed elsewhere", LATER)


def test_a_one_off_given_a_new_fire_elsewhere_after_the_last_read_stays(
    where: dict[str, str],
) -> None:
    # The step that takes in its last run does not read the change: the job looks done
    # here, and its record must not go with the new fire time in it.
    scheduler, _ = _one_off(where, True, polled=False)
    try:
        advance(scheduler, 60)
        assert _stored(where).next_fire == LATER
        advance(scheduler, 5)  # (the next poll takes the change in)
        job = scheduler.get_job("j")
        assert job is not None
        assert job.next_fire == LATER
    finally:
        scheduler.shutdown()


#: The fire times of the runs of run_now_during_the_first below.
RUNS: list[datetime] = []


def run_now_during_the_first(where: dict[str, str]) -> None:
    """The one-off's run: the first asks ``tickwork run-now`` for the job (another
    process, as far as the scheduler can tell), while it is going."""
    RUNS.append(current_run().scheduled_at)
    if len(RUNS) == 1:
        argv = [where["path"]] if "path" in where else [where["dsn"], "--schema", where["schema"]]
        assert cli_main(["run-now", *argv, "j"], out=io.StringIO()) == 0


def test_run_now_from_the_command_line_during_a_one_offs_run_runs_it_again(
    where: dict[str, str],
) -> None:
    RUNS.clear()
    # The command line reads the real clock (PostgreSQL's): the fake one is behind it,
    # so that "now" there is after the fire that runs here.
    start = datetime.now(timezone.utc) - timedelta(minutes=2)
    clock = FakeClock(start)
    scheduler = Scheduler(store=_open(where), clock=clock,
                          executors={"default": InlineExecutor()}, timezone="UTC")  # fmt: skip
    scheduler.add_job(f"{HERE}:run_now_during_the_first", "date", id="j",
                      run_at=start + timedelta(seconds=60), args=[where])  # fmt: skip
    scheduler.open()
    try:
        advance(scheduler, 60)
        advance(scheduler, 180)  # (past the real now: the run-now fire is due)
    finally:
        scheduler.shutdown()
    assert len(RUNS) == 2, RUNS
    assert RUNS[0] == start + timedelta(seconds=60) <= RUNS[1]
    store = _open(where)
    try:
        assert store.get_jobs() == []  # (done after its second run)
    finally:
        store.close()


def test_a_change_from_a_scheduler_never_started_keeps_a_pause_made_elsewhere(
    where: dict[str, str],
) -> None:
    # The web process of an app manages jobs through a scheduler it never starts; a
    # worker runs them, counts their failures and pauses one. Changes made in the web
    # process went onto the copy it had read before: from its second change on, the
    # count and the pause were undone, and the failing job ran on.
    web = Scheduler(store=_open(where), clock=FakeClock(T0), timezone="UTC")
    web.add_job(f"{HERE}:change_elsewhere", "interval", seconds=10, id="j",
                args=[where], kwargs={"changes": {}, "failing": 0},
                max_consecutive_failures=3)  # fmt: skip
    try:
        for failures in (1, 2, 3):
            worker = _open(where)  # (the worker's own store object)
            try:
                job = worker.get_job("j")
                paused = failures == 3
                note = "3 failed" if paused else None
                counted = evolve(job, consecutive_failures=failures, paused=paused,
                                 pause_note=note)  # fmt: skip
                worker.update_job(counted, schedule=False)
            finally:
                worker.close()
            changed = web.modify_job("j", kwargs={"changes": {}, "failing": failures})
            assert (changed.consecutive_failures, changed.paused) == (failures, paused)
            stored = _stored(where)
            assert (stored.consecutive_failures, stored.paused, stored.pause_note) == (
                failures,
                paused,
                note,
            )
            assert stored.kwargs == {"changes": {}, "failing": failures}
        web.reschedule_job("j", "interval", seconds=20)
        assert (_stored(where).paused, _stored(where).consecutive_failures) == (True, 3)
    finally:
        web.shutdown()


#: What ``tickwork run-now`` said during the last run below: (status, error output).
SAID: list[tuple[int, str]] = []


def run_now_during_the_last(where: dict[str, str]) -> None:
    """The last of the job's runs (remaining_runs=1): ask ``tickwork run-now``."""
    argv = [where["path"]] if "path" in where else [where["dsn"], "--schema", where["schema"]]
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):
        status = cli_main(["run-now", *argv, "j"], out=io.StringIO())
    SAID.append((status, errors.getvalue()))


def test_run_now_on_a_job_with_no_runs_left_is_refused(where: dict[str, str]) -> None:
    # The command said a running scheduler "fires it at once"; the fire was recorded
    # missed, "catchup='latest' runs none of a backlog".
    SAID.clear()
    start = datetime.now(timezone.utc) - timedelta(minutes=2)  # (behind the real clock)
    scheduler = Scheduler(store=_open(where), clock=FakeClock(start),
                          executors={"default": InlineExecutor()}, timezone="UTC")  # fmt: skip
    scheduler.add_job(f"{HERE}:run_now_during_the_last", "interval", seconds=60, id="j",
                      args=[where], remaining_runs=1)  # fmt: skip
    scheduler.open()
    try:
        advance(scheduler, 60)
        advance(scheduler, 180)
        assert scheduler.history("j")[0].outcome.value == "success"
        assert [run.outcome.value for run in scheduler.history("j")] == ["success"]
    finally:
        scheduler.shutdown()
    [(status, said)] = SAID
    assert status == 2
    assert "has no runs left (remaining_runs=0)" in said
