"""Each store's own side of ``ProcessListing`` (the shared promises are in the contract
suite, ``tickwork.stores._process_contract``): how it tells a live process from a dead
one, the one process of a ``MemoryStore``, the migrations that add the heartbeat, and a
real scheduler listed while it runs."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tickwork import Scheduler
from tickwork.executors import InlineExecutor
from tickwork.stores import (
    LeaseInfo,
    MemoryStore,
    PostgresStore,
    ProcessInfo,
    ProcessListing,
    SQLiteStore,
    _pg_schema,
    _sqlite_schema,
)
from tickwork.stores._contract import make_job
from tickwork.stores._liveness import identity
from tickwork.stores._shared_contract import claim_run
from tickwork.testing import FakeClock, advance

from .. import dbfile, pg

pg_schema = pg.pg_schema  # (the fixture: a fresh schema per test)

UTC = timezone.utc
T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
LEASE = 9.0


def test_the_records_are_frozen_and_keyword_only() -> None:
    lease = LeaseInfo(job_id="a", scheduled_at=T0, attempt=1, expires=T0)
    info = ProcessInfo(
        id="h:1:x", host="h", pid=1, started=None, last_seen=None, alive=None, leases=(lease,)
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.alive = True  # type: ignore[misc]
    with pytest.raises(TypeError):
        LeaseInfo("a", T0, 1, T0)  # type: ignore[misc]


# -- MemoryStore: the one process it lives in ----------------------------------------------


def test_a_memory_store_lists_the_process_it_lives_in() -> None:
    store = MemoryStore()
    assert isinstance(store, ProcessListing)
    store.add_job(make_job())
    assert store.claim_fires([("a", T0, T0 + timedelta(seconds=10), None, (T0,))], now=T0) == [0]
    [process] = store.processes(now=T0)
    assert process == ProcessInfo(
        id=f"{socket.gethostname()}:{os.getpid()}",
        host=socket.gethostname(),
        pid=os.getpid(),
        started=None,
        last_seen=T0,
        alive=True,
        leases=(),
    )


# -- SQLiteStore: alive by heartbeat and by identity on this machine --------------------


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "jobs.db"


def sqlite(db: Path) -> SQLiteStore:
    return SQLiteStore(db, lease_time=LEASE)


def test_sqlite_lists_its_host_and_pid_and_when_it_started(db: Path) -> None:
    store = sqlite(db)
    store.maintain(T0)
    store.maintain(T0 + timedelta(seconds=LEASE))
    [process] = store.processes(now=T0 + timedelta(seconds=LEASE))
    assert (process.host, process.pid) == (socket.gethostname(), os.getpid())
    assert process.id == store.owner
    assert (process.started, process.last_seen) == (T0, T0 + timedelta(seconds=LEASE))
    store.close()


@pytest.mark.parametrize(
    ("silent_for", "alive"),
    [
        (timedelta(seconds=0), True),
        (timedelta(seconds=LEASE), True),  # still within its lease time
        (timedelta(seconds=LEASE, microseconds=1), False),  # its leases may be taken over
        (timedelta(hours=2), False),
    ],
)
def test_sqlite_finds_a_process_dead_once_silent_past_its_lease_time(
    db: Path, silent_for: timedelta, alive: bool
) -> None:
    store, watcher = sqlite(db), sqlite(db)
    store.maintain(T0)
    [process] = watcher.processes(now=T0 + silent_for)
    assert process.alive is alive
    store.close()
    watcher.close()


def _dead_identity() -> str:
    """The identity of a process of this machine that has ended."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    pid = int(child.stdout)
    mine = identity()
    if mine is None:
        pytest.skip("this machine cannot tell processes apart (/proc)")
    scope = mine.split(" ")[0]
    return f"{scope} {pid} 1"


def test_sqlite_finds_a_process_dead_at_once_when_its_pid_is_gone(db: Path) -> None:
    store = sqlite(db)
    store.add_job(make_job())
    store.maintain(T0)
    claim_run(store)
    dead = _dead_identity()
    with dbfile.connect(db) as conn:  # as a killed process leaves its rows
        conn.execute("UPDATE processes SET holder = ?", (dead,))
        conn.execute("UPDATE leases SET holder = ?", (dead,))
    [process] = store.processes(now=T0)
    assert process.alive is False
    assert [lease.job_id for lease in process.leases] == ["a"]
    store.close()


def test_sqlite_lists_an_owner_of_leases_it_has_no_record_of(db: Path) -> None:
    store = sqlite(db)
    store.add_job(make_job())
    claim_run(store)  # no maintain: a scheduler that never looked after its leases
    watcher = sqlite(db)
    [process] = watcher.processes(now=T0)
    assert process.id == store.owner
    assert (process.host, process.pid) == (socket.gethostname(), os.getpid())
    assert (process.started, process.last_seen) == (None, None)
    assert process.alive is None  # alive on this machine, but it says nothing itself
    [after] = watcher.processes(now=T0 + timedelta(seconds=LEASE + 1))
    assert after.alive is False  # every lease it holds has expired
    store.close()
    watcher.close()


def test_sqlite_forgets_a_silent_process_without_leases_after_an_hour(db: Path) -> None:
    gone, watcher = sqlite(db), sqlite(db)
    gone.maintain(T0)
    watcher.maintain(T0 + timedelta(minutes=59))  # (a prune: it is kept)
    assert len(watcher.processes(now=T0 + timedelta(minutes=59))) == 2
    later = T0 + timedelta(minutes=61)
    watcher.maintain(later)
    assert [p.id for p in watcher.processes(now=later)] == [watcher.owner]
    gone.close()
    watcher.close()


