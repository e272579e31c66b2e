"""Run history records shared by the stores."""

from __future__ import annotations

import os
import socket

from .._model import Outcome, Run, RunEnd

__all__ = ["error_fields", "process_name", "run_from_end"]

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
