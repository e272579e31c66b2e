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

import math
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Union

from ._checks import flags
from ._checks import seconds as finite_seconds
from ._driver import DriverBase
from ._engine import Engine, SchedulerState
from ._errors import SchedulerStateError

if TYPE_CHECKING:
    from .scheduler import Scheduler

__all__ = ["FakeClock", "JobStoreContract", "SharedJobStoreContract", "advance", "run_until"]

_UTC = timezone.utc


def _moved(now: datetime, step: float | timedelta, name: str, given: object) -> datetime:
    """*now* plus *step* (seconds, or a timedelta); a ``ValueError`` naming the argument
    *name* (whose value was *given*) when that leaves the range of ``datetime`` (years
    1 to 9999)."""
    try:
        return now + (step if isinstance(step, timedelta) else timedelta(seconds=step))
    except OverflowError:
        raise ValueError(
            f"{name}={given!r} is too large: it would move the clock from "
            f"{now.isoformat()} past the range of datetime (years 1 to 9999)"
        ) from None


def _seconds(value: float | timedelta) -> float:
    """A step of fake time: a timedelta, or a finite number of seconds (not a bool, not
    a str), not negative."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"seconds must be a number or a timedelta, got {value!r}")
    elif not math.isfinite(value):
        raise ValueError(f"seconds must be a finite number, got {value!r}")
    else:
        seconds = float(value)
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
      :func:`run_until` for step-by-step tests). A paused scheduler does not move
      it: it waits until resumed (or until the clock is moved by other means).

    The clock never blocks anyone: a driver (``Scheduler``, ``AsyncScheduler``) waits
    on its own event and subscribes to the clock, which wakes it the moment
    :meth:`advance` or :meth:`set` moves time (no polling).

    Args:
        start: the starting instant (aware); default 2024-01-01 00:00 UTC.
        autojump: see above (a bool).

    Raises:
        TypeError: *start* is not an aware datetime, or *autojump* not a bool.
    """

    def __init__(self, start: datetime | None = None, *, autojump: bool = False) -> None:
        if start is None:
            start = datetime(2024, 1, 1, tzinfo=_UTC)
        if not isinstance(start, datetime) or start.utcoffset() is None:
            raise TypeError(f"FakeClock start must be an aware datetime, got {start!r}")
        flags(autojump=autojump)  # ("no" is truthy: the clock would jump)
        self._now = start.astimezone(_UTC)
        self._monotonic = 0.0
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[], None]] = []
        self.autojump = autojump

    def now(self) -> datetime:
        """The current fake instant (aware, UTC)."""
        return self._now

    def monotonic(self) -> float:
        """Seconds of fake time elapsed since the clock was made (jumps excluded)."""
        return self._monotonic

    def advance(self, seconds: float | timedelta) -> datetime:
        """Let *seconds* pass; return the new now. A step past the year 9999 is a
        ``ValueError``."""
        step = _seconds(seconds)
        with self._lock:
            self._now = _moved(self._now, step, "seconds", seconds)
            self._monotonic += step
            now, subscribers = self._now, list(self._subscribers)
        for callback in subscribers:
            callback()
        return now

    def set(self, moment: datetime) -> datetime:
        """Let time pass until *moment* (which must not be in the past: ``ValueError``;
        :meth:`jump` moves the wall clock back)."""
        if not isinstance(moment, datetime) or moment.utcoffset() is None:
            raise TypeError(f"FakeClock.set needs an aware datetime, got {moment!r}")
        step = (moment - self._now).total_seconds()
        if step < 0:
            raise ValueError(
                f"FakeClock.set({moment.isoformat()}): that is before now, "
                f"{self._now.isoformat()}; time only moves forward (jump() moves the wall "
                "clock back)"
            )
        return self.advance(step)

    def jump(self, by: float | timedelta | datetime) -> datetime:
        """Move only the wall clock, by seconds (may be negative) or to an instant."""
        with self._lock:
            if isinstance(by, bool) or not isinstance(by, (datetime, timedelta, int, float)):
                raise TypeError(
                    f"FakeClock.jump needs seconds, a timedelta or a datetime, got {by!r}"
                )
            if isinstance(by, datetime):
                if by.utcoffset() is None:
                    raise TypeError("FakeClock.jump needs an aware datetime")
                self._now = by.astimezone(_UTC)
            else:
                if not isinstance(by, timedelta) and not math.isfinite(by):
                    raise ValueError(f"FakeClock.jump needs a finite number, got {by!r}")
                self._now = _moved(self._now, by, "by", by)
            return self._now

    def sleep_time(self, seconds: float) -> float | None:
        """How long a driver blocks to let *seconds* of fake time pass: with autojump,
        the clock jumps there at once (0); otherwise until :meth:`advance` or
        :meth:`set` moves it (None), which wakes the driver through :meth:`subscribe`."""
        if self.autojump:
            self.advance(max(seconds, 0.0))
            return 0.0
        return None

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call *callback* each time fake time passes (:meth:`advance`, :meth:`set`);
        return a function that unsubscribes it. Drivers subscribe to wake when their
        deadline comes; a :meth:`jump` wakes no one, as a suspended machine's clock
        change wakes no sleeping thread."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def __repr__(self) -> str:
        return f"FakeClock({self._now.isoformat()!r}, autojump={self.autojump})"


#: What run_until and advance drive: a ``Scheduler`` opened with ``open()``, or an
#: engine.
Steppable = Union["Scheduler", Engine]


