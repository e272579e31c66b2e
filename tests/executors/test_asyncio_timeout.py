"""AsyncioExecutor: a plain function's timeout counts from when a thread takes it up."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from tickwork._clock import SystemClock
from tickwork._errors import JobTimeout
from tickwork._model import Outcome
from tickwork.executors import AsyncioExecutor

from . import jobs
from .jobs import Recorder, make_request, wait_for_file


def test_waiting_for_a_free_thread_does_not_count_against_the_timeout(tmp_path: Path) -> None:
    # A plain function runs in the loop's thread pool. While every thread is taken, a
    # quick job waits for one; its timeout starts when it starts, not while it waits.
    loop = asyncio.new_event_loop()
    loop.set_default_executor(ThreadPoolExecutor(1))
    recorder = Recorder()
    executor = AsyncioExecutor(loop)
    executor.start(recorder, SystemClock())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        started, release = tmp_path / "started", tmp_path / "release"
        executor.submit(make_request(jobs.block, str(started), str(release), job_id="busy"))
        wait_for_file(started)
        submitted = time.monotonic()
        executor.submit(make_request(jobs.sleep, 0.01, job_id="quick", timeout=0.3))
        # The quick job waits for the only thread longer than its timeout.
        while time.monotonic() < submitted + 0.6 and not recorder.results:
            time.sleep(0.01)
        released = datetime.now(timezone.utc)
        release.touch()
        results = {result.request.job_id: result for result in recorder.wait_for(2)}
    finally:
        executor.shutdown(wait=True, timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
    quick = results["quick"]
    assert quick.outcome is Outcome.SUCCESS, quick.exception
    assert results["busy"].outcome is Outcome.SUCCESS
    assert quick.started_at is not None
    assert quick.started_at >= released  # it started once the thread was free


def test_a_plain_function_that_overruns_once_started_still_times_out(tmp_path: Path) -> None:
    recorder = Recorder()
    executor = AsyncioExecutor()
    executor.start(recorder, SystemClock())
    try:
        executor.submit(make_request(jobs.sleep, 2, job_id="slow", timeout=0.1))
        result = recorder.one()
    finally:
        executor.shutdown(wait=False)
    assert result.outcome is Outcome.FAILURE
    assert isinstance(result.exception, JobTimeout)
    assert result.started_at is not None
