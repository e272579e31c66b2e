"""Run history records shared by the stores."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import timezone
from typing import Any

from .._instants import instant
from .._model import Outcome, Run, RunEnd
from .._tz import coerce_timezone

__all__ = ["HISTORY_COLUMNS", "error_fields", "process_name", "run_from_end", "run_from_row"]

#: The history columns :func:`run_from_row` reads, in its order (both SQL stores).
HISTORY_COLUMNS = (
    "job_id, scheduled_us, zone, attempt, outcome, started_us, finished_us, "
    "error_type, error_message, process"
)

_MESSAGE_LIMIT = 2000


def process_name() -> str:
    """``host:pid``: which process recorded a run, or holds a lease."""
    return f"{socket.gethostname()}:{os.getpid()}"


def error_fields(end: RunEnd) -> tuple[str | None, str | None]:
    """(error type, message) for a history row: the exception's, else the reason."""
    error = end.error
    if error is not None:
        kind = type(error)
        module = kind.__module__
        if module == "builtins":
            name = kind.__qualname__
        elif module.startswith("tickwork._"):
            name = f"tickwork.{kind.__qualname__}"  # where users import it from
        else:
            name = f"{module}.{kind.__qualname__}"
        return name, str(error)[:_MESSAGE_LIMIT]
    return None, None if end.reason is None else end.reason[:_MESSAGE_LIMIT]


def run_from_end(end: RunEnd, process: str) -> Run:
    error_type, message = error_fields(end)
    started = end.started_at
    ran = end.outcome in (Outcome.SUCCESS, Outcome.FAILURE, Outcome.INTERRUPTED)
    return Run(
        job_id=end.job_id,
        scheduled_at=end.scheduled_at,
        attempt=end.attempt,
        outcome=end.outcome,
        started_at=started,
        finished_at=end.at if ran else None,
        error_type=error_type,
        error_message=message,
        process=process,
    )


def run_from_row(row: Sequence[Any]) -> Run:
    """The :class:`~tickwork.Run` of a history row read as :data:`HISTORY_COLUMNS`;
    its times in the zone recorded with it (UTC for a zone this machine lacks)."""
    job_id, scheduled_us, zone, attempt, outcome, started, finished, kind, message, process = row
    try:
        tz = coerce_timezone(zone)
    except (LookupError, TypeError):
        tz = timezone.utc
    return Run(
        job_id=job_id,
        scheduled_at=instant(scheduled_us, tz),
        attempt=attempt,
        outcome=Outcome(outcome),
        started_at=None if started is None else instant(started, tz),
        finished_at=None if finished is None else instant(finished, tz),
        error_type=kind,
        error_message=message,
        process=process,
    )
