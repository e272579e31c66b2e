"""The command line, driven through main(argv) and once as `python -m tickwork`."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import tickwork
from tickwork import RetryPolicy, Scheduler
from tickwork._cli import stores as cli_stores
from tickwork.cli import _read_only, main
from tickwork.executors import InlineExecutor
from tickwork.stores import SQLiteStore
from tickwork.testing import FakeClock, advance
from tickwork.triggers import CronTrigger

from . import dbfile

T0 = datetime(2024, 1, 1, 12, tzinfo=timezone.utc)  # a Monday
RECORD = "tests.stores.sqlite_jobs:record"
FAIL = "tests.stores.sqlite_jobs:fail"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, out.getvalue()


def test_next_prints_fire_times_in_the_zone() -> None:
    status, text = run(
        "next", "30 2 * * *", "--tz", "America/New_York", "-n", "2",
        "--after", "2024-03-09T12:00:00-05:00",
    )  # fmt: skip
    assert status == 0
    lines = text.splitlines()
    assert lines[0].endswith("(America/New_York)")
    assert lines[1].split()[0] == "2024-03-10T03:00:00-04:00"
    assert lines[2].split()[0] == "2024-03-11T02:30:00-04:00"


def test_explain() -> None:
    status, text = run("explain", "0 9 * * mon-fri")
    assert status == 0
    assert "09:00" in text
    assert "Monday" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["next", "61 * * * *"], "minute field '61'"),
        (["next", "* * * * *", "--tz", "Nowhere/Land"], "Nowhere/Land"),
        (["next", "* * * * *", "--after", "2024-01-01T00:00"], "offset"),
        (["next", "* * * * *", "-n", "0"], "--count"),
        (["demo", "--duration", "0"], "--duration"),
        # Infinity used to start the live demo and crash in time.sleep (OverflowError).
        (["demo", "--duration", "inf"], "--duration=inf"),
        (["demo", "--duration", "nan"], "--duration=nan"),
        (["demo", "--duration", "1e300"], "--duration=1e+300 is too large"),
        # A string that is no datetime at all used to give fromisoformat's own message.
        (["next", "* * * * *", "--after", "garbage"], "--after 'garbage'"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, out=io.StringIO()) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "typed", "hint"),
    [
        ("--after", "2024-03-09", "2024-03-09T00:00:00+00:00"),
        ("--before", "2024-03-09", "2024-03-09T00:00:00+00:00"),
        ("--after", "2024-03-09T12:30", "2024-03-09T12:30:00+00:00"),
    ],
)
def test_a_moment_without_offset_gets_a_hint_that_works(
    option: str, typed: str, hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The hint used to append "+00:00" to what was typed: "2024-03-09+00:00" is read as
    # a naive datetime, and the same error came back.
    base = ["next", "0 9 * * *", "--tz", "UTC", "-n", "1"]
    if option == "--before":
        base = ["next", "0 9 * * *", "--tz", "UTC", "--previous", "1"]
    assert main([*base, option, typed], out=io.StringIO()) == 2
    assert f"{option} must carry an offset, e.g. {hint}\n" in capsys.readouterr().err
    assert main([*base, option, hint], out=io.StringIO()) == 0


def test_demo_fires_live_and_summarizes() -> None:
    status, text = run("demo", "--duration", "1.6")
    assert status == 0
    assert "2024-03-10" not in text  # month-day form is used for the DST samples
    assert "03-10 03:00-0400" in text  # 02:30 in a New York gap fires at 03:00 EDT
    fired = [line for line in text.splitlines() if " fired " in line]
    total = int(re.search(r"Summary: (\d+) fires", text).group(1))  # type: ignore[union-attr]
    assert total == len(fired) >= 1
    assert "lateness: max" in text


def test_python_dash_m_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tickwork", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("tickwork ")


# -- jobs and history: reading a job file ------------------------------------------------


def scheduler_on(path: Path, clock: FakeClock) -> Scheduler:
    return Scheduler(
        store=SQLiteStore(path),
        clock=clock,
        executors={"default": InlineExecutor()},
        timezone="UTC",
    )


@pytest.fixture
def job_file(tmp_path: Path) -> Path:
    """A file after 31 simulated seconds: "tick" succeeds every 10 s, "flaky" fails
    every 15 s and is retried once, "report" and "cleanup" have not fired yet."""
    path = tmp_path / "jobs.db"
    scheduler = scheduler_on(path, FakeClock(T0))
    scheduler.add_job(RECORD, "interval", seconds=10, id="tick")
    scheduler.add_job(
        FAIL, "interval", seconds=15, id="flaky", retry=RetryPolicy(attempts=2, delay=1, jitter=0)
    )
    scheduler.add_job(RECORD, "cron", "0 9 * * mon-fri", timezone="Europe/Berlin", id="report")
    nightly = CronTrigger("0 3 * * *", timezone="UTC", end=T0 + timedelta(days=30))
    scheduler.add_job(RECORD, nightly, id="cleanup")
    scheduler.pause_job("cleanup", note="disk   migration\nin progress")
    scheduler.open()
    advance(scheduler, 31)
    scheduler.shutdown()
    return path


#: The runs in job_file, newest first: (scheduled at, job, attempt, outcome).
RUNS = [
    ("2024-01-01T12:00:30+00:00", "flaky", "2", "failure"),  # recorded at 12:00:31
    ("2024-01-01T12:00:30+00:00", "tick", "1", "success"),
    ("2024-01-01T12:00:30+00:00", "flaky", "1", "failure"),
    ("2024-01-01T12:00:20+00:00", "tick", "1", "success"),
    ("2024-01-01T12:00:15+00:00", "flaky", "2", "failure"),
    ("2024-01-01T12:00:15+00:00", "flaky", "1", "failure"),
    ("2024-01-01T12:00:10+00:00", "tick", "1", "success"),
]


def table(text: str, heading: str) -> list[list[str]]:
    """The rows (cells split at runs of 2+ spaces) of the table under the line that
    starts with *heading*, without its header row."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("  "):
            break
        rows.append(re.split(r"\s{2,}", line.strip()))
    return rows


