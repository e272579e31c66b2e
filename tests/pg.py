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
from typing import Any

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


# -- schemas with tickwork's tables, recycled between tests -----------------------------

#: Schemas a test used and left with tickwork's tables and nothing holding them, emptied,
#: waiting for the next test (dropped at the end of the session).
_spares: list[str] = []
#: What every schema of the current version looks like (tables, columns, indexes,
#: triggers, privileges, meta rows), its name replaced by "S"; computed once.
_shape: list[str] = []

#: The catalog of a schema, as comparable text: its tables and what is in them.
_SHAPE = """
SELECT 'class ' || c.relname || ' ' || c.relkind::text || ' ' || coalesce(c.relacl::text, '')
    FROM pg_class c WHERE c.relnamespace = %(n)s::oid
UNION ALL SELECT 'column ' || c.relname || '.' || a.attname || ' '
        || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text || ' '
        || coalesce(pg_get_expr(d.adbin, d.adrelid), '') || ' ' || a.attidentity::text
        || ' ' || coalesce(a.attcollation::regcollation::text, '')
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE c.relnamespace = %(n)s::oid AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = %(s)s::text
UNION ALL SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = %(n)s::oid
UNION ALL SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = %(n)s::oid
UNION ALL SELECT 'function ' || pg_get_functiondef(p.oid) FROM pg_proc p
    WHERE p.pronamespace = %(n)s::oid
UNION ALL SELECT 'sequence ' || s.seqrelid::regclass::text || ' ' || s.seqstart || ' '
        || s.seqincrement || ' ' || s.seqmax || ' ' || s.seqmin || ' ' || s.seqcycle::text
    FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
    WHERE c.relnamespace = %(n)s::oid
UNION ALL SELECT 'schema ' || nspowner::regrole::text || ' ' || coalesce(nspacl::text, '')
    FROM pg_namespace WHERE nspname = %(s)s::text
"""
#: Whether anyone holds a lock in the schema: a session advisory lock of its live
#: processes (a store still open) or a lock on one of its relations (a transaction).
_HELD = """
SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
                 AND classid = (hashtext('tickwork.' || %(s)s)::bigint & 4294967295)::oid)
    OR EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                 WHERE c.relnamespace = %(n)s::oid AND l.pid <> pg_backend_pid())
"""


def _namespace(conn: Any, name: str) -> int | None:
    found = conn.execute("SELECT oid FROM pg_namespace WHERE nspname = %s", (name,)).fetchone()
    return None if found is None else int(found[0])


def _shape_of(conn: Any, name: str, oid: int) -> list[str]:
    rows = conn.execute(_SHAPE, {"s": name, "n": oid}).fetchall()
    meta = conn.execute(f'SELECT key, value FROM "{name}".meta ORDER BY key').fetchall()
    text = [row[0].replace(f'"{name}"', "S").replace(name, "S") for row in rows]
    return sorted(text) + [f"meta {key}={value}" for key, value in meta]


def _current_shape(conn: Any) -> list[str]:
    """The shape of a schema whose tables a store has just created."""
    if not _shape:
        from tickwork.stores import PostgresStore

        name = f"tw_test_{uuid.uuid4().hex[:12]}"
        try:
            with PostgresStore(dsn(), schema=name) as store:
                store.get_jobs()
            oid = _namespace(conn, name)
            assert oid is not None
            _shape.extend(_shape_of(conn, name, oid))
        finally:
            drop_schema(name)
    return _shape


def _recycle(name: str) -> bool:
    """Empty the schema *name* for the next test (its tables' rows gone, its sequences
    restarted) if it is exactly as a store creates it and nothing holds it; else False."""
    import psycopg

    with psycopg.connect(dsn(), autocommit=True) as conn:
        oid = _namespace(conn, name)
        meta = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{name}".meta',)).fetchone()
        if oid is None or not (meta and meta[0]):
            return False
        held = conn.execute(_HELD, {"s": name, "n": oid}).fetchone()
        shape = _shape_of(conn, name, oid)
        if held is None or held[0] or shape != _current_shape(conn):
            return False
        tables = [line.split()[1] for line in shape if line.startswith("class ") and
                  line.split()[2] == "r" and line.split()[1] != "meta"]  # fmt: skip
        with conn.transaction():
            conn.execute(
                "".join(f'DELETE FROM "{name}"."{table}"; ' for table in tables)
                + "SELECT setval(s.seqrelid, s.seqstart, false) FROM pg_sequence s JOIN pg_class c "
                f"ON c.oid = s.seqrelid WHERE c.relnamespace = {oid}"
            )
    return True


@pytest.fixture
def pg_tables() -> Iterator[str]:
    """The name of a schema no other test uses, for tests of what a store does with its
    tables (not of how it creates them: use ``pg_schema`` for that).

    Creating tickwork's tables costs the server about 0.2 s, so the schema is one that
    an earlier test left, emptied, when there is one: its tables exactly as a store of
    this version creates them, no rows, sequences restarted, no process holding it.
    Otherwise it is a fresh name, as ``pg_schema`` gives. After the test the schema is
    emptied for the next one, or dropped if it is not exactly as created (the test
    changed its tables) or something still holds it (a store left open).
    """
    require()
    name = _spares.pop() if _spares else f"tw_test_{uuid.uuid4().hex[:12]}"
    yield name
    if _recycle(name):
        _spares.append(name)
    else:
        drop_schema(name)


def drop_spares() -> None:
    """Drop the schemas waiting for a next test (at the end of the session)."""
    while _spares:
        drop_schema(_spares.pop())
