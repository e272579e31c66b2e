"""RQ workers that run out of time or die: a job's ``timeout`` is RQ's job timeout and
comes back as ``JobTimeout``; a work horse killed mid-run, or a whole worker killed
mid-run, comes back as ``WorkerDied``; a job that expires unstarted as interrupted.
Real ``rq worker`` processes on the tests' Redis."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tickwork import EventKind, JobTimeout, Outcome, WorkerDied
from tickwork.executors import RQExecutor

from . import queues


@pytest.fixture(scope="module")
def connection() -> Iterator[Any]:
    import redis

    queues.require_redis()
    client = redis.Redis.from_url(queues.REDIS)
    yield client
    client.close()


@pytest.fixture(scope="module")
def forking() -> Iterator[tuple[str, queues.Worker]]:
    """A queue served by RQ's forking worker (a work horse per job)."""
    queues.require_redis()
    queue = queues.unique("tw-rq-fork")
    with queues.rq_worker(queue, worker_class="rq.worker.Worker") as worker:
        yield queue, worker
        # (Its warm shutdown on SIGTERM would take seconds: nothing here needs it.)
        os.killpg(worker.process.pid, signal.SIGKILL)


def test_a_jobs_timeout_is_rqs_job_timeout_and_comes_back_as_job_timeout(
    connection: Any, forking: tuple[str, queues.Worker]
) -> None:
    queue, _ = forking
    scheduler, events = queues.one_job(
        "rq", RQExecutor(connection, queue=queue), "tests.executors.queue_jobs:slow",
        args=[5.0], job_id=queues.unique("rq-slow"), timeout=1.0,
    )  # fmt: skip
    (failed,) = queues.run_until(scheduler, events, EventKind.JOB_FAILED, 10, timeout=5)
    assert isinstance(failed.exception, JobTimeout), failed.exception
    assert "timed out" in str(failed.exception)
    (row,) = scheduler.history()
    assert row.outcome is Outcome.FAILURE
    assert not events.of(EventKind.JOB_EXECUTED)


def test_a_work_horse_killed_mid_run_is_reported_as_worker_died(
    connection: Any, forking: tuple[str, queues.Worker], tmp_path: Path
) -> None:
    notes = tmp_path / "notes"
    queue, worker = forking
    scheduler, events = queues.one_job(
        "rq", RQExecutor(connection, queue=queue), "tests.executors.queue_jobs:note",
        args=[str(notes), "horse", 5.0], job_id=queues.unique("rq-horse"),
    )  # fmt: skip
    scheduler.start()
    try:
        started = queues.wait_for(lambda: notes.exists() and "start" in notes.read_text())
        assert started, "".join(worker.lines)
        os.kill(int(notes.read_text().split()[2]), signal.SIGKILL)
        (failed,) = events.wait(EventKind.JOB_FAILED, limit=10)
    finally:
        scheduler.shutdown(timeout=5)
    assert isinstance(failed.exception, WorkerDied), failed.exception
    assert "end" not in notes.read_text()
    (row,) = scheduler.history()
    assert row.outcome is Outcome.FAILURE


def test_a_worker_killed_mid_run_is_reported_as_worker_died_after_its_lease(
    connection: Any, tmp_path: Path
) -> None:
    queues.require_redis()
    queue = queues.unique("tw-rq-killed")
    notes = tmp_path / "notes"
    with queues.rq_worker(queue) as worker:
        scheduler, events = queues.one_job(
            "rq", RQExecutor(connection, queue=queue, lease=1.0),
            "tests.executors.queue_jobs:note", args=[str(notes), "worker", 5.0],
            job_id=queues.unique("rq-dead"),
        )  # fmt: skip
        scheduler.start()
        try:
            assert queues.wait_for(lambda: notes.exists() and "start" in notes.read_text())
            # The simple worker runs the job in its own process: the worker dies with it.
            assert int(notes.read_text().split()[2]) == worker.process.pid
            worker.process.send_signal(signal.SIGKILL)
            (failed,) = events.wait(EventKind.JOB_FAILED, limit=10)
        finally:
            scheduler.shutdown(timeout=5)
    assert isinstance(failed.exception, WorkerDied), failed.exception
    assert "end" not in notes.read_text()
    (row,) = scheduler.history()
    assert row.outcome is Outcome.FAILURE


