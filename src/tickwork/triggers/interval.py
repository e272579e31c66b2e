"""Fixed-length intervals of elapsed time: ``IntervalTrigger(minutes=15)``.

Fire instants are ``start + k * interval`` for ``k = 0, 1, 2...``, counted in
whole microseconds since the Unix epoch. Integer arithmetic keeps the ten-thousandth
fire of a 0.1 s interval exactly one thousand seconds after the start (adding
floats, or timedeltas one by one, would drift), and lets :meth:`next_after` jump
straight to the right ``k`` however far away the moment is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone, tzinfo
from fractions import Fraction
from typing import Any

from .._clock import system_now
from .._instants import EPOCH as _EPOCH
from .._instants import US as _MICROSECOND
from .._tz import aware_us, coerce_timezone, epoch_us, in_zone, require_aware, timezone_name
from ._base import Trigger, stored_datetime

__all__ = ["IntervalTrigger"]

#: The longest interval: the span of ``datetime`` (years 1 to 9999). A longer one could
#: never fire twice, whatever its start.
_MAX_MICROSECONDS = (datetime.max - datetime.min) // _MICROSECOND
#: The instants a datetime holds in UTC, in µs since the epoch.
_FIRST_US = (datetime.min.replace(tzinfo=timezone.utc) - _EPOCH) // _MICROSECOND
_LAST_US = (datetime.max.replace(tzinfo=timezone.utc) - _EPOCH) // _MICROSECOND
#: Microseconds per unit, in the order the units appear in the signature and in repr.
_UNITS = (
    ("weeks", 7 * 86_400_000_000),
    ("days", 86_400_000_000),
    ("hours", 3_600_000_000),
    ("minutes", 60_000_000),
    ("seconds", 1_000_000),
)

#: The same, one by one (the read of a stored trigger adds them up inline).
_WEEK_US, _DAY_US, _HOUR_US, _MINUTE_US, _SECOND_US = (unit for _, unit in _UNITS)


_SHARED_AMOUNTS: dict[tuple[object, ...], tuple[int | float, ...]] = {}
_SHARED_INTS: dict[int, int] = {}


def _shared(amounts: tuple[int | float, ...]) -> tuple[int | float, ...]:
    """One tuple per distinct interval: 100,000 hourly jobs need not hold 100,000 copies."""
    if len(_SHARED_AMOUNTS) > 4096:
        _SHARED_AMOUNTS.clear()
        _SHARED_INTS.clear()
    # Keyed by the types too: (0, 1) == (0, 1.0), and the trigger must keep the number
    # it was given (its repr and to_dict show it).
    return _SHARED_AMOUNTS.setdefault((*amounts, *map(type, amounts)), amounts)


def _held_span(zone: tzinfo) -> tuple[int, int]:
    """The first and last instants (µs since the epoch) a datetime holds both in UTC and
    in *zone*: a fire outside them cannot be given in the zone, or stored."""
    first = (datetime.min.replace(tzinfo=zone) - _EPOCH) // _MICROSECOND
    last = (datetime.max.replace(tzinfo=zone) - _EPOCH) // _MICROSECOND
    return max(first, _FIRST_US), min(last, _LAST_US)


def _amount(value: object, argument: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{argument} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{argument} must be a finite number, got {value!r}")
    return value


def _given(amounts: tuple[int | float, ...]) -> str:
    """The amounts given, as the caller wrote them: ``"weeks=1000000.0, days=2"`` (a
    zero shows only when given as a float: the defaults are the int 0)."""
    return ", ".join(
        f"{name}={value!r}"
        for value, (name, _) in zip(amounts, _UNITS, strict=True)
        if value or type(value) is not int
    )


class IntervalTrigger(Trigger):
    """Fires every fixed length of elapsed time, from *start* on.

    The interval is elapsed time, not wall-clock time: daylight saving does not move
    it. A ``days=1`` interval started at 12:00 in Europe/Berlin fires at 13:00 local
    time after the spring-forward night (24 hours later is 13:00 CEST). Use
    :class:`~tickwork.CalendarIntervalTrigger` for schedules that keep their wall time.

    Args:
        weeks, days, hours, minutes, seconds: the interval, summed. Any of them may be
            fractional or negative as long as the total is positive; the total is
            rounded to whole microseconds.
        start: the first fire instant (inclusive); an aware datetime. Defaults to the
            moment the trigger is built (on a scheduler whose clock is not the system's,
            such as a ``FakeClock``: one interval before its first fire, counted from
            that clock's time when the job is added).
        end: no fire later than this instant (inclusive); an aware datetime.
        timezone: the zone results are expressed in: an IANA name, a ``tzinfo``, or
            ``None`` for the local zone. It does not change *when* the trigger fires.

    Raises:
        ValueError: the total interval is not positive, or *end* is before *start*.
        TypeError: an amount is not a number, or *start* / *end* is naive.
        UnknownTimezone: *timezone* is not a known zone.

    >>> from zoneinfo import ZoneInfo
    >>> start = datetime(2024, 3, 30, 12, tzinfo=ZoneInfo("Europe/Berlin"))
    >>> trigger = IntervalTrigger(days=1, start=start, timezone="Europe/Berlin")
    >>> [str(t) for t in trigger.next_times(start, 2)]
    ['2024-03-31 13:00:00+02:00', '2024-04-01 13:00:00+02:00']
    """

    __slots__ = (
        "_amounts",
        "_end",
        "_end_us",
        "_from_now",
        "_interval_us",
        "_start",
        "_start_us",
        "_system_start",
        "_timezone",
    )
    type_name = "interval"

    _amounts: tuple[int | float, ...]
    _end: datetime | None
    _end_us: int | None
    #: The start was filled in from "now" (by a shortcut, or none was given): re-adding
    #: the same job later (``replace_existing``) is then the same schedule, whatever the
    #: new start.
    _from_now: bool
    _interval_us: int
    _start: datetime
    _start_us: int
    #: No start was given: it is the system clock's time when the trigger was built,
    #: which a scheduler on another clock (``FakeClock``) replaces with its own time.
    _system_start: bool
    _timezone: tzinfo

    def __init__(
        self,
        *,
        weeks: float = 0,
        days: float = 0,
        hours: float = 0,
        minutes: float = 0,
        seconds: float = 0,
        start: datetime | None = None,
        end: datetime | None = None,
        timezone: str | tzinfo | None = None,
    ) -> None:
        amounts = (weeks, days, hours, minutes, seconds)
        exact: Fraction | int = 0
        exact_ints = True
        for value, (name, unit) in zip(amounts, _UNITS, strict=True):
            if type(value) is int:
                exact += value * unit
            else:
                _amount(value, name)
                exact_ints = False
        if not exact_ints:
            # Fraction holds each float's exact value, so the sum is rounded once, not
            # per unit.
            exact = sum(
                (Fraction(value) * unit for value, (_, unit) in zip(amounts, _UNITS, strict=True)),
                Fraction(0),
            )
        interval_us = round(exact)
        if not 0 < interval_us <= _MAX_MICROSECONDS:
            given = _given(amounts)
            if interval_us <= 0:
                try:
                    total = f"{float(exact) / 1e6!r} seconds"
                except OverflowError:
                    total = "a huge negative number of seconds"
                raise ValueError(
                    f"the interval must be at least one microsecond, got {given or 'nothing'} "
                    f"(total {total})"
                )
            raise ValueError(
                f"{given} is too large: an interval must be at most "
                f"{timedelta(microseconds=_MAX_MICROSECONDS).days} days (the span of the years "
                f"1 to 9999)"
            )
        zone = coerce_timezone(timezone)
        defaulted = start is None
        start = system_now() if start is None else require_aware(start, "start", zone)
        if start.tzinfo is zone:  # (returned as it is: a wall time in a DST gap, fixed)
            start = in_zone(start)
        start_us = epoch_us(start)
        end_us = None
        if end is not None:
            end_us = epoch_us(require_aware(end, "end", zone))
            # (Without a start, "now" is the scheduler's when the job is added, which
            # may be a FakeClock's: a trigger whose end has passed then never fires.)
            if end_us < start_us and not defaulted:
                raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
        _fill(self, _shared(amounts), _SHARED_INTS.setdefault(interval_us, interval_us), zone,
              start, start_us, end, end_us, from_now=defaulted, system_start=defaulted)  # fmt: skip

    @property
    def interval(self) -> timedelta:
        """The interval, rounded to whole microseconds."""
        return timedelta(microseconds=self._interval_us)

    @property
    def start(self) -> datetime:
        """The first fire instant."""
        return self._start

    @property
    def end(self) -> datetime | None:
        """The last instant a fire may happen at, if any."""
        return self._end

    @property
    def timezone(self) -> tzinfo:
        """The zone results are expressed in."""
        return self._timezone

    def next_after(self, moment: datetime) -> datetime | None:
        after = aware_us(moment, "moment")
        start = self._start_us
        # Smallest k >= 0 with start + k * interval > after.
        k = 0 if after < start else (after - start) // self._interval_us + 1
        fire = start + k * self._interval_us
        if self._end_us is not None and fire > self._end_us:
            return None
        if not k and self._start.tzinfo is self._timezone:
            return self._start  # share the object: one less datetime per scheduled job
        try:
            return (_EPOCH + timedelta(microseconds=fire)).astimezone(self._timezone)
        except OverflowError:
            first = _held_span(self._timezone)[0]
            if fire > first:
                return None  # after the year 9999, in UTC or in the zone
            # Before the year 1 in UTC or the zone: the first fire a datetime holds there.
            k = -((start - first) // self._interval_us)  # the smallest k at or after first
            return self._shown(start + k * self._interval_us)

    def previous_before(self, moment: datetime) -> datetime | None:
        """The latest fire instant strictly earlier than *moment*, or ``None`` (before
        *start*), computed directly like :meth:`next_after`."""
        latest = aware_us(moment, "moment") - 1
        if self._end_us is not None and self._end_us < latest:
            latest = self._end_us
        start = self._start_us
        if latest < start:
            return None
        # Largest k >= 0 with start + k * interval <= latest.
        k = (latest - start) // self._interval_us
        if not k and self._start.tzinfo is self._timezone:
            return self._start
        fire = start + k * self._interval_us
        try:
            return (_EPOCH + timedelta(microseconds=fire)).astimezone(self._timezone)
        except OverflowError:
            last = _held_span(self._timezone)[1]
            if fire < last:
                return None  # before the year 1, in UTC or in the zone
            # After the year 9999 in UTC or the zone: the last fire a datetime holds there.
            k = (last - start) // self._interval_us
            return None if k < 0 else self._shown(start + k * self._interval_us)

    def _shown(self, fire: int) -> datetime | None:
        """The fire at *fire* µs in the zone, if within *end* and what a datetime holds."""
        if self._end_us is not None and fire > self._end_us:
            return None
        try:
            return (_EPOCH + timedelta(microseconds=fire)).astimezone(self._timezone)
        except OverflowError:
            return None

    def _shifted(self, by: timedelta) -> IntervalTrigger:
        """The same trigger starting *by* later (no re-validation; for the shortcuts)."""
        try:
            start = (self._start + by).astimezone(self._timezone)
        except OverflowError:
            raise ValueError(
                f"{_given(self._amounts)} is too large: the first fire, {by} after "
                f"{self._start.isoformat()}, would be after the year 9999"
            ) from None
        return _fill(object.__new__(IntervalTrigger), self._amounts, self._interval_us,
                     self._timezone, start, self._start_us + by // _MICROSECOND, self._end,
                     self._end_us, from_now=True, system_start=False)  # fmt: skip

    def count_between(self, after: datetime, until: datetime) -> int:
        """How many fire instants lie in ``(after, until]``, computed exactly in O(1).

        The scheduler uses this to report how many runs a long downtime missed without
        walking every one of them.
        """
        low = epoch_us(require_aware(after, "after"))
        high = epoch_us(require_aware(until, "until"))
        if self._end_us is not None:
            high = min(high, self._end_us)
        start, step = self._start_us, self._interval_us
        if high < start or high <= low:
            return 0
        last = (high - start) // step  # the last k with start + k * step <= high
        first = 0 if low < start else (low - start) // step + 1
        return max(0, last - first + 1)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type_name}
        data.update((name, value) for value, (name, _) in zip(self._amounts, _UNITS, strict=True))
        data["start"] = self._start.isoformat()
        data["end"] = None if self._end is None else self._end.isoformat()
        data["timezone"] = timezone_name(self._timezone)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IntervalTrigger:
        get = data.get
        end = get("end")
        amounts = (get("weeks", 0), get("days", 0), get("hours", 0), get("minutes", 0),
                   get("seconds", 0))  # fmt: skip
        try:
            start = datetime.fromisoformat(data["start"])
        except (TypeError, ValueError):  # (not through the helper: no call on the hot path)
            start = stored_datetime(data["start"], "start")  # raises, naming the field
        if end is None and start.utcoffset() is not None:
            # The usual stored trigger (whole units, no end), as __init__ would make it
            # with fewer checks: a store reads thousands (a job of its own each).
            weeks, days, hours, minutes, seconds = amounts
            if (
                type(weeks) is int
                and type(days) is int
                and type(hours) is int
                and type(minutes) is int
                and type(seconds) is int
            ):
                interval_us = (
                    weeks * _WEEK_US
                    + days * _DAY_US
                    + hours * _HOUR_US
                    + minutes * _MINUTE_US
                    + seconds * _SECOND_US
                )
                if 0 < interval_us <= _MAX_MICROSECONDS:
                    zone = coerce_timezone(data["timezone"])
                    return _fill(object.__new__(cls), _shared(amounts),
                                 _SHARED_INTS.setdefault(interval_us, interval_us), zone, start,
                                 epoch_us(start), None, None, from_now=False,
                                 system_start=False)  # fmt: skip
        return cls(
            weeks=amounts[0],
            days=amounts[1],
            hours=amounts[2],
            minutes=amounts[3],
            seconds=amounts[4],
            start=start,
            end=None if end is None else stored_datetime(end, "end"),
            timezone=data["timezone"],
        )

    def __repr__(self) -> str:
        parts = [
            f"{name}={value!r}"
            for value, (name, _) in zip(self._amounts, _UNITS, strict=True)
            if value
        ]
        parts.append(f"start={self._start.isoformat()!r}")
        if self._end is not None:
            parts.append(f"end={self._end.isoformat()!r}")
        parts.append(f"timezone={timezone_name(self._timezone)!r}")
        return f"IntervalTrigger({', '.join(parts)})"


def _fill(
    trigger: IntervalTrigger,
    amounts: tuple[int | float, ...],
    interval_us: int,
    zone: tzinfo,
    start: datetime,
    start_us: int,
    end: datetime | None,
    end_us: int | None,
    *,
    from_now: bool,
    system_start: bool,
) -> IntervalTrigger:
    """Set every slot of *trigger* (frozen: through ``object.__setattr__``), with values
    already checked; the one place that knows them all."""
    put = object.__setattr__
    put(trigger, "_amounts", amounts)
    put(trigger, "_interval_us", interval_us)
    put(trigger, "_timezone", zone)
    put(trigger, "_start", start)
    put(trigger, "_start_us", start_us)
    put(trigger, "_end", end)
    put(trigger, "_end_us", end_us)
    put(trigger, "_from_now", from_now)
    put(trigger, "_system_start", system_start)
    return trigger
