"""English descriptions of parsed cron expressions.

Theory of operation: the description is read off the bit masks, not the source
text, so ``0,15,30,45``, ``*/15`` and ``0-59/15`` all read "Every 15 minutes". Each
field is first classified (:class:`_Shape`): every value, one value, an arithmetic
progression (a step), a run of consecutive values (a range) or a plain list. The
sentence is then built from up to four clauses, each from its own fields:

* the time of day (seconds, minutes, hours): a list of clock times when there are
  only a few, otherwise a cadence ("Every 15 minutes") or a minute ("At minute 0")
  followed by which hours it applies to;
* the day: day-of-month and day-of-week combined by the Debian cron rule (both must
  match when either field starts with ``*``, otherwise either may);
* the months, folded into the day clause ("day 1 of January") when there is one;
* the years.

A clause that follows a comma-separated one is itself set off by a comma, so
"Every 15 minutes, between 09:00 and 17:59, on Monday through Friday" stays
readable while "At 09:00 on Monday" is not broken up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from ._cronparse import YEAR_MAX, YEAR_MIN, CronFields

__all__ = ["explain_cron"]

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_NTH = ("first", "second", "third", "fourth", "fifth")
#: At most this many clock times are listed ("At 09:00 and 17:00") before the
#: description switches to "At minute 0 past every hour ..." forms; hours that
#: form no range or step are listed up to the larger count.
_MAX_LISTED_TIMES = 4
_MAX_LISTED_IRREGULAR = 8


@dataclass(frozen=True)
class _Shape:
    """How the allowed values of one field are laid out."""

    values: tuple[int, ...]
    full: bool  # every value of the field
    step: int  # common difference of an arithmetic progression (1 for a range), else 0
    whole: bool  # the progression starts at the field's first value and runs to its end

    @property
    def single(self) -> bool:
        return len(self.values) == 1

    @property
    def stepped(self) -> bool:
        return self.step > 1

    @property
    def run(self) -> bool:
        """Three or more consecutive values, but not the whole field."""
        return self.step == 1 and not self.full


def _shape(mask: int, low: int, high: int, cycle: int | None = None) -> _Shape:
    """Classify *mask* over ``low..high``.

    A progression needs three values, except that two values splitting a *cycle*
    evenly from its start (minutes 0 and 30) are the step ``*/30`` too.
    """
    values = tuple(value for value in range(low, high + 1) if mask >> value & 1)
    step = 0
    if len(values) >= 3:
        gaps = {b - a for a, b in pairwise(values)}
        if len(gaps) == 1:
            step = gaps.pop()
    elif len(values) == 2 and cycle is not None:
        gap = values[1] - values[0]
        if values[0] == low and gap > 1 and cycle % gap == 0 and values[1] + gap > high:
            step = gap
    whole = step > 0 and values[0] == low and values[-1] + step > high
    return _Shape(values, len(values) == high - low + 1, step, whole)


def _join(items: Sequence[str], conjunction: str = "and") -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def _ordinal(number: int) -> str:
    if 10 <= number % 100 <= 20:
        return f"{number}th"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _spans(values: Sequence[int], name: Callable[[int], str], conjunction: str = "and") -> str:
    """Values as a list in which runs of three or more read "a through b"."""
    items: list[str] = []
    start = 0
    for index in range(1, len(values) + 1):
        if index == len(values) or values[index] != values[index - 1] + 1:
            if index - start >= 3:
                items.append(f"{name(values[start])} through {name(values[index - 1])}")
            else:
                items.extend(name(value) for value in values[start:index])
            start = index
    return _join(items, conjunction)


def _runs(values: Sequence[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for value in values:
        if runs and runs[-1][1] == value - 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs


def _clock(hour: int, minute: int, second: int | None = None) -> str:
    return f"{hour:02}:{minute:02}" if second is None else f"{hour:02}:{minute:02}:{second:02}"


# -- the time of day ---------------------------------------------------------------


def _cadence(shape: _Shape, unit: str) -> str | None:
    """A cadence such as "every 5 minutes" or "every minute from 0 through 30", or None."""
    if shape.full:
        return f"every {unit}"
    first, last = shape.values[0], shape.values[-1]
    if shape.stepped:
        if shape.whole and 60 % shape.step == 0:
            return f"every {shape.step} {unit}s"
        return f"every {shape.step} {unit}s from {first} through {last}"
    if shape.run:
        return f"every {unit} from {first} through {last}"
    return None


def _points(shape: _Shape, unit: str) -> str:
    """Named values such as "minute 5" or "minutes 0 through 10 and 30"."""
    if shape.single:
        return f"{unit} {shape.values[0]}"
    return f"{unit}s {_spans(shape.values, str)}"


def _hour_segments(hours: _Shape) -> str:
    runs = _runs(hours.values)
    if len(runs) > 2:
        return f"during hours {_spans(hours.values, str)}"
    return " and ".join(
        f"between {_clock(first, 0)} and {_clock(last, 59)}" for first, last in runs
    )


def _cadence_hours(hours: _Shape) -> str:
    """Which hours a cadence runs in, as a clause to append ("" for all of them)."""
    if hours.full:
        return ""
    if hours.stepped:
        text = f", during every {_ordinal(hours.step)} hour"
        if not hours.whole:
            text += f" from {_clock(hours.values[0], 0)} through {_clock(hours.values[-1], 59)}"
        return text
    return f", {_hour_segments(hours)}"


def _point_hours(hours: _Shape) -> str:
    """Which hours "at minute 5" applies to, as a clause to append."""
    if hours.full:
        return " past every hour"
    first, last = _clock(hours.values[0], 0), _clock(hours.values[-1], 0)
    if hours.run:
        return f" past every hour from {first} through {last}"
    if hours.stepped:
        text = f" past every {_ordinal(hours.step)} hour"
        return text if hours.whole else f"{text} from {first} through {last}"
    return f" past hour{'s' if len(hours.values) > 1 else ''} {_spans(hours.values, str)}"


def _clock_times(seconds: _Shape, minutes: _Shape, hours: _Shape) -> list[str] | None:
    """The few clock times of a schedule fixed to one second, or None."""
    if not seconds.single or minutes.full or hours.full or hours.run:
        return None
    count = len(hours.values) * len(minutes.values)
    # Scattered hours have no shorter description than their list.
    scattered = not hours.stepped and all(last - first < 2 for first, last in _runs(hours.values))
    irregular = scattered and minutes.single
    if count > (_MAX_LISTED_IRREGULAR if irregular else _MAX_LISTED_TIMES):
        return None
    second = seconds.values[0] or None
    return [_clock(hour, minute, second) for hour in hours.values for minute in minutes.values]


def _time_clause(fields: CronFields) -> tuple[str, bool]:
    """The time of day, and whether it ends in a comma-separated clause."""
    seconds = _shape(fields.seconds, 0, 59, 60)
    minutes = _shape(fields.minutes, 0, 59, 60)
    hours = _shape(fields.hours, 0, 23)
    times = _clock_times(seconds, minutes, hours)
    if times is not None:
        return f"at {_join(times)}", False
    if seconds.values == (0,):
        cadence = _cadence(minutes, "minute")
        if cadence is not None:
            tail = _cadence_hours(hours)
        else:
            cadence, tail = f"at {_points(minutes, 'minute')}", _point_hours(hours)
        return cadence + tail, tail.startswith(",")
    # Seconds matter: say what happens within a minute, then which minutes.
    head = _cadence(seconds, "second")
    if head is None:
        head = f"at {_points(seconds, 'second')}"
        if minutes.full:
            head += " of every minute"
    if minutes.full:
        tail = _cadence_hours(hours)
        return head + tail, tail.startswith(",")
    if minutes.stepped:
        within = f"during every {_ordinal(minutes.step)} minute"
        if not minutes.whole:
            within += f" from {minutes.values[0]} through {minutes.values[-1]}"
        return f"{head}, {within}{_cadence_hours(hours)}", True
    if minutes.run:
        within = f"during minutes {minutes.values[0]} through {minutes.values[-1]}"
        return f"{head}, {within}{_cadence_hours(hours)}", True
    times = _clock_times(_shape(1, 0, 59), minutes, hours)
    if times is not None:
        return f"{head}, during {_join(times)}", True
    return f"{head}, during {_points(minutes, 'minute')}{_point_hours(hours)}", True


# -- the day -----------------------------------------------------------------------


def _month_days(fields: CronFields) -> str | None:
    """The day-of-month field as a phrase, or None when it allows every day."""
    days = _shape(fields.days, 1, 31)
    if days.full:
        return None
    items: list[str] = []
    if days.stepped:
        text = f"every {_ordinal(days.step)} day"
        if not days.whole:
            text += f" from day {days.values[0]} through {days.values[-1]}"
        items.append(f"{text} of the month")
    elif days.values:
        items.append(f"{_points(days, 'day')} of the month")
    for offset in sorted(fields.last_day_offsets):
        if offset == 0:
            items.append("the last day of the month")
        else:
            count = "" if offset == 1 else f"{_ordinal(offset)} "
            items.append(f"the {count}day before the last day of the month")
    items.extend(
        f"the weekday nearest day {day} of the month" for day in sorted(fields.nearest_weekdays)
    )
    if fields.last_weekday_of_month:
        items.append("the last weekday of the month")
    return _join(items)


def _weekday_names(mask: int, conjunction: str) -> str:
    values = [day for day in range(7) if mask >> day & 1]
    if values[0] == 0 and values[-1] == 6:
        values = [*values[1:], 7]  # Saturday and Sunday read as one weekend, not a list
    return _spans(values, lambda day: _WEEKDAYS[day % 7], conjunction)


def _weekday_specials(fields: CronFields) -> str | None:
    """``5#3`` and ``5L`` as "the third Friday and the last Monday of the month"."""
    items: list[str] = []
    for day in range(7):
        ordinals = [_NTH[count - 1] for d, count in sorted(fields.nth_weekdays) if d == day]
        if day in fields.last_weekdays:
            ordinals.append("last")
        if ordinals:
            items.append(f"the {_join(ordinals)} {_WEEKDAYS[day]}")
    return f"{_join(items)} of the month" if items else None