def test_a_job_that_expires_unstarted_is_reported_interrupted(connection: Any) -> None:
    # No worker serves this queue: the job's RQ ttl (its misfire grace) runs out.
    executor = RQExecutor(connection, queue=queues.unique("tw-rq-nobody"))
    scheduler, events = queues.one_job(
        "rq", executor,
        "tests.executors.queue_jobs:add", args=[1, 2], job_id=queues.unique("rq-late"),
        misfire_grace_time=1,
    )  # fmt: skip
    (interrupted,) = queues.run_until(scheduler, events, EventKind.JOB_INTERRUPTED, 10, timeout=5)
    assert "expired" in str(interrupted.exception)
    (row,) = scheduler.history()
    assert row.outcome is Outcome.INTERRUPTED
    assert executor.out() == 0


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Work-horse terminated unexpectedly; waitpid returned 9 (signal 9); ",
         "tickwork.WorkerDied"),
        ("Moved to FailedJobRegistry, due to AbandonedJobError, at 2026-12-06 10:00:00",
         "tickwork.WorkerDied"),
        ("Traceback ...\nrq.timeouts.JobTimeoutException: Task exceeded maximum timeout value",
         "tickwork.JobTimeout"),
        ("Traceback ...\nValueError: bad", "rq.job.JobFailed"),
    ],
)  # fmt: skip
def test_an_rq_failure_is_read_from_its_exception_text(text: str, kind: str) -> None:
    from tickwork.executors._rq import _failure

    outcome = _failure(text, "failed")
    assert outcome["error_type"] == kind
    assert outcome["error"] == text.strip().splitlines()[-1]


def test_a_job_without_timeout_is_enqueued_with_no_rq_time_limit(connection: Any) -> None:
    # timeout=None is "no limit" (docs/jobs.md): it went as RQ's None, the queue's
    # default of 180 s, and every run longer than 3 minutes failed with JobTimeout.
    from rq.job import Job

    from tickwork.executors import QueuedTask
    from tickwork.executors._rq import RQEnqueuer

    enqueuer = RQEnqueuer(connection, queue=queues.unique("tw-rq-nobody"))
    unlimited, limited = queues.unique("rq-unlimited"), queues.unique("rq-limited")
    message = {"tickwork": 1, "job_id": "j", "ref": "tests.executors.queue_jobs:add"}
    enqueuer.send([QueuedTask(unlimited, message, None, None),
                   QueuedTask(limited, message, None, 1.5)])  # fmt: skip
    try:
        assert Job.fetch(unlimited, connection=connection).timeout == -1  # RQ's "no limit"
        assert Job.fetch(limited, connection=connection).timeout == 2  # (rounded up)
    finally:
        enqueuer.queue.delete(delete_jobs=True)


@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        ({"lease": 0}, ValueError, "lease"),
        ({"lease": -1}, ValueError, "lease"),
        ({"lease": float("inf")}, ValueError, "lease"),
        ({"lease": float("nan")}, ValueError, "lease"),
        ({"lease": True}, TypeError, "lease"),
        ({"lease": "10"}, TypeError, "lease"),
        ({"poll_interval": "x"}, TypeError, "poll_interval"),
        ({"poll_interval": True}, TypeError, "poll_interval"),
        ({"resend_after": float("inf")}, ValueError, "resend_after"),
    ],
)
def test_bad_numbers_are_refused_when_the_executor_is_made(
    options: dict[str, Any], error: type[Exception], words: str
) -> None:
    # (lease=0, -1 or inf was taken, and every run then failed on the worker.)
    import redis

    with pytest.raises(error, match=words):
        RQExecutor(redis.Redis(), **options)


@pytest.mark.parametrize(
    ("connection", "words"),
    [
        ("redis://127.0.0.1:6379/0", r"redis\.Redis\.from_url"),
        (None, r"redis\.Redis client"),
        (object(), r"redis\.Redis client"),
    ],
)
def test_a_connection_that_is_not_a_redis_client_is_refused_naming_what_to_give(
    connection: object, words: str
) -> None:
    # A URL was taken, and each run was lost 10 s later with "'str' object has no
    # attribute 'pipeline'" from RQ's insides.
    with pytest.raises(TypeError, match=words) as caught:
        RQExecutor(connection)
    assert "connection" in str(caught.value)


def test_shutdown_records_when_a_worker_started_a_run_still_out(
    connection: Any, forking: tuple[str, queues.Worker], tmp_path: Path
) -> None:
    notes = tmp_path / "notes"
    queue, _ = forking
    scheduler, events = queues.one_job(
        "rq", RQExecutor(connection, queue=queue), "tests.executors.queue_jobs:note",
        args=[str(notes), "out", 1.0], job_id=queues.unique("rq-out"),
    )  # fmt: skip
    scheduler.start()
    try:
        assert queues.wait_for(lambda: notes.exists() and "start" in notes.read_text())
    finally:
        scheduler.shutdown(timeout=0)
    (event,) = events.of(EventKind.JOB_INTERRUPTED)
    assert "still out on a worker" in event.reason
    (row,) = scheduler.history()
    assert row.started_at is not None
    assert row.scheduled_at <= row.started_at
