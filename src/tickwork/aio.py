"""``AsyncScheduler``: the same engine, driven by a task in the caller's asyncio loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, tzinfo
from types import TracebackType
from typing import Any, TypeVar

from ._checks import seconds
from ._clock import Clock
from ._engine import _FLUSH_WAIT, Engine, SchedulerState, _check_history_query
from ._errors import SchedulerStateError
from ._events import EventKind, Listener
from ._fluent import JobBuilder
from ._model import Job, Run
from .executors import AsyncioExecutor, Executor, ThreadExecutor
from .scheduler import JUMP_TOLERANCE
from .stores import JobStore
from .triggers import Trigger

__all__ = ["AsyncScheduler"]

logger = logging.getLogger("tickwork")
F = TypeVar("F", bound=Callable[..., Any])


class _LoopEngine(Engine):
    """The engine with asyncio defaults: coroutine functions run on the caller's loop."""

    def _default_executors(self) -> dict[str, Executor]:
        return {"default": ThreadExecutor(), "asyncio": AsyncioExecutor()}

    def _make_asyncio_executor(self) -> Executor:
        return AsyncioExecutor()

    def _start_executor(self, alias: str, executor: Executor) -> None:
        loop = getattr(self, "_loop", None)
        if isinstance(executor, AsyncioExecutor) and loop is not None:
            executor.attach_loop(loop)
        super()._start_executor(alias, executor)


