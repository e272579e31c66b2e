"""Helpers for testing code that uses tickwork: a controllable clock and simulated time.

Typical use, days of simulated time in milliseconds::

    from datetime import datetime, timedelta, timezone
    from tickwork import Scheduler
    from tickwork.executors import InlineExecutor
    from tickwork.testing import FakeClock, run_until

    clock = FakeClock(datetime(2024, 1, 1, tzinfo=timezone.utc))
    scheduler = Scheduler(clock=clock, executors={"default": InlineExecutor()}, timezone="UTC")
    scheduler.add_job(report, "cron", "0 9 * * mon-fri")
    scheduler.open()                    # no background thread: you drive it
    run_until(scheduler, clock.now() + timedelta(days=7))   # five runs of report()
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timedelta, timezone

from ._engine import Engine, SchedulerState

__all__ = ["FakeClock", "advance", "run_until"]

_UTC = timezone.utc


def _seconds(value: float | timedelta) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0:
        raise ValueError(f"time only moves forward here; got {value!r}")
    return seconds


class FakeClock:
    """A clock that moves only when told to (or, with *autojump*, when waited on).

    * :meth:`advance` lets time pass: the wall clock and the monotonic clock move
      together, as they do in real life.
    * :meth:`jump` moves only the wall clock (forwards or backwards), as a changed
      system clock or a resume from suspend does; a driver notices and re-plans.
    * With ``autojump=True``, a driver that waits makes the clock jump straight to the
      end of the wait: a background scheduler then runs simulated hours in
      milliseconds (it races ahead until something blocks it, so prefer
      :func:`run_until` for step-by-step tests).

    Args:
        start: the starting instant (aware); default 2024-01-01 00:00 UTC.
        autojump: see above.
    """

    def __init__(self, start: datetime | None = None, *, autojump: bool = False) -> None:
        if start is None:
            start = datetime(2024, 1, 1, tzinfo=_UTC)
        if start.tzinfo is None:
            raise TypeError("FakeClock start must be an aware datetime")
        self._now = start.astimezone(_UTC)
        self._monotonic = 0.0
        self._changed = threading.Condition()
        self.autojump = autojump

    def now(self) -> datetime:
        """The current fake instant (aware, UTC)."""
        return self._now

    def monotonic(self) -> float:
        """Seconds of fake time elapsed since the clock was made (jumps excluded)."""
        return self._monotonic

    def advance(self, seconds: float | timedelta) -> datetime:
        """Let *seconds* pass; return the new now."""
        step = _seconds(seconds)
        with self._changed:
            self._now += timedelta(seconds=step)
            self._monotonic += step
            self._changed.notify_all()
            return self._now

    def set(self, moment: datetime) -> datetime:
        """Let time pass until *moment* (which must not be in the past)."""
        if moment.tzinfo is None:
            raise TypeError("FakeClock.set needs an aware datetime")
        return self.advance(max((moment - self._now).total_seconds(), 0.0))

    def jump(self, by: float | timedelta | datetime) -> datetime:
        """Move only the wall clock, by seconds (may be negative) or to an instant."""
        with self._changed:
            if isinstance(by, datetime):
                if by.tzinfo is None:
                    raise TypeError("FakeClock.jump needs an aware datetime")
                self._now = by.astimezone(_UTC)
            else:
                delta = by if isinstance(by, timedelta) else timedelta(seconds=by)
                self._now += delta
            self._changed.notify_all()
            return self._now

    def wait(self, wakeup: threading.Event, seconds: float) -> bool:
        """Block until *seconds* of fake time pass or *wakeup* is set."""
        if wakeup.is_set():
            return True
        if self.autojump:
            self.advance(max(seconds, 0.0))
            return wakeup.is_set()
        deadline = self._monotonic + max(seconds, 0.0)
        with self._changed:
            while self._monotonic < deadline and not wakeup.is_set():
                # Wakeup is a plain Event, so poll it briefly in real time.
                self._changed.wait(0.002)
        return wakeup.is_set()

    async def wait_async(self, wakeup: asyncio.Event, seconds: float) -> bool:
        """The asyncio form of :meth:`wait`."""
        if wakeup.is_set():
            return True
        if self.autojump:
            self.advance(max(seconds, 0.0))
            await asyncio.sleep(0)
            return wakeup.is_set()
        deadline = self._monotonic + max(seconds, 0.0)
        while self._monotonic < deadline and not wakeup.is_set():
            await asyncio.sleep(0.001)
        return wakeup.is_set()

    def __repr__(self) -> str:
        return f"FakeClock({self._now.isoformat()!r}, autojump={self.autojump})"


def _fake_clock(scheduler: Engine) -> FakeClock:
    clock = scheduler.clock
    if not isinstance(clock, FakeClock):
        raise TypeError("run_until and advance need a scheduler built with clock=FakeClock(...)")
    return clock


def run_until(scheduler: Engine, until: datetime, *, settle: float = 5.0) -> int:
    """Step simulated time to *until*, dispatching everything due on the way, in order.

    The scheduler must be opened with ``scheduler.open()`` (no background thread); a
    paused one only has its clock moved (nothing is dispatched). With
    an ``InlineExecutor`` every run has finished when this returns. With other executors
    it waits (up to *settle* real seconds per step) for the runs of each step to report
    before moving on, so retries and buffered runs are planned at the right fake time.
    Returns the number of dispatch steps taken.
    """
    clock = _fake_clock(scheduler)
    if until.tzinfo is None:
        raise TypeError("until must be an aware datetime")
    steps = 0
    while scheduler.state is SchedulerState.RUNNING:
        scheduler.process_due()
        steps += 1
        _settle(scheduler, settle)
        with scheduler._lock:
            # Results may have scheduled retries; a failing store waits for its retry.
            upcoming = scheduler._next_dispatch()
        if upcoming is None or upcoming > until:
            break
        if upcoming > clock.now():
            clock.set(upcoming)
    if until > clock.now():
        clock.set(until)
        scheduler.process_due()
        _settle(scheduler, settle)
    return steps


def advance(scheduler: Engine, seconds: float | timedelta, *, settle: float = 5.0) -> int:
    """:func:`run_until` the clock's now plus *seconds*."""
    clock = _fake_clock(scheduler)
    return run_until(scheduler, clock.now() + timedelta(seconds=_seconds(seconds)), settle=settle)


def _settle(scheduler: Engine, limit: float) -> None:
    """Wait (real time) until no run of the scheduler is in flight, at most *limit* s."""
    deadline = time.monotonic() + limit
    while scheduler._in_flight() and time.monotonic() < deadline:
        time.sleep(0.0005)
