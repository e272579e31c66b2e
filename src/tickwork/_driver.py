"""What the two drivers share: their pacing, and their API forwarded to the engine.

A driver (``Scheduler``: a thread; ``AsyncScheduler``: an asyncio task) owns an
:class:`~tickwork._engine.Engine` and does three things: it calls
:meth:`Engine.step`, waits until the time the step returns (or until the engine wakes
it), and notices when the wall clock jumped while it waited. :class:`Pacer` is the
waiting and the jump check, written once; each driver supplies only how to block (a
``threading.Event`` or an ``asyncio.Event``).

The drivers' public methods are the engine's, forwarded: :func:`forward` for the
thread driver, :func:`forward_async` for the asyncio one (which runs an operation in a
worker thread when the store does I/O, so a file another process has locked never
stalls the event loop).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime, tzinfo
from typing import Any, Concatenate, ParamSpec, TypeVar

from ._clock import Clock
from ._engine import Engine, SchedulerState
from ._fluent import JobBuilder, _builder
from .stores import JobStore

__all__ = ["JUMP_TOLERANCE", "DriverBase", "Pacer", "forward", "forward_async", "off_loop"]

logger = logging.getLogger("tickwork")

P = ParamSpec("P")
R = TypeVar("R")

#: A wall-clock move this much bigger or smaller than the elapsed monotonic time is
#: reported as a jump (a changed system clock, or a suspend and resume).
JUMP_TOLERANCE = 1.0


class Pacer:
    """How long a driver waits between steps, and whether the wall clock jumped.

    Waiting is counted in the clock's own time: ``clock.sleep_time`` turns it into
    real seconds to block (None: until the clock says time moved, for a fake clock),
    and the driver blocks on its own event, which the engine sets to wake it early.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._clock: Clock = engine.clock
        self._mono = 0.0
        self._wall: datetime | None = None

    def wait_for(self, upcoming: datetime | None) -> float | None:
        """Seconds of clock time to wait before the next step, or None to step at once:
        until *upcoming* (what the step returned), at most the engine's ``max_wait``."""
        wait = self._engine.max_wait
        if upcoming is not None:
            wait = min(wait, (upcoming - self._clock.now()).total_seconds())
            if wait <= 0:
                return None
        return wait

    def sleeps(self, seconds: float) -> Iterator[float | None]:
        """The real-time blocks that make up a wait of *seconds* of clock time: the
        driver blocks for each (None: until woken) and stops when woken early."""
        clock = self._clock
        self._mono, self._wall = clock.monotonic(), clock.now()
        deadline = self._mono + seconds
        while True:
            remaining = deadline - clock.monotonic()
            if remaining <= 0:
                return
            yield clock.sleep_time(remaining)

    def check_jump(self) -> None:
        """After a wait that ran its full length: log a wall-clock jump (the next step
        re-plans from the new time, missed runs by each job's policy)."""
        clock = self._clock
        if self._wall is None:
            return
        drift = (clock.now() - self._wall).total_seconds() - (clock.monotonic() - self._mono)
        if abs(drift) > JUMP_TOLERANCE:
            logger.warning(
                "tickwork: the wall clock moved %+.1f s more than elapsed time (clock "
                "change or suspend); re-planning",
                drift,
            )


def forward(method: Callable[Concatenate[Engine, P], R]) -> Callable[Concatenate[Any, P], R]:
    """A driver method that calls the engine's *method* (same signature and docs)."""

    @functools.wraps(method)
    def call(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return method(self._engine, *args, **kwargs)

    return call


async def off_loop(
    engine: Engine,
    method: Callable[Concatenate[Engine, P], R],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> R:
    """``method(engine, ...)`` for the asyncio driver: in a worker thread when the store
    does I/O (a shared store), so the event loop never blocks on it; directly otherwise
    (a memory store answers at once). Events the call causes reach listeners in the
    loop's thread either way."""
    if not engine.does_io:
        return method(engine, *args, **kwargs)
    result, events = await asyncio.to_thread(engine.held, method, *args, **kwargs)
    engine.emit(events)
    return result


def forward_async(
    method: Callable[Concatenate[Engine, P], R],
) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, R]]:
    """An asyncio driver method that awaits the engine's *method* (see :func:`off_loop`)."""

    @functools.wraps(method)
    async def call(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await off_loop(self._engine, method, *args, **kwargs)

    return call


class DriverBase:
    """What both drivers offer alike: the engine's properties, and the plain (not
    awaitable) methods: decorators, listeners and the fluent chain, which add a job at
    once wherever they are called (at import time, for decorators)."""

    _engine: Engine

    @property
    def engine(self) -> Engine:
        """The engine this driver steps (thread-safe; for tickwork's own tools, tests
        and code outside an asyncio loop)."""
        return self._engine

    @property
    def state(self) -> SchedulerState:
        """STOPPED before start, RUNNING, PAUSED, or SHUTDOWN."""
        return self._engine.state

    @property
    def clock(self) -> Clock:
        return self._engine.clock

    @property
    def timezone(self) -> tzinfo:
        """The zone shortcut triggers use when none is given."""
        return self._engine.timezone

    @property
    def store(self) -> JobStore:
        return self._engine.store

    scheduled_job = forward(Engine.scheduled_job)
    cron = forward(Engine.cron)
    interval = forward(Engine.interval)
    at = forward(Engine.at)
    add_listener = forward(Engine.add_listener)
    remove_listener = forward(Engine.remove_listener)

    def every(self, interval: float = 1) -> JobBuilder:
        """Start a fluent chain, as ``schedule`` spells it: ``scheduler.every(10).minutes.do(job)``.

        The chain builds an ordinary trigger and calls ``add_job``; ``.do()`` adds the
        job at once and returns the :class:`~tickwork.Job` (with ``AsyncScheduler``
        too: it is not awaited). See :class:`~tickwork.JobBuilder` and
        ``docs/fluent.md``.

        Raises:
            ValueError: *interval* is not positive. TypeError: it is not a number.
        """
        return _builder(self._engine, interval)
