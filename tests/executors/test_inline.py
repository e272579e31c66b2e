"""InlineExecutor specifics: synchronous runs, coroutine functions, re-raised exits."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tickwork._clock import SystemClock
from tickwork._model import Outcome
from tickwork.executors import InlineExecutor

from . import jobs
from .jobs import Recorder, make_request


def _started() -> tuple[InlineExecutor, Recorder]:
    executor, recorder = InlineExecutor(), Recorder()
    executor.start(recorder, SystemClock())
    return executor, recorder


def test_runs_are_reported_before_submit_returns_in_the_callers_thread() -> None:
    executor, recorder = _started()
    executor.submit(make_request(jobs.worker_identity))
    [result] = recorder.results
    assert result.return_value[1] == threading.get_ident()


def test_coroutine_functions_run_with_asyncio_run() -> None:
    executor, recorder = _started()
    request = make_request(jobs.async_context, job_id="coro")
    executor.submit(make_request(jobs.async_add, 1, 2))
    executor.submit(request)
    assert [result.return_value for result in recorder.results] == [3, request.context]


def test_a_coroutine_function_inside_a_running_loop_is_a_clear_failure() -> None:
    executor, recorder = _started()

    async def main() -> None:
        executor.submit(make_request(jobs.async_add, 1, 2, job_id="coro"))

    asyncio.run(main())
    [result] = recorder.results
    assert result.outcome is Outcome.FAILURE
    assert isinstance(result.exception, RuntimeError)
    assert "'coro'" in str(result.exception)
    assert "AsyncioExecutor" in str(result.exception)


@pytest.mark.parametrize(
    ("kind", "error"), [("exit", SystemExit), ("interrupt", KeyboardInterrupt)]
)
def test_exit_and_interrupt_are_reported_then_reraised(
    kind: str, error: type[BaseException]
) -> None:
    executor, recorder = _started()
    with pytest.raises(error):
        executor.submit(make_request(jobs.raise_base, kind))
    [result] = recorder.results
    assert result.outcome is Outcome.FAILURE
    assert isinstance(result.exception, error)
    executor.submit(make_request(jobs.add, 1, 1))  # still usable
    assert recorder.results[-1].return_value == 2


def test_shutdown_from_inside_a_job_does_not_wait_for_itself() -> None:
    executor, recorder = _started()

    def stop() -> str:
        executor.shutdown(wait=True)
        return "stopped"

    executor.submit(make_request(stop))
    assert recorder.results[0].return_value == "stopped"
