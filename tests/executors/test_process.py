"""ProcessExecutor specifics: timeouts, dying workers, what check() refuses, shutdown."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tickwork._clock import SystemClock
from tickwork._errors import JobTimeout, SerializationError, WorkerDied
from tickwork._model import Outcome
from tickwork.executors import ProcessExecutor
from tickwork.executors.process import RemoteTraceback

from . import jobs, slow_start
from .jobs import Recorder, make_request


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def executor(recorder: Recorder) -> Iterator[ProcessExecutor]:
    executor = ProcessExecutor(max_workers=1)
    executor.start(recorder, SystemClock())
    yield executor
    executor.shutdown(wait=True, timeout=5)


def test_defaults_and_validation() -> None:
    assert ProcessExecutor().max_workers >= 1
    assert ProcessExecutor.enforces_timeout
    assert repr(ProcessExecutor(3)) == "ProcessExecutor(max_workers=3)"
    with pytest.raises(ValueError, match="max_workers"):
        ProcessExecutor(0)


def test_a_job_past_its_timeout_is_killed_and_fails_with_job_timeout(
    executor: ProcessExecutor, recorder: Recorder
) -> None:
    began = time.monotonic()
    executor.submit(make_request(jobs.sleep, 10, job_id="slow", timeout=0.2))
    result = recorder.one()
    assert time.monotonic() - began < 2.5
    assert result.outcome is Outcome.FAILURE
    assert isinstance(result.exception, JobTimeout)
    assert "'slow'" in str(result.exception)
    assert "0.2" in str(result.exception)
    # A replacement worker takes the next run.
    executor.submit(make_request(jobs.add, 1, 1))
    assert recorder.wait_for(2)[1].return_value == 2


def test_the_timeout_counts_from_the_start_of_the_job_not_of_its_worker(
    executor: ProcessExecutor, recorder: Recorder
) -> None:
    # The worker spends longer importing the job's module than the whole timeout.
    assert slow_start.IMPORT_SECONDS > 1
    executor.submit(make_request(slow_start.nap, 0.1, timeout=1))
    executor.submit(make_request(slow_start.nap, 0.1, timeout=1))
    first, second = recorder.wait_for(2)
    assert first.outcome is Outcome.SUCCESS, first.exception
    assert second.outcome is Outcome.SUCCESS, second.exception
    assert first.return_value == second.return_value  # the worker was never stopped


def test_a_job_of_a_slow_starting_worker_is_timed_out_once_it_overruns(
    executor: ProcessExecutor, recorder: Recorder, tmp_path: Path
) -> None:
    submitted = SystemClock().now()
    began = tmp_path / "began"
    request = make_request(slow_start.mark_and_nap, str(began), 10, job_id="over", timeout=0.3)
    executor.submit(request)
    result = recorder.one()
    assert result.outcome is Outcome.FAILURE
    assert isinstance(result.exception, JobTimeout), result.exception
    assert began.exists()  # stopped after the job began, not while its module loaded
    assert result.started_at is not None
    assert result.finished_at is not None
    # started_at is when the job began: after the worker imported the job's module.
    assert result.started_at - submitted >= timedelta(seconds=slow_start.IMPORT_SECONDS)
    assert result.finished_at - result.started_at >= timedelta(seconds=0.3)


def test_a_dying_worker_fails_its_run_and_is_replaced(
    executor: ProcessExecutor, recorder: Recorder
) -> None:
    executor.submit(make_request(jobs.worker_identity))
    executor.submit(make_request(jobs.exit_now, 3, job_id="crasher"))
    executor.submit(make_request(jobs.worker_identity))
    before, died, after = recorder.wait_for(3)
    assert died.outcome is Outcome.FAILURE
    assert isinstance(died.exception, WorkerDied)
    assert isinstance(died.exception, RuntimeError)
    assert "'crasher'" in str(died.exception)
    assert "died" in str(died.exception)
    assert "exit code 3" in str(died.exception)
    assert after.outcome is Outcome.SUCCESS
    assert after.return_value[0] != before.return_value[0]  # a new process


def test_an_exception_comes_back_with_the_worker_traceback(
    executor: ProcessExecutor, recorder: Recorder
) -> None:
    executor.submit(make_request(jobs.fail, "boom"))
    error = recorder.one().exception
    assert isinstance(error, ValueError)
    assert isinstance(error.__cause__, RemoteTraceback)
    assert "in fail" in str(error.__cause__)


def test_an_exception_that_cannot_be_rebuilt_comes_back_as_a_runtime_error(
    executor: ProcessExecutor, recorder: Recorder
) -> None:
    executor.submit(make_request(jobs.raise_unrebuildable))
    error = recorder.one().exception
    assert type(error) is RuntimeError
    assert "NeedsTwoArguments" in str(error)
    assert "left/right" in str(error)
    assert "raise_unrebuildable" in str(error)  # the worker's traceback


def test_a_return_value_that_cannot_be_pickled_is_a_failure(
    executor: ProcessExecutor, recorder: Recorder
) -> None:
    executor.submit(make_request(jobs.return_lock, job_id="locker"))
    result = recorder.one()
    assert result.outcome is Outcome.FAILURE
    assert isinstance(result.exception, SerializationError)
    assert "'locker'" in str(result.exception)
    assert "lock" in str(result.exception)


def test_coroutine_functions_run_in_the_worker(
    executor: ProcessExecutor, recorder: Recorder
) -> None:
    executor.submit(make_request(jobs.async_add, 4, 5))
    assert recorder.one().return_value == 9


def test_a_request_by_reference_only(executor: ProcessExecutor, recorder: Recorder) -> None:
    executor.submit(make_request(jobs.add, 2, 2)._replace(func=None))
    result = recorder.one()
    assert result.outcome is Outcome.SUCCESS, result.exception
    assert result.return_value == 4


def test_a_lambda_submitted_without_check_fails_without_harm(
    executor: ProcessExecutor, recorder: Recorder
) -> None:
    executor.submit(make_request(lambda: 1))
    executor.submit(make_request(jobs.add, 1, 2))
    refused, fine = recorder.wait_for(2)
    assert refused.outcome is Outcome.FAILURE
    assert isinstance(refused.exception, SerializationError), refused.exception
    assert fine.return_value == 3, fine.exception


def _nested_factory() -> object:
    def inner() -> None:
        pass

    return inner


def _closure_factory(value: int) -> object:
    def closure() -> int:
        return value

    return closure


class _Local:
    def method(self) -> None:
        pass


@pytest.mark.parametrize(
    ("func", "words"),
    [
        (lambda: None, "is a lambda"),
        (_nested_factory(), "defined inside another function"),
        (_closure_factory(3), "defined inside another function"),
        (_Local().method, "method bound to a _Local instance"),
        (jobs.GREETER.hello, "method bound to a Greeter instance"),
        (functools.partial(jobs.add, 1), "no module and qualified name"),
        (functools.wraps(jobs.add)(lambda a, b: a + b), "gives a different object"),
    ],
)
def test_check_refuses_functions_that_cannot_be_imported(func: object, words: str) -> None:
    with pytest.raises(SerializationError, match=words) as caught:
        ProcessExecutor().check(func, None, (), {})  # type: ignore[arg-type]
    assert "module" in str(caught.value)  # says what to do instead


def test_check_names_an_argument_that_cannot_be_pickled() -> None:
    executor = ProcessExecutor()
    with pytest.raises(SerializationError, match=r"argument 1 \('b'\).*tests\.executors\.jobs"):
        executor.check(jobs.add, None, (1, threading.Lock()), {})
    with pytest.raises(SerializationError, match="keyword argument 'b'"):
        executor.check(jobs.add, None, (1,), {"b": threading.Lock()})


def test_check_accepts_importable_functions_and_references() -> None:
    executor = ProcessExecutor()
    executor.check(jobs.add, None, (1, 2), {})
    executor.check(jobs.async_add, None, (), {"a": 1, "b": 2})
    executor.check(None, "tests.executors.jobs:add", (1, 2), {})
    executor.check(jobs.Greeter, None, (), {})  # a class is importable too
    with pytest.raises(SerializationError):
        executor.check(None, None, (), {})


def test_shutdown_timeout_stops_running_work(recorder: Recorder, tmp_path: Path) -> None:
    executor = ProcessExecutor(max_workers=1)
    executor.start(recorder, SystemClock())
    started = tmp_path / "started"
    request = make_request(jobs.block, str(started), str(tmp_path / "never"))
    executor.submit(request)
    jobs.wait_for_file(started)
    began = time.monotonic()
    executor.shutdown(wait=True, timeout=0.2)
    assert time.monotonic() - began < 2.5
    [result] = recorder.results  # reported before shutdown returned
    assert (result.request, result.outcome) == (request, Outcome.INTERRUPTED)


def test_shutdown_without_wait_interrupts_running_and_queued_runs(
    recorder: Recorder, tmp_path: Path
) -> None:
    executor = ProcessExecutor(max_workers=1)
    executor.start(recorder, SystemClock())
    started = tmp_path / "started"
    running = make_request(jobs.block, str(started), str(tmp_path / "never"))
    executor.submit(running)
    jobs.wait_for_file(started)
    queued = [make_request(jobs.add, n, 1) for n in range(3)]
    executor.submit_many(queued)
    executor.shutdown(wait=False)
    # Queued runs are reported before shutdown returns; the running one soon after.
    assert [result.request for result in recorder.results] == queued
    results = recorder.wait_for(4)
    assert results[3].request == running
    assert {result.outcome for result in results} == {Outcome.INTERRUPTED}
    assert executor._dispatcher is not None
    executor._dispatcher.join(jobs.LIMIT)
    assert len(recorder.results) == 4


def test_runs_go_to_several_workers_at_once(recorder: Recorder, tmp_path: Path) -> None:
    executor = ProcessExecutor(max_workers=2)
    executor.start(recorder, SystemClock())
    release = tmp_path / "release"
    try:
        for name in ("first", "second"):
            executor.submit(make_request(jobs.block, str(tmp_path / name), str(release)))
        jobs.wait_for_file(tmp_path / "first")
        jobs.wait_for_file(tmp_path / "second")  # both run at the same time
        release.touch()
        results = recorder.wait_for(2)
    finally:
        executor.shutdown(wait=True, timeout=5)
    assert [result.return_value for result in results] == ["released", "released"]


@pytest.mark.parametrize("how", ["-c", "stdin"])
def test_a_function_of_a_main_no_worker_can_import_is_refused_at_add_job(how: str) -> None:
    # python -c, a script read from stdin (a REPL, a notebook alike): add_job took it,
    # and every run failed in the worker ("'__main__' has no 'work'", or WorkerDied).
    import subprocess
    import sys

    code = (
        "from tickwork import Scheduler, SerializationError\n"
        "from tickwork.executors import ProcessExecutor\n"
        "def work():\n"
        "    return 1\n"
        "s = Scheduler(executors={'default': ProcessExecutor(1)}, timezone='UTC')\n"
        "try:\n"
        "    s.add_job(work, 'interval', hours=1)\n"
        "except SerializationError as error:\n"
        "    print('refused:', error)\n"
        "s.shutdown()\n"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**__import__("os").environ, "PYTHONPATH": src}
    argv = [sys.executable, "-c", code] if how == "-c" else [sys.executable, "-"]
    done = subprocess.run(argv, input=None if how == "-c" else code, capture_output=True,
                          text=True, env=env, timeout=60, check=True)  # fmt: skip
    assert "refused:" in done.stdout, done.stdout + done.stderr
    assert "a worker process cannot import" in done.stdout


_PARENT = """
import sys, time
from tickwork._clock import SystemClock
from tickwork.executors import ProcessExecutor
from tests.executors import jobs

