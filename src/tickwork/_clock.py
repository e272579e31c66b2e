"""Clocks: the one way tickwork learns what time it is.

:class:`Clock` is the tiny interface the drivers use; :class:`SystemClock` reads the
real clock; ``tickwork.testing.FakeClock`` is a controllable one for tests. Below the
drivers, nothing reads the clock: triggers, planning and stores take ``now`` as an
argument. :func:`system_now` exists only to fill in trigger defaults (an interval's
``start`` when none is given).

:class:`CorrectedClock` is the real clock set by another one: the clock of a database
several hosts share (``tickwork.stores.ClockedStore``), so that hosts whose own clocks
are wrong agree on what is due. It measures the offset when a driver asks it to
(:meth:`CorrectedClock.refresh`), never on its own: reading the time stays cheap and
stays the drivers' business.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "CorrectedClock", "SystemClock", "system_now"]

logger = logging.getLogger("tickwork")

#: Seconds between two measurements of a corrected clock's offset.
CORRECTION_INTERVAL = 10.0
#: An offset larger than this many seconds is logged (once).
CORRECTION_NOTICE = 1.0
#: Readings of the reference clock per measurement; the one with the shortest round
#: trip is kept.
SAMPLES = 3


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


class CorrectedClock:
    """*base* (the real clock) plus the offset to the clock *source* reads.

    ``now()`` is ``base.now() + offset``; ``monotonic``, ``sleep_time`` and
    ``subscribe`` are the base's. The offset is measured by :meth:`measure`: *source*
    (one query to a database) against the midpoint of the base's readings just before
    and just after it, which cancels the query's round trip when it is symmetric.
    :meth:`refresh` measures at most once every *interval* seconds (of the base's
    monotonic clock); a driver calls it before it steps. When *source* fails, the last
    offset is kept (0 before any measurement) and the next :meth:`refresh` after
    *interval* tries again. The first measurement (a driver's, as its scheduler
    starts, before the store is opened) is the exception: its failure is not logged,
    and the next :meth:`refresh` tries again at once. A store that cannot be opened
    then fails the start with its own error, with no word of a retry that will not
    come; one that opens has its clock read again at the scheduler's first step.

    :attr:`shifted` adds up the changes of the offset, in seconds, so a driver that
    compares wall time with monotonic time (to notice a changed system clock) can tell
    a correction from a jump.

    Args:
        base: the clock to correct.
        source: the reference clock, returning an aware datetime; it may raise.
        name: what the reference clock is, for log lines ("the database").
        interval: seconds between measurements (default 10).
    """

    def __init__(
        self,
        base: Clock,
        source: Callable[[], datetime],
        *,
        name: str = "the database",
        interval: float = CORRECTION_INTERVAL,
    ) -> None:
        #: The clock corrected.
        self.base = base
        self._source = source
        self._name = name
        self._interval = interval
        self._offset = timedelta(0)
        self._measured_at: float | None = None
        self._tried = False  # (a measurement was attempted)
        self._measured = False  # (one worked)
        self._failing = False
        self._noticed = False
        #: The sum of every change of the offset so far, in seconds.
        self.shifted = 0.0

    @property
    def offset(self) -> timedelta:
        """What is added to the base clock's time (the reference minus the base)."""
        return self._offset

    def now(self) -> datetime:
        return self.base.now() + self._offset

    def monotonic(self) -> float:
        return self.base.monotonic()

    def sleep_time(self, seconds: float) -> float | None:
        return self.base.sleep_time(seconds)

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        return self.base.subscribe(callback)

    def due(self) -> bool:
        """Whether :meth:`refresh` would measure now (never measured, or *interval*
        seconds have passed since the last attempt)."""
        at = self._measured_at
        return at is None or self.base.monotonic() - at >= self._interval

    def refresh(self) -> None:
        """:meth:`measure`, when :meth:`due`."""
        if self.due():
            self.measure()

    def measure(self) -> bool:
        """Measure the offset now; return whether it worked.

        *source* is read up to :data:`SAMPLES` times and the reading with the shortest
        round trip is kept (the first may include opening a connection: tens of
        milliseconds whose midpoint says little about when the source read its clock).
        A failure is logged (once until a measurement works again; not the first
        measurement's, see the class docstring) and keeps the last offset; an offset of
        more than a second is logged once.
        """
        base = self.base
        self._measured_at = base.monotonic()
        best: tuple[timedelta, datetime, datetime] | None = None
        try:
            for _ in range(SAMPLES):
                before = base.now()
                theirs = self._source()
                after = base.now()
                if not isinstance(theirs, datetime) or theirs.utcoffset() is None:
                    raise TypeError(
                        f"the reference clock returned {theirs!r}, not an aware datetime"
                    )
                trip = after - before
                if best is None or trip < best[0]:
                    best = (trip, theirs, before + trip / 2)
        except Exception as error:  # a store raises StoreError; keep scheduling anyway
            if best is None:
                first, self._tried = not self._tried, True
                if first:
                    self._measured_at = None  # (due again at once: see the class docstring)
                elif not self._failing:
                    self._failing = True
                    kept = (
                        f"keeping the offset measured last ({self._offset.total_seconds():+.3f} s)"
                        if self._measured
                        else "scheduling by this host's clock meanwhile"
                    )
                    logger.warning(
                        "tickwork: could not read the clock of %s (%s); %s and trying again "
                        "every %g s",
                        self._name,
                        error,
                        kept,
                        self._interval,
                    )
                return False
        assert best is not None
        _, theirs, midpoint = best
        self._tried = self._measured = True
        self._failing = False
        offset = theirs - midpoint
        self.shifted += (offset - self._offset).total_seconds()
        self._offset = offset
        off = -offset.total_seconds()
        if abs(off) > CORRECTION_NOTICE and not self._noticed:
            self._noticed = True
            logger.warning(
                "tickwork: this host's clock is %+.1f s off %s's; scheduling by %s's",
                off,
                self._name,
                self._name,
            )
        return True

    def __repr__(self) -> str:
        return f"CorrectedClock({self.base!r}, offset={self._offset.total_seconds():+.6f} s)"