def history_rows(*argv: str) -> list[tuple[str, ...]]:
    status, text = run("history", *argv)
    assert status == 0
    return [tuple(row[:4]) for row in table(text, "The newest")]


def test_jobs_lists_jobs_soonest_first_with_trigger_next_fire_and_pause(job_file: Path) -> None:
    status, text = run("jobs", str(job_file))
    assert status == 0
    header = text.splitlines()[1].split()
    assert header == ["ID", "NEXT", "FIRE", "PAUSED", "TRIGGER", "FUNCTION"]
    rows = table(text, "Jobs in")
    assert [row[:3] for row in rows] == [
        ["tick", "2024-01-01T12:00:40+00:00", "no"],
        ["flaky", "2024-01-01T12:00:45+00:00", "no"],
        ["cleanup", "2024-01-02T03:00:00+00:00", "yes: disk migration in progress"],
        ["report", "2024-01-02T09:00:00+01:00", "no"],  # as stored: the trigger's zone
    ]
    triggers = {row[0]: row[3] for row in rows}
    assert triggers["report"] == "cron '0 9 * * mon-fri' (Europe/Berlin)"
    assert triggers["tick"].startswith("IntervalTrigger(seconds=10, ")
    # The short form would hide the end date: the repr shows it.
    assert triggers["cleanup"].startswith("CronTrigger('0 3 * * *', ")
    assert "end='2024-01-31T12:00:00+00:00'" in triggers["cleanup"]
    assert "Broken jobs: none." in text


def test_jobs_shows_next_fire_times_in_the_tz_given(job_file: Path) -> None:
    status, text = run("jobs", str(job_file), "--tz", "Asia/Tokyo")
    assert status == 0
    rows = table(text, "Jobs in")
    assert [row[1] for row in rows] == [
        "2024-01-01T21:00:40+09:00",
        "2024-01-01T21:00:45+09:00",
        "2024-01-02T12:00:00+09:00",
        "2024-01-02T17:00:00+09:00",
    ]


def test_history_lists_the_runs_newest_first(job_file: Path) -> None:
    status, text = run("history", str(job_file))
    assert status == 0
    rows = table(text, "The newest 7 runs in")
    assert [tuple(row[:4]) for row in rows] == RUNS
    for row in rows:
        assert row[4] == "0.000 s"  # the fake clock does not move during a run
        assert re.fullmatch(r"[^\s:]+:\d+", row[5])  # host:pid
        if row[3] == "failure":
            assert row[6] == "RuntimeError: this job always fails"
        else:
            assert len(row) == 6  # no error column


