"""Outcomes through the job store: ``CeleryExecutor(app, outcomes="store")`` with
workers set up with ``tickwork.celery.setup(app, store=...)``.

A real Celery worker (threads pool) per store, on a queue of its own, with *no result
backend* on either side: the worker writes each run's start and outcome into the
scheduler's store (a SQLite file it shares the host with; a PostgreSQL schema), and
the scheduler's history, events and return values come from there alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tickwork import EventKind, Outcome, RetryPolicy, Scheduler
from tickwork._errors import RemoteJobError
from tickwork.executors import CeleryExecutor
from tickwork.executors._worker import task_id_of
from tickwork.stores import MemoryStore, PostgresStore, QueueOutcomes, SQLiteStore

from .. import pg
from . import queues


class Setup:
    """A worker writing outcomes into a store, and how to open that store here."""

    def __init__(self, kind: str, queue: str, open_store: Any, worker: queues.Worker) -> None:
        self.kind = kind
        self.queue = queue
        self.open_store = open_store
        self.worker = worker
        self.where: Any = None  # the SQLite file, or the PostgreSQL schema

    def rows(self, task_id: str) -> int:
        """How many ``queue_outcomes`` rows *task_id* has, started or ended."""
        if self.kind == "sqlite":
            import sqlite3

            with contextlib.closing(sqlite3.connect(self.where)) as conn:
                sql = "SELECT count(*) FROM queue_outcomes WHERE task_id = ?"
                return int(conn.execute(sql, (task_id,)).fetchone()[0])
        import psycopg

        with psycopg.connect(pg.dsn(), autocommit=True) as conn:
            sql = f"SELECT count(*) FROM {self.where}.queue_outcomes WHERE task_id = %s"
            found = conn.execute(sql, (task_id,)).fetchone()
            return int(found[0]) if found else 0


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def setup(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    queues.require_redis()
    queue = queues.unique(f"tw-store-{request.param}")
    env = {"TICKWORK_TEST_GUARD_URL": queues.REDIS}
    schema = ""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("outcomes") / "jobs.db"
        env["TICKWORK_TEST_OUTCOME_STORE"] = str(path)

        def open_store() -> SQLiteStore:
            return SQLiteStore(path)
    else:
        pg.require()
        schema = queues.unique("tw_outcomes").replace("-", "_")
        env["TICKWORK_TEST_OUTCOME_STORE"] = pg.dsn()
        env["TICKWORK_TEST_OUTCOME_SCHEMA"] = schema

        def open_store() -> PostgresStore:  # type: ignore[misc]
            return PostgresStore(pg.dsn(), schema=schema)

    # (backend="": the worker's app has no result backend.)
    with queues.celery_worker(queue, backend="", env=env) as worker:
        made = Setup(request.param, queue, open_store, worker)
        made.where = schema or path
        yield made
    if schema:
        pg.drop_schema(schema)


@pytest.fixture
def app() -> Iterator[Any]:
    """The scheduler's Celery app: a broker, no result backend."""
    from celery import Celery

    made = Celery("tickwork_tests", broker=queues.REDIS)
    assert type(made.backend).__name__ == "DisabledBackend"
    yield made
    made.close()


def test_outcomes_and_starts_come_back_through_the_store(setup: Setup, app: Any) -> None:
    store = setup.open_store()
    executor = CeleryExecutor(app, queue=setup.queue, outcomes="store")
    scheduler = Scheduler(timezone="UTC", store=store, executors={"celery": executor})
    events = queues.Events(scheduler)
    at = queues.now()
    good = scheduler.add_job(
        "tests.executors.queue_jobs:add", "date", run_date=at, args=[2, 3],
        executor="celery", id=queues.unique("add"),
    )  # fmt: skip
    bad = scheduler.add_job(
        "tests.executors.queue_jobs:fail", "date", run_date=at, args=["no paper"],
        executor="celery", id=queues.unique("fail"),
    )  # fmt: skip
    scheduler.start()
    try:
        (done,) = events.wait(EventKind.JOB_EXECUTED)
        (failed,) = events.wait(EventKind.JOB_FAILED)
        rows = {row.job_id: row for row in scheduler.history()}
    finally:
        scheduler.shutdown(timeout=5)
    assert (done.job_id, done.return_value) == (good.id, 5)
    assert failed.job_id == bad.id
    assert isinstance(failed.exception, RemoteJobError)
    assert failed.exception.error_type == "builtins.ValueError"
    assert "no paper" in str(failed.exception)
    assert "Traceback" in failed.exception.remote_traceback
    assert rows[good.id].outcome is Outcome.SUCCESS
    assert rows[bad.id].outcome is Outcome.FAILURE
    for row in rows.values():
        # Stamped on the worker, carried through the store.
        assert row.started_at is not None
        assert row.finished_at is not None
        assert row.scheduled_at <= row.started_at <= row.finished_at
    # The scheduler deleted the rows it collected.
    ids = [task_id_of(job.id, at, 1) for job in (good, bad)]
    reader = setup.open_store()
    try:
        assert isinstance(reader, QueueOutcomes)
        assert reader.queue_outcomes(ids) == {}
    finally:
        reader.close()