def test_a_file_of_schema_4_gets_the_processes_table_and_keeps_its_leases(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as older:
        older.setattr(_sqlite_schema, "MIGRATIONS", _sqlite_schema.MIGRATIONS[:4])
        older.setattr(_sqlite_schema, "SCHEMA_VERSION", 4)
        store = SQLiteStore(db)
        store.add_job(make_job("a"))
        assert claim_run(store) == 0
        owner = store.owner
        store.close()
    upgraded = sqlite(db)
    [process] = upgraded.processes(now=T0)
    assert process.id == owner
    assert [lease.job_id for lease in process.leases] == ["a"]
    upgraded.maintain(T0)
    assert {p.id for p in upgraded.processes(now=T0)} == {owner, upgraded.owner}
    upgraded.close()


def test_a_running_scheduler_is_listed_with_the_run_it_holds(db: Path) -> None:
    clock = FakeClock(T0)
    store = sqlite(db)
    scheduler = Scheduler(
        store=store, clock=clock, executors={"default": InlineExecutor()}, timezone="UTC"
    )
    scheduler.open()
    try:
        advance(scheduler, timedelta(seconds=1))
        [process] = store.processes(now=clock.now())
        assert (process.alive, process.leases, process.started) == (True, (), T0)
        advance(scheduler, timedelta(seconds=LEASE))
        assert store.processes(now=clock.now())[0].last_seen == clock.now()
    finally:
        scheduler.shutdown()
    watcher = sqlite(db)
    assert watcher.processes(now=clock.now()) == []  # it closed the store
    watcher.close()


# -- PostgresStore: alive while it holds its advisory lock --------------------------------


def postgres(schema: str) -> PostgresStore:
    return PostgresStore(pg.dsn(), schema=schema, lease_time=LEASE)


def test_postgres_finds_a_process_dead_the_moment_its_connection_dies(pg_schema: str) -> None:
    import psycopg

    store, watcher = postgres(pg_schema), postgres(pg_schema)
    store.add_job(make_job())
    store.maintain(T0)
    claim_run(store)
    [process] = watcher.processes(now=T0)
    assert process.alive is True
    assert (process.host, process.pid) == (socket.gethostname(), os.getpid())
    assert process.started is not None
    assert process.last_seen == T0
    assert store._live is not None
    backend = store._live.info.backend_pid
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        # (With a timeout, it waits until the backend has exited, its locks freed.)
        ended = conn.execute("SELECT pg_terminate_backend(%s, 5000)", (backend,)).fetchone()
    assert ended == (True,)
    [process] = watcher.processes(now=T0)  # (at the same `now`: the lock tells)
    assert process.alive is False
    assert [lease.job_id for lease in process.leases] == ["a"]
    assert watcher.maintain(T0).taken == []  # (free a second before it is dead)
    watcher.maintain(T0 + timedelta(seconds=1))  # takes the run over, forgets the process
    [process] = watcher.processes(now=T0)
    assert process.id == watcher.owner
    assert [lease.job_id for lease in process.leases] == ["a"]
    store.close()
    watcher.close()


def test_postgres_lists_no_store_object_that_no_scheduler_looks_after(pg_schema: str) -> None:
    reader, watcher = postgres(pg_schema), postgres(pg_schema)
    reader.open()  # registered (it holds its lock), but it only reads
    reader.get_jobs()
    assert watcher.processes(now=T0) == []
    watcher.maintain(T0)
    assert [p.id for p in watcher.processes(now=T0)] == [watcher.owner]
    reader.close()
    watcher.close()


def test_postgres_lists_no_task_queue_worker_that_writes_outcomes(pg_schema: str) -> None:
    import psycopg

    # A Celery worker set up with the store (tickwork.celery.setup(app, store=...))
    # writes the starts and outcomes of runs: it has a row, but it is no scheduler, and
    # the run it works on is a lease of the scheduler that sent it (task-queues.md).
    worker, scheduler = postgres(pg_schema), postgres(pg_schema)
    scheduler.add_job(make_job())
    scheduler.maintain(T0)
    claim_run(scheduler)
    worker.record_start("task-1", T0.isoformat(), "worker-host:42")
    worker.record_outcome("task-1", {"tickwork": 1, "ok": True, "value": 1})
    with psycopg.connect(pg.dsn()) as conn:
        rows = conn.execute(f'SELECT owner FROM "{pg_schema}".processes').fetchall()
    assert sorted(owner for (owner,) in rows) == sorted([worker.owner, scheduler.owner])
    [process] = scheduler.processes(now=T0)
    assert process.id == scheduler.owner
    assert [lease.job_id for lease in process.leases] == ["a"]
    worker.close()
    scheduler.close()


def test_a_postgres_schema_of_version_1_gets_the_heartbeat_column(pg_schema: str) -> None:
    import psycopg

    before = _pg_schema.MIGRATIONS[:1]
    with pytest.MonkeyPatch.context() as older:
        older.setattr(_pg_schema, "MIGRATIONS", before)
        older.setattr(_pg_schema, "SCHEMA_VERSION", 1)
        store = postgres(pg_schema)
        store.open()
        store.close()
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        columns = [
            row[0]
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = 'processes'",
                (pg_schema,),
            )
        ]
    assert "seen_us" not in columns
    upgraded = postgres(pg_schema)
    upgraded.maintain(T0)
    [process] = upgraded.processes(now=T0)
    assert process.last_seen == T0
    upgraded.close()