def test_history_limit_job_and_failed_filters(job_file: Path) -> None:
    assert history_rows(str(job_file), "--limit", "2") == RUNS[:2]
    assert history_rows(str(job_file), "--job", "tick") == [r for r in RUNS if r[1] == "tick"]
    failed = [r for r in RUNS if r[3] == "failure"]
    assert history_rows(str(job_file), "--failed") == failed
    assert history_rows(str(job_file), "--failed", "--limit", "3", "--job", "flaky") == failed[:3]
    status, text = run("history", str(job_file), "--job", "report")
    assert (status, text) == (0, f"No runs of job 'report' recorded in {job_file}.\n")


def test_history_limit_past_what_sql_can_bind_lists_every_run(job_file: Path) -> None:
    huge = str(2**63)  # an OverflowError in the SQLite binding, a traceback, before
    assert history_rows(str(job_file), "--limit", huge) == RUNS
    failed = [r for r in RUNS if r[3] == "failure"]
    assert history_rows(str(job_file), "--failed", "--limit", huge) == failed


def test_a_server_that_cannot_listen_is_a_clear_error(job_file: Path) -> None:
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        for argv in (
            ["metrics", str(job_file), "--listen", f"127.0.0.1:{port}"],
            ["dashboard", str(job_file), "--port", str(port)],
        ):
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                status, _ = run(*argv)
            assert status == 2, argv
            assert f"error: cannot listen on 127.0.0.1:{port}" in err.getvalue()
            assert "Traceback" not in err.getvalue()
    finally:
        taken.close()


def test_history_tz_converts_the_scheduled_times(job_file: Path) -> None:
    rows = history_rows(str(job_file), "--limit", "1", "--tz", "America/New_York")
    assert rows == [("2024-01-01T07:00:30-05:00", "flaky", "2", "failure")]


def test_tz_converts_the_times_of_the_json_output_too(job_file: Path) -> None:
    # (A script asking for --tz with --json got the stored zones back, silently.)
    status, text = run("history", str(job_file), "--limit", "1", "--tz", "America/New_York",
                       "--json")  # fmt: skip
    assert status == 0
    [last] = json.loads(text)["runs"]
    assert (last["scheduled_at"], last["started_at"]) == (
        "2024-01-01T07:00:30-05:00", "2024-01-01T07:00:31-05:00"
    )  # fmt: skip
    status, text = run("jobs", str(job_file), "--tz", "Asia/Tokyo", "--json")
    assert [job["next_fire"] for job in json.loads(text)["jobs"]] == [
        "2024-01-01T21:00:40+09:00",
        "2024-01-01T21:00:45+09:00",
        "2024-01-02T12:00:00+09:00",
        "2024-01-02T17:00:00+09:00",
    ]
    status, text = run("next", str(job_file), "report", "--tz", "Asia/Tokyo", "-n", "1", "--json")
    data = json.loads(text)
    assert data["job"]["next_fire"] == data["next"][0] == "2024-01-02T17:00:00+09:00"


def test_history_failed_finds_old_failures_and_missed_fires(tmp_path: Path) -> None:
    # One failure at the start, then 24 successes and a missed backlog: --limit counts
    # the runs shown, however many successes must be passed over to find them.
    path = tmp_path / "jobs.db"
    clock = FakeClock(T0)
    scheduler = scheduler_on(path, clock)
    scheduler.add_job(FAIL, "date", run_at=T0 + timedelta(seconds=1), id="once")
    scheduler.add_job(RECORD, "interval", seconds=1, id="tick", misfire_grace_time=5)
    scheduler.open()
    advance(scheduler, 25)
    clock.set(clock.now() + timedelta(minutes=10))
    advance(scheduler, 3)
    scheduler.shutdown()
    status, text = run("history", str(path), "--failed", "--limit", "2")
    assert status == 0
    rows = table(text, "The newest 2 failed runs")
    assert [row[1:4] for row in rows] == [["tick", "1", "missed"], ["once", "1", "failure"]]
    assert rows[0][4] == "-"  # a missed fire never ran
    assert "fire time(s) missed" in rows[0][6]
    assert len(history_rows(str(path), "--limit", "2")) == 2
    assert {row[3] for row in history_rows(str(path), "--limit", "2")} == {"success"}


