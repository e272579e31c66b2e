"""What the SQLite store does beyond the store contract: its file and schema, jobs kept
as data, broken rows, faults, leases between schedulers, the run history, and seeing
other processes' changes.

Two schedulers on one file in one test process stand for two processes (each store has
its own connection and owner); ``tests/stores/test_sqlite_processes.py`` does it with
real processes. A fake clock drives leases and retention, so nothing here sleeps.
"""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tickwork import (
    ConflictingIdError,
    Event,
    EventKind,
    Outcome,
    RetryPolicy,
    Scheduler,
    SerializationError,
    StoreError,
)
from tickwork._instants import epoch_us
from tickwork._model import RunRequest
from tickwork.executors import Executor, InlineExecutor, ThreadExecutor
from tickwork.stores import MemoryStore, SQLiteStore, _sqlite_schema
from tickwork.stores import sqlite as sqlite_module
from tickwork.testing import FakeClock, advance

from .. import dbfile
from ..jobs_for_tests import Events, wait_until
from . import sqlite_jobs
from .sqlite_jobs import runs_of

UTC = timezone.utc
T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
RECORD = "tests.stores.sqlite_jobs:record"
FAIL = "tests.stores.sqlite_jobs:fail"


@pytest.fixture(autouse=True)
def _clear_runs() -> Iterator[None]:
    sqlite_jobs.RUNS.clear()
    yield
    sqlite_jobs.RUNS.clear()


