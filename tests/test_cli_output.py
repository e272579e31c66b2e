"""What the command line prints for people: tables fitted to the width (key columns
whole, the others cut then left out), rows whole into a pipe, and no control
character from the store sent to the terminal raw."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tickwork import Scheduler
from tickwork._cli.output import Output, printable
from tickwork.cli import main
from tickwork.executors import InlineExecutor
from tickwork.stores import SQLiteStore
from tickwork.testing import FakeClock, advance

from . import dbfile

RECORD = "tests.stores.sqlite_jobs:record"
FAIL = "tests.stores.sqlite_jobs:fail"
#: A start with microseconds, as add_job's "now" gives: 32-character times.
T0 = datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
#: What a terminal would take as commands: C0 (ESC, BEL, BS), DEL, C1 (CSI).
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")
NOTE = "migrating the orders API to v2; ask ops (ticket OPS-1234) before resuming: END"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


@pytest.fixture
def job_file(tmp_path: Path) -> Path:
    """ "sync" succeeds every 30 s, "feed" fails every minute, "held" is paused with a
    long note; four minutes ran."""
    path = tmp_path / "jobs.db"
    scheduler = Scheduler(
        store=SQLiteStore(path),
        clock=FakeClock(T0),
        executors={"default": InlineExecutor()},
        timezone="UTC",
    )
    scheduler.add_job(RECORD, "interval", seconds=30, id="sync")
    scheduler.add_job(FAIL, "interval", minutes=1, id="feed")
    scheduler.add_job(RECORD, "interval", minutes=1, id="held", paused=True, pause_note=NOTE)
    scheduler.open()
    advance(scheduler, 4 * 60)
    scheduler.shutdown()
    return path


def rows_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("  ")]


def header_of(text: str, heading: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    return re.split(r"\s{2,}", lines[start + 1].strip())


# -- into a pipe: whole ------------------------------------------------------------------


def test_into_a_pipe_pause_notes_and_errors_are_whole(
    job_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # docs/cli.md: "Into a pipe, rows are printed whole" (the note was cut at 40
    # characters, the error at 80, with "...").
    monkeypatch.delenv("COLUMNS", raising=False)
    long_error = "https://api.example.com/v2/orders?page=17: " + "refused " * 20 + "END"
    with dbfile.connect(job_file) as conn:
        conn.execute("UPDATE history SET error_message = ? WHERE job_id = 'feed'", (long_error,))
    conn.close()
    status, text = run("jobs", str(job_file))
    assert status == 0
    assert f"yes: {NOTE}  " in text
    status, text = run("history", str(job_file), "--job", "feed", "--limit", "1")
    assert status == 0
    assert text.splitlines()[-1].endswith(f": {long_error}")


# -- at a width: key columns whole, the others cut, then left out ------------------------


@pytest.mark.parametrize("columns", [50, 60, 72, 80, 100])
def test_history_keeps_the_time_and_job_whole_and_never_overflows(
    columns: int, job_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    status, text = run("history", str(job_file), "--limit", "4")
    assert status == 0
    rows = rows_of(text)
    assert all(len(line) <= columns for line in rows), text
    for row in rows[1:]:
        at, job = row.split()[:2]
        assert datetime.fromisoformat(at).microsecond == 123456  # whole, not cut
        assert job in ("sync", "feed")
    # The outcome goes last of the other columns; the process first.
    header = header_of(text, "The newest")
    assert header[:2] == ["SCHEDULED AT", "JOB"]
    assert "OUTCOME" in header
    if columns <= 72:
        assert "PROCESS" not in header


def test_at_50_columns_history_shows_the_outcome_rather_than_cutting_the_time(
    job_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It cut the times first ("2026-12-07T…") and still printed 60-character lines.
    monkeypatch.setenv("COLUMNS", "50")
    status, text = run("history", str(job_file), "--limit", "2")
    assert status == 0
    assert header_of(text, "The newest") == ["SCHEDULED AT", "JOB", "OUTCOME"]
    assert [row.split()[1:] for row in rows_of(text)[1:]] == [
        ["sync", "success"],
        ["feed", "failure"],
    ]


def test_jobs_leaves_out_the_function_then_the_trigger_before_cutting_keys(
    job_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    status, text = run("jobs", str(job_file))
    assert status == 0
    assert header_of(text, "Jobs in") == ["ID", "NEXT FIRE", "PAUSED", "TRIGGER"]
    assert all(len(line) <= 60 for line in rows_of(text)), text
    monkeypatch.setenv("COLUMNS", "40")
    status, text = run("jobs", str(job_file))
    assert header_of(text, "Jobs in") == ["ID", "NEXT FIRE"]
    assert all(len(line) <= 40 for line in rows_of(text)), text


def test_key_columns_that_alone_do_not_fit_are_printed_whole() -> None:
    # The documented choice: a cut id or time would name another job or moment.
    out = io.StringIO()
    Output(out, width=20).table(
        ["ID", "NEXT FIRE", "NOTE"],
        [["nightly-backup", "2024-01-01T12:00:00.123456+00:00", "fine"]],
        keep=(0, 1),
    )
    lines = out.getvalue().splitlines()
    assert lines[1].split() == ["nightly-backup", "2024-01-01T12:00:00.123456+00:00"]
    assert "…" not in out.getvalue()


def test_other_columns_are_cut_to_their_header_before_one_is_left_out() -> None:
    out = io.StringIO()
    row = ["job", "x" * 30, "y" * 30]
    Output(out, width=2 + 3 + 2 + 10 + 2 + 10).table(["ID", "FIRST", "SECOND"], [row], keep=(0,))
    assert out.getvalue().splitlines()[1].split() == ["job", "x" * 9 + "…", "y" * 9 + "…"]


# -- control characters -----------------------------------------------------------------


def test_printable_escapes_c0_del_and_c1_as_repr_does() -> None:
    assert printable("a\x1b[2Jb\x07c\x7fd\x9be\x00") == "a\\x1b[2Jb\\x07c\\x7fd\\x9be\\x00"
    assert printable("plain text, é ü — fine") == "plain text, é ü — fine"


EVIL_ID = "fe\x1b[1med"
EVIL_ERROR = "remote said: \x1b]0;pwned\x07\x1b[2J\x1b[31mred\x9b1m\x7f"


@pytest.fixture
def evil_file(tmp_path: Path) -> Path:
    """A job whose id and error message hold escape sequences: a window retitled, the
    screen cleared, the rest of the line coloured, at `tickwork history`."""
    path = tmp_path / "evil.db"
    scheduler = Scheduler(
        store=SQLiteStore(path),
        clock=FakeClock(T0),
        executors={"default": InlineExecutor()},
        timezone="UTC",
    )
    scheduler.add_job(FAIL, "interval", minutes=1, id=EVIL_ID)
    scheduler.add_job(RECORD, "interval", minutes=1, id="gone")
    scheduler.open()
    advance(scheduler, 4 * 60)
    scheduler.shutdown()
    with dbfile.connect(path) as conn:
        conn.execute("UPDATE history SET error_message = ?", (EVIL_ERROR,))
        conn.execute("UPDATE jobs SET broken = 'gone \x1b[2J' WHERE id = 'gone'")
    conn.close()
    return path


def test_control_characters_from_the_store_reach_no_terminal_raw(
    evil_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    for argv in (["history"], ["jobs"], ["check"], ["explain", EVIL_ID]):
        status, text = run(argv[0], str(evil_file), *argv[1:])
        assert status in (0, 1), text
        assert not RAW.search(text), (argv, text)
    status, text = run("history", str(evil_file))
    assert "fe\\x1b[1med" in text
    assert "remote said: \\x1b]0;pwned\\x07\\x1b[2J\\x1b[31mred\\x9b1m\\x7f" in text
    status, text = run("check", str(evil_file))
    assert "(last: RuntimeError: remote said: \\x1b]0;pwned\\x07" in text
    # The error on stderr too (a broken job's reason is text from the store).
    capsys.readouterr()
    assert run("explain", str(evil_file), "gone")[0] == 2
    err = capsys.readouterr().err
    assert not RAW.search(err.rstrip("\n")), err
    assert "gone \\x1b[2J" in err
    # --json keeps the text exact.
    status, text = run("history", str(evil_file), "--json")
    runs = json.loads(text)["runs"]
    assert {run["error_message"] for run in runs if run["job_id"] != "gone"} == {EVIL_ERROR}
    assert EVIL_ID in {run["job_id"] for run in runs}


def test_a_colour_still_reaches_a_terminal_around_escaped_text() -> None:
    out = io.StringIO()
    Output(out, colour=True).line("failing: \x1b[2J", "red")
    assert out.getvalue() == "\x1b[31mfailing: \\x1b[2J\x1b[0m\n"
