"""``SQLiteStore.due_jobs`` (the scheduler's window) is served by an index, which a file
written before it gains when it is first opened."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tickwork._model import Job
from tickwork.stores import SQLiteStore, _sqlite_schema
from tickwork.stores import sqlite as sqlite_module
from tickwork.triggers import IntervalTrigger

from .. import dbfile

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _job(job_id: str, next_fire: datetime) -> Job:
    return Job(
        id=job_id,
        name=job_id,
        func=None,
        func_ref="builtins:print",
        trigger=IntervalTrigger(seconds=10, start=T0, timezone="UTC"),
        next_fire=next_fire,
    )


def _indexes(db: Path) -> set[str]:
    with dbfile.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}


@pytest.mark.parametrize("query", ["_DUE_FIRST", "_DUE_AFTER"])
def test_a_page_is_read_through_the_index_without_a_sort(tmp_path: Path, query: str) -> None:
    db = tmp_path / "jobs.db"
    with SQLiteStore(db):
        pass  # the tables, of this version
    sql = getattr(sqlite_module, query)
    params = (10,) if query == "_DUE_FIRST" else (0, "", 10)
    with dbfile.connect(db) as conn:
        plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    assert "USING INDEX jobs_by_due" in plan
    assert "TEMP B-TREE" not in plan  # no sort: a page costs the same anywhere in the file


def test_a_file_written_before_the_index_gains_it_and_keeps_its_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "jobs.db"
    before = _sqlite_schema.MIGRATIONS[:2]  # schema 2: no index for the window
    with monkeypatch.context() as older:
        older.setattr(_sqlite_schema, "MIGRATIONS", before)
        older.setattr(_sqlite_schema, "SCHEMA_VERSION", 2)
        with SQLiteStore(db) as store:
            store.add_jobs([_job(f"j{n}", T0 + timedelta(seconds=n)) for n in range(3)])
    assert "jobs_by_due" not in _indexes(db)
    with SQLiteStore(db) as store:
        assert [job.id for job in store.due_jobs(after=None, limit=10)] == ["j0", "j1", "j2"]
    assert "jobs_by_due" in _indexes(db)
    with dbfile.connect(db) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0]
    assert version == sqlite_module.SCHEMA_VERSION >= 3  # (later steps may follow)


def test_the_jobs_that_wait_for_events_are_read_through_an_index(tmp_path: Path) -> None:
    # Read at every start: a scan of the table took a quarter of a second on a file of a
    # million jobs. The read must use the partial index (its WHERE word for word).
    from tickwork import EventTrigger, OrTrigger

    db = tmp_path / "jobs.db"
    with SQLiteStore(db) as store:
        for job_id, trigger in [
            ("on-order", EventTrigger("order.placed")),
            ("hourly-or-on-order", OrTrigger([IntervalTrigger(hours=1), EventTrigger("order")])),
            ("hourly", IntervalTrigger(hours=1)),
        ]:
            job = Job(id=job_id, name=job_id, func=None, func_ref="builtins:print", trigger=trigger)
            store.add_job(job)
        assert sorted(job.id for job in store.event_jobs()) == ["hourly-or-on-order", "on-order"]
    with dbfile.connect(db) as conn:
        sql = f"SELECT id FROM jobs WHERE {_sqlite_schema.EVENT_ROWS}"
        plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
    assert "USING INDEX jobs_listening" in plan