@pytest.fixture(autouse=True)
def _close_stores(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every store a test made. The tests stand for several processes and drop
    them without a shutdown; an open store left to the garbage collector warns."""
    made: list[SQLiteStore] = []
    init = SQLiteStore.__init__

    def tracked(self: SQLiteStore, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(SQLiteStore, "__init__", tracked)
    yield
    for store in made:
        store.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "jobs.db"


class Vanishing(Executor):
    """Takes runs and never reports them: the process running them has died."""

    def __init__(self) -> None:
        self.taken: list[RunRequest] = []

    def submit(self, request: RunRequest) -> None:
        self.taken.append(request)

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        pass


def scheduler_on(
    path: Path, clock: FakeClock, executor: Executor | None = None, **store: Any
) -> Scheduler:
    return Scheduler(
        store=SQLiteStore(path, **store),
        clock=clock,
        executors={"default": executor if executor is not None else InlineExecutor()},
        timezone="UTC",
    )


# -- the file and its schema ------------------------------------------------------------


def test_a_new_file_gets_the_current_schema(db: Path) -> None:
    SQLiteStore(db).open()
    with dbfile.connect(db) as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('app', 'schema')"))
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert meta == {"app": "tickwork", "schema": sqlite_module.SCHEMA_VERSION}
    assert mode == "wal"


def test_a_file_from_a_newer_tickwork_is_refused_and_left_alone(db: Path) -> None:
    store = SQLiteStore(db)
    store.open()
    store.close()
    with dbfile.connect(db) as conn:
        conn.execute("UPDATE meta SET value = 99 WHERE key = 'schema'")
    before = db.read_bytes()
    with pytest.raises(StoreError, match=r"newer tickwork \(schema version 99"):
        SQLiteStore(db).open()
    assert db.read_bytes() == before


def test_an_older_schema_is_migrated_forward(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SQLiteStore(db)
    store.add_job(_job("kept"))
    store.close()
    step = ("ALTER TABLE jobs ADD COLUMN owner_team TEXT",)
    monkeypatch.setattr(_sqlite_schema, "MIGRATIONS", [*_sqlite_schema.MIGRATIONS, step])
    monkeypatch.setattr(_sqlite_schema, "SCHEMA_VERSION", _sqlite_schema.SCHEMA_VERSION + 1)
    upgraded = SQLiteStore(db)
    assert [job.id for job in upgraded.get_jobs()] == ["kept"]
    with dbfile.connect(db) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0]
        columns = [row[1] for row in conn.execute("PRAGMA table_info(jobs)")]
    assert version == sqlite_module.SCHEMA_VERSION + 1
    assert "owner_team" in columns


def test_a_file_of_schema_3_loses_the_lease_expiry_index_and_keeps_its_leases(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tickwork.stores._contract import make_job
    from tickwork.stores._shared_contract import claim_run

    with monkeypatch.context() as older:
        older.setattr(_sqlite_schema, "MIGRATIONS", _sqlite_schema.MIGRATIONS[:3])
        older.setattr(_sqlite_schema, "SCHEMA_VERSION", 3)
        store = SQLiteStore(db)
        store.add_job(make_job("a"))
        assert claim_run(store) == 0  # a run in progress, its lease in the file
        store.close()

    def indexes() -> set[str]:
        with dbfile.connect(db) as conn:
            return {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}

    assert "leases_by_expiry" in indexes()
    peer = SQLiteStore(db, lease_time=9)
    peer.open()
    assert "leases_by_expiry" not in indexes()
    [taken] = peer.maintain(T0 + timedelta(minutes=1)).taken  # the lease is still there
    assert (taken.job_id, taken.scheduled_at) == ("a", T0)


def test_a_file_that_is_not_sqlite_is_a_clear_error(db: Path) -> None:
    db.write_bytes(b"these are my notes, not a database\n" * 200)
    with pytest.raises(StoreError, match="not a SQLite database, or is corrupt"):
        SQLiteStore(db).open()


def test_a_corrupt_tickwork_file_is_a_clear_error(db: Path) -> None:
    store = SQLiteStore(db)
    store.add_jobs([_job(f"j{n}") for n in range(200)])
    store.close()
    data = bytearray(db.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the header's tail and the schema page
    db.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=str(db.name)):
        SQLiteStore(db).get_jobs()


@pytest.mark.parametrize("kind", ["another application's", "a newer tickwork's"])
def test_a_refused_database_is_left_as_it_was_journal_mode_included(db: Path, kind: str) -> None:
    # Regression: the store switched the file to WAL mode before it read what it was.
    with dbfile.connect(db) as conn:
        if kind == "a newer tickwork's":
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value NOT NULL) WITHOUT ROWID")
            conn.execute("INSERT INTO meta VALUES ('app', 'tickwork'), ('schema', 99)")
        else:
            conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    before = db.read_bytes()
    with pytest.raises(StoreError, match=r"not a tickwork job store.*customers|newer tickwork"):
        SQLiteStore(db).open()
    assert db.read_bytes() == before
    with dbfile.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        SQLiteStore(tmp_path / "nowhere" / "jobs.db").open()


@pytest.mark.parametrize(
    ("argument", "value", "error"),
    [
        ("lease_time", 0, ValueError),
        ("poll_interval", -1, ValueError),
        ("history_per_job", 0, ValueError),
        ("lock_timeout", "5", TypeError),  # a wrong type
    ],
)
def test_bad_settings_are_refused(
    db: Path, argument: str, value: object, error: type[Exception]
) -> None:
    with pytest.raises(error, match=argument):
        SQLiteStore(db, **{argument: value})


# -- jobs kept as data ----------------------------------------------------------------


def test_a_lambda_is_refused_at_add_job_and_nothing_is_stored(db: Path) -> None:
    scheduler = scheduler_on(db, FakeClock(T0))
    with pytest.raises(SerializationError, match="lambda"):
        scheduler.add_job(lambda: None, "interval", seconds=5, id="anon")
    assert scheduler.get_job("anon") is None
    assert SQLiteStore(db).get_jobs() == []


def test_a_closure_is_refused_at_add_job(db: Path) -> None:
    def inner() -> None:
        pass

    scheduler = scheduler_on(db, FakeClock(T0))
    with pytest.raises(SerializationError, match="inner"):
        scheduler.add_job(inner, "interval", seconds=5)


def test_an_argument_json_cannot_hold_is_refused_naming_it(db: Path) -> None:
    scheduler = scheduler_on(db, FakeClock(T0))
    with pytest.raises(SerializationError, match=r"kwargs\['when'\].*datetime"):
        scheduler.add_job(RECORD, "interval", seconds=5, kwargs={"when": T0})
    with pytest.raises(SerializationError, match=r"args\[1\].*set"):
        scheduler.add_job(RECORD, "interval", seconds=5, args=[1, {2}])


def test_modify_job_with_an_unstorable_argument_changes_nothing(db: Path) -> None:
    scheduler = scheduler_on(db, FakeClock(T0))
    scheduler.add_job(RECORD, "interval", seconds=5, id="a", args=[1])
    with pytest.raises(SerializationError):
        scheduler.modify_job("a", args=[object()])
    job = scheduler.get_job("a")
    assert job is not None
    assert job.args == (1,)
    assert SQLiteStore(db).get_job("a").args == (1,)


def test_pickle_opt_in_keeps_any_picklable_argument(db: Path) -> None:
    clock = FakeClock(T0)
    scheduler = scheduler_on(db, clock, pickle=True)
    scheduler.add_job(RECORD, "date", run_date=T0 + timedelta(seconds=1), id="p",
                      args=[{1, 2}], kwargs={"when": T0})  # fmt: skip
    stored = SQLiteStore(db, pickle=True).get_job("p")
    assert stored.args == ({1, 2},)
    assert stored.kwargs == {"when": T0}


def test_a_store_without_pickle_never_unpickles(db: Path) -> None:
    scheduler = scheduler_on(db, FakeClock(T0), pickle=True)
    scheduler.add_job(RECORD, "interval", seconds=5, id="p", args=[{1, 2}])
    cautious = SQLiteStore(db)
    assert cautious.get_jobs() == []
    assert "pickle=True" in cautious.broken_jobs()["p"]


def test_jobs_survive_a_restart_with_their_schedule(db: Path) -> None:
    clock = FakeClock(T0)
    first = scheduler_on(db, clock)
    first.add_job(RECORD, "cron", "*/15 * * * *", id="quarterly", timezone="Europe/Berlin")
    first.add_job(RECORD, "interval", minutes=7, id="seven", paused=True, pause_note="later")
    first.open()
    advance(first, timedelta(minutes=20))
    first.shutdown()
    second = scheduler_on(db, clock)
    second.open()
    quarterly, seven = second.get_job("quarterly"), second.get_job("seven")
    assert quarterly is not None
    assert seven is not None
    assert quarterly.next_fire == T0 + timedelta(minutes=30)
    assert str(quarterly.next_fire.tzinfo) == "Europe/Berlin"
    assert seven.paused
    assert seven.pause_note == "later"
    second.shutdown()


def test_replace_existing_at_start_up_keeps_the_stored_next_fire(db: Path) -> None:
    clock = FakeClock(T0)
    first = scheduler_on(db, clock)
    first.add_job(RECORD, "interval", hours=1, id="hourly", replace_existing=True)
    first.open()
    advance(first, timedelta(minutes=90))  # fired at 13:00, next at 14:00
    first.shutdown()
    second = scheduler_on(db, clock)  # start-up code runs again, 90 min later
    job = second.add_job(RECORD, "interval", hours=1, id="hourly", replace_existing=True)
    assert job.next_fire == T0 + timedelta(hours=2)
    with pytest.raises(ConflictingIdError):
        second.add_job(RECORD, "interval", hours=1, id="hourly")


def test_runs_missed_while_nothing_ran_follow_the_jobs_policy(db: Path) -> None:
    clock = FakeClock(T0)
    first = scheduler_on(db, clock)
    first.add_job(RECORD, "interval", hours=1, id="latest", catchup="latest")
    first.add_job(RECORD, "interval", hours=1, id="graced", misfire_grace_time=60)
    first.open()
    first.shutdown()
    clock.advance(timedelta(hours=5, minutes=30))  # nothing ran from 12:00 to 17:30
    second = scheduler_on(db, clock)
    second.open()
    second.process_due()
    assert [at for at, _ in runs_of("latest")] == [T0 + timedelta(hours=5)]
    assert runs_of("graced") == []
    missed = second.history("graced")
    assert [run.outcome for run in missed] == [Outcome.MISSED]
    assert missed[0].error_message is not None
    assert "5 fire time(s) missed" in missed[0].error_message
    second.shutdown()


def test_add_jobs_is_all_or_nothing(db: Path) -> None:
    scheduler = scheduler_on(db, FakeClock(T0))
    entries: list[dict[str, Any]] = [
        {"func": RECORD, "trigger": "interval", "seconds": 5, "id": f"ok{n}"} for n in range(3)
    ]
    entries.append({"func": RECORD, "trigger": "interval", "seconds": 5, "args": [{1}]})
    with pytest.raises(SerializationError):
        scheduler.add_jobs(entries)
    assert scheduler.get_jobs() == []
    assert SQLiteStore(db).get_jobs() == []
    added = scheduler.add_jobs(entries[:3])
    assert [job.id for job in added] == ["ok0", "ok1", "ok2"]
    assert [job.id for job in SQLiteStore(db).get_jobs()] == ["ok0", "ok1", "ok2"]


# -- broken rows ------------------------------------------------------------------------


def test_a_row_that_cannot_load_is_kept_marked_and_the_rest_run(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(T0)
    setup = scheduler_on(db, clock)
    setup.add_job(RECORD, "interval", seconds=10, id="good")
    setup.add_job(RECORD, "interval", seconds=10, id="bad-trigger")
    setup.add_job(RECORD, "interval", seconds=10, id="gone-function")
    with dbfile.connect(db) as conn:
        conn.execute("UPDATE jobs SET trigger = '{\"type\": \"sundial\"' WHERE id = 'bad-trigger'")
        conn.execute("UPDATE jobs SET func_ref = 'retired_module:job' WHERE id = 'gone-function'")
    caplog.set_level(logging.ERROR, logger="tickwork")
    scheduler = scheduler_on(db, clock)
    scheduler.open()
    advance(scheduler, 30)
    assert [job.id for job in scheduler.get_jobs()] == ["good"]
    assert len(runs_of("good")) == 3
    broken = scheduler.broken_jobs()
    assert set(broken) == {"bad-trigger", "gone-function"}
    assert "retired_module" in broken["gone-function"]
    assert "trigger" in broken["bad-trigger"].lower()
    with dbfile.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 3
    scheduler.shutdown()


def test_a_broken_row_logs_once_per_process(db: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = SQLiteStore(db)
    store.add_job(_job("bad"))
    with dbfile.connect(db) as conn:
        conn.execute("UPDATE jobs SET options = '{not json' WHERE id = 'bad'")
    caplog.set_level(logging.ERROR, logger="tickwork")
    for _ in range(3):
        assert store.get_jobs() == []
    assert sum("'bad'" in r.getMessage() for r in caplog.records) == 1
    assert list(store.broken_jobs()) == ["bad"]


def test_a_broken_job_heals_when_it_loads_again(db: Path) -> None:
    store = SQLiteStore(db)
    store.add_job(_job("j"))
    with dbfile.connect(db) as conn:
        good = conn.execute("SELECT trigger FROM jobs").fetchone()[0]
        conn.execute("UPDATE jobs SET trigger = 'nonsense'")
    assert store.get_jobs() == []
    with dbfile.connect(db) as conn:
        conn.execute("UPDATE jobs SET trigger = ?", (good,))
    assert [job.id for job in store.get_jobs()] == ["j"]
    assert store.broken_jobs() == {}


@pytest.mark.parametrize(
    ("func_ref", "kept"),
    [
        pytest.param("gone_module_of_tests:job", True, id="function still missing"),
        pytest.param(RECORD, False, id="function back"),
    ],
)
def test_reading_a_job_marked_for_its_function_keeps_the_mark_unless_it_imports(
    db: Path, func_ref: str, kept: bool
) -> None:
    # A scheduler marked the job: its function did not import. A reader that decodes
    # the row (the dashboard's store, get_jobs of another process) must not clear
    # that mark unless the function imports where it reads: the scheduler that marked
    # it does not mark it again, and the job would look healthy (or late) everywhere.
    scheduler = Scheduler(store=SQLiteStore(db), timezone="UTC")
    scheduler.add_job(RECORD, "interval", hours=1, id="j")
    scheduler.shutdown()
    with dbfile.connect(db) as conn:
        conn.execute("UPDATE jobs SET func_ref = ?", (func_ref,))
    reader = SQLiteStore(db)
    reason = "its function cannot be imported: no module named 'gone_module_of_tests'"
    reader.mark_broken("j", reason)
    assert [job.id for job in reader.get_jobs()] == ["j"]  # the row itself decodes
    assert reader.broken_jobs() == ({"j": reason} if kept else {})
    reader.close()


def test_replacing_a_broken_job_repairs_it(db: Path) -> None:
    store = SQLiteStore(db)
    store.add_job(_job("j"))
    with dbfile.connect(db) as conn:
        conn.execute("UPDATE jobs SET trigger = 'nonsense'")
    scheduler = scheduler_on(db, FakeClock(T0))
    scheduler.add_job(RECORD, "interval", seconds=5, id="j", replace_existing=True)
    assert [job.id for job in SQLiteStore(db).get_jobs()] == ["j"]


# -- faults -----------------------------------------------------------------------------


def test_a_busy_file_waits_for_the_lock_instead_of_failing(db: Path) -> None:
    store = SQLiteStore(db, lock_timeout=10)
    store.open()
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    try:
        store.add_job(_job("waited"))  # would be "database is locked" without the retries
    finally:
        release.join()
        other.close()
    assert store.get_job("waited").id == "waited"


def test_a_lock_held_too_long_is_a_store_error_naming_the_file(db: Path) -> None:
    store = SQLiteStore(db, lock_timeout=0.2)
    store.open()
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match=r"jobs\.db.*locked by another process"):
            store.add_job(_job("late"))
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_a_full_disk_is_reported_and_nothing_stored_is_lost(db: Path) -> None:
    store = SQLiteStore(db)
    store.add_job(_job("first"))
    conn = store._connection()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # the file may not grow: a full disk
    big = [_job(f"big{n}", name="x" * 5000) for n in range(50)]
    with pytest.raises(StoreError, match="disk is full"):
        store.add_jobs(big)
    assert [job.id for job in store.get_jobs()] == ["first"]


def test_a_read_only_file_is_reported(db: Path) -> None:
    store = SQLiteStore(db)
    store.add_job(_job("first"))
    store._connection().execute("PRAGMA query_only = 1")
    with pytest.raises(StoreError, match="read-only"):
        store.add_job(_job("second"))
    assert [job.id for job in store.get_jobs()] == ["first"]


def test_a_failing_store_pauses_dispatch_and_keeps_the_history(db: Path) -> None:
    clock = FakeClock(T0)
    scheduler = scheduler_on(db, clock)
    scheduler.add_job(RECORD, "interval", seconds=10, id="tick")
    scheduler.open()
    advance(scheduler, 10)
    assert len(runs_of("tick")) == 1
    store = scheduler.store
    assert isinstance(store, SQLiteStore)
    store._connection().execute("PRAGMA query_only = 1")
    advance(scheduler, 10)  # the claim fails: nothing runs without one
    assert len(runs_of("tick")) == 1
    store._connection().execute("PRAGMA query_only = 0")
    advance(scheduler, 2)  # the store answers again: the due fire runs, late
    assert len(runs_of("tick")) == 2
    assert [run.outcome for run in scheduler.history("tick")] == [Outcome.SUCCESS] * 2
    scheduler.shutdown()


# -- leases between schedulers ----------------------------------------------------------


def test_a_run_whose_process_died_is_taken_over_and_recorded_interrupted(db: Path) -> None:
    clock = FakeClock(T0)
    dead = Vanishing()
    first = scheduler_on(db, clock, dead, lease_time=9)
    first.add_job(RECORD, "interval", hours=1, id="etl")
    first.open()
    advance(first, timedelta(hours=1), settle=0)
    assert len(dead.taken) == 1  # started, and then its process "died"
    second = scheduler_on(db, clock, lease_time=9)
    events: list[Any] = []
    second.add_listener(events.append, EventKind.JOB_INTERRUPTED)
    second.open()
    advance(second, 8)
    assert second.history("etl") == []  # the lease is still fresh
    advance(second, 5)
    [run] = second.history("etl")
    assert run.outcome is Outcome.INTERRUPTED
    assert run.error_type == "tickwork.LeaseExpired"
    assert run.scheduled_at == T0 + timedelta(hours=1)
    assert [event.job_id for event in events] == ["etl"]
    assert runs_of("etl") == []  # no retry policy: not run again
    with dbfile.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM leases").fetchone()[0] == 0


def test_a_taken_over_run_is_retried_when_the_job_says_so(db: Path) -> None:
    clock = FakeClock(T0)
    dead = Vanishing()
    first = scheduler_on(db, clock, dead, lease_time=9)
    first.add_job(RECORD, "interval", hours=1, id="etl", retry=RetryPolicy(attempts=2, delay=0),
                  timezone="Europe/Berlin")  # fmt: skip
    first.open()
    advance(first, timedelta(hours=1), settle=0)
    second = scheduler_on(db, clock, lease_time=9)
    second.open()
    advance(second, 15)
    assert runs_of("etl") == [(T0 + timedelta(hours=1), 2)]
    [(scheduled_at, _)] = runs_of("etl")
    assert str(scheduled_at.tzinfo) == "Europe/Berlin"  # the trigger's zone, as always
    outcomes = [(run.outcome, run.attempt) for run in second.history("etl")]
    assert outcomes == [(Outcome.SUCCESS, 2), (Outcome.INTERRUPTED, 1)]


def test_a_retry_whose_process_died_while_it_waited_is_run_not_counted_cut_off(
    db: Path,
) -> None:
    # Attempt 1 failed; attempt 2 waited for its time when the process died. It never
    # started: the taker runs it (attempt 2), not records it interrupted and use up the
    # attempt (with attempts=2 the fire was lost).
    clock = FakeClock(T0)
    first = scheduler_on(db, clock, lease_time=9)
    first.add_job(f"{FAIL.partition(':')[0]}:fail_first_attempt", "interval", hours=1,
                  id="etl", retry=RetryPolicy(attempts=2, delay=60, jitter=0))  # fmt: skip
    first.open()
    advance(first, timedelta(hours=1))  # attempt 1 fails; attempt 2 due in 60 s
    assert runs_of("etl") == [(T0 + timedelta(hours=1), 1)]
    second = scheduler_on(db, clock, lease_time=9)  # ("first" is never stepped again)
    second.open()
    advance(second, 15)  # its lease expired: taken over
    assert runs_of("etl") == [(T0 + timedelta(hours=1), 1), (T0 + timedelta(hours=1), 2)]
    outcomes = [(run.outcome, run.attempt) for run in second.history("etl")]
    assert outcomes == [(Outcome.SUCCESS, 2), (Outcome.FAILURE, 1)]


def test_a_retry_cut_off_once_started_is_recorded_interrupted(db: Path) -> None:
    # Once attempt 2 starts, its lease says so: a process that dies during it leaves
    # it cut off (interrupted, the next attempt if any), not a retry to run again.
    clock = FakeClock(T0)
    dead = Vanishing()
    first = scheduler_on(db, clock, lease_time=9)
    first.add_job(FAIL, "interval", hours=1, id="etl",
                  retry=RetryPolicy(attempts=2, delay=60, jitter=0))  # fmt: skip
    first.open()
    advance(first, timedelta(hours=1))  # attempt 1 fails
    first.engine._runners.executors["default"] = dead  # (attempt 2 starts, then dies)
    advance(first, 60, settle=0)
    assert runs_of("etl") == [(T0 + timedelta(hours=1), 1)]
    assert len(dead.taken) == 1
    second = scheduler_on(db, clock, lease_time=9)
    second.open()
    advance(second, 15)
    assert runs_of("etl") == [(T0 + timedelta(hours=1), 1)]  # attempts used up
    outcomes = [(run.outcome, run.attempt) for run in second.history("etl")]
    assert outcomes == [(Outcome.INTERRUPTED, 2), (Outcome.FAILURE, 1)]


def test_a_process_that_lost_its_lease_cannot_release_the_new_one(db: Path) -> None:
    clock = FakeClock(T0)
    slow = Vanishing()
    first = scheduler_on(db, clock, slow, lease_time=9)
    first.add_job(RECORD, "interval", hours=1, id="etl", retry=RetryPolicy(attempts=3, delay=60))
    first.open()
    advance(first, timedelta(hours=1), settle=0)
    second = scheduler_on(db, clock, lease_time=9)
    second.open()
    advance(second, 10)  # took it over; its retry waits 60 s under a lease of its own
    with dbfile.connect(db) as conn:
        [(owner, attempt)] = conn.execute("SELECT owner, attempt FROM leases").fetchall()
    assert owner == second.store.owner  # type: ignore[attr-defined]
    assert attempt == -2  # attempt 2, waiting for its time (not started: negative)
    # The first process comes back to life: its run "finishes" and it renews.
    from tickwork._model import RunResult

    first.engine._on_result(
        RunResult(slow.taken[0], Outcome.SUCCESS, started_at=T0, finished_at=T0)
    )
    first.process_due()
    with dbfile.connect(db) as conn:
        assert conn.execute("SELECT owner FROM leases").fetchall() == [(owner,)]


def test_leases_are_renewed_while_a_long_run_goes_on(db: Path) -> None:
    clock = FakeClock(T0)
    busy = Vanishing()  # a run that is still going
    first = scheduler_on(db, clock, busy, lease_time=9)
    first.add_job(RECORD, "interval", hours=1, id="long")
    first.open()
    second = scheduler_on(db, clock, lease_time=9)
    second.open()
    advance(first, timedelta(hours=1), settle=0)
    for _ in range(20):  # a minute of heartbeats from the first; the second watches
        clock.advance(3)
        first.process_due()
        second.process_due()
    assert second.history("long") == []
    with dbfile.connect(db) as conn:
        assert conn.execute("SELECT owner FROM leases").fetchall() == [
            (first.store.owner,)  # type: ignore[attr-defined]
        ]


def test_each_fire_runs_once_between_two_schedulers(db: Path) -> None:
    clock = FakeClock(T0)
    first = scheduler_on(db, clock, poll_interval=1)
    second = scheduler_on(db, clock, poll_interval=1)
    for scheduler in (first, second):
        scheduler.add_job(RECORD, "interval", seconds=1, id="fast", replace_existing=True)
        scheduler.add_job(RECORD, "interval", seconds=3, id="slow", replace_existing=True)
        scheduler.open()
    for _ in range(60):
        clock.advance(0.5)
        first.process_due()
        second.process_due()
    fast = [at for at, _ in runs_of("fast")]
    assert len(fast) == len(set(fast)) == 30
    assert sorted(fast) == [T0 + timedelta(seconds=n) for n in range(1, 31)]
    assert len(runs_of("slow")) == 10


# -- other processes' changes -----------------------------------------------------------


def test_changes_by_another_process_arrive_with_the_next_poll(db: Path) -> None:
    clock = FakeClock(T0)
    first = scheduler_on(db, clock, poll_interval=2)
    first.add_job(RECORD, "interval", seconds=1, id="tick")
    first.open()
    other = scheduler_on(db, clock, poll_interval=2)
    other.open()
    other.pause_job("tick")
    other.add_job(RECORD, "interval", seconds=1, id="new")
    advance(first, 2)
    assert len(runs_of("tick")) <= 2  # at most until the next poll
    assert first.get_job("tick").paused  # type: ignore[union-attr]
    before = len(runs_of("tick"))
    advance(first, 5)
    assert len(runs_of("tick")) == before
    assert len(runs_of("new")) >= 4
    other.remove_job("new")
    advance(first, 2)
    assert first.get_job("new") is None


# -- history ----------------------------------------------------------------------------


def test_history_records_every_outcome_newest_first(db: Path) -> None:
    clock = FakeClock(T0)
    scheduler = scheduler_on(db, clock)
    scheduler.add_job(
        FAIL, "interval", seconds=10, id="flaky", retry=RetryPolicy(attempts=2, delay=1)
    )
    scheduler.open()
    advance(scheduler, 12)
    runs = scheduler.history("flaky")
    assert [(run.outcome, run.attempt) for run in runs] == [
        (Outcome.FAILURE, 2),
        (Outcome.FAILURE, 1),
    ]
    assert runs[0].error_type == "RuntimeError"
    assert runs[0].error_message == "this job always fails"
    assert runs[0].scheduled_at == T0 + timedelta(seconds=10)
    assert runs[0].process.endswith(f":{__import__('os').getpid()}")
    assert runs[1].duration is not None
    scheduler.shutdown()


def test_history_is_pruned_per_job_and_by_age(db: Path) -> None:
    clock = FakeClock(T0)
    scheduler = scheduler_on(db, clock, history_per_job=5, history_days=1)
    scheduler.add_job(RECORD, "interval", seconds=10, id="a")
    scheduler.add_job(RECORD, "interval", hours=6, id="b")
    scheduler.open()
    advance(scheduler, 200)
    store = scheduler.store
    assert isinstance(store, SQLiteStore)
    store.prune_history(clock.now())
    assert len(scheduler.history("a", limit=100)) == 5
    assert [run.scheduled_at for run in scheduler.history("a", limit=2)] == [
        T0 + timedelta(seconds=200),
        T0 + timedelta(seconds=190),
    ]
    clock.advance(timedelta(days=2))
    store.prune_history(clock.now())
    assert scheduler.history() == []
    scheduler.shutdown()


def _job(job_id: str, **changes: Any) -> Any:
    from tickwork._model import Job
    from tickwork.triggers import IntervalTrigger

    return Job(
        id=job_id,
        name=changes.pop("name", job_id),
        func=None,
        func_ref=RECORD,
        trigger=IntervalTrigger(seconds=10, start=T0, timezone="UTC"),
        next_fire=T0,
        **changes,
    )


# -- engine behaviour with a shared store ---------------------------------------------


def test_a_failing_store_is_retried_after_a_pause_not_in_a_spin(db: Path) -> None:
    clock = FakeClock(T0)
    scheduler = scheduler_on(db, clock)
    scheduler.add_job(RECORD, "interval", seconds=10, id="tick")
    scheduler.open()
    clock.advance(10)
    store = scheduler.store
    assert isinstance(store, SQLiteStore)
    store._connection().execute("PRAGMA query_only = 1")
    wake = scheduler.process_due()
    assert wake is not None
    assert wake >= clock.now() + timedelta(seconds=1)
    store._connection().execute("PRAGMA query_only = 0")
    scheduler.shutdown()


def test_a_paused_scheduler_takes_over_no_runs(db: Path) -> None:
    clock = FakeClock(T0)
    first = scheduler_on(db, clock, Vanishing(), lease_time=9)
    first.add_job(RECORD, "interval", hours=1, id="etl", retry=RetryPolicy(attempts=2, delay=0))
    first.open()
    advance(first, timedelta(hours=1), settle=0)
    watcher = scheduler_on(db, clock, lease_time=9)
    watcher.start(paused=True)
    watcher.shutdown()
    paused = scheduler_on(db, clock, lease_time=9)
    paused.open(paused=True)
    clock.advance(20)
    paused.process_due()
    assert paused.history("etl") == []
    running = scheduler_on(db, clock, lease_time=9)
    running.open()
    running.process_due()  # the lease is free for a running scheduler to take
    assert [run.outcome for run in running.history("etl")][-1] is Outcome.INTERRUPTED


def test_a_one_off_job_cut_off_keeps_its_record_for_the_retry(db: Path) -> None:
    clock = FakeClock(T0)
    first = scheduler_on(db, clock, Vanishing(), lease_time=9)
    first.add_job(RECORD, "date", run_date=T0 + timedelta(seconds=5), id="once",
                  retry=RetryPolicy(attempts=2, delay=0))  # fmt: skip
    first.open()
    advance(first, 5, settle=0)
    assert [job.id for job in SQLiteStore(db).get_jobs()] == ["once"]  # still running
    second = scheduler_on(db, clock, lease_time=9)
    second.open()
    advance(second, 15)
    assert runs_of("once") == [(T0 + timedelta(seconds=5), 2)]
    assert SQLiteStore(db).get_jobs() == []  # done for good once the retry ended


def test_a_finished_one_off_job_is_removed_from_the_file(db: Path) -> None:
    clock = FakeClock(T0)
    scheduler = scheduler_on(db, clock)
    scheduler.add_job(RECORD, "date", run_date=T0 + timedelta(seconds=5), id="once")
    scheduler.open()
    advance(scheduler, 10)
    assert len(runs_of("once")) == 1
    assert SQLiteStore(db).get_jobs() == []
    assert scheduler.get_job("once") is None


def test_a_job_for_an_executor_this_process_lacks_is_left_to_a_process_that_has_it(
    db: Path,
) -> None:
    clock = FakeClock(T0)
    worker = Scheduler(
        store=SQLiteStore(db),
        clock=clock,
        executors={"default": InlineExecutor(), "gpu": InlineExecutor()},
        timezone="UTC",
    )
    worker.add_job(RECORD, "interval", seconds=10, id="train", executor="gpu")
    web = scheduler_on(db, clock)  # a process without the "gpu" executor
    web.open()
    assert [job.id for job in web.get_jobs()] == ["train"]
    advance(web, 10)
    assert runs_of("train") == []  # not claimed here, so not lost
    worker.open()
    worker.process_due()
    assert runs_of("train") == [(T0 + timedelta(seconds=10), 1)]
    advance(web, 10)
    assert len(runs_of("train")) == 1
    web.shutdown()
    worker.shutdown()


def test_before_start_the_stored_jobs_can_be_seen_and_managed(db: Path) -> None:
    clock = FakeClock(T0)
    first = scheduler_on(db, clock)
    first.add_job(RECORD, "interval", minutes=5, id="kept")
    later = scheduler_on(db, clock)  # a new process, not started yet
    assert [job.id for job in later.get_jobs()] == ["kept"]
    later.pause_job("kept", note="maintenance")
    assert SQLiteStore(db).get_job("kept").paused


def test_a_broken_job_can_be_removed(db: Path) -> None:
    store = SQLiteStore(db)
    store.add_job(_job("bad"))
    with dbfile.connect(db) as conn:
        conn.execute("UPDATE jobs SET trigger = 'nonsense'")
    scheduler = scheduler_on(db, FakeClock(T0))
    scheduler.open()
    assert list(scheduler.broken_jobs()) == ["bad"]
    scheduler.remove_job("bad")
    assert scheduler.broken_jobs() == {}
    scheduler.shutdown()


def test_shutting_down_a_scheduler_that_never_started_closes_the_file(db: Path) -> None:
    scheduler = scheduler_on(db, FakeClock(T0))
    scheduler.add_jobs(
        {"func": RECORD, "trigger": "interval", "seconds": 5, "id": f"j{n}"} for n in range(20)
    )
    scheduler.shutdown()
    # The last connection closed: SQLite folded the WAL into the file, so a copy of
    # the file alone holds the jobs.
    copy = db.with_name("copy.db")
    copy.write_bytes(db.read_bytes())
    assert len(SQLiteStore(copy).get_jobs()) == 20


class Counting(InlineExecutor):
    """Runs inline and counts the runs it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def submit(self, request: RunRequest) -> None:
        self.count += 1
        super().submit(request)


def test_two_schedulers_share_a_large_backlog_and_run_each_fire_once(db: Path) -> None:
    from tickwork._machine import CHUNK_FIRST

    clock = FakeClock(T0)
    due = T0 + timedelta(seconds=1)
    count = CHUNK_FIRST * 12 + 200  # many chunks, raced for by both
    setup = scheduler_on(db, clock)
    setup.add_jobs(
        {"func": RECORD, "trigger": "date", "run_date": due, "id": f"j{n}"} for n in range(count)
    )
    runners = Counting(), Counting()
    first, second = (scheduler_on(db, clock, runner) for runner in runners)
    first.open()
    second.open()
    clock.set(due)
    # The two step by turns, a chunk each time, as two processes would.
    for _ in range(100):
        first.engine.step()
        second.engine.step()
        if not (first.engine.backlog or second.engine.backlog):
            break
    ran = [job_id for job_id, _, _ in sqlite_jobs.RUNS]
    assert len(ran) == len(set(ran)) == count
    # Each ran a fair part: after the first lost claim, they claim in orders of their own.
    shares = [runner.count for runner in runners]
    assert min(shares) > count // 5, shares
    by_first = {run.job_id for run in first.history(limit=count) if run.process}
    assert len(by_first) == count  # the history holds every run, from both
    assert SQLiteStore(db).get_jobs() == []


def test_max_instances_counts_runs_in_other_processes(db: Path) -> None:
    from tickwork._model import RunResult

    clock = FakeClock(T0)
    slow = Vanishing()  # its runs are still going
    first = scheduler_on(db, clock, slow)
    first.add_job(RECORD, "interval", seconds=10, id="sync", max_instances=1)
    first.open()
    second = scheduler_on(db, clock)
    second.open()
    clock.set(T0 + timedelta(seconds=10))
    first.process_due()  # first claims the 12:00:10 fire; its run goes on
    assert len(slow.taken) == 1
    clock.set(T0 + timedelta(seconds=20))
    second.process_due()  # second claims 12:00:20, but one run is going elsewhere
    assert runs_of("sync") == []
    [skipped] = second.history("sync")
    assert skipped.outcome is Outcome.SKIPPED
    assert skipped.error_message == "1 run(s) in progress in other processes, max_instances=1"
    # The long run ends; the next fire is free to run wherever it is claimed.
    first.engine._on_result(
        RunResult(slow.taken[0], Outcome.SUCCESS, started_at=T0, finished_at=T0)
    )
    first.process_due()
    clock.set(T0 + timedelta(seconds=30))
    second.process_due()
    assert runs_of("sync") == [(T0 + timedelta(seconds=30), 1)]


def test_runs_elsewhere_leave_room_up_to_max_instances(db: Path) -> None:
    clock = FakeClock(T0)
    slow = Vanishing()
    first = scheduler_on(db, clock, slow)
    first.add_job(RECORD, "interval", seconds=10, id="fan", max_instances=2)
    first.open()
    second = scheduler_on(db, clock)
    second.open()
    clock.set(T0 + timedelta(seconds=10))
    first.process_due()
    clock.set(T0 + timedelta(seconds=20))
    second.process_due()  # one run elsewhere, room for one more
    assert runs_of("fan") == [(T0 + timedelta(seconds=20), 1)]


def test_async_schedulers_share_a_file_and_run_each_fire_once(db: Path) -> None:
    import asyncio
    import time

    from tickwork import AsyncScheduler

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)

    async def main() -> None:
        first = AsyncScheduler(store=SQLiteStore(db, poll_interval=0.1), timezone="UTC")
        second = AsyncScheduler(store=SQLiteStore(db, poll_interval=0.1), timezone="UTC")
        for scheduler in (first, second):
            await scheduler.add_jobs(
                {
                    "func": func,
                    "trigger": "interval",
                    "seconds": 0.05,
                    "start_date": start,
                    "id": job_id,
                    "replace_existing": True,
                    "catchup": "none",
                }
                for func, job_id in (
                    ("tests.stores.sqlite_jobs:async_record", "co"),
                    (RECORD, "plain"),
                )
            )
        async with first, second:
            deadline = time.monotonic() + 5
            while min(len(runs_of("co")), len(runs_of("plain"))) < 10:
                assert time.monotonic() < deadline, sqlite_jobs.RUNS
                await asyncio.sleep(0.01)
        for job_id in ("co", "plain"):
            fires = [at for at, _ in runs_of(job_id)]
            assert len(fires) == len(set(fires)), job_id
            runs = await first.history(job_id, limit=1000)
            recorded = [run.scheduled_at for run in runs if run.outcome is Outcome.SUCCESS]
            assert sorted(recorded) == sorted(fires)

    asyncio.run(asyncio.wait_for(main(), timeout=10))


