"""``PostgresStore`` against the store contract suites (``SharedJobStoreContract``, with
the windowed and model tests), on a schema of the test server of each test's own (its
tables emptied after each test and reused: tests/pg.py's ``pg_tables``)."""

from __future__ import annotations

from typing import cast

import pytest

from tickwork.stores import JobStore, PostgresStore
from tickwork.testing import SharedJobStoreContract

from .. import pg

#: A trigger no tickwork knows: the row cannot be loaded.
UNKNOWN_TRIGGER = '{"type": "sundial"}'

pg_tables = pg.pg_tables  # (the fixture: a schema of the test's own, emptied)


def break_row(store: PostgresStore, job_id: str) -> None:
    """Write an unknown trigger into the row of *job_id*, as another process would (on a
    connection of its own: a transaction that is not the store's)."""
    import psycopg

    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(
            f'UPDATE "{store.schema}".jobs SET trigger = %s::jsonb, '
            "xid = pg_current_xact_id() WHERE id = %s",
            (UNKNOWN_TRIGGER, job_id),
        )


class TestPostgresStore(SharedJobStoreContract):
    history_retention = 50
    lease_time = 9.0

    @pytest.fixture
    def store(self, pg_tables: str) -> PostgresStore:
        return PostgresStore(pg.dsn(), schema=pg_tables, history_per_job=50, lease_time=9)

    @pytest.fixture
    def peer_store(self, pg_tables: str) -> PostgresStore:
        return PostgresStore(pg.dsn(), schema=pg_tables, history_per_job=50, lease_time=9)

    def break_job(self, store: JobStore, job_id: str) -> None:
        break_row(cast(PostgresStore, store), job_id)
