"""PostgreSQL: a due backlog split between the live processes of a schema, with no write
(stores/_pg_share.py), and claims that respect a pause made through another store
object."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tickwork import Catchup, Scheduler
from tickwork._model import evolve
from tickwork.stores import PostgresStore, _share
from tickwork.stores._contract import make_job
from tickwork.triggers import IntervalTrigger

from .. import pg

UTC = timezone.utc
T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)  # long past: due now by the server's clock
COUNT = 40

pg_tables = pg.pg_tables

_ran: set[str] = set()
_ran_lock = threading.Lock()
_all_ran = threading.Event()


def _hit(job_id: str) -> None:
    """A run of the backlog tests (by reference: jobs stored through a bare store)."""
    with _ran_lock:
        _ran.add(job_id)
        if len(_ran) >= COUNT:
            _all_ran.set()


@pytest.fixture
def stores(pg_tables: str) -> Iterator[tuple[PostgresStore, PostgresStore]]:
    """Two store objects on one schema: two processes whose schedulers dispatch to the
    executor "default" (each sees the other dispatching)."""
    made = [PostgresStore(pg.dsn(), schema=pg_tables, lease_time=9) for _ in range(2)]
    for store in made:
        store.open()
        store.dispatching(["default"])
    yield made[0], made[1]
    for store in made:
        store.close()


def _due(store: PostgresStore, count: int = COUNT) -> list[str]:
    ids = [f"j{i:02d}" for i in range(count)]
    store.add_jobs([make_job(job_id, next_fire=T0 + timedelta(seconds=i))
                    for i, job_id in enumerate(ids)])  # fmt: skip
    return ids


def _sql(statement: str, params: Any = ()) -> list[Any]:
    import psycopg

    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def _ids(jobs: list[Any]) -> list[str]:
    return [job.id for job in jobs]


def _claim(store: PostgresStore, job_id: str, fire: datetime) -> int | None:
    after = fire + timedelta(days=1)
    return store.claim_fires([(job_id, fire, after, None, (fire,))], now=fire)[0]


def _rows_written(schema: str) -> int:
    [(xids,)] = _sql(f'SELECT count(DISTINCT xid) FROM "{schema}".jobs')
    return int(xids)


def test_a_claim_of_a_job_paused_through_another_store_object_is_refused(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    here, there = stores
    here.add_job(make_job("a", next_fire=T0))
    assert here.get_job("a").next_fire == T0
    here.load_jobs()  # where here's sync counts from
    there.update_job(evolve(there.get_job("a"), paused=True))
    claim = ("a", T0, T0 + timedelta(seconds=10), None, (T0,))
    assert here.claim_fires([claim], now=T0) == [None]
    assert there.get_job("a").next_fire == T0  # nothing moved, no run leased
    assert _sql(f'SELECT count(*) FROM "{here.schema}".leases') == [(0,)]
    # The lost claim is reported by the next sync, paused: the scheduler learns it.
    changed = here.sync()
    assert changed is not None
    assert [(job.id, job.paused) for job in changed[0]] == [("a", True)]


def test_two_processes_split_a_due_backlog_without_writing(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = stores
    ids = _due(first)
    written = _rows_written(first.schema)
    mine, reached = first.share_due_jobs(after=None, limit=COUNT + 5)
    theirs, _ = second.share_due_jobs(after=None, limit=COUNT + 5)
    assert reached is None  # every key read: the window is whole
    # Each due job is decoded by one process, the other has its id alone (waiting).
    assert sorted(_ids(mine) + _ids(theirs)) == ids
    assert mine
    assert theirs
    assert set(first._waiting) == set(_ids(theirs))
    assert set(second._waiting) == set(_ids(mine))
    assert _rows_written(first.schema) == written  # (no row version written)
    # Still unclaimed, within the grace: nothing to report.
    assert first.sync() is None
    assert second.sync() is None


def test_a_page_reaches_its_last_key_whoever_owns_it(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    first, _ = stores
    ids = _due(first)
    held: list[str] = []
    after = None
    for _ in range(COUNT):
        jobs, after = first.share_due_jobs(after=after, limit=7)
        held += _ids(jobs)
        if after is None:
            break
        assert after[1] in ids  # the page's last key, held here or not
    assert held
    assert set(held).isdisjoint(first._waiting)
    assert sorted(held + list(first._waiting)) == ids


def test_a_job_left_to_another_process_comes_back_once_claimed_there(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = stores
    _due(first)
    theirs = _ids(second.share_due_jobs(after=None, limit=COUNT)[0])
    first.share_due_jobs(after=None, limit=COUNT)
    job_id = theirs[0]
    fire = second.get_job(job_id).next_fire
    assert fire is not None
    assert _claim(second, job_id, fire) == 0
    changed = first.sync()
    assert changed is not None
    assert [(job.id, job.next_fire) for job in changed[0]] == [(job_id, fire + timedelta(days=1))]
    assert job_id not in first._waiting
    assert first.sync() is None  # reported once


def test_a_job_left_to_a_stuck_process_comes_back_after_the_grace(
    stores: tuple[PostgresStore, PostgresStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_share, "GRACE_SECONDS", 0.0)
    first, second = stores
    _due(first)
    mine = _ids(first.share_due_jobs(after=None, limit=COUNT)[0])
    # The second process read its share, and is stuck: it claims nothing.
    theirs = _ids(second.share_due_jobs(after=None, limit=COUNT)[0])
    changed = first.sync()
    assert changed is not None
    assert sorted(_ids(changed[0])) == sorted(theirs)  # decoded, as they are
    assert not first._waiting
    job_id = theirs[0]
    fire = first.get_job(job_id).next_fire
    assert fire is not None
    assert _claim(first, job_id, fire) == 0
    assert _claim(second, job_id, fire) is None  # still once
    assert mine


def test_a_dead_process_share_is_taken_in_once_the_live_set_changes(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = stores
    ids = _due(first)
    mine = _ids(first.share_due_jobs(after=None, limit=COUNT)[0])
    second.share_due_jobs(after=None, limit=COUNT)
    second.close()  # it dies: its advisory lock is released
    first.maintain(T0)  # (every poll_interval) reads the live processes
    assert first._live_set == ((first.owner, ("default",)),)
    changed = first.sync()
    assert changed is not None
    assert sorted(mine + _ids(changed[0])) == ids
    # Alone now: the next pages are plain due_jobs reads, every job held.
    jobs, reached = first.share_due_jobs(after=None, limit=COUNT)
    assert sorted(_ids(jobs)) == ids
    assert reached == (T0 + timedelta(seconds=COUNT - 1), ids[-1])


def test_alone_a_page_read_is_every_job(pg_tables: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = PostgresStore(pg.dsn(), schema=pg_tables)
    try:
        ids = _due(store)
        jobs, reached = store.share_due_jobs(after=None, limit=10)
        assert _ids(jobs) == ids[:10]
        assert store._live_set == ()  # (no scheduler: it dispatches nothing)
        plain: list[Any] = []
        due_jobs = store.due_jobs
        monkeypatch.setattr(store, "due_jobs", lambda **kw: plain.append(kw) or due_jobs(**kw))
        assert reached is not None
        jobs, reached = store.share_due_jobs(after=reached, limit=COUNT)
        assert _ids(jobs) == ids[10:]
        assert reached is None
        assert len(plain) == 1  # the cached live set says nothing is split: main's read
        assert not store._waiting
    finally:
        store.close()


def test_jobs_not_due_yet_are_read_by_every_process(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = stores
    soon = datetime.now(UTC) + timedelta(hours=1)
    first.add_jobs([make_job(f"later{i}", next_fire=soon) for i in range(8)])
    expected = [f"later{i}" for i in range(8)]
    assert _ids(first.share_due_jobs(after=None, limit=10)[0]) == expected
    assert _ids(second.share_due_jobs(after=None, limit=10)[0]) == expected


def test_a_process_heard_of_for_the_first_time_is_counted_at_the_next_page(
    pg_tables: str,
) -> None:
    first = PostgresStore(pg.dsn(), schema=pg_tables)
    second = PostgresStore(pg.dsn(), schema=pg_tables)
    try:
        first.dispatching(["default"])
        ids = _due(first)
        jobs, reached = first.share_due_jobs(after=None, limit=10)
        assert first._live_set == ((first.owner, ("default",)),)  # alone so far
        second.open()
        second.dispatching(["default"])
        first._heard(second.owner)  # (its first write's NOTIFY)
        assert first._live_set is None
        assert reached is not None
        jobs, _ = first.share_due_jobs(after=reached, limit=COUNT)
        owners = sorted([first.owner, second.owner])
        assert first._live_set == tuple((owner, ("default",)) for owner in owners)
        assert 0 < len(jobs) < COUNT - 10  # the rest split with the second process
        assert sorted(_ids(jobs) + list(first._waiting)) == ids[10:]
        assert first.waiting_on_others()  # (the scheduler reads changes at the poll)

    finally:
        first.close()
        second.close()


def test_a_share_the_live_set_gives_back_is_read_at_the_next_sync(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = stores
    ids = _due(first)
    first._new_live_set(
        [(owner, '["default"]') for owner in (first.owner, second.owner, "zz-that-died")]
    )
    mine = _ids(first.share_due_jobs(after=None, limit=COUNT)[0])
    assert first.waiting_on_others()
    # maintain() reads the live processes (every poll_interval): one fewer.
    first.maintain(T0)
    assert not first.waiting_on_others()  # the scheduler reads at the next notification
    changed = first.sync()
    assert changed is not None
    back = _ids(changed[0])
    assert back
    assert set(back).isdisjoint(first._waiting)
    assert sorted(mine + back + list(first._waiting)) == ids


def _executors(schema: str, owner: str) -> Any:
    [(executors,)] = _sql(f'SELECT executors FROM "{schema}".processes WHERE owner = %s', (owner,))
    return executors


def _until(check: Any, what: str, seconds: float = 10.0) -> None:
    done = threading.Event()
    deadline = datetime.now(UTC) + timedelta(seconds=seconds)
    while not check():
        assert datetime.now(UTC) < deadline, what
        done.wait(0.02)


def test_processes_with_other_executors_each_get_the_due_jobs_of_their_own(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = stores
    first.dispatching(["default", "ea"])
    second.dispatching(["eb", "default"])
    jobs = []
    for i in range(COUNT):
        executor = ("default", "ea", "eb", "nobody")[i % 4]
        jobs.append(make_job(f"{executor}{i:02d}", next_fire=T0 + timedelta(seconds=i),
                             executor=executor))  # fmt: skip
    first.add_jobs(jobs)
    ids = {executor: {job.id for job in jobs if job.executor == executor}
           for executor in ("default", "ea", "eb", "nobody")}  # fmt: skip
    held = [{job.id for job in store.share_due_jobs(after=None, limit=COUNT)[0]}
            for store in stores]  # fmt: skip
    # Each process holds the due jobs of the executor only it has, none of the other's.
    assert ids["ea"] <= held[0]
    assert held[0].isdisjoint(ids["eb"])
    assert ids["eb"] <= held[1]
    assert held[1].isdisjoint(ids["ea"])
    # The jobs of an executor both have are split; those of one neither has (a job
    # neither will claim) are held by both, as without a split.
    assert held[0] & held[1] == ids["nobody"]
    assert (held[0] | held[1]) & ids["default"] == ids["default"]
    assert held[0] & ids["default"]
    assert held[1] & ids["default"]
    assert set(first._waiting) == ids["eb"] | (ids["default"] - held[0])


def test_a_store_object_no_scheduler_drives_dispatches_nothing(pg_tables: str) -> None:
    store = PostgresStore(pg.dsn(), schema=pg_tables)
    try:
        store.open()
        assert _executors(pg_tables, store.owner) is None
        store.dispatching(["b", "a"])
        assert _executors(pg_tables, store.owner) == '["a", "b"]'
        store.close()
        store.open()  # (opened again: dispatching nothing until told)
        assert _executors(pg_tables, store.owner) is None
        store.close()
        # Told before it opens (a scheduler's start): registered dispatching at once.
        store.dispatching(["default"])
        store.open()
        assert _executors(pg_tables, store.owner) == '["default"]'
    finally:
        store.close()


def test_a_running_process_takes_a_whole_backlog_beside_a_paused_one_and_a_bare_store(
    pg_tables: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A job left to a process that will not claim it would wait for the grace: an hour.
    monkeypatch.setattr(_share, "GRACE_SECONDS", 3600.0)
    _ran.clear()
    _all_ran.clear()
    bare = PostgresStore(pg.dsn(), schema=pg_tables)  # (the CLI's, a Celery worker's)
    paused = Scheduler(store=PostgresStore(pg.dsn(), schema=pg_tables), timezone="UTC")
    running = Scheduler(
        store=PostgresStore(pg.dsn(), schema=pg_tables, poll_interval=0.2), timezone="UTC"
    )
    try:
        due = datetime.now(UTC) - timedelta(seconds=1)
        bare.add_jobs([
            evolve(make_job(f"j{i:02d}", next_fire=due), func_ref=f"{__name__}:_hit",
                   args=(f"j{i:02d}",))
            for i in range(COUNT)
        ])  # fmt: skip
        paused.start()
        owner = paused._engine._store.owner  # type: ignore[attr-defined]
        # ("asyncio" too: a scheduler makes that executor for the first coroutine job.)
        assert _executors(pg_tables, owner) == '["asyncio", "default"]'
        paused.pause()
        _until(lambda: _executors(pg_tables, owner) is None, "the pause was not told")
        running.start()
        assert _all_ran.wait(20), f"ran {len(_ran)} of {COUNT}"
        store = running._engine._store  # type: ignore[attr-defined]
        assert not store._waiting  # every due job was its own
        paused.resume()
        told = '["asyncio", "default"]'
        _until(lambda: _executors(pg_tables, owner) == told, "the resume was not told")
    finally:
        running.shutdown()
        paused.shutdown()
        bare.close()


def test_a_process_whose_heartbeat_is_overdue_gets_no_share(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = stores
    ids = _due(first)
    # The second's scheduler stopped looking after its store (stuck): it holds its
    # advisory lock, but its heartbeat no longer moves its dispatching on.
    _sql(f'UPDATE "{first.schema}".processes SET dispatch_until_us = 0 WHERE owner = %s',
         (second.owner,))  # fmt: skip
    jobs, _ = first.share_due_jobs(after=None, limit=COUNT + 1)
    assert _ids(jobs) == ids
    assert first._live_set == ((first.owner, ("default",)),)
    # Its heartbeat (maintain) makes it a dispatching process again; its notice that
    # its dispatching changed makes the first read them at its next page.
    second.maintain(datetime.now(UTC))
    first._heard(second.owner + "\n")
    assert first._live_set is None
    jobs, _ = first.share_due_jobs(after=None, limit=COUNT + 1)
    assert 0 < len(jobs) < COUNT


def test_a_scheduler_started_paused_dispatches_nothing_until_resumed(pg_tables: str) -> None:
    scheduler = Scheduler(store=PostgresStore(pg.dsn(), schema=pg_tables), timezone="UTC")
    try:
        scheduler.start(paused=True)
        owner = scheduler._engine._store.owner  # type: ignore[attr-defined]
        assert _executors(pg_tables, owner) is None
        scheduler.resume()
        told = '["asyncio", "default"]'
        _until(lambda: _executors(pg_tables, owner) == told, "the resume was not told")
    finally:
        scheduler.shutdown()


def test_maintain_counts_the_other_processes_that_claim_runs(
    stores: tuple[PostgresStore, PostgresStore], pg_tables: str
) -> None:
    # Upkeep.peers is what makes a scheduler claim a backlog the store did not split
    # (jobs another process added, read by sync) in parts its workers start soon: 0
    # here, every process would claim as if alone.
    first, second = stores
    assert first.maintain(T0).peers == 1
    third = PostgresStore(pg.dsn(), schema=pg_tables, lease_time=9)
    try:
        third.open()
        assert first.maintain(T0).peers == 1  # open, but it dispatches nothing
        third.dispatching(["default"])
        assert first.maintain(T0).peers == 2
        assert third.maintain(T0).peers == 2
        second.dispatching(None)  # paused
        assert first.maintain(T0).peers == 1
    finally:
        third.close()
    assert first.maintain(T0).peers == 0


def test_a_process_waiting_on_others_is_woken_when_one_starts_and_reads_its_share_at_once(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    # Its page reads are over: without a wake and a read of the processes, the jobs it
    # left to others that are its own in the new split waited for the grace (5 s in a
    # probe of 4 processes started together), held by no process meanwhile.
    first, _ = stores
    ids = _due(first, 120)
    mine = _ids(first.share_due_jobs(after=None, limit=1000)[0])
    assert first.waiting_on_others()
    assert not first.refresh_split()  # the processes are known: nothing to read
    woken = threading.Event()
    unsubscribe = first.subscribe(woken.set)
    third = PostgresStore(pg.dsn(), schema=first.schema, lease_time=9)
    try:
        third.open()
        third.dispatching(["default"])  # (NOTIFY: its owner and a newline)
        _until(lambda: first._live_set is None, "the notification")
        assert woken.wait(10)
        assert first.refresh_split()  # some of the jobs left to others are its own now
        changed = first.sync()
        assert changed is not None
        back = _ids(changed[0])
        assert back
        assert set(back).isdisjoint(mine)
        assert sorted(mine + back + list(first._waiting)) == sorted(ids)
    finally:
        unsubscribe()
        third.close()


def test_a_change_of_the_processes_wakes_no_one_with_no_job_left_to_others(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    first, _ = stores
    woken: list[None] = []
    first._callbacks.append((lambda: woken.append(None), None))
    first._heard("another-process\n")
    assert first._live_set is None  # read at its next page read
    assert woken == []
    assert not first.refresh_split()


def test_a_hand_off_wakes_the_others_and_asks_them_to_take_it_over_at_once(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = stores
    first.add_jobs([make_job("etl", next_fire=T0)])
    now = datetime.now(UTC)
    # (Claimed now: its lease does not expire before the hand-off.)
    assert first.claim_fires([("etl", T0, T0 + timedelta(days=1), None, (T0,))], now=now) == [0]
    woken = threading.Event()
    unsubscribe = second.subscribe(woken.set)
    try:
        second.maintain(now)  # (its look after leases is over: the next is a poll away)
        assert not second.upkeep_wanted()
        assert first.hand_off_retries([("etl", T0, 2, now)], now=now) == [True]
        assert woken.wait(10)
        assert second.upkeep_wanted()
        assert not first.upkeep_wanted()  # (its own notification)
        taken = second.maintain(datetime.now(UTC)).taken
        assert [(t.job_id, t.scheduled_at, t.attempt) for t in taken] == [("etl", T0, 2)]
        assert not second.upkeep_wanted()
    finally:
        unsubscribe()


def test_runs_a_paused_process_leaves_are_run_by_another_at_once_not_at_its_next_poll(
    pg_tables: str,
) -> None:
    # They waited for the other process's next look after leases (every poll_interval):
    # up to about 3 s of a backlog in which nothing ran, in a probe with the default 5 s.
    from . import sqlite_jobs

    sqlite_jobs.RELEASE.clear()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=6)
    with PostgresStore(pg.dsn(), schema=pg_tables) as bare:
        trigger = IntervalTrigger(minutes=1, start=start, timezone="UTC")
        bare.add_jobs([evolve(make_job("etl", next_fire=start, catchup=Catchup.ALL),
                              func_ref=f"{sqlite_jobs.__name__}:wait_released",
                              trigger=trigger)])  # fmt: skip
    slow = {"poll_interval": 10.0, "lease_time": 60.0}
    first = Scheduler(store=PostgresStore(pg.dsn(), schema=pg_tables, **slow), timezone="UTC")
    second = Scheduler(store=PostgresStore(pg.dsn(), schema=pg_tables, **slow), timezone="UTC")
    try:
        first.start()
        _until(lambda: len(sqlite_jobs.runs_of("etl")) == 1, "the first run")
        second.start()
        held = second._engine._store  # type: ignore[attr-defined]
        _until(lambda: held._beat_at_us > 0, "the second's first upkeep")
        first.pause()  # its catch-up queue is left in the store, due now
        sqlite_jobs.RELEASE.set()  # (the run it had started ends)
        _until(lambda: len(sqlite_jobs.runs_of("etl")) > 1, "a run after the pause", 4.0)
    finally:
        sqlite_jobs.RELEASE.set()
        second.shutdown()
        first.shutdown()


def test_sync_within_a_bound_leaves_the_jobs_beyond_it_undecoded(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = stores
    assert second.sync_within((T0, "")) is None  # (nothing changed yet)
    first.add_jobs([make_job("near", next_fire=T0 + timedelta(seconds=5)),
                    make_job("edge", next_fire=T0 + timedelta(seconds=9)),
                    make_job("far", next_fire=T0 + timedelta(hours=1)),
                    make_job("done", next_fire=None),
                    make_job("paused", next_fire=T0, paused=True)])  # fmt: skip
    first.remove_job("done")
    first.add_jobs([make_job("none", next_fire=None)])
    changed = second.sync_within((T0 + timedelta(seconds=9), "edge"))
    assert changed is not None
    jobs, removed, beyond = changed
    assert sorted(job.id for job in jobs) == ["edge", "near"]
    assert removed == ["done"]
    assert sorted(beyond) == ["far", "none", "paused"]
    assert second.sync_within((T0, "")) is None  # read once
