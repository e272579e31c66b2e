"""Executors a scheduler shut down, given to the next scheduler, as a black-box tester
found them: under ``Scheduler`` (the thread driver) every run of the second scheduler
was reported ``JOB_INTERRUPTED``, "the run was cut off before it finished", with
"cannot submit runs: the ... executor is shut down" in the log, although
docs/executors.md says a shut-down ``AsyncioExecutor`` starts afresh (it did, under
``AsyncScheduler``, on another loop only). A run that never started was also reported
"cut off before it finished".

Each test waits on events with timeouts.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from tickwork import (
    AsyncScheduler,
    Event,
    EventKind,
    Outcome,
    Scheduler,
    SchedulerStateError,
)
from tickwork.executors import (
    AsyncioExecutor,
    Executor,
    InlineExecutor,
    ProcessExecutor,
    ThreadExecutor,
)

from .jobs_for_tests import LIMIT, add

PAST = "2000-01-01T00:00:00+00:00"
ENDS = EventKind.JOB_EXECUTED | EventKind.JOB_FAILED | EventKind.JOB_INTERRUPTED


async def coroutine() -> str:
    return "ran"


def plain() -> str:
    return "ran"


def one_round(executor: Executor, func: Callable[..., Any], *args: Any) -> Event:
    """A Scheduler with *executor* as "x" runs *func* once; its run's last event."""
    got: list[Event] = []
    ended = threading.Event()

    def listener(event: Event) -> None:
        got.append(event)
        ended.set()

    scheduler = Scheduler(timezone="UTC", executors={"x": executor})
    scheduler.add_listener(listener, ENDS)
    scheduler.add_job(func, "date", PAST, args=args, executor="x")
    scheduler.start()
    try:
        assert ended.wait(LIMIT)
    finally:
        scheduler.shutdown()
    (event,) = got
    return event


@pytest.mark.parametrize(
    ("make", "func", "args"),
    [
        (AsyncioExecutor, coroutine, ()),
        (lambda: ThreadExecutor(max_workers=2), plain, ()),
        (InlineExecutor, plain, ()),
        (lambda: ProcessExecutor(max_workers=1), add, (1, 2)),
    ],
    ids=["asyncio", "thread", "inline", "process"],
)
def test_an_executor_shut_down_by_a_scheduler_serves_the_next_one(
    make: Callable[[], Executor], func: Callable[..., Any], args: tuple[Any, ...]
) -> None:
    executor = make()
    first = one_round(executor, func, *args)
    second = one_round(executor, func, *args)
    for event in (first, second):
        assert event.kind is EventKind.JOB_EXECUTED, (event.reason, event.exception)
    assert first.return_value == second.return_value


def test_an_asyncio_executor_serves_schedulers_one_after_another_on_one_loop() -> None:
    executor = AsyncioExecutor()

    async def once() -> Event:
        ended = asyncio.Event()
        got: list[Event] = []
        async with AsyncScheduler(timezone="UTC", executors={"asyncio": executor}) as scheduler:
            scheduler.add_listener(lambda event: (got.append(event), ended.set()), ENDS)
            await scheduler.add_job(coroutine, "date", PAST)
            await asyncio.wait_for(ended.wait(), LIMIT)
        return got[0]

    async def main() -> list[Event]:
        return [await once(), await once()]

    for event in asyncio.run(main()):
        assert event.kind is EventKind.JOB_EXECUTED, (event.reason, event.exception)


class Refusing(Executor):
    """An executor that refuses every run."""

    def submit(self, request: Any) -> None:
        raise SchedulerStateError("cannot submit runs: refused for the test")

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        pass


def test_a_run_that_never_started_is_not_said_to_be_cut_off() -> None:
    event = one_round(Refusing(), plain)
    assert event.kind is EventKind.JOB_INTERRUPTED
    assert event.reason == "the run never started"
    assert event.started_at is None
    assert isinstance(event.exception, SchedulerStateError)


def test_a_run_cut_off_midway_is_still_said_to_be() -> None:
    started = threading.Event()
    got: list[Event] = []

    async def hang() -> None:
        started.set()
        await asyncio.sleep(LIMIT)

    scheduler = Scheduler(timezone="UTC")
    scheduler.add_listener(got.append, EventKind.JOB_INTERRUPTED)
    scheduler.add_job(hang, "date", PAST, id="hang")
    scheduler.start()
    assert started.wait(LIMIT)
    scheduler.shutdown(wait=True, timeout=0.05)  # (then cancelled, and reported)
    (event,) = got
    assert event.reason == "the run was cut off before it finished"
    assert event.started_at is not None
    (run,) = scheduler.history("hang")
    assert run.outcome is Outcome.INTERRUPTED
