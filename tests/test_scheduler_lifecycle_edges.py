"""Edges of a scheduler's life found by probing: an AsyncScheduler whose task was
cancelled (or whose loop ended) under it, and one executor given to two schedulers."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tickwork import AsyncScheduler, Scheduler, SchedulerStateError
from tickwork.executors import AsyncioExecutor, ThreadExecutor


def test_a_cancelled_scheduler_task_is_reported_and_shutdown_still_works(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        scheduler = AsyncScheduler(timezone="UTC")
        await scheduler.start()
        for task in asyncio.all_tasks():  # a common "cancel everything" shutdown
            if task is not asyncio.current_task():
                task.cancel()
        await asyncio.sleep(0.05)
        await scheduler.shutdown()  # raised the task's CancelledError into the caller

    with caplog.at_level(logging.ERROR, logger="tickwork"):
        asyncio.run(main())
    assert any("task ended while the scheduler was running" in r.message for r in caplog.records)


def test_a_scheduler_left_running_when_its_loop_ended_can_be_shut_down_later() -> None:
    scheduler = AsyncScheduler(timezone="UTC")

    async def first() -> None:
        await scheduler.start()

    async def second() -> None:
        await scheduler.shutdown()

    logging.getLogger("tickwork").disabled = True  # (the error it logs is the point above)
    try:
        asyncio.run(first())
        asyncio.run(second())
    finally:
        logging.getLogger("tickwork").disabled = False
    assert scheduler.state.value == "shutdown"


@pytest.mark.parametrize("make", [ThreadExecutor, AsyncioExecutor])
def test_one_executor_serves_one_running_scheduler(make: type) -> None:
    executor = make()

    async def main() -> None:
        first = AsyncScheduler(executors={"default": executor}, timezone="UTC")
        second = AsyncScheduler(executors={"default": executor}, timezone="UTC")
        await first.start()
        # Runs and results crossed between the two: half the fires were skipped.
        with pytest.raises(SchedulerStateError, match="'default' is in use by another"):
            await second.start()
        await first.shutdown()
        third = AsyncScheduler(executors={"default": executor}, timezone="UTC")
        await third.start()  # once the first is shut down, the executor serves another
        await third.shutdown()

    asyncio.run(main())


def test_a_thread_scheduler_refuses_an_executor_another_one_runs_with() -> None:
    executor = ThreadExecutor()
    first = Scheduler(executors={"default": executor}, timezone="UTC")
    first.start()
    try:
        with pytest.raises(SchedulerStateError, match="in use by another scheduler"):
            Scheduler(executors={"default": executor}, timezone="UTC").start()
    finally:
        first.shutdown()
