"""Parsing cron expressions into bit masks.

Each field becomes an integer whose bit *n* is set when value *n* is allowed. The
day fields also carry the special forms that depend on the month (``L``, ``L-3``,
``15W``, ``LW``, ``5#3``, ``5L``), resolved later once per month shape.

Day-of-month and day-of-week combine as Debian (Vixie) cron combines them: when
either field *starts with* ``*`` (or is ``?``) a day must match both fields, else it
must match either one. So ``0 0 */2 * 1`` is "odd days that are Mondays" while
``0 0 1,15 * 1`` is "the 1st, the 15th and every Monday".

:func:`keyword_form` reads APScheduler's keyword fields (``hour=9, day_of_week="mon-fri"``)
into an equivalent expression plus what no expression can hold: an ISO week field. In
that form a day must always match both day fields (``CronFields.match_both_days``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import NoReturn

from .._errors import InvalidExpression

__all__ = [
    "ALIASES",
    "CronFields",
    "KeywordForm",
    "check_hash_key",
    "hash_number",
    "keyword_form",
    "parse_cron",
    "parse_iso_weeks",
    "unbound",
]

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
WEEK = _FieldSpec("week", 1, 53)


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
    iso_weeks: int | None = None  # bits 1..53; None = every ISO week (keyword form only)
    match_both_days: bool = False  # day must match both day fields whatever they start with
    #: (field name, mask of the values its H items chose), for each field that has H;
    #: the values are those of the hash key parsed with (placeholders without one).
    hashed: tuple[tuple[str, int], ...] = ()

    @property
    def every_hour(self) -> bool:
        """Whether all 24 hours are allowed: the schedule is a cadence, not anchored."""
        return self.hours == (1 << 24) - 1


_ITEM = re.compile(r"^(?:(\*)|([A-Z0-9]+)(?:-([A-Z0-9]+))?)(?:/([0-9]+))?$")
_HASHED = re.compile(r"^H(?:\(([A-Z0-9]+)-([A-Z0-9]+)\))?(?:/([0-9]+))?$")
#: The range a bare ``H`` or ``H/n`` chooses in, where it is not the field's own range:
#: days 1-28 so that every month has the day (as Jenkins), weekdays 0-6 (7 is Sunday again).
_HASH_RANGES = {"day-of-month": (1, 28), "day-of-week": (0, 6)}
#: Fixed forever: changing it would move every hashed job's fire times.
_HASH_PREFIX = b"tickwork cron H\x00"


def hash_number(key: str, field: str) -> int:
    """The number a cron field's ``H`` items are chosen by, for one hash key.

    The first 8 bytes, read as a big-endian unsigned integer, of the SHA-256 digest of
    ``b"tickwork cron H\\0" + field + b"\\0" + key``, the texts encoded as UTF-8 (lone
    surrogates as in ``"surrogatepass"``). *field* is ``"second"``, ``"minute"``,
    ``"hour"``, ``"day-of-month"``, ``"month"`` or ``"day-of-week"``. An ``H`` over
    ``a-b`` takes ``a + number % (b - a + 1)``; ``H/n`` starts at ``number % n``. The
    function never changes: it is what keeps a job's times across processes and versions.
    """
    data = _HASH_PREFIX + field.encode("ascii") + b"\x00" + key.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big")


def check_hash_key(key: object) -> str | None:
    """*key* if it is ``None`` or a non-empty str; else a ``TypeError`` / ``ValueError``."""
    if key is not None:
        if not isinstance(key, str):
            raise TypeError(f"hash_key must be a str, got {type(key).__name__}")
        if not key:
            raise ValueError("hash_key must be a non-empty str, got ''")
    return key


def unbound(expression: str, *_: object) -> NoReturn:
    """What an unbound trigger (``H`` items, no hash key) answers when asked for times."""
    raise InvalidExpression(
        f"cron expression {expression!r} has hashed values (H) but no hash_key: give "
        "CronTrigger(..., hash_key='...') or add the trigger to a scheduler, which uses "
        "the job's id",
        expression=expression,
        token="H",
    )


class _Hashing:
    """One parse's hash key and the values its ``H`` items chose, per field.

    Without a key (an unbound trigger) every number is 0: the values are placeholders,
    good for checking the grammar, never for firing.
    """

    __slots__ = ("chosen", "key")

    def __init__(self, key: str | None) -> None:
        self.key = key
        self.chosen: dict[str, int] = {}

    def number(self, field: str) -> int:
        return 0 if self.key is None else hash_number(self.key, field)


def _locate(expression: str | None, field: str | None, token: str | None) -> str:
    """The start of every message :func:`_fail` writes; what follows it is the reason."""
    where = f"{field} field" if field else "expression"
    shown = f" {token!r}" if token is not None else ""
    return f"invalid cron expression {expression!r}: {where}{shown}: "


def _fail(
    expression: str, spec: _FieldSpec | None, token: str | None, why: str
) -> InvalidExpression:
    field = spec.name if spec else None
    return InvalidExpression(
        _locate(expression, field, token) + why,
        expression=expression,
        field=field,
        token=token,
    )


def _allowed(spec: _FieldSpec) -> str:
    text = f"{spec.low}-{spec.high}"
    if spec.names:
        text += f" or {spec.names[0]}-{spec.names[-1]}"
    return text


def _value(text: str, spec: _FieldSpec, expression: str, item: str) -> int:
    # ASCII digits only: str.isdigit() (and int()) also take other scripts' digits
    # (Arabic-Indic five, U+0665) and superscripts (U+00B2, which int() then refuses).
    if text.isascii() and text.isdigit():
        number = int(text)
    elif text in spec.names:
        number = spec.names.index(text) + spec.name_base
    else:
        why = f"{text!r} is not a number" + (" or a name" if spec.names else "")
        raise _fail(expression, spec, item, f"{why} (expected {_allowed(spec)})")
    if not spec.low <= number <= spec.high:
        raise _fail(expression, spec, item, f"{number} is out of range (expected {_allowed(spec)})")
    return number


def _parse_hashed(item: str, spec: _FieldSpec, expression: str, hashing: _Hashing | None) -> int:
    """An ``H``, ``H(a-b)``, ``H/n`` or ``H(a-b)/n`` item: the mask of the values it chose."""
    if hashing is None or spec is YEAR:
        where = "the year field" if spec is YEAR else "CronTrigger.from_fields"
        raise _fail(expression, spec, item, f"H (a hashed value) is not allowed in {where}")
    match = _HASHED.match(item)
    if match is None:
        raise _fail(expression, spec, item, "expected H, H(a-b), H/n or H(a-b)/n")
    first, last, step_text = match.groups()
    if first is None:
        low, high = _HASH_RANGES.get(spec.name, (spec.low, spec.high))
    else:
        low = _value(first, spec, expression, item)
        high = _range_end(low, _value(last, spec, expression, item), spec)
        if high < low:
            raise _fail(expression, spec, item, f"range runs backwards ({low} > {high})")
    number = hashing.number(spec.name)
    span = high - low + 1
    if step_text is None:
        mask = 1 << (low + number % span)
    else:
        step = int(step_text)
        if step == 0:
            raise _fail(expression, spec, item, "a step of 0 never advances (expected 1 or more)")
        if step > span:
            raise _fail(
                expression,
                spec,
                item,
                f"a step of {step} does not fit the range {low}-{high} (expected 1 to {span})",
            )
        mask = 0
        for value in range(low + number % step, high + 1, step):
            mask |= 1 << value
    if spec is WEEKDAY:
        mask = _fold_sunday(mask)
    hashing.chosen[spec.name] = hashing.chosen.get(spec.name, 0) | mask
    return mask


def _range_end(low: int, high: int, spec: _FieldSpec) -> int:
    """A range's last value; a day-of-week range ending on Sunday ends on day 7."""
    if spec is WEEKDAY and high == 0 and low > 0:
        return 7
    return high