def test_a_job_another_process_just_added_can_be_managed_at_once(db: Path) -> None:
    clock = FakeClock(T0)
    here = scheduler_on(db, clock, poll_interval=60)
    here.open()
    here.process_due()  # has just checked for changes; the next check is a minute away
    other = scheduler_on(db, clock)
    other.add_job(RECORD, "interval", seconds=10, id="theirs")
    job = here.get_job("theirs")
    assert job is not None
    here.pause_job("theirs", note="seen at once")
    assert SQLiteStore(db).get_job("theirs").pause_note == "seen at once"
    assert here.get_job("nobody") is None


def test_a_locked_file_does_not_stall_the_event_loop_of_an_async_scheduler(db: Path) -> None:
    import asyncio
    import time

    from tickwork import AsyncScheduler

    async def main() -> float:
        events: list[Any] = []
        scheduler = AsyncScheduler(store=SQLiteStore(db, poll_interval=0.05), timezone="UTC")
        scheduler.add_listener(events.append, EventKind.JOB_EXECUTED)
        async with scheduler:
            await scheduler.add_job(RECORD, "interval", seconds=0.1, id="tick")
            other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
            other.execute("BEGIN IMMEDIATE")  # another process holds the file
            longest, last = 0.0, time.monotonic()
            until = last + 0.8
            while time.monotonic() < until:  # the loop's own work goes on meanwhile
                await asyncio.sleep(0.01)
                now = time.monotonic()
                longest, last = max(longest, now - last), now
            other.execute("COMMIT")
            other.close()
            deadline = time.monotonic() + 5
            while not events:  # once the file is free the job runs, and listeners
                assert time.monotonic() < deadline  # are called on the loop
                await asyncio.sleep(0.01)
        assert all(runs_of("tick"))
        return longest

    longest = asyncio.run(asyncio.wait_for(main(), timeout=15))
    assert longest < 0.4, f"the event loop stalled for {longest:.2f} s"