def test_a_run_sent_again_while_it_runs_leaves_no_row_behind(
    setup: Setup, app: Any, tmp_path: Path
) -> None:
    notes = tmp_path / "ran"
    # Re-sent after 0.1 s and 0.3 s while it runs 0.4 s: the guard holds the second and
    # third deliveries until the first ends, then answers them with its outcome.
    executor = CeleryExecutor(app, queue=setup.queue, outcomes="store", resend_after=0.1)
    scheduler = Scheduler(timezone="UTC", store=setup.open_store(), executors={"celery": executor})
    events = queues.Events(scheduler)
    at = queues.now()
    job = scheduler.add_job(
        "tests.executors.queue_jobs:note", "date", run_date=at, args=[str(notes), "t", 0.4],
        executor="celery", id=queues.unique("resent"),
    )  # fmt: skip
    task_id = task_id_of(job.id, at, 1)
    scheduler.start()
    try:
        (done,) = events.wait(EventKind.JOB_EXECUTED)
    finally:
        scheduler.shutdown(timeout=5)
    assert done.return_value == "t"

    def deliveries(word: str) -> int:
        return sum(f"[{task_id}]" in line and word in line for line in setup.worker.lines)

    # Every delivery answered on the worker (the last ones after the scheduler had
    # collected the outcome and deleted its row); the job ran once.
    assert queues.wait_for(lambda: deliveries(" received") >= 2, limit=5)
    assert queues.wait_for(lambda: deliveries(" succeeded") == deliveries(" received"), limit=5)
    assert notes.read_text().split().count("start") == 1
    # No duplicate delivery wrote a row after that, which nothing would ever collect.
    assert setup.rows(task_id) == 0


def test_a_named_tasks_final_outcome_comes_through_the_store(
    setup: Setup, app: Any, tmp_path: Path
) -> None:
    if setup.kind != "sqlite":
        pytest.skip("the worker's hooks are the same for every store: once is enough")
    notes = tmp_path / "tries"
    executor = CeleryExecutor(app, queue=setup.queue, task="tickwork_tests.flaky", outcomes="store")
    scheduler = Scheduler(timezone="UTC", store=setup.open_store(), executors={"celery": executor})
    events = queues.Events(scheduler)
    scheduler.add_job(
        "tests.executors.queue_jobs:add", "date", run_date=queues.now(), args=[str(notes)],
        executor="celery", id=queues.unique("flaky"),
    )  # fmt: skip
    scheduler.start()
    try:
        (event,) = events.wait(EventKind.JOB_EXECUTED)
    finally:
        scheduler.shutdown(timeout=5)
    # Celery retried once (a RETRY is not an end); the success came through the store.
    assert event.return_value == 1
    assert notes.read_text().split() == ["0", "1"]
    assert not events.of(EventKind.JOB_FAILED)


