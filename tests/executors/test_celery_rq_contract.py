"""Runs handed to a task queue behave as local runs do: one suite, over Celery and RQ.

Each queue's real worker process (a Celery worker with the threads pool, an RQ simple
worker) is started once per module, on a queue of its own on the tests' Redis. The
tests hand runs to it through a ``Scheduler`` and read what came back: events,
``history()``, return values, ``current_run()`` inside the task, tickwork's retries,
errors for bad input; and that a second delivery of one run does not run it twice.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tickwork import EventKind, Outcome, RetryPolicy, Scheduler, SchedulerState
from tickwork._errors import RemoteJobError, SerializationError
from tickwork._model import UnkeptReturn
from tickwork.executors import CeleryExecutor, QueueExecutor, RQExecutor
from tickwork.executors._worker import task_id_of

from . import queues


class Make:
    """Makes executors for the module's worker (which it keeps, to read its log)."""

    def __init__(self, make: Callable[[], QueueExecutor], worker: queues.Worker) -> None:
        self.make = make
        self.worker = worker

    def __call__(self) -> QueueExecutor:
        return self.make()


@pytest.fixture(scope="module", params=["celery", "rq"])
def make_executor(request: pytest.FixtureRequest) -> Iterator[Make]:
    queues.require_redis()
    queue = queues.unique(f"tw-{request.param}")
    if request.param == "celery":
        from celery import Celery

        app = Celery("tickwork_tests", broker=queues.REDIS, backend=queues.REDIS)
        with queues.celery_worker(queue) as worker:
            yield Make(lambda: CeleryExecutor(app, queue=queue), worker)
        queues.close_app(app)
    else:
        import redis

        connection = redis.Redis.from_url(queues.REDIS)
        with queues.rq_worker(queue) as worker:
            yield Make(lambda: RQExecutor(connection, queue=queue), worker)
        connection.close()


class Ran(queues.Events):
    """A scheduler with one queue executor, and the events it fired."""

    def __init__(self, executor: QueueExecutor) -> None:
        self.scheduler = Scheduler(timezone="UTC", executors={"queue": executor})
        super().__init__(self.scheduler)


@pytest.fixture
def ran(make_executor: Make) -> Iterator[Ran]:
    running = Ran(make_executor())
    yield running
    if running.scheduler.state is not SchedulerState.SHUTDOWN:
        running.scheduler.shutdown(wait=True)


def now() -> datetime:
    return datetime.now(timezone.utc)


def test_a_run_returns_its_value_into_events_and_history(ran: Ran) -> None:
    job = ran.scheduler.add_job(
        "tests.executors.queue_jobs:add", "date", run_date=now(), args=[2, 3],
        executor="queue", id=queues.unique("add"),
    )  # fmt: skip
    ran.scheduler.start()
    (event,) = ran.wait(EventKind.JOB_EXECUTED)
    assert event.return_value == 5
    assert event.job_id == job.id
    (row,) = [r for r in ran.scheduler.history() if r.job_id == job.id]
    assert row.outcome is Outcome.SUCCESS
    assert row.started_at is not None
    assert row.finished_at is not None
    assert row.scheduled_at <= row.started_at <= row.finished_at


def test_the_fluent_api_picks_the_queue_executor_by_its_options(ran: Ran) -> None:
    job = (
        ran.scheduler.every(0.2)
        .seconds.options(executor="queue", id=queues.unique("fluent"), remaining_runs=1)
        .do("tests.executors.queue_jobs:add", 40, 2)
    )
    assert job.executor == "queue"
    ran.scheduler.start()
    (event,) = ran.wait(EventKind.JOB_EXECUTED)
    assert event.return_value == 42
    (row,) = [r for r in ran.scheduler.history() if r.job_id == job.id]
    # Run on the worker: its start time came back from there.
    assert row.started_at is not None


def test_current_run_inside_the_task_is_the_runs(ran: Ran) -> None:
    at = now()
    job = ran.scheduler.add_job(
        "tests.executors.queue_jobs:run_id", "date", run_date=at, executor="queue",
        id=queues.unique("ctx"),
    )  # fmt: skip
    ran.scheduler.start()
    (event,) = ran.wait(EventKind.JOB_EXECUTED)
    assert event.return_value == f"{job.id}@{at.isoformat().replace('+00:00', 'Z')}#1"


