"""Wall-clock intervals: "every 2 months, on the start date's day, at 09:00 local time".

The k-th fire date is the *anchor* date (the start's date in the trigger's zone) plus
``k * (years, months)`` and then ``k * (weeks, days)``. Months are always counted from
the anchor, never from the previous fire: a monthly schedule anchored on January 31
comes back to the 31st in March instead of drifting to the 28th for good after
February. Whether the 31st of April is skipped or becomes the 30th is
:class:`MissingDay`'s choice.

Those dates at the trigger's hour, minute and second are *wall times*; they become
instants under the shared DST policy of :mod:`tickwork.triggers._walltime`.

Finding the first fire after a moment does not walk the periods from the anchor:
the k whose date is nearest is estimated from the elapsed days (a 400-year Gregorian
cycle is exactly 146097 days and 4800 months, so the average month is exact in
integers), then corrected by a step or two. The clamped k-th date only grows with k,
which is what makes both the estimate and the correction sound.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta, tzinfo
from enum import Enum
from typing import Any

from .._clock import system_now
from .._errors import TriggerSearchExhausted
from .._instants import EPOCH as _EPOCH
from .._tz import coerce_timezone, require_aware, timezone_name
from ._base import DstGap, DstOverlap, Trigger, coerce_enum, stored_datetime
from ._walltime import FIRST_INSTANT, LAST_INSTANT, Wall, next_fire, previous_fire

__all__ = ["CalendarIntervalTrigger", "MissingDay"]

_SECOND = timedelta(seconds=1)
_MAX_YEAR = 9999
_MAX_ORDINAL = date.max.toordinal()
_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
#: Days and months in one 400-year Gregorian cycle.
_CYCLE_DAYS, _CYCLE_MONTHS = 146_097, 4_800
#: The estimate of k is off by at most a couple of periods; this only catches a bug.
_MAX_CORRECTIONS = 64
#: Which months lack the anchor day repeats with the 400-year cycle, and the anchor
#: month itself (k = 0) has it, so no more than this many periods in a row are skipped.
_MAX_SKIPPED = _CYCLE_MONTHS


class MissingDay(str, Enum):
    """What a month without the schedule's day of month (April 31, February 29) does.

    ``SKIP``: no fire that period. ``CLAMP``: fire on the month's last day instead.
    The next period goes back to the anchor's day either way.
    """

    SKIP = "skip"
    CLAMP = "clamp"


def _month_length(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _MONTH_DAYS[month]


#: The most of each unit a period may hold: more could never fire twice within the
#: years 1 to 9999 that ``datetime`` holds.
_MAX_DAYS = (datetime.max - datetime.min).days
_MAX_COUNTS = {"years": 9998, "months": 9998 * 12, "weeks": _MAX_DAYS // 7, "days": _MAX_DAYS}


def _count(value: object, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{argument} must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{argument} must not be negative, got {value!r}")
    if value > _MAX_COUNTS[argument]:
        raise ValueError(
            f"{argument}={value!r} is too large: at most {_MAX_COUNTS[argument]} (a longer "
            f"period never fires twice within the years 1 to 9999)"
        )
    return value


def _clock_field(value: object, argument: str, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{argument} must be an int, got {type(value).__name__} {value!r}")
    if not 0 <= value < limit:
        raise ValueError(f"{argument} must be between 0 and {limit - 1}, got {value!r}")
    return value


class CalendarIntervalTrigger(Trigger):
    """Fires every so many years, months, weeks and days, at a fixed wall-clock time.

    Unlike :class:`~tickwork.IntervalTrigger`, the wall time holds across daylight
    saving changes: ``days=1, hour=12`` fires at 12:00 local time every day.

    Args:
        years, months, weeks, days: the period; non-negative ints, not all zero.
        hour, minute, second: the wall-clock time of day to fire at.
        start: an aware datetime. Its date in *timezone* is the anchor every fire date
            is counted from, and no fire is earlier than it (inclusive). Defaults to the
            moment the trigger is built (on a scheduler whose clock is not the system's,
            such as a ``FakeClock``: that clock's time when the job is added).
        end: no fire later than this instant (inclusive); an aware datetime.
        timezone: an IANA name, a ``tzinfo``, or ``None`` for the local zone.
        on_missing_day: ``"skip"`` (the default) or ``"clamp"``; see :class:`MissingDay`.
        dst_gap, dst_overlap: override the DST policy. By default a time in a
            spring-forward gap fires once at the end of the gap and a time in a
            fall-back overlap fires once, at its first instant.

    Raises:
        ValueError: the period is zero or negative, a time field is out of range, an
            enum value is unknown, *end* is before *start*, or *start* is before the
            year 1 or after the year 9999 in *timezone*.
        TypeError: a field is not an int, or *start* / *end* is naive.
        UnknownTimezone: *timezone* is not a known zone.

    >>> from zoneinfo import ZoneInfo
    >>> start = datetime(2024, 1, 31, tzinfo=ZoneInfo("Europe/Berlin"))
    >>> trigger = CalendarIntervalTrigger(months=1, hour=9, start=start, timezone="Europe/Berlin")
    >>> [str(t) for t in trigger.next_times(start, 3)]
    ['2024-01-31 09:00:00+01:00', '2024-03-31 09:00:00+02:00', '2024-05-31 09:00:00+02:00']
    """

    __slots__ = (
        "_anchor_day",
        "_anchor_index",
        "_anchor_ordinal",
        "_days",
        "_dst_gap",
        "_dst_overlap",
        "_end",
        "_end_epoch",
        "_from_now",
        "_hour",
        "_minute",
        "_missing",
        "_months",
        "_policy",
        "_second",
        "_start",
        "_start_floor",
        "_step_days",
        "_step_months",
        "_system_start",
        "_timezone",
        "_weeks",
        "_years",
    )
    type_name = "calendar_interval"

    _anchor_day: int
    _anchor_index: int
    _anchor_ordinal: int
    _days: int
    _dst_gap: DstGap | None
    _dst_overlap: DstOverlap | None
    _end: datetime | None
    _end_epoch: int
    #: The start was filled in from "now": re-adding the job (``replace_existing``)
    #: keeps its schedule, as the shortcut's does.
    _from_now: bool
    _hour: int
    _minute: int
    _missing: MissingDay
    _months: int
    _policy: tuple[DstGap, DstOverlap]
    _second: int
    _start: datetime
    _start_floor: int
    _step_days: int
    _step_months: int
    #: No start was given: it is the system clock's time when the trigger was built,
    #: which a scheduler on another clock (``FakeClock``) replaces with its own time.
    _system_start: bool
    _timezone: tzinfo
    _weeks: int
    _years: int

    def __init__(
        self,
        *,
        years: int = 0,
        months: int = 0,
        weeks: int = 0,
        days: int = 0,
        hour: int = 0,
        minute: int = 0,
        second: int = 0,
        start: datetime | None = None,
        end: datetime | None = None,
        timezone: str | tzinfo | None = None,
        on_missing_day: MissingDay | str = MissingDay.SKIP,
        dst_gap: DstGap | str | None = None,
        dst_overlap: DstOverlap | str | None = None,
    ) -> None:
        years = _count(years, "years")
        months = _count(months, "months")
        weeks = _count(weeks, "weeks")
        days = _count(days, "days")
        if not (years or months or weeks or days):
            raise ValueError(
                "CalendarIntervalTrigger needs a period of at least one day, got "
                f"years={years}, months={months}, weeks={weeks}, days={days}"
            )
        hour = _clock_field(hour, "hour", 24)
        minute = _clock_field(minute, "minute", 60)
        second = _clock_field(second, "second", 60)
        missing = coerce_enum(MissingDay, on_missing_day, "on_missing_day")
        gap = None if dst_gap is None else coerce_enum(DstGap, dst_gap, "dst_gap")
        overlap = (
            None if dst_overlap is None else coerce_enum(DstOverlap, dst_overlap, "dst_overlap")
        )
        zone = coerce_timezone(timezone)
        put = object.__setattr__
        put(self, "_from_now", start is None)
        put(self, "_system_start", start is None)
        start = system_now() if start is None else require_aware(start, "start", zone)
        start_epoch = start - _EPOCH
        # Without an end, the bound is the last instant a datetime holds in UTC.
        end_epoch = LAST_INSTANT
        if end is not None:
            end_delta = require_aware(end, "end", zone) - _EPOCH
            if end_delta < start_epoch and not self._from_now:  # (see IntervalTrigger)
                raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
            end_epoch = min(end_epoch, end_delta // _SECOND)
        try:
            anchor = start.astimezone(zone).date()
        except OverflowError:  # (datetime.min in UTC is in the year 0 west of it)
            side = "before the year 1" if start_epoch < timedelta(0) else "after the year 9999"
            raise ValueError(
                f"start {start.isoformat()} is out of range: it is {side} in timezone "
                f"{timezone_name(zone)}, so it has no date there to count from"
            ) from None
        put(self, "_years", years)
        put(self, "_months", months)
        put(self, "_weeks", weeks)
        put(self, "_days", days)
        put(self, "_hour", hour)
        put(self, "_minute", minute)
        put(self, "_second", second)
        put(self, "_timezone", zone)
        put(self, "_start", start)
        put(self, "_end", end)
        put(self, "_missing", missing)
        put(self, "_dst_gap", gap)
        put(self, "_dst_overlap", overlap)
        put(self, "_policy", (gap or DstGap.SHIFT, overlap or DstOverlap.FIRST))
        # Exclusive lower bound in whole seconds: a fire f >= start  <=>  f > ceil(start) - 1.
        put(self, "_start_floor", max(FIRST_INSTANT - 1, -(-start_epoch // _SECOND) - 1))
        put(self, "_end_epoch", end_epoch)
        put(self, "_step_months", years * 12 + months)
        put(self, "_step_days", weeks * 7 + days)
        put(self, "_anchor_index", anchor.year * 12 + anchor.month - 1)
        put(self, "_anchor_day", anchor.day)
        put(self, "_anchor_ordinal", anchor.toordinal())

    # -- public surface -------------------------------------------------------------

    @property
    def timezone(self) -> tzinfo:
        """The zone whose wall clock the schedule is read in."""
        return self._timezone

    @property
    def start(self) -> datetime:
        """The earliest instant a fire may happen at; its local date is the anchor."""
        return self._start

    @property
    def end(self) -> datetime | None:
        """The last instant a fire may happen at, if any."""
        return self._end

    @property
    def on_missing_day(self) -> MissingDay:
        """What a month without the anchor's day of month does."""
        return self._missing

    @property
    def dst_gap(self) -> DstGap:
        """The gap policy in force (explicit, or the default ``SHIFT``)."""
        return self._policy[0]

    @property
    def dst_overlap(self) -> DstOverlap:
        """The overlap policy in force (explicit, or the default ``FIRST``)."""
        return self._policy[1]

    def next_after(self, moment: datetime) -> datetime | None:
        after = (require_aware(moment, "moment") - _EPOCH) // _SECOND
        after = max(after, self._start_floor)
        found = next_fire(self._timezone, self._next_wall, after, *self._policy)
        if found is None:
            return None
        if found[0] > self._end_epoch:
            return None
        return found[1]

    def previous_before(self, moment: datetime) -> datetime | None:
        """The latest fire instant strictly earlier than *moment*, or ``None`` (before
        *start*): the fire set of :meth:`next_after`, DST rules included, walked back."""
        # Strictly before moment, in whole seconds: at or before ceil(moment) - 1.
        latest = -((_EPOCH - require_aware(moment, "moment")) // _SECOND) - 1
        latest = min(latest, self._end_epoch)
        if latest <= self._start_floor:
            return None
        found = previous_fire(self._timezone, self._previous_wall, latest, *self._policy)
        if found is None or found[0] <= self._start_floor:
            return None
        return found[1]

    def _restarted(self, start: datetime) -> CalendarIntervalTrigger:
        """The same trigger from *start*, which was "now" (see _system_start)."""
        made = CalendarIntervalTrigger(
            years=self._years, months=self._months, weeks=self._weeks, days=self._days,
            hour=self._hour, minute=self._minute, second=self._second, start=start,
            end=self._end, timezone=self._timezone, on_missing_day=self._missing,
            dst_gap=self._dst_gap, dst_overlap=self._dst_overlap,
        )  # fmt: skip
        object.__setattr__(made, "_from_now", True)
        return made

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "years": self._years,
            "months": self._months,
            "weeks": self._weeks,
            "days": self._days,
            "hour": self._hour,
            "minute": self._minute,
            "second": self._second,
            "start": self._start.isoformat(),
            "end": None if self._end is None else self._end.isoformat(),
            "timezone": timezone_name(self._timezone),
            "on_missing_day": self._missing.value,
            "dst_gap": None if self._dst_gap is None else self._dst_gap.value,
            "dst_overlap": None if self._dst_overlap is None else self._dst_overlap.value,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CalendarIntervalTrigger:
        end = data.get("end")
        return cls(
            years=data.get("years", 0),
            months=data.get("months", 0),
            weeks=data.get("weeks", 0),
            days=data.get("days", 0),
            hour=data.get("hour", 0),
            minute=data.get("minute", 0),
            second=data.get("second", 0),
            start=stored_datetime(data["start"], "start"),
            end=None if end is None else stored_datetime(end, "end"),
            timezone=data["timezone"],
            on_missing_day=data.get("on_missing_day", MissingDay.SKIP),
            dst_gap=data.get("dst_gap"),
            dst_overlap=data.get("dst_overlap"),
        )

    def __repr__(self) -> str:
        fields = (
            ("years", self._years),
            ("months", self._months),
            ("weeks", self._weeks),
            ("days", self._days),
            ("hour", self._hour),
            ("minute", self._minute),
            ("second", self._second),
        )
        parts = [f"{name}={value}" for name, value in fields if value]
        parts.append(f"start={self._start.isoformat()!r}")
        if self._end is not None:
            parts.append(f"end={self._end.isoformat()!r}")
        parts.append(f"timezone={timezone_name(self._timezone)!r}")
        if self._missing is not MissingDay.SKIP:
            parts.append(f"on_missing_day={self._missing.value!r}")
        if self._dst_gap is not None:
            parts.append(f"dst_gap={self._dst_gap.value!r}")
        if self._dst_overlap is not None:
            parts.append(f"dst_overlap={self._dst_overlap.value!r}")
        return f"CalendarIntervalTrigger({', '.join(parts)})"

    # -- the search -----------------------------------------------------------------

    def _date_of(self, k: int) -> tuple[int, bool] | None:
        """The k-th fire date as an ordinal (day clamped into its month), and whether the
        anchor's day exists in that month; ``None`` past the year 9999."""
        year, month = divmod(self._anchor_index + k * self._step_months, 12)
        if year > _MAX_YEAR:
            return None
        length = _month_length(year, month + 1)
        day = self._anchor_day
        ordinal = date(year, month + 1, min(day, length)).toordinal() + k * self._step_days
        if ordinal > _MAX_ORDINAL:
            return None
        return ordinal, day <= length

    def _reaches(self, k: int, threshold: int) -> bool:
        """Whether the k-th (clamped) fire date is on or after the ordinal *threshold*."""
        found = self._date_of(k)
        return found is None or found[0] >= threshold

    def _first_period_from(self, threshold: int) -> int:
        """The smallest k >= 0 whose (clamped) fire date is on or after *threshold*."""
        elapsed = threshold - self._anchor_ordinal
        if elapsed <= 0:
            return 0
        per_cycle = self._step_months * _CYCLE_DAYS + self._step_days * _CYCLE_MONTHS
        k = elapsed * _CYCLE_MONTHS // per_cycle
        for _ in range(_MAX_CORRECTIONS):
            if k > 0 and self._reaches(k - 1, threshold):
                k -= 1
            elif not self._reaches(k, threshold):
                k += 1
            else:
                return k
        raise TriggerSearchExhausted(
            f"{self!r}: could not place {date.fromordinal(threshold)} among the periods "
            f"(stopped at period {k}); this is a bug in tickwork"
        )

    def _next_wall(self, wall: Wall) -> Wall | None:
        """The smallest matching wall time strictly after *wall*."""
        year, month, day, hour, minute, second = wall
        threshold = date(year, month, day).toordinal()
        if (self._hour, self._minute, self._second) <= (hour, minute, second):
            threshold += 1  # today's fire time is not after *wall*
        k = self._first_period_from(threshold)
        clamp = self._missing is MissingDay.CLAMP
        for _ in range(_MAX_SKIPPED + 1):
            found = self._date_of(k)
            if found is None:
                return None
            ordinal, exists = found
            if exists or clamp:
                fire = date.fromordinal(ordinal)
                return fire.year, fire.month, fire.day, self._hour, self._minute, self._second
            k += 1
        raise TriggerSearchExhausted(
            f"{self!r}: no period from {k - _MAX_SKIPPED - 1} to {k - 1} has day "
            f"{self._anchor_day} in its month; this is a bug in tickwork"
        )

    def _previous_wall(self, wall: Wall) -> Wall | None:
        """The largest matching wall time strictly before *wall* (whose second may be 60)."""
        year, month, day, hour, minute, second = wall
        last = date(year, month, day).toordinal()
        if (self._hour, self._minute, self._second) >= (hour, minute, second):
            last -= 1  # today's fire time is not before *wall*
        # The largest k whose (clamped) date is on or before *last*.
        k = self._first_period_from(last + 1) - 1
        clamp = self._missing is MissingDay.CLAMP
        for _ in range(_MAX_SKIPPED + 1):
            if k < 0:
                return None
            found = self._date_of(k)
            if found is not None:
                ordinal, exists = found
                if exists or clamp:
                    fire = date.fromordinal(ordinal)
                    return fire.year, fire.month, fire.day, self._hour, self._minute, self._second
            k -= 1
        raise TriggerSearchExhausted(
            f"{self!r}: no period from {k + 1} to {k + _MAX_SKIPPED + 1} has day "
            f"{self._anchor_day} in its month; this is a bug in tickwork"
        )
