"""Parsing cron expressions into bit masks.

Each field becomes an integer whose bit *n* is set when value *n* is allowed. The
day fields also carry the special forms that depend on the month (``L``, ``L-3``,
``15W``, ``LW``, ``5#3``, ``5L``), resolved later once per month shape.

Day-of-month and day-of-week combine as Debian (Vixie) cron combines them: when
either field *starts with* ``*`` (or is ``?``) a day must match both fields, else it
must match either one. So ``0 0 */2 * 1`` is "odd days that are Mondays" while
``0 0 1,15 * 1`` is "the 1st, the 15th and every Monday".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .._errors import InvalidExpression

__all__ = ["ALIASES", "CronFields", "parse_cron"]

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
#: The range the year field accepts (the one Quartz uses); ``*`` means every year.
YEAR_MIN, YEAR_MAX = 1970, 2099


@dataclass(frozen=True)
class _FieldSpec:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0


SECOND = _FieldSpec("second", 0, 59)
MINUTE = _FieldSpec("minute", 0, 59)
HOUR = _FieldSpec("hour", 0, 23)
DAY = _FieldSpec("day-of-month", 1, 31)
MONTH = _FieldSpec("month", 1, 12, MONTH_NAMES, 1)
WEEKDAY = _FieldSpec("day-of-week", 0, 7, DAY_NAMES, 0)
YEAR = _FieldSpec("year", YEAR_MIN, YEAR_MAX)


@dataclass(frozen=True)
class CronFields:
    """A parsed cron expression: one bit mask per field plus the day specials."""

    seconds: int
    minutes: int
    hours: int
    days: int  # bits 1..31
    months: int  # bits 1..12
    weekdays: int  # bits 0..6, 0 = Sunday
    years: tuple[int, ...] | None  # sorted; None = every year
    day_star: bool  # day-of-month field starts with '*' or is '?'
    weekday_star: bool
    last_day_offsets: frozenset[int] = frozenset()  # L -> 0, L-3 -> 3
    nearest_weekdays: frozenset[int] = frozenset()  # 15W -> 15
    last_weekday_of_month: bool = False  # LW
    nth_weekdays: frozenset[tuple[int, int]] = frozenset()  # 5#3 -> (5, 3)
    last_weekdays: frozenset[int] = frozenset()  # 5L -> 5

    @property
    def every_hour(self) -> bool:
        """Whether all 24 hours are allowed: the schedule is a cadence, not anchored."""
        return self.hours == (1 << 24) - 1


_ITEM = re.compile(r"^(?:(\*)|([A-Z0-9]+)(?:-([A-Z0-9]+))?)(?:/([0-9]+))?$")


def _fail(
    expression: str, spec: _FieldSpec | None, token: str | None, why: str
) -> InvalidExpression:
    where = f"{spec.name} field" if spec else "expression"
    shown = f" {token!r}" if token is not None else ""
    return InvalidExpression(
        f"invalid cron expression {expression!r}: {where}{shown}: {why}",
        expression=expression,
        field=spec.name if spec else None,
        token=token,
    )


def _allowed(spec: _FieldSpec) -> str:
    text = f"{spec.low}-{spec.high}"
    if spec.names:
        text += f" or {spec.names[0]}-{spec.names[-1]}"
    return text


def _value(text: str, spec: _FieldSpec, expression: str, item: str) -> int:
    if text.isdigit():
        number = int(text)
    elif text in spec.names:
        number = spec.names.index(text) + spec.name_base
    else:
        why = f"{text!r} is not a number" + (" or a name" if spec.names else "")
        raise _fail(expression, spec, item, f"{why} (expected {_allowed(spec)})")
    if not spec.low <= number <= spec.high:
        raise _fail(expression, spec, item, f"{number} is out of range (expected {_allowed(spec)})")
    return number


def _parse_plain(item: str, spec: _FieldSpec, expression: str) -> int:
    """A '*', value, range or stepped item: the mask of the values it allows."""
    match = _ITEM.match(item)
    if match is None:
        raise _fail(
            expression, spec, item, "expected a value, a range a-b, '*' or a step such as */5"
        )
    star, first, last, step_text = match.groups()
    step = 1
    if step_text is not None:
        step = int(step_text)
        if step == 0:
            raise _fail(expression, spec, item, "a step of 0 never advances (expected 1 or more)")
    if star:
        low, high = spec.low, spec.high
    else:
        low = _value(first, spec, expression, item)
        if last is not None:
            high = _value(last, spec, expression, item)
            if high < low:
                raise _fail(
                    expression,
                    spec,
                    item,
                    f"range runs backwards ({low} > {high}); split it, e.g. "
                    f"{low}-{spec.high},{spec.low}-{high}",
                )
        elif step_text is not None:
            high = spec.high  # '10/5' is '10-max/5', as Quartz and cronie read it
        else:
            high = low
    mask = 0
    for number in range(low, high + 1, step):
        mask |= 1 << number
    return mask


def _parse_field(text: str, spec: _FieldSpec, expression: str) -> tuple[int, bool]:
    if text == "?":
        if spec not in (DAY, WEEKDAY):
            raise _fail(expression, spec, text, "'?' is only allowed in the day fields")
        return _parse_plain("*", spec, expression), True
    mask = 0
    for item in text.split(","):
        if not item:
            raise _fail(expression, spec, text, "empty item in list")
        mask |= _parse_plain(item, spec, expression)
    return mask, text.startswith("*")


_LAST_OFFSET = re.compile(r"^L-([0-9]+)$")
_NEAREST = re.compile(r"^([0-9]+)W$")
_NTH = re.compile(r"^([A-Z0-9]+)#([0-9]+)$")


def _parse_days(
    text: str, expression: str
) -> tuple[int, bool, frozenset[int], frozenset[int], bool]:
    if text == "?":
        mask, star = _parse_field(text, DAY, expression)
        return mask, star, frozenset(), frozenset(), False
    mask = 0
    offsets: set[int] = set()
    nearest: set[int] = set()
    last_weekday = False
    for item in text.split(","):
        if item == "L":
            offsets.add(0)
        elif item == "LW":
            last_weekday = True
        elif match := _LAST_OFFSET.match(item):
            offset = int(match.group(1))
            if not 1 <= offset <= 30:
                raise _fail(expression, DAY, item, "L-n needs n from 1 to 30")
            offsets.add(offset)
        elif match := _NEAREST.match(item):
            day = int(match.group(1))
            if not 1 <= day <= 31:
                raise _fail(expression, DAY, item, "nW needs a day from 1 to 31")
            nearest.add(day)
        elif "L" in item or "W" in item:
            raise _fail(
                expression,
                DAY,
                item,
                "expected L (last day), L-n (n days before it), nW (weekday nearest day n) or LW",
            )
        elif not item:
            raise _fail(expression, DAY, text, "empty item in list")
        else:
            mask |= _parse_plain(item, DAY, expression)
    return mask, text.startswith("*"), frozenset(offsets), frozenset(nearest), last_weekday


def _parse_weekdays(
    text: str, expression: str
) -> tuple[int, bool, frozenset[tuple[int, int]], frozenset[int]]:
    if text == "?":
        mask, star = _parse_field(text, WEEKDAY, expression)
        return _fold_sunday(mask), star, frozenset(), frozenset()
    mask = 0
    nth: set[tuple[int, int]] = set()
    last: set[int] = set()
    for item in text.split(","):
        if match := _NTH.match(item):
            day = _value(match.group(1), WEEKDAY, expression, item) % 7
            count = int(match.group(2))
            if not 1 <= count <= 5:
                raise _fail(expression, WEEKDAY, item, "d#n needs n from 1 to 5")
            nth.add((day, count))
        elif item == "L":
            raise _fail(
                expression,
                WEEKDAY,
                item,
                "'L' needs a weekday before it here, e.g. 5L or FRIL for the last Friday",
            )
        elif item.endswith("L") and (item[:-1].isdigit() or item[:-1] in DAY_NAMES):
            last.add(_value(item[:-1], WEEKDAY, expression, item) % 7)
        elif not item:
            raise _fail(expression, WEEKDAY, text, "empty item in list")
        else:
            mask |= _parse_plain(item, WEEKDAY, expression)
    return _fold_sunday(mask), text.startswith("*"), frozenset(nth), frozenset(last)


def _fold_sunday(mask: int) -> int:
    """Day-of-week 7 is Sunday, like 0."""
    if mask & (1 << 7):
        mask = (mask & 0x7F) | 1
    return mask


def normalize(expression: str) -> str:
    """The expression with runs of white space folded and aliases kept as written."""
    return " ".join(expression.split())


def parse_cron(expression: str) -> CronFields:
    """Parse a 5-, 6- (seconds first) or 7-field (then year) cron expression or an alias."""
    if not isinstance(expression, str):
        raise TypeError(f"cron expression must be a str, got {type(expression).__name__}")
    text = normalize(expression)
    if text.startswith("@"):
        alias = ALIASES.get(text.lower())
        if alias is None:
            if text.lower() == "@reboot":
                raise _fail(
                    expression,
                    None,
                    text,
                    "@reboot has no fire times; run the job at start-up instead",
                )
            known = ", ".join(ALIASES)
            raise _fail(expression, None, text, f"unknown alias (expected one of {known})")
        text = alias
    parts = text.upper().split(" ")
    if len(parts) == 5:
        parts.insert(0, "0")
    if len(parts) not in (6, 7) or not text:
        raise _fail(
            expression,
            None,
            None,
            f"expected 5 fields (minute hour day-of-month month day-of-week), 6 with seconds "
            f"first, or 7 with a year last; got {len(text.split()) if text else 0}",
        )
    seconds = _parse_field(parts[0], SECOND, expression)[0]
    minutes = _parse_field(parts[1], MINUTE, expression)[0]
    hours = _parse_field(parts[2], HOUR, expression)[0]
    days, day_star, offsets, nearest, last_weekday = _parse_days(parts[3], expression)
    months = _parse_field(parts[4], MONTH, expression)[0]
    weekdays, weekday_star, nth, last = _parse_weekdays(parts[5], expression)
    years: tuple[int, ...] | None = None
    if len(parts) == 7 and parts[6] not in ("*", "?"):
        mask = _parse_field(parts[6], YEAR, expression)[0]
        years = tuple(y for y in range(YEAR_MIN, YEAR_MAX + 1) if mask >> y & 1)
    return CronFields(
        seconds=seconds,
        minutes=minutes,
        hours=hours,
        days=days,
        months=months,
        weekdays=weekdays,
        years=years,
        day_star=day_star,
        weekday_star=weekday_star,
        last_day_offsets=offsets,
        nearest_weekdays=nearest,
        last_weekday_of_month=last_weekday,
        nth_weekdays=nth,
        last_weekdays=last,
    )
