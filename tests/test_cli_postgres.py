"""The command line's ``jobs`` and ``history`` on a PostgreSQL store, named by its DSN.

Against the real server (``tests/pg.py``): each test works in a schema of its own.
"""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

import tickwork
from tickwork import RetryPolicy, Scheduler
from tickwork.cli import main
from tickwork.executors import InlineExecutor
from tickwork.stores import PostgresStore
from tickwork.testing import FakeClock, advance

from . import pg
from .test_cli import run, table

#: A fresh schema per test, and one whose tables are made (the fixtures of tests/pg.py).
pg_schema = pg.pg_schema
pg_tables = pg.pg_tables

T0 = datetime(2024, 1, 1, 12, tzinfo=timezone.utc)
RECORD = "tests.stores.sqlite_jobs:record"
FAIL = "tests.stores.sqlite_jobs:fail"


def schema_exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (name,)
        ).fetchone()
    return row is not None and row[0] == 1


@pytest.fixture
def pg_store(pg_tables: str) -> str:
    """A schema after 31 simulated seconds: "tick" succeeds every 10 s, "flaky" fails
    every 15 s and is retried once, "report" has not fired yet."""
    scheduler = Scheduler(
        store=PostgresStore(pg.dsn(), schema=pg_tables),
        clock=FakeClock(T0),
        executors={"default": InlineExecutor()},
        timezone="UTC",
    )
    scheduler.add_job(RECORD, "interval", seconds=10, id="tick")
    scheduler.add_job(
        FAIL, "interval", seconds=15, id="flaky", retry=RetryPolicy(attempts=2, delay=1, jitter=0)
    )
    scheduler.add_job(RECORD, "cron", "0 9 * * mon-fri", timezone="Europe/Berlin", id="report")
    scheduler.pause_job("report", note="holiday")
    scheduler.open()
    advance(scheduler, 31)
    scheduler.shutdown()
    return pg_tables


def test_jobs_on_a_dsn_lists_the_jobs_of_the_schema(pg_store: str) -> None:
    status, text = run("jobs", pg.dsn(), "--schema", pg_store)
    assert status == 0
    assert text.startswith(f"Jobs in schema {pg_store!r} of database ")
    rows = table(text, "Jobs in")
    assert [row[:3] for row in rows] == [
        ["tick", "2024-01-01T12:00:40+00:00", "no"],
        ["flaky", "2024-01-01T12:00:45+00:00", "no"],
        ["report", "2024-01-02T09:00:00+01:00", "yes: holiday"],
    ]
    assert rows[2][3] == "cron '0 9 * * mon-fri' (Europe/Berlin)"
    assert rows[0][4] == RECORD
    assert "Broken jobs: none." in text


def test_history_on_a_dsn_lists_the_runs_newest_first(pg_store: str) -> None:
    status, text = run("history", pg.dsn(), "--schema", pg_store, "--failed", "--limit", "3")
    assert status == 0
    rows = table(text, "The newest 3 failed runs in schema")
    assert [tuple(row[:4]) for row in rows] == [
        ("2024-01-01T12:00:30+00:00", "flaky", "2", "failure"),
        ("2024-01-01T12:00:30+00:00", "flaky", "1", "failure"),
        ("2024-01-01T12:00:15+00:00", "flaky", "2", "failure"),
    ]
    assert rows[0][6] == "RuntimeError: this job always fails"
    status, text = run("history", pg.dsn(), "--schema", pg_store, "--job", "tick")
    assert status == 0
    assert [row[0] for row in table(text, "The newest 3 runs of job 'tick'")] == [
        "2024-01-01T12:00:30+00:00",
        "2024-01-01T12:00:20+00:00",
        "2024-01-01T12:00:10+00:00",
    ]


def test_a_postgres_scheme_and_keyword_value_dsn_are_dsns_too(pg_store: str) -> None:
    url = pg.dsn().replace("postgresql://", "postgres://", 1)
    assert run("jobs", url, "--schema", pg_store)[0] == 0
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    keywords = make_conninfo(**conninfo_to_dict(pg.dsn()))  # host=... dbname=...
    status, text = run("history", keywords, "--schema", pg_store, "--limit", "1")
    assert status == 0, text
    assert "The newest 1 run in schema" in text