def _engine_of(scheduler: Steppable) -> Engine:
    engine = getattr(scheduler, "engine", scheduler)
    if not isinstance(engine, Engine):
        raise TypeError(f"expected a Scheduler, got {type(scheduler).__name__}")
    # A started driver's thread or task steps the engine too, and each move of the
    # clock wakes it: the two would step at once (an AsyncScheduler's task, whose loop
    # this call blocks, would not even take in the runs it started).
    driver = engine._driver
    if isinstance(driver, DriverBase) and driver._stepping():
        name = type(driver).__name__
        raise SchedulerStateError(
            f"run_until and advance step the scheduler themselves, and this {name} was "
            f"started: its own {driver._stepper} steps it. Drive a Scheduler opened with "
            "open() instead (no background thread); or move the clock of a started one "
            "(clock.advance, or FakeClock(autojump=True)) and wait for the events you expect"
        )
    if engine.state is SchedulerState.STOPPED:
        # (It would only move the clock: nothing is dispatched before open().)
        raise SchedulerStateError(
            "run_until and advance step a scheduler opened with open() (no background "
            "thread): this one was never opened, so nothing would run; call "
            "scheduler.open() first (AsyncScheduler: use its own task, with "
            "FakeClock(autojump=True) or clock.advance)"
        )
    return engine


def _fake_clock(engine: Engine) -> FakeClock:
    clock = engine.clock
    if not isinstance(clock, FakeClock):
        raise TypeError("run_until and advance need a scheduler built with clock=FakeClock(...)")
    return clock


def run_until(scheduler: Steppable, until: datetime, *, settle: float = 5.0) -> int:
    """Step simulated time to *until*, dispatching everything due on the way, in order.

    The scheduler must be opened with ``scheduler.open()`` (no background thread); a
    paused one only has its clock moved (nothing is dispatched). A started one (with
    ``start()``: a ``Scheduler``'s thread or an ``AsyncScheduler``'s task steps it) is
    refused with ``SchedulerStateError``. With
    an ``InlineExecutor`` every run has finished when this returns. With other executors
    it waits (up to *settle* real seconds per step) for the runs of each step to report
    before moving on, so retries and buffered runs are planned at the right fake time.
    Returns the number of dispatch steps taken.

    Raises:
        TypeError: *until* is not an aware datetime, or *settle* not a number.
        ValueError: *until* is before the clock's now (time only moves forward), or
            *settle* is negative or not finite.
    """
    engine = _engine_of(scheduler)
    clock = _fake_clock(engine)
    if not isinstance(until, datetime) or until.utcoffset() is None:
        raise TypeError(f"until must be an aware datetime, got {until!r}")
    finite_seconds(settle, "settle")
    if until < clock.now():
        raise ValueError(
            f"run_until({until.isoformat()}): that is before the clock's now, "
            f"{clock.now().isoformat()}; time only moves forward"
        )
    steps = still = 0
    while engine.state is SchedulerState.RUNNING:
        # Each step reads what other processes changed since the last (a store they
        # share): from there, the clock may jump past when a poll would have seen it.
        engine.look_at_store()
        engine.step()
        steps += 1
        _settle(engine, settle)
        # Results may have scheduled retries; a failing store waits for its retry.
        upcoming = engine.next_dispatch()
        if upcoming is None or upcoming > until:
            break
        if upcoming > clock.now():
            clock.set(upcoming)
            still = 0
        elif (still := still + 1) > _STUCK_STEPS:
            raise RuntimeError(
                f"run_until: {_STUCK_STEPS:,} steps at {clock.now().isoformat()} and the "
                "scheduler still has something due at once; a store or executor of your "
                "own may not be answering (see the tickwork log)"
            )
    if until > clock.now():
        clock.set(until)
        engine.step()
        _settle(engine, settle)
    return steps


#: Steps at one instant after which :func:`run_until` gives up (a backlog of a million
#: due runs takes a few hundred).
_STUCK_STEPS = 100_000


def advance(scheduler: Steppable, seconds: float | timedelta, *, settle: float = 5.0) -> int:
    """:func:`run_until` the clock's now plus *seconds*."""
    clock = _fake_clock(_engine_of(scheduler))
    until = _moved(clock.now(), _seconds(seconds), "seconds", seconds)
    return run_until(scheduler, until, settle=settle)


def _settle(engine: Engine, limit: float) -> None:
    """Wait (real time) until no run of the engine is in flight, at most *limit* s."""
    deadline = time.monotonic() + limit
    while engine.in_flight() and time.monotonic() < deadline:
        time.sleep(0.0005)


# -- the store contract suites (imported when first asked for) ---------------------------

if TYPE_CHECKING:
    from .stores._contract import JobStoreContract
    from .stores._shared_contract import SharedJobStoreContract

#: Where each suite lives: they import pytest, which importing this module must not.
_CONTRACTS = {
    "JobStoreContract": "tickwork.stores._contract",
    "SharedJobStoreContract": "tickwork.stores._shared_contract",
}


def __getattr__(name: str) -> object:
    """``JobStoreContract`` and ``SharedJobStoreContract``, the job store contract
    suites (see :mod:`tickwork.stores`), imported on first use: they need pytest.

    Raises:
        AttributeError: for any other name.
        ImportError: pytest is not installed.
    """
    module_name = _CONTRACTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    import sys

    import pytest

    for module in (*_CONTRACTS.values(), "tickwork.stores._contract_model"):
        # pytest's assertion messages (the values compared) for the suites' asserts
        # too; only possible before a module's first import.
        if module not in sys.modules:
            pytest.register_assert_rewrite(module)
    return getattr(importlib.import_module(module_name), name)