# -- shutdown, dead holders, a file deleted under the store --------------------------------


def _leases(db: Path) -> list[tuple[str, int, str]]:
    """(job id, attempt, owner) of every lease in the file."""
    with dbfile.connect(db) as conn:
        return conn.execute("SELECT job_id, attempt, owner FROM leases ORDER BY job_id").fetchall()


def test_shutdown_leaves_a_pending_retry_to_the_next_process(db: Path) -> None:
    clock = FakeClock(T0)
    first = scheduler_on(db, clock)
    retry = RetryPolicy(attempts=3, delay=60, factor=1, jitter=0)
    first.add_job(FAIL, "interval", hours=1, id="etl", retry=retry)
    first.open()
    advance(first, timedelta(hours=1), settle=0)
    fire = T0 + timedelta(hours=1)
    assert runs_of("etl") == [(fire, 1)]  # failed; attempt 2 is due in 60 s
    first.shutdown()
    # Held by no process, with the attempt to run next.
    assert _leases(db) == [("etl", 2, "")]

    second = scheduler_on(db, clock)
    skipped: list[Any] = []
    second.add_listener(skipped.append, EventKind.JOB_SKIPPED | EventKind.JOB_INTERRUPTED)
    second.open()
    advance(second, 30)
    assert runs_of("etl") == [(fire, 1)]  # not due yet
    advance(second, 31)
    assert runs_of("etl") == [(fire, 1), (fire, 2)]
    advance(second, 61)
    assert runs_of("etl") == [(fire, 1), (fire, 2), (fire, 3)]
    history = [(run.outcome, run.attempt) for run in second.history("etl")]
    second.shutdown()
    assert history == [(Outcome.FAILURE, 3), (Outcome.FAILURE, 2), (Outcome.FAILURE, 1)]
    assert skipped == []
    assert _leases(db) == []


