"""``AsyncScheduler`` as a black-box tester found it wanting, each case fixed:

* under an autojumping ``FakeClock`` its task never gave the loop a turn (every wait
  took 0 s and a step in memory never suspends): the program hung, jobs or none;
* ``await scheduler.shutdown()`` from one of its own coroutine jobs waited for that
  run (``wait=True``: forever) or cancelled it (``wait=False``), and reported nothing;
* an ``AsyncioExecutor`` used again in a second ``asyncio.run()``, or given another
  running loop, stopped all dispatch, thread jobs too ("dispatch failed" every second);
* ``async def`` listeners and ``on_failure`` hooks were taken and never awaited.

Each test waits on events with timeouts; none depends on how long anything takes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tickwork import (
    AsyncScheduler,
    Event,
    EventKind,
    Outcome,
    Scheduler,
    SchedulerState,
    SchedulerStateError,
)
from tickwork.executors import AsyncioExecutor, Executor, InlineExecutor
from tickwork.testing import FakeClock, run_until

from .jobs_for_tests import LIMIT

UTC = timezone.utc
T0 = datetime(2024, 3, 4, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent
PAST = "2000-01-01T00:00:00+00:00"


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(main(), timeout=LIMIT * 2))


# -- an autojumping FakeClock -----------------------------------------------------------


def test_an_autojumping_fake_clock_leaves_the_event_loop_to_other_tasks() -> None:
    clock = FakeClock(T0, autojump=True)
    scheduler = AsyncScheduler(clock=clock, timezone="UTC")
    jumps = [0]

    def count() -> None:
        # (Were the loop never given back, the driver would jump on for ever: stop it
        # here, so that the test ends, and fails.)
        jumps[0] += 1
        if jumps[0] == 10_000 and scheduler.state is SchedulerState.RUNNING:
            scheduler.engine.begin_shutdown()

    async def main() -> None:
        clock.subscribe(count)
        await scheduler.start()
        await asyncio.sleep(0)  # the driver's task runs, then this one again
        back_after = jumps[0]
        assert scheduler.state is SchedulerState.RUNNING
        await scheduler.shutdown()
        assert back_after < 10

    run(main)


def test_the_async_autojump_example_of_the_testing_docs_prints_what_they_show() -> None:
    text = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    start = text.index("`AsyncScheduler` works the same way")
    code = re.search(r"```python\n(.*?)```", text[start:], flags=re.DOTALL)
    shown = re.search(r"```text\n(.*?)```", text[start:], flags=re.DOTALL)
    assert code is not None
    assert shown is not None
    # In a process of its own: a loop that never comes back cannot be stopped in this one.
    path = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code.group(1)],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=LIMIT * 3,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == shown.group(1)


# -- shutdown from inside a job -----------------------------------------------------------


@pytest.mark.parametrize("wait", [True, False])
def test_shutdown_awaited_in_a_job_ends_the_others_and_returns(wait: bool) -> None:
    async def main() -> None:
        scheduler = AsyncScheduler(timezone="UTC")
        seen: list[str] = []
        done = asyncio.Event()

        def listener(event: Event) -> None:
            seen.append(f"{event.kind.name} {event.job_id or ''}".strip())
            if event.job_id == "stopper":
                done.set()

        scheduler.add_listener(
            listener,
            EventKind.JOB_EXECUTED | EventKind.JOB_INTERRUPTED | EventKind.SCHEDULER_SHUTDOWN,
        )
        other_started = asyncio.Event()
        returned: list[bool] = []

        async def other() -> None:
            other_started.set()
            await asyncio.sleep(0.05)

        async def stopper() -> None:
            await other_started.wait()
            await scheduler.shutdown(wait=wait)
            returned.append(True)

        await scheduler.start()
        await scheduler.add_job(other, "date", PAST, id="other")
        await scheduler.add_job(stopper, "date", PAST, id="stopper")
        await asyncio.wait_for(done.wait(), LIMIT)
        assert returned == [True]
        other_end = "JOB_EXECUTED other" if wait else "JOB_INTERRUPTED other"
        assert seen == [other_end, "SCHEDULER_SHUTDOWN", "JOB_EXECUTED stopper"]
        assert scheduler.state is SchedulerState.SHUTDOWN

    run(main)


def test_shutdown_from_a_task_a_job_started_spares_that_job_too() -> None:
    # (On Python 3.11 asyncio.wait_for runs the shutdown in a task of its own: the run
    # is found by current_run(), which that task inherits.)
    async def main() -> None:
        scheduler = AsyncScheduler(timezone="UTC")
        ended = asyncio.Event()
        scheduler.add_listener(lambda event: ended.set(), EventKind.JOB_EXECUTED)

        async def stopper() -> None:
            await asyncio.get_running_loop().create_task(scheduler.shutdown())

        await scheduler.start()
        await scheduler.add_job(stopper, "date", PAST, id="stopper")
        await asyncio.wait_for(ended.wait(), LIMIT)
        (run_,) = await scheduler.history("stopper")
        assert run_.outcome is Outcome.SUCCESS

    run(main)


# -- an AsyncioExecutor and its loop ------------------------------------------------------


def test_an_asyncio_executor_serves_a_new_loop_once_its_first_closed() -> None:
    executors: dict[str, Executor] = {"asyncio": AsyncioExecutor()}  # module-level, say

    async def coro() -> None:
        pass

    async def app() -> list[str]:
        ran: list[str] = []
        both = asyncio.Event()

        def listener(event: Event) -> None:
            ran.append(event.job_id or "")
            if len(ran) == 2:
                both.set()

        async with AsyncScheduler(timezone="UTC", executors=executors) as scheduler:
            scheduler.add_listener(listener, EventKind.JOB_EXECUTED)
            await scheduler.add_job(coro, "date", PAST, id="coro")
            await scheduler.add_job(print, "date", PAST, args=["plain"], id="plain")
            await asyncio.wait_for(both.wait(), LIMIT)
        return sorted(ran)

    # The second asyncio.run dispatched nothing at all, thread jobs included.
    assert asyncio.run(app()) == ["coro", "plain"]
    assert asyncio.run(app()) == ["coro", "plain"]


def test_an_asyncio_executor_on_another_running_loop_is_refused_at_start() -> None:
    other = asyncio.new_event_loop()
    thread = threading.Thread(target=other.run_forever, daemon=True)
    thread.start()

    async def main() -> None:
        scheduler = AsyncScheduler(
            timezone="UTC", executors={"coroutines": AsyncioExecutor(loop=other)}
        )
        with pytest.raises(SchedulerStateError, match=r"executor 'coroutines'.*another event loop"):
            await scheduler.start()
        assert scheduler.state is SchedulerState.STOPPED
        await scheduler.shutdown()

    try:
        run(main)
    finally:
        other.call_soon_threadsafe(other.stop)
        thread.join(LIMIT)
        other.close()


class Unstartable(InlineExecutor):
    def start(self, report: Any, clock: Any) -> None:
        raise SchedulerStateError("this executor cannot start here")


def test_an_executor_that_cannot_start_interrupts_its_runs_and_no_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(T0)
    scheduler = Scheduler(
        clock=clock,
        executors={"default": InlineExecutor(), "broken": Unstartable()},
        timezone="UTC",
    )
    events: list[Event] = []
    scheduler.add_listener(events.append, EventKind.JOB_EXECUTED | EventKind.JOB_INTERRUPTED)
    scheduler.add_job(print, "interval", seconds=10, args=["x"], id="b", executor="broken")
    scheduler.add_job(len, "interval", seconds=10, args=["ok"], id="ok")
    scheduler.open()
    with caplog.at_level(logging.ERROR, logger="tickwork"):
        run_until(scheduler, T0.replace(second=25))
    scheduler.shutdown()
    ended = sorted((e.job_id or "", e.kind.name) for e in events)
    assert ended == [("b", "JOB_INTERRUPTED")] * 2 + [("ok", "JOB_EXECUTED")] * 2
    assert all("cannot start here" in str(e.exception) for e in events if e.job_id == "b")
    assert "executor 'broken' could not start" in caplog.text


# -- async def listeners -----------------------------------------------------------------


def test_async_listeners_and_failure_hooks_are_awaited_on_the_loop() -> None:
    async def main() -> None:
        calls: list[tuple[str, str]] = []
        done = asyncio.Event()

        async def fails() -> None:
            raise RuntimeError("boom")

        async def on_event(event: Event) -> None:
            await asyncio.sleep(0)
            calls.append(("listener", event.kind.name))

        async def on_failure(event: Event) -> None:
            await asyncio.sleep(0)
            calls.append(("on_failure", event.job_id or ""))
            done.set()

        async def on_shutdown(event: Event) -> None:
            await asyncio.sleep(0)
            calls.append(("shutdown", event.kind.name))

        async with AsyncScheduler(timezone="UTC") as scheduler:
            scheduler.add_listener(on_event, EventKind.JOB_FAILED)
            scheduler.on_failure(on_failure)
            scheduler.add_listener(on_shutdown, EventKind.SCHEDULER_SHUTDOWN)
            await scheduler.add_job(fails, "date", PAST, id="f")
            await asyncio.wait_for(done.wait(), LIMIT)
        # (SCHEDULER_SHUTDOWN's listener ended before shutdown() returned.)
        assert sorted(calls) == [
            ("listener", "JOB_FAILED"),
            ("on_failure", "f"),
            ("shutdown", "SCHEDULER_SHUTDOWN"),
        ]

    run(main)


def test_an_async_listener_that_raises_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async def broken(event: Event) -> None:
            raise ValueError("listener broke")

        with caplog.at_level(logging.ERROR, logger="tickwork"):
            async with AsyncScheduler(timezone="UTC") as scheduler:
                scheduler.add_listener(broken, EventKind.SCHEDULER_SHUTDOWN)

    run(main)
    assert "listener" in caplog.text
    assert "failed on SCHEDULER_SHUTDOWN" in caplog.text
    assert "listener broke" in caplog.text


def test_the_thread_scheduler_refuses_async_listeners_naming_them() -> None:
    scheduler = Scheduler(timezone="UTC")

    async def page_someone(event: Event) -> None:
        pass

    with pytest.raises(TypeError, match=r"page_someone is an async function.*AsyncScheduler"):
        scheduler.add_listener(page_someone)
    with pytest.raises(TypeError, match=r"page_someone is an async function"):
        scheduler.on_failure(page_someone)
    scheduler.add_listener(print)  # a plain one still is taken