def _parse_plain(
    item: str, spec: _FieldSpec, expression: str, hashing: _Hashing | None = None
) -> int:
    """A '*', value, range, stepped or hashed item: the mask of the values it allows."""
    if item.startswith("H"):
        return _parse_hashed(item, spec, expression, hashing)
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
            high = _range_end(low, _value(last, spec, expression, item), spec)
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


def _parse_field(
    text: str, spec: _FieldSpec, expression: str, hashing: _Hashing | None = None
) -> tuple[int, bool]:
    if text == "?":
        if spec not in (DAY, WEEKDAY):
            raise _fail(expression, spec, text, "'?' is only allowed in the day fields")
        return _parse_plain("*", spec, expression), True
    mask = 0
    for item in text.split(","):
        if not item:
            raise _fail(expression, spec, text, "empty item in list")
        mask |= _parse_plain(item, spec, expression, hashing)
    return mask, text.startswith("*")


_NUMBER = re.compile(r"[0-9]+\Z")
_LAST_OFFSET = re.compile(r"^L-([0-9]+)$")
_NEAREST = re.compile(r"^([0-9]+)W$")
_NTH = re.compile(r"^([A-Z0-9]+)#([0-9]+)$")


def _parse_days(
    text: str, expression: str, hashing: _Hashing | None = None
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
        elif item.startswith("H"):
            mask |= _parse_hashed(item, DAY, expression, hashing)
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
            mask |= _parse_plain(item, DAY, expression, hashing)
    return mask, text.startswith("*"), frozenset(offsets), frozenset(nearest), last_weekday


def _parse_weekdays(
    text: str, expression: str, hashing: _Hashing | None = None
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
        elif item.endswith("L") and (_NUMBER.match(item[:-1]) or item[:-1] in DAY_NAMES):
            last.add(_value(item[:-1], WEEKDAY, expression, item) % 7)
        elif not item:
            raise _fail(expression, WEEKDAY, text, "empty item in list")
        else:
            mask |= _parse_plain(item, WEEKDAY, expression, hashing)
    return _fold_sunday(mask), text.startswith("*"), frozenset(nth), frozenset(last)


def _fold_sunday(mask: int) -> int:
    """Day-of-week 7 is Sunday, like 0."""
    if mask & (1 << 7):
        mask = (mask & 0x7F) | 1
    return mask


def normalize(expression: str) -> str:
    """The expression with runs of white space folded and aliases kept as written."""
    return " ".join(expression.split())


def parse_cron(expression: str, hash_key: str | None = None) -> CronFields:
    """Parse a 5-, 6- (seconds first) or 7-field (then year) cron expression or an alias.

    ``H`` items choose their values by :func:`hash_number` of *hash_key*; without a
    key they are parsed with placeholder values (recorded in ``CronFields.hashed``).
    """
    if not isinstance(expression, str):
        raise TypeError(f"cron expression must be a str, got {type(expression).__name__}")
    text = normalize(expression)
    if text.startswith("@"):
        alias = ALIASES.get(text.lower())
        if alias is None:
            head, _, rest = text.partition(" ")
            if head.lower() == "@reboot":
                raise _fail(
                    expression,
                    None,
                    text,
                    "@reboot has no fire times; run the job at start-up instead",
                )
            if rest and head.lower() in ALIASES:
                # "@daily *": an alias is the whole expression, not a first field.
                raise _fail(
                    expression,
                    None,
                    rest,
                    f"{head} is a whole expression: nothing may follow it",
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
    hashing = _Hashing(hash_key)
    seconds = _parse_field(parts[0], SECOND, expression, hashing)[0]
    minutes = _parse_field(parts[1], MINUTE, expression, hashing)[0]
    hours = _parse_field(parts[2], HOUR, expression, hashing)[0]
    days, day_star, offsets, nearest, last_weekday = _parse_days(parts[3], expression, hashing)
    months = _parse_field(parts[4], MONTH, expression, hashing)[0]
    if len(parts) == 6 and _NUMBER.fullmatch(parts[5]) and len(parts[5]) == 4:
        raise _fail(
            expression,
            WEEKDAY,
            parts[5],
            "six fields put seconds first; for a year, use seven fields "
            "(second minute hour day-of-month month day-of-week year)",
        )
    weekdays, weekday_star, nth, last = _parse_weekdays(parts[5], expression, hashing)
    years: tuple[int, ...] | None = None
    if len(parts) == 7 and parts[6] not in ("*", "?"):
        mask = _parse_field(parts[6], YEAR, expression, hashing)[0]
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
        hashed=tuple(
            (spec.name, hashing.chosen[spec.name])
            for spec in (SECOND, MINUTE, HOUR, DAY, MONTH, WEEKDAY)
            if spec.name in hashing.chosen
        ),
    )


# -- APScheduler's keyword fields -------------------------------------------------------

#: The keyword fields, most significant first.
KEYWORDS = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")
#: What an omitted field less significant than every given one means (APScheduler's
#: defaults): its smallest value, except that week and day of week stay unrestricted.
_KEYWORD_MINIMUM = {
    "year": "*",
    "month": "1",
    "day": "1",
    "week": "*",
    "day_of_week": "*",
    "hour": "0",
    "minute": "0",
    "second": "0",
}
_KEYWORD_SPECS = {
    "year": YEAR,
    "month": MONTH,
    "week": WEEK,
    "hour": HOUR,
    "minute": MINUTE,
    "second": SECOND,
}
#: Weekdays in APScheduler's order (Monday first); cron's number is ``(index + 1) % 7``.
_KEYWORD_DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_FULL_DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
_DAY_POSITION = re.compile(r"^(1ST|2ND|3RD|4TH|5TH|LAST) ([A-Z]+)$")
_WEEKDAY_RANGE = re.compile(r"^([A-Z]+)-([A-Z]+)(?:/([0-9]+))?$")
_WEEKDAY_STEP = re.compile(r"^[A-Z]+/[0-9]+$")
_WEEKDAY_NTH = re.compile(r"^([A-Z]+)#([0-9]+)$")


@dataclass(frozen=True)
class KeywordForm:
    """Keyword fields read into an expression (seconds first, year last when given) and
    the ISO week field (``None`` when every week is allowed)."""

    expression: str
    week: str | None


def _keyword_error(
    keyword: str, value: object, why: str, token: str | None = None
) -> InvalidExpression:
    return InvalidExpression(
        f"invalid CronTrigger.from_fields argument {keyword}={value!r}: {why}",
        field=keyword,
        token=token,
    )


def _reason(error: InvalidExpression) -> str:
    """The reason part of a message written by :func:`_fail`."""
    message = str(error)
    prefix = _locate(error.expression, error.field, error.token)
    return message[len(prefix) :] if message.startswith(prefix) else message


def _keyword_items(keyword: str, value: object) -> list[str]:
    """The comma-separated items of a keyword value, stripped and upper-cased."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        # A wrong type, as everywhere else in tickwork (a bool is not a number).
        raise TypeError(
            f"invalid CronTrigger.from_fields argument {keyword}={value!r}: expected an int "
            f"or a str in cron syntax, got {type(value).__name__}"
        )
    # Items keep no white space inside, so the expression keeps its field count.
    items = [" ".join(item.split()) for item in str(value).upper().split(",")]
    for item in items:
        if not item:
            raise _keyword_error(keyword, value, "empty item in list")
        if " " in item and keyword != "day":
            raise _keyword_error(keyword, value, "spaces are not allowed inside an item", item)
    return items


def _check(keyword: str, value: object, text: str) -> int:
    """Parse one field's text with the cron grammar; errors name the keyword."""
    try:
        if keyword == "day":
            return _parse_days(text, text)[0]
        return _parse_field(text, _KEYWORD_SPECS[keyword], text)[0]
    except InvalidExpression as error:
        raise _keyword_error(keyword, value, _reason(error), error.token) from None


def _weekday_index(name: str) -> int | None:
    """APScheduler's weekday index (Monday = 0) of a short or full English name."""
    if name in _KEYWORD_DAYS:
        return _KEYWORD_DAYS.index(name)
    if name in _FULL_DAYS:
        return _FULL_DAYS.index(name)
    return None


def _keyword_weekdays(value: object, items: list[str]) -> str:
    """The day-of-week field of an expression equivalent to APScheduler's *items*.

    Names only: ranges run Monday to Sunday as in APScheduler (``sat-sun`` is the
    weekend), so they are rewritten into ranges cron reads the same way. A step on a
    range of names counts from its first day (``mon-sun/2``: Monday, Wednesday, Friday,
    Sunday), as in a cron expression, whichever day the numbering starts from; a step
    on ``*`` is refused by the caller (with the weekday numbers).
    """
    keyword = "day_of_week"
    plain: set[int] = set()
    nth: set[tuple[int, int]] = set()
    last: set[int] = set()
    known = (
        "a weekday name (mon-sun), a range of names such as mon-fri or mon-sun/2, '*', "
        "name#n or nameL"
    )
    for item in items:
        if item in ("*", "?"):
            plain.update(range(7))
        elif (index := _weekday_index(item)) is not None:
            plain.add(index)
        elif match := _WEEKDAY_RANGE.match(item):
            low, high = _weekday_index(match.group(1)), _weekday_index(match.group(2))
            if low is None or high is None:
                raise _keyword_error(keyword, value, f"expected {known}", item)
            if high < low:
                raise _keyword_error(
                    keyword,
                    value,
                    "range runs backwards (weeks run Monday to Sunday); split it, e.g. "
                    "'fri-sun,mon'",
                    item,
                )
            step = 1 if match.group(3) is None else int(match.group(3))
            if step < 1:
                raise _keyword_error(
                    keyword, value, "a step of 0 never advances (expected 1 or more)", item
                )
            plain.update(range(low, high + 1, step))
        elif _WEEKDAY_STEP.match(item):
            # (Where 'mon/2' ends would depend on which day the week ends on.)
            raise _keyword_error(
                keyword,
                value,
                "a step needs a range of weekday names to count over, e.g. 'mon-sun/2'",
                item,
            )
        elif match := _WEEKDAY_NTH.match(item):
            index, count = _weekday_index(match.group(1)), int(match.group(2))
            if index is None or not 1 <= count <= 5:
                raise _keyword_error(keyword, value, "name#n needs a weekday name and n 1-5", item)
            nth.add((index, count))
        elif item.endswith("L") and (index := _weekday_index(item[:-1])) is not None:
            last.add(index)
        else:
            raise _keyword_error(keyword, value, f"expected {known}", item)
    if len(plain) == 7:
        return "*"  # every weekday: the specials add nothing
    # Monday to Saturday are in the same order in both numberings; Sunday is last here
    # but first (0) in cron, so no range may end on it.
    parts: list[str] = []
    run: list[int] = []
    for index in [*sorted(plain - {6}), -1]:
        if run and index != run[-1] + 1:
            names = [_KEYWORD_DAYS[day] for day in run]
            parts.append(f"{names[0]}-{names[-1]}" if len(names) >= 3 else ",".join(names))
            run = []
        run.append(index)
    if 6 in plain:
        parts.append("SUN")
    parts.extend(f"{_KEYWORD_DAYS[day]}#{count}" for day, count in sorted(nth))
    parts.extend(f"{_KEYWORD_DAYS[day]}L" for day in sorted(last))
    return ",".join(parts)


def _keyword_days(value: object, items: list[str]) -> tuple[str, list[str]]:
    """The day-of-month text, and the weekday items APScheduler's ``"2nd mon"`` and
    ``"last fri"`` forms stand for (they belong in the day-of-week field)."""
    days: list[str] = []
    weekdays: list[str] = []
    for item in items:
        match = _DAY_POSITION.match(item)
        if match is None:
            days.append("L" if item == "LAST" else item)
            continue
        position, name = match.groups()
        index = _weekday_index(name)
        if index is None:
            raise _keyword_error(
                "day", value, f"{name.lower()!r} is not a weekday name (mon-sun)", item
            )
        weekday = _KEYWORD_DAYS[index]
        weekdays.append(f"{weekday}L" if position == "LAST" else f"{weekday}#{position[0]}")
    if days and weekdays:
        raise _keyword_error(
            "day",
            value,
            "weekday positions such as 'last fri' or '2nd mon' cannot be listed with "
            "days of the month; use two jobs or an OrTrigger",
        )
    return ("*" if weekdays else ",".join(days)), weekdays


def keyword_form(values: dict[str, object]) -> KeywordForm:
    """Read APScheduler 3's keyword fields into an expression and a week field.

    *values* maps each name in :data:`KEYWORDS` to an int, a str or ``None`` (not
    given). Omitted fields more significant than the least significant given one allow
    every value; less significant ones take their smallest value (week and day of week
    excepted). With nothing given every field allows every value: every second.

    Raises:
        InvalidExpression: a value is malformed or out of range; the message names the
            keyword and the value. A day of week given by number is refused, because
            APScheduler counts weekdays from Monday = 0 and cron from Sunday = 0.
    """
    given = [name for name in KEYWORDS if values.get(name) is not None]
    # Rank of the least significant field given; with none, every field is "above" it.
    least = KEYWORDS.index(given[-1]) if given else len(KEYWORDS)
    texts: dict[str, str] = {}
    position_weekdays: list[str] = []
    for rank, name in enumerate(KEYWORDS):
        value = values.get(name)
        if value is None:
            texts[name] = "*" if rank < least else _KEYWORD_MINIMUM[name]
            continue
        items = _keyword_items(name, value)
        if name == "day_of_week":
            # Digits after '#' count, and after a name and '/' step (mon-sun/2): neither
            # names a weekday. A step on '*' does: '*/2' starts on day 0.
            weekday_digits = re.sub(r"#[0-9]+|(?<=[A-Za-z])/[0-9]+", "", str(value))
            if isinstance(value, int) or re.search(r"[0-9]", weekday_digits):
                raise _keyword_error(
                    name,
                    value,
                    "weekday numbers are ambiguous: APScheduler counts from Monday = 0, cron "
                    "from Sunday = 0; give weekday names instead, e.g. 'mon-fri' or 'sat,sun'",
                )
            if position_weekdays:
                raise _keyword_error(
                    name,
                    value,
                    f"day={values['day']!r} already names the weekday; give one or the other",
                )
            texts[name] = _keyword_weekdays(value, items)
        elif name == "day":
            texts[name], position_weekdays = _keyword_days(value, items)
            _check(name, value, texts[name])
        else:
            texts[name] = ",".join(items)
            _check(name, value, texts[name])
    if position_weekdays:
        texts["day_of_week"] = _keyword_weekdays(values["day"], position_weekdays)
    week: str | None = texts["week"]
    if _check("week", values.get("week"), texts["week"]) == (1 << 54) - 2:
        week = None  # every week: no restriction
    expression = " ".join(
        texts[name] for name in ("second", "minute", "hour", "day", "month", "day_of_week")
    )
    if texts["year"] != "*":
        expression += f" {texts['year']}"
    return KeywordForm(expression, week)


def parse_iso_weeks(text: str) -> int:
    """The mask (bits 1..53) of an ISO week field such as ``"1"``, ``"*/2"`` or ``"1-10"``."""
    return _check("week", text, " ".join(text.split()).upper())
