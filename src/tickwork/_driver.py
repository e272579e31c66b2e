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
import sys
import time
from bisect import insort
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime, tzinfo
from typing import Any, Concatenate, ParamSpec, TypeVar

from ._clock import Clock
from ._engine import Engine, SchedulerState
from ._fluent import JobBuilder, _builder
from .stores import JobStore

__all__ = [
    "JUMP_TOLERANCE",
    "SETTLE_SECONDS",
    "DriverBase",
    "EarlyWake",
    "Pacer",
    "forward",
    "forward_async",
    "off_loop",
    "precise_timers",
]

#: Under an autojumping FakeClock: real seconds a driver waits for the runs going in its
#: executors to end before the clock jumps on (a run still going then, one that waits
#: for real time, is left to end while the clock jumps).
SETTLE_SECONDS = 2.0

logger = logging.getLogger("tickwork")

P = ParamSpec("P")
R = TypeVar("R")

#: A wall-clock move this much bigger or smaller than the elapsed monotonic time is
#: reported as a jump (a changed system clock, or a suspend and resume).
JUMP_TOLERANCE = 1.0


#: The most the thread driver wakes before a due time to watch the clock: an oversleep
#: longer than this is the machine being busy, which watching the clock cannot fix.
SPIN_LIMIT = 0.001
#: The largest share of (wall) time the thread driver spends watching the clock. (With
#: 2 %, spinning took about 1 % of a core at 1,000 due times a second, a tenth of the
#: process's CPU, for runs starting some 0.04 ms sooner at the median.)
SPIN_SHARE = 0.005
#: How many recent oversleeps the lead is taken from.
SPIN_SAMPLES = 32
#: prctl(2)'s option to set the calling thread's timer slack (Linux).
_PR_SET_TIMERSLACK = 29