def test_history_prints_long_errors_whole_on_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # docs/cli.md: "Into a pipe, rows are printed whole" (the error was cut at 80).
    monkeypatch.delenv("COLUMNS", raising=False)
    path = tmp_path / "jobs.db"
    store = SQLiteStore(path)
    store.open()
    store.close()
    with dbfile.connect(path) as conn:
        conn.execute(
            "INSERT INTO history (job_id, scheduled_us, zone, attempt, outcome, error_type, "
            "error_message, process, recorded_us) VALUES ('j', 0, 'UTC', 1, 'failure', "
            "'ValueError', ?, 'host:1', 0)",
            ("first line\n" + "x" * 200,),
        )
    conn.close()
    status, text = run("history", str(path))
    assert status == 0
    [row] = table(text, "The newest 1 run in")
    assert row[6] == "ValueError: first line " + "x" * 200
    # At a terminal's width it is cut there, with "…".
    monkeypatch.setenv("COLUMNS", "100")
    status, text = run("history", str(path))
    [row] = table(text, "The newest 1 run in")
    assert row[6].startswith("ValueError: first line xxx")
    assert row[6].endswith("…")
    assert max(len(line) for line in text.splitlines() if line.startswith("  ")) == 100


def test_jobs_lists_broken_rows_under_their_own_heading(job_file: Path) -> None:
    # One whose function a scheduler could not import, which it marked in the file...
    with dbfile.connect(job_file) as conn:
        conn.execute("UPDATE jobs SET func_ref = 'retired_module:job' WHERE id = 'report'")
    conn.close()
    scheduler = scheduler_on(job_file, FakeClock(T0 + timedelta(seconds=31)))
    scheduler.open()
    assert set(scheduler.broken_jobs()) == {"report"}
    scheduler.shutdown()
    # ...and one no store can decode, which nothing has marked yet.
    with dbfile.connect(job_file) as conn:
        conn.execute("UPDATE jobs SET trigger = '{\"type\": \"sundial\"}' WHERE id = 'tick'")
        assert conn.execute("SELECT id FROM jobs WHERE broken IS NOT NULL").fetchall() == [
            ("report",)
        ]
    conn.close()
    status, text = run("jobs", str(job_file))
    assert status == 0
    assert [row[0] for row in table(text, "Jobs in")] == ["flaky", "cleanup"]
    broken = dict(table(text, "Broken jobs (2), kept in the file but not run:"))
    assert set(broken) == {"report", "tick"}
    assert "its function cannot be imported" in broken["report"]
    assert "retired_module" in broken["report"]
    assert "unknown trigger type 'sundial'" in broken["tick"]


def test_jobs_and_history_leave_the_file_unchanged(job_file: Path) -> None:
    # A row the store cannot decode would be marked broken by a store that reads it.
    with dbfile.connect(job_file) as conn:
        conn.execute("UPDATE jobs SET trigger = 'nonsense' WHERE id = 'tick'")
    conn.close()
    before = job_file.read_bytes()
    for argv in (["jobs"], ["history"], ["history", "--failed", "--job", "flaky"]):
        status, _ = run(*argv, str(job_file))
        assert status == 0
        assert job_file.read_bytes() == before
    with dbfile.connect(job_file) as conn:
        assert conn.execute("SELECT count(*) FROM jobs WHERE broken IS NOT NULL").fetchone() == (0,)
    conn.close()


