"""Cron schedules: ``CronTrigger("0 9 * * mon-fri", timezone="Europe/Berlin")``.

Finding the next fire time costs work proportional to the number of fields, not to
the distance to it: every field is a bit mask turned into a "next allowed value"
table, and the days a month allows are one table per month *shape* (its length and
the weekday of its 1st, 28 shapes in all) with ``L``, ``W`` and ``#`` resolved.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any

from .._errors import InvalidExpression
from .._tz import coerce_timezone, require_aware, timezone_name
from ._base import DstGap, DstOverlap, Trigger, coerce_enum
from ._cronparse import CronFields, normalize, parse_cron
from ._walltime import Wall, next_fire

__all__ = ["CronTrigger"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SECOND = timedelta(seconds=1)
_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MAX_YEAR = 9999


def _next_table(mask: int, size: int) -> tuple[int, ...]:
    """``table[k]`` is the smallest allowed value >= k, or -1; ``table[size]`` is -1."""
    table = [-1] * (size + 1)
    following = -1
    for value in range(size - 1, -1, -1):
        if mask >> value & 1:
            following = value
        table[value] = following
    return tuple(table)


def _month_shape(year: int, month: int) -> tuple[int, int]:
    """(number of days, cron weekday of the 1st with Sunday = 0)."""
    days = _MONTH_DAYS[month]
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        days = 29
    return days, (date(year, month, 1).weekday() + 1) % 7


@lru_cache(maxsize=1)
def _shapes_per_month() -> dict[int, frozenset[tuple[int, int]]]:
    """Every (length, weekday of the 1st) each month takes in one 400-year Gregorian cycle.

    The calendar repeats exactly every 400 years, so a day rule that matches in none
    of these shapes can never match at all.
    """
    shapes: dict[int, set[tuple[int, int]]] = {month: set() for month in range(1, 13)}
    for year in range(2000, 2400):
        for month in range(1, 13):
            shapes[month].add(_month_shape(year, month))
    return {month: frozenset(found) for month, found in shapes.items()}


def _opt_dt(value: datetime | None, argument: str) -> datetime | None:
    return None if value is None else require_aware(value, argument)


class CronTrigger(Trigger):
    """Fires when the wall clock in *timezone* matches a cron expression.

    Args:
        expression: 5 fields (minute hour day-of-month month day-of-week), 6 with
            seconds first, or 7 with a year last; or an alias such as ``@daily``.
            Lists, ranges, steps, month and weekday names, ``?``, Sunday as 0 or 7,
            ``L``, ``L-3``, ``15W``, ``LW``, ``5#3`` and ``5L`` are understood.
        timezone: an IANA name, a ``tzinfo``, or ``None`` for the local zone.
        start, end: aware datetimes bounding the fire times (both inclusive).
        dst_gap, dst_overlap: override the DST policy (see :class:`DstGap` and
            :class:`DstOverlap`). By default a schedule whose hours cover the whole
            day is a *cadence* (gap times are skipped, overlap times fire in both
            passes) and any other is *anchored* (a gap time fires once at the end of
            the gap, an overlap time once at its first instant).

    Raises:
        InvalidExpression: the expression is malformed or can never fire.
        UnknownTimezone: *timezone* is not a known zone.
        TypeError: *start* or *end* is naive.

    >>> trigger = CronTrigger("30 2 * * *", timezone="America/New_York")
    >>> start = datetime(2024, 3, 9, 12, tzinfo=trigger.timezone)
    >>> str(trigger.next_after(start))
    '2024-03-10 03:00:00-04:00'
    """

    __slots__ = (
        "_dst_gap",
        "_dst_overlap",
        "_end",
        "_end_epoch",
        "_expression",
        "_fields",
        "_gap",
        "_memo",
        "_next_wall",
        "_start",
        "_start_floor",
        "_timezone",
    )
    type_name = "cron"

    _dst_gap: DstGap | None
    _dst_overlap: DstOverlap | None
    _end: datetime | None
    _end_epoch: int | None
    _expression: str
    _fields: CronFields
    _gap: tuple[DstGap, DstOverlap]
    _memo: tuple[datetime, int, Wall] | None
    _next_wall: Callable[[Wall], Wall | None]
    _start: datetime | None
    _start_floor: int | None
    _timezone: tzinfo

    def __init__(
        self,
        expression: str,
        *,
        timezone: str | tzinfo | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        dst_gap: DstGap | str | None = None,
        dst_overlap: DstOverlap | str | None = None,
    ) -> None:
        if not isinstance(expression, str):
            raise TypeError(f"cron expression must be a str, got {type(expression).__name__}")
        text = normalize(expression)
        schedule = _compile(text)
        fields = schedule.fields
        zone = coerce_timezone(timezone)
        start = _opt_dt(start, "start")
        end = _opt_dt(end, "end")
        if start is not None and end is not None and end < start:
            raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
        gap = None if dst_gap is None else coerce_enum(DstGap, dst_gap, "dst_gap")
        overlap = (
            None if dst_overlap is None else coerce_enum(DstOverlap, dst_overlap, "dst_overlap")
        )
        put = object.__setattr__
        put(self, "_expression", text)
        put(self, "_fields", fields)
        put(self, "_next_wall", schedule.next_wall)
        put(self, "_timezone", zone)
        put(self, "_start", start)
        put(self, "_end", end)
        put(self, "_dst_gap", gap)
        put(self, "_dst_overlap", overlap)
        cadence = fields.every_hour
        put(
            self,
            "_gap",
            (
                gap or (DstGap.SKIP if cadence else DstGap.SHIFT),
                overlap or (DstOverlap.BOTH if cadence else DstOverlap.FIRST),
            ),
        )
        # Exclusive lower bound in whole seconds: a fire f >= start  <=>  f > ceil(start) - 1.
        put(self, "_start_floor", None if start is None else -((_EPOCH - start) // _SECOND) - 1)
        put(self, "_end_epoch", None if end is None else (end - _EPOCH) // _SECOND)
        put(self, "_memo", None)

    # -- public surface -------------------------------------------------------------

    @property
    def expression(self) -> str:
        """The expression as given, with white space folded."""
        return self._expression

    @property
    def timezone(self) -> tzinfo:
        """The zone whose wall clock the expression is read in."""
        return self._timezone

    @property
    def start(self) -> datetime | None:
        return self._start

    @property
    def end(self) -> datetime | None:
        return self._end

    @property
    def is_cadence(self) -> bool:
        """True when the hours cover the whole day (see the DST rules in the docs)."""
        return self._fields.every_hour

    @property
    def dst_gap(self) -> DstGap:
        """The gap policy in force (explicit, or the default for this schedule)."""
        return self._gap[0]

    @property
    def dst_overlap(self) -> DstOverlap:
        """The overlap policy in force (explicit, or the default for this schedule)."""
        return self._gap[1]

    def next_after(self, moment: datetime) -> datetime | None:
        memo = self._memo
        if memo is not None and memo[0] is moment:
            # Walking on from our own previous result: its instant and wall are known.
            after, wall = memo[1], memo[2]
        else:
            if moment.tzinfo is None:
                require_aware(moment, "moment")
            after, wall = (moment - _EPOCH) // _SECOND, None
            floor = self._start_floor
            if floor is not None and floor > after:
                after, wall = floor, None
        found = next_fire(self._timezone, self._next_wall, after, *self._gap, wall)
        if found is None:
            return None
        instant, result, plain = found
        end = self._end_epoch
        if end is not None and instant > end:
            return None
        if plain is not None:
            object.__setattr__(self, "_memo", (result, instant, plain))
        return result

    def explain(self) -> str:
        """An English description, e.g. ``"At 09:00 on Monday through Friday"``."""
        from ._explain import explain_cron

        return explain_cron(self._fields, self._expression)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "expression": self._expression,
            "timezone": timezone_name(self._timezone),
            "start": None if self._start is None else self._start.isoformat(),
            "end": None if self._end is None else self._end.isoformat(),
            "dst_gap": None if self._dst_gap is None else self._dst_gap.value,
            "dst_overlap": None if self._dst_overlap is None else self._dst_overlap.value,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CronTrigger:
        start, end = data.get("start"), data.get("end")
        return cls(
            data["expression"],
            timezone=data["timezone"],
            start=None if start is None else datetime.fromisoformat(start),
            end=None if end is None else datetime.fromisoformat(end),
            dst_gap=data.get("dst_gap"),
            dst_overlap=data.get("dst_overlap"),
        )

    def __repr__(self) -> str:
        parts = [repr(self._expression), f"timezone={timezone_name(self._timezone)!r}"]
        if self._start is not None:
            parts.append(f"start={self._start.isoformat()!r}")
        if self._end is not None:
            parts.append(f"end={self._end.isoformat()!r}")
        if self._dst_gap is not None:
            parts.append(f"dst_gap={self._dst_gap.value!r}")
        if self._dst_overlap is not None:
            parts.append(f"dst_overlap={self._dst_overlap.value!r}")
        return f"CronTrigger({', '.join(parts)})"


class _Schedule:
    """The compiled, zone-free part of a cron expression, shared by equal expressions.

    Holds the "next allowed value" tables and answers "the next matching wall time".
    The caches only grow with distinct months asked for and are safe to share
    between threads (a lost race recomputes a value, never corrupts one).
    """

    __slots__ = (
        "_day_tables",
        "_fields",
        "_hour_table",
        "_minute_table",
        "_month_table",
        "_second_table",
        "_shape_tables",
        "_years",
    )

    def __init__(self, fields: CronFields) -> None:
        self._fields = fields
        self._second_table = _next_table(fields.seconds, 60)
        self._minute_table = _next_table(fields.minutes, 60)
        self._hour_table = _next_table(fields.hours, 24)
        self._month_table = _next_table(fields.months, 13)
        self._years = fields.years
        self._shape_tables: dict[tuple[int, int], tuple[int, ...]] = {}
        self._day_tables: dict[int, tuple[int, ...]] = {}

    @property
    def fields(self) -> CronFields:
        return self._fields

    def _day_mask(self, length: int, first_weekday: int) -> int:
        """Bits 1..length: the days a month of this shape allows."""
        fields = self._fields
        every = ((1 << length) - 1) << 1
        days = fields.days & every
        for offset in fields.last_day_offsets:
            if length - offset >= 1:
                days |= 1 << (length - offset)
        if fields.last_weekday_of_month:
            weekday = (first_weekday + length - 1) % 7
            days |= 1 << (length - (1 if weekday == 6 else 2 if weekday == 0 else 0))
        for day in fields.nearest_weekdays:
            if day <= length:
                weekday = (first_weekday + day - 1) % 7
                if weekday == 6:  # Saturday: the Friday before, unless that leaves the month
                    day = 3 if day == 1 else day - 1
                elif weekday == 0:  # Sunday: the Monday after, unless that leaves the month
                    day = day - 2 if day == length else day + 1
                days |= 1 << day
        weekdays = 0
        for weekday in range(7):
            first = 1 + (weekday - first_weekday) % 7
            if fields.weekdays >> weekday & 1:
                for day in range(first, length + 1, 7):
                    weekdays |= 1 << day
            if weekday in fields.last_weekdays:
                weekdays |= 1 << (first + 7 * ((length - first) // 7))
        for weekday, count in fields.nth_weekdays:
            day = 1 + (weekday - first_weekday) % 7 + 7 * (count - 1)
            if day <= length:
                weekdays |= 1 << day
        if fields.day_star or fields.weekday_star:
            return days & weekdays
        return days | weekdays

    def _days(self, year: int, month: int) -> tuple[int, ...]:
        key = year * 16 + month
        table = self._day_tables.get(key)
        if table is None:
            shape = _month_shape(year, month)
            table = self._shape_tables.get(shape)
            if table is None:
                table = _next_table(self._day_mask(*shape), 32)
                self._shape_tables[shape] = table
            if len(self._day_tables) > 2048:
                self._day_tables.clear()
            self._day_tables[key] = table
        return table

    def next_wall(self, wall: Wall) -> Wall | None:
        """The smallest matching wall time strictly after *wall*."""
        year, month, day, hour, minute, second = wall
        years = self._years
        if (
            self._month_table[month] == month
            and self._days(year, month)[day] == day
            and (years is None or year in years)
        ):
            # Today is a matching date: look for a later time of day first.
            hours, minutes, seconds = self._hour_table, self._minute_table, self._second_table
            found = hours[hour]
            if found == hour:
                found = minutes[minute]
                if found == minute:
                    found = seconds[second + 1]
                    if found >= 0:
                        return year, month, day, hour, minute, found
                    found = minutes[minute + 1]
                if found >= 0:
                    return year, month, day, hour, found, seconds[0]
                found = hours[hour + 1]
            if found >= 0:
                return year, month, day, found, minutes[0], seconds[0]
        date = self._next_date(year, month, day + 1)
        if date is None:
            return None
        return (
            date[0],
            date[1],
            date[2],
            self._hour_table[0],
            self._minute_table[0],
            (self._second_table[0]),
        )

    def _next_date(self, year: int, month: int, day: int) -> tuple[int, int, int] | None:
        """The first matching date on or after the given one (*day* may be past the month)."""
        months, years = self._month_table, self._years
        while True:
            if years is not None:
                index = bisect_left(years, year)
                if index == len(years):
                    return None
                if years[index] != year:
                    year, month, day = years[index], 1, 1
            elif year > _MAX_YEAR:
                return None
            found = months[month]
            if found < 0:
                year, month, day = year + 1, 1, 1
                continue
            if found != month:
                month, day = found, 1
            found = self._days(year, month)[day]
            if found < 0:
                month, day = month + 1, 1
                continue
            return year, month, found

    def check_can_fire(self, expression: str) -> None:
        """Refuse expressions whose day rules match no day at all, decided exactly."""
        fields = self._fields
        months = [month for month in range(1, 13) if fields.months >> month & 1]
        if fields.years is None:
            shapes = _shapes_per_month()
            if any(self._day_mask(*shape) for month in months for shape in shapes[month]):
                return
        elif any(
            self._day_mask(*_month_shape(year, month)) for year in fields.years for month in months
        ):
            return
        scope = "in any year" if fields.years is None else "in the years it allows"
        raise InvalidExpression(
            f"invalid cron expression {expression!r}: its day-of-month, day-of-week and "
            f"month fields match no date {scope}, so it would never fire",
            expression=expression,
        )


@lru_cache(maxsize=1024)
def _compile(expression: str) -> _Schedule:
    schedule = _Schedule(parse_cron(expression))
    schedule.check_can_fire(expression)
    return schedule
