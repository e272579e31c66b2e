"""Job functions for the tests of store-level job actions (tests/test_control.py): a
stored job names its function by ``"module:qualname"``, so they must be importable."""

from __future__ import annotations

import threading
from datetime import datetime

from tickwork import current_run

#: (job id, scheduled_at) of every run in this process.
RUNS: list[tuple[str, datetime]] = []
#: Set by every run.
RAN = threading.Event()
_lock = threading.Lock()


def ping() -> None:
    run = current_run()
    with _lock:
        RUNS.append((run.job_id, run.scheduled_at))
    RAN.set()


class Oops(Exception):
    """An exception type a stored job retries on (kept by reference)."""