def test_a_retry_left_for_a_job_removed_since_is_reported_skipped(db: Path) -> None:
    clock = FakeClock(T0)
    first = scheduler_on(db, clock)
    first.add_job(FAIL, "interval", hours=1, id="etl", retry=RetryPolicy(attempts=2, delay=5))
    first.open()
    advance(first, timedelta(hours=1), settle=0)
    first.shutdown()
    second = scheduler_on(db, clock)
    second.remove_job("etl")
    second.open()
    advance(second, 10)
    [skipped, failed] = second.history("etl")
    second.shutdown()
    assert (skipped.outcome, skipped.attempt) == (Outcome.SKIPPED, 2)
    assert "no longer exists" in (skipped.error_message or "")
    assert (failed.outcome, failed.attempt) == (Outcome.FAILURE, 1)
    assert _leases(db) == []


def test_shutdown_leaves_a_waiting_run_in_the_file_beside_the_running_one(db: Path) -> None:
    clock = FakeClock(T0)
    busy = Vanishing()  # its runs never end: still going at shutdown
    first = scheduler_on(db, clock, busy)
    first.add_job(RECORD, "interval", minutes=1, id="sync", overlap="buffer_one")
    first.open()
    advance(first, 60, settle=0)
    advance(first, 60, settle=0)  # the second fire waits for the first run
    assert len(busy.taken) == 1
    first.shutdown(wait=False)
    # The running run keeps its lease (it may still be going); the waiting one is left
    # in the file for the next process, held by no one, and recorded nowhere yet.
    owner = first.store.owner  # type: ignore[attr-defined]
    assert sorted(_leases(db)) == sorted([("sync", 1, owner), ("sync", 1, "")])
    with SQLiteStore(db) as reader:
        assert reader.history("sync") == []


class Queueing(Vanishing):
    """Holds every run it is given, unstarted (a backlog queued for busy threads), until
    a scheduler shutting down takes them back."""

    def take_unstarted(self) -> list[RunRequest]:
        taken, self.taken = self.taken, []
        return taken


@pytest.mark.parametrize("persistent", [True, False])
def test_runs_claimed_and_not_started_at_shutdown_are_left_to_the_next_process(
    db: Path, persistent: bool
) -> None:
    clock = FakeClock(T0)
    queue = Queueing()
    store: Any = SQLiteStore(db) if persistent else MemoryStore()
    first = Scheduler(store=store, clock=clock, executors={"default": queue}, timezone="UTC")
    for n in range(3):
        first.add_job(RECORD, "date", run_date=T0 + timedelta(seconds=10), id=f"once-{n}")
    first.add_job(RECORD, "interval", minutes=1, id="every")
    first.open()
    advance(first, 60, settle=0)
    assert len(queue.taken) == 4  # claimed, handed to the executor, none started
    ended: list[Event] = []
    first.add_listener(ended.append, EventKind.JOB_INTERRUPTED | EventKind.JOB_SKIPPED)
    history = first.history
    first.shutdown()
    if not persistent:  # nowhere to leave them: each reported once, as not started
        assert sorted(event.job_id or "" for event in ended) == [
            "every",
            "once-0",
            "once-1",
            "once-2",
        ]
        assert all(event.kind is EventKind.JOB_INTERRUPTED for event in ended)
        assert all(run.started_at is None for run in history())
        return
    assert ended == []
    # Held by no process, due at once, with the attempt to run.
    assert sorted(_leases(db)) == [("every", 1, ""), ("once-0", 1, ""), ("once-1", 1, ""),
                                   ("once-2", 1, "")]  # fmt: skip
    with SQLiteStore(db) as reader:
        assert reader.history() == []  # nothing recorded: they have not run

    second = scheduler_on(db, clock)
    second.open()
    advance(second, 1)
    ran = {job_id: runs_of(job_id) for job_id in ("once-0", "once-1", "once-2", "every")}
    outcomes = sorted((run.job_id, run.outcome, run.attempt) for run in second.history())
    left = sorted(job.id for job in second.get_jobs())
    second.shutdown()
    assert ran == {
        **{f"once-{n}": [(T0 + timedelta(seconds=10), 1)] for n in range(3)},
        "every": [(T0 + timedelta(minutes=1), 1)],
    }
    assert outcomes == [("every", Outcome.SUCCESS, 1)] + [
        (f"once-{n}", Outcome.SUCCESS, 1) for n in range(3)
    ]
    assert left == ["every"]  # the one-off jobs are done
    assert _leases(db) == []


def test_a_job_paused_in_another_process_does_not_run_its_runs_queued_here(db: Path) -> None:
    # This process has runs of "paused" waiting for its one thread; another pauses the
    # job: at its next look at the file this one takes them back, reported skipped.
    sqlite_jobs.RELEASE.clear()
    events = Events()
    here = Scheduler(store=SQLiteStore(db, poll_interval=0.05), timezone="UTC",
                     executors={"default": ThreadExecutor(max_workers=1)})  # fmt: skip
    here.add_listener(events)
    try:
        here.start()
        here.add_job(f"{sqlite_jobs.__name__}:wait_released", "interval", hours=1,
                     run_immediately=True, id="blocker")  # fmt: skip
        assert wait_until(lambda: bool(runs_of("blocker")))
        for name in ("paused", "kept"):
            here.add_job(RECORD, "interval", hours=1, run_immediately=True, id=name)
        events.wait_for(EventKind.JOB_SUBMITTED, count=3)
        elsewhere = Scheduler(store=SQLiteStore(db), timezone="UTC")
        elsewhere.pause_job("paused")
        elsewhere.shutdown()
        [skipped] = events.wait_for(EventKind.JOB_SKIPPED, job_id="paused")
        sqlite_jobs.RELEASE.set()
        events.wait_for(EventKind.JOB_EXECUTED, count=2)
    finally:
        sqlite_jobs.RELEASE.set()
        here.shutdown()
    assert skipped.reason == "its job was paused before it started"
    assert runs_of("paused") == []
    assert len(runs_of("kept")) == 1
    with SQLiteStore(db) as reader:
        [run] = reader.history("paused")
        assert (run.outcome, run.started_at) == (Outcome.SKIPPED, None)
    assert _leases(db) == []


def _dead_process_identity() -> str:
    """The lease identity of a process that has exited (same machine, same namespace)."""
    from tickwork.stores._liveness import identity

    mine = identity()
    assert mine is not None
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    scope, _, start = mine.split(" ")
    return f"{scope} {int(child.stdout)} {start}"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_liveness_tells_a_dead_or_reused_pid_from_a_live_one() -> None:
    from tickwork.stores._liveness import identity, is_dead

    mine = identity()
    assert mine is not None
    assert not is_dead(mine)
    scope, pid, start = mine.split(" ")
    assert is_dead(f"{scope} {pid} {int(start) + 1}")  # same PID, another process
    assert is_dead(_dead_process_identity())
    assert not is_dead(f"another-machine/pid:[1] {pid} {start}")  # cannot tell: alive
    assert not is_dead("garbage")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_run_whose_process_is_found_dead_is_taken_over_at_the_next_poll(db: Path) -> None:
    clock = FakeClock(T0)
    dead = Vanishing()
    first = scheduler_on(db, clock, dead)  # lease_time 30 s
    first.add_job(RECORD, "interval", hours=1, id="etl", retry=RetryPolicy(attempts=2, delay=0))
    first.open()
    advance(first, timedelta(hours=1), settle=0)
    with dbfile.connect(db) as conn:
        conn.execute("UPDATE leases SET holder = ?", (_dead_process_identity(),))
    second = scheduler_on(db, clock, poll_interval=1)
    second.open()
    advance(second, 1.5)  # far within lease_time
    history = second.history("etl")
    second.shutdown()
    assert [(run.outcome, run.attempt) for run in history] == [
        (Outcome.SUCCESS, 2),
        (Outcome.INTERRUPTED, 1),
    ]
    assert "died" in (history[1].error_message or "")
    assert runs_of("etl") == [(T0 + timedelta(hours=1), 2)]


