"""Celery hand-offs that go wrong on the way: a scheduler killed between the send and
the record, a worker killed mid-task, a broker down at start, restarted mid-load, and
the same hand-off over RabbitMQ. No run lost, none run twice, every failure reported."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tickwork import EventKind, JobTimeout, Outcome, Scheduler, WorkerDied
from tickwork.executors import CeleryExecutor
from tickwork.executors._worker import task_id_of
from tickwork.stores import SQLiteStore

from . import queues


@pytest.fixture(scope="module")
def worker_queue() -> Iterator[str]:
    queues.require_redis()
    queue = queues.unique("tw-recovery")
    with queues.celery_worker(queue):
        yield queue


@pytest.fixture
def app() -> Iterator[queues.CeleryApps]:
    """Makes the test's Celery apps (the scheduler's side), closed after it."""
    apps = queues.CeleryApps()
    yield apps
    apps.close()


def test_a_scheduler_killed_between_send_and_record_loses_nothing_and_runs_nothing_twice(
    worker_queue: str, tmp_path: Path, app: queues.CeleryApps
) -> None:
    db, notes, job_id = tmp_path / "jobs.db", tmp_path / "ran", queues.unique("crash")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(queues.ROOT / "src"), str(queues.ROOT)]))
    died = subprocess.run(
        [sys.executable, "-m", "tests.executors.send_and_die", str(db), worker_queue,
         str(notes), job_id],
        cwd=queues.ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert died.returncode == 9, died.stderr
    assert died.stdout.startswith("sent ")
    # The task reached the worker and ran there, though no scheduler recorded it.
    assert queues.wait_for(lambda: notes.exists() and notes.read_text().count("\n") == 1)
    # The next scheduler on the store takes the dead one's run over and re-sends it:
    # the same task id, which the worker's guard does not run again.
    store = SQLiteStore(db, lease_time=1.0)
    scheduler = Scheduler(
        timezone="UTC",
        store=store,
        executors={"celery": CeleryExecutor(app(), queue=worker_queue)},
    )
    events = queues.Events(scheduler)
    scheduler.start()
    try:
        (executed,) = events.wait(EventKind.JOB_EXECUTED)
    finally:
        scheduler.shutdown()
    assert executed.job_id == job_id
    assert notes.read_text().splitlines() == [executed.return_value]
    rows = [row for row in scheduler.history() if row.job_id == job_id]
    store.close()
    assert [(row.attempt, row.outcome) for row in rows] == [(1, Outcome.SUCCESS)]
    assert not events.of(EventKind.JOB_INTERRUPTED | EventKind.JOB_FAILED)


def test_a_broker_down_at_start_reports_the_run_interrupted_with_the_reason(
    app: queues.CeleryApps, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on port 9 of localhost. (The run is sent again for UNSENT_FOR
    # seconds first: 10 s by default.)
    from tickwork.executors import _queue

    monkeypatch.setattr(_queue, "UNSENT_FOR", 0.5)
    executor = CeleryExecutor(
        app("redis://127.0.0.1:9/0"), queue="nowhere", retry_policy={"max_retries": 0}
    )
    scheduler, events = queues.one_job(
        "celery", executor, "tests.executors.queue_jobs:add", args=[1, 2], job_id="unsent"
    )
    (event,) = queues.run_until(scheduler, events, EventKind.JOB_INTERRUPTED)
    assert event.job_id == "unsent"
    assert "9" in str(event.exception) or "onnect" in str(event.exception)
    (row,) = scheduler.history()
    assert row.outcome is Outcome.INTERRUPTED
    assert not events.of(EventKind.JOB_EXECUTED)


def test_a_worker_killed_mid_task_is_redelivered_and_runs_once_to_completion(
    tmp_path: Path, app: queues.CeleryApps
) -> None:
    queues.require_redis()
    queue = queues.unique("tw-prefork")
    notes = tmp_path / "notes"
    env = {"TICKWORK_TEST_ACKS_LATE": "1", "TICKWORK_TEST_LEASE": "1"}
    with queues.celery_worker(queue, pool="prefork", concurrency=1, env=env) as worker:
        scheduler, events = queues.one_job(
            "celery", CeleryExecutor(app(), queue=queue), "tests.executors.queue_jobs:note",
            args=[str(notes), "one", 1.0], job_id=queues.unique("killed"),
        )  # fmt: skip
        scheduler.start()
        try:
            assert queues.wait_for(lambda: notes.exists() and "start" in notes.read_text())
            pid = int(notes.read_text().split()[2])
            assert pid in worker.children()
            os.kill(pid, signal.SIGKILL)
            (event,) = events.wait(EventKind.JOB_EXECUTED | EventKind.JOB_FAILED, limit=20)
        finally:
            scheduler.shutdown()
    assert event.kind is EventKind.JOB_EXECUTED, event
    lines = notes.read_text().splitlines()
    # Started in the killed process, started again after the lease, ended once.
    assert [line.split()[0] for line in lines] == ["start", "start", "end"]
    rows = scheduler.history()
    assert [(row.attempt, row.outcome) for row in rows] == [(1, Outcome.SUCCESS)]


def test_the_hand_off_works_over_rabbitmq(app: queues.CeleryApps) -> None:
    queues.require_redis()
    queues.require_rabbit()
    queue = queues.unique("tw-amqp")
    with queues.celery_worker(queue, broker=queues.RABBIT):
        scheduler, events = queues.one_job(
            "celery", CeleryExecutor(app(queues.RABBIT), queue=queue),
            "tests.executors.queue_jobs:add", args=[20, 22], job_id=queues.unique("amqp"),
        )  # fmt: skip
        (event,) = queues.run_until(scheduler, events, EventKind.JOB_EXECUTED)
    assert event.return_value == 42


def test_a_timeout_and_a_worker_lost_without_acks_late_are_reported_as_failures(
    tmp_path: Path, app: queues.CeleryApps
) -> None:
    queues.require_redis()
    queue = queues.unique("tw-limits")
    notes = tmp_path / "notes"
    with queues.celery_worker(queue, pool="prefork", concurrency=2) as worker:
        scheduler = Scheduler(
            timezone="UTC", executors={"celery": CeleryExecutor(app(), queue=queue)}
        )
        events = queues.Events(scheduler)
        scheduler.add_job(
            "tests.executors.queue_jobs:slow", "date", run_date=queues.now(), args=[5.0],
            executor="celery", id="too-slow", timeout=0.5,
        )  # fmt: skip
        scheduler.add_job(
            "tests.executors.queue_jobs:note", "date", run_date=queues.now(),
            args=[str(notes), "doomed", 5.0], executor="celery", id="doomed",
        )  # fmt: skip
        scheduler.start()
        try:
            assert queues.wait_for(lambda: notes.exists() and "start" in notes.read_text())
            os.kill(int(notes.read_text().split()[2]), signal.SIGKILL)
            failed = events.wait(EventKind.JOB_FAILED, count=2, limit=20)
        finally:
            scheduler.shutdown()
        assert worker.process.poll() is None  # the worker itself lives on
    by_job = {event.job_id: event.exception for event in failed}
    assert isinstance(by_job["too-slow"], JobTimeout), by_job
    assert isinstance(by_job["doomed"], WorkerDied), by_job
    assert not events.of(EventKind.JOB_EXECUTED)
    outcomes = {row.job_id: row.outcome for row in scheduler.history()}
    assert outcomes == {"too-slow": Outcome.FAILURE, "doomed": Outcome.FAILURE}


def test_a_named_task_keeps_celerys_own_retries_and_reports_its_final_state(
    worker_queue: str, tmp_path: Path, app: queues.CeleryApps
) -> None:
    notes = tmp_path / "tries"
    executor = CeleryExecutor(app(), queue=worker_queue, task="tickwork_tests.flaky")
    scheduler, events = queues.one_job(
        "celery", executor, "tests.executors.queue_jobs:add", args=[str(notes)],
        job_id=queues.unique("flaky"),
    )  # fmt: skip
    (event,) = queues.run_until(scheduler, events, EventKind.JOB_EXECUTED)
    # Celery retried once, inside tickwork's one attempt, and the final state came back.
    assert event.return_value == 1
    assert notes.read_text().split() == ["0", "1"]
    rows = scheduler.history()
    assert [(row.attempt, row.outcome) for row in rows] == [(1, Outcome.SUCCESS)]
    assert not events.of(EventKind.JOB_FAILED | EventKind.JOB_RETRIED)


def test_a_named_tasks_start_comes_from_the_record_that_follows_its_final_state(
    worker_queue: str, app: queues.CeleryApps
) -> None:
    # The worker stores SUCCESS, then waits 0.3 s before tickwork's hook records the
    # outcome with the task's start: the state alone has no start time.
    executor = CeleryExecutor(app(), queue=worker_queue, task="tickwork_tests.recorded_late")
    scheduler, events = queues.one_job(
        "celery", executor, "tests.executors.queue_jobs:add", args=[3],
        job_id=queues.unique("late"),
    )  # fmt: skip
    (event,) = queues.run_until(scheduler, events, EventKind.JOB_EXECUTED)
    assert event.return_value == 3
    (row,) = scheduler.history()
    assert row.started_at is not None
    assert row.finished_at is not None
    assert row.scheduled_at <= row.started_at <= row.finished_at


def test_a_named_task_that_fails_for_good_reports_the_failure_its_worker_recorded(
    worker_queue: str, app: queues.CeleryApps
) -> None:
    from tickwork._errors import RemoteJobError
    from tickwork.executors._celery_outcomes import outcome_key

    celery_app = app()
    executor = CeleryExecutor(celery_app, queue=worker_queue, task="tickwork_tests.hopeless")
    scheduler = Scheduler(timezone="UTC", executors={"celery": executor})
    events = queues.Events(scheduler)
    scheduler.add_job(
        "tests.executors.queue_jobs:fail", "date", run_date=queues.now(), args=["out of ink"],
        executor="celery", id=queues.unique("hopeless"),
    )  # fmt: skip
    scheduler.start()
    try:
        (event,) = events.wait(EventKind.JOB_FAILED)
    finally:
        scheduler.shutdown()
    error = event.exception
    assert isinstance(error, RemoteJobError)
    assert error.error_type == "builtins.ValueError"
    assert "out of ink" in str(error)
    assert "Traceback" in error.remote_traceback
    (sent,) = scheduler.history()
    assert sent.outcome is Outcome.FAILURE
    # From the worker's hook's record (Celery stores its state first: the scheduler
    # waits for the record, which has the last try's start).
    assert sent.started_at is not None
    key = outcome_key(celery_app.backend, task_id_of(sent.job_id, sent.scheduled_at, 1))
    assert queues.wait_for(lambda: celery_app.backend.get(key) is not None, limit=5)
    record = json.loads(celery_app.backend.get(key))
    assert record["error_type"] == "builtins.ValueError"
    assert record["started_at"] is not None
