"""Stores written before chains: the migration adds the chain tables and history
columns, and what was stored loads as before (no parents, no return value)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tickwork import IntervalTrigger, Job, Outcome, Scheduler
from tickwork._model import evolve
from tickwork.executors import InlineExecutor
from tickwork.stores import JobStore, PostgresStore, SQLiteStore, _pg_schema, _sqlite_schema
from tickwork.stores._contract import make_job
from tickwork.testing import FakeClock, advance

from .. import chain_jobs, pg
from ..jobs_for_tests import T0

pg_schema = pg.pg_schema
J = "tests.chain_jobs"


def _before_chains(migrations: list[tuple[str, ...]]) -> int:
    """How many migrations come before the one that adds chains."""
    return next(i for i, step in enumerate(migrations) if any("chain_pending" in s for s in step))


def _chain_after_upgrade(store: JobStore) -> None:
    """On the upgraded store: an old run reads as before, and chains work."""
    (old,) = store.history("a")
    assert (old.outcome, old.parent_ids, old.return_value, old.return_kept) == (
        Outcome.SUCCESS,
        (),
        None,
        True,
    )
    chain_jobs.RUNS.clear()
    scheduler = Scheduler(
        clock=FakeClock(T0), store=store, executors={"default": InlineExecutor()}, timezone="UTC"
    )
    scheduler.add_job(f"{J}:step", after="a", id="b")
    scheduler.open()
    advance(scheduler, 60)
    assert [job for job, _, _ in chain_jobs.RUNS] == ["a", "b"]
    scheduler.shutdown()
    chain_jobs.RUNS.clear()


def _job_a() -> Job:
    """Job "a", by reference, every minute from T0 + 1 min."""
    first = T0.replace(minute=1)
    trigger = IntervalTrigger(minutes=1, start=first, timezone="UTC")
    return evolve(make_job("a"), func_ref=f"{J}:step", trigger=trigger, next_fire=first)


def test_a_sqlite_file_from_before_chains_is_upgraded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    count = _before_chains(_sqlite_schema.MIGRATIONS)
    with monkeypatch.context() as older:
        older.setattr(_sqlite_schema, "MIGRATIONS", _sqlite_schema.MIGRATIONS[:count])
        older.setattr(_sqlite_schema, "SCHEMA_VERSION", count)
        store = SQLiteStore(path)
        store.add_job(_job_a())
        store.close()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO history (job_id, scheduled_us, zone, attempt, outcome, started_us, "
            "finished_us, process, recorded_us) VALUES ('a', 0, 'UTC', 1, 'success', 0, 1, "
            "'old:1', 1)"
        )
    conn.close()
    _chain_after_upgrade(SQLiteStore(path))


def test_a_postgres_schema_from_before_chains_is_upgraded(pg_schema: str) -> None:
    import psycopg

    count = _before_chains(_pg_schema.MIGRATIONS)
    with pytest.MonkeyPatch.context() as older:
        older.setattr(_pg_schema, "MIGRATIONS", _pg_schema.MIGRATIONS[:count])
        older.setattr(_pg_schema, "SCHEMA_VERSION", count)
        store = PostgresStore(pg.dsn(), schema=pg_schema)
        store.add_job(_job_a())
        store.close()
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(
            f'INSERT INTO "{pg_schema}".history (job_id, scheduled_us, zone, attempt, outcome, '
            "started_us, finished_us, process, recorded_us) VALUES ('a', 0, 'UTC', 1, "
            "'success', 0, 1, 'old:1', 1)"
        )
    _chain_after_upgrade(PostgresStore(pg.dsn(), schema=pg_schema))
