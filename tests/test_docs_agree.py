"""What the documentation promises, checked against the code.

Each test reads the claim from the docs (a table row, an example's printed output) or
states it as the docs word it, so the two cannot drift apart silently.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import tickwork
from tickwork import Scheduler
from tickwork._options import OPTIONS
from tickwork.executors import InlineExecutor, ThreadExecutor
from tickwork.stores import SQLiteStore
from tickwork.testing import FakeClock

DOCS = Path(__file__).resolve().parent.parent / "docs"
T0 = datetime(2024, 1, 1, 12, tzinfo=timezone.utc)


def job() -> None:
    pass


def scheduler() -> Scheduler:
    return Scheduler(clock=FakeClock(T0), executors={"default": InlineExecutor()}, timezone="UTC")


def with_job() -> Scheduler:
    runner = scheduler()
    runner.add_job(job, "interval", seconds=10, id="j")
    return runner


def never_matches() -> tickwork.triggers.AndTrigger:
    """An AndTrigger that gives up: no 31 February within its search limit."""
    from tickwork.triggers import AndTrigger, CronTrigger

    return AndTrigger(
        [CronTrigger("0 0 31 * *", timezone="UTC"), CronTrigger("0 0 * 2 *", timezone="UTC")],
        max_iterations=20,
    )


def docs_section(name: str, heading: str) -> str:
    text = (DOCS / name).read_text(encoding="utf-8")
    if not text:
        pytest.skip(f"docs/{name} is not part of this copy of the tests")
    start = text.index(heading)
    end = text.find("\n#", start + len(heading))
    return text[start : end if end != -1 else len(text)]


# -- docs/jobs.md, "Errors": every row, with the examples it names ----------------------

ERROR_EXAMPLES: dict[str, list[Callable[[], object]]] = {
    "TypeError": [
        lambda: scheduler().add_job(job, "interval", seconds=10, timeout="10"),
        lambda: scheduler().add_job(job, "interval", seconds=10, id=5),
        lambda: scheduler().add_job(job, "interval", seconds=10, max_instances=1.5),
        lambda: scheduler().add_job(job, "interval", seconds=10, executor=5),
        lambda: with_job().next_fire_times("j", "x"),  # type: ignore[arg-type]
        lambda: SQLiteStore(":memory:", history_per_job=True),
        lambda: scheduler().add_job(job, "interval", mins=5),
        lambda: scheduler().add_job(
            job, "interval", seconds=10, run_immediately=True, first_fire=T0
        ),
        lambda: scheduler().add_job(job, "date", datetime(2030, 1, 1)),
        lambda: scheduler().add_job(job),
    ],
    "ValueError": [
        lambda: scheduler().add_job(job, "interval", seconds=10, max_instances=0),
        lambda: scheduler().add_job(job, "interval", seconds=10, misfire_grace_time=-1),
        lambda: scheduler().add_job(job, "interval", seconds=10, misfire_grace_time=0),
        lambda: with_job().backfill("j", T0, T0 + timedelta(hours=1)),
        lambda: scheduler().add_job(job, "interval", seconds=10, timeout=float("nan")),
        lambda: scheduler().add_job(job, "interval", seconds=10, jitter=float("inf")),
        lambda: scheduler().add_job(job, "interval", weeks=1e6),
        lambda: scheduler().add_job(job, "every-so-often"),
        lambda: scheduler().add_job(job, "interval", seconds=10, overlap="queue"),
        lambda: scheduler().add_job(job, "interval", seconds=10, executor="gpu"),
        lambda: scheduler().add_job(job, "interval", seconds=10, start=T0, end=T0 - timedelta(1)),
        lambda: scheduler().add_job(job, "cron", "0 0 * * *", end_date=T0 + timedelta(hours=1)),
    ],
    "InvalidExpression": [
        lambda: scheduler().add_job(job, "cron", "0 9 * *"),
        lambda: scheduler().add_job(job, "cron", hour="25"),
    ],
    "UnknownTimezone": [
        lambda: scheduler().add_job(job, "cron", "0 9 * * *", timezone="Europe/Berln"),
    ],
    "ConflictingIdError": [
        lambda: with_job().add_job(job, "interval", seconds=10, id="j"),
    ],
    "JobLookupError": [
        lambda: scheduler().remove_job("nope"),
        lambda: scheduler().add_job("tests.no_such_module:job", "interval", seconds=10),
    ],
    "SerializationError": [
        lambda: Scheduler(store=SQLiteStore(":memory:"), clock=FakeClock(T0)).add_job(
            lambda: None, "interval", seconds=10
        ),
    ],
    "StoreError": [
        lambda: Scheduler(store=SQLiteStore(str(DOCS / "jobs.md"))).add_job(
            "tests.test_docs_agree:job", "interval", seconds=10
        ),
    ],
    "SchedulerStateError": [
        lambda: scheduler().pause(),
    ],
    "TriggerError": [
        lambda: scheduler().add_job(job, never_matches()),
    ],
}
#: Rows the table documents as never raised by a call.
NOT_RAISED_BY_CALLS = {"LeaseExpired"}
BUILTIN = {"TypeError": TypeError, "ValueError": ValueError}


def error_table_rows() -> list[str]:
    section = docs_section("jobs.md", "## Errors")
    return re.findall(r"^\| `(\w+)`", section, flags=re.MULTILINE)


def test_the_errors_table_lists_the_errors_tested_here() -> None:
    assert set(error_table_rows()) == set(ERROR_EXAMPLES) | NOT_RAISED_BY_CALLS


@pytest.mark.parametrize(
    ("name", "index"),
    [(name, index) for name, calls in ERROR_EXAMPLES.items() for index in range(len(calls))],
)
def test_each_row_of_the_errors_table(name: str, index: int) -> None:
    expected = BUILTIN.get(name) or getattr(tickwork, name)
    with pytest.raises((TypeError, ValueError, LookupError, OSError, RuntimeError)) as raised:
        ERROR_EXAMPLES[name][index]()
    assert isinstance(raised.value, expected), f"{name} row: got {raised.value!r}"
    if name == "TypeError":
        assert not isinstance(raised.value, ValueError), raised.value
    if name == "ValueError":
        assert not isinstance(raised.value, TypeError), raised.value


# -- docs/jobs.md, "paused and remaining_runs": the printed output --------------------


def test_the_remaining_runs_example_prints_what_the_docs_show() -> None:
    section = docs_section("jobs.md", "### paused and remaining_runs")
    code = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL)
    shown = re.search(r"```text\n(.*?)```", section, flags=re.DOTALL)
    assert code is not None
    assert shown is not None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.group(1), "docs/jobs.md", "exec"), {"__name__": "docs_example"})
    assert out.getvalue() == shown.group(1)


# -- job options: the table in tickwork._options, add_job's docstring, docs/jobs.md ------


def documented_options() -> list[str]:
    """The option names in the first cell of each row of docs/jobs.md's options table."""
    section = docs_section("jobs.md", "## Options")
    cells = re.findall(r"^\| (`[^|]*`) \|", section, flags=re.MULTILINE)
    return [name for cell in cells for name in re.findall(r"`(\w+)`", cell)]


