"""A PostgreSQL database for the tests of ``PostgresStore``: a fresh schema per test.

The server is the one named by ``TICKWORK_TEST_PG_DSN`` (``.ci/run`` creates a fresh
database for each run and sets it). Without that variable the local server is used
(``postgresql://postgres@127.0.0.1:5432/test``), and the tests that need it are skipped,
with the reason, when it does not answer; with it, a server that does not answer fails
them (CI must not pass by skipping).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def dsn() -> str:
    """The DSN of the test database."""
    return os.environ.get("TICKWORK_TEST_PG_DSN", DEFAULT_DSN)


def _reachable() -> str | None:
    """None when the server answers, else why not."""
    try:
        import psycopg
    except ImportError as error:  # pragma: no cover - the test extra installs it
        return f"psycopg is not installed ({error})"
    try:
        with psycopg.connect(dsn(), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:
        return f"PostgreSQL at {dsn()!r} does not answer: {error}"
    return None


_why_not: list[str | None] = []


def require() -> None:
    """Skip (locally) or fail (with TICKWORK_TEST_PG_DSN set) when there is no server."""
    if not _why_not:
        _why_not.append(_reachable())
    reason = _why_not[0]
    if reason is None:
        return
    if "TICKWORK_TEST_PG_DSN" in os.environ:
        pytest.fail(reason)
    pytest.skip(reason)


def drop_schema(name: str) -> None:
    """Drop the schema *name* and everything in it (if it exists)."""
    import psycopg

    with psycopg.connect(dsn(), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """The name of a schema no other test uses (not created: the store creates it),
    dropped after the test."""
    require()
    name = f"tw_test_{uuid.uuid4().hex[:12]}"
    yield name
    drop_schema(name)
