"""SQLite: a due backlog split between the dispatching processes of one file, with no
write (stores/_sqlite_share.py). Each store object here stands for a process."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tickwork._model import evolve
from tickwork.stores import SQLiteStore, _share
from tickwork.stores._contract import make_job

from .. import dbfile

UTC = timezone.utc
T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
COUNT = 40
#: The instant the schedulers last gave their stores: every job of _due is due by then.
NOW = T0 + timedelta(minutes=5)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "jobs.db"


@pytest.fixture
def stores(db: Path) -> Iterator[tuple[SQLiteStore, SQLiteStore]]:
    """Two processes whose schedulers dispatch to the executor "default", each
    registered on the file by its first maintain."""
    made = [SQLiteStore(db) for _ in range(2)]
    for store in made:
        store.dispatching(["default"])
        store.maintain(NOW)
    yield made[0], made[1]
    for store in made:
        store.close()


def _due(store: SQLiteStore, count: int = COUNT, **options: Any) -> list[str]:
    ids = [f"j{i:02d}" for i in range(count)]
    store.add_jobs([make_job(job_id, next_fire=T0 + timedelta(seconds=i), **options)
                    for i, job_id in enumerate(ids)])  # fmt: skip
    return ids


def _ids(jobs: list[Any]) -> list[str]:
    return [job.id for job in jobs]


def _claim(store: SQLiteStore, job_id: str, then: datetime | None) -> int | None:
    fire = T0 + timedelta(seconds=int(job_id[1:]))
    return store.claim_fires([(job_id, fire, then, None, (fire,))], now=NOW)[0]


def _latest_seq(db: Path) -> int:
    with dbfile.connect(db) as conn:
        return int(conn.execute("SELECT max(seq) FROM jobs").fetchone()[0])


def test_two_processes_split_a_due_backlog_without_writing(
    db: Path, stores: tuple[SQLiteStore, SQLiteStore]
) -> None:
    first, second = stores
    ids = _due(first)
    later = [f"later{i}" for i in range(3)]
    first.add_jobs([make_job(job_id, next_fire=NOW + timedelta(hours=1)) for job_id in later])
    written = _latest_seq(db)
    mine, reached = first.share_due_jobs(after=None, limit=COUNT + 5)
    theirs, _ = second.share_due_jobs(after=None, limit=COUNT + 5)
    assert reached is None  # every key read: the window is whole
    # Each due job is decoded by one process, the other keeps its id alone (waiting);
    # the jobs not due yet are held by both, to fire on time.
    assert sorted(_ids(mine) + _ids(theirs)) == sorted(ids + later * 2)
    assert set(_ids(mine)) & set(_ids(theirs)) == set(later)
    assert len(mine) > 3
    assert len(theirs) > 3
    assert set(first._waiting) == set(_ids(theirs)) - set(later)
    assert first.waiting_on_others()
    assert _latest_seq(db) == written  # (no job row written)
    assert first.sync() is None  # still unclaimed, within the grace: nothing to report
    # A page that stops short still reaches its last key, whoever owns it.
    jobs, reached = first.share_due_jobs(after=None, limit=7)
    assert reached is not None
    assert reached[1] == ids[6]
    assert len(jobs) < 7


def test_a_job_left_to_another_process_comes_back_once_claimed_there(
    stores: tuple[SQLiteStore, SQLiteStore],
) -> None:
    first, second = stores
    _due(first)
    first.share_due_jobs(after=None, limit=COUNT)
    theirs = _ids(second.share_due_jobs(after=None, limit=COUNT)[0])
    moved, ended = theirs[:2]
    # One claimed for a later fire: reported as it is now.
    then = NOW + timedelta(days=1)
    assert _claim(second, moved, then) == 0
    # One claimed for its last fire (no next fire: it is removed once run): not decoded,
    # no longer waiting; its tombstone reports it.
    assert _claim(second, ended, None) == 0
    changed = first.sync()
    assert changed is not None
    assert [(job.id, job.next_fire) for job in changed[0]] == [(moved, then)]
    assert moved not in first._waiting
    assert ended not in first._waiting
    assert first.sync() is None  # reported once
    second.remove_job(ended)
    assert first.sync() == ([], [ended])


def test_a_job_left_to_a_stuck_process_comes_back_after_the_grace(
    stores: tuple[SQLiteStore, SQLiteStore],
) -> None:
    first, second = stores
    _due(first)
    mine = _ids(first.share_due_jobs(after=None, limit=COUNT)[0])
    theirs = _ids(second.share_due_jobs(after=None, limit=COUNT)[0])
    # The second is stuck: it claims nothing. Within the grace, nothing comes back...
    first.maintain(NOW + timedelta(seconds=_share.GRACE_SECONDS - 1))
    assert first.sync() is None
    # ... after it, the first's clock (its scheduler's, given to maintain) says so.
    first.maintain(NOW + timedelta(seconds=_share.GRACE_SECONDS + 1))
    changed = first.sync()
    assert changed is not None
    assert sorted(_ids(changed[0])) == sorted(theirs)  # decoded, as they are
    assert not first._waiting
    job_id = theirs[0]
    assert _claim(first, job_id, None) == 0
    assert _claim(second, job_id, None) is None  # still once
    assert mine


def test_a_paused_process_and_a_bare_store_get_no_share(
    db: Path, stores: tuple[SQLiteStore, SQLiteStore]
) -> None:
    first, second = stores
    ids = _due(first)
    bare = SQLiteStore(db)  # (the CLI's, the dashboard's: no scheduler)
    try:
        bare.maintain(NOW)  # registered, dispatching nothing
        second.dispatching(None)  # its scheduler paused
        jobs, _ = first.share_due_jobs(after=None, limit=COUNT + 1)
        assert _ids(jobs) == ids
        assert first._live_set == ((first.owner, ("default",)),)
        second.dispatching(["default"])  # resumed
        jobs, _ = first.share_due_jobs(after=None, limit=COUNT + 1)
        assert 0 < len(jobs) < COUNT
    finally:
        bare.close()


def test_a_dead_process_share_is_taken_in_once_the_live_set_changes(
    stores: tuple[SQLiteStore, SQLiteStore],
) -> None:
    first, second = stores
    ids = _due(first)
    mine = _ids(first.share_due_jobs(after=None, limit=COUNT)[0])
    second.close()  # it leaves the file (a killed one: found dead, or silent a lease time)
    first.maintain(NOW)  # (every poll_interval) reads the live processes
    assert first._live_set == ((first.owner, ("default",)),)
    assert not first.waiting_on_others()  # its share is to be read at once
    changed = first.sync()
    assert changed is not None
    assert sorted(mine + _ids(changed[0])) == ids


def test_processes_with_other_executors_each_get_the_due_jobs_of_their_own(
    stores: tuple[SQLiteStore, SQLiteStore],
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
    # Those of an executor both have are split; those of one neither has (a job neither
    # will claim) are held by both, as without a split.
    assert held[0] & held[1] == ids["nobody"]
    assert (held[0] | held[1]) & ids["default"] == ids["default"]
    assert held[0] & ids["default"]
    assert held[1] & ids["default"]


def test_a_sync_leaves_out_this_process_claims_but_not_a_change_they_cover(
    stores: tuple[SQLiteStore, SQLiteStore],
) -> None:
    first, second = stores
    first.add_jobs([make_job("a", next_fire=T0), make_job("b", next_fire=T0)])
    first.load_jobs()  # where the first's sync counts from
    second.update_job(evolve(second.get_job("b"), name="renamed"))  # not yet read by the first
    then = T0 + timedelta(days=1)
    claims = [(job_id, T0, then, None, (T0,)) for job_id in ("a", "b")]
    assert first.claim_fires(claims, now=NOW) == [0, 0]
    # Its own claim of "a" is no news to the first; "b" was changed before it claimed.
    changed = first.sync()
    assert changed is not None
    assert [(job.id, job.name, job.next_fire) for job in changed[0]] == [("b", "renamed", then)]
    assert second.sync() is not None  # (the second reads both claims)
