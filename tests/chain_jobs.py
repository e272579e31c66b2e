"""Job functions for the chain tests, importable by reference
(``"tests.chain_jobs:<name>"``), so a file store can keep jobs that use them.

Each run appends ``(job id, scheduled_at, upstream)`` to :data:`RUNS`, where
``upstream`` maps each upstream job id to (outcome value, return value, run id, error).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tickwork import current_run

RUNS: list[tuple[str, datetime, dict[str, tuple[str, Any, str, str | None]]]] = []
#: Jobs that fail while their id is in here (see :func:`flaky`).
BROKEN: set[str] = set()


def _note() -> dict[str, tuple[str, Any, str, str | None]]:
    run = current_run()
    upstream = {
        key: (up.outcome.value, up.return_value, up.run_id, up.error)
        for key, up in run.upstream.items()
    }
    RUNS.append((run.job_id, run.scheduled_at, upstream))
    return upstream


def extract() -> list[int]:
    _note()
    return [1, 2, 3]


def transform() -> int:
    upstream = _note()
    return sum(upstream["extract"][1])


def load() -> str:
    upstream = _note()
    return f"loaded {upstream['transform'][1]}"


def step() -> str:
    """Any job of a chain: returns its own id."""
    _note()
    return current_run().job_id


def flaky() -> str:
    """Fails while its job id is in :data:`BROKEN`."""
    _note()
    job_id = current_run().job_id
    if job_id in BROKEN:
        raise RuntimeError(f"{job_id} is broken")
    return "ok"


def repair() -> None:
    """A failure handler: notes its run and mends the upstream that failed."""
    upstream = _note()
    for job_id in upstream:
        BROKEN.discard(job_id)


def unkept() -> object:
    """Returns a value JSON cannot hold."""
    _note()
    return object()