def _day_clause(fields: CronFields) -> tuple[str, bool, bool]:
    """The day rule, whether it ends in a comma-separated clause, and whether every
    part of it is relative to the month (so a single month may name itself in it)."""
    month_days = _month_days(fields)
    plain = fields.weekdays & 0x7F
    specials = _weekday_specials(fields)
    if plain == 0x7F:
        weekdays = None  # every day of the week
    elif plain:
        weekdays = _join([_weekday_names(plain, "and"), *([specials] if specials else [])])
    else:
        weekdays = specials
    if fields.day_star or fields.weekday_star:
        # A day must match both fields.
        if month_days is not None and weekdays is not None:
            if plain and plain & (plain - 1) == 0 and specials is None:
                condition = f"it is a {_WEEKDAYS[plain.bit_length() - 1]}"
            else:
                either = [_weekday_names(plain, "or")] if plain else []
                either += [specials] if specials else []
                condition = f"it falls on {_join(either, 'or')}"
            return f"on {month_days} if {condition}", False, True
        if month_days is not None:
            return f"on {month_days}", False, True
        if weekdays is not None:
            return f"on {weekdays}", False, not plain
        return "", False, False
    # A day may match either field; one that allows every day makes the other moot.
    if month_days is not None and weekdays is not None:
        return f"on {month_days}, and on {weekdays}", True, not plain
    return "", False, False


