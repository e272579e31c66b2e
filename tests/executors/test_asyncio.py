"""AsyncioExecutor specifics: timeouts, cancellation at shutdown, attached loops."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tickwork._clock import SystemClock
from tickwork._errors import JobTimeout, SchedulerStateError
from tickwork._model import Outcome, RunResult
from tickwork.executors import AsyncioExecutor

from . import jobs
from .jobs import Recorder, make_request


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def executor(recorder: Recorder) -> Iterator[AsyncioExecutor]:
    executor = AsyncioExecutor()
    executor.start(recorder, SystemClock())
    yield executor
    executor.shutdown(wait=True, timeout=5)


def test_flags() -> None:
    assert AsyncioExecutor.runs_coroutines
    assert AsyncioExecutor.enforces_timeout


def test_a_coroutine_past_its_timeout_fails_with_job_timeout(
    executor: AsyncioExecutor, recorder: Recorder
) -> None:
    began = time.monotonic()
    executor.submit(make_request(jobs.async_sleep, 10, job_id="slow", timeout=0.2))
    result = recorder.one()
    assert time.monotonic() - began < 2.5
    assert result.outcome is Outcome.FAILURE
    assert isinstance(result.exception, JobTimeout)
    assert "'slow'" in str(result.exception)
    assert "0.2" in str(result.exception)
    # The loop carries on.
    executor.submit(make_request(jobs.async_add, 1, 1))
    assert recorder.wait_for(2)[1].return_value == 2


def test_a_plain_function_past_its_timeout_is_reported_timed_out_when_it_returns(
    executor: AsyncioExecutor, recorder: Recorder
) -> None:
    # Its thread cannot be stopped: reported at the deadline, the run ended for the
    # scheduler while its thread went on, and runs of the next fires piled up beside it
    # (max_instances=1, four at once in a probe).
    executor.submit(make_request(jobs.sleep, 0.3, job_id="thread-bound", timeout=0.05))
    result = recorder.one()
    assert result.outcome is Outcome.FAILURE
    assert isinstance(result.exception, JobTimeout)
    assert result.started_at is not None
    assert result.finished_at is not None
    assert result.finished_at - result.started_at >= timedelta(seconds=0.3)
    assert "could not be stopped, and ran on to its end" in str(result.exception)


def test_a_coroutine_holding_the_loop_past_its_timeout_is_reported_timed_out(
    executor: AsyncioExecutor, recorder: Recorder
) -> None:
    # Regression: the timer that cancels it could not run while it held the loop, and
    # the run was recorded a success, where a plain function was reported timed out.
    executor.submit(make_request(jobs.async_hold_loop, 0.3, job_id="holder", timeout=0.05))
    result = recorder.one()
    assert result.outcome is Outcome.FAILURE
    assert isinstance(result.exception, JobTimeout)
    assert "held the event loop" in str(result.exception)


def test_a_job_within_its_timeout_succeeds(executor: AsyncioExecutor, recorder: Recorder) -> None:
    executor.submit(make_request(jobs.async_add, 1, 2, timeout=5))
    result = recorder.one()
    assert (result.outcome, result.return_value) == (Outcome.SUCCESS, 3)


def test_concurrent_tasks_each_see_their_own_run(
    executor: AsyncioExecutor, recorder: Recorder
) -> None:
    requests = [make_request(jobs.async_context, job_id=f"job-{n}") for n in range(20)]
    executor.submit_many(requests)
    results = recorder.wait_for(20)
    assert {result.request.job_id: result.return_value for result in results} == {
        request.job_id: request.context for request in requests
    }


def test_shutdown_without_wait_cancels_running_tasks(recorder: Recorder, tmp_path: Path) -> None:
    executor = AsyncioExecutor()
    executor.start(recorder, SystemClock())
    started = tmp_path / "started"
    request = make_request(jobs.async_block, str(started), str(tmp_path / "never"))
    executor.submit(request)
    jobs.wait_for_file(started)
    executor.shutdown(wait=False)
    result = recorder.one()
    assert result.request == request
    assert result.outcome is Outcome.INTERRUPTED
    assert result.started_at is not None
    assert executor._thread is not None
    executor._thread.join(jobs.LIMIT)  # the private loop stops and closes
    assert len(recorder.results) == 1


def test_shutdown_timeout_cancels_what_is_still_running(recorder: Recorder, tmp_path: Path) -> None:
    executor = AsyncioExecutor()
    executor.start(recorder, SystemClock())
    started = tmp_path / "started"
    # One batch: both tasks start on the same turn of the loop, before shutdown.
    blocked = make_request(jobs.async_block, str(started), str(tmp_path / "never"))
    executor.submit_many([blocked, make_request(jobs.async_sleep, 0.05)])
    jobs.wait_for_file(started)
    began = time.monotonic()
    executor.shutdown(wait=True, timeout=0.5)
    assert time.monotonic() - began < 2.5
    outcomes = sorted(result.outcome.value for result in recorder.results)
    assert outcomes == ["interrupted", "success"]


def test_requests_not_started_at_shutdown_are_interrupted(recorder: Recorder) -> None:
    executor = AsyncioExecutor()
    executor.start(recorder, SystemClock())
    hogging, gate = threading.Event(), threading.Event()

    async def hog() -> str:
        hogging.set()
        gate.wait(jobs.LIMIT)  # blocks the loop itself, so later requests wait in its queue
        return "done"

    hogger = make_request(hog)
    executor.submit(hogger)
    assert hogging.wait(jobs.LIMIT)
    waiting = make_request(jobs.async_add, 1, 1)
    executor.submit(waiting)
    executor.shutdown(wait=False)
    gate.set()
    first, second = recorder.results_of(hogger, waiting)
    assert (first.outcome, first.return_value) == (Outcome.SUCCESS, "done")
    assert (second.request, second.outcome) == (waiting, Outcome.INTERRUPTED)
    assert second.started_at is None
    assert executor._thread is not None
    executor._thread.join(jobs.LIMIT)
    assert len(recorder.results) == 2


def test_attached_loop(recorder: Recorder) -> None:
    async def main() -> list[RunResult]:
        loop = asyncio.get_running_loop()
        executor = AsyncioExecutor()
        executor.attach_loop(loop)
        arrived = asyncio.Event()
        results: list[RunResult] = []

        def callback(result: RunResult) -> None:
            results.append(result)
            if len(results) == 3:
                arrived.set()

        executor.start(callback, SystemClock())
        executor.submit(make_request(jobs.async_add, 1, 2, job_id="a"))
        executor.submit(make_request(jobs.add, 3, 4, job_id="b"))
        # Submitting from another thread is safe too.
        await asyncio.to_thread(executor.submit, make_request(jobs.async_context, job_id="c"))
        await asyncio.wait_for(arrived.wait(), jobs.LIMIT)
        assert threading.current_thread() is threading.main_thread()
        with pytest.raises(SchedulerStateError, match="shutdown_async"):
            executor.shutdown(wait=True)
        await executor.shutdown_async()
        with pytest.raises(SchedulerStateError):
            executor.submit(make_request(jobs.add, 1, 1))
        return results

    results = {result.request.job_id: result for result in asyncio.run(main())}
    assert all(result.outcome is Outcome.SUCCESS for result in results.values())
    assert results["a"].return_value == 3
    assert results["b"].return_value == 7
    assert results["c"].return_value == results["c"].request.context


def test_attached_loop_given_to_the_constructor_and_shut_down_from_a_thread() -> None:
    async def main() -> RunResult:
        executor = AsyncioExecutor(loop=asyncio.get_running_loop())
        recorder = Recorder()
        executor.start(recorder, SystemClock())
        executor.submit(make_request(jobs.async_sleep, 0.05))
        await asyncio.sleep(0)  # the loop starts the task (else shutdown interrupts it)
        await asyncio.to_thread(executor.shutdown, True, 5)  # waits for the task
        return recorder.results[0]

    result = asyncio.run(main())
    assert (result.outcome, result.return_value) == (Outcome.SUCCESS, 0.05)


def test_attaching_a_second_loop_is_refused() -> None:
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        executor = AsyncioExecutor(loop=first)
        executor.attach_loop(first)  # the same loop again is fine
        with pytest.raises(SchedulerStateError):
            executor.attach_loop(second)
    finally:
        first.close()
        second.close()


def test_an_attached_loop_shut_down_without_wait_cancels_at_once() -> None:
    async def main() -> list[RunResult]:
        executor = AsyncioExecutor(loop=asyncio.get_running_loop())
        recorder = Recorder()
        executor.start(recorder, SystemClock())
        executor.submit(make_request(jobs.async_sleep, 10))
        await asyncio.sleep(0.01)
        executor.shutdown(wait=False)
        reported = list(recorder.results)  # reported synchronously
        await asyncio.sleep(0.01)
        assert recorder.results == reported
        return reported

    [result] = asyncio.run(main())
    assert result.outcome is Outcome.INTERRUPTED


def test_a_cancellation_from_outside_is_reported_interrupted() -> None:
    async def main() -> list[RunResult]:
        executor = AsyncioExecutor(loop=asyncio.get_running_loop())
        recorder = Recorder()
        executor.start(recorder, SystemClock())
        executor.submit(make_request(jobs.async_sleep, 10))
        await asyncio.sleep(0.01)
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()
        await asyncio.sleep(0.01)
        return list(recorder.results)

    [result] = asyncio.run(main())
    assert result.outcome is Outcome.INTERRUPTED


def test_a_job_raising_system_exit_on_an_attached_loop_is_reported_then_reraised() -> None:
    recorder = Recorder()

    async def main() -> None:
        executor = AsyncioExecutor(loop=asyncio.get_running_loop())
        executor.start(recorder, SystemClock())
        executor.submit(make_request(_async_exit))
        await asyncio.sleep(1)

    with pytest.raises(SystemExit):
        asyncio.run(main())
    [result] = recorder.results
    assert result.outcome is Outcome.FAILURE
    assert isinstance(result.exception, SystemExit)


async def _async_exit() -> None:
    raise SystemExit(4)


def test_shutdown_twice_on_a_private_loop(recorder: Recorder, tmp_path: Path) -> None:
    executor = AsyncioExecutor()
    executor.start(recorder, SystemClock())
    started = tmp_path / "started"
    executor.submit(make_request(jobs.async_block, str(started), str(tmp_path / "never")))
    jobs.wait_for_file(started)
    executor.shutdown(wait=False)
    executor.shutdown(wait=True)  # returns once the private loop is gone
    assert executor._thread is not None
    assert not executor._thread.is_alive()
    [result] = recorder.results
    assert result.outcome is Outcome.INTERRUPTED


def test_runs_submitted_on_the_loop_are_tasks_at_once_and_one_cancelled_unstarted_is_reported() -> (
    None
):
    async def main() -> list[RunResult]:
        executor = AsyncioExecutor(loop=asyncio.get_running_loop())
        recorder = Recorder()
        executor.start(recorder, SystemClock())
        before = asyncio.all_tasks()
        executor.submit_many(
            [make_request(jobs.async_add, 1, 2), make_request(jobs.async_add, 3, 4)]
        )
        # The asyncio scheduler submits from its own step: the tasks exist on return,
        # so they run on the loop's next turn.
        tasks = asyncio.all_tasks() - before
        assert len(tasks) == 2
        tasks.pop().cancel()  # before its first step: the job's code never runs
        await asyncio.sleep(0)  # the tasks' first steps, then the batch's check
        await asyncio.sleep(0)  # the other job ends (it awaits once)
        await asyncio.sleep(0)  # results of a turn are reported at the start of the next
        return list(recorder.results)

    results = asyncio.run(main())
    assert sorted(result.outcome.value for result in results) == ["interrupted", "success"]
    (ran,) = [result for result in results if result.outcome is Outcome.SUCCESS]
    assert ran.return_value == sum(ran.request.args)


class _UnhashableAsyncCallable:
    """A callable object whose __call__ is a coroutine function, and which cannot be a
    dictionary key (it defines __eq__ without __hash__)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _UnhashableAsyncCallable)

    async def __call__(self, value: int) -> int:
        return value * 2


