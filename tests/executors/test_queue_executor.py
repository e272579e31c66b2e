"""QueueExecutor over an enqueuer the test controls, and the worker-side guard on Redis:
task ids, expiry, outcomes turned into results, a broker that refuses a batch, re-sends
of runs with no outcome, shutdown with runs out, and the guard's lease rules."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tickwork import JobTimeout, Outcome, Scheduler, SerializationError, WorkerDied
from tickwork._errors import RemoteJobError
from tickwork._model import (
    EmittedEvent,
    RunRequest,
    RunResult,
    UnkeptReturn,
    Upstream,
    request_for,
)
from tickwork.executors import CeleryExecutor, Enqueuer, QueuedTask, QueueExecutor
from tickwork.executors._queue import result_of
from tickwork.executors._worker import (
    RedisGuard,
    message_of,
    outcome_of,
    run_guarded,
    task_id_of,
)
from tickwork.stores import SQLiteStore
from tickwork.stores._history import encode_return
from tickwork.testing import FakeClock

from . import queues

AT = datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc)


class Recorder:
    """An enqueuer that keeps what it is sent and answers with what the test sets."""

    def __init__(self) -> None:
        self.sent: list[QueuedTask] = []
        self.outcomes: dict[str, Mapping[str, Any]] = {}
        self.refuse: Exception | None = None
        self.closed = False
        self.changed = threading.Condition()

    def send(self, tasks: Sequence[QueuedTask]) -> None:
        if self.refuse is not None:
            raise self.refuse
        with self.changed:
            self.sent.extend(tasks)
            self.changed.notify_all()

    def results(self, task_ids: Sequence[str]) -> Mapping[str, Mapping[str, Any]]:
        return {i: self.outcomes[i] for i in task_ids if i in self.outcomes}

    def close(self) -> None:
        self.closed = True

    def wait_sent(self, count: int) -> list[QueuedTask]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.sent) >= count, 5), self.sent
            return list(self.sent)


class Results:
    def __init__(self) -> None:
        self.results: list[RunResult] = []
        self.changed = threading.Condition()

    def __call__(self, result: RunResult) -> None:
        with self.changed:
            self.results.append(result)
            self.changed.notify_all()

    def wait(self, count: int) -> list[RunResult]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.results) >= count, 5), self.results
            return list(self.results)


def request(job_id: str = "report", attempt: int = 1, **changes: Any) -> RunRequest:
    base = RunRequest(0, job_id, None, "tests.executors.queue_jobs:add", (1, 2), {}, AT, attempt)
    return base._replace(**changes)


def started(enqueuer: Recorder, **options: Any) -> tuple[QueueExecutor, Results]:
    executor = QueueExecutor(enqueuer, poll_interval=0.005, **options)
    results = Results()
    executor.start(results, FakeClock(AT))
    return executor, results


def test_the_task_id_is_the_same_for_the_same_run_in_any_zone_and_differs_per_attempt() -> None:
    paris = AT.astimezone(ZoneInfo("Europe/Paris"))
    assert task_id_of("report", AT, 1) == task_id_of("report", paris, 1)
    assert task_id_of("report", AT, 1) == str(
        uuid.uuid5(
            uuid.UUID("6d1c7f38-4a1e-5b8e-9f0a-7ac2a1e0b5d3"), "report@2026-03-29T01:30:00Z#1"
        )
    )
    ids = {task_id_of("report", AT, 1), task_id_of("report", AT, 2)}
    ids |= {task_id_of("other", AT, 1), task_id_of("report", AT + timedelta(seconds=1), 1)}
    assert len(ids) == 4


def test_a_run_is_sent_with_its_id_message_and_expiry_and_its_outcome_reported() -> None:
    enqueuer = Recorder()
    executor, results = started(enqueuer)
    executor.submit(request(misfire_grace=timedelta(seconds=90), timeout=5.0))
    (task,) = enqueuer.wait_sent(1)
    assert task.task_id == task_id_of("report", AT, 1)
    assert task.expires == AT + timedelta(seconds=90)
    assert task.timeout == 5.0
    assert task.message["ref"] == "tests.executors.queue_jobs:add"
    assert task.message["args"] == [1, 2]
    assert task.message["scheduled_at"] == AT.isoformat()
    assert executor.out() == 1
    enqueuer.outcomes[task.task_id] = {
        "ok": True, "value": 3, "started_at": "2026-03-29T01:30:00.004000+00:00",
        "finished_at": "2026-03-29T01:30:00.009000+00:00",
    }  # fmt: skip
    (result,) = results.wait(1)
    assert result.outcome is Outcome.SUCCESS
    assert result.return_value == 3
    assert result.started_at == AT + timedelta(milliseconds=4)
    assert executor.out() == 0
    executor.shutdown()
    assert enqueuer.closed


@pytest.mark.parametrize("resend_after", [None, 30.0])
def test_a_broker_that_refuses_the_batch_gets_each_run_reported_interrupted(
    resend_after: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (With re-sends, after trying again for UNSENT_FOR seconds.)
    from tickwork.executors import _queue

    monkeypatch.setattr(_queue, "UNSENT_FOR", 0.2)
    enqueuer = Recorder()
    enqueuer.refuse = ConnectionError("broker at redis://nowhere refused")
    executor, results = started(enqueuer, resend_after=resend_after)
    executor.submit_many([request("a"), request("b")])
    done = results.wait(2)
    assert {r.request.job_id for r in done} == {"a", "b"}
    assert all(r.outcome is Outcome.INTERRUPTED for r in done)
    assert all("refused" in str(r.exception) for r in done)
    assert executor.out() == 0
    executor.shutdown()


def test_a_refused_send_that_reached_the_broker_is_recorded_as_it_ran() -> None:
    # A Redis pipeline cut off midway raised, and the message had been delivered: the
    # run was reported INTERRUPTED while a worker ran it (a broker-restart test saw one).
    # It stays out: its outcome is looked for, and it is sent again until a send gets
    # through (the worker's guard runs one delivery).
    enqueuer = Recorder()
    enqueuer.refuse = ConnectionError("Redis publish batch failed; delivery is uncertain")
    executor, results = started(enqueuer)
    executor.submit(request("a"))
    task_id = task_id_of("a", AT, 1)
    threading.Event().wait(0.05)
    assert executor.out() == 1
    assert results.results == []
    enqueuer.outcomes[task_id] = {"ok": True, "value": 3}  # (a worker ran it after all)
    (result,) = results.wait(1)
    assert result.outcome is Outcome.SUCCESS
    assert executor.out() == 0
    # Refused, then taken by the broker on a later try: sent again, then collected.
    enqueuer.refuse = ConnectionError("broker restarting")
    executor.submit(request("b", attempt=1, scheduled_at=AT + timedelta(seconds=1)))
    threading.Event().wait(0.05)
    enqueuer.refuse = None
    (task,) = enqueuer.wait_sent(1)
    assert task.message["job_id"] == "b"
    assert executor.sent() == 1
    enqueuer.outcomes[task.task_id] = {"ok": True, "value": 4}
    assert [r.outcome for r in results.wait(2)] == [Outcome.SUCCESS] * 2
    executor.shutdown()


def test_arguments_that_are_not_json_fail_that_run_only() -> None:
    enqueuer = Recorder()
    executor, results = started(enqueuer)
    executor.submit_many([request("bad", args=(object(),)), request("good")])
    (failed,) = results.wait(1)
    assert failed.request.job_id == "bad"
    assert isinstance(failed.exception, SerializationError)
    assert [task.message["job_id"] for task in enqueuer.wait_sent(1)] == ["good"]
    executor.shutdown(wait=False)


def test_an_event_or_upstream_value_that_is_not_json_fails_that_run_naming_it() -> None:
    enqueuer = Recorder()
    executor, results = started(enqueuer)
    event = EmittedEvent(id="e1", name="order.created", payload={1, 2}, emitted_at=AT)
    upstream = {"extract": Upstream(job_id="extract", run_id="x", outcome=Outcome.SUCCESS,
                                    return_value=object())}  # fmt: skip
    executor.submit_many(
        [request("on-event", event=event), request("chained", upstream=upstream), request("ok")]
    )
    failed = {r.request.job_id: r for r in results.wait(2)}
    assert all(r.outcome is Outcome.FAILURE for r in failed.values())
    text = str(failed["on-event"].exception)
    assert isinstance(failed["on-event"].exception, SerializationError)
    assert "'on-event'" in text, text
    assert "payload of its event 'order.created'" in text, text
    text = str(failed["chained"].exception)
    assert "'chained'" in text, text
    assert "upstream job 'extract'" in text, text
    assert [task.message["job_id"] for task in enqueuer.wait_sent(1)] == ["ok"]
    executor.shutdown(wait=False)


def test_the_event_and_upstream_runs_travel_to_the_worker_as_json() -> None:
    event = EmittedEvent(id="e1", name="order.created", payload={"n": [1]}, emitted_at=AT)
    upstream = {
        "extract": Upstream(job_id="extract", run_id="extract@x#1", outcome=Outcome.SUCCESS,
                            return_value={"rows": 2}),
        "check": Upstream(job_id="check", run_id="check@x#2", outcome=Outcome.FAILURE,
                          error="ValueError: bad"),
    }  # fmt: skip
    sent = request(func_ref="tests.executors.queue_jobs:context", args=(), event=event,
                   upstream=upstream)  # fmt: skip
    message = json.loads(json.dumps(QueueExecutor(Recorder()).task_for(sent).message))
    outcome = run_guarded("t", message, None)
    assert outcome["ok"], outcome
    assert outcome["value"] == {
        "run_id": "report@2026-03-29T01:30:00Z#1",
        "event": ["e1", "order.created", {"n": [1]}, AT.isoformat()],
        "upstream": {
            "extract": ["extract@x#1", "success", {"rows": 2}, None],
            "check": ["check@x#2", "failure", None, "ValueError: bad"],
        },
    }
    # A run with neither sends neither.
    plain = QueueExecutor(Recorder()).task_for(request()).message
    assert "event" not in plain
    assert "upstream" not in plain


def test_a_worker_does_not_start_a_run_past_its_misfire_grace() -> None:
    # A queue that does not drop an expired task itself (Celery's threads pool ran a
    # prefetched one 2 s late, past a 0.5 s grace, and it was recorded a success): the
    # worker checks the expiry the message carries, and reports it expired.
    executor = QueueExecutor(Recorder())
    late = request(scheduled_at=datetime.now(timezone.utc) - timedelta(seconds=2),
                   misfire_grace=timedelta(seconds=0.5))  # fmt: skip
    message = json.loads(json.dumps(executor.task_for(late).message))
    outcome = run_guarded("t", message, None)
    assert outcome["expired"] is True
    assert "misfire_grace_time" in outcome["error"]
    result = result_of(late, outcome, AT)
    assert result.outcome is Outcome.INTERRUPTED
    in_time = late._replace(misfire_grace=timedelta(seconds=60))
    assert run_guarded("t", executor.task_for(in_time).message, None)["ok"] is True
    assert "expires" not in executor.task_for(late._replace(misfire_grace=None)).message


def test_a_run_with_no_outcome_is_sent_again_with_the_same_id_then_less_often() -> None:
    enqueuer = Recorder()
    executor, results = started(enqueuer, resend_after=0.05)
    executor.submit(request())
    sent = enqueuer.wait_sent(3)
    assert {task.task_id for task in sent} == {task_id_of("report", AT, 1)}
    enqueuer.outcomes[sent[0].task_id] = {"ok": True, "value": 3}
    results.wait(1)
    count = len(enqueuer.sent)
    executor.shutdown()
    # The waits double (0.05, 0.1, 0.2 s...): three sends took at least 0.15 s.
    assert count <= 6
    assert results.results[0].outcome is Outcome.SUCCESS


def test_shutdown_reports_runs_still_out_interrupted_after_its_timeout() -> None:
    enqueuer = Recorder()
    executor, results = started(enqueuer)
    executor.submit(request())
    enqueuer.wait_sent(1)
    executor.shutdown(wait=True, timeout=0.05)
    (result,) = results.results
    assert result.outcome is Outcome.INTERRUPTED
    assert "still out on a worker" in str(result.exception)


@pytest.mark.parametrize(
    ("outcome", "kind", "words"),
    [
        ({"ok": False, "error_type": "builtins.ValueError", "error": "no paper",
          "traceback": "Traceback..."}, RemoteJobError,
         "raised builtins.ValueError on a worker: no paper"),
        ({"ok": False, "error_type": "tickwork.JobTimeout", "error": "timed out after 1 s"},
         JobTimeout, "timed out after 1 s"),
        ({"ok": False, "error_type": "tickwork.WorkerDied", "error": "SIGKILL"},
         WorkerDied, "died: SIGKILL"),
    ],
)  # fmt: skip
def test_failed_outcomes_become_the_matching_errors(
    outcome: dict[str, Any], kind: type[BaseException], words: str
) -> None:
    result = result_of(request(), outcome, AT)
    assert result.outcome is Outcome.FAILURE
    assert isinstance(result.exception, kind)
    assert words in str(result.exception)


def test_an_expired_task_is_reported_interrupted() -> None:
    outcome = {"ok": False, "expired": True, "error": "expired before a worker started it"}
    result = result_of(request(), outcome, AT)
    assert result.outcome is Outcome.INTERRUPTED
    assert "expired" in str(result.exception)


def test_bad_arguments_are_refused_with_what_was_expected() -> None:
    with pytest.raises(TypeError, match="Enqueuer"):
        QueueExecutor(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="poll_interval"):
        QueueExecutor(Recorder(), poll_interval=0)
    with pytest.raises(ValueError, match="resend_after"):
        QueueExecutor(Recorder(), resend_after=-1)
    with pytest.raises(TypeError, match=r"celery\.Celery app"):
        CeleryExecutor("redis://localhost")
    assert isinstance(Recorder(), Enqueuer)


def test_a_value_json_cannot_hold_comes_back_as_a_success_not_kept() -> None:
    message = message_of(request(func_ref="tests.executors.queue_jobs:a_set", args=()), "?")
    message["ref"] = "tests.executors.queue_jobs:a_set"
    outcome = outcome_of(message)
    # Only the value's type travels back, as JSON.
    assert (outcome["ok"], outcome["value"], outcome["unkept"]) == (True, None, "set")
    assert json.loads(json.dumps(outcome)) == outcome
    result = result_of(request(), outcome, AT)
    assert result.outcome is Outcome.SUCCESS
    assert isinstance(result.return_value, UnkeptReturn)
    assert "set" in repr(result.return_value)
    # The history keeps it as it keeps a set returned locally: not kept, the type named.
    assert encode_return(result.return_value) == encode_return({1, 2}) == '{"unkept":"set"}'


def test_a_celery_task_is_a_job_function_and_its_body_is_refused_naming_it(
    tmp_path: Any,
) -> None:
    from . import celery_tasks

    executor = CeleryExecutor(celery_tasks.app, task="tickwork_tests.tasks.double")
    store = SQLiteStore(tmp_path / "jobs.db")
    scheduler = Scheduler(timezone="UTC", store=store, executors={"celery": executor})
    try:
        for task in (celery_tasks.double, celery_tasks.plain):
            job = scheduler.add_job(task, "date", run_date=AT, args=[2], executor="celery",
                                    paused=True)  # fmt: skip
            assert job.func_ref == f"tests.executors.celery_tasks:{task.__qualname__}"
            assert executor.task_for(request_for(0, job, AT, 1)).message["ref"] == job.func_ref
        for task in (celery_tasks.double, celery_tasks.plain):
            reference = f"tests.executors.celery_tasks:{task.__qualname__}"
            with pytest.raises(SerializationError) as caught:
                scheduler.add_job(task.run, "date", run_date=AT, args=[2], executor="celery")
            assert str(caught.value) == (
                f"job function tests.executors.celery_tasks.{task.__qualname__} is the body of "
                f"the Celery task {task.name!r} (importing {reference!r} gives the task, not "
                f"this function): give the task itself, or its reference {reference!r}"
            )
        # Any other function without a reference: the advice is the queue's own.
        with pytest.raises(SerializationError, match="task queue's workers import") as lambdas:
            scheduler.add_job(lambda: 1, "date", run_date=AT, executor="celery")
        assert "process executor" not in str(lambdas.value)
    finally:
        scheduler.shutdown()


@pytest.mark.parametrize(
    ("args", "kwargs", "problem"),
    [
        ([(1, 2)], {}, "args[0] is a tuple: JSON keeps it as a list; pass a list"),
        ([], {"k": {2: [3]}}, "kwargs['k'] has the key 2 (int): JSON object keys are strings"),
        ([[float("nan")]], {}, "args[0][0] is nan: NaN and infinities are not JSON numbers"),
        ([], {"k": float("inf")}, "kwargs['k'] is inf: NaN and infinities are not JSON"),
    ],
)
def test_arguments_json_would_change_are_refused_at_add_job_as_the_stores_refuse_them(
    tmp_path: Any, args: list[Any], kwargs: dict[str, Any], problem: str
) -> None:
    from . import celery_tasks

    # The store's own refusal, for comparison: the same words.
    stored = Scheduler(timezone="UTC", store=SQLiteStore(tmp_path / "jobs.db"))
    with pytest.raises(SerializationError, match=re.escape(problem)):
        stored.add_job("tests.executors.queue_jobs:take", "date", run_date=AT, args=args,
                       kwargs=kwargs)  # fmt: skip
    stored.shutdown()
    # A task queue sends the arguments as JSON whatever the store (the memory store of
    # the quick start too): the worker would get a list for the tuple, "2" for 2.
    queued = Scheduler(timezone="UTC", executors={"celery": CeleryExecutor(celery_tasks.app)})
    with pytest.raises(SerializationError, match=re.escape(problem)) as caught:
        queued.add_job("tests.executors.queue_jobs:take", "date", run_date=AT, args=args,
                       kwargs=kwargs, executor="celery")  # fmt: skip
    assert "pickle" not in str(caught.value)  # (a pickled store does not help the queue)
    assert queued.get_jobs() == []
    queued.shutdown()
    # Every queue's executor (RQ's too) checks the same way.
    take = "tests.executors.queue_jobs:take"
    with pytest.raises(SerializationError, match=re.escape(problem)):
        QueueExecutor(Recorder()).check(None, take, tuple(args), kwargs)


def test_a_function_of_the_main_script_is_refused_at_add_job() -> None:
    executor = QueueExecutor(Recorder())
    with pytest.raises(SerializationError, match="__main__"):
        executor.check(None, "__main__:report", (), {})
    executor.check(None, "tests.executors.queue_jobs:add", (1, 2), {"b": None})


def test_the_guard_runs_a_task_id_once_and_takes_over_a_lapsed_lease(tmp_path: Any) -> None:
    import redis

    queues.require_redis()
    client = redis.Redis.from_url(queues.REDIS)
    guard = RedisGuard(client, lease=0.2, prefix=f"tickwork:test:{uuid.uuid4().hex}:")
    notes = tmp_path / "ran"
    message = {
        "tickwork": 1, "job_id": "g", "scheduled_at": AT.isoformat(), "attempt": 1,
        "ref": "tests.executors.queue_jobs:note_run", "args": [str(notes)], "kwargs": {},
    }  # fmt: skip
    first = run_guarded("t1", message, guard)
    again = run_guarded("t1", message, guard)
    assert first["ok"]
    assert again["duplicate"]
    assert again["value"] == first["value"]
    assert notes.read_text().splitlines() == ["g@2026-03-29T01:30:00Z#1"]
    # A worker that took the lease and died: the next delivery waits for the lease
    # to lapse, then runs the job.
    token, done = guard.acquire("t2")
    assert token
    assert done is None
    assert not guard.renew("t2", "run:someone-else")
    taken = run_guarded("t2", message, guard)
    assert taken["ok"]
    assert notes.read_text().count("\n") == 2
    client.close()


def test_only_the_delivery_that_ran_a_job_hands_its_outcome_on_unless_that_failed(
    tmp_path: Any,
) -> None:
    import redis

    queues.require_redis()
    client = redis.Redis.from_url(queues.REDIS)
    guard = RedisGuard(client, lease=5, prefix=f"tickwork:test:{uuid.uuid4().hex}:")
    message = {
        "tickwork": 1, "job_id": "g", "scheduled_at": AT.isoformat(), "attempt": 1,
        "ref": "tests.executors.queue_jobs:note_run", "args": [str(tmp_path / "ran")],
        "kwargs": {},
    }  # fmt: skip
    calls: list[tuple[str, bool]] = []
    answers = iter([True, False, True])

    def deliver(task_id: str) -> dict[str, Any]:
        def ended(outcome: Mapping[str, Any]) -> bool:
            kept = next(answers)
            calls.append(("end", bool(outcome.get("duplicate"))))
            return kept

        return run_guarded(task_id, message, guard, on_start=lambda: calls.append(("start", False)),
                           on_end=ended)  # fmt: skip

    # Kept by the delivery that ran it: a later one (the outcome collected, its row
    # deleted, by then) neither starts nor hands anything on.
    assert deliver("t1")["ok"]
    assert deliver("t1")["duplicate"]
    assert calls == [("start", False), ("end", False)]
    # Not kept (the store was down): the next delivery hands it on, and once only.
    calls.clear()
    deliver("t2")
    assert "tickwork_unkept" not in deliver("t2")
    deliver("t2")
    assert calls == [("start", False), ("end", False), ("end", True)]
    client.close()


class _Unimported(Exception):
    """A type the test names as if only a worker had it."""


@pytest.mark.parametrize(
    ("remote", "retry_on", "retried"),
    [
        ("builtins.ConnectionError", (ConnectionError,), True),
        ("builtins.ConnectionRefusedError", (ConnectionError,), True),  # (a subclass)
        ("builtins.ValueError", (ConnectionError,), False),
        ("builtins.ValueError", (RuntimeError,), False),  # (RemoteJobError is one)
        ("builtins.ValueError", (Exception,), True),
        ("builtins.ValueError", (RemoteJobError,), True),
        ("nowhere_here.errors.Busy", (Exception,), True),  # (not imported: by name)
        ("nowhere_here.errors.Busy", (ConnectionError,), False),
        (f"{__name__}._Unimported", (_Unimported,), True),
    ],
)
def test_retry_on_matches_a_workers_failure_by_the_type_it_had_there(
    remote: str, retry_on: tuple[type[BaseException], ...], retried: bool
) -> None:
    # Every remote failure came back a RemoteJobError (a RuntimeError): retry_on=
    # (ConnectionError,) never matched it, and (RuntimeError,) matched them all.
    from tickwork import RetryPolicy

    error = result_of(request(), {"ok": False, "error_type": remote, "error": "x"}, AT).exception
    assert isinstance(error, RemoteJobError)
    assert RetryPolicy(retry_on=retry_on).retries(error) is retried


def test_a_workers_connection_error_is_retried_and_recorded_by_its_own_type() -> None:
    from tickwork import RetryPolicy, Scheduler

    enqueuer = Recorder()
    clock = FakeClock(AT)
    executor = QueueExecutor(enqueuer, poll_interval=0.005)
    scheduler = Scheduler(clock=clock, timezone="UTC", executors={"default": executor})
    scheduler.add_job("tests.executors.queue_jobs:add", "interval", hours=1, args=(1, 2),
                      id="sync", retry=RetryPolicy(attempts=2, delay=10, jitter=0,
                                                   retry_on=(ConnectionError,)))  # fmt: skip
    scheduler.open()
    try:
        clock.advance(3600)
        scheduler.process_due()
        (first,) = enqueuer.wait_sent(1)
        enqueuer.outcomes[first.task_id] = {"ok": False, "error_type": "builtins.ConnectionError",
                                            "error": "server busy"}  # fmt: skip
        for _ in range(500):  # (the outcome is taken in at a step, once collected)
            scheduler.process_due()
            if scheduler.history("sync"):
                break
            threading.Event().wait(0.01)
        clock.advance(10)
        scheduler.process_due()
        sent = enqueuer.wait_sent(2)
        assert [task.task_id for task in sent][1] == task_id_of("sync", AT + timedelta(hours=1), 2)
        [run] = scheduler.history("sync")
        assert (run.outcome, run.error_type) == (Outcome.FAILURE, "ConnectionError")
    finally:
        scheduler.shutdown(wait=False)


@pytest.mark.parametrize("name", ["poll_interval", "resend_after"])
@pytest.mark.parametrize(
    ("value", "error"),
    [(0, ValueError), (-1, ValueError), (float("inf"), ValueError), (float("nan"), ValueError),
     (True, TypeError), ("x", TypeError)],
)  # fmt: skip
def test_the_numbers_of_a_queue_executor_are_checked_as_everywhere(
    name: str, value: object, error: type[Exception]
) -> None:
    # poll_interval="x" failed with "'>' not supported between 'str' and 'int'", and
    # True or inf were taken (inf: a collector that never looked).
    with pytest.raises(error, match=name):
        QueueExecutor(Recorder(), **{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["lease", "keep"])
@pytest.mark.parametrize(
    ("value", "error"),
    [(0, ValueError), (-1, ValueError), (float("inf"), ValueError), (float("nan"), ValueError),
     (True, TypeError), ("10", TypeError)],
)  # fmt: skip
def test_the_guards_lease_and_keep_are_checked_naming_them(
    name: str, value: object, error: type[Exception]
) -> None:
    with pytest.raises(error, match=name):
        RedisGuard(object(), **{name: value})  # type: ignore[arg-type]


def test_a_queues_time_limit_on_a_job_without_timeout_does_not_say_after_none_s() -> None:
    # The queue's own limit (RQ's default, a worker's hard limit) with no job timeout:
    # "timed out after None s" said nothing true.
    message = {"tickwork": 1, "job_id": "t", "scheduled_at": AT.isoformat(), "attempt": 1,
               "ref": "operator:truediv", "args": [1, 0], "kwargs": {}}  # fmt: skip
    no_limit = outcome_of({**message, "timeout": None}, (ZeroDivisionError,))
    assert no_limit["error_type"] == "tickwork.JobTimeout"
    assert "None" not in no_limit["error"]
    assert "time limit" in no_limit["error"]
    limited = outcome_of({**message, "timeout": 2}, (ZeroDivisionError,))
    assert "timed out after 2 s" in limited["error"]


def test_a_tickwork_error_on_a_worker_is_named_as_a_local_runs_history_names_it() -> None:
    message = {"tickwork": 1, "job_id": "t", "scheduled_at": AT.isoformat(), "attempt": 1,
               "ref": "tests.executors.no_such_module:job", "args": [], "kwargs": {}}  # fmt: skip
    outcome = outcome_of(message)
    assert outcome["error_type"] == "tickwork.JobLookupError"
    # The same error of a local run: the same name in the history.
    from tickwork._errors import JobLookupError
    from tickwork._model import RunEnd
    from tickwork.stores._history import error_fields

    end = RunEnd("t", AT, 1, Outcome.FAILURE, AT, None, JobLookupError("x"), None, True)
    assert error_fields(end)[0] == outcome["error_type"]


class Started(Recorder):
    """A recorder that knows when a worker started each task (as RQ does)."""

    def __init__(self, at: datetime | None) -> None:
        super().__init__()
        self.at = at

    def started(self, task_ids: Sequence[str]) -> Mapping[str, datetime]:
        return {} if self.at is None else dict.fromkeys(task_ids, self.at)


@pytest.mark.parametrize("known", [None, AT + timedelta(seconds=3)])
def test_shutdown_says_a_run_was_still_out_on_a_worker_not_that_it_never_started(
    known: datetime | None,
) -> None:
    from tickwork import EventKind

    enqueuer = Started(known)
    clock = FakeClock(AT)
    executor = QueueExecutor(enqueuer, poll_interval=0.005)
    scheduler = Scheduler(clock=clock, timezone="UTC", executors={"default": executor})
    interrupted: list[Any] = []
    scheduler.add_listener(interrupted.append, EventKind.JOB_INTERRUPTED)
    scheduler.add_job("tests.executors.queue_jobs:add", "interval", hours=1, args=(1, 2),
                      id="out")  # fmt: skip
    scheduler.open()
    clock.advance(3600)
    scheduler.process_due()
    enqueuer.wait_sent(1)
    scheduler.shutdown(wait=True, timeout=0.05)
    (event,) = interrupted
    assert "never started" not in event.reason
    assert "still out on a worker" in event.reason
    assert "may still" in event.reason
    # The start is recorded when the queue knows it; otherwise it is unknown (None).
    assert event.started_at == known
    (row,) = scheduler.history("out")
    assert row.started_at == known
