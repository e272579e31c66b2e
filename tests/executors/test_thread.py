"""ThreadExecutor specifics: lazy workers, coroutine fallback, shutdown of the queue."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tickwork._clock import SystemClock
from tickwork._model import Outcome
from tickwork.executors import ProcessExecutor, ThreadExecutor

from . import jobs
from .jobs import Recorder, make_request


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def executor(recorder: Recorder) -> Iterator[ThreadExecutor]:
    executor = ThreadExecutor(max_workers=2)
    executor.start(recorder, SystemClock())
    yield executor
    executor.shutdown(wait=True, timeout=5)


@pytest.mark.parametrize(
    ("bad", "error"),
    [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError), ("2", TypeError)],
)
def test_max_workers_must_be_a_positive_int(bad: object, error: type[Exception]) -> None:
    # (A wrong type is a TypeError, a wrong value a ValueError, as everywhere.)
    with pytest.raises(error, match="max_workers"):
        ThreadExecutor(max_workers=bad)  # type: ignore[arg-type]
    with pytest.raises(error, match="max_workers"):
        ProcessExecutor(max_workers=bad)  # type: ignore[arg-type]


def test_flags_and_repr() -> None:
    executor = ThreadExecutor(max_workers=4)
    assert executor.max_workers == 4
    assert repr(executor) == "ThreadExecutor(max_workers=4)"
    assert not executor.runs_coroutines
    assert not executor.enforces_timeout


def test_workers_start_lazily_and_never_exceed_max(
    executor: ThreadExecutor, recorder: Recorder
) -> None:
    assert executor._threads == []
    executor.submit(make_request(jobs.add, 1, 1))
    recorder.wait_for(1)
    assert len(executor._threads) == 1
    executor.submit_many(make_request(jobs.add, n, 1) for n in range(100))
    recorder.wait_for(101)
    assert len(executor._threads) <= 2


def test_coroutine_functions_run_with_asyncio_run(
    executor: ThreadExecutor, recorder: Recorder
) -> None:
    executor.submit(make_request(jobs.async_add, 2, 5))
    request = make_request(jobs.async_context, job_id="coro")
    executor.submit(request)
    first, second = sorted(recorder.wait_for(2), key=lambda result: result.request.run_id)
    assert (first.outcome, first.return_value) == (Outcome.SUCCESS, 7)
    assert (second.outcome, second.return_value) == (Outcome.SUCCESS, request.context)


def test_timeout_is_not_enforced(executor: ThreadExecutor, recorder: Recorder) -> None:
    executor.submit(make_request(jobs.sleep, 0.05, timeout=0.001))
    result = recorder.one()
    assert result.outcome is Outcome.SUCCESS
    assert result.return_value == 0.05


def test_queued_runs_are_interrupted_at_shutdown(recorder: Recorder, tmp_path: Path) -> None:
    executor = ThreadExecutor(max_workers=1)
    executor.start(recorder, SystemClock())
    started, release = tmp_path / "started", tmp_path / "release"
    running = make_request(jobs.block, str(started), str(release))
    executor.submit(running)
    jobs.wait_for_file(started)
    queued = [make_request(jobs.add, n, 1) for n in range(5)]
    executor.submit_many(queued)

    executor.shutdown(wait=False)
    # Reported before shutdown returned, each once, none started.
    interrupted = list(recorder.results)
    assert [result.request for result in interrupted] == queued
    assert all(result.outcome is Outcome.INTERRUPTED for result in interrupted)
    assert all(result.started_at is None for result in interrupted)

    release.touch()
    results = recorder.wait_for(6)
    assert results[-1].request == running
    assert results[-1].outcome is Outcome.SUCCESS
    executor.shutdown(wait=True, timeout=5)
    assert len(recorder.results) == 6


def test_shutdown_timeout_leaves_a_running_job_running(recorder: Recorder, tmp_path: Path) -> None:
    executor = ThreadExecutor(max_workers=1)
    executor.start(recorder, SystemClock())
    started, release = tmp_path / "started", tmp_path / "release"
    executor.submit(make_request(jobs.block, str(started), str(release)))
    jobs.wait_for_file(started)
    executor.shutdown(wait=True, timeout=0.05)
    assert recorder.results == []  # a thread cannot be stopped: it is still running
    release.touch()
    assert recorder.one().outcome is Outcome.SUCCESS


def test_shutdown_from_inside_a_job_does_not_deadlock(recorder: Recorder) -> None:
    executor = ThreadExecutor(max_workers=1)
    executor.start(recorder, SystemClock())

    def stop() -> str:
        executor.shutdown(wait=True)
        return "stopped"

    executor.submit(make_request(stop))
    assert recorder.one().return_value == "stopped"


def test_the_callback_may_submit_more(recorder: Recorder) -> None:
    executor = ThreadExecutor(max_workers=2)
    done = threading.Event()

    def callback(result: object) -> None:
        recorder(result)  # type: ignore[arg-type]
        if len(recorder.results) < 20:
            executor.submit(make_request(jobs.add, len(recorder.results), 0))
        else:
            done.set()

    executor.start(callback, SystemClock())
    executor.submit(make_request(jobs.add, 0, 0))
    assert done.wait(jobs.LIMIT)
    executor.shutdown(wait=True, timeout=5)
    assert len(recorder.results) == 20


def _parked(executor: ThreadExecutor, count: int) -> None:
    """Wait until *count* workers are parked (each on its own gate)."""
    pause = threading.Event()  # never set: a timed wait between two looks
    for _ in range(int(jobs.LIMIT / 0.001)):
        with executor._lock:
            if len(executor._parked) == count:
                return
        pause.wait(0.001)
    raise AssertionError(f"{len(executor._parked)} workers parked, not {count}")


def test_a_submit_wakes_the_worker_that_parked_last(recorder: Recorder) -> None:
    # Its thread ran most recently: its memory is the warmest in the CPU's caches.
    executor = ThreadExecutor(max_workers=3)
    executor.start(recorder, SystemClock())
    gates = [threading.Event() for _ in range(3)]
    running = threading.Semaphore(0)

    def hold(index: int) -> str:
        running.release()
        assert gates[index].wait(jobs.LIMIT)
        return threading.current_thread().name

    executor.submit_many([make_request(hold, index) for index in range(3)])
    for _ in range(3):  # all three running: one worker each
        assert running.acquire(timeout=jobs.LIMIT)
    for index in range(3):  # then each ends and parks, in turn
        gates[index].set()
        recorder.wait_for(index + 1)
        _parked(executor, index + 1)
    last = recorder.results[-1].return_value
    executor.submit(make_request(lambda: threading.current_thread().name))
    assert recorder.wait_for(4)[-1].return_value == last
    executor.shutdown(wait=True, timeout=5)


def test_shutdown_ends_parked_workers(recorder: Recorder) -> None:
    executor = ThreadExecutor(max_workers=4)
    executor.start(recorder, SystemClock())
    executor.submit_many([make_request(jobs.sleep, 0.01) for _ in range(4)])
    recorder.wait_for(4)
    _parked(executor, len(executor._threads))
    executor.shutdown(wait=True, timeout=jobs.LIMIT)
    assert not any(thread.is_alive() for thread in executor._threads)
    assert executor._parked == []


def test_runs_from_many_submitting_threads_each_run_once(recorder: Recorder) -> None:
    # Workers park and are woken over and over while four threads submit: no wake-up
    # is lost (every run starts) and none is doubled.
    executor = ThreadExecutor(max_workers=3)
    executor.start(recorder, SystemClock())
    requests = [[make_request(jobs.add, n, k) for n in range(200)] for k in range(4)]

    def submit(batch: list[object]) -> None:
        for request in batch:
            executor.submit(request)  # type: ignore[arg-type]
            if len(recorder.results) % 7 == 0:
                threading.Event().wait(0.0005)  # let the workers run dry and park

    threads = [threading.Thread(target=submit, args=(batch,)) for batch in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results = recorder.wait_for(800)
    assert sorted(result.request.run_id for result in results) == sorted(
        request.run_id for batch in requests for request in batch
    )
    executor.shutdown(wait=True, timeout=5)