async def _double(value: int) -> int:
    return value * 2


def test_a_coroutine_function_is_recognised_for_every_run_whatever_the_callable(
    executor: AsyncioExecutor, recorder: Recorder
) -> None:
    # The executor remembers per function whether it is a coroutine function; a callable
    # it cannot remember (unhashable) or that changes kind is still run correctly.
    unhashable = _UnhashableAsyncCallable()
    requests = [
        make_request(_double, 1),
        make_request(_double, 2),
        make_request(jobs.add, 1, 2),
        make_request(_double, 3)._replace(func=unhashable),
        make_request(_double, 4)._replace(func=unhashable),
    ]
    for request in requests:
        executor.submit(request)
    results = recorder.results_of(*requests)
    assert [result.outcome for result in results] == [Outcome.SUCCESS] * 5
    assert [result.return_value for result in results] == [2, 4, 3, 6, 8]


def test_results_of_one_loop_turn_reach_report_many_in_one_call() -> None:
    async def main() -> tuple[list[list[RunResult]], Recorder]:
        batches: list[list[RunResult]] = []
        recorder = Recorder()
        executor = AsyncioExecutor()
        executor.attach_loop(asyncio.get_running_loop(), report_many=batches.append)
        executor.start(recorder, SystemClock())
        requests = [make_request(jobs.async_add, n, n) for n in range(5)]
        executor.submit_many(requests)
        # The five tasks end on the same turn (each awaits once); their results are
        # handed over together at the start of the turn after.
        for _ in range(LIMIT_TURNS):
            if sum(map(len, batches)) == 5:
                break
            await asyncio.sleep(0)
        await executor.shutdown_async()
        return batches, recorder

    batches, recorder = asyncio.run(main())
    assert len(batches) == 1
    assert sorted(result.return_value for result in batches[0]) == [0, 2, 4, 6, 8]
    assert all(result.outcome is Outcome.SUCCESS for result in batches[0])
    assert recorder.results == []  # nothing went through the per-run callback