def test_a_live_holder_keeps_its_run_until_its_lease_expires(db: Path) -> None:
    clock = FakeClock(T0)
    slow = Vanishing()
    first = scheduler_on(db, clock, slow, lease_time=9)
    first.add_job(RECORD, "interval", hours=1, id="etl")
    first.open()
    advance(first, timedelta(hours=1), settle=0)
    second = scheduler_on(db, clock, lease_time=9)
    second.open()
    advance(second, 5)  # the holder (this very process) is alive: nothing to take
    assert second.history("etl") == []
    second.shutdown()


def test_a_record_that_failed_releases_the_lease_when_written_again(db: Path) -> None:
    # The scheduler keeps history rows a failing store could not take and writes them
    # later: the lease of a run that is over must still be released then (else it
    # would expire, and another process would take the finished run over).
    from tickwork.stores._contract import make_job, run_end
    from tickwork.stores._shared_contract import claim_run

    store = SQLiteStore(db, lock_timeout=0.2)
    store.add_job(make_job("a"))
    assert claim_run(store) == 0
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the file
    with pytest.raises(StoreError, match="locked"):
        store.record_runs([run_end("a")], now=T0)
    other.execute("ROLLBACK")
    other.close()
    store.record_runs([run_end("a")], now=T0)
    with dbfile.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM leases").fetchone()[0] == 0
    assert [run.job_id for run in store.history()] == ["a"]


def test_a_fencing_token_is_never_given_twice(db: Path) -> None:
    # Claims give their leases' tokens themselves, a batch at a time: each above every
    # token ever given, also when the lease with the highest one was released since
    # (reusing it would let the process that held it release a stranger's lease).
    from tickwork.stores._contract import make_job, run_end
    from tickwork.stores._shared_contract import claim_run

    store = SQLiteStore(db)
    store.add_jobs([make_job("a"), make_job("b"), make_job("c")])
    assert store.claim_fires(
        [(job_id, T0, T0 + timedelta(seconds=10), None, (T0,)) for job_id in ("a", "b")],
        now=T0,
    ) == [0, 0]
    first = {key[0]: token for key, token in store._leases.items()}
    assert first["b"] == first["a"] + 1
    store.record_runs([run_end("a"), run_end("b")], now=T0)  # the file holds no lease
    assert claim_run(store, job_id="c") == 0
    ((_, third),) = store._leases.items()
    assert third == first["b"] + 1
    with dbfile.connect(db) as conn:
        assert conn.execute("SELECT token, job_id FROM leases").fetchall() == [(third, "c")]
    # A lease the SQL inserts itself (a takeover) goes on from there too.
    with dbfile.connect(db) as conn:
        conn.execute("INSERT INTO leases (job_id, scheduled_us, attempt, owner, expires_us) "
                     "VALUES ('x', 1, 1, 'o', 1)")  # fmt: skip
        assert conn.execute("SELECT max(token) FROM leases").fetchone()[0] == third + 1


@pytest.mark.parametrize("returning", [True, False], ids=["by-the-writes", "read-first"])
def test_a_batch_of_claims_is_decided_alike_with_or_without_a_read_first(
    db: Path, returning: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A batch that claims each job once is decided by its UPDATE ... RETURNING alone
    # (where SQLite has it), grouped by expected instant and new state; otherwise by a
    # read first. Either way: a stale expectation, a job gone and a broken job lose and
    # change nothing; each winner moves as its own claim says, leases its run, and the
    # other processes see the change.
    from tickwork.stores import _sqlite_leases
    from tickwork.stores._contract import make_job

    monkeypatch.setattr(_sqlite_leases, "_RETURNING", returning)
    store, peer = SQLiteStore(db), SQLiteStore(db)
    ten, twenty = T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)
    store.add_jobs([make_job(job_id) for job_id in ("a", "b", "c", "d", "broken")])
    store.add_job(make_job("later", next_fire=ten))
    store.add_job(make_job("paused", paused=True))  # paused as stored: not claimed
    peer.load_jobs()
    with dbfile.connect(db) as conn:  # a record this store finds it cannot load
        conn.execute("UPDATE jobs SET trigger = '{\"type\": \"sundial\"}' WHERE id = 'broken'")
    assert "broken" not in [job.id for job in store.get_jobs()]
    claims = [
        ("a", T0, ten, None, (T0,)),
        ("b", ten, twenty, None, (ten,)),  # stale: b is due at T0
        ("gone", T0, ten, None, (T0,)),
        ("broken", T0, ten, None, (T0,)),
        ("c", T0, None, 0, (T0,)),  # its last run: no next fire, none remaining
        ("d", T0, ten, None, (T0,)),
        ("later", ten, twenty, 3, (ten,)),
        ("paused", T0, ten, None, (T0,)),
    ]
    assert store.claim_fires(claims, now=T0) == [0, None, None, None, 0, 0, 0, None]
    with dbfile.connect(db) as conn:
        rows = conn.execute("SELECT id, next_fire_us, remaining_runs FROM jobs ORDER BY id")
        assert rows.fetchall() == [
            ("a", epoch_us(ten), None),
            ("b", epoch_us(T0), None),
            ("broken", epoch_us(T0), None),
            ("c", None, 0),
            ("d", epoch_us(ten), None),
            ("later", epoch_us(twenty), 3),
            ("paused", epoch_us(T0), None),
        ]
        leases = conn.execute("SELECT job_id, scheduled_us FROM leases ORDER BY job_id")
        assert leases.fetchall() == [
            ("a", epoch_us(T0)),
            ("c", epoch_us(T0)),
            ("d", epoch_us(T0)),
            ("later", epoch_us(ten)),
        ]
    changed = peer.sync()
    assert changed is not None
    assert sorted(job.id for job in changed[0]) == ["a", "c", "d", "later"]
    # That batch lost claims (others race for these fires, as far as it knows): the next
    # compare-and-set is written returning its winners at once, and decides alike.
    again = [("a", ten, twenty, None, (ten,)), ("d", T0, twenty, None, (T0,))]
    assert store.claim_fires(again, now=T0) == [0, None]
    with dbfile.connect(db) as conn:
        rows = conn.execute("SELECT id, next_fire_us FROM jobs WHERE id IN ('a', 'd') ORDER BY id")
        assert rows.fetchall() == [("a", epoch_us(twenty)), ("d", epoch_us(ten))]