def test_a_value_json_cannot_hold_comes_through_the_store_as_a_success_not_kept(
    setup: Setup, app: Any, tmp_path: Path
) -> None:
    notes = tmp_path / "ran"
    executors = {
        "celery": CeleryExecutor(app, queue=setup.queue, outcomes="store"),
        "named": CeleryExecutor(app, queue=setup.queue, task="tickwork_tests.a_set",
                                outcomes="store"),
    }  # fmt: skip
    scheduler = Scheduler(timezone="UTC", store=setup.open_store(), executors=executors)
    events = queues.Events(scheduler)
    retry = RetryPolicy(attempts=2, delay=0.0, jitter=0.0)
    ids = {queues.unique("set"): "celery", queues.unique("named-set"): "named"}
    for job_id, executor in ids.items():
        scheduler.add_job(
            "tests.executors.queue_jobs:a_set", "date", run_date=queues.now(),
            args=[str(notes)] if executor == "celery" else [], executor=executor,
            id=job_id, retry=retry,
        )  # fmt: skip
    scheduler.start()
    try:
        events.wait(EventKind.JOB_EXECUTED, count=2)
        rows = [row for row in scheduler.history() if row.job_id in ids]
    finally:
        scheduler.shutdown(timeout=5)
    assert not events.of(EventKind.JOB_FAILED)
    assert not events.of(EventKind.JOB_RETRIED)
    assert sorted((r.job_id, r.attempt, r.outcome, r.return_kept) for r in rows) == sorted(
        (job_id, 1, Outcome.SUCCESS, False) for job_id in ids
    )
    assert len(notes.read_text().splitlines()) == 1


def test_outcomes_from_the_store_need_a_store_that_keeps_them(app: Any) -> None:
    executor = CeleryExecutor(app, outcomes="store")
    with pytest.raises(TypeError, match=r"MemoryStore cannot keep them.*SQLiteStore"):
        Scheduler(store=MemoryStore(), executors={"celery": executor})
    with pytest.raises(ValueError, match=r"outcomes must be 'backend'.*got 'redis'"):
        CeleryExecutor(app, outcomes="redis")
    # The default reads the result backend, which this app has not: refused at once
    # (accepted, no run's outcome could be read, and each held its job's instance).
    with pytest.raises(ValueError, match=r"this app has none: give it one .*outcomes='store'"):
        CeleryExecutor(app)


def test_a_task_the_worker_drops_unstarted_has_its_outcome_written_to_the_store(
    setup: Setup, app: Any
) -> None:
    # Expired (Celery discards it before any task code runs), or a task name the worker
    # does not know: with no result backend, only the worker's hooks can tell.
    from tickwork._model import RunRequest

    store = setup.open_store()
    executor = CeleryExecutor(app, queue=setup.queue, outcomes="store", resend_after=None)
    unknown = CeleryExecutor(app, queue=setup.queue, outcomes="store", task="no.such.task")
    try:
        for made in (executor, unknown):
            made.enqueuer.attach_store(store)  # type: ignore[attr-defined]
        at = queues.now() - timedelta(minutes=1)
        late = RunRequest(0, queues.unique("late"), None, "tests.executors.queue_jobs:add",
                          (1, 2), {}, at, 1, misfire_grace=timedelta(seconds=30))  # fmt: skip
        stray = late._replace(job_id=queues.unique("stray"), misfire_grace=None)
        expired, named = executor.task_for(late), unknown.task_for(stray)
        executor.enqueuer.send([expired])
        unknown.enqueuer.send([named])

        found: dict[str, Any] = {}  # (a read takes the outcomes it finds: kept here)

        def both() -> bool:
            found.update(executor.enqueuer.results([expired.task_id]))
            found.update(unknown.enqueuer.results([named.task_id]))
            return len(found) == 2

        assert queues.wait_for(both, limit=10)
        assert found[expired.task_id]["expired"] is True
        assert "expired before a worker started it" in found[expired.task_id]["error"]
        assert found[named.task_id]["error_type"] == "celery.exceptions.NotRegistered"
        assert "'no.such.task'" in found[named.task_id]["error"]
    finally:
        store.close()


def test_the_workers_store_must_be_a_store_a_path_or_a_dsn(tmp_path: Path) -> None:
    from celery import Celery

    import tickwork.celery

    worker_app = Celery("tickwork_tests", broker=queues.REDIS)
    try:
        with pytest.raises(TypeError, match=r"store must be the scheduler's job store.*got 42"):
            tickwork.celery.setup(worker_app, guard=False, store=42)
        task = tickwork.celery.setup(worker_app, guard=False, store=tmp_path / "jobs.db")
        assert task.name == "tickwork.run"
    finally:
        worker_app.close()