def test_a_result_still_waiting_for_its_turn_is_reported_before_shutdown_returns() -> None:
    async def main() -> list[RunResult]:
        batches: list[list[RunResult]] = []
        executor = AsyncioExecutor()
        executor.attach_loop(asyncio.get_running_loop(), report_many=batches.append)
        executor.start(Recorder(), SystemClock())
        executor.submit(make_request(jobs.async_add, 1, 2))
        await asyncio.sleep(0)  # the task runs to its await
        await asyncio.sleep(0)  # it ends; its result waits for the next turn
        await executor.shutdown_async(wait=False)  # no further turn before this returns
        return [result for batch in batches for result in batch]

    (result,) = asyncio.run(main())
    assert result.outcome is Outcome.SUCCESS
    assert result.return_value == 3


#: More loop turns than any of these tests needs: a bound, not a timing.
LIMIT_TURNS = 50


def test_a_loop_that_is_no_event_loop_is_refused_at_once() -> None:
    # It was taken, and every run then failed in the executor's thread (the job lost).
    from tickwork.executors import AsyncioExecutor

    for wrong in ("not a loop", 5):
        with pytest.raises(TypeError, match="loop must be an asyncio event loop or None"):
            AsyncioExecutor(loop=wrong)  # type: ignore[arg-type]
