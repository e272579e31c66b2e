"""Clocks: the one way tickwork learns what time it is.

:class:`Clock` is the tiny interface the drivers use; :class:`SystemClock` reads the
real clock; ``tickwork.testing.FakeClock`` is a controllable one for tests. Below the
drivers, nothing reads the clock: triggers, planning and stores take ``now`` as an
argument. :func:`system_now` exists only to fill in trigger defaults (an interval's
``start`` when none is given).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock", "system_now"]


def system_now() -> datetime:
    """The current instant as an aware UTC datetime.

    Only trigger defaults may call this (a trigger's ``start`` when none is given);
    scheduling decisions take the time as an argument. ``datetime.now`` is looked up
    at call time, so ``freezegun`` and similar tools can control it in tests.
    """
    return datetime.now(timezone.utc)


@runtime_checkable
class Clock(Protocol):
    """What a scheduler driver needs from a clock (the shape of trio's ``Clock``).

    ``now`` is the wall clock (aware, UTC): it decides what is due. ``monotonic`` only
    ever moves forward at the rate of this clock's time; comparing how far each moved
    tells a driver that the wall clock jumped (or the machine slept) so it re-plans.

    The clock never blocks: drivers do the waiting, on their own events. To wait
    *seconds* of this clock's time a driver blocks for ``sleep_time(seconds)`` real
    seconds (``None``: until woken), and ``subscribe`` lets a clock that moves by
    other means than real time (a fake clock a test advances) wake it: the driver then
    checks its deadline against ``monotonic()`` again.
    """

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def sleep_time(self, seconds: float) -> float | None:
        """Real seconds to block for *seconds* of this clock's time to pass (None:
        block until a subscriber callback or another wake-up)."""
        ...

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call *callback* (from any thread) whenever this clock's time passes by means
        other than real time; return a function that unsubscribes it."""
        ...


def _unsubscribe() -> None:
    pass


class SystemClock:
    """The real clock. ``datetime.now`` is read at each call, so freezegun keeps working."""

    __slots__ = ()

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep_time(self, seconds: float) -> float:
        return max(seconds, 0.0)

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        return _unsubscribe  # real time passes by itself: there is nothing to report

    def __repr__(self) -> str:
        return "SystemClock()"