def precise_timers() -> bool:
    """Ask the kernel to end the calling thread's timed waits on time; whether it did.

    Linux lets a timed wait end up to the thread's "timer slack" late (50 us by
    default), to group wake-ups; this sets it to 1 ns for the calling thread (threads it
    starts from then on inherit it). For the thread driver's thread, whose timed waits
    end at runs' due times: its runs start that much sooner, and it spins that much
    less before them (see :class:`EarlyWake`). Elsewhere, or when refused, nothing
    changes (False).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_TIMERSLACK, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):  # pragma: no cover - no C library to call
        return False


class EarlyWake:
    """How early the thread driver wakes before a due time, and when it may spin.

    A thread that blocks until a due time wakes a little late: the kernel's timer slack
    and the thread's wake-up (about 0.08 ms on a typical Linux machine, much more on
    some). A thread that is already running when the time comes is not late. So the
    driver blocks until ``lead`` seconds before the due time, then yields in a loop
    until it comes (a "spin"). Spinning is paid only where it buys something:

    * ``lead`` is the median of how late the driver's recent timed waits woke
      (:meth:`overslept`, fed by every wait that ran its full length), capped at
      ``limit``. Waking that early, half the waits wake before the due time and spin
      only the difference between their oversleep and the lead, the other half wake
      after it by less than the spread of oversleeps (tens of microseconds on an idle
      machine); where waits wake on time, the lead is zero and nothing spins. (A
      higher percentile spins more for little: at 1,000 due times a second on a
      busy 2-core machine the 90th used up a budget of 2 % of wall time, the median
      about half of it, for about the same lateness.)
    * A wait no longer than the lead is not spun: due times that dense are taken
      together by a step anyway, and spinning through them would keep the thread busy.
    * Spinning takes at most ``share`` of wall time, over any stretch: a budget that
      grows with elapsed time (up to ``limit * 10``) and that each spin draws on
      (:meth:`spun`). Without enough budget for the lead, the driver just blocks.

    Times are arguments (monotonic seconds), so the policy is tested with numbers.
    """

    def __init__(
        self,
        *,
        limit: float = SPIN_LIMIT,
        share: float = SPIN_SHARE,
        samples: int = SPIN_SAMPLES,
    ) -> None:
        self._limit = limit
        self._share = share
        self._late: deque[float] = deque(maxlen=samples)
        self._ranked: list[float] = []  # the same, in ascending order
        self._cap = limit * 10
        self._budget = self._cap
        self._at: float | None = None
        #: Seconds before a due time to stop blocking (0 until a wait was measured).
        self.lead = 0.0

    def overslept(self, seconds: float) -> None:
        """Record how many seconds past its end a timed wait woke (negative: early)."""
        late, ranked = self._late, self._ranked
        if len(late) == late.maxlen:
            ranked.remove(late[0])  # about to drop out of the deque
        seconds = max(seconds, 0.0)
        late.append(seconds)
        insort(ranked, seconds)
        self.lead = min(ranked[(len(ranked) - 1) // 2], self._limit)

    def block_for(self, wait: float, now: float) -> float:
        """Of a wait of *wait* seconds starting at *now*, how long to block before
        spinning the rest (*wait* itself: do not spin)."""
        self._refill(now)
        lead = self.lead
        if lead <= 0.0 or wait <= lead or self._budget < lead:
            return wait
        return wait - lead

    def spun(self, seconds: float, now: float) -> None:
        """Charge a spin of *seconds* that ended at *now* to the budget."""
        self._refill(now)
        self._budget -= seconds

    @property
    def budget(self) -> float:
        """Seconds of spinning the driver may still do now."""
        return self._budget

    def _refill(self, now: float) -> None:
        """Grow the budget by its share of the time since it was last looked at."""
        at = self._at
        self._at = now
        if at is not None and now > at:
            self._budget = min(self._budget + (now - at) * self._share, self._cap)


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
        self._shifted = 0.0
        #: How many seconds past its end the last wait that ran its full length woke.
        self.overslept = 0.0

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
        self._shifted = _shifted(clock)
        deadline = self._mono + seconds
        # A paused scheduler has nothing coming due: a clock that jumps to the end of
        # each wait (FakeClock(autojump=True)) would race on for nothing, spinning a
        # core. Block until woken instead (resume(), a job change, the test moving the
        # clock), as a fake clock without autojump does.
        idle = self._engine.state is SchedulerState.PAUSED and getattr(clock, "autojump", False)
        while True:
            remaining = deadline - clock.monotonic()
            if remaining <= 0:
                self.overslept = -remaining
                return
            yield None if idle else clock.sleep_time(remaining)

    def check_jump(self) -> None:
        """After a wait that ran its full length: log a wall-clock jump (the next step
        re-plans from the new time, missed runs by each job's policy)."""
        clock = self._clock
        if self._wall is None:
            return
        drift = (clock.now() - self._wall).total_seconds() - (clock.monotonic() - self._mono)
        # A corrected clock's own correction (CorrectedClock.shifted) is no jump.
        drift -= _shifted(clock) - self._shifted
        if abs(drift) > JUMP_TOLERANCE:
            logger.warning(
                "tickwork: the wall clock moved %+.1f s more than elapsed time (clock "
                "change or suspend); re-planning",
                drift,
            )


def _shifted(clock: Clock) -> float:
    """How far a corrected clock has moved itself so far (0 for another clock)."""
    shifted = getattr(clock, "shifted", 0.0)
    return shifted if isinstance(shifted, float) else 0.0


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
    #: What steps the engine once started ("thread", "task"), for messages.
    _stepper = "thread"
    #: Until when (time.monotonic()) the runs going are waited for before an autojump.
    _patience: float | None = None

    def _stepping(self) -> bool:
        """Whether this driver's own thread or task steps the engine (whoever asks)."""
        return False

    def _settle_until(self) -> float | None:
        """Before a wait an autojumping fake clock ends at once: until when to let the
        runs going end first, at the time they were due (a later fire would find them
        still going, and be skipped under ``max_instances``), up to
        :data:`SETTLE_SECONDS` for the same runs; None: none is going, or they were
        waited for long enough (left to end while the clock jumps on)."""
        if not self._engine.in_flight():
            self._patience = None
            return None
        if self._patience is None:
            self._patience = time.monotonic() + SETTLE_SECONDS
        return self._patience if time.monotonic() < self._patience else None

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
    on_failure = forward(Engine.on_failure)

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
