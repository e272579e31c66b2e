"""Job functions for the executor tests, importable by reference (for worker processes),
and the test side's helpers (a result recorder, request factory, file waits)."""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tickwork._context import current_run
from tickwork._model import RunContext, RunRequest, RunResult

#: The most a job waits for a test to release it, so a failing test cannot hang.
LIMIT = 10.0


def add(a: int, b: int) -> int:
    return a + b


def fail(message: str) -> None:
    raise ValueError(message)


def context() -> RunContext:
    return current_run()


def worker_identity() -> tuple[int, int]:
    return os.getpid(), threading.get_ident()


def raise_base(kind: str) -> None:
    raise {"exit": SystemExit, "interrupt": KeyboardInterrupt, "generator": GeneratorExit}[kind]()


def block(started: str, release: str) -> str:
    """Say it started (a file appears), then wait until *release* exists."""
    Path(started).touch()
    deadline = time.monotonic() + LIMIT
    while not os.path.exists(release):
        if time.monotonic() > deadline:
            raise TimeoutError("the test never released this job")
        time.sleep(0.005)
    return "released"


def write_pid_then_sleep(path: str, seconds: float) -> None:
    """Write this process's id to *path* (written whole, then renamed), then sleep."""
    Path(path + ".tmp").write_text(str(os.getpid()))
    os.replace(path + ".tmp", path)
    time.sleep(seconds)


def write_pid_then_compute(path: str, seconds: float) -> int:
    """Write this process's id to *path*, then compute in one long C call (holding the
    GIL all along: no other thread of the process runs meanwhile)."""
    Path(path + ".tmp").write_text(str(os.getpid()))
    os.replace(path + ".tmp", path)
    return sum(range(int(seconds * 50_000_000)))


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def exit_now(code: int) -> None:
    os._exit(code)


async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


async def async_context() -> RunContext:
    await asyncio.sleep(0)
    return current_run()


async def async_sleep(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


async def async_hold_loop(seconds: float) -> float:
    """A coroutine that blocks its loop (a synchronous call inside it)."""
    time.sleep(seconds)
    return seconds


async def async_block(started: str, release: str) -> str:
    Path(started).touch()
    deadline = time.monotonic() + LIMIT
    while not os.path.exists(release):
        if time.monotonic() > deadline:
            raise TimeoutError("the test never released this job")
        await asyncio.sleep(0.005)
    return "released"


class NeedsTwoArguments(Exception):
    """Pickles, but cannot be rebuilt from its args: unpickling calls it with one."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first}/{second}")


def raise_unrebuildable() -> None:
    raise NeedsTwoArguments("left", "right")


def return_lock() -> Any:
    return threading.Lock()


class Greeter:
    def hello(self) -> str:
        return "hello"


GREETER = Greeter()


def wait_for_file(path: Path, limit: float = LIMIT) -> None:
    """Test side: wait until a job created *path*."""
    deadline = time.monotonic() + limit
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} did not appear within {limit} s")
        time.sleep(0.005)


_run_ids = itertools.count(1)
SCHEDULED_AT = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)


def make_request(
    func: Callable[..., Any] | None,
    *args: Any,
    job_id: str = "job",
    timeout: float | None = None,
    attempt: int = 1,
    **kwargs: Any,
) -> RunRequest:
    """A request as the scheduler would make it: function and its reference."""
    reference = None if func is None else f"{func.__module__}:{func.__qualname__}"
    return RunRequest(
        run_id=next(_run_ids),
        job_id=job_id,
        func=func,
        func_ref=reference,
        args=args,
        kwargs=kwargs,
        scheduled_at=SCHEDULED_AT,
        attempt=attempt,
        timeout=timeout,
    )


class Recorder:
    """The result callback: records results, lets a test wait for some."""

    def __init__(self) -> None:
        self.results: list[RunResult] = []
        self._changed = threading.Condition()

    def __call__(self, result: RunResult) -> None:
        with self._changed:
            self.results.append(result)
            self._changed.notify_all()

    def wait_for(self, count: int, limit: float = LIMIT) -> list[RunResult]:
        """Wait until at least *count* results arrived; return them all."""
        with self._changed:
            arrived = self._changed.wait_for(lambda: len(self.results) >= count, limit)
            assert arrived, f"{len(self.results)} of {count} results within {limit} s"
            return list(self.results)

    def results_of(self, *requests: RunRequest, limit: float = LIMIT) -> list[RunResult]:
        """Wait for the result of each of *requests*; return them in the order given.

        Executors promise one result per request, not an order among them: the asyncio
        executor runs plain functions in threads, which may finish in any order.
        """
        with self._changed:
            wanted = {request.run_id for request in requests}
            arrived = self._changed.wait_for(
                lambda: wanted <= {result.request.run_id for result in self.results}, limit
            )
            got = {result.request.run_id: result for result in self.results}
            assert arrived, f"{len(wanted & got.keys())} of {len(wanted)} results within {limit} s"
            return [got[request.run_id] for request in requests]

    def one(self, limit: float = LIMIT) -> RunResult:
        """Wait for the first result and return it."""
        return self.wait_for(1, limit)[0]
