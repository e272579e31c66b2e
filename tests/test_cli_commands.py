"""The command line's newer commands: next/explain on a stored job, --previous, check,
pause, resume, run-now, remove, metrics, dashboard; --json, fitted tables, colours.

Driven through main(argv, out=...) against SQLite files and PostgreSQL schemas (each
test that takes ``target`` runs on both), and once through ``python -m tickwork``.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
import types
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import tickwork
from tickwork import RetryPolicy, Scheduler
from tickwork.cli import main
from tickwork.executors import InlineExecutor
from tickwork.stores import JobStore, PostgresStore, SQLiteStore
from tickwork.testing import FakeClock, advance

from . import control_jobs, pg
from .test_cli import crafted_file, table

pg_tables = pg.pg_tables  # (a schema of the test's own with tickwork's tables, emptied)
crafted_file = crafted_file  # the fixture, for the test that pauses it

RECORD = "tests.stores.sqlite_jobs:record"
FAIL = "tests.stores.sqlite_jobs:fail"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, out.getvalue()


def run_json(*argv: str) -> tuple[int, Any]:
    status, text = run(*argv, "--json")
    return status, json.loads(text)


class Target:
    """A store to point the command line at: a SQLite file or a DSN and schema."""

    def __init__(self, kind: str, where: str) -> None:
        self.kind = kind
        self.where = where
        self._stores: list[JobStore] = []

    @property
    def argv(self) -> list[str]:
        if self.kind == "sqlite":
            return [self.where]
        return [pg.dsn(), "--schema", self.where]

    def store(self, *, pickle: bool = False) -> JobStore:
        store: JobStore
        if self.kind == "sqlite":
            store = SQLiteStore(self.where, pickle=pickle, poll_interval=0.05)
        else:
            store = PostgresStore(pg.dsn(), schema=self.where, pickle=pickle, poll_interval=0.05)
        self._stores.append(store)
        return store

    def scheduler(self, clock: FakeClock | None = None) -> Scheduler:
        return Scheduler(
            store=self.store(),
            clock=clock,
            executors={"default": InlineExecutor()} if clock is not None else None,
            timezone="UTC",
        )

    def close(self) -> None:
        for store in self._stores:
            store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "sqlite":
        made = Target("sqlite", str(tmp_path / "jobs.db"))
    else:
        made = Target("postgres", request.getfixturevalue("pg_tables"))
    yield made
    made.close()


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture
def live(target: Target) -> Target:
    """A store as a scheduler left it a moment ago: "tick" every 10 s (fine), "flaky"
    (fails every run, retried once) and "report" (paused) as in test_cli."""
    start = now() - timedelta(seconds=35)
    scheduler = target.scheduler(FakeClock(start))
    scheduler.add_job(RECORD, "interval", seconds=10, id="tick")
    scheduler.add_job(
        FAIL, "interval", hours=1, id="flaky", retry=RetryPolicy(attempts=2, delay=1, jitter=0),
        first_fire=start + timedelta(seconds=1),
    )  # fmt: skip
    scheduler.add_job(RECORD, "cron", "0 9 * * mon-fri", timezone="Europe/Berlin", id="report")
    scheduler.pause_job("report", note="holiday")
    scheduler.open()
    advance(scheduler, 33)
    scheduler.shutdown()
    return target


# -- next and explain -------------------------------------------------------------------


def test_next_of_a_stored_job_starts_at_its_stored_next_fire(live: Target) -> None:
    status, data = run_json("next", *live.argv[:1], "tick", *live.argv[1:], "-n", "3")
    assert status == 0
    stored = live.store().get_job("tick")
    assert stored.next_fire is not None
    expected = [stored.next_fire + timedelta(seconds=10 * k) for k in range(3)]
    assert data["next"] == [moment.isoformat() for moment in expected]
    assert data["job"]["id"] == "tick"
    assert data["job"]["paused"] is False
    assert data["after"] is None


def test_next_of_a_paused_job_is_as_if_resumed_now(live: Target) -> None:
    status, text = run("next", *live.argv[:1], "report", *live.argv[1:], "-n", "2")
    assert status == 0
    lines = text.splitlines()
    assert lines[0] == "Job 'report': At 09:00 on Monday through Friday (Europe/Berlin)"
    assert lines[1] == "Next fire times (as if resumed now):"
    first = datetime.fromisoformat(lines[2].split()[0])
    assert first > now() - timedelta(seconds=5)
    assert first.hour == 9
    assert first.weekday() < 5


def test_next_of_a_job_stops_at_its_remaining_runs(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    scheduler = Scheduler(store=SQLiteStore(path), clock=FakeClock(now()), timezone="UTC")
    scheduler.add_job(RECORD, "interval", minutes=5, id="few", remaining_runs=2)
    scheduler.shutdown()
    status, data = run_json("next", str(path), "few", "-n", "5")
    assert status == 0
    assert len(data["next"]) == 2


def test_explain_of_a_stored_job_says_what_it_is(live: Target) -> None:
    status, text = run("explain", *live.argv[:1], "report", *live.argv[1:])
    assert status == 0
    assert "Job 'report': At 09:00 on Monday through Friday (Europe/Berlin)" in text
    assert "trigger:    cron '0 9 * * mon-fri' (Europe/Berlin)" in text
    assert "paused:     yes: holiday" in text
    status, data = run_json("explain", *live.argv[:1], "report", *live.argv[1:])
    assert status == 0
    assert data["job"]["description"] == "At 09:00 on Monday through Friday (Europe/Berlin)"
    assert data["job"]["trigger"]["expression"] == "0 9 * * mon-fri"
    assert data["job"]["pause_note"] == "holiday"


def test_explain_of_an_expression_in_json() -> None:
    status, data = run_json("explain", "0 9 * * mon-fri")
    assert status == 0
    assert data == {
        "expression": "0 9 * * mon-fri",
        "timezone": "UTC",
        "description": "At 09:00 on Monday through Friday",
    }


def test_next_json_has_iso_times_with_offsets() -> None:
    status, data = run_json(
        "next", "30 2 * * *", "--tz", "America/New_York", "-n", "2",
        "--after", "2024-03-09T12:00:00-05:00",
    )  # fmt: skip
    assert status == 0
    assert data["timezone"] == "America/New_York"
    assert data["after"] == "2024-03-09T12:00:00-05:00"
    # 02:30 does not exist on 2024-03-10 in New York: it fires at 03:00 EDT.
    assert data["next"] == ["2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"]


def test_previous_of_an_expression_newest_first() -> None:
    status, data = run_json(
        "next", "0 9 * * *", "--tz", "Europe/Berlin", "--previous", "3",
        "--before", "2024-03-31T12:00:00+02:00",
    )  # fmt: skip
    assert status == 0
    assert data["before"] == "2024-03-31T12:00:00+02:00"
    # Across the change to summer time on 2024-03-31: the offset changes with it.
    assert data["previous"] == [
        "2024-03-31T09:00:00+02:00",
        "2024-03-30T09:00:00+01:00",
        "2024-03-29T09:00:00+01:00",
    ]
    status, text = run(
        "explain", "0 9 * * *", "--tz", "Europe/Berlin", "--previous", "2",
        "--before", "2024-03-31T12:00:00+02:00",
    )  # fmt: skip
    assert status == 0
    assert "The 2 fire times before 2024-03-31T12:00:00+02:00, newest first:" in text
    assert re.findall(r"2024-03-\d\dT09:00:00\+0[12]:00", text) == [
        "2024-03-31T09:00:00+02:00",
        "2024-03-30T09:00:00+01:00",
    ]


def test_a_hashed_expression_takes_the_key_a_job_id_would_give() -> None:
    from tickwork.triggers import CronTrigger

    status, data = run_json("next", "H 9 * * *", "--tz", "UTC", "--hash-key", "backup",
                            "--after", "2024-01-01T00:00:00+00:00", "-n", "2")  # fmt: skip
    assert status == 0
    # The key is the trigger's: the job "backup" would fire at the same minute.
    trigger = CronTrigger("H 9 * * *", timezone="UTC", hash_key="backup")
    after = datetime.fromisoformat("2024-01-01T00:00:00+00:00")
    assert data["next"] == [t.isoformat() for t in trigger.next_times(after, 2)]
    assert {t[11:13] for t in data["next"]} == {"09"}
    status, text = run("explain", "H 9 * * *", "--hash-key", "backup")
    assert status == 0
    assert "(H: minute" in text
    status, _ = run("explain", "H 9 * * *")  # no key: the error names --hash-key
    assert status == 2


def test_previous_of_a_stored_job(live: Target) -> None:
    status, data = run_json(
        "next", *live.argv[:1], "report", *live.argv[1:], "--previous", "2",
        "--before", "2024-01-10T00:00:00+00:00",
    )  # fmt: skip
    assert status == 0
    assert data["previous"] == ["2024-01-09T09:00:00+01:00", "2024-01-08T09:00:00+01:00"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["next", "a", "b", "c"], "got 3 words"),
        (["next", "* * * * *", "--schema", "x"], "--schema is for a store"),
        (["next", "* * * * *", "--previous", "0"], "--previous must be 1 or more"),
        (["next", "* * * * *", "--before", "2024-01-01T00:00:00+00:00"], "--before goes with"),
        (["explain", "* * * * *", "--previous", "1", "--before", "yesterday"], "'yesterday'"),
        (["check", "nowhere.db"], "no such file: 'nowhere.db'"),
        (["pause", "nowhere.db", "x"], "no such file: 'nowhere.db'"),
        (["check", "nowhere.db", "--failures", "0"], "--failures must be 1 or more"),
        (["metrics", "nowhere.db", "--listen", "localhost"], "HOST:PORT"),
        # Said to a shell user, not as the Python call to write.
        (["next", "H 9 * * *"], "has hashed values (H): give --hash-key KEY"),
        (["explain", "H 9 * * *", "--previous", "1"], "give --hash-key KEY"),
        (
            ["dashboard", "nowhere.db", "--host", "0.0.0.0", "--allow-actions"],
            "--allow-actions needs a loopback --host (127.0.0.1, ::1 or localhost), got '0.0.0.0'",
        ),
        (["jobs", "."], "error: '.' is a directory, not a job file"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake = types.ModuleType("tickwork.metrics")
    fake.render_store = lambda store, now: ""  # type: ignore[attr-defined]
    fake.wsgi_app = lambda store: None  # type: ignore[attr-defined]
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "tickwork.metrics", fake)
        patch.chdir(tmp_path)
        assert main(argv, out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "nowhere.db").exists()


@pytest.mark.parametrize(
    "command",
    ["next", "explain", "jobs", "history", "check", "pause", "resume", "run-now", "remove",
     "metrics", "dashboard"],
)  # fmt: skip
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"], out=io.StringIO())
    assert exit_.value.code == 0
    assert "--json" in capsys.readouterr().out


def test_a_missing_job_is_named_with_its_store(live: Target, capsys: Any) -> None:
    for command in ("next", "explain"):
        assert main([command, *live.argv[:1], "ghost", *live.argv[1:]], out=io.StringIO()) == 2
        assert "no job 'ghost' in " in capsys.readouterr().err


# -- jobs and history as JSON ------------------------------------------------------------


def test_jobs_and_history_json(live: Target) -> None:
    status, data = run_json("jobs", *live.argv)
    assert status == 0
    assert sorted(job["id"] for job in data["jobs"]) == ["flaky", "report", "tick"]
    fires = [datetime.fromisoformat(job["next_fire"]) for job in data["jobs"]]
    assert fires == sorted(fires)  # soonest first
    report = next(job for job in data["jobs"] if job["id"] == "report")
    assert report["paused"] is True
    assert report["func_ref"] == RECORD
    assert report["next_fire"].endswith("+01:00") or report["next_fire"].endswith("+02:00")
    assert data["broken"] == []
    assert "args" not in report  # arguments may hold secrets
    status, data = run_json("history", *live.argv, "--job", "flaky")
    assert status == 0
    assert [(run["attempt"], run["outcome"]) for run in data["runs"]] == [
        (2, "failure"),
        (1, "failure"),
    ]
    run0 = data["runs"][0]
    assert run0["error_type"] == "RuntimeError"
    assert run0["error_message"] == "this job always fails"
    assert datetime.fromisoformat(run0["scheduled_at"]).utcoffset() == timedelta(0)
    assert isinstance(run0["duration_seconds"], float)


# -- check ---------------------------------------------------------------------------------


def test_check_a_healthy_store_exits_0(live: Target) -> None:
    status, text = run("check", *live.argv, "--job", "tick", "--job", "report")
    assert (status, text) == (0, f"OK: 2 job(s) checked in {_name(live)}\n")


def _name(target: Target) -> str:
    if target.kind == "sqlite":
        return target.where
    status, data = run_json("jobs", *target.argv)
    assert status == 0
    return str(data["store"])


def test_check_reports_a_job_failing_its_last_runs(live: Target) -> None:
    status, text = run("check", *live.argv, "--failures", "2")
    assert status == 1
    assert text.splitlines() == [
        "failing: job 'flaky' failed its last 2 runs (last: RuntimeError: this job always fails)"
    ]
    # One fire, two attempts: three failed runs are not on record.
    assert run("check", *live.argv)[0] == 0
    status, data = run_json("check", *live.argv, "--failures", "1", "--job", "flaky")
    assert status == 1
    assert data["healthy"] is False
    assert data["checked"] == 1
    assert data["problems"] == [
        {
            "job_id": "flaky",
            "problem": "failing",
            "message": "job 'flaky' failed its last run (last: RuntimeError: this job "
            "always fails)",
        }
    ]


def test_check_reports_a_late_job_and_not_a_paused_one(target: Target) -> None:
    start = now() - timedelta(hours=2)
    scheduler = target.scheduler(FakeClock(start))
    scheduler.add_job(RECORD, "interval", minutes=30, id="stalled")  # due 90 min ago
    scheduler.add_job(RECORD, "interval", minutes=30, id="graceful", misfire_grace_time=3 * 3600)
    scheduler.add_job(RECORD, "interval", minutes=30, id="held", paused=True)
    scheduler.shutdown()
    status, data = run_json("check", *target.argv)
    assert status == 1
    assert [(p["job_id"], p["problem"]) for p in data["problems"]] == [("stalled", "late")]
    found = re.search(r"is (\d+) s overdue \(grace 60 s\)", data["problems"][0]["message"])
    assert found is not None
    assert 5400 <= int(found.group(1)) < 5460  # its next fire was 90 min ago
    assert data["checked"] == 3
    # --grace for the jobs without a misfire grace time of their own.
    assert run("check", *target.argv, "--grace", "7200")[0] == 0
    assert run("check", *target.argv, "--job", "held", "--job", "graceful")[0] == 0
    status, data = run_json("check", *target.argv, "--ignore-paused", "--grace", "7200")
    assert (status, data["checked"]) == (0, 2)


def test_check_reports_broken_and_missing_jobs(target: Target) -> None:
    scheduler = target.scheduler(FakeClock(now()))
    scheduler.add_job(RECORD, "interval", minutes=30, id="fine")
    scheduler.add_job(RECORD, "interval", minutes=30, id="gone-module")
    scheduler.shutdown()
    target.store().mark_broken("gone-module", "cannot import module 'gone'")
    status, text = run("check", *target.argv, "--job", "gone-module", "--job", "typo")
    assert status == 1
    assert text.splitlines() == [
        f"missing: job 'typo' is not in {_name(target)}",
        "broken: job 'gone-module' is broken: cannot import module 'gone'",
    ]
    assert run("check", *target.argv, "--job", "fine")[0] == 0


def test_check_through_the_real_module_entry(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    scheduler = Scheduler(store=SQLiteStore(path), clock=FakeClock(now() - timedelta(hours=1)))
    scheduler.add_job(RECORD, "interval", minutes=10, id="stalled")
    scheduler.shutdown()
    src = str(Path(tickwork.__file__).resolve().parent.parent)
    done = subprocess.run(
        [sys.executable, "-m", "tickwork", "check", str(path), "--json"],
        env={**os.environ, "PYTHONPATH": src},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["problems"][0]["problem"] == "late"
    assert "\x1b[" not in done.stdout  # a pipe: no colours


# -- pause, resume, run-now, remove --------------------------------------------------------


def test_pause_and_resume(live: Target) -> None:
    status, text = run("pause", *live.argv[:1], "tick", *live.argv[1:], "--note", "deploy")
    assert status == 0
    assert text.startswith(f"Paused job 'tick' in {_name(live)} (deploy).")
    job = live.store().get_job("tick")
    assert job.paused
    assert job.pause_note == "deploy"
    status, data = run_json("resume", *live.argv[:1], "tick", *live.argv[1:])
    assert status == 0
    assert data["action"] == "resume"
    assert data["job"]["paused"] is False
    resumed = live.store().get_job("tick")
    assert not resumed.paused
    assert resumed.next_fire is not None
    assert data["job"]["next_fire"] == resumed.next_fire.isoformat()
    assert resumed.next_fire >= now() - timedelta(seconds=1)  # from now on, no catch-up


def test_run_now_makes_the_job_due(live: Target) -> None:
    status, data = run_json("run-now", *live.argv[:1], "flaky", *live.argv[1:])
    assert status == 0
    due = datetime.fromisoformat(data["due_at"])
    assert abs(due - datetime.now(timezone.utc)) < timedelta(seconds=30)
    assert live.store().get_job("flaky").next_fire == due
    status, text = run("run-now", *live.argv[:1], "flaky", *live.argv[1:])
    assert status == 0
    assert text.startswith("Job 'flaky' is due already (since ")
    status, _ = run("run-now", *live.argv[:1], "report", *live.argv[1:])
    assert status == 2  # paused: resume it first


def test_remove_with_yes_and_at_a_terminal(
    live: Target, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("remove", *live.argv[:1], "tick", *live.argv[1:])[0] == 2  # no TTY, no --yes
    assert "pass --yes" in capsys.readouterr().err

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    status, text = run("remove", *live.argv[:1], "tick", *live.argv[1:])
    assert (status, text) == (1, "Not removed.\n")
    assert "Remove job 'tick' from " in capsys.readouterr().err
    live.store().get_job("tick")  # still there
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    assert run("remove", *live.argv[:1], "tick", *live.argv[1:])[0] == 0
    status, data = run_json("remove", *live.argv[:1], "flaky", *live.argv[1:], "--yes")
    assert status == 0
    assert data == {"action": "remove", "store": _name(live), "job_id": "flaky"}
    assert [job.id for job in live.store().get_jobs()] == ["report"]
    assert live.store().history("flaky")  # the history stays
    assert run("remove", *live.argv[:1], "flaky", *live.argv[1:], "--yes")[0] == 2


def test_pickled_arguments_need_pickle(target: Target, capsys: Any) -> None:
    scheduler = Scheduler(store=target.store(pickle=True), clock=FakeClock(now()))
    scheduler.add_job(RECORD, "interval", minutes=5, id="p", args=[{1, 2}])
    scheduler.shutdown()
    assert run("pause", *target.argv[:1], "p", *target.argv[1:])[0] == 2
    err = capsys.readouterr().err
    assert "Pass --pickle" in err
    assert target.store(pickle=True).broken_jobs() == {}  # nothing left marked
    assert run("pause", *target.argv[:1], "p", *target.argv[1:], "--pickle")[0] == 0
    job = target.store(pickle=True).get_job("p")
    assert job.paused
    assert job.args == ({1, 2},)


def test_the_reads_see_the_schedule_of_jobs_with_pickled_arguments(
    target: Target, capsys: Any
) -> None:
    # They were listed as broken: `check` failed on every store opened with pickle=True
    # (no --pickle there), `next` did not find the job. A read shows no arguments, so it
    # reads such a job without them, and unpickles nothing.
    scheduler = Scheduler(store=target.store(pickle=True), clock=FakeClock(now()))
    scheduler.add_job(RECORD, "interval", minutes=5, id="p", args=[{1, 2}])
    scheduler.shutdown()
    status, text = run("check", *target.argv)
    assert (status, text.startswith("OK: 1 job(s) checked")) == (0, True), text
    status, data = run_json("jobs", *target.argv)
    assert status == 0
    assert [job["id"] for job in data["jobs"]] == ["p"]
    assert not data.get("broken")
    status, text = run("next", *target.argv[:1], "p", *target.argv[1:])
    assert status == 0
    assert text.strip()
    assert target.store(pickle=True).get_job("p").args == ({1, 2},)  # left as it was


def test_pausing_a_job_file_imports_nothing_it_names(
    crafted_file: tuple[Path, Path, dict[str, str]],
) -> None:
    path, marker, env = crafted_file
    for argv in (["pause", str(path), "crafted", "--note", "x"], ["resume", str(path), "crafted"]):
        done = subprocess.run(
            [sys.executable, "-m", "tickwork", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert not marker.exists(), f"{argv[0]} imported a module named in the file"
    with pytest.MonkeyPatch.context():
        from tickwork.cli import _read_only

        with _read_only(str(path)) as store:
            job = store.get_job("crafted")
    assert job.retry is not None
    assert job.retry.to_dict()["retry_on"] == ["tw_side_effect:Boom"]
    assert job.func_ref == "tw_side_effect:run"


def test_run_now_through_the_cli_is_fired_by_a_running_scheduler(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    scheduler = Scheduler(store=SQLiteStore(path, poll_interval=0.05), timezone="UTC")
    scheduler.add_job("tests.control_jobs:ping", "interval", hours=1, id="hourly")
    control_jobs.RAN.clear()
    scheduler.start()
    try:
        assert run("run-now", str(path), "hourly")[0] == 0
        assert control_jobs.RAN.wait(10), "the running scheduler did not fire the job"
    finally:
        scheduler.shutdown(wait=True, timeout=10)


# -- tables, colours, progress -------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_tables_fit_the_width_and_never_wrap(live: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "70")
    for command in ("jobs", "history"):
        status, text = run(command, *live.argv)
        assert status == 0
        rows = [line for line in text.splitlines() if line.startswith("  ")]
        assert rows
        assert all(len(line) <= 70 for line in rows), text
    status, text = run("jobs", *live.argv)
    assert "…" in text
    # The id and the next fire time are kept whole.
    assert table(text, "Jobs in")[0][1].endswith("+00:00")
    # At 80 columns the history's time was cut (the others kept 8 characters each).
    monkeypatch.setenv("COLUMNS", "80")
    status, text = run("history", *live.argv)
    times = [row[0] for row in table(text, "The newest")]
    assert times
    assert all(at.endswith("+00:00") for at in times), text
    monkeypatch.setenv("COLUMNS", "400")
    status, wide = run("history", *live.argv)
    assert "…" not in wide


def test_colours_only_on_a_terminal_without_no_color(
    live: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    out = FakeTerminal()
    assert main(["history", *live.argv], out=out) == 0
    assert "\x1b[31mfailure" in out.getvalue()  # red
    assert "\x1b[32msuccess" in out.getvalue()  # green
    out = FakeTerminal()
    assert main(["history", *live.argv, "--json"], out=out) == 0
    assert "\x1b[" not in out.getvalue()
    json.loads(out.getvalue())
    monkeypatch.setenv("NO_COLOR", "1")
    out = FakeTerminal()
    assert main(["history", *live.argv], out=out) == 0
    assert "\x1b[" not in out.getvalue()
    assert "\x1b[" not in run("history", *live.argv)[1]  # not a terminal


def test_check_shows_progress_on_a_terminal_stderr(
    live: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    status, text = run("check", *live.argv, "--failures", "5")
    assert status == 0
    assert "\rchecking jobs: 3/3" in terminal.getvalue()
    assert "checking" not in text  # stdout holds the answer alone


def test_a_broken_job_is_removed_after_asking(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheduler = Scheduler(store=target.store(pickle=True), clock=FakeClock(now()))
    scheduler.add_job(RECORD, "interval", minutes=5, id="p", args=[{1, 2}])
    scheduler.shutdown()
    monkeypatch.setattr(sys, "stdin", FakeTerminal("yes\n"))
    assert run("remove", *target.argv[:1], "p", *target.argv[1:])[0] == 0
    assert target.store(pickle=True).get_jobs() == []


def test_progress_goes_to_a_terminal_stderr_only() -> None:
    from tickwork._cli.output import Progress

    terminal = FakeTerminal()
    progress = Progress("checking jobs", stream=terminal)
    progress.update(0, 2)
    progress.update(2, 2)
    progress.done()
    assert "\rchecking jobs: 2/2" in terminal.getvalue()
    assert terminal.getvalue().endswith("\r\x1b[K")
    pipe = io.StringIO()
    quiet = Progress("checking jobs", stream=pipe)
    quiet.update(1, 2)
    quiet.done()
    assert pipe.getvalue() == ""


# -- metrics and dashboard: thin calls into tickwork.metrics and tickwork.web --------------


def fake_module(name: str, **functions: Callable[..., Any]) -> types.ModuleType:
    module = types.ModuleType(name)
    for key, value in functions.items():
        setattr(module, key, value)
    return module


def test_metrics_prints_render_store(live: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def render_store(store: JobStore, *, now: datetime) -> str:
        seen.append((sorted(job.id for job in store.get_jobs()), now.tzinfo is not None))
        return "tickwork_up 1\n"

    monkeypatch.setitem(
        sys.modules,
        "tickwork.metrics",
        fake_module("tickwork.metrics", render_store=render_store, wsgi_app=lambda s: None),
    )
    assert run("metrics", *live.argv) == (0, "tickwork_up 1\n")
    assert seen == [(["flaky", "report", "tick"], True)]
    status, data = run_json("metrics", *live.argv)
    assert status == 0
    assert data["text"] == "tickwork_up 1\n"


def test_metrics_listen_serves_wsgi_app(
    live: Target, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import urllib.request

    import tickwork.cli as cli

    def wsgi_app(store: JobStore) -> Callable[..., Any]:
        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            body = f"jobs {len(store.get_jobs())} at {environ['PATH_INFO']}\n".encode()
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [body]

        return app

    monkeypatch.setitem(
        sys.modules,
        "tickwork.metrics",
        fake_module("tickwork.metrics", render_store=lambda s, now: "", wsgi_app=wsgi_app),
    )
    answers: list[str] = []

    def one_request(server: Any) -> None:
        port = server.server_port
        fetch = threading.Thread(
            target=lambda: answers.append(
                urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10)
                .read()
                .decode()
            )
        )
        fetch.start()
        server.handle_request()
        fetch.join(10)

    monkeypatch.setattr(cli, "_serve_forever", one_request)
    assert run("metrics", *live.argv, "--listen", "127.0.0.1:0")[0] == 0
    assert answers == ["jobs 3 at /metrics\n"]
    assert "Serving the metrics of " in capsys.readouterr().err


def test_dashboard_calls_serve_with_the_options(
    live: Target, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[dict[str, Any]] = []

    def serve(store: JobStore, *, ready: Any, out: Any, **options: Any) -> None:
        calls.append({"jobs": len(store.get_jobs()), **options})
        ready(types.SimpleNamespace(url=f"http://{options['host']}:{options['port']}/"))
        raise KeyboardInterrupt  # Ctrl-C

    monkeypatch.setitem(sys.modules, "tickwork.web", fake_module("tickwork.web", serve=serve))
    assert run("dashboard", *live.argv)[0] == 0
    assert run("dashboard", *live.argv, "--port", "9999", "--allow-actions", "--show-args")[0] == 0
    assert calls == [
        {"jobs": 3, "host": "127.0.0.1", "port": 8080, "allow_actions": False, "show_args": False},
        {"jobs": 3, "host": "127.0.0.1", "port": 9999, "allow_actions": True, "show_args": True},
    ]
    assert "at http://127.0.0.1:8080/ (Ctrl-C to stop)" in capsys.readouterr().err


def test_metrics_with_the_real_module(live: Target) -> None:
    metrics = pytest.importorskip("tickwork.metrics")
    if not hasattr(metrics, "render_store"):
        pytest.skip("tickwork.metrics.render_store is not in this tree yet (helper D)")
    status, text = run("metrics", *live.argv)
    assert status == 0
    assert "flaky" in text
    assert "# TYPE" in text


def test_dashboard_with_the_real_module_is_wired(live: Target) -> None:
    web = pytest.importorskip("tickwork.web")
    if not hasattr(web, "serve"):
        pytest.skip("tickwork.web.serve is not in this tree yet (helper E)")
    import inspect

    parameters = inspect.signature(web.serve).parameters
    for name in ("host", "port", "allow_actions", "show_args", "ready", "out"):
        assert name in parameters


def test_dashboard_serves_the_store_on_the_port_it_announces(
    live: Target, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real server, on a free port (--port 0): the URL announced is the one that
    answers, with the store's jobs."""
    import urllib.request

    web = pytest.importorskip("tickwork.web")
    real_serve = web.serve
    pages: list[str] = []

    def serve(target: Any, *, ready: Any, **options: Any) -> None:
        def fetch_then_stop(server: Any) -> None:
            ready(server)

            def fetch() -> None:
                try:
                    with urllib.request.urlopen(server.url, timeout=10) as response:
                        pages.append(response.read().decode())
                finally:
                    server.shutdown()

            threading.Thread(target=fetch, daemon=True).start()

        real_serve(target, ready=fetch_then_stop, **options)

    monkeypatch.setattr(web, "serve", serve)
    assert run("dashboard", *live.argv, "--port", "0")[0] == 0
    (page,) = pages
    assert "flaky" in page
    announced = re.search(r"at (http://127\.0\.0\.1:(\d+)/)", capsys.readouterr().err)
    assert announced is not None
    assert announced.group(2) != "0"


# -- docs/cli.md: its examples that need no store are the real output ---------------------


def test_the_docs_examples_without_a_store_are_real_output() -> None:
    import shlex

    text = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text("utf-8")
    checked = 0
    for block in re.findall(r"```text\n(.*?)```", text, re.S):
        for example in re.split(r"\n(?=\$ )", block.strip()):
            if not example.startswith("$ "):
                continue  # a synopsis
            command, _, expected = example.partition("\n")
            words = shlex.split(command.removeprefix("$ "))
            if words[0] != "tickwork" or words[1] not in ("next", "explain"):
                continue
            if "jobs.db" in words:
                continue
            status, output = run(*words[1:])
            assert (status, output.strip()) == (0, expected.strip()), command
            checked += 1
    assert checked >= 2
