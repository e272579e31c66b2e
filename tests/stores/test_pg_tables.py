"""The ``pg_tables`` fixture of tests/pg.py gives a test a schema that an earlier test
used only when it is as good as fresh: no rows, sequences restarted, tables exactly as
a store creates them, and no store still holding it; otherwise the schema is dropped."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import pytest

from tickwork import Scheduler
from tickwork.executors import InlineExecutor
from tickwork.stores import PostgresStore
from tickwork.testing import FakeClock, advance

from .. import pg

T0 = datetime(2024, 1, 1, 12, tzinfo=timezone.utc)


def query(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


pg_tables = pg.pg_tables


@pytest.fixture
def used(pg_tables: str) -> str:
    """A schema whose store ran a job three times and was closed."""
    scheduler = Scheduler(
        store=PostgresStore(pg.dsn(), schema=pg_tables),
        clock=FakeClock(T0),
        executors={"default": InlineExecutor()},
        timezone="UTC",
    )
    scheduler.add_job("tests.stores.sqlite_jobs:record", "interval", seconds=10, id="tick")
    scheduler.open()
    advance(scheduler, 31)
    scheduler.shutdown()
    return pg_tables


def rows(name: str) -> dict[str, int]:
    tables = query(
        "SELECT relname FROM pg_class WHERE relnamespace = %s::text::regnamespace "
        "AND relkind = 'r'",
        name,
    )
    return {t: query(f'SELECT count(*) FROM "{name}"."{t}"')[0][0] for (t,) in tables}


def test_a_closed_schema_is_emptied_to_its_meta_rows(used: str) -> None:
    before = rows(used)
    assert before["history"] == 3
    assert before["jobs"] == 1
    assert pg._recycle(used)
    after = rows(used)
    assert after.pop("meta") == before["meta"] > 0
    assert set(after.values()) == {0}, after
    # The next test's first history row is number 1, as on a fresh schema.
    assert query(f"SELECT nextval(pg_get_serial_sequence('\"{used}\".history', 'id'))") == [(1,)]


def test_a_schema_a_store_still_holds_is_not_reused(used: str) -> None:
    store = PostgresStore(pg.dsn(), schema=used)
    store.get_jobs()
    try:
        assert not pg._recycle(used)
        assert rows(used)["jobs"] == 1  # left as it was
    finally:
        store.close()
    # (The server ends a closed connection's session, and lets go of its lock, a moment
    # after the client has left.)
    deadline = time.monotonic() + 5
    while not pg._recycle(used) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rows(used)["jobs"] == 0


@pytest.mark.parametrize(
    "change",
    [
        'ALTER TABLE "{s}".jobs ADD COLUMN extra int',
        'CREATE INDEX odd ON "{s}".history (outcome)',
        'CREATE TABLE "{s}".other (x int)',
        "UPDATE \"{s}\".meta SET value = '999' WHERE key = 'schema'",
        'REVOKE ALL ON "{s}".jobs FROM PUBLIC; GRANT SELECT ON "{s}".jobs TO PUBLIC',
    ],
    ids=["column", "index", "table", "version", "grant"],
)
def test_a_schema_whose_tables_changed_is_not_reused(used: str, change: str) -> None:
    import psycopg

    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        for statement in change.format(s=used).split("; "):
            conn.execute(statement)
    assert not pg._recycle(used)