executor = ProcessExecutor(max_workers=1)
executor.start(jobs.Recorder(), SystemClock())
job = getattr(jobs, sys.argv[2])
executor.submit(jobs.make_request(job, sys.argv[1], 30.0))
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status  # (a zombie has ended)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to see the worker end")
@pytest.mark.parametrize("job", ["write_pid_then_sleep", "write_pid_then_compute"])
def test_a_worker_ends_when_its_schedulers_process_is_killed(tmp_path: Path, job: str) -> None:
    # Left running, its run went on (past its timeout, which the parent enforced) while
    # another process that took the dead one's claims over ran the same fire again.
    # (In a long C call, which holds the GIL, only the kernel can end it at once.)
    pid_file = tmp_path / "worker.pid"
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, str(pid_file), job],
        cwd=Path(__file__).parents[2],
        stderr=subprocess.DEVNULL,
    )
    try:
        jobs.wait_for_file(pid_file)
        worker = int(pid_file.read_text())
        assert _alive(worker)
    finally:
        parent.kill()
        parent.wait(jobs.LIMIT)
    deadline = time.monotonic() + 5
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.01)
    alive = _alive(worker)
    if alive:
        os.kill(worker, signal.SIGKILL)
    assert not alive, "the worker outlived its scheduler's process"
