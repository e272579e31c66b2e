"""Cron schedules: ``CronTrigger("0 9 * * mon-fri", timezone="Europe/Berlin")``.

Finding the next fire time costs work proportional to the number of fields, not to
the distance to it: every field is a bit mask turned into a "next allowed value"
table, and the days a month allows are one table per month *shape* (its length and
the weekday of its 1st, 28 shapes in all) with ``L``, ``W`` and ``#`` resolved. An ISO
week field (:meth:`CronTrigger.from_fields` only) ties the days to the year, so such a
schedule has one day table per month it reaches instead.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta, tzinfo
from functools import lru_cache, partial
from typing import Any

from .._errors import InvalidExpression
from .._instants import EPOCH as _EPOCH
from .._tz import coerce_timezone, require_aware, timezone_name
from ._base import DstGap, DstOverlap, Trigger, coerce_enum, stored_datetime
from ._cronback import PreviousWall
from ._croncount import count_between
from ._cronparse import (
    KEYWORDS,
    CronFields,
    KeywordForm,
    check_hash_key,
    keyword_form,
    normalize,
    parse_cron,
    parse_iso_weeks,
    unbound,
)
from ._walltime import FIRST_INSTANT, LAST_INSTANT, Wall, next_fire, previous_fire

__all__ = ["CronTrigger"]

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


def _year_class(year: int) -> tuple[int, bool, bool]:
    """What the ISO week numbers of a year's dates depend on.

    A date's ISO week is counted from the Monday of its ISO year's week 1, so within a
    year it follows from the weekday of January 1st and whether the year is leap; early
    January dates in the previous ISO year also need whether that year was leap. (Late
    December dates in the next ISO year are always in its week 1.)
    """

    def leap(number: int) -> bool:
        return number % 4 == 0 and (number % 100 != 0 or number % 400 == 0)

    return date(year, 1, 1).weekday(), leap(year), leap(year - 1)


def _iso_week_days(year: int, month: int, length: int, weeks: int) -> int:
    """Bits 1..length: the days of a month whose ISO week number is in *weeks*."""
    first = date(year, month, 1)
    mask = 0
    start, stop = 1, 7 - first.weekday()  # the month's part of its first Monday-Sunday week
    while start <= length:
        if weeks >> date(year, month, start).isocalendar()[1] & 1:
            mask |= ((1 << (min(stop, length) - start + 1)) - 1) << start
        start, stop = stop + 1, stop + 7
    return mask


def _opt_dt(value: datetime | None, argument: str, zone: tzinfo) -> datetime | None:
    return None if value is None else require_aware(value, argument, zone)


class CronTrigger(Trigger):
    """Fires when the wall clock in *timezone* matches a cron expression.

    Args:
        expression: 5 fields (minute hour day-of-month month day-of-week), 6 with
            seconds first, or 7 with a year last; or an alias such as ``@daily``.
            Lists, ranges, steps, month and weekday names, ``?``, Sunday as 0 or 7,
            ``L``, ``L-3``, ``15W``, ``LW``, ``5#3`` and ``5L`` are understood, and
            hashed values: ``H``, ``H(0-29)``, ``H/15``, ``H(0-29)/10``.
        timezone: an IANA name, a ``tzinfo``, or ``None`` for the local zone.
        start, end: aware datetimes bounding the fire times (both inclusive).
        dst_gap, dst_overlap: override the DST policy (see :class:`DstGap` and
            :class:`DstOverlap`). By default a schedule whose hours cover the whole
            day is a *cadence* (gap times are skipped, overlap times fire in both
            passes) and any other is *anchored* (a gap time fires once at the end of
            the gap, an overlap time once at its first instant).
        hash_key: the text ``H`` items are hashed from (the hash is documented in
            docs/triggers.md, "Hashed values"). A scheduler gives a trigger without
            one the job's id. A trigger with ``H`` and no key is *unbound*:
            :meth:`next_after` and :meth:`explain` raise ``InvalidExpression`` until
            :meth:`with_hash_key` binds it.

    Raises:
        InvalidExpression: the expression is malformed or can never fire.
        UnknownTimezone: *timezone* is not a known zone.
        TypeError: *start* or *end* is naive, or *hash_key* is not a str.
        ValueError: *hash_key* is empty.

    APScheduler's keyword spelling (``hour=9, day_of_week="mon-fri"``) is
    :meth:`from_fields`.

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
        "_hash_key",
        "_memo",
        "_next_wall",
        "_previous_wall",
        "_start",
        "_start_floor",
        "_timezone",
        "_week",
    )
    type_name = "cron"

    _dst_gap: DstGap | None
    _dst_overlap: DstOverlap | None
    _end: datetime | None
    _end_epoch: int
    _expression: str
    _fields: CronFields
    _gap: tuple[DstGap, DstOverlap]
    _hash_key: str | None
    _memo: tuple[datetime, int, Wall] | None
    _next_wall: Callable[[Wall], Wall | None]
    _previous_wall: Callable[[Wall], Wall | None]
    _start: datetime | None
    _start_floor: int
    _timezone: tzinfo
    _week: str | None

    def __init__(
        self,
        expression: str,
        *,
        timezone: str | tzinfo | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        dst_gap: DstGap | str | None = None,
        dst_overlap: DstOverlap | str | None = None,
        hash_key: str | None = None,
    ) -> None:
        if not isinstance(expression, str):
            raise TypeError(f"cron expression must be a str, got {type(expression).__name__}")
        self._setup(
            normalize(expression),
            None,
            False,
            timezone=timezone,
            start=start,
            end=end,
            dst_gap=dst_gap,
            dst_overlap=dst_overlap,
            hash_key=hash_key,
        )

    def _setup(
        self,
        text: str,
        week: str | None,
        both_days: bool,
        *,
        timezone: str | tzinfo | None,
        start: datetime | None,
        end: datetime | None,
        dst_gap: DstGap | str | None,
        dst_overlap: DstOverlap | str | None,
        hash_key: str | None = None,
    ) -> None:
        schedule = _compile(text, week, both_days)
        if check_hash_key(hash_key) is not None and schedule.fields.hashed:
            # (Compiled per key only when H uses it: other expressions share one.)
            schedule = _compile(text, week, both_days, hash_key)
        fields = schedule.fields
        zone = coerce_timezone(timezone)
        start, end = _opt_dt(start, "start", zone), _opt_dt(end, "end", zone)
        # As instants: two datetimes of one zone compare by wall time, fold ignored.
        if start is not None and end is not None and end - _EPOCH < start - _EPOCH:
            raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
        gap = None if dst_gap is None else coerce_enum(DstGap, dst_gap, "dst_gap")
        overlap = (
            None if dst_overlap is None else coerce_enum(DstOverlap, dst_overlap, "dst_overlap")
        )
        put = object.__setattr__
        put(self, "_expression", text)
        put(self, "_week", week)
        put(self, "_fields", fields)
        put(self, "_hash_key", hash_key)
        if fields.hashed and hash_key is None:
            put(self, "_next_wall", partial(unbound, text))
            put(self, "_previous_wall", partial(unbound, text))
        else:
            put(self, "_next_wall", schedule.next_wall)
            put(self, "_previous_wall", schedule.previous_wall)
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
        # Exclusive lower bound in whole seconds (f >= start <=> f > ceil(start) - 1);
        # without start or end, the bounds are the instants a datetime holds in UTC.
        floor = FIRST_INSTANT - 1
        start_floor = floor if start is None else max(floor, -((_EPOCH - start) // _SECOND) - 1)
        put(self, "_start_floor", start_floor)
        last = LAST_INSTANT if end is None else min(LAST_INSTANT, (end - _EPOCH) // _SECOND)
        put(self, "_end_epoch", last)
        put(self, "_memo", None)

    @classmethod
    def from_crontab(cls, expr: str, timezone: str | tzinfo | None = None) -> CronTrigger:
        """``CronTrigger(expr, timezone=timezone)`` (APScheduler 3's name). Weekday
        numbers are cron's: 0 and 7 are Sunday (APScheduler 3 read 0 as Monday)."""
        return cls(expr, timezone=timezone)

    @classmethod
    def from_fields(
        cls,
        *,
        year: int | str | None = None,
        month: int | str | None = None,
        day: int | str | None = None,
        week: int | str | None = None,
        day_of_week: str | None = None,
        hour: int | str | None = None,
        minute: int | str | None = None,
        second: int | str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        timezone: str | tzinfo | None = None,
        dst_gap: DstGap | str | None = None,
        dst_overlap: DstOverlap | str | None = None,
    ) -> CronTrigger:
        """A cron trigger from APScheduler 3's keyword fields: ``from_fields(hour=9, minute=30)``.

        Each field is an int or a str in cron syntax for that field (lists, ranges,
        steps, names). The fields behave as in APScheduler's ``CronTrigger``:

        * Omitted fields more significant than the least significant field given allow
          every value; less significant ones take their smallest value, except
          ``week`` and ``day_of_week``, which allow every value. So ``hour=9`` is 09:00:00
          every day, ``day=1`` is 00:00:00 on the 1st, ``minute="*/5"`` is second 0 of
          every fifth minute, and ``day=1, minute=30`` is hh:30:00 every hour on the 1st.
          Significance runs year, month, day, week, day_of_week, hour, minute, second.
        * With no field at all every field allows every value: it fires every second.
        * A day must match ``day``, ``week`` and ``day_of_week`` all together. (In a cron
          expression a day matches *either* day field unless one starts with ``*``.)
        * ``day_of_week`` takes names only (``"mon-fri"``, ``"sat,sun"``, ``"fri#2"``,
          ``"friL"``); ranges run Monday to Sunday, so ``"sat-sun"`` is the weekend,
          and a step counts from a range's first day (``"mon-sun/2"``: Monday,
          Wednesday, Friday, Sunday; a step on ``*`` or on one name is refused).
          Numbers are refused: APScheduler counts weekdays from Monday = 0, cron from
          Sunday = 0, and a number would silently mean a different day in one of them.
        * ``day`` also takes ``"last"`` (the last day of the month) and weekday
          positions ``"1st mon"`` ... ``"5th fri"`` and ``"last fri"`` (or full names,
          ``"last friday"``), which then stand for the day of week: they cannot be
          combined with ``day_of_week`` or listed with days of the month.
        * ``week`` is the ISO week number, 1-53 (``date.isocalendar()``); week 53 exists
          only in some years.

        *start*, *end*, *timezone*, *dst_gap* and *dst_overlap* are as for the
        constructor. The result is a :class:`CronTrigger` whose :attr:`expression`
        holds every field but ``week`` (seconds first); :meth:`to_dict` also records
        ``week`` and, when both day fields are restricted, that both must match.

        Raises:
            InvalidExpression: a field is malformed or out of range, or the fields
                match no date at all; the message names the keyword and its value.
            TypeError: a field is neither an int nor a str (a bool or a float).

        >>> trigger = CronTrigger.from_fields(day_of_week="mon-fri", hour=9, timezone="UTC")
        >>> trigger.expression
        '0 0 9 * * MON-FRI'
        >>> str(trigger.next_after(datetime(2024, 1, 6, tzinfo=trigger.timezone)))
        '2024-01-08 09:00:00+00:00'
        """
        values: dict[str, object] = {
            "year": year,
            "month": month,
            "day": day,
            "week": week,
            "day_of_week": day_of_week,
            "hour": hour,
            "minute": minute,
            "second": second,
        }
        form = _keyword_form(values)
        trigger = cls.__new__(cls)
        trigger._setup(
            form.expression,
            form.week,
            True,
            timezone=timezone,
            start=start,
            end=end,
            dst_gap=dst_gap,
            dst_overlap=dst_overlap,
        )
        return trigger

    @property
    def expression(self) -> str:
        """The expression as given, with white space folded.

        For a trigger made by :meth:`from_fields` it is the equivalent expression, seconds
        first; an ISO week field, and the rule that both day fields must match, are not
        part of it (see :meth:`to_dict`).
        """
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
    def hash_key(self) -> str | None:
        """The key ``H`` items are hashed from (``None``: none given)."""
        return self._hash_key

    @property
    def is_hashed(self) -> bool:
        """True when the expression has ``H`` items, whose values come from the hash key."""
        return bool(self._fields.hashed)

    def with_hash_key(self, hash_key: str) -> CronTrigger:
        """This trigger with *hash_key* for its ``H`` items (itself when it has that key).

        Raises ``InvalidExpression`` when the values the key chooses match no date (an
        expression such as ``0 0 31 H(2-4) *`` fires on some keys only).
        """
        if hash_key == self._hash_key:
            return self
        trigger = type(self).__new__(type(self))
        trigger._setup(
            self._expression,
            self._week,
            self._fields.match_both_days,
            timezone=self._timezone,
            start=self._start,
            end=self._end,
            dst_gap=self._dst_gap,
            dst_overlap=self._dst_overlap,
            hash_key=hash_key,
        )
        return trigger

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
            if getattr(moment, "tzinfo", None) is None:  # (naive, or no datetime)
                require_aware(moment, "moment")
            after, wall = (moment - _EPOCH) // _SECOND, None
            floor = self._start_floor
            if floor > after:
                after, wall = floor, None
        found = next_fire(self._timezone, self._next_wall, after, *self._gap, wall)
        if found is None:
            return None
        instant, result, plain = found
        if instant > self._end_epoch:
            return None
        if plain is not None:
            object.__setattr__(self, "_memo", (result, instant, plain))
        return result

    count_between = count_between  # (fires in (after, until], exactly: _croncount)

    def previous_before(self, moment: datetime) -> datetime | None:
        """The latest fire instant strictly earlier than *moment*, or ``None``: the fire
        set of :meth:`next_after`, DST rules included, walked back (see the base class)."""
        memo = self._memo
        if memo is not None and memo[0] is moment:
            # Walking on from our own previous result: its instant and wall are known.
            latest, wall = memo[1] - 1, memo[2]
        else:
            if getattr(moment, "tzinfo", None) is None:  # (naive, or no datetime)
                require_aware(moment, "moment")
            # Strictly before moment, in whole seconds: at or before ceil(moment) - 1.
            latest, wall = -((_EPOCH - moment) // _SECOND) - 1, None
            latest = min(latest, self._end_epoch)
        found = previous_fire(self._timezone, self._previous_wall, latest, *self._gap, wall)
        if found is None or found[0] <= self._start_floor:
            return None
        if found[2] is not None:
            object.__setattr__(self, "_memo", (found[1], found[0], found[2]))
        return found[1]

    def explain(self) -> str:
        """An English description, e.g. ``"At 09:00 on Monday through Friday"``."""
        from ._explain import _ordinal, _shape, _spans, explain_cron

        fields = self._fields
        if fields.hashed and self._hash_key is None:
            unbound(self._expression)
        if fields.match_both_days:
            # The explainer reads "both day fields must match" off the cron '*' rule.
            fields = replace(fields, day_star=True)
        text = explain_cron(fields, self._expression)
        if fields.iso_weeks is None:
            return text
        weeks = _shape(fields.iso_weeks, 1, 53)
        if weeks.single:
            clause = f"in ISO week {weeks.values[0]}"
        elif weeks.stepped:
            clause = f"in every {_ordinal(weeks.step)} ISO week"
            if not weeks.whole:
                clause += f" from week {weeks.values[0]} through {weeks.values[-1]}"
        else:
            clause = f"in ISO weeks {_spans(weeks.values, str)}"
        return f"{text}, {clause}"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type_name, "expression": self._expression}
        # Only the keyword form has these; plain cron triggers keep their old shape.
        if self._week is not None:
            data["week"] = self._week
        if self._fields.match_both_days:
            data["day_and_weekday"] = True
        if self._hash_key is not None:
            data["hash_key"] = self._hash_key  # rows written before hashing lack it
        return data | {
            "timezone": timezone_name(self._timezone),
            "start": None if self._start is None else self._start.isoformat(),
            "end": None if self._end is None else self._end.isoformat(),
            "dst_gap": None if self._dst_gap is None else self._dst_gap.value,
            "dst_overlap": None if self._dst_overlap is None else self._dst_overlap.value,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CronTrigger:
        start, end = data.get("start"), data.get("end")
        options: dict[str, Any] = {
            "timezone": data["timezone"],
            "start": None if start is None else stored_datetime(start, "start"),
            "end": None if end is None else stored_datetime(end, "end"),
            "dst_gap": data.get("dst_gap"),
            "dst_overlap": data.get("dst_overlap"),
        }
        hash_key = data.get("hash_key")
        if hash_key is not None:
            options["hash_key"] = hash_key
        week = data.get("week")
        if week is None and not data.get("day_and_weekday", False):
            return cls(data["expression"], **options)
        # Made by from_fields: rebuilt the same way, every field given explicitly.
        key = options.pop("hash_key", None)
        fields: dict[str, Any] = _keyword_texts(data["expression"], week)
        trigger = cls.from_fields(**fields, **options)
        return trigger if key is None else trigger.with_hash_key(key)

    def _keyword_repr(self) -> list[str]:
        """The from_fields arguments that rebuild this trigger, shortest first-hand form.

        A field that allows every value is left out when from_fields would default it
        to ``*`` anyway: when it is more significant than a field shown, or is the
        week or day of week.
        """
        texts = _keyword_texts(self._expression, self._week)
        shown = [name for name in KEYWORDS if texts[name] != "*"]
        least = KEYWORDS.index(shown[-1]) if shown else len(KEYWORDS)
        parts = []
        for rank, name in enumerate(KEYWORDS):
            text = texts[name]
            if text != "*" or (rank > least and name not in ("week", "day_of_week")):
                value: object = int(text) if text.isdigit() and name != "day_of_week" else text
                parts.append(f"{name}={value!r}")
        return parts

    def __repr__(self) -> str:
        keyword = self._week is not None or self._fields.match_both_days
        parts = self._keyword_repr() if keyword else [repr(self._expression)]
        parts.append(f"timezone={timezone_name(self._timezone)!r}")
        if self._start is not None:
            parts.append(f"start={self._start.isoformat()!r}")
        if self._end is not None:
            parts.append(f"end={self._end.isoformat()!r}")
        if self._dst_gap is not None:
            parts.append(f"dst_gap={self._dst_gap.value!r}")
        if self._dst_overlap is not None:
            parts.append(f"dst_overlap={self._dst_overlap.value!r}")
        if self._hash_key is not None:
            parts.append(f"hash_key={self._hash_key!r}")
        name = "CronTrigger.from_fields" if keyword else "CronTrigger"
        return f"{name}({', '.join(parts)})"


def _keyword_texts(expression: str, week: str | None) -> dict[str, str]:
    """The from_fields keyword texts of an expression (seconds first) and week field."""
    parts = normalize(expression).split(" ")
    if len(parts) == 5:
        parts.insert(0, "0")
    if len(parts) not in (6, 7):
        raise InvalidExpression(
            f"invalid cron expression {expression!r}: a trigger with an ISO week or both "
            f"day fields matching needs 6 or 7 fields, got {len(parts)}",
            expression=expression,
        )
    names = ("second", "minute", "hour", "day", "month", "day_of_week", "year")
    texts = dict(zip(names, parts, strict=False))
    texts.setdefault("year", "*")
    texts["week"] = "*" if week is None else week
    return texts


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
        "_shape_masks",
        "_shape_tables",
        "_weeks",
        "_years",
        "previous_wall",
    )

    def __init__(self, fields: CronFields) -> None:
        self._fields = fields
        self._second_table = _next_table(fields.seconds, 60)
        self._minute_table = _next_table(fields.minutes, 60)
        self._hour_table = _next_table(fields.hours, 24)
        self._month_table = _next_table(fields.months, 13)
        self._years = fields.years
        self._weeks = fields.iso_weeks
        self._shape_masks: dict[tuple[int, int], int] = {}
        self._shape_tables: dict[tuple[int, int], tuple[int, ...]] = {}
        self._day_tables: dict[int, tuple[int, ...]] = {}
        #: The largest matching wall time strictly before a given one (walking back).
        self.previous_wall = PreviousWall(fields, self._days).before

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
        if fields.day_star or fields.weekday_star or fields.match_both_days:
            return days & weekdays
        return days | weekdays

    def _shape_mask(self, shape: tuple[int, int]) -> int:
        mask = self._shape_masks.get(shape)
        if mask is None:
            mask = self._shape_masks[shape] = self._day_mask(*shape)
        return mask

    def _month_days(self, year: int, month: int) -> tuple[int, ...]:
        """The day table of one month (shared by its shape unless weeks matter)."""
        shape = _month_shape(year, month)
        weeks = self._weeks
        if weeks is not None:
            days = self._shape_mask(shape) & _iso_week_days(year, month, shape[0], weeks)
            return _next_table(days, 32)
        table = self._shape_tables.get(shape)
        if table is None:
            table = self._shape_tables[shape] = _next_table(self._shape_mask(shape), 32)
        return table

    def _days(self, year: int, month: int) -> tuple[int, ...]:
        key = year * 16 + month
        table = self._day_tables.get(key)
        if table is None:
            table = self._month_days(year, month)
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

    def check_can_fire(
        self, expression: str, week: str | None = None, hash_key: str | None = None
    ) -> None:
        """Refuse expressions whose day rules match no day at all, decided exactly."""
        fields = self._fields
        months = [month for month in range(1, 13) if fields.months >> month & 1]
        if fields.iso_weeks is not None:
            if self._weeks_can_fire(months):
                return
        elif fields.years is None:
            shapes = _shapes_per_month()
            if any(self._shape_mask(shape) for month in months for shape in shapes[month]):
                return
        elif any(
            self._shape_mask(_month_shape(year, month)) for year in fields.years for month in months
        ):
            return
        scope = "in any year" if fields.years is None else "in the years it allows"
        which = "day-of-month, day-of-week and month fields"
        shown = repr(expression)
        if week is not None:
            which = "day-of-month, day-of-week, ISO week and month fields"
            shown += f" with week {week!r}"
        if hash_key is not None:
            shown += f" with hash_key {hash_key!r}"
        raise InvalidExpression(
            f"invalid cron expression {shown}: its {which} match no date {scope}, "
            "so it would never fire",
            expression=expression,
        )

    def _weeks_can_fire(self, months: list[int]) -> bool:
        """Whether a week-restricted schedule matches any date, decided exactly.

        The Gregorian calendar, weekdays and ISO weeks included, repeats every 400
        years, and years of the same :func:`_year_class` number their weeks alike, so one
        year of each class met in the cycle (or in the years allowed) settles it.
        """
        weeks = self._weeks
        assert weeks is not None
        seen: set[tuple[int, bool, bool]] = set()
        for year in range(2000, 2400) if self._years is None else self._years:
            kind = _year_class(year)
            if kind in seen:
                continue
            seen.add(kind)
            for month in months:
                shape = _month_shape(year, month)
                days = self._shape_mask(shape)
                if days and days & _iso_week_days(year, month, shape[0], weeks):
                    return True
        return False


_FORMS: dict[tuple[tuple[object, type], ...], KeywordForm] = {}


def _keyword_form(values: dict[str, object]) -> KeywordForm:
    """``keyword_form``, remembered: programs add many jobs with the same fields."""
    try:
        key = tuple((value, type(value)) for value in values.values())
        form = _FORMS.get(key)
    except TypeError:  # an unhashable value, which keyword_form refuses
        return keyword_form(values)
    if form is None:
        form = keyword_form(values)
        if len(_FORMS) < 1024:
            _FORMS[key] = form
    return form


@lru_cache(maxsize=1024)
def _compile(
    expression: str, week: str | None = None, both_days: bool = False, hash_key: str | None = None
) -> _Schedule:
    """Parse and check an expression (plus the keyword form's week and day rule).

    *both_days* is recorded only when it changes the meaning: when either day field
    starts with ``*`` both must match anyway, and the trigger then equals the plain one.
    Whether an expression can fire depends on the hash key only when a day or month
    field has ``H``: such an expression is checked once it has a key, any other
    without one (its date fields are the same whatever the key).
    """
    fields = parse_cron(expression, hash_key)
    both_days = both_days and not (fields.day_star or fields.weekday_star)
    if week is not None or both_days:
        weeks = None if week is None else parse_iso_weeks(week)
        fields = replace(fields, iso_weeks=weeks, match_both_days=both_days)
    schedule = _Schedule(fields)
    dates_hashed = any(name in _DATE_FIELDS for name, _ in fields.hashed)
    if dates_hashed is (hash_key is not None):
        schedule.check_can_fire(expression, week, hash_key)
    return schedule


_DATE_FIELDS = ("day-of-month", "month", "day-of-week")
