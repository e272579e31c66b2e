"""Clocks: the one way tickwork learns what time it is.

:class:`Clock` is the tiny interface the drivers use; :class:`SystemClock` reads the
real clock; ``tickwork.testing.FakeClock`` is a controllable one for tests. Below the
drivers, nothing reads the clock: triggers, planning and stores take ``now`` as an
argument. :func:`system_now` exists only to fill in trigger defaults (an interval's
``start`` when none is given).
"""

from __future__ import annotations

import asyncio
import threading
import time
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
    """What a scheduler driver needs from a clock.

    ``now`` is the wall clock (aware, UTC): it decides what is due. ``monotonic`` only
    ever moves forward at the rate of real time; comparing how far each moved tells a
    driver that the wall clock jumped (or the machine slept) so it re-plans at once.
    ``wait`` / ``wait_async`` block until *seconds* of this clock's time have passed or
    *wakeup* is set, whichever is first, and say whether *wakeup* was set.
    """

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def wait(self, wakeup: threading.Event, seconds: float) -> bool: ...

    async def wait_async(self, wakeup: asyncio.Event, seconds: float) -> bool: ...


class SystemClock:
    """The real clock. ``datetime.now`` is read at each call, so freezegun keeps working."""

    __slots__ = ()

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, wakeup: threading.Event, seconds: float) -> bool:
        return wakeup.wait(max(seconds, 0.0))

    async def wait_async(self, wakeup: asyncio.Event, seconds: float) -> bool:
        if wakeup.is_set():
            return True
        try:
            await asyncio.wait_for(wakeup.wait(), timeout=max(seconds, 0.0))
        except asyncio.TimeoutError:
            return False
        return True

    def __repr__(self) -> str:
        return "SystemClock()"
