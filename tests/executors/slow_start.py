"""Job functions in a module that is slow to import in a worker process.

Importing this module sleeps :data:`IMPORT_SECONDS`, but only in a child process, so
the test process itself imports it at once. A worker therefore spends that long
importing the job's module before the job itself starts, which must not count
against the run's ``timeout``.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

#: How long a worker process takes to import this module.
IMPORT_SECONDS = 1.5

if multiprocessing.parent_process() is not None:
    time.sleep(IMPORT_SECONDS)


def nap(seconds: float) -> int:
    """Sleep *seconds*; return the worker's process id."""
    time.sleep(seconds)
    return os.getpid()


def mark_and_nap(marker: str, seconds: float) -> None:
    """Say the job began (*marker* appears), then sleep *seconds*."""
    Path(marker).touch()
    time.sleep(seconds)
