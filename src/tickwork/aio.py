"""``AsyncScheduler``: the same engine, driven by a task in the caller's asyncio loop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Iterable, Mapping
from datetime import datetime, tzinfo
from types import TracebackType
from typing import Any

from ._batches import entries_of
from ._checks import flags, seconds
from ._clock import Clock
from ._driver import DriverBase, Pacer, forward_async, off_loop
from ._engine import _FLUSH_WAIT, Engine, SchedulerState
from ._errors import SchedulerStateError
from ._executorlink import tended
from ._model import Job, Run
from ._options import check_history_query as _check_history_query
from .executors import AsyncioExecutor, Executor, ThreadExecutor
from .stores import JobStore

__all__ = ["AsyncScheduler"]

logger = logging.getLogger("tickwork")
#: An AsyncScheduler's ``add_jobs`` of more jobs than this runs in a worker thread.
BIG_BATCH = 256


#: How long before a run's due time the asyncio driver steps once to warm up (see
#: AsyncScheduler._warm); only for waits longer than twice this.
WARM_LEAD = 0.002
#: The most loop turns the asyncio driver gives the runs on its loop before a wait on
#: an autojumping FakeClock (see AsyncScheduler._settle).
SETTLE_TURNS = 32


def _loop_executors() -> dict[str, Executor]:
    return {"default": ThreadExecutor(), "asyncio": AsyncioExecutor()}


class AsyncScheduler(DriverBase):
    """A scheduler that runs inside your asyncio event loop.

    >>> async def main():  # doctest: +SKIP
    ...     async with AsyncScheduler(timezone="UTC") as scheduler:
    ...         await scheduler.add_job(refresh_cache, "interval", minutes=5)
    ...         await asyncio.Event().wait()

    Coroutine functions run as tasks on the same loop (``"asyncio"`` executor, which
    enforces ``timeout``); plain functions run in worker threads (``"default"``). The
    arguments are those of :class:`~tickwork.Scheduler`; the methods are the same, as
    coroutines, except the decorators (``cron``, ``interval``, ``at``,
    ``scheduled_job``), the fluent ``every()`` chain and the listener methods, which
    are plain. Listeners (and ``on_failure`` hooks) may be ``async def`` functions:
    each call becomes a task on the loop, and ``shutdown()`` waits for those started.

    With a store that does I/O (``SQLiteStore``), every store operation runs in a
    worker thread, so a file another process holds locked never stalls the loop;
    listeners are still called on the loop.
    """

    def __init__(
        self,
        *,
        store: JobStore | None = None,
        executors: Mapping[str, Executor] | None = None,
        clock: Clock | None = None,
        timezone: str | tzinfo | None = None,
        max_wait: float = 60.0,
    ) -> None:
        self._engine = Engine(
            store=store,
            executors=executors,
            clock=clock,
            timezone=timezone,
            max_wait=max_wait,
            default_executors=_loop_executors,
        )
        self._engine.attach_driver(self)
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # _set: the task should look again (woken, or the clock moved); _woken says the
        # engine asked. The task blocks on _waiter, a bare future that _fire or a
        # loop.call_at timer resolves: no task, timeout object or Event per wait.
        self._set = False
        self._waiter: asyncio.Future[None] | None = None
        self._woken = False
        # A step the wait's timer took itself (see _timed_out): what it returned, or
        # the exception it raised, for the task to use instead of stepping again.
        self._stepped: tuple[datetime | None, Exception | None] | None = None
        self._pacer = Pacer(self._engine)
        # async def listeners: each call a task on the loop, kept here until it ends.
        self._listening: set[asyncio.Task[None]] = set()
        self._engine._listeners.spawn = self._spawn
        # A fake clock may answer a wait with 0 s (autojump): see _wait.
        self._fake_time = not self._engine.real_time

    # -- the engine's operations, as coroutines -----------------------------------------

    add_job = forward_async(Engine.add_job)

    async def add_jobs(self, jobs: Iterable[Mapping[str, Any]]) -> list[Job]:
        """See :meth:`tickwork.Scheduler.add_jobs`. A batch of more than
        :data:`BIG_BATCH` jobs is built in a worker thread, as every call is with a
        store that does I/O: building ten thousand jobs takes a few hundred
        milliseconds of Python, which the event loop would otherwise wait for."""
        entries = entries_of(jobs)  # (checked here: a generator is read once)
        engine = self._engine
        if engine.does_io or len(entries) <= BIG_BATCH:
            return await off_loop(engine, Engine.add_jobs, entries)
        added, events = await asyncio.to_thread(engine.held, Engine.add_jobs, entries)
        engine.emit(events)
        return added

    get_job = forward_async(Engine.get_job)
    get_jobs = forward_async(Engine.get_jobs)
    next_fire_times = forward_async(Engine.next_fire_times)
    last_expected_fire = forward_async(Engine.last_expected_fire)
    broken_jobs = forward_async(Engine.broken_jobs)
    modify_job = forward_async(Engine.modify_job)
    reschedule_job = forward_async(Engine.reschedule_job)
    pause_job = forward_async(Engine.pause_job)
    resume_job = forward_async(Engine.resume_job)
    remove_job = forward_async(Engine.remove_job)
    remove_all_jobs = forward_async(Engine.remove_all_jobs)
    run_job_now = forward_async(Engine.run_job_now)
    backfill = forward_async(Engine.backfill)
    emit = forward_async(Engine.emit_event)
    pause = forward_async(Engine.pause)
    resume = forward_async(Engine.resume)

    async def history(self, job_id: str | None = None, *, limit: int = 100) -> list[Run]:
        """See :meth:`tickwork.Scheduler.history`."""
        engine = self._engine
        _check_history_query(job_id, limit)
        if engine.has_results() and self._task_alive():
            # The scheduler's task takes in runs that just ended: let it, then read.
            loop = asyncio.get_running_loop()
            engine.request_flush()
            deadline = loop.time() + _FLUSH_WAIT
            while engine.has_results() and loop.time() < deadline:
                await asyncio.sleep(0.0005)
        return await off_loop(engine, Engine.history, job_id, limit=limit)

    # -- lifecycle --------------------------------------------------------------------

    async def start(self, *, paused: bool = False) -> None:
        """Load the stored jobs and start dispatching from a task on the running loop.

        Raises:
            SchedulerStateError: started already or shut down; or an
                ``AsyncioExecutor`` among the executors runs on another loop, still in
                use (the message names its alias).
        """
        loop = asyncio.get_running_loop()
        engine = self._engine
        for alias, executor in engine.executors.items():
            if isinstance(executor, AsyncioExecutor):
                try:
                    executor.check_loop(loop)
                except SchedulerStateError as error:
                    raise SchedulerStateError(f"executor {alias!r}: {error}") from None
        self._loop = loop
        await off_loop(engine, Engine.announce, paused=paused)
        await self._measure_clock()
        events = await off_loop(engine, Engine.startup, paused=paused)
        self._unsubscribe = engine.clock.subscribe(self._tick)
        engine.emit(events)
        self._task = loop.create_task(self._run(), name="tickwork-scheduler")
        self._task.add_done_callback(self._ended)

    async def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop dispatching now, then stop the executors (see ``Scheduler.shutdown``).

        Awaited from inside one of its own jobs, it neither waits for nor cancels that
        run (it waits for the others, as *wait* says, and returns); the run is
        reported when it ends, after ``SCHEDULER_SHUTDOWN``.
        """
        flags(wait=wait)
        if timeout is not None:
            seconds(timeout, "timeout")
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        engine = self._engine
        started = engine.begin_shutdown()
        self.wakeup()
        task = self._task
        if task is not None and task is not asyncio.current_task() and not task.done():
            # (Waited for, not awaited: a task someone else cancelled is no cancel of ours.)
            await asyncio.wait([task])
        # Coroutines on this loop end here, not in a thread that cannot await them (the
        # store looked after meanwhile: the task that renews its leases has ended).
        with tended(engine.tend if wait and engine.tends else None):
            for executor in engine.started_executors():
                if isinstance(executor, AsyncioExecutor):
                    await executor.shutdown_async(wait=wait, timeout=timeout)
        if started:
            events = await asyncio.to_thread(engine.teardown, wait, timeout)
        else:
            events = await off_loop(engine, Engine.close_unstarted, wait, timeout)
        engine.emit(events)
        # async def listeners called so far (SCHEDULER_SHUTDOWN's too) end before this
        # returns, as the sync ones have (not one that is itself shutting us down).
        listening = self._listening - {asyncio.current_task()}
        if wait and listening:
            left = None if deadline is None else max(deadline - loop.time(), 0.0)
            await asyncio.wait(listening, timeout=left)

    async def __aenter__(self) -> AsyncScheduler:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._engine.state is not SchedulerState.SHUTDOWN:
            await self.shutdown(wait=True)

    # -- the driver interface (what the engine calls, from any thread) -----------------

    def wakeup(self) -> None:
        """Step soon (the engine calls this when something changed)."""
        self._woken = True
        self._tick()

    def _tick(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            if _running_loop() is loop:
                self._fire()
            else:
                loop.call_soon_threadsafe(self._fire)
        except RuntimeError:  # the loop closed meanwhile
            pass

    def _fire(self) -> None:
        # On the loop: make the task look again, now or as soon as it next waits.
        self._set = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run an ``async def`` listener's call as a task on the scheduler's loop
        (before ``start()``, the caller's), whichever thread emits the event."""
        here = _running_loop()
        loop = self._loop or here
        if loop is not None and here is loop:
            self._listen(coroutine)
            return
        try:
            if loop is None:
                raise RuntimeError("no event loop yet")
            loop.call_soon_threadsafe(self._listen, coroutine)
        except RuntimeError as error:  # no loop, or it closed
            coroutine.close()
            logger.warning("tickwork: an async listener was not called (%s)", error)

    def _listen(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._listening.add(task)
        task.add_done_callback(self._listening.discard)

    def running(self) -> bool:
        """Whether the task steps the engine, seen from another thread (from the
        loop's own thread the task cannot run while the caller waits)."""
        return self._task_alive() and _running_loop() is not self._loop

    def prepare(self, executor: Executor) -> None:
        if isinstance(executor, AsyncioExecutor) and self._loop is not None:
            # Results come back a batch per loop turn, taken in with one call.
            executor.attach_loop(self._loop, report_many=self._engine._on_results)

    # -- the task ---------------------------------------------------------------------

    _stepper = "task"

    def _task_alive(self) -> bool:
        task = self._task
        return task is not None and not task.done()

    _stepping = _task_alive

    async def _block(self, real: float | None) -> bool:
        """Block for *real* seconds (None: until set); whether the engine woke it."""
        if not self._set:
            loop = self._loop
            assert loop is not None
            waiter = self._waiter = loop.create_future()
            # A loop timer: the precision of loop.call_at, nothing created but a handle.
            timer = warm = None
            if real is not None:
                at = loop.time() + real
                timer = loop.call_at(at, self._timed_out, waiter)
                if real > 2 * WARM_LEAD and self._engine.wake_for_run:
                    warm = loop.call_at(at - WARM_LEAD, self._warm, waiter, at)
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
                if warm is not None:
                    warm.cancel()
        self._set = False
        return self._woken or self._closing()

    def _timed_out(self, waiter: asyncio.Future[None]) -> None:
        """The wait's timer: step here when the store does no I/O, then release the task.

        Runs due now then become tasks in this callback and start on the loop's next
        turn, as they would from a bare ``loop.call_at``; released first, the driver's
        task would step a turn later, and the runs start a turn after that.
        """
        if waiter.done():
            return
        engine = self._engine
        if self._waiter is waiter and not engine.does_io and not self._closing():
            self._woken = False
            try:
                stepped: tuple[datetime | None, Exception | None] = (engine.step(), None)
            except Exception as error:
                stepped = (None, error)  # the task reports it, as if it had stepped
            if not self._woken:
                # (Woken during the step, the task steps again instead.)
                self._stepped = stepped
        if not waiter.done():
            waiter.set_result(None)

    def _warm(self, waiter: asyncio.Future[None], at: float) -> None:
        """A step shortly before a run's due time, when the store does no I/O.

        After a long idle wait a step is several times slower than a step just after
        another (the code and data have left the CPU's caches): a step a moment
        before makes the one at the due time quick. It dispatches nothing early (it
        runs only what is already due); should it find something due before *at* (a
        retry planned from a result it took in), the task is released to handle it.
        """
        engine = self._engine
        if waiter.done() or self._waiter is not waiter or engine.does_io or self._closing():
            return
        self._woken = False
        try:
            upcoming = engine.step()
        except Exception:
            return  # the step at the due time reports it
        wait = self._pacer.wait_for(upcoming)
        loop = self._loop
        assert loop is not None
        if not self._woken and (wait is None or loop.time() + wait < at):
            self._stepped = (upcoming, None)
            waiter.set_result(None)

    async def _wait(self, wait: float) -> bool:
        if self._fake_time and await self._settle():
            return True
        for real in self._pacer.sleeps(wait):
            if await self._block(real):
                return True
            if self._stepped is not None:
                return False  # the timer stepped: the wait ran its length
        return self._woken

    async def _settle(self) -> bool:
        """Before a wait on a fake clock: let the loop run what it has to; whether the
        engine woke the task meanwhile (a wake-up is a step, not a wait).

        Under an autojumping FakeClock every wait takes 0 s and a step in memory never
        suspends: without turns here the task would keep the loop to itself. The runs
        just started take the loop at the time they were due, and their results come
        in (a turn later) before the clock jumps on: a run waiting for a free instance
        (``max_instances``, a catch-up) then starts at once, at the time the one before
        it ended. A run still going after :data:`SETTLE_TURNS` turns (one that awaits
        real time, or a plain function in a thread) is left to end while the clock
        jumps on.
        """
        for _ in range(SETTLE_TURNS):
            await asyncio.sleep(0)
            if self._woken or self._closing():
                return True
            if not any(
                isinstance(executor, AsyncioExecutor) and executor.busy(self._loop)
                for executor in self._engine.executors.values()
            ):
                break
        if not getattr(self._engine.clock, "autojump", False):
            return False
        # Runs in worker threads (plain functions): waited for in real time, as the
        # thread driver does, before the clock jumps on.
        until = self._settle_until()
        while until is not None and time.monotonic() < until:
            await asyncio.sleep(0.001)
            if self._woken or self._closing() or not self._engine.in_flight():
                return True
        return False

    async def _measure_clock(self) -> None:
        """The offset to a store's clock, when due (every 10 s): a blocking query, so
        in a worker thread (the loop is not stalled; the thread's readings of the host
        clock bracket the query, so the offset is as good as from the loop)."""
        engine = self._engine
        if engine.clock_due():
            await asyncio.to_thread(engine.measure_clock)

    def _closing(self) -> bool:
        return self._engine.state is SchedulerState.SHUTDOWN

    async def _run(self) -> None:
        engine, pacer = self._engine, self._pacer
        try:
            while not self._closing():
                stepped, self._stepped = self._stepped, None
                if self._woken:
                    stepped = None  # woken since a timer stepped: that step is stale
                self._woken = False
                try:
                    await self._measure_clock()
                    if stepped is not None:
                        upcoming, error = stepped
                        if error is not None:
                            raise error
                    else:
                        # With a store that does I/O (SQLite), in a worker thread: a
                        # file another process holds locked never stalls the event loop.
                        upcoming = await off_loop(engine, Engine.step)
                except Exception:
                    logger.exception("tickwork: dispatch failed; retrying in 1 s")
                    await self._wait(1.0)
                    continue
                if self._closing():
                    break
                wait = pacer.wait_for(upcoming)
                if wait is None:
                    await asyncio.sleep(0)
                    continue
                if not await self._wait(wait):
                    pacer.check_jump()
        finally:
            self._unsubscribe()

    def _ended(self, task: asyncio.Task[None]) -> None:
        """The dispatch task is done: unless shut down, it was cancelled (a shutdown
        that cancels every task) or its loop finished, and nothing more is dispatched,
        which is said."""
        state = self._engine.state
        if state is not SchedulerState.SHUTDOWN:
            logger.error(
                "tickwork: the AsyncScheduler's task ended while the scheduler was %s "
                "(cancelled, or its event loop finished): nothing more is dispatched; "
                "await its shutdown() before the loop ends",
                state.value,
            )


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
