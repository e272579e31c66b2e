"""Job functions the task-queue tests hand to real workers (importable by reference on
both sides). Side effects go to files the test names, so the test counts what ran."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tickwork import current_run


def take(*args: object, **kwargs: object) -> None:
    """Takes any arguments."""


def add(a: int, b: int) -> int:
    return a + b


def fail(message: str) -> None:
    raise ValueError(message)


def a_set(path: str | None = None) -> set[int]:
    """Note the run in *path* (one line per execution) and return what JSON cannot hold."""
    if path is not None:
        with open(path, "a") as file:
            file.write(current_run().run_id + "\n")
    return {1, 2}


def run_id() -> str:
    return current_run().run_id


def note(path: str, token: str, seconds: float = 0.0) -> str:
    """Append ``start <token> <pid>``, wait *seconds*, append ``end <token>``."""
    with open(path, "a") as file:
        file.write(f"start {token} {os.getpid()}\n")
    time.sleep(seconds)
    with open(path, "a") as file:
        file.write(f"end {token}\n")
    return token


def note_run(path: str) -> str:
    """Append this run's id (one line per execution) and return it."""
    ran = current_run().run_id
    with open(path, "a") as file:
        file.write(ran + "\n")
    return ran


def fail_first(path: str) -> int:
    """Fail on the first attempt (ValueError), succeed on the next: count the attempts."""
    marker = Path(path)
    attempt = current_run().attempt
    with marker.open("a") as file:
        file.write(f"{attempt}\n")
    if attempt == 1:
        raise ValueError("first attempt fails")
    return attempt


def slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def context() -> dict[str, object]:
    """What ``current_run()`` holds besides the run's id: its event and upstream runs."""
    run = current_run()
    event = run.event
    return {
        "run_id": run.run_id,
        "event": None
        if event is None
        else [event.id, event.name, event.payload, event.emitted_at.isoformat()],
        "upstream": {
            job_id: [up.run_id, up.outcome.value, up.return_value, up.error]
            for job_id, up in run.upstream.items()
        },
    }
