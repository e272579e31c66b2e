"""The executor contract (``tickwork/executors/_base.py``), checked for every executor."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
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
