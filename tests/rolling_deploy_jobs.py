"""The code a rolling deploy brings: a job function that the "new" processes of a test
import and the "old" ones cannot (the tests block its import for those: see
``tests/test_runs_left_for_capable_processes.py``)."""

from __future__ import annotations


def job() -> None:
    """Never run: the tests' executors hold their runs."""