# -- months and years --------------------------------------------------------------


def _month_clause(fields: CronFields) -> str:
    months = _shape(fields.months, 1, 12)
    if months.full:
        return ""
    first, last = _MONTHS[months.values[0] - 1], _MONTHS[months.values[-1] - 1]
    if months.stepped:
        text = f"in every {_ordinal(months.step)} month"
        return text if months.whole else f"{text} from {first} through {last}"
    if months.run:
        return f"from {first} through {last}"
    return f"in {_spans(months.values, lambda month: _MONTHS[month - 1])}"


def _year_clause(fields: CronFields) -> str:
    if fields.years is None:
        return ""
    mask = 0
    for year in fields.years:
        mask |= 1 << year
    years = _shape(mask, YEAR_MIN, YEAR_MAX)
    # Unlike the other fields, a year field that allows every value it can still limits
    # the schedule (to 1970 through 2099, where '*' has no end), so the span is always
    # named: "in 1970 through 2099", "in every 4th year from 1970 through 2098".
    if years.stepped:
        first, last = years.values[0], years.values[-1]
        return f"in every {_ordinal(years.step)} year from {first} through {last}"
    return f"in {_spans(years.values, str)}"


def explain_cron(fields: CronFields, expression: str) -> str:
    """Describe a parsed cron expression in English.

    Args:
        fields: the parsed expression; the description is read from its masks.
        expression: the normalized source text. Unused: ``*/15`` and ``0,15,30,45``
            parse to the same masks and are described alike on purpose.

    >>> from tickwork.triggers._cronparse import parse_cron
    >>> explain_cron(parse_cron("*/15 9-17 * * mon-fri"), "*/15 9-17 * * mon-fri")
    'Every 15 minutes, between 09:00 and 17:59, on Monday through Friday'
    """
    del expression
    text, loose = _time_clause(fields)
    day, day_loose, month_relative = _day_clause(fields)
    month = _month_clause(fields)
    months = _shape(fields.months, 1, 12)
    if months.single and month_relative and "of the month" in day:
        day = day.replace("of the month", f"of {_MONTHS[months.values[0] - 1]}")
        month = ""
    for clause, clause_loose in ((day, day_loose), (month, False), (_year_clause(fields), False)):
        if clause:
            text += f", {clause}" if loose else f" {clause}"
            loose = loose or clause_loose
    if fields.hashed:
        text += f" ({_hashed_clause(fields)})"
    return text[0].upper() + text[1:]


#: How each field's hashed values are named: (one, several, first value, value name).
_HASHED_NAMES: dict[str, tuple[str, str, int, Callable[[int], str]]] = {
    "second": ("second ", "seconds ", 0, str),
    "minute": ("minute ", "minutes ", 0, str),
    "hour": ("hour ", "hours ", 0, str),
    "day-of-month": ("day ", "days ", 1, str),
    "month": ("", "", 1, lambda month: _MONTHS[month - 1]),
    "day-of-week": ("", "", 0, lambda day: _WEEKDAYS[day]),
}


def _hashed_clause(fields: CronFields) -> str:
    """The values the ``H`` items chose, e.g. "H: hour 9, minute 37"."""
    parts = []
    for name, mask in fields.hashed:
        one, several, low, value_name = _HASHED_NAMES[name]
        values = [value for value in range(low, 60) if mask >> value & 1]
        label = one if len(values) == 1 else several
        parts.append(label + _spans(values, value_name))
    return "H: " + ", ".join(parts)