def test_the_default_schema_is_tickwork_and_a_missing_one_is_not_created(
    capsys: pytest.CaptureFixture[str], pg_schema: str
) -> None:
    # pg_schema is a fresh name no store has made: reading it must not make it.
    for command in ("jobs", "history"):
        assert main([command, pg.dsn(), "--schema", pg_schema], out=io.StringIO()) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: schema {pg_schema!r} of database ")
        assert "is not a tickwork job store" in err
        assert "Traceback" not in err
    assert not schema_exists(pg_schema)


@pytest.mark.parametrize("command", ["jobs", "history"])
def test_a_server_that_does_not_answer_exits_2_with_the_reason_and_no_password(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    pg.require()
    # Port 1: nothing listens there, so the connection is refused at once.
    dsn = "postgresql://postgres:hunter2@127.0.0.1:1/test"
    assert main([command, dsn], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read schema 'tickwork' of database 'test' at 127.0.0.1:1")
    assert "refused" in err or "failed" in err
    assert "hunter2" not in err
    assert len(err.splitlines()) == 1  # one line, no traceback


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["jobs", "postgresql://[nonsense"], "not a valid PostgreSQL DSN"),
        (["jobs", "host=127.0.0.1 nonsense"], "not a valid PostgreSQL DSN"),
        (["jobs", "postgresql://127.0.0.1/test", "--schema", "1bad"], "'1bad'"),
        (["history", "postgresql://127.0.0.1/test", "--schema", 'x";drop'], 'x";drop'),
    ],
)
def test_a_bad_dsn_or_schema_exits_2_with_the_reason(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_schema_is_refused_with_a_sqlite_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "jobs.db"
    assert main(["jobs", str(path), "--schema", "tickwork"], out=io.StringIO()) == 2
    assert "--schema is for a PostgreSQL DSN" in capsys.readouterr().err
    assert not path.exists()


def test_without_psycopg_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # None in sys.modules makes `import psycopg` raise ImportError, as when it is absent.
    for name in list(sys.modules):
        if name == "psycopg" or name.startswith("psycopg."):
            monkeypatch.setitem(sys.modules, name, None)  # type: ignore[arg-type]
    assert main(["jobs", "postgresql://127.0.0.1/test"], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert 'pip install "tickwork[postgres]"' in err
    assert len(err.splitlines()) == 1


def test_python_dash_m_tickwork_jobs_on_a_dsn(pg_store: str) -> None:
    src = str(Path(tickwork.__file__).resolve().parent.parent)
    done = subprocess.run(
        [sys.executable, "-m", "tickwork", "jobs", pg.dsn(), "--schema", pg_store],
        env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [row[0] for row in table(done.stdout, "Jobs in")] == ["tick", "flaky", "report"]


def test_reading_leaves_no_process_registered(pg_store: str) -> None:
    """The store the command opens goes away with it: no process row is left that a
    scheduler would have to find dead and clean up."""
    import psycopg

    assert run("jobs", pg.dsn(), "--schema", pg_store)[0] == 0
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{pg_store}".processes').fetchone()
    assert row == (0,)


def test_reading_changes_nothing_in_the_database(pg_store: str) -> None:
    """A row a scheduler marked broken (its function did not import there) decodes
    when read as text, and a row no store can decode would be marked by a store that
    reads it: the command reports both and leaves both marks as they were."""
    import psycopg

    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(
            f"UPDATE \"{pg_store}\".jobs SET broken = 'its function cannot be imported', "
            "func_ref = 'retired_module:job' WHERE id = 'report'"
        )
        conn.execute(
            f'UPDATE "{pg_store}".jobs SET trigger = \'{{"type": "sundial"}}\' WHERE id = \'tick\''
        )
    status, text = run("jobs", pg.dsn(), "--schema", pg_store)
    assert status == 0
    assert [row[0] for row in table(text, "Jobs in")] == ["flaky"]
    broken = dict(table(text, "Broken jobs (2), kept in the database but not run:"))
    assert set(broken) == {"report", "tick"}
    assert "unknown trigger type 'sundial'" in broken["tick"]
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        marks = conn.execute(
            f'SELECT id, broken FROM "{pg_store}".jobs WHERE broken IS NOT NULL'
        ).fetchall()
    assert marks == [("report", "its function cannot be imported")]