@pytest.mark.parametrize("returning", [True, False], ids=["one-statement", "sqlite-before-3.35"])
def test_add_job_alone_or_in_a_transaction(
    db: Path, returning: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A lone add_job is one statement that stamps its own change counter (where SQLite
    # has RETURNING); inside a transaction it joins it, and is undone with it.
    from tickwork.stores import _sqlite_connection
    from tickwork.stores._contract import make_job

    monkeypatch.setattr(_sqlite_connection, "_RETURNING", returning)
    store, peer = SQLiteStore(db), SQLiteStore(db)
    peer.load_jobs()
    store.load_jobs()
    store.add_job(make_job("a"))
    with pytest.raises(ConflictingIdError, match="'a'"):
        store.add_job(make_job("a"))
    store.add_job(make_job("a", name="replaced"), replace=True)

    def add_then_fail() -> None:
        with store.transaction():
            store.add_job(make_job("b"))
            raise RuntimeError("undo")

    with pytest.raises(RuntimeError):
        add_then_fail()
    assert store.sync() is None  # its own writes are no news
    changed = peer.sync()
    assert changed is not None
    assert [(job.id, job.name) for job in changed[0]] == [("a", "replaced")]
    assert [job.id for job in store.get_jobs()] == ["a"]


@pytest.mark.parametrize("other", ["!", "~"], ids=["sorts-before", "sorts-after"])
def test_leases_of_owners_named_either_side_of_this_one_count_and_expire(
    db: Path, other: str
) -> None:
    # The store finds other owners' leases by ranges of the owner index on either side
    # of its own name: each side must be seen.
    from tickwork.stores._contract import make_job

    store, peer = SQLiteStore(db, lease_time=9), SQLiteStore(db, lease_time=9)
    store.open()
    peer.open()
    peer.owner = other  # as a process on a host with such a name would be
    store.add_job(make_job("a"))
    later, last = T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)
    assert peer.claim_fires([("a", T0, later, None, (T0,))], now=T0) == [0]
    assert store.claim_fires([("a", later, last, None, (later,))], now=T0) == [1]
    taken = store.maintain(T0 + timedelta(seconds=10)).taken
    assert [(t.job_id, t.scheduled_at, t.owner) for t in taken] == [("a", T0, other)]


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_file_deleted_or_replaced_while_in_use_is_a_loud_error(
    db: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(T0)
    scheduler = scheduler_on(db, clock)
    scheduler.add_job(RECORD, "interval", minutes=1, id="tick")
    errors: list[Any] = []
    scheduler.add_listener(errors.append, EventKind.STORE_ERROR)
    scheduler.open()
    advance(scheduler, 60)
    assert len(runs_of("tick")) == 1
    db.unlink()
    if how == "replaced":
        other = SQLiteStore(db)
        other.open()
        other.close()
    with pytest.raises(StoreError, match=how):
        scheduler.add_job(RECORD, "interval", minutes=5, id="lost")
    advance(scheduler, 60)
    advance(scheduler, 60)
    assert len(runs_of("tick")) == 1  # nothing runs without a claim in the real file
    assert [type(event.exception) for event in errors] == [StoreError]
    assert how in (errors[0].reason or "")
    assert any(how in record.getMessage() for record in caplog.records)
    scheduler.shutdown()


def test_a_write_lock_held_by_another_process_is_one_store_error_until_a_write_succeeds(
    db: Path,
) -> None:
    # WAL mode: reads go on while another process holds the write lock, so the upkeep
    # between two failed claims succeeded and each claim was a new STORE_ERROR.
    clock = FakeClock(T0)
    scheduler = scheduler_on(db, clock, lock_timeout=0.01)
    scheduler.add_job(RECORD, "interval", seconds=5, id="tick")
    errors: list[Any] = []
    scheduler.add_listener(errors.append, EventKind.STORE_ERROR)
    scheduler.open()
    other = sqlite3.connect(db, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        for _ in range(6):  # (a retry of the claim each second)
            advance(scheduler, 5)
        assert runs_of("tick") == []
        assert len(errors) == 1
        assert "locked" in (errors[0].reason or "")
        other.execute("ROLLBACK")
        advance(scheduler, 1)
        # The latest of the fires missed meanwhile, once the lock is free.
        assert [at for at, _ in runs_of("tick")] == [T0 + timedelta(seconds=30)]
        other.execute("BEGIN IMMEDIATE")  # a new outage is reported again
        advance(scheduler, 5)
        assert len(errors) == 2
    finally:
        other.close()
        scheduler.shutdown()


class _ReleasingExecutor(ThreadExecutor):
    """Lets the blocked job go on (and fail) only once shutdown stops the executors:
    after the scheduler has dealt with the retries pending until then."""

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        sqlite_jobs.RELEASE.set()
        super().shutdown(wait=wait, timeout=timeout)


@pytest.mark.parametrize("persistent", [True, False])
def test_a_retry_scheduled_while_shutdown_waits_is_left_or_reported(
    db: Path, persistent: bool
) -> None:
    sqlite_jobs.RELEASE.clear()
    clock = FakeClock(T0)
    store: Any = SQLiteStore(db) if persistent else MemoryStore()
    first = Scheduler(store=store, clock=clock, executors={"default": _ReleasingExecutor()},
                      timezone="UTC")  # fmt: skip
    retry = RetryPolicy(attempts=2, delay=60, jitter=0)
    first.add_job(f"{sqlite_jobs.__name__}:fail_once_released", "interval", hours=1, id="etl",
                  retry=retry)  # fmt: skip
    first.open()
    advance(first, timedelta(hours=1), settle=0)
    fire = T0 + timedelta(hours=1)
    assert runs_of("etl") == [(fire, 1)]  # running, blocked
    history = first.history
    first.shutdown(wait=True)  # the run fails while shutdown waits for it
    if not persistent:
        outcomes = [(run.outcome, run.attempt) for run in history("etl")]
        assert outcomes == [(Outcome.SKIPPED, 2), (Outcome.FAILURE, 1)]
        return
    assert _leases(db) == [("etl", 2, "")]
    second = scheduler_on(db, clock)
    second.open()
    advance(second, 61)
    outcomes = [(run.outcome, run.attempt) for run in second.history("etl")]
    second.shutdown()
    assert runs_of("etl") == [(fire, 1), (fire, 2)]
    assert outcomes == [(Outcome.FAILURE, 2), (Outcome.FAILURE, 1)]


def test_a_catch_up_queued_for_a_free_instance_at_shutdown_is_left_to_the_next_start(
    db: Path,
) -> None:
    # catchup="all" with max_instances=1: the missed fires queue behind the first run.
    # Shut down then, they were reported skipped and lost (417 of 610 in a probe); with
    # a file they stay in it, due at once, for the next start (or another process).
    sqlite_jobs.RELEASE.clear()
    clock = FakeClock(T0)
    first = scheduler_on(db, clock, _ReleasingExecutor())
    first.add_job(f"{sqlite_jobs.__name__}:wait_released", "interval", minutes=1, id="etl",
                  catchup="all")  # fmt: skip
    first.open()
    clock.advance(timedelta(minutes=5))  # five fires missed
    first.process_due()
    fires = [T0 + timedelta(minutes=n) for n in range(1, 6)]
    assert wait_until(lambda: runs_of("etl") == [(fires[0], 1)])  # the rest queued
    events = Events()
    first.add_listener(events)
    first.shutdown(wait=True)
    assert not events.of(EventKind.JOB_SKIPPED, "etl")
    assert sorted(_leases(db)) == [("etl", 1, "")] * 4
    second = scheduler_on(db, clock)
    second.open()
    advance(second, 1)
    outcomes = [(run.outcome, run.scheduled_at) for run in second.history("etl")]
    second.shutdown()
    assert sorted(runs_of("etl")) == [(fire, 1) for fire in fires]
    assert sorted(outcomes, key=lambda o: o[1]) == [(Outcome.SUCCESS, fire) for fire in fires]
    assert _leases(db) == []


def test_pause_leaves_the_runs_queued_for_the_threads_in_the_file_until_resume(db: Path) -> None:
    # Paused, a process starts nothing more: the runs it claimed and queued are left in
    # the file for the processes still dispatching (here none), and run after resume.
    sqlite_jobs.RELEASE.clear()
    due = datetime.now(timezone.utc) - timedelta(seconds=1)
    scheduler = Scheduler(store=SQLiteStore(db), timezone="UTC",
                          executors={"default": ThreadExecutor(max_workers=1)})  # fmt: skip
    scheduler.add_jobs(
        {"func": f"{sqlite_jobs.__name__}:wait_released", "trigger": "date", "run_date": due,
         "id": f"j{n:02d}"}
        for n in range(20)
    )  # fmt: skip
    ids = [f"j{n:02d}" for n in range(20)]
    scheduler.start()
    try:
        assert wait_until(lambda: sum(len(runs_of(i)) for i in ids) == 1)
        scheduler.pause()
        leases = _leases(db)
        owner = scheduler.store.owner  # type: ignore[attr-defined]
        left = [lease for lease in leases if lease[2] == ""]
        assert left
        assert len(leases) == len(left) + 1  # the running one is still its
        assert all(lease[2] in ("", owner) for lease in leases)
        sqlite_jobs.RELEASE.set()
        assert not wait_until(lambda: sum(len(runs_of(i)) for i in ids) > 1, limit=0.3)
        scheduler.resume()
        assert wait_until(lambda: sum(len(runs_of(i)) for i in ids) == 20, limit=10)
    finally:
        sqlite_jobs.RELEASE.set()
        scheduler.shutdown(wait=True)
    assert all(len(runs_of(i)) == 1 for i in ids)
    assert _leases(db) == []


@pytest.mark.parametrize(
    ("catchup", "ran", "missed"),
    [("all", [2.5, 3.0], []), ("latest", [3.0], [2.5]), ("earliest", [2.5], [3.0])],
)
def test_a_run_now_from_another_process_seen_with_the_next_regular_fire_is_not_lost(
    db: Path, catchup: str, ran: list[float], missed: list[float]
) -> None:
    # The scheduler reads the other process's change at its next poll, when the regular
    # fire is due too: both are fire times for the catch-up policy (the run-now one was
    # dropped without a trace: not run, not recorded missed).
    from tickwork import _control

    clock = FakeClock(T0)
    scheduler = scheduler_on(db, clock)
    scheduler.add_job(RECORD, "interval", seconds=3, start_date=T0, id="x", catchup=catchup)
    scheduler.open()
    advance(scheduler, 2)
    with SQLiteStore(db) as other:
        _control.run_job_now(other, "x", now=T0 + timedelta(seconds=2.5))
    clock.advance(1)  # (no step meanwhile: the scheduler's poll comes at 3 s)
    advance(scheduler, 0)  # the poll: both are due
    outcomes = {run.scheduled_at: run.outcome for run in scheduler.history("x")}
    scheduler.shutdown()
    at = [T0 + timedelta(seconds=moment) for moment in ran]
    assert runs_of("x") == [(T0, 1)] + [(moment, 1) for moment in at]
    for moment in missed:
        assert outcomes[T0 + timedelta(seconds=moment)] is Outcome.MISSED


def _probe_building(monkeypatch: pytest.MonkeyPatch, db: Path, during: Any = None) -> list[bool]:
    """Whether the file was write-locked as each job of an add_jobs was being built
    (*during*: called at the first, as another process's doing meanwhile)."""
    from tickwork import _engine

    locked: list[bool] = []
    real = _engine.trigger_spec

    def probing(*args: Any, **kwargs: Any) -> Any:
        conn = sqlite3.connect(db, timeout=0)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            locked.append(False)
        except sqlite3.OperationalError:
            locked.append(True)
        finally:
            conn.close()
        if during is not None and len(locked) == 1:
            during()
        return real(*args, **kwargs)

    monkeypatch.setattr(_engine, "trigger_spec", probing)
    return locked


@pytest.mark.parametrize(("extra", "locked"), [({}, False), ({"replace_existing": True}, True)])
def test_add_jobs_builds_jobs_that_replace_none_before_taking_the_write_lock(
    db: Path, monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], locked: bool
) -> None:
    # Building is Python, tens of µs a job: held under the write lock, a chunked add of
    # 100,000 jobs kept another process's scheduler from claiming for a second.
    scheduler = scheduler_on(db, FakeClock(T0))
    scheduler.add_job(RECORD, "interval", hours=2, id="first")  # (the file exists)
    seen = _probe_building(monkeypatch, db)
    scheduler.add_jobs(
        {"func": RECORD, "trigger": "interval", "hours": 1, "id": f"j{n}", **extra}
        for n in range(3)
    )
    assert seen == [locked] * 3
    assert len(scheduler.get_jobs()) == 4
    scheduler.shutdown()


def test_an_id_taken_by_another_process_while_add_jobs_builds_fails_the_whole_batch(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tickwork.stores._contract import make_job

    scheduler = scheduler_on(db, FakeClock(T0))
    scheduler.add_job(RECORD, "interval", hours=2, id="first")

    def another_process_adds_j2() -> None:
        with SQLiteStore(db) as other:
            other.add_job(make_job("j2"))

    _probe_building(monkeypatch, db, during=another_process_adds_j2)
    with pytest.raises(ConflictingIdError, match="j2"):
        scheduler.add_jobs(
            {"func": RECORD, "trigger": "interval", "hours": 1, "id": f"j{n}"} for n in range(3)
        )
    # None of the batch: j2 is the other process's job.
    assert sorted(job.id for job in scheduler.get_jobs()) == ["first", "j2"]
    with SQLiteStore(db) as reader:
        assert sorted(job.id for job in reader.get_jobs()) == ["first", "j2"]
    scheduler.shutdown()


def test_pause_leaves_a_catch_up_queue_in_the_file_and_resume_runs_it(db: Path) -> None:
    # The queue of catchup="all" behind max_instances=1 kept starting while paused
    # (41 runs after pause() in a probe), and the other processes could not have it.
    sqlite_jobs.RELEASE.clear()
    earlier = scheduler_on(db, FakeClock(datetime.now(timezone.utc) - timedelta(minutes=6)))
    earlier.add_job(f"{sqlite_jobs.__name__}:wait_released", "interval", minutes=1,
                    catchup="all", id="etl")  # fmt: skip
    earlier.shutdown()  # five fires missed since
    scheduler = Scheduler(store=SQLiteStore(db), timezone="UTC",
                          executors={"default": ThreadExecutor(max_workers=2)})  # fmt: skip
    scheduler.start()
    try:
        assert wait_until(lambda: len(runs_of("etl")) == 1)  # the others queued behind it
        scheduler.pause()
        owner = scheduler.store.owner  # type: ignore[attr-defined]
        leases = _leases(db)
        assert sorted(lease[2] for lease in leases) == [""] * (len(leases) - 1) + [owner]
        assert len(leases) > 2
        sqlite_jobs.RELEASE.set()
        assert not wait_until(lambda: len(runs_of("etl")) > 1, limit=0.3)
        scheduler.resume()
        assert wait_until(lambda: len(runs_of("etl")) == len(leases), limit=10)
    finally:
        sqlite_jobs.RELEASE.set()
        scheduler.shutdown(wait=True)
    fires = [at for at, _ in runs_of("etl")]
    assert fires == sorted(set(fires))  # each once, oldest first
    assert _leases(db) == []


def test_a_job_done_firing_stays_while_another_process_holds_a_run_of_it(db: Path) -> None:
    # Removed by the first process whose runs of it ended, the record was gone for the
    # process whose runs still waited (44 of 52 catch-up runs then skipped as "its job
    # no longer exists" where they were handed off, in a probe).
    from tickwork.stores._contract import make_job

    here, there = SQLiteStore(db, lease_time=9), SQLiteStore(db, lease_time=9)
    here.open()
    there.open()
    here.add_jobs([make_job("held"), make_job("free")])
    later = T0 + timedelta(seconds=10)
    assert there.claim_fires([("held", T0, None, None, (T0, later))], now=T0) == [0]
    assert here.claim_fires([("free", T0, None, None, (T0,))], now=T0) == [0]
    here.remove_done_jobs(["held", "free"])
    assert [job.id for job in here.get_jobs()] == ["held"]
    with dbfile.connect(db) as conn:  # no tombstone: the others keep it too
        assert [row[0] for row in conn.execute("SELECT id FROM removed")] == ["free"]
    there.close()
    here.close()


def test_a_pending_retry_of_an_unclaimed_run_is_reported_skipped_at_shutdown(db: Path) -> None:
    # run_job_now starts a run outside the schedule: no claim, so no lease to leave in
    # the file. Its pending retry is reported, not dropped in silence.
    clock = FakeClock(T0)
    first = scheduler_on(db, clock)
    first.add_job(FAIL, "interval", hours=1, id="etl", retry=RetryPolicy(attempts=2, delay=60))
    first.open()
    first.run_job_now("etl")
    first.process_due()
    assert runs_of("etl") == [(T0, 1)]
    first.shutdown()
    with SQLiteStore(db) as reader:
        outcomes = [(run.outcome, run.attempt) for run in reader.history("etl")]
    assert outcomes == [(Outcome.SKIPPED, 2), (Outcome.FAILURE, 1)]
    assert _leases(db) == []


class _BusyOnce:
    """A connection whose first change of journal mode finds the file busy, as when
    another process opens the same new file at that moment (SQLite does not wait)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.refused = 0

    def execute(self, sql: str, *args: Any) -> Any:
        if "journal_mode" in sql and not self.refused:
            self.refused += 1
            raise sqlite3.OperationalError("database is locked")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def test_a_file_busy_while_it_is_opened_is_waited_for(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[_BusyOnce] = []
    connect = sqlite3.connect

    def busy_once(*args: Any, **kwargs: Any) -> Any:
        made.append(_BusyOnce(connect(*args, **kwargs)))
        return made[-1]

    monkeypatch.setattr(sqlite_module.sqlite3, "connect", busy_once)
    store = SQLiteStore(db)
    store.open()  # no StoreError: the busy file was waited for
    monkeypatch.undo()
    store.close()
    assert [conn.refused for conn in made] == [1]
    with dbfile.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_rows_with_values_alike_are_written_as_given_in_their_order() -> None:
    # insert_rows binds the values a run of rows has alike once per statement (numbered
    # parameters), in statements of halving sizes, and the others row by row: whatever
    # the mix, each row is written as given, a literal kept, in the order given (history
    # ids follow it; a later lease replaces an earlier one).
    from tickwork.stores._sqlite_connection import insert_rows

    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a, b, c, d, e)")
    insert = "INSERT INTO t (a, b, c, d, e) VALUES (?, 7, ?, ?, ?)"
    rows: list[tuple[Any, ...]] = []
    for run, size in enumerate((1, 3, 300, 7, 8, 9, 1000, 2, 130)):
        rows += [(f"x{len(rows) + i}", len(rows) + i, f"alike{run}", run) for i in range(size)]
    rows[5] = (rows[5][0], None, b"blob", 1.5)  # no value alike with its neighbours
    insert_rows(conn, insert, rows, (2, 3))
    expected = [(row[0], 7, *row[1:]) for row in rows]
    assert conn.execute("SELECT a, b, c, d, e FROM t ORDER BY id").fetchall() == expected
    conn.execute("DELETE FROM t")
    insert_rows(conn, "INSERT INTO t (a, b) VALUES (?, ?)", [(i, 0) for i in range(77)], (1,))
    assert conn.execute("SELECT a, b FROM t ORDER BY id").fetchall() == [(i, 0) for i in range(77)]
    conn.close()


def test_fires_a_fold_apart_are_claimed_and_recorded_at_their_own_instants(db: Path) -> None:
    # Instants in one zone compare equal by their wall times, fold aside: a claim batch
    # and a history batch that reuse the instant of the row before when it is "equal"
    # must tell the two 02:30 of a DST fall-back apart (an hour apart).
    from zoneinfo import ZoneInfo

    from tickwork.stores._contract import make_job, run_end

    paris = ZoneInfo("Europe/Paris")
    first = datetime(2024, 10, 27, 2, 30, tzinfo=paris)
    second = first.replace(fold=1)
    assert first == second
    assert epoch_us(second) - epoch_us(first) == 3_600_000_000
    store = SQLiteStore(db)
    store.add_jobs([make_job("a", next_fire=first), make_job("b", next_fire=second)])
    claims = [("a", first, None, 0, (first,)), ("b", second, None, 0, (second,))]
    assert store.claim_fires(claims, now=first) == [0, 0]
    store.record_runs([run_end("a", first), run_end("b", second)], now=second)
    with dbfile.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM leases").fetchone()[0] == 0  # released
        rows = conn.execute("SELECT job_id, scheduled_us FROM history ORDER BY id").fetchall()
    assert rows == [("a", epoch_us(first)), ("b", epoch_us(second))]


@pytest.mark.parametrize("spread", [False, True], ids=["one instant", "instants apart"])
def test_a_batch_of_claims_leases_each_run_with_a_token_of_its_own(db: Path, spread: bool) -> None:
    # A backlog's leases are written with the values they share bound once: each row
    # must still hold its own job, instant and token, and this process as owner.
    from tickwork.stores._contract import make_job

    store = SQLiteStore(db, lease_time=30)
    try:
        ids = [f"j{n:03}" for n in range(600)]
        due = {job_id: T0 + timedelta(seconds=n if spread else 0) for n, job_id in enumerate(ids)}
        store.add_jobs([make_job(job_id, next_fire=due[job_id]) for job_id in ids])
        later = T0 + timedelta(hours=1)
        claims = [(job_id, due[job_id], later, None, (due[job_id],)) for job_id in ids]
        assert store.claim_fires(claims, now=T0) == [0] * len(ids)
        with dbfile.connect(db) as conn:
            rows = conn.execute(
                "SELECT token, job_id, scheduled_us, attempt, owner, expires_us FROM leases"
            ).fetchall()
        assert len({row[0] for row in rows}) == len(ids)
        assert sorted(row[1:] for row in rows) == [
            (job_id, epoch_us(due[job_id]), 1, store.owner, epoch_us(T0) + 30_000_000)
            for job_id in ids
        ]
    finally:
        store.close()


def test_a_directory_is_refused_with_a_message_that_says_so(tmp_path: Path) -> None:
    # SQLite's own words were "disk I/O error".
    from tickwork import StoreError

    with pytest.raises(StoreError, match="it is a directory, not a SQLite file"):
        SQLiteStore(tmp_path).open()


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[Path]:
    """A small file system (tmpfs) mounted at a folder, remounted read-only by the test;
    skipped where mounting is not allowed."""
    place = tmp_path / "mounted"
    place.mkdir()
    if sys.platform != "linux":
        pytest.skip("tmpfs mounts are a Linux test")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(place)], capture_output=True
    )
    if made.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield place
    finally:
        subprocess.run(["umount", "-l", str(place)], capture_output=True)


def test_a_job_file_on_a_read_only_file_system_says_so_and_the_command_reads_it(
    read_only_mount: Path,
) -> None:
    # Regression: "could not open: unable to open database file", and the tickwork
    # command (whose docs suggest `check` as a probe) could not read it at all.
    db = read_only_mount / "jobs.db"
    with SQLiteStore(db) as store:
        Scheduler(store=store, timezone="UTC").add_job(
            "tests.stores.sqlite_jobs:record", "cron", hour=9, id="nightly"
        )
    remount = ["mount", "-o", "remount,ro", str(read_only_mount)]
    assert subprocess.run(remount, capture_output=True).returncode == 0
    with pytest.raises(StoreError, match="read-only file system"):
        SQLiteStore(db).get_jobs()
    for command in ("jobs", "check"):
        done = subprocess.run(
            [sys.executable, "-m", "tickwork", command, str(db)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert "nightly" in done.stdout or "1 job(s) checked" in done.stdout
