"""InlineExecutor specifics: synchronous runs, coroutine functions, re-raised exits."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tickwork import EventKind, Scheduler
from tickwork._clock import SystemClock
from tickwork._model import Outcome
from tickwork.executors import InlineExecutor
from tickwork.stores import SQLiteStore
from tickwork.testing import FakeClock

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


@pytest.mark.parametrize("kind", ["exit", "interrupt"])
def test_a_job_ending_the_program_inline_is_reported_and_recorded_first(
    kind: str, tmp_path: Path
) -> None:
    # The exception leaves the scheduler's step: what the job reported was queued and
    # lost with it (no history row in the file, no JOB_SUBMITTED, the job left behind).
    clock = FakeClock(datetime(2024, 1, 1, tzinfo=timezone.utc))
    scheduler = Scheduler(store=SQLiteStore(tmp_path / "jobs.db"), clock=clock,
                          executors={"default": InlineExecutor()}, timezone="UTC")  # fmt: skip
    seen: list[EventKind] = []
    scheduler.add_listener(lambda event: seen.append(event.kind))
    scheduler.add_job("tests.executors.jobs:raise_base", "date", clock.now(), args=[kind],
                      id="bye")  # fmt: skip
    scheduler.open()
    with pytest.raises((SystemExit, KeyboardInterrupt)):
        scheduler.process_due()
    assert [kind for kind in seen if kind in (EventKind.JOB_SUBMITTED, EventKind.JOB_FAILED)] == [
        EventKind.JOB_SUBMITTED,
        EventKind.JOB_FAILED,
    ]
    with SQLiteStore(tmp_path / "jobs.db") as reader:  # what the file says, at once
        assert [run.outcome for run in reader.history("bye")] == [Outcome.FAILURE]
        assert reader.get_jobs() == []
    scheduler.shutdown()