def test_a_failure_carries_the_exception_text(ran: Ran) -> None:
    ran.scheduler.add_job(
        "tests.executors.queue_jobs:fail", "date", run_date=now(), args=["no paper"],
        executor="queue", id=queues.unique("fail"),
    )  # fmt: skip
    ran.scheduler.start()
    (event,) = ran.wait(EventKind.JOB_FAILED)
    assert isinstance(event.exception, RemoteJobError)
    assert event.exception.error_type == "ValueError" or event.exception.error_type.endswith(
        ".ValueError"
    )
    assert "no paper" in str(event.exception)
    assert "Traceback" in event.exception.remote_traceback
    (row,) = [r for r in ran.scheduler.history() if r.job_id == event.job_id]
    assert row.outcome is Outcome.FAILURE
    assert "no paper" in (row.error_message or "")


def test_tickworks_retry_policy_sends_the_next_attempt(ran: Ran, tmp_path: Path) -> None:
    marker = tmp_path / "attempts"
    ran.scheduler.add_job(
        "tests.executors.queue_jobs:fail_first", "date", run_date=now(),
        args=[str(marker)], executor="queue", id=queues.unique("retry"),
        retry=RetryPolicy(attempts=2, delay=0.0, jitter=0.0),
    )  # fmt: skip
    ran.scheduler.start()
    (event,) = ran.wait(EventKind.JOB_EXECUTED)
    assert event.return_value == 2
    assert len(ran.of(EventKind.JOB_RETRIED)) == 1
    assert marker.read_text().split() == ["1", "2"]
    rows = sorted(
        (r for r in ran.scheduler.history() if r.job_id == event.job_id), key=lambda r: r.attempt
    )
    assert [(r.attempt, r.outcome) for r in rows] == [(1, Outcome.FAILURE), (2, Outcome.SUCCESS)]


def test_a_value_json_cannot_hold_is_a_success_not_kept_as_locally(
    ran: Ran, tmp_path: Path
) -> None:
    notes = tmp_path / "ran"
    job = ran.scheduler.add_job(
        "tests.executors.queue_jobs:a_set", "date", run_date=now(), args=[str(notes)],
        executor="queue", id=queues.unique("set"),
        retry=RetryPolicy(attempts=2, delay=0.0, jitter=0.0),
    )  # fmt: skip
    ran.scheduler.start()
    (event,) = ran.wait(EventKind.JOB_EXECUTED)
    ran.scheduler.shutdown(wait=True)
    # The value stayed on the worker; the run is not failed (nor retried) for it.
    assert isinstance(event.return_value, UnkeptReturn)
    assert event.return_value.type_name == "set"
    assert not ran.of(EventKind.JOB_FAILED)
    assert not ran.of(EventKind.JOB_RETRIED)
    (row,) = [r for r in ran.scheduler.history() if r.job_id == job.id]
    assert (row.outcome, row.return_value, row.return_kept) == (Outcome.SUCCESS, None, False)
    assert len(notes.read_text().splitlines()) == 1


