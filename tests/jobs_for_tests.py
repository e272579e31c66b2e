"""Helpers shared by the scheduler tests, and job functions importable by reference.

The functions at module level can be named as ``"tests.jobs_for_tests:<name>"``, which
is what a process executor (and a ``"module:function"`` reference) needs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from tickwork import Event, EventKind, Scheduler, SchedulerState, current_run
from tickwork.executors import Executor, InlineExecutor
from tickwork.stores import JobStore
from tickwork.testing import FakeClock

UTC = timezone.utc
#: A Monday, midnight UTC: the start of every simulated timeline.
T0 = datetime(2024, 1, 1, tzinfo=UTC)
#: The most a test waits for something that should happen within milliseconds.
LIMIT = 3.0


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


# -- job functions, importable by reference ---------------------------------------------


def noop() -> None:
    """Does nothing."""


def boom() -> None:
    """Always fails."""
    raise RuntimeError("boom")


def add(a: int, b: int) -> int:
    return a + b


def context_fields() -> tuple[str, str, int]:
    """What ``current_run()`` says, as picklable values (for a process executor)."""
    run = current_run()
    return run.job_id, run.scheduled_at.isoformat(), run.attempt


# -- test-side helpers ------------------------------------------------------------------


class Events:
    """A listener that records every event and lets a test wait for some."""

    def __init__(self) -> None:
        self.all: list[Event] = []
        self._changed = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self._changed:
            self.all.append(event)
            self._changed.notify_all()

    def of(self, kind: EventKind, job_id: str | None = None) -> list[Event]:
        with self._changed:
            return [
                event
                for event in self.all
                if event.kind in kind and (job_id is None or event.job_id == job_id)
            ]

    def kinds(self, job_id: str | None = None) -> list[EventKind]:
        with self._changed:
            return [e.kind for e in self.all if job_id is None or e.job_id == job_id]

    def wait_for(
        self, kind: EventKind, count: int = 1, limit: float = LIMIT, job_id: str | None = None
    ) -> list[Event]:
        """Wait (real time) until *count* events of *kind* arrived; return them."""

        def enough() -> bool:
            return (
                sum(
                    1
                    for event in self.all
                    if event.kind in kind and (job_id is None or event.job_id == job_id)
                )
                >= count
            )

        with self._changed:
            arrived = self._changed.wait_for(enough, limit)
        found = self.of(kind, job_id)
        assert arrived, f"{len(found)} of {count} {kind!r} events within {limit} s"
        return found


class Calls:
    """A job function that records ``current_run()`` and the fake time of each call."""

    def __init__(self, clock: FakeClock | None = None, result: Any = None) -> None:
        self.clock = clock
        self.result = result
        self.runs: list[tuple[str, datetime, int]] = []
        self.started: list[datetime] = []
        self._lock = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        run = current_run()
        with self._lock:
            self.runs.append((run.job_id, run.scheduled_at, run.attempt))
            if self.clock is not None:
                self.started.append(self.clock.now())
        return self.result

    @property
    def scheduled(self) -> list[datetime]:
        return [scheduled_at for _, scheduled_at, _ in self.runs]

    def __len__(self) -> int:
        return len(self.runs)


@contextmanager
def simulated(
    start: datetime = T0,
    executors: dict[str, Executor] | None = None,
    *,
    open_now: bool = True,
) -> Iterator[tuple[Scheduler, FakeClock, Events]]:
    """A scheduler on a fake clock, inline by default, opened (no thread), always shut down."""
    clock = FakeClock(start)
    scheduler = Scheduler(
        clock=clock,
        executors=executors if executors is not None else {"default": InlineExecutor()},
        timezone="UTC",
    )
    events = Events()
    scheduler.add_listener(events)
    try:
        if open_now:
            scheduler.open()
        yield scheduler, clock, events
    finally:
        if scheduler.state is not SchedulerState.SHUTDOWN:
            scheduler.shutdown(wait=True, timeout=LIMIT)


def wait_until(predicate: Callable[[], bool], limit: float = LIMIT) -> bool:
    """Poll *predicate* (real time) until it is true or *limit* seconds have passed."""
    deadline = time.monotonic() + limit
    pause = threading.Event()
    while time.monotonic() < deadline:
        if predicate():
            return True
        pause.wait(0.002)
    return predicate()


def pump(scheduler: Scheduler, predicate: Callable[[], bool], limit: float = LIMIT) -> bool:
    """Call ``process_due`` (which takes in finished runs) until *predicate* holds."""
    deadline = time.monotonic() + limit
    pause = threading.Event()
    while time.monotonic() < deadline:
        scheduler.process_due()
        if predicate():
            return True
        pause.wait(0.002)
    scheduler.process_due()
    return predicate()


class Gate:
    """A job that says it started, then blocks until the test opens the gate."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.started: list[tuple[datetime, int]] = []
        self.running = 0
        self.most_at_once = 0
        self._changed = threading.Condition()

    def __call__(self) -> datetime:
        run = current_run()
        with self._changed:
            self.started.append((run.scheduled_at, run.attempt))
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self._changed.notify_all()
        try:
            if not self.opened.wait(LIMIT):
                raise TimeoutError("the test never opened the gate")
        finally:
            with self._changed:
                self.running -= 1
                self._changed.notify_all()
        return run.scheduled_at

    def wait_started(self, count: int, limit: float = LIMIT) -> None:
        with self._changed:
            ok = self._changed.wait_for(lambda: len(self.started) >= count, limit)
        assert ok, f"{len(self.started)} of {count} runs started within {limit} s"

    @property
    def scheduled(self) -> list[datetime]:
        with self._changed:
            return [scheduled_at for scheduled_at, _ in self.started]


@contextmanager
def inline_scheduler(clock: FakeClock, store: JobStore) -> Iterator[tuple[Scheduler, Events]]:
    """An opened scheduler on *store* with an inline executor, and its events; shut
    down after the block."""
    scheduler = Scheduler(
        clock=clock, store=store, executors={"default": InlineExecutor()}, timezone="UTC"
    )
    events = Events()
    scheduler.add_listener(events)
    scheduler.open()
    try:
        yield scheduler, events
    finally:
        scheduler.shutdown()
