"""The executor contract (``tickwork/executors/_base.py``), checked for every executor."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tickwork._clock import SystemClock
from tickwork._errors import SchedulerStateError
from tickwork._model import Outcome
from tickwork.executors import (
    AsyncioExecutor,
    Executor,
    InlineExecutor,
    ProcessExecutor,
    ThreadExecutor,
)
from tickwork.testing import FakeClock

from . import jobs
from .jobs import Recorder, make_request

# One worker where there are workers, so "the worker survives" means the same worker.
FACTORIES: dict[str, Callable[[], Executor]] = {
    "thread": lambda: ThreadExecutor(max_workers=1),
    "asyncio": AsyncioExecutor,
    "process": lambda: ProcessExecutor(max_workers=1),
    "inline": InlineExecutor,
}


class Harness:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.executor = FACTORIES[kind]()
        self.recorder = Recorder()
        self.executor.start(self.recorder, SystemClock())


@pytest.fixture(params=sorted(FACTORIES))
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    harness = Harness(request.param)
    yield harness
    harness.executor.shutdown(wait=True, timeout=5)


def test_success_is_reported_with_the_return_value(harness: Harness) -> None:
    request = make_request(jobs.add, 2, 3)
    harness.executor.submit(request)
    result = harness.recorder.one()
    assert result.request == request
    assert result.outcome is Outcome.SUCCESS
    assert result.return_value == 5
    assert result.exception is None
    assert result.started_at is not None
    assert result.finished_at is not None
    assert result.started_at <= result.finished_at


def test_failure_is_reported_with_the_exception(harness: Harness) -> None:
    harness.executor.submit(make_request(jobs.fail, "boom"))
    result = harness.recorder.one()
    assert result.outcome is Outcome.FAILURE
    assert isinstance(result.exception, ValueError)
    assert str(result.exception) == "boom"


@pytest.mark.parametrize("func", [jobs.context, jobs.async_context])
def test_current_run_inside_the_job_is_the_request_context(
    harness: Harness, func: Callable[[], object]
) -> None:
    request = make_request(func, job_id="nightly", attempt=2)
    harness.executor.submit(request)
    result = harness.recorder.one()
    assert result.outcome is Outcome.SUCCESS, result.exception
    assert result.return_value == request.context


def test_each_request_is_reported_exactly_once(harness: Harness) -> None:
    requests = [make_request(jobs.add, n, 1) for n in range(200)]
    for request in requests[:50]:
        harness.executor.submit(request)
    harness.executor.submit_many(requests[50:])
    harness.recorder.wait_for(200)
    harness.executor.shutdown(wait=True)  # anything duplicated would have arrived by now
    results = harness.recorder.results
    assert sorted(result.request.run_id for result in results) == sorted(
        request.run_id for request in requests
    )
    assert {result.outcome for result in results} == {Outcome.SUCCESS}
    assert all(result.return_value == result.request.args[0] + 1 for result in results)


def test_submit_after_shutdown_raises(harness: Harness) -> None:
    harness.executor.submit(make_request(jobs.add, 1, 1))
    harness.recorder.one()
    harness.executor.shutdown(wait=True)
    with pytest.raises(SchedulerStateError):
        harness.executor.submit(make_request(jobs.add, 1, 1))
    with pytest.raises(SchedulerStateError):
        harness.executor.submit_many([make_request(jobs.add, 1, 1)])
    harness.executor.shutdown(wait=True)  # a second shutdown is harmless
    assert len(harness.recorder.results) == 1


def test_submit_after_shutdown_raises_even_if_never_used(harness: Harness) -> None:
    harness.executor.shutdown(wait=False)
    with pytest.raises(SchedulerStateError):
        harness.executor.submit(make_request(jobs.add, 1, 1))


def test_a_shut_down_executor_started_again_serves_the_new_callback(harness: Harness) -> None:
    # (A scheduler given an executor another one had shut down: every run was
    # reported interrupted, "cannot submit runs: the ... executor is shut down".)
    executor, first = harness.executor, harness.recorder
    executor.submit(make_request(jobs.add, 1, 1))
    first.one()
    executor.shutdown(wait=True)
    second = Recorder()
    executor.start(second, SystemClock())
    request = make_request(jobs.add, 2, 2)
    executor.submit_many([request])
    result = second.one()
    assert (result.request, result.outcome, result.return_value) == (request, Outcome.SUCCESS, 4)
    assert len(first.results) == 1
    executor.shutdown(wait=True)
    with pytest.raises(SchedulerStateError):
        executor.submit(make_request(jobs.add, 1, 1))


@pytest.mark.parametrize("kind", ["thread", "inline"])
def test_an_executor_whose_last_run_still_goes_refuses_to_start_again(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # That run would be reported to the new scheduler, which never started it.
    monkeypatch.setattr("tickwork.executors._base.REOPEN_WAIT", 0.05)
    executor = FACTORIES[kind]()
    executor.start(Recorder(), SystemClock())
    started, release = tmp_path / "started", tmp_path / "release"
    submitter = threading.Thread(
        target=executor.submit, args=(make_request(jobs.block, str(started), str(release)),)
    )
    submitter.start()
    jobs.wait_for_file(started)
    executor.shutdown(wait=False)
    try:
        with pytest.raises(SchedulerStateError, match=r"still going.*executor of its own"):
            executor.start(Recorder(), SystemClock())
    finally:
        release.touch()
        submitter.join(jobs.LIMIT)
    executor.shutdown(wait=True)
    again = Recorder()
    executor.start(again, SystemClock())  # (the run ended: it may now)
    executor.submit(make_request(jobs.add, 1, 2))
    assert again.one().return_value == 3
    executor.shutdown(wait=True)


def test_shutdown_with_wait_waits_for_a_running_job(harness: Harness, tmp_path: Path) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    # From another thread: the inline executor runs the job inside submit.
    submitter = threading.Thread(
        target=harness.executor.submit,
        args=(make_request(jobs.block, str(started), str(release)),),
    )
    submitter.start()
    jobs.wait_for_file(started)
    stopper = threading.Thread(target=harness.executor.shutdown, kwargs={"wait": True})
    stopper.start()
    stopper.join(0.1)
    assert stopper.is_alive(), "shutdown(wait=True) returned while a job was running"
    assert harness.recorder.results == []
    release.touch()
    stopper.join(jobs.LIMIT)
    submitter.join(jobs.LIMIT)
    assert not stopper.is_alive()
    # Reported before shutdown returned.
    [result] = harness.recorder.results
    assert result.outcome is Outcome.SUCCESS
    assert result.return_value == "released"


def test_an_exception_does_not_kill_the_worker(harness: Harness) -> None:
    requests = [
        make_request(jobs.worker_identity),
        make_request(jobs.fail, "first"),
        make_request(jobs.worker_identity),
    ]
    for request in requests:
        harness.executor.submit(request)
    before, failed, after = harness.recorder.results_of(*requests)
    assert failed.outcome is Outcome.FAILURE
    assert after.outcome is Outcome.SUCCESS
    if harness.kind in ("thread", "process"):
        assert before.return_value == after.return_value  # the same thread or process


@pytest.mark.parametrize("kind", ["exit", "interrupt", "generator"])
def test_base_exceptions_are_failures_and_the_worker_survives(
    harness: Harness, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    if harness.kind == "inline" and kind != "generator":
        pytest.skip("the inline executor re-raises these in the caller (see test_inline.py)")
    requests = [
        make_request(jobs.worker_identity),
        make_request(jobs.raise_base, kind),
        make_request(jobs.worker_identity),
    ]
    for request in requests:
        harness.executor.submit(request)
    before, failed, after = harness.recorder.results_of(*requests)
    expected = {"exit": SystemExit, "interrupt": KeyboardInterrupt, "generator": GeneratorExit}
    assert failed.outcome is Outcome.FAILURE
    assert isinstance(failed.exception, expected[kind])
    assert after.outcome is Outcome.SUCCESS
    if harness.kind in ("thread", "process"):
        assert before.return_value == after.return_value
    # Never silent. (The asyncio executor logs just after reporting the result: wait.)
    deadline = time.monotonic() + jobs.LIMIT
    while expected[kind].__name__ not in caplog.text:
        assert time.monotonic() < deadline, f"{expected[kind].__name__} was never logged"
        time.sleep(0.005)


def test_submit_many_of_nothing_is_fine(harness: Harness) -> None:
    harness.executor.submit_many([])
    harness.executor.submit(make_request(jobs.add, 1, 2))
    assert harness.recorder.one().return_value == 3


@pytest.mark.parametrize("kind", ["thread", "asyncio", "process"])
def test_take_unstarted_hands_back_runs_not_started_and_starts_none_after(
    kind: str, tmp_path: Path
) -> None:
    # What a scheduler shutting down asks: nothing queued starts from the call on, and
    # what was given and not started comes back, once, unreported (the scheduler leaves
    # it in a shared store for another process).
    harness = Harness(kind)
    executor = harness.executor
    try:
        started, release = tmp_path / "started", tmp_path / "release"
        blocker = make_request(jobs.block, str(started), str(release))
        executor.submit(blocker)
        jobs.wait_for_file(started)
        # (An asyncio executor starts every run it is given at once: none waits there.)
        queued = [] if kind == "asyncio" else [make_request(jobs.add, n, 1) for n in range(3)]
        executor.submit_many(queued)
        taken = executor.take_unstarted()
        later = [make_request(jobs.add, n, 10) for n in range(2)]
        executor.submit_many(later)  # still accepted, and held
        release.touch()
        harness.recorder.results_of(blocker)
        deadline = time.monotonic() + jobs.LIMIT
        while len(taken) < len(queued) + len(later) and time.monotonic() < deadline:
            taken += executor.take_unstarted()  # (asyncio: once the loop has them)
            time.sleep(0.01)
        assert sorted(request.run_id for request in taken) == sorted(
            request.run_id for request in queued + later
        )
        assert executor.take_unstarted() == []  # each handed back once
    finally:
        executor.shutdown(wait=True, timeout=5)
    # The blocker's is the only result: nothing taken was started, or reported.
    assert [result.request for result in harness.recorder.results] == [blocker]


def test_runs_held_back_and_never_taken_are_interrupted_at_shutdown(tmp_path: Path) -> None:
    harness = Harness("thread")
    executor = harness.executor
    started, release = tmp_path / "started", tmp_path / "release"
    executor.submit(make_request(jobs.block, str(started), str(release)))
    jobs.wait_for_file(started)
    assert executor.take_unstarted() == []
    held = [make_request(jobs.add, n, 1) for n in range(2)]
    executor.submit_many(held)
    release.touch()
    executor.shutdown(wait=True, timeout=5)
    ends = {result.request.run_id: result for result in harness.recorder.results}
    assert len(ends) == 3
    for request in held:
        assert ends[request.run_id].outcome is Outcome.INTERRUPTED
        assert ends[request.run_id].started_at is None


@pytest.mark.parametrize("kind", ["thread", "asyncio", "process"])
def test_a_run_that_would_start_past_its_misfire_grace_is_reported_missed(kind: str) -> None:
    # The clock the executor was given says the run waited 30 s past its fire time: with
    # a grace of 10 s it does not start; with 60 s, or none, it runs.
    executor = FACTORIES[kind]()
    recorder = Recorder()
    clock = FakeClock(jobs.SCHEDULED_AT + timedelta(seconds=30))
    executor.start(recorder, clock)
    try:
        late = make_request(jobs.add, 1, 1)._replace(misfire_grace=timedelta(seconds=10))
        kept = make_request(jobs.add, 2, 2)._replace(misfire_grace=timedelta(seconds=60))
        free = make_request(jobs.add, 3, 3)
        executor.submit_many([late, kept, free])
        missed, ran, unbounded = recorder.results_of(late, kept, free)
    finally:
        executor.shutdown(wait=True, timeout=5)
    assert (missed.outcome, missed.started_at, missed.return_value) == (Outcome.MISSED, None, None)
    assert missed.finished_at == clock.now()
    assert (ran.outcome, ran.return_value) == (Outcome.SUCCESS, 4)
    assert (unbounded.outcome, unbounded.return_value) == (Outcome.SUCCESS, 6)
    assert len(recorder.results) == 3


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_withdraw_takes_back_the_named_jobs_runs_not_started(kind: str, tmp_path: Path) -> None:
    harness = Harness(kind)
    executor = harness.executor
    try:
        started, release = tmp_path / "started", tmp_path / "release"
        blocker = make_request(jobs.block, str(started), str(release), job_id="blocker")
        executor.submit(blocker)
        jobs.wait_for_file(started)
        paused = [make_request(jobs.add, n, 1, job_id="paused") for n in range(2)]
        kept = make_request(jobs.add, 5, 1, job_id="kept")
        executor.submit_many([paused[0], kept, paused[1]])
        taken = executor.withdraw({"paused", "blocker"})  # (the blocker has started)
        assert sorted(request.run_id for request in taken) == sorted(r.run_id for r in paused)
        assert executor.withdraw({"paused"}) == []
        release.touch()
        done, ran = harness.recorder.results_of(blocker, kept)
        assert (done.outcome, ran.outcome, ran.return_value) == (Outcome.SUCCESS,) * 2 + (6,)
    finally:
        executor.shutdown(wait=True, timeout=5)
    assert len(harness.recorder.results) == 2  # the withdrawn runs are not reported