def test_a_reference_the_worker_cannot_import_fails_with_the_reason(
    ran: Ran, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A module only the scheduler's process can import: the worker lacks it.
    name = queues.unique("only_here").replace("-", "_")
    (tmp_path / f"{name}.py").write_text("def job():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ran.scheduler.add_job(
        f"{name}:job", "date", run_date=now(), executor="queue", id=queues.unique("imp")
    )
    ran.scheduler.start()
    (event,) = ran.wait(EventKind.JOB_FAILED)
    assert "could not import" in str(event.exception)
    assert name in str(event.exception)
    # tickwork's own error, named as a local run's history names it (where users
    # import it from), not by its private module (tickwork._errors.JobLookupError).
    assert event.exception.error_type == "tickwork.JobLookupError"
    (row,) = [r for r in ran.scheduler.history() if r.job_id == event.job_id]
    assert row.error_type == "tickwork.JobLookupError"
    sys.modules.pop(name, None)


def test_arguments_that_are_not_json_are_refused_at_add_job(ran: Ran) -> None:
    with pytest.raises(SerializationError, match="JSON"):
        ran.scheduler.add_job(
            "tests.executors.queue_jobs:add", "date", run_date=now(), args=[object(), 1],
            executor="queue",
        )  # fmt: skip


def test_a_function_without_a_reference_is_refused_at_add_job(ran: Ran) -> None:
    with pytest.raises(SerializationError, match="lambda"):
        ran.scheduler.add_job(lambda: 1, "date", run_date=now(), executor="queue")


def test_a_second_delivery_of_one_run_does_not_run_it_again(
    make_executor: Make, tmp_path: Path
) -> None:
    executor = make_executor()
    path = tmp_path / "ran"
    from tickwork._model import RunRequest

    request = RunRequest(
        0, queues.unique("dup"), None, "tests.executors.queue_jobs:note_run", (str(path),),
        {}, now(), 1,
    )  # fmt: skip
    task = executor.task_for(request)
    assert task.task_id == task_id_of(request.job_id, request.scheduled_at, 1)
    executor.enqueuer.send([task])
    assert queues.wait_for(lambda: task.task_id in executor.enqueuer.results([task.task_id]))
    first = dict(executor.enqueuer.results([task.task_id])[task.task_id])
    executor.enqueuer.send([task])  # the broker delivers it again (or a re-send)
    # The second delivery ends with the first one's outcome (RQ keeps the second
    # one's, marked; Celery's backend keeps the first), and nothing ran again.
    dropped = f"task {task.task_id} was delivered again"
    assert queues.wait_for(
        lambda: (
            any(dropped in line for line in make_executor.worker.lines)
            or executor.enqueuer.results([task.task_id]).get(task.task_id, {}).get("duplicate")
            or path.read_text().count("\n") > 1
        ),
        limit=10,
    )
    second = executor.enqueuer.results([task.task_id])[task.task_id]
    assert path.read_text().splitlines() == [first["value"]]
    assert second["value"] == first["value"]
    assert second["started_at"] == first["started_at"]


def test_a_task_expires_at_nominal_time_plus_grace(make_executor: Make) -> None:
    executor = make_executor()
    from tickwork._model import RunRequest

    at = now() - timedelta(minutes=1)
    request = RunRequest(
        0, "late", None, "tests.executors.queue_jobs:add", (1, 2), {}, at, 1,
        misfire_grace=timedelta(seconds=30),
    )  # fmt: skip
    assert executor.task_for(request).expires == at + timedelta(seconds=30)
    assert executor.task_for(request._replace(misfire_grace=None)).expires is None


def test_max_instances_counts_runs_out_on_workers(ran: Ran) -> None:
    ran.scheduler.add_job(
        "tests.executors.queue_jobs:slow", "interval", seconds=0.1, args=[0.6],
        executor="queue", id=queues.unique("slow"), max_instances=1,
    )  # fmt: skip
    ran.scheduler.start()
    ran.wait(EventKind.JOB_SKIPPED, count=2)
    ran.wait(EventKind.JOB_EXECUTED)
    ran.scheduler.shutdown(wait=True)
    # While the first run was out, the fires were skipped, never sent alongside it.
    executed = ran.of(EventKind.JOB_EXECUTED)
    starts = sorted(event.started_at for event in executed)
    for earlier, later in itertools.pairwise(starts):
        assert later - earlier >= timedelta(seconds=0.55)


def test_current_run_on_the_worker_has_the_event_that_started_the_run(ran: Ran) -> None:
    from tickwork import EventTrigger

    job = ran.scheduler.add_job(
        "tests.executors.queue_jobs:context", EventTrigger("order.created"),
        executor="queue", id=queues.unique("on-event"),
    )  # fmt: skip
    ran.scheduler.start()
    emitted = ran.scheduler.emit("order.created", {"order": 7, "lines": [1, 2]})
    (event,) = ran.wait(EventKind.JOB_EXECUTED)
    assert event.job_id == job.id
    seen = event.return_value
    assert seen["event"] == [
        emitted.id, "order.created", {"order": 7, "lines": [1, 2]},
        emitted.emitted_at.isoformat(),
    ]  # fmt: skip
    assert seen["upstream"] == {}


def test_current_run_on_the_worker_has_the_upstream_runs_of_a_chained_job(ran: Ran) -> None:
    upstream = queues.unique("up")
    ran.scheduler.add_job(
        "tests.executors.queue_jobs:add", "date", run_date=now(), args=[40, 2],
        executor="queue", id=upstream,
    )  # fmt: skip
    ran.scheduler.add_job(
        "tests.executors.queue_jobs:context", after=upstream, executor="queue",
        id=queues.unique("down"),
    )  # fmt: skip
    ran.scheduler.start()
    first, second = ran.wait(EventKind.JOB_EXECUTED, count=2)
    assert first.job_id == upstream
    (up,) = [r for r in ran.scheduler.history() if r.job_id == upstream]
    assert second.return_value["upstream"] == {upstream: [up.run_id, "success", 42, None]}
    assert second.return_value["event"] is None