class AsyncScheduler:
    """A scheduler that runs inside your asyncio event loop.

    >>> async def main():  # doctest: +SKIP
    ...     async with AsyncScheduler(timezone="UTC") as scheduler:
    ...         await scheduler.add_job(refresh_cache, "interval", minutes=5)
    ...         await asyncio.Event().wait()

    Coroutine functions run as tasks on the same loop (``"asyncio"`` executor, which
    enforces ``timeout``); plain functions run in worker threads (``"default"``). The
    arguments are those of :class:`~tickwork.Scheduler`; the methods are the same, as
    coroutines, except the decorators (``cron``, ``interval``, ``at``,
    ``scheduled_job``) and the fluent ``every()`` chain, which are plain.
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
        self._engine = _LoopEngine(
            store=store, executors=executors, clock=clock, timezone=timezone, max_wait=max_wait
        )
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def engine(self) -> Engine:
        """The synchronous engine underneath (thread-safe; for code outside the loop)."""
        return self._engine

    @property
    def state(self) -> SchedulerState:
        return self._engine.state

    # -- lifecycle --------------------------------------------------------------------

    async def start(self, *, paused: bool = False) -> None:
        """Load the stored jobs and start dispatching from a task on the running loop."""
        loop = asyncio.get_running_loop()
        engine = self._engine
        with engine._lock:
            engine._startup()
            self._loop = loop
            engine._loop = loop  # type: ignore[attr-defined]
            wake = self._wake = asyncio.Event()

            def wakeup() -> None:
                loop.call_soon_threadsafe(wake.set)

            engine._wakeup = wakeup
            events = engine._mark_started(paused)
        engine._emit(events)
        self._task = loop.create_task(self._run(), name="tickwork-scheduler")

    async def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop dispatching now, then stop the executors (see ``Scheduler.shutdown``)."""
        if timeout is not None:
            seconds(timeout, "timeout")
        engine = self._engine
        with engine._lock:
            if engine._state is SchedulerState.SHUTDOWN:
                raise SchedulerStateError("the scheduler has already been shut down")
            was_started = engine._state is not SchedulerState.STOPPED
            engine._state = SchedulerState.SHUTDOWN
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            await self._task
        if was_started:
            for alias in list(engine._started_executors):
                executor = engine._executors[alias]
                if isinstance(executor, AsyncioExecutor):
                    await executor.shutdown_async(wait=wait, timeout=timeout)
                    engine._started_executors.discard(alias)
            events = await asyncio.to_thread(engine._teardown, wait, timeout)
            engine._emit(events)
        else:
            engine.store.close()  # opened by add_job or a lookup before start

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

    def _closing(self) -> bool:
        return self._engine.state is SchedulerState.SHUTDOWN

    async def _run(self) -> None:
        engine, clock = self._engine, self._engine.clock
        wake = self._wake
        assert wake is not None
        # A store that does file I/O (SQLite) is worked in a thread, so a file another
        # process holds locked never stalls the event loop; listeners are still called
        # here, on the loop.
        threaded = engine.store.persistent
        while not self._closing():
            wake.clear()
            try:
                if threaded:
                    upcoming, events = await asyncio.to_thread(engine._step)
                    engine._emit(events)
                else:
                    upcoming = engine.process_due()
            except Exception:
                logger.exception("tickwork: dispatch failed; retrying in 1 s")
                await clock.wait_async(wake, 1.0)
                continue
            if self._closing():
                break
            wait = engine._max_wait
            if upcoming is not None:
                wait = min(wait, (upcoming - clock.now()).total_seconds())
                if wait <= 0:
                    await asyncio.sleep(0)
                    continue
            started_mono, started_wall = clock.monotonic(), clock.now()
            if await clock.wait_async(wake, wait):
                continue
            drift = (clock.now() - started_wall).total_seconds() - (
                clock.monotonic() - started_mono
            )
            if abs(drift) > JUMP_TOLERANCE:
                logger.warning(
                    "tickwork: the wall clock moved %+.1f s more than elapsed time; re-planning",
                    drift,
                )

    # -- the API, as coroutines -------------------------------------------------------

    async def add_job(
        self,
        func: Callable[..., Any] | str,
        trigger: Trigger | str | None = None,
        *trigger_args: Any,
        **options: Any,
    ) -> Job:
        """See :meth:`tickwork.Scheduler.add_job`."""
        return self._engine.add_job(func, trigger, *trigger_args, **options)

    async def add_jobs(self, jobs: Iterable[Mapping[str, Any]]) -> list[Job]:
        """See :meth:`tickwork.Scheduler.add_jobs`."""
        return self._engine.add_jobs(jobs)

    async def history(self, job_id: str | None = None, *, limit: int = 100) -> list[Run]:
        """See :meth:`tickwork.Scheduler.history`."""
        engine = self._engine
        _check_history_query(job_id, limit)
        task = self._task
        if engine._results and task is not None and not task.done():
            # The scheduler's task takes in runs that just ended: let it, then read.
            engine._request_flush()
            deadline = asyncio.get_running_loop().time() + _FLUSH_WAIT
            while engine._results and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.0005)
        return engine.history(job_id, limit=limit)

    async def broken_jobs(self) -> dict[str, str]:
        """See :meth:`tickwork.Scheduler.broken_jobs`."""
        return self._engine.broken_jobs()

    async def get_job(self, job_id: str) -> Job | None:
        return self._engine.get_job(job_id)

    async def get_jobs(self, tag: str | None = None, *, paused: bool | None = None) -> list[Job]:
        return self._engine.get_jobs(tag, paused=paused)

    async def modify_job(self, job_id: str, **changes: Any) -> Job:
        return self._engine.modify_job(job_id, **changes)

    async def reschedule_job(
        self, job_id: str, trigger: Trigger | str, *trigger_args: Any, **trigger_kwargs: Any
    ) -> Job:
        return self._engine.reschedule_job(job_id, trigger, *trigger_args, **trigger_kwargs)

    async def pause_job(self, job_id: str, note: str | None = None) -> Job:
        return self._engine.pause_job(job_id, note)

    async def resume_job(self, job_id: str) -> Job:
        return self._engine.resume_job(job_id)

    async def remove_job(self, job_id: str) -> None:
        self._engine.remove_job(job_id)

    async def remove_all_jobs(self) -> None:
        self._engine.remove_all_jobs()

    async def run_job_now(self, job_id: str) -> None:
        self._engine.run_job_now(job_id)

    async def backfill(self, job_id: str, start: datetime, end: datetime) -> int:
        return self._engine.backfill(job_id, start, end)

    async def next_fire_times(self, job_id: str, count: int = 5) -> list[datetime]:
        return self._engine.next_fire_times(job_id, count)

    async def pause(self) -> None:
        self._engine.pause()

    async def resume(self) -> None:
        self._engine.resume()

    def add_listener(self, callback: Listener, mask: EventKind = EventKind.ALL) -> None:
        """See :meth:`tickwork.Scheduler.add_listener`."""
        self._engine.add_listener(callback, mask)

    def remove_listener(self, callback: Listener) -> None:
        self._engine.remove_listener(callback)

    # -- decorators (plain functions: usable at import time) --------------------------

    def scheduled_job(
        self, trigger: Trigger | str, *trigger_args: Any, **options: Any
    ) -> Callable[[F], F]:
        return self._engine.scheduled_job(trigger, *trigger_args, **options)

    def cron(self, expression: str | None = None, /, **options: Any) -> Callable[[F], F]:
        return self._engine.cron(expression, **options)

    def interval(self, **options: Any) -> Callable[[F], F]:
        return self._engine.interval(**options)

    def at(self, when: datetime | str, /, **options: Any) -> Callable[[F], F]:
        return self._engine.at(when, **options)

    def every(self, interval: float = 1) -> JobBuilder:
        """Start a fluent chain: ``scheduler.every(10).minutes.do(job)``.

        Plain, not a coroutine (like the decorators): ``.do()`` adds the job at once
        and returns the :class:`~tickwork.Job`. See :meth:`tickwork.Scheduler.every`.
        """
        return self._engine.every(interval)
