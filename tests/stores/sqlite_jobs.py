"""Module-level job functions for the SQLite store tests: a file store keeps functions
by ``"module:qualname"`` reference, so they must be importable."""

from __future__ import annotations

import threading
from datetime import datetime

from tickwork import current_run

#: (job id, scheduled_at, attempt) of every run, in this process.
RUNS: list[tuple[str, datetime, int]] = []
_lock = threading.Lock()


def record(*args: object, **kwargs: object) -> None:
    run = current_run()
    with _lock:
        RUNS.append((run.job_id, run.scheduled_at, run.attempt))


def fail() -> None:
    record()
    raise RuntimeError("this job always fails")


def runs_of(job_id: str) -> list[tuple[datetime, int]]:
    with _lock:
        return [(at, attempt) for job, at, attempt in RUNS if job == job_id]


async def async_record() -> None:
    record()


#: Set by a test to let ``fail_once_released`` go on.
RELEASE = threading.Event()


def fail_once_released() -> None:
    """Record the run, wait for :data:`RELEASE` (10 s at most), then fail."""
    record()
    RELEASE.wait(10)
    raise RuntimeError("failed while the scheduler shut down")


def wait_released() -> None:
    """Record the run, then wait for :data:`RELEASE` (10 s at most)."""
    record()
    RELEASE.wait(10)


def fail_first_attempt() -> None:
    """Record the run; fail its first attempt."""
    record()
    if current_run().attempt == 1:
        raise RuntimeError("the first attempt fails")