@pytest.mark.parametrize("command", ["jobs", "history"])
def test_a_missing_file_exits_2_and_is_not_created(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nothing.db"
    assert main([command, str(path)], out=io.StringIO()) == 2
    assert capsys.readouterr().err == f"error: no such file: {str(path)!r}\n"
    assert list(tmp_path.iterdir()) == []


def _other_app(path: Path) -> None:
    with dbfile.connect(path) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    conn.close()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path: path.write_bytes(b"not a database\n" * 200), "is not a SQLite database"),
        (lambda path: path.write_bytes(b""), "is empty: not a tickwork job store"),
        (_other_app, "not a tickwork job store (it has tables users)"),
    ],
    ids=["garbage", "empty", "another-app"],
)
@pytest.mark.parametrize("command", ["jobs", "history"])
def test_a_file_that_is_not_a_job_store_exits_2_untouched(
    command: str,
    make: Callable[[Path], object],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "app.db"
    make(path)
    before = path.read_bytes()
    assert main([command, str(path)], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {str(path)!r} ")  # names the file, not a copy of it
    assert message in err
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["history", "x.db", "--limit", "0"], "--limit"),
        (["history", "x.db", "--tz", "Nowhere/Land"], "Nowhere/Land"),
        (["jobs", "x.db", "--tz", "Nowhere/Land"], "Nowhere/Land"),
    ],
)
def test_bad_options_exit_2_before_the_file_is_read(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, out=io.StringIO()) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["jobs"], ["history"], ["check"], ["next", "tick"], ["pause", "tick"]]
)
def test_a_file_another_process_holds_locked_is_an_error_not_a_hang(
    argv: list[str],
    job_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The reads copied the file with Connection.backup, which retries a busy file
    # forever: `tickwork jobs` hung while an sqlite3 shell held the file locked.
    monkeypatch.setattr(cli_stores, "LOCK_TIMEOUT", 0.1)
    words = [argv[0], str(job_file), *argv[1:]]
    holder = sqlite3.connect(job_file, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE meta SET value = value")
    statuses: list[int] = []
    thread = threading.Thread(
        target=lambda: statuses.append(main(words, out=io.StringIO())), daemon=True
    )
    thread.start()
    try:
        thread.join(5)
        assert not thread.is_alive(), f"tickwork {argv[0]} hangs on a locked file"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        thread.join(10)
    assert statuses == [2]
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot read {str(job_file)!r}: database is locked")
    assert "another process holds it locked (waited 0.1 s)" in err
    assert len(err.splitlines()) == 1


def test_reading_a_file_no_one_has_open_leaves_no_files_beside_it(job_file: Path) -> None:
    assert sorted(os.listdir(job_file.parent)) == ["jobs.db"]
    before = job_file.read_bytes()
    for argv in (["jobs"], ["history"], ["check"], ["next", "tick"]):
        assert main([argv[0], str(job_file), *argv[1:]], out=io.StringIO()) in (0, 1)
        # The -wal and -shm files the read-only connection made are gone again.
        assert sorted(os.listdir(job_file.parent)) == ["jobs.db"], argv
        assert job_file.read_bytes() == before


def test_reading_a_file_another_process_has_open_leaves_its_files_alone(job_file: Path) -> None:
    other = sqlite3.connect(job_file)
    try:
        assert other.execute("SELECT count(*) FROM jobs").fetchone() == (4,)
        assert main(["jobs", str(job_file)], out=io.StringIO()) == 0
        assert {"jobs.db-wal", "jobs.db-shm"} <= set(os.listdir(job_file.parent))
        assert other.execute("SELECT count(*) FROM jobs").fetchone() == (4,)
    finally:
        other.close()
    assert sorted(os.listdir(job_file.parent)) == ["jobs.db"]  # (it was the last)


def test_a_directory_is_named_as_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["jobs", str(tmp_path)], ["pause", str(tmp_path), "tick"]):
        assert main(argv, out=io.StringIO()) == 2
        assert (
            capsys.readouterr().err == f"error: {str(tmp_path)!r} is a directory, not a job file\n"
        )


def test_next_into_a_closed_pipe_exits_quietly() -> None:
    """``python -m tickwork next ... -n 100000 | head -1``: once the reader is gone, the
    command stops with the status of a tool ended by SIGPIPE, and no traceback."""
    command = [sys.executable, "-m", "tickwork", "next", "* * * * * *", "-n", "100000",
               "--after", "2024-01-01T00:00:00+00:00"]  # fmt: skip
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        assert process.stdout.readline().startswith("Every second")
        process.stdout.close()  # as head does after its lines
        errors = process.stderr.read()
        status = process.wait(timeout=60)
    assert "Traceback" not in errors
    assert "BrokenPipeError" not in errors
    assert status == 141


@pytest.mark.parametrize(
    "argv", [["metrics", "--listen", "127.0.0.1:0"], ["dashboard", "--port", "0"]]
)
def test_a_server_stopped_by_sigterm_leaves_the_file_as_it_was(
    job_file: Path, argv: list[str]
) -> None:
    """docker, systemd and Kubernetes stop a service with SIGTERM: it stops as at Ctrl-C,
    closing the file (the ``-wal`` and ``-shm`` files reading it made are removed)."""
    before = job_file.read_bytes()
    command = [sys.executable, "-m", "tickwork", argv[0], str(job_file), *argv[1:], "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stderr is not None
        announced = ""
        for line in process.stdout:  # (the JSON object, indented over a few lines)
            announced += line
            if line.startswith("}"):
                break
        assert json.loads(announced)["url"].startswith("http://127.0.0.1:")
        assert sorted(os.listdir(job_file.parent)) == ["jobs.db", "jobs.db-shm", "jobs.db-wal"]
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=20)
        errors = process.stderr.read()
    finally:
        process.kill()
        process.communicate()  # (and closes the pipes)
    assert (status, errors) == (0, "")
    assert sorted(os.listdir(job_file.parent)) == ["jobs.db"]
    assert job_file.read_bytes() == before


# -- looking at a file runs no code from it ------------------------------------------

MARKER_MODULE = """
import pathlib
pathlib.Path({marker!r}).write_text("imported")
print("The Zen of Python, or any other side effect")


class Boom(Exception):
    pass


def run():
    pass
"""


@pytest.fixture
def crafted_file(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A job file whose row names, as its function and as a retry_on type, a module that
    leaves a marker file when imported; and the environment that can import it."""
    marker = tmp_path / "imported.txt"
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "tw_side_effect.py").write_text(MARKER_MODULE.format(marker=str(marker)))
    path = tmp_path / "jobs.db"
    scheduler = scheduler_on(path, FakeClock(T0))
    scheduler.add_job(RECORD, "interval", seconds=10, id="crafted",
                      retry=RetryPolicy(retry_on=(ValueError,)))  # fmt: skip
    scheduler.shutdown()
    with dbfile.connect(path) as conn:
        (options,) = conn.execute("SELECT options FROM jobs WHERE id = 'crafted'").fetchone()
        data = json.loads(options)
        data["retry"]["retry_on"] = ["tw_side_effect:Boom"]
        conn.execute(
            "UPDATE jobs SET options = ?, func_ref = 'tw_side_effect:run' WHERE id = 'crafted'",
            (json.dumps(data),),
        )
    src = str(Path(tickwork.__file__).resolve().parent.parent)  # the tickwork under test
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, str(modules)])}
    return path, marker, env


def test_reading_a_job_file_imports_no_module_it_names(
    crafted_file: tuple[Path, Path, dict[str, str]],
) -> None:
    path, marker, env = crafted_file
    for command in ("jobs", "history"):
        done = subprocess.run(
            [sys.executable, "-m", "tickwork", command, str(path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert not marker.exists(), f"{command} imported a module named in the file"
        assert "Zen" not in done.stdout
        if command == "jobs":
            (row,) = table(done.stdout, "Jobs in")
            assert row[0] == "crafted"
            assert row[-1] == "tw_side_effect:run"  # the reference, shown as text
            assert "Broken jobs: none." in done.stdout


def test_a_retry_on_read_as_text_keeps_its_reference(
    crafted_file: tuple[Path, Path, dict[str, str]],
) -> None:
    """In process too: the stand-in type gives the stored reference back, and decoding
    for the scheduler afterwards still imports for real (no stand-in is cached)."""
    path, marker, _ = crafted_file
    with _read_only(str(path)) as store:
        (job,) = store.get_jobs()
    assert job.retry is not None
    assert job.retry.to_dict()["retry_on"] == ["tw_side_effect:Boom"]
    assert not marker.exists()
    store = SQLiteStore(path)
    try:
        store.open()
        assert store.get_jobs() == []  # the module does not import here: broken
        assert "tw_side_effect" in store.broken_jobs()["crafted"]
    finally:
        store.close()


@pytest.mark.parametrize("argv", [["pause", "tick"], ["resume", "tick"], ["run-now", "tick"]])
def test_a_change_waits_for_a_write_lock_as_long_as_the_docs_say(
    argv: list[str],
    job_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A writer's transaction (not an exclusive lock): the changing commands waited the
    # store's default 30 s for it, not the documented 5.
    monkeypatch.setattr(cli_stores, "LOCK_TIMEOUT", 0.3)
    holder = sqlite3.connect(job_file, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE meta SET value = value")
    try:
        began = time.monotonic()
        status = main([argv[0], str(job_file), *argv[1:]], out=io.StringIO())
        took = time.monotonic() - began
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert status == 2
    assert took < 3
    assert "locked by another process for more than 0.3 s" in capsys.readouterr().err