def test_the_options_table_of_the_docs_lists_each_option_once() -> None:
    documented = documented_options()
    assert sorted(documented) == sorted(option.name for option in OPTIONS)


@pytest.mark.parametrize("option", [option.name for option in OPTIONS])
def test_add_jobs_docstring_describes_each_option(option: str) -> None:
    doc = Scheduler.add_job.__doc__ or ""
    arguments = doc[doc.index("Args:") : doc.index("Raises:")]
    assert re.search(rf"(?<![\w.]){option}(?!\w)", arguments), option


# -- docs/executors.md: a mapping without "default" -----------------------------------


def test_executors_without_default_get_the_thread_pool_as_default() -> None:
    section = docs_section("executors.md", "## Configuring executors")
    assert 'without a\n`"default"` entry gets `"default": ThreadExecutor()` added' in section
    inline = InlineExecutor()
    runner = Scheduler(clock=FakeClock(T0), executors={"inline": inline}, timezone="UTC")
    added = runner.add_job(job, "interval", seconds=10)
    assert added.executor == "default"
    assert isinstance(runner.engine._executors["default"], ThreadExecutor)
    assert runner.engine._executors["inline"] is inline
    runner.shutdown()


# -- messages that name only what the caller passed --------------------------------------


@pytest.mark.parametrize("kind", ["interval", "calendar", "cron"])
def test_an_end_date_in_the_past_is_compared_with_now_not_an_unseen_start(kind: str) -> None:
    fields = {"interval": {"seconds": 10}, "calendar": {"days": 1}, "cron": {"hour": 9}}[kind]
    past = T0 - timedelta(days=1)
    with pytest.raises(ValueError, match="end_date") as raised:
        scheduler().add_job(job, kind, end_date=past, **fields)
    message = str(raised.value)
    assert message == (f"end_date {past.isoformat()} is before the current time {T0.isoformat()}")


def test_an_end_date_before_the_start_date_names_both() -> None:
    with pytest.raises(ValueError, match=r"end_date .* is before start_date"):
        scheduler().add_job(job, "interval", seconds=10, start_date=T0,
                            end_date=T0 - timedelta(1))  # fmt: skip


def test_an_empty_sqlite_path_is_refused() -> None:
    # sqlite3 opens a private temporary database for "": nothing would be kept.
    with pytest.raises(ValueError, match="path"):
        SQLiteStore("")


# -- docs/triggers.md, "Walking backwards" and "Your own trigger": the printed output --


@pytest.mark.parametrize("heading", ["### Walking backwards", "## Your own trigger"])
def test_the_triggers_examples_print_what_the_docs_show(heading: str) -> None:
    # (Your own trigger: one that sets its attributes in __init__, as Python classes
    # do, was refused as immutable.)
    text = (DOCS / "triggers.md").read_text(encoding="utf-8")
    start = text.index(heading)
    # (The example's comments start lines with "#": the section ends at a heading.)
    section = text[start : text.index("\n## ", start + 1)]
    code = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL)
    shown = re.search(r"```text\n(.*?)```", section, flags=re.DOTALL)
    assert code is not None
    assert shown is not None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.group(1), "docs/triggers.md", "exec"), {"__name__": "docs_example"})
    assert out.getvalue() == shown.group(1)


# -- docs/postgres.md: the PostgreSQL versions it needs ---------------------------------


def test_the_postgresql_version_needed_is_the_same_in_the_docs_and_the_docstring() -> None:
    from tickwork.stores import PostgresStore

    text = (DOCS / "postgres.md").read_text(encoding="utf-8")
    # 13: pg_current_xact_id(), pg_snapshot and xid8 (sync by transaction snapshots).
    documented = re.search(r"version (\d+) or later, for `pg_current_xact_id\(\)`", text)
    stated = re.search(r"PostgreSQL database \((\d+) or later\)", PostgresStore.__doc__ or "")
    assert documented is not None
    assert stated is not None
    assert documented.group(1) == stated.group(1) == "13"
