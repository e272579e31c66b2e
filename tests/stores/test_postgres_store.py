"""What ``PostgresStore`` does beyond the store contract: its schema and arguments,
sync across out-of-order commits, run slots, SKIP LOCKED, liveness by advisory lock,
NOTIFY, and schedulers on it. Each test has a schema of its own on the test server."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tickwork import Scheduler, StoreError
from tickwork._model import evolve
from tickwork.executors import InlineExecutor
from tickwork.stores import PostgresStore
from tickwork.stores._contract import make_job
from tickwork.stores.postgres import SCHEMA_VERSION
from tickwork.testing import FakeClock, advance

from .. import pg
from . import sqlite_jobs

UTC = timezone.utc
T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
LATER = T0 + timedelta(seconds=10)
RECORD = "tests.stores.sqlite_jobs:record"

pg_schema = pg.pg_schema  # (the fixture: a fresh schema per test)
pg_tables = pg.pg_tables  # (one with tickwork's tables, emptied: for all but creating them)


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every store a test made (they stand for processes dropped without a
    shutdown), and clear the runs recorded."""
    if "pg_tables" in request.fixturenames:
        # Set up first so that it is torn down after the stores are closed (it empties
        # the schema for the next test only when no store holds it).
        request.getfixturevalue("pg_tables")
    made: list[PostgresStore] = []
    init = PostgresStore.__init__

    def tracked(self: PostgresStore, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(PostgresStore, "__init__", tracked)
    sqlite_jobs.RUNS.clear()
    yield
    for store in made:
        store.close()
    sqlite_jobs.RUNS.clear()


def make(schema: str, **options: Any) -> PostgresStore:
    options.setdefault("lease_time", 9)
    return PostgresStore(pg.dsn(), schema=schema, **options)


def sql(statement: str, params: Any = ()) -> list[Any]:
    import psycopg

    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


# -- arguments and schema ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "a b", 'a"b', "x" * 64, "é" * 32])
def test_a_schema_name_that_is_not_a_plain_identifier_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="schema="):
        PostgresStore("postgresql://nowhere/db", schema=name)


def test_arguments_are_checked_by_name() -> None:
    with pytest.raises(TypeError, match="schema"):
        PostgresStore("postgresql://nowhere/db", schema=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="poll_interval"):
        PostgresStore("postgresql://nowhere/db", poll_interval=11)
    with pytest.raises(ValueError, match="lease_time"):
        PostgresStore("postgresql://nowhere/db", lease_time=0)
    with pytest.raises(TypeError, match="dsn_or_pool"):
        PostgresStore(42)  # type: ignore[arg-type]
    assert PostgresStore("postgresql://nowhere/db", schema="_ok_1").channel == "_ok_1_tickwork"


def test_a_bad_dsn_fails_at_open_with_the_reason_and_no_password() -> None:
    pg.require()
    store = PostgresStore(
        "postgresql://postgres:s3cretpw@127.0.0.1:5432/tw_no_such_database", connect_timeout=3
    )
    with pytest.raises(StoreError) as caught:
        store.open()
    message = str(caught.value)
    assert "tw_no_such_database" in message
    assert "does not exist" in message
    assert "s3cretpw" not in message


def test_a_new_schema_gets_the_current_version(pg_schema: str) -> None:
    make(pg_schema).open()
    meta = dict(sql(f'SELECT key, value FROM "{pg_schema}".meta'))
    assert meta == {"app": "tickwork", "schema": str(SCHEMA_VERSION)}


