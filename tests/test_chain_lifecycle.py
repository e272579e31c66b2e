"""The life of chained jobs (``after=``) beside the rest of a job's life: pausing and
resuming, ``max_consecutive_failures``, ``start``/``end``, ``on_failure`` handlers added
with their job, upstreams the scheduler removes, and runs left at shutdown.

On a ``FakeClock`` with an ``InlineExecutor`` (or an executor that holds its runs), over
a ``MemoryStore``, a ``SQLiteStore`` file and a ``PostgresStore`` where it matters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tickwork import (
    ChainError,
    EventKind,
    EventTrigger,
    JobLookupError,
    Outcome,
    Scheduler,
    SerializationError,
    StoreError,
    current_run,
)
from tickwork._control import resume_job
from tickwork.executors import Executor, InlineExecutor
from tickwork.stores import JobStore, MemoryStore, PostgresStore, SQLiteStore
from tickwork.testing import FakeClock, advance, run_until

from . import pg
from .jobs_for_tests import T0

HOUR = 3600
#: Each run of :func:`noted`: (job id, scheduled_at, event payload, upstream return values).
RUNS: list[tuple[str, datetime, Any, dict[str, Any]]] = []


def noted() -> str:
    run = current_run()
    payload = None if run.event is None else run.event.payload
    RUNS.append((run.job_id, run.scheduled_at, payload, {
        key: up.return_value for key, up in run.upstream.items()}))  # fmt: skip
    return run.job_id


def failing() -> None:
    raise RuntimeError("the warehouse is down")


NOTED = f"{__name__}:noted"
FAILING = f"{__name__}:failing"


@pytest.fixture(autouse=True)
def _fresh_runs() -> Iterator[None]:
    RUNS.clear()
    yield
    RUNS.clear()


pg_tables = pg.pg_tables  # (a schema of the test's own with tickwork's tables, emptied)


def _store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> JobStore:
    if kind == "memory":
        return MemoryStore()
    if kind == "postgres":
        return PostgresStore(pg.dsn(), schema=request.getfixturevalue("pg_tables"))
    return SQLiteStore(tmp_path / "chains.db")


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> JobStore:
    return _store(request.param, tmp_path, request)


def _scheduler(store: JobStore, clock: FakeClock, **executors: Executor) -> Scheduler:
    return Scheduler(
        clock=clock,
        store=store,
        executors={"default": InlineExecutor(), **executors},
        timezone="UTC",
    )


@pytest.fixture
def sched(store: JobStore) -> Iterator[Scheduler]:
    scheduler = _scheduler(store, FakeClock(T0))
    yield scheduler
    scheduler.shutdown()


def ran(job_id: str) -> list[datetime]:
    return [run[1] for run in RUNS if run[0] == job_id]


def kinds(events: list[Any], job_id: str) -> list[EventKind]:
    return [event.kind for event in events if event.job_id == job_id]


# -- pausing, resuming, max_consecutive_failures ------------------------------------------


def test_a_paused_downstream_job_is_resumed_not_removed(sched: Scheduler) -> None:
    removed: list[Any] = []
    sched.add_listener(removed.append, EventKind.JOB_REMOVED)
    sched.add_job(NOTED, "cron", "0 * * * *", id="extract")
    sched.add_job(NOTED, after="extract", id="load")
    sched.open()
    sched.pause_job("load")
    resumed = sched.resume_job("load")
    assert (resumed.paused, resumed.after) == (False, ("extract",))
    assert removed == []
    run_until(sched, T0 + timedelta(hours=1))
    assert ran("load") == [T0, T0 + timedelta(hours=1)]


def test_the_store_level_resume_keeps_a_downstream_job(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "control.db")
    with _scheduler(store, FakeClock(T0)) as scheduler:
        scheduler.add_job(NOTED, "cron", "0 * * * *", id="extract")
        scheduler.add_job(NOTED, after="extract", id="load", paused=True)
    with SQLiteStore(tmp_path / "control.db") as again:
        job = resume_job(again, "load", now=T0)
        assert (job.paused, job.after) == (False, ("extract",))
        assert again.get_job("load").after == ("extract",)


def test_max_consecutive_failures_pauses_a_chained_job_and_resume_lets_it_run_again(
    sched: Scheduler,
) -> None:
    sched.add_job(NOTED, "cron", "0 * * * *", id="extract")
    sched.add_job(FAILING, after="extract", id="load", max_consecutive_failures=2)
    sched.add_job(NOTED, after="load", on="any", id="report")
    paused: list[Any] = []
    sched.add_listener(paused.append, EventKind.JOB_PAUSED)
    sched.open()
    run_until(sched, T0 + timedelta(hours=3))
    load = sched.get_job("load")
    assert load is not None
    assert (load.paused, load.consecutive_failures) == (True, 2)
    assert [event.reason for event in paused] == [
        "paused after 2 consecutive failures; last: RuntimeError: the warehouse is down"
    ]
    # Paused from 01:00: its hand-overs of 02:00 and 03:00 were skipped.
    outcomes = sorted((run.scheduled_at, run.outcome) for run in sched.history("load"))
    assert [outcome for _, outcome in outcomes] == [Outcome.FAILURE] * 2 + [Outcome.SKIPPED] * 2
    resumed = sched.resume_job("load")
    assert (resumed.paused, resumed.consecutive_failures, resumed.after) == (False, 0, ("extract",))
    assert sorted(job.id for job in sched.get_jobs()) == ["extract", "load", "report"]


# -- on_failure: the job and its handler, all or nothing ----------------------------------


@pytest.mark.parametrize(
    ("handler", "error", "message"),
    [
        ("nosuchjob", JobLookupError, "on_failure='nosuchjob' is no job id"),
        ("os:no_such_function", JobLookupError, "'os' has no 'no_such_function'"),
        (5, TypeError, "on_failure must be a function, a 'module:function' reference or a job"),
        ("main", ChainError, "would close a cycle: main -> main"),
        ("loader", ValueError, "names a job that runs on 'success' of \\['extract'\\]"),
    ],
)
def test_a_refused_failure_handler_leaves_nothing_added(
    sched: Scheduler, handler: Any, error: type[Exception], message: str
) -> None:
    sched.add_job(NOTED, "cron", "0 * * * *", id="extract")
    sched.add_job(NOTED, after="extract", id="loader")
    added: list[Any] = []
    sched.add_listener(added.append, EventKind.JOB_ADDED | EventKind.JOB_MODIFIED)
    with pytest.raises(error, match=message):
        sched.add_job(NOTED, "cron", "0 * * * *", id="main", on_failure=handler)
    assert sorted(job.id for job in sched.get_jobs()) == ["extract", "loader"]
    assert added == []
    # The corrected call goes through (the refused one left no "main" behind).
    sched.add_job(NOTED, "cron", "0 * * * *", id="main", on_failure=FAILING)
    assert sched.get_job("main.on_failure") is not None


@pytest.mark.parametrize("upstreams", [["orders"], ["orders", "stock"]])
def test_a_handler_that_runs_after_other_jobs_is_refused_by_id(
    sched: Scheduler, upstreams: list[str]
) -> None:
    # Shared by id, it would become a fan-in: run only when all its upstreams fail in
    # one slot, so never for one job's failure alone (nor, any more, for the first's).
    sched.add_job(NOTED, "cron", "0 * * * *", id="orders")
    sched.add_job(NOTED, "cron", "0 * * * *", id="stock")
    sched.add_job(NOTED, after=upstreams, on="failure", id="alert")
    added: list[Any] = []
    sched.add_listener(added.append, EventKind.JOB_ADDED | EventKind.JOB_MODIFIED)
    with pytest.raises(ValueError, match="cannot share that job") as refused:
        sched.add_job(FAILING, "cron", "0 * * * *", id="prices", on_failure="alert")
    message = str(refused.value)
    for part in (
        "job 'prices': on_failure='alert'",
        f"'alert' already runs after {upstreams!r}",
        "would become a fan-in that runs only when all of them fail in one slot",
        "on_failure=<a function or 'module:function'>",
        "scheduler.on_failure(callback)",
    ):
        assert part in message
    assert sorted(job.id for job in sched.get_jobs()) == ["alert", "orders", "stock"]
    alert = sched.get_job("alert")
    assert alert is not None
    assert alert.after == tuple(upstreams)
    assert added == []
    # A fan-in of failures made on purpose is no handler of one job either.
    sched.add_job(FAILING, "cron", "0 * * * *", id="prices")
    sched.modify_job("alert", after=[*upstreams, "prices"])
    with pytest.raises(ValueError, match=re.escape(f"already runs after {upstreams!r}; made")):
        sched.add_job(FAILING, "cron", "0 * * * *", id="prices", on_failure="alert",
                      replace_existing=True)  # fmt: skip


def test_a_batch_that_shares_a_handler_by_id_is_refused_whole(sched: Scheduler) -> None:
    sched.add_job(NOTED, EventTrigger("page"), id="alert")  # (no upstream: it may handle one)
    entries = [{"func": FAILING, "trigger": "cron", "expression": "0 * * * *", "id": job_id,
                "on_failure": "alert"} for job_id in ("orders", "prices")]  # fmt: skip
    refused = r"jobs\[1\] \(id 'prices'\): job 'prices': on_failure='alert' cannot share"
    with pytest.raises(ValueError, match=refused):
        sched.add_jobs(entries)
    assert [job.id for job in sched.get_jobs()] == ["alert"]
    alert = sched.get_job("alert")
    assert alert is not None
    assert alert.after == ()
    # One job may take it: the event job then also runs after that job's failures.
    sched.add_jobs(entries[:1])
    alert = sched.get_job("alert")
    assert alert is not None
    assert (alert.after, alert.on.value) == (("orders",), "failure")
    sched.open()
    run_until(sched, T0 + timedelta(minutes=30))  # (orders fails at 00:00)
    sched.emit("page", "manual")
    sched.process_due()
    assert [(run[0], run[2]) for run in RUNS] == [("alert", None), ("alert", "manual")]


def test_a_failure_handler_a_file_cannot_keep_leaves_nothing_added(tmp_path: Path) -> None:
    with _scheduler(SQLiteStore(tmp_path / "x.db"), FakeClock(T0)) as scheduler:
        added: list[Any] = []
        scheduler.add_listener(added.append, EventKind.JOB_ADDED)
        with pytest.raises(SerializationError, match=r"job 'main\.on_failure'"):
            scheduler.add_job(NOTED, "cron", "0 * * * *", id="main", on_failure=lambda: None)
        assert scheduler.get_jobs() == []
        assert added == []


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_add_jobs_with_an_unknown_failure_handler_raises_job_lookup_error(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = _store(kind, tmp_path, request)
    with _scheduler(store, FakeClock(T0)) as scheduler:
        scheduler.add_job(NOTED, "cron", "0 * * * *", id="before")
        entry = {"func": NOTED, "trigger": "cron", "expression": "0 * * * *", "id": "x",
                 "on_failure": "nosuchjob"}  # fmt: skip
        with pytest.raises(JobLookupError, match="on_failure='nosuchjob' is no job id"):
            scheduler.add_jobs([entry])
        assert [job.id for job in scheduler.get_jobs()] == ["before"]


# -- after= and on= are checked the same way everywhere -----------------------------------


def test_an_empty_after_without_a_trigger_is_refused_as_no_trigger_is(sched: Scheduler) -> None:
    for after in ([], ()):
        with pytest.raises(TypeError, match="a trigger is required"):
            sched.add_job(NOTED, after=after, id="never")
    assert sched.get_jobs() == []


def test_modify_job_refuses_on_for_a_job_with_no_upstream(sched: Scheduler) -> None:
    sched.add_job(NOTED, "cron", "0 * * * *", id="extract")
    sched.add_job(NOTED, after="extract", id="load")
    with pytest.raises(TypeError, match="job 'extract': on='failure' says which ends"):
        sched.modify_job("extract", on="failure")
    assert sched.get_job("extract").on.value == "success"  # type: ignore[union-attr]
    assert sched.modify_job("load", on="failure").on.value == "failure"


# -- start and end ------------------------------------------------------------------------


def test_a_chained_job_runs_only_for_slots_within_its_start_and_end(sched: Scheduler) -> None:
    sched.add_job(NOTED, "cron", "0 * * * *", id="extract")
    sched.add_job(NOTED, after="extract", id="until", end=T0 + timedelta(minutes=90))
    sched.add_job(NOTED, after="extract", id="from", start=T0 + timedelta(minutes=90))
    removed: list[Any] = []
    sched.add_listener(removed.append, EventKind.JOB_REMOVED)
    sched.open()
    run_until(sched, T0 + timedelta(hours=3))
    assert ran("until") == [T0, T0 + timedelta(hours=1)]
    assert ran("from") == [T0 + timedelta(hours=2), T0 + timedelta(hours=3)]
    # Past its end, the 02:00 hand-over was skipped and the job removed: it could never
    # run again.
    assert [event.job_id for event in removed] == ["until"]
    assert sorted(job.id for job in sched.get_jobs()) == ["extract", "from"]
    skipped = [run for run in reversed(sched.history("from")) if run.outcome is Outcome.SKIPPED]
    assert [run.scheduled_at for run in skipped] == [T0, T0 + timedelta(hours=1)]
    assert skipped[0].error_message == "its slot is outside the job's start and end"


def test_a_chained_job_whose_end_has_passed_is_refused_and_one_may_be_given_an_end(
    sched: Scheduler,
) -> None:
    sched.add_job(NOTED, "cron", "0 * * * *", id="extract")
    with pytest.raises(ValueError, match="job 'late' would never run: its end="):
        sched.add_job(NOTED, after="extract", id="late", end=T0 - timedelta(days=1))
    sched.add_job(NOTED, after="extract", id="load")
    assert sched.modify_job("load", end=T0 + timedelta(days=1)).end == T0 + timedelta(days=1)
    with pytest.raises(ValueError, match="job 'load' would never run again: its end="):
        sched.modify_job("load", end=T0 - timedelta(days=1))
    assert sched.get_job("load").end == T0 + timedelta(days=1)  # type: ignore[union-attr]


# -- upstreams the scheduler removes ------------------------------------------------------


def test_the_jobs_after_a_one_off_that_ran_are_detached(sched: Scheduler) -> None:
    events: list[Any] = []
    sched.add_listener(events.append, EventKind.JOB_REMOVED | EventKind.JOB_MODIFIED)
    sched.add_job(NOTED, "date", T0 + timedelta(minutes=1), id="import")
    sched.add_job(NOTED, after="import", id="report")  # could never run again
    sched.add_job(NOTED, after="report", id="mail")  # nor could this one, after it
    sched.add_job(NOTED, "cron", "0 * * * *", after=["report"], id="audit")  # keeps its cron
    sched.open()
    run_until(sched, T0 + timedelta(minutes=2))
    # Each ran once, after its upstream, before losing it.
    assert ran("report") == ran("mail") == [T0 + timedelta(minutes=1)]
    assert sorted(job.id for job in sched.get_jobs()) == ["audit"]
    assert sched.get_job("audit").after == ()  # type: ignore[union-attr]
    assert sorted((event.kind.name, event.job_id) for event in events) == [
        ("JOB_MODIFIED", "audit"),
        ("JOB_REMOVED", "import"),
        ("JOB_REMOVED", "mail"),
        ("JOB_REMOVED", "report"),
    ]
    # A new job with the old id is no one's upstream.
    sched.add_job(NOTED, "cron", "0 * * * *", id="import")
    sched.add_job(NOTED, "cron", "0 * * * *", id="report")
    run_until(sched, T0 + timedelta(hours=1))
    assert ran("mail") == [T0 + timedelta(minutes=1)]


def test_the_jobs_after_a_one_off_resumed_too_late_are_detached(sched: Scheduler) -> None:
    sched.add_job(NOTED, "date", T0 + timedelta(minutes=1), id="import", paused=True)
    sched.add_job(NOTED, after="import", id="report")
    sched.open()
    advance(sched, 120)
    sched.resume_job("import")  # its time passed while it was paused: removed
    sched.process_due()
    assert sched.get_jobs() == []
    assert ran("report") == []


def test_a_paused_job_left_with_no_upstream_is_removed_not_chained_to_a_new_one(
    sched: Scheduler,
) -> None:
    sched.add_job(NOTED, "date", T0 + timedelta(minutes=1), id="import")
    sched.add_job(NOTED, after="import", id="report", paused=True)
    sched.open()
    run_until(sched, T0 + timedelta(minutes=2))
    # Resuming it could not make it run again: it goes as an unpaused one does.
    assert sched.get_jobs() == []
    # So a new job taking the old id starts nothing.
    sched.add_job(NOTED, "date", T0 + timedelta(minutes=5), id="import")
    run_until(sched, T0 + timedelta(minutes=6))
    assert ran("import") == [T0 + timedelta(minutes=1), T0 + timedelta(minutes=5)]
    assert ran("report") == []


def test_a_dependant_left_behind_is_detached_at_the_next_start(tmp_path: Path) -> None:
    db = tmp_path / "left.db"
    first = _scheduler(SQLiteStore(db), FakeClock(T0))
    first.add_job(NOTED, "cron", "0 * * * *", id="import")
    first.add_job(NOTED, after="import", id="report")
    first.add_job(NOTED, "cron", "30 * * * *", after=["import"], id="audit")
    first.shutdown()
    with SQLiteStore(db) as store:  # "import" removed behind the scheduler's back
        store.remove_jobs(["import"])
    second = _scheduler(SQLiteStore(db), FakeClock(T0))
    second.open()
    second.process_due()
    assert [(job.id, job.after) for job in second.get_jobs()] == [("audit", ())]
    second.shutdown()


class ChainsFailOnce(SQLiteStore):
    """A file whose first read of the chains ready to start fails (a cut connection)."""

    failed = False

    def ready_chains(self, *, limit: int = 100) -> list[tuple[str, datetime]]:
        if not self.failed:
            self.failed = True
            raise StoreError("could not read the chains: the connection was cut")
        return super().ready_chains(limit=limit)


def test_a_store_error_reading_the_chains_is_reported_and_the_chain_runs_later(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = ChainsFailOnce(tmp_path / "cut.db")
    sched = _scheduler(store, FakeClock(T0))
    errors: list[Any] = []
    sched.add_listener(errors.append, EventKind.STORE_ERROR)
    sched.add_job(NOTED, "date", T0 + timedelta(minutes=1), id="import")
    sched.add_job(NOTED, after="import", id="report")
    sched.open()
    with caplog.at_level("ERROR", logger="tickwork"):
        run_until(sched, T0 + timedelta(minutes=2))  # (no exception out of the step)
    assert store.failed
    assert [str(event.exception) for event in errors] == [
        "could not read the chains: the connection was cut"
    ]
    failures = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.exc_info for r in failures] == [None]  # one line, no traceback
    assert "could not start the runs after other jobs" in failures[0].getMessage()
    assert ran("report") == [T0 + timedelta(minutes=1)]  # (once the store answered)
    sched.shutdown()


# -- runs left at shutdown ----------------------------------------------------------------


class Queueing(Executor):
    """Holds every run it is given, unstarted (a backlog queued for busy threads), until
    a scheduler shutting down takes them back."""

    def __init__(self) -> None:
        self.taken: list[Any] = []

    def submit(self, request: Any) -> None:
        self.taken.append(request)

    def take_unstarted(self) -> list[Any]:
        taken, self.taken = self.taken, []
        return taken

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        pass


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_chained_and_event_runs_not_started_at_shutdown_run_at_the_next_start(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    queue = Queueing()
    first = _scheduler(_store(kind, tmp_path, request), FakeClock(T0), queued=queue)
    first.add_job(NOTED, "cron", "0 * * * *", id="extract")
    first.add_job(NOTED, after="extract", id="load", executor="queued")
    first.add_job(NOTED, EventTrigger("order"), id="confirm", executor="queued")
    ended: list[Any] = []
    first.add_listener(ended.append, EventKind.JOB_INTERRUPTED | EventKind.JOB_SKIPPED)
    first.open()
    first.process_due()
    first.emit("order", {"id": 42})
    assert sorted(request.job_id for request in queue.taken) == ["confirm", "load"]
    first.shutdown()
    assert ended == []
    assert ran("load") == ran("confirm") == []

    again = _store(kind, tmp_path, request)
    second = _scheduler(again, FakeClock(T0 + timedelta(minutes=1)), queued=InlineExecutor())
    second.open()
    advance(second, 1)
    outcomes = sorted((run.job_id, run.outcome, run.attempt) for run in second.history())
    second.shutdown()
    # Each once, with its upstream runs and its event.
    assert [(run[1], run[3]) for run in RUNS if run[0] == "load"] == [(T0, {"extract": "extract"})]
    assert [(run[2], run[3]) for run in RUNS if run[0] == "confirm"] == [({"id": 42}, {})]
    assert outcomes == [
        ("confirm", Outcome.SUCCESS, 1),
        ("extract", Outcome.SUCCESS, 1),
        ("load", Outcome.SUCCESS, 1),
    ]