def test_eight_hosts_opening_a_new_schema_at_once_migrate_it_once(
    pg_schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    stores = [make(pg_schema) for _ in range(8)]
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def open_one(store: PostgresStore) -> None:
        barrier.wait()
        try:
            store.open()
        except BaseException as error:
            errors.append(error)

    with caplog.at_level(logging.INFO, logger="tickwork"):
        threads = [threading.Thread(target=open_one, args=(store,)) for store in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == []
    created = [r for r in caplog.records if "tables created" in r.getMessage()]
    assert len(created) == 1
    stores[0].add_job(make_job("a"))
    assert stores[7].get_job("a") == make_job("a")


def _argument_types(schema: str) -> list[tuple[str, str]]:
    return sql(
        "SELECT column_name, data_type FROM information_schema.columns WHERE "
        "table_schema = %s AND table_name = 'jobs' AND column_name IN ('args', 'kwargs') "
        "ORDER BY column_name",
        (schema,),
    )


def test_a_schema_of_version_7_keeps_arguments_as_written_from_then_on(pg_schema: str) -> None:
    from tickwork.stores import _pg_schema

    # Version 7 kept arguments in jsonb, which gives 1e20 back as an int and -0.0 as
    # 0.0; equal in Python, but not the same value (repr, type, math.copysign).
    old = make_job("old", args=(1, "two", [2.5, None]), kwargs={"k": {"deep": True}})
    with pytest.MonkeyPatch.context() as older:
        older.setattr(_pg_schema, "MIGRATIONS", _pg_schema.MIGRATIONS[:7])
        older.setattr(_pg_schema, "SCHEMA_VERSION", 7)
        store = make(pg_schema)
        store.add_job(old)
        store.add_job(make_job("lossy", args=(1e20, -0.0)))
        store.close()
    assert _argument_types(pg_schema) == [("args", "jsonb"), ("kwargs", "jsonb")]
    upgraded = make(pg_schema)
    upgraded.open()
    assert _argument_types(pg_schema) == [("args", "json"), ("kwargs", "json")]
    assert sql(f"SELECT value FROM \"{pg_schema}\".meta WHERE key = 'schema'") == [
        (str(SCHEMA_VERSION),)
    ]
    assert upgraded.get_job("old") == old
    lossy = upgraded.get_job("lossy")
    assert lossy is not None
    assert repr(lossy.args) == "(100000000000000000000, 0.0)"  # as jsonb gave it
    exact = make_job("exact", args=(1e20, -0.0), kwargs={"amount": 1.5e17})
    upgraded.add_job(exact, replace=True)
    upgraded.update_job(evolve(exact, kwargs={"amount": 1e16}))
    found = make(pg_schema).get_job("exact")  # (another store object: read from the table)
    assert found is not None
    assert repr((found.args, dict(found.kwargs))) == "((1e+20, -0.0), {'amount': 1e+16})"


def test_a_schema_from_a_newer_tickwork_is_refused_and_left_alone(pg_schema: str) -> None:
    store = make(pg_schema)
    store.add_job(make_job("a"))
    store.close()
    sql(f"UPDATE \"{pg_schema}\".meta SET value = '99' WHERE key = 'schema'")
    with pytest.raises(StoreError, match=r"newer tickwork \(schema version 99; this tickwork"):
        make(pg_schema).open()
    assert sql(f"SELECT value FROM \"{pg_schema}\".meta WHERE key = 'schema'") == [("99",)]
    assert sql(f'SELECT id FROM "{pg_schema}".jobs') == [("a",)]


def test_a_schema_with_tables_of_another_application_is_refused(pg_schema: str) -> None:
    sql(f'CREATE SCHEMA "{pg_schema}"')
    sql(f'CREATE TABLE "{pg_schema}".invoices (id int)')
    with pytest.raises(StoreError, match="not tickwork's"):
        make(pg_schema).open()


def test_a_meta_table_of_another_application_is_refused_saying_so(pg_schema: str) -> None:
    sql(f'CREATE SCHEMA "{pg_schema}"')
    sql(f'CREATE TABLE "{pg_schema}".meta (name text, version int)')
    with pytest.raises(StoreError, match=r"a meta table that is not tickwork's \(its columns: "):
        make(pg_schema).open()
    assert sql(f'SELECT count(*) FROM "{pg_schema}".meta') == [(0,)]
    sql(f'DROP TABLE "{pg_schema}".meta')
    sql(f'CREATE TABLE "{pg_schema}".meta (key int primary key, value text)')  # (other types)
    sql(f"INSERT INTO \"{pg_schema}\".meta VALUES (1, 'one')")
    with pytest.raises(StoreError, match=r"a meta table that is not tickwork's \(it says \{\}\)"):
        make(pg_schema).open()


def test_a_store_without_pickle_never_unpickles(pg_tables: str) -> None:
    trusting = make(pg_tables, pickle=True)
    trusting.add_job(make_job("p", args=({1, 2},)))
    assert trusting.get_job("p").args == ({1, 2},)
    cautious = make(pg_tables)
    assert cautious.get_jobs() == []
    assert "pickle=True" in cautious.broken_jobs()["p"]


def test_the_database_clock_is_read_as_aware_utc(pg_tables: str) -> None:
    moment = make(pg_tables).database_now()
    assert moment.tzinfo is UTC
    assert abs((moment - datetime.now(UTC)).total_seconds()) < 60


def test_the_jobs_that_wait_for_events_are_read_through_an_index(pg_tables: str) -> None:
    # Read at every start: without the partial index, a scan of every job.
    from tickwork import EventTrigger, OrTrigger
    from tickwork.stores._pg_schema import EVENT_ROWS
    from tickwork.triggers import IntervalTrigger

    store = make(pg_tables)
    both = OrTrigger([IntervalTrigger(hours=1), EventTrigger("order")])
    store.add_jobs(
        [
            dataclasses.replace(
                make_job("on-order", next_fire=None), trigger=EventTrigger("order.placed")
            ),
            dataclasses.replace(make_job("hourly-or-on-order"), trigger=both),
            make_job("hourly"),
        ]
    )
    assert sorted(job.id for job in store.event_jobs()) == ["hourly-or-on-order", "on-order"]
    import psycopg

    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")  # (three rows: a scan is cheaper)
        plan = conn.execute(f'EXPLAIN SELECT id FROM "{pg_tables}".jobs WHERE {EVENT_ROWS}')
        assert "jobs_listening" in " ".join(row[0] for row in plan)


# -- changes between hosts --------------------------------------------------------------


def test_sync_misses_no_transaction_that_commits_after_a_later_one(pg_tables: str) -> None:
    store, slow, fast = make(pg_tables), make(pg_tables), make(pg_tables)
    store.add_jobs([make_job("a"), make_job("b")])
    store.load_jobs()
    with slow.transaction():
        slow.update_job(make_job("a", name="slow"))  # its transaction id comes first
        fast.update_job(make_job("b", name="fast"))  # a later one, committed first
        changed = store.sync()
        assert changed is not None
        assert [job.name for job in changed[0]] == ["fast"]
        assert store.sync() is None
    changed = store.sync()  # the slow one has committed now
    assert changed is not None
    assert [job.name for job in changed[0]] == ["slow"]
    assert store.sync() is None


def test_sync_reports_a_removal_once(pg_tables: str) -> None:
    store, peer = make(pg_tables), make(pg_tables)
    store.add_jobs([make_job("a"), make_job("b")])
    store.load_jobs()
    peer.remove_jobs(["a", "ghost"])
    assert store.sync() == ([], ["a"])
    assert store.sync() is None


# -- claims -------------------------------------------------------------------------------


def test_a_fire_already_run_starts_no_second_run_after_a_replace(pg_tables: str) -> None:
    store, other = make(pg_tables), make(pg_tables)
    store.add_job(make_job("a"))
    assert store.claim_fires([("a", T0, LATER, None, (T0,))], now=T0) == [0]
    other.add_job(make_job("a"), replace=True)  # a host's start-up resets next_fire to T0
    assert other.claim_fires([("a", T0, LATER, None, (T0,))], now=T0) == [None]
    assert other.get_job("a").next_fire == LATER  # moved on: no loop
    assert sql(f'SELECT count(*) FROM "{pg_tables}".leases') == [(1,)]
    assert other.claim_fires([("a", LATER, LATER + timedelta(seconds=10), None, (LATER,))],
                             now=LATER) == [1]  # fmt: skip


def test_a_row_locked_by_another_transaction_is_skipped_and_synced_later(
    pg_tables: str,
) -> None:
    import psycopg

    store = make(pg_tables, lock_timeout=5)
    store.add_jobs([make_job("a"), make_job("b")])
    store.load_jobs()
    with psycopg.connect(pg.dsn()) as holder:
        holder.execute(f'SELECT 1 FROM "{pg_tables}".jobs WHERE id = %s FOR UPDATE', ("a",))
        started = time.monotonic()
        claims = [(job_id, T0, LATER, None, (T0,)) for job_id in "ab"]
        assert store.claim_fires(claims, now=T0) == [None, 0]
        assert time.monotonic() - started < 2  # skipped, not waited for
        holder.rollback()
    changed = store.sync()
    assert changed is not None
    assert changed[0] == [make_job("a")]  # unchanged, but reported: never forgotten


def test_a_batch_of_thousands_is_claimed_in_one_go(pg_tables: str) -> None:
    store = make(pg_tables)
    ids = [f"j{n:05}" for n in range(4000)]
    store.add_jobs([make_job(job_id) for job_id in ids])
    claims = [(job_id, T0, None, 0, (T0,)) for job_id in ids]
    assert store.claim_fires(claims, now=T0) == [0] * 4000
    assert sql(f'SELECT count(*) FROM "{pg_tables}".slots') == [(4000,)]
    assert store.claim_fires(claims[:10], now=T0) == [None] * 10


# -- liveness -----------------------------------------------------------------------------


def test_a_dead_owners_runs_are_taken_over_a_second_after_its_lock_is_free(
    pg_tables: str,
) -> None:
    store, peer = make(pg_tables), make(pg_tables)
    store.add_job(make_job("a"))
    assert store.claim_fires([("a", T0, LATER, None, (T0,))], now=T0) == [0]
    soon = T0 + timedelta(seconds=1)
    assert peer.maintain(soon).taken == []  # alive: its lease stands
    assert store._live is not None
    # (With a timeout: it returns once the backend has gone, and its lock with it.)
    sql("SELECT pg_terminate_backend(%s, 5000)", (store._live.info.backend_pid,))
    # Its lock is free: dead if it stays free for a second (a live process whose
    # connections were cut takes it back), and looked at again then.
    upkeep = peer.maintain(soon)
    assert upkeep.taken == []
    assert upkeep.next_at == soon + timedelta(seconds=1)
    assert peer.maintain(soon + timedelta(seconds=0.9)).taken == []
    [taken] = peer.maintain(soon + timedelta(seconds=1)).taken
    assert (taken.job_id, taken.scheduled_at, taken.dead) == ("a", T0, True)
    # The store comes back (a new liveness connection) and learns what it lost.
    upkeep = store.maintain(T0 + timedelta(seconds=4))
    assert upkeep.lost == [("a", T0)]
    assert peer.maintain(T0 + timedelta(seconds=5)).taken == []  # alive again


def test_the_event_runs_of_a_process_whose_lock_is_free_wait_a_second_too(
    pg_tables: str,
) -> None:
    from tickwork import EmittedEvent

    store, peer = make(pg_tables), make(pg_tables)
    event = EmittedEvent(id="e1", name="order", payload={"n": 1}, emitted_at=T0)
    store.record_event(event, [("a", event.id)], handled=True, now=T0)
    assert store._live is not None
    sql("SELECT pg_terminate_backend(%s, 5000)", (store._live.info.backend_pid,))
    soon = T0 + timedelta(seconds=1)
    assert peer.orphaned_event_runs(now=soon) == []  # (free: it may be back at once)
    assert peer.orphaned_event_runs(now=soon + timedelta(seconds=0.9)) == []
    [(job_id, taken)] = peer.orphaned_event_runs(now=soon + timedelta(seconds=1))
    assert (job_id, taken.id) == ("a", "e1")


def test_a_process_whose_connections_were_cut_keeps_its_runs(pg_tables: str) -> None:
    from tickwork import EmittedEvent

    store, peer = make(pg_tables), make(pg_tables)
    store.add_job(make_job("a"))
    assert store.claim_fires([("a", T0, LATER, None, (T0,))], now=T0) == [0]
    assert store._live is not None
    sql("SELECT pg_terminate_backend(%s, 5000)", (store._live.info.backend_pid,))
    soon = T0 + timedelta(seconds=1)
    assert peer.maintain(soon).taken == []  # free: a suspect
    # It takes its lock back (its listener does so as soon as the server answers).
    store.maintain(soon + timedelta(seconds=0.5))
    assert peer.maintain(soon + timedelta(seconds=1)).taken == []
    assert peer.maintain(soon + timedelta(seconds=3)).taken == []
    assert store.maintain(soon + timedelta(seconds=4)).lost == []
    # So with its event runs.
    event = EmittedEvent(id="e1", name="order", payload={"n": 1}, emitted_at=T0)
    store.record_event(event, [("a", event.id)], handled=True, now=T0)
    sql("SELECT pg_terminate_backend(%s, 5000)", (store._live.info.backend_pid,))
    later = soon + timedelta(seconds=5)
    assert peer.orphaned_event_runs(now=later) == []
    store.maintain(later + timedelta(seconds=0.5))  # (it takes its lock back)
    assert peer.orphaned_event_runs(now=later + timedelta(seconds=2)) == []


def test_an_expired_lease_waits_for_the_servers_clock_too(pg_tables: str) -> None:
    store, ahead = make(pg_tables), make(pg_tables)
    future = datetime.now(UTC) + timedelta(hours=1)  # a host whose clock runs ahead
    store.add_job(make_job("a", next_fire=future))
    store.claim_fires([("a", future, None, None, (future,))], now=future)
    assert ahead.maintain(future + timedelta(seconds=60)).taken == []


# -- wake-ups -----------------------------------------------------------------------------


def test_subscribers_hear_the_writes_of_others_only(pg_tables: str) -> None:
    store, peer = make(pg_tables), make(pg_tables)
    store.open()
    heard = threading.Event()
    unsubscribe = store.subscribe(heard.set)
    deadline = time.monotonic() + 5
    # The listener starts in its thread: write until it has heard once.
    while not heard.is_set() and time.monotonic() < deadline:
        peer.add_job(make_job(f"p{time.monotonic_ns()}"))
        heard.wait(0.2)
    assert heard.is_set()
    heard.clear()
    store.add_job(make_job("mine"))
    assert not heard.wait(0.5)
    unsubscribe()
    peer.add_job(make_job("after"))
    assert not heard.wait(0.5)


def test_a_listening_store_takes_its_lock_back_as_soon_as_the_server_answers(
    pg_tables: str,
) -> None:
    store, peer = make(pg_tables), make(pg_tables)
    store.add_job(make_job("a"))
    assert store.claim_fires([("a", T0, LATER, None, (T0,))], now=T0) == [0]
    unsubscribe = store.subscribe(lambda: None)
    try:
        assert store._listener is not None
        deadline = time.monotonic() + 5
        while not store._listener.listening and time.monotonic() < deadline:
            time.sleep(0.01)
        listening = store._listener._conn
        assert store._live is not None
        assert listening is not None
        pids = [store._live.info.backend_pid, listening.info.backend_pid]
        cut = sql("SELECT pg_terminate_backend(pid, 5000) FROM unnest(%s::int[]) AS pid", (pids,))
        assert cut == [(True,), (True,)]  # (its liveness connection and its listener's)

        def alive() -> bool:
            rows = peer.processes(now=T0)
            return any(row.id == store.owner and row.alive for row in rows)

        # No upkeep of its own is called: the listener's reconnection registers it.
        while not alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert alive()
    finally:
        unsubscribe()


def test_without_notify_nothing_is_heard(pg_tables: str) -> None:
    store = make(pg_tables, notify=False)
    store.subscribe(lambda: None)()
    assert store._listener is None


# -- schedulers ---------------------------------------------------------------------------


def scheduler_on(schema: str, clock: FakeClock) -> Scheduler:
    return Scheduler(
        store=make(schema),
        clock=clock,
        executors={"default": InlineExecutor()},
        timezone="UTC",
    )


def test_a_scheduler_runs_jobs_and_records_their_history(pg_tables: str) -> None:
    clock = FakeClock(T0)
    scheduler = scheduler_on(pg_tables, clock)
    scheduler.add_job(RECORD, "interval", seconds=10, id="tick")
    scheduler.add_job(RECORD, "date", run_date=T0 + timedelta(seconds=5), id="once")
    scheduler.open()
    advance(scheduler, timedelta(seconds=35))
    runs = Counter(job_id for job_id, _, _ in sqlite_jobs.RUNS)
    assert runs == {"tick": 3, "once": 1}
    assert len(scheduler.history("tick")) == 3
    scheduler.shutdown()


def test_two_schedulers_share_a_backlog_and_run_each_fire_once(pg_tables: str) -> None:
    count = 2000
    due = T0 + timedelta(seconds=1)
    first, second = scheduler_on(pg_tables, FakeClock(T0)), scheduler_on(pg_tables, FakeClock(T0))
    first.add_jobs(
        [{"func": RECORD, "trigger": "date", "run_date": due, "id": f"j{n}"} for n in range(count)]
    )
    first.open()
    second.open()
    barrier = threading.Barrier(2)

    def run(scheduler: Scheduler) -> None:
        barrier.wait()
        advance(scheduler, timedelta(seconds=2))

    threads = [threading.Thread(target=run, args=(s,)) for s in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    runs = Counter(job_id for job_id, _, _ in sqlite_jobs.RUNS)
    assert len(runs) == count  # none missing
    assert set(runs.values()) == {1}  # none doubled
    shares = sql(f'SELECT owner, count(*) FROM "{pg_tables}".slots GROUP BY owner')
    assert len(shares) == 2, shares  # each ran a share (slots name their claimer)
    first.shutdown()
    second.shutdown()


# -- connections and faults -------------------------------------------------------------


def test_a_call_after_the_servers_connections_were_terminated_gets_fresh_ones(
    pg_tables: str,
) -> None:
    store = make(pg_tables)
    store.add_job(make_job("a"))
    killed = sql("SELECT pg_terminate_backend(pid, 5000) FROM unnest(%s::int[]) AS pid",
                 (sorted(store._configured),))  # fmt: skip
    assert killed
    assert all(row[0] for row in killed)
    answers = []
    for _ in range(3):  # the first may fail (with a StoreError), the next do not
        try:
            answers.append(store.get_job("a"))
        except StoreError as error:
            assert "could not read the job" in str(error)
    assert answers[-2:] == [make_job("a")] * 2


def test_a_pool_that_stays_full_is_a_store_error(pg_tables: str) -> None:
    store = make(pg_tables, pool_size=1, lock_timeout=0.5)
    store.add_job(make_job("a"))
    inside = threading.Event()
    done = threading.Event()

    def hold() -> None:
        with store.transaction():
            store.get_job("a")
            inside.set()
            done.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inside.wait(5)
        with pytest.raises(StoreError, match="pool is full"):
            store.get_job("a")
    finally:
        done.set()
        holder.join(5)
    assert store.get_job("a") == make_job("a")


def test_a_pool_given_is_used_and_left_open(pg_tables: str) -> None:
    from psycopg_pool import ConnectionPool

    with ConnectionPool(pg.dsn(), min_size=1, max_size=2) as pool:
        store = PostgresStore(pool, schema=pg_tables)
        store.add_job(make_job("a"))
        store.close()
        assert not pool.closed
        with pool.connection() as conn:
            assert conn.execute(f'SELECT id FROM "{pg_tables}".jobs').fetchall() == [("a",)]


def test_without_psycopg_the_store_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None; "
        "import tickwork, tickwork.stores; "
        "from tickwork.stores import PostgresStore\n"
        "try:\n    PostgresStore('postgresql://x/y')\n"
        "except ImportError as error:\n    print(error)"
    )
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert 'pip install "tickwork[postgres]"' in done.stdout


def test_a_user_who_may_not_create_tables_is_told_so_at_open(pg_schema: str) -> None:
    role = f"{pg_schema}_reader"
    sql(f'CREATE ROLE "{role}" LOGIN')
    try:
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        info = conninfo_to_dict(pg.dsn())
        info["user"] = role
        store = PostgresStore(make_conninfo(**info), schema=pg_schema)
        with pytest.raises(StoreError, match="no permission to create"):
            store.open()
    finally:
        sql(f'DROP ROLE "{role}"')


def test_without_notify_no_notification_is_sent(pg_tables: str) -> None:
    import psycopg

    quiet, loud = make(pg_tables, notify=False), make(pg_tables)
    quiet.open()
    with psycopg.connect(pg.dsn(), autocommit=True) as listener:
        listener.execute(f'LISTEN "{quiet.channel}"')
        quiet.add_job(make_job("a"))
        quiet.claim_fires([("a", T0, LATER, None, (T0,))], now=T0)
        assert list(listener.notifies(timeout=0.3)) == []
        loud.add_job(make_job("b"))
        [note] = list(listener.notifies(timeout=2.0, stop_after=1))
        assert (note.channel, note.payload) == (loud.channel, loud.owner)


def test_a_forked_child_uses_connections_of_its_own(pg_tables: str) -> None:
    import multiprocessing

    store = make(pg_tables)
    store.add_job(make_job("a"))
    parent_owner = store.owner
    context = multiprocessing.get_context("fork")
    child = context.Process(target=_child_adds_a_job, args=(store,))
    with warnings.catch_warnings():
        # (Python 3.12+ warns that a process with threads forks: the pool has threads.)
        warnings.simplefilter("ignore", DeprecationWarning)
        child.start()
    child.join(30)
    assert child.exitcode == 0
    assert store.owner == parent_owner
    assert {job.id for job in store.get_jobs()} == {"a", "from-child"}  # parent's still work


def _child_adds_a_job(store: PostgresStore) -> None:
    owner = store.owner
    store.add_job(make_job("from-child"))
    assert store.owner != owner
    store.close()


def test_a_started_scheduler_runs_a_job_added_by_another_host(pg_tables: str) -> None:
    """Real time, real threads: the scheduler learns of the job by polling (the engine
    helper adds NOTIFY wake-ups) and runs it once."""
    from datetime import datetime as real

    scheduler = Scheduler(store=make(pg_tables, poll_interval=0.1), timezone="UTC")
    other = make(pg_tables)
    scheduler.start()
    try:
        due = real.now(UTC) + timedelta(milliseconds=100)
        other.add_job(dataclasses.replace(make_job("now", next_fire=due), func_ref=RECORD))
        deadline = time.monotonic() + 10
        while not sqlite_jobs.runs_of("now") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [at for at, _ in sqlite_jobs.runs_of("now")] == [due]
    finally:
        scheduler.shutdown()


def test_an_async_scheduler_runs_jobs_on_the_store(pg_tables: str) -> None:
    import asyncio

    from tickwork.aio import AsyncScheduler

    async def main() -> None:
        async with AsyncScheduler(store=make(pg_tables), timezone="UTC") as scheduler:
            due = datetime.now(UTC) + timedelta(milliseconds=50)
            await scheduler.add_job(RECORD, "date", run_date=due, id="async")
            deadline = time.monotonic() + 10
            while not sqlite_jobs.runs_of("async") and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert len(sqlite_jobs.runs_of("async")) == 1
            # The job has run its body; its end is recorded once it returns.
            history = await scheduler.history("async")
            while not history and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
                history = await scheduler.history("async")
            assert [run.job_id for run in history] == ["async"]

    asyncio.run(main())


@pytest.mark.parametrize(
    ("job", "hint"),
    [
        (make_job("b\x00"), "a NUL character in the id"),
        (make_job("a", tags=frozenset({"x\x00y"})), "a NUL character in the id, the name, a tag"),
        (make_job("a", tags=frozenset({"x\ud800"})), "a lone surrogate character, such as"),
    ],
    ids=["id", "tag", "surrogate-tag"],
)
def test_text_postgresql_cannot_hold_is_a_serialization_error(
    pg_tables: str, job: Any, hint: str
) -> None:
    from tickwork import SerializationError

    store = make(pg_tables)
    with pytest.raises(SerializationError, match=f"cannot store the job.*\\({hint}"):
        store.add_job(job)
    assert store.get_jobs() == []


def test_arguments_with_a_nul_or_a_lone_surrogate_are_kept_as_on_sqlite(pg_tables: str) -> None:
    # The arguments' json column holds the JSON text as written (\u0000, \ud800), as
    # SQLite does; jsonb refused both.
    job = make_job("a", args=("x\x00y", "\ud800"), kwargs={"k": "\udc00z"})
    make(pg_tables).add_job(job)
    assert make(pg_tables).get_job("a") == job


def test_an_id_with_a_nul_is_no_job_not_a_store_error(pg_tables: str) -> None:
    # PostgreSQL's text holds no NUL: the read failed, and a dashboard's job page for
    # such an id was a 503 "the job store failed" where SQLite gave a 404.
    from tickwork import JobLookupError

    with (
        PostgresStore(pg.dsn(), schema=pg_tables) as store,
        pytest.raises(JobLookupError, match="no job with id"),
    ):
        store.get_job("a\x00b")
