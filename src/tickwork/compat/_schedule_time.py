"""The time maths and parsing of ``tickwork.compat.schedule``: functions of values, no jobs.

- the units, weekdays and time formats ``schedule`` 1.2.2 accepts;
- time zones in pytz's model (fixed offsets re-read after arithmetic), zone names;
- the period of ``every(n).<unit>`` and the step to the next run, with errors that name
  the interval where ``schedule`` lets an ``OverflowError`` out;
- the parsing behind ``Job.at()`` and ``Job.until()``, with ``schedule``'s messages.

Like ``schedule``, the parsers read ``datetime.datetime.now()`` where a value is relative
to today or to now, so ``freezegun`` and similar tools keep working.
"""

from __future__ import annotations

import datetime
import functools
import importlib
import math
import re
from typing import Any, cast
from zoneinfo import ZoneInfo, available_timezones

from ._schedule_errors import ScheduleValueError, UnknownTimeZoneError

_UNITS = ("seconds", "minutes", "hours", "days", "weeks")
_STEPS = {unit: datetime.timedelta(**{unit: 1}) for unit in _UNITS}
_ZERO = datetime.timedelta(0)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAILY_FORMAT = re.compile(r"^[0-2][0-9]:[0-5][0-9](?::[0-5][0-9])?$")
_HOURLY_FORMAT = re.compile(r"^(?:[0-5][0-9])?:[0-5][0-9]$")
_MINUTELY_FORMAT = re.compile(r"^:[0-5][0-9]$")
_UNTIL_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%H:%M:%S", "%H:%M")
# The real class, for isinstance checks (freezegun's FakeDatetime is a subclass of it).
_DATETIME = datetime.datetime


# ---------------------------------------------------------------------------------------
# Time zones: schedule 1.2 works in pytz's model, where an aware datetime carries a fixed
# offset, arithmetic moves the instant, and normalize() re-reads the offset for that
# instant. Fixed-offset ``datetime.timezone`` objects reproduce that model exactly with
# any tzinfo (zoneinfo, pytz, dateutil), so one code path serves them all.
# ---------------------------------------------------------------------------------------


@functools.cache
def _fixed_offset(offset: datetime.timedelta) -> datetime.timezone:
    return datetime.timezone(offset)


def _normalize(moment: datetime.datetime, zone: datetime.tzinfo) -> datetime.datetime:
    """The same instant, with the offset *zone* really has then (pytz's ``normalize``).

    The offset is worked out from wall times rather than read back with ``utcoffset()``:
    freezegun's datetimes lose ``fold``, which would give the first offset of a repeated
    hour for both passes.
    """
    utc = moment.replace(tzinfo=None) - cast(datetime.timedelta, moment.utcoffset())
    local = moment.astimezone(zone)
    return local.replace(tzinfo=_fixed_offset(local.replace(tzinfo=None) - utc))


def _correct_offset(
    moment: datetime.datetime, zone: datetime.tzinfo, keep_wall_time: bool
) -> datetime.datetime:
    """Fix the offset of *moment* after date arithmetic, as schedule 1.2.2 does.

    Without *keep_wall_time* the instant is kept. With it, the wall time is kept instead,
    unless that wall time does not exist (a DST gap): then the instant is kept, which
    puts the wall time one gap-length later (02:30 becomes 03:30 in a one-hour gap).
    """
    before = moment.utcoffset()
    moment = _normalize(moment, zone)
    after = cast(datetime.timedelta, moment.utcoffset())
    if before == after or not keep_wall_time:
        return moment
    shift = after - cast(datetime.timedelta, before)
    moved = moment - shift
    if _normalize(moved, zone).utcoffset() != after:
        return moment
    return moved


@functools.lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def _zone_named(name: str) -> datetime.tzinfo:
    """Look a zone name up like ``pytz.timezone`` (case-insensitively), with pytz if present."""
    try:
        pytz = importlib.import_module("pytz")
    except ImportError:
        pass
    else:
        return cast(datetime.tzinfo, pytz.timezone(name))
    canonical = _zone_names().get(name.lower())
    if canonical is None:
        raise UnknownTimeZoneError(name)
    try:
        return ZoneInfo(canonical)
    except (ValueError, OSError, KeyError):
        raise UnknownTimeZoneError(name) from None


def _period(unit: str, interval: Any, chain: str = "") -> datetime.timedelta:
    """One *interval* of *unit*. Too large, a ``ScheduleValueError`` naming the interval,
    or *chain* (``every(a).to(b)``) when given (schedule lets an ``OverflowError`` out)."""
    try:
        if type(interval) is int:
            return _STEPS[unit] * interval
        return datetime.timedelta(**{unit: interval})
    except OverflowError:
        # schedule lets timedelta's OverflowError out; name the interval instead.
        raise ScheduleValueError(
            f"{chain or f'every({interval!r})'}.{unit}: the interval is too large (a "
            f"timedelta holds at most {datetime.timedelta.max.days} days)"
        ) from None


def _later(
    moment: datetime.datetime,
    period: datetime.timedelta,
    interval: object,
    unit: str,
    chain: str = "",
) -> datetime.datetime:
    """*moment* + *period*; past the year 9999, a ``ScheduleValueError`` naming the
    interval (schedule lets ``datetime``'s OverflowError out, naming nothing)."""
    try:
        return moment + period
    except OverflowError:
        raise ScheduleValueError(
            f"{chain or f'every({interval!r})'}.{unit}: the interval is too large (the next "
            "run would be after the year 9999)"
        ) from None


def _check_interval(interval: object) -> None:
    """Refuse NaN and infinities at ``every()``: schedule fails on them later with a
    message that does not name the interval. Other values are left to schedule's rules
    (``every(True)`` works there, ``every("2")`` fails at ``do()``)."""
    if isinstance(interval, float) and not math.isfinite(interval):
        raise ValueError(f"every({interval!r}): the interval must be a finite number")


def _parse_until(text: str) -> datetime.datetime | None:
    for pattern in _UNTIL_FORMATS:
        try:
            return datetime.datetime.strptime(text, pattern)
        except ValueError:
            continue
    return None


def _at_time(time_str: str, unit: str | None, start_day: str | None) -> datetime.time:
    """The time in ``at(time_str)`` for a job of *unit* (and *start_day*), as schedule 1.2.2
    reads it: ``"HH:MM(:SS)"`` for daily and weekly jobs, ``"MM:SS"`` or ``":MM"`` for
    hourly ones, ``":SS"`` for minutely ones. The fields a unit has no use for are 0.

    Raises:
        TypeError: *time_str* is not a string.
        ScheduleValueError: *time_str* does not fit the unit's format, or the hour is
            over 23.
    """
    if not isinstance(time_str, str):
        raise TypeError("at() should be passed a string")
    daily = unit == "days" or bool(start_day)
    if daily and not _DAILY_FORMAT.match(time_str):
        raise ScheduleValueError(
            "Invalid time format for a daily job (valid format is HH:MM(:SS)?)"
        )
    if unit == "hours" and not _HOURLY_FORMAT.match(time_str):
        raise ScheduleValueError("Invalid time format for an hourly job (valid format is (MM)?:SS)")
    if unit == "minutes" and not _MINUTELY_FORMAT.match(time_str):
        raise ScheduleValueError("Invalid time format for a minutely job (valid format is :SS)")
    parts = time_str.split(":")
    if len(parts) == 3:
        hour, minute, second = parts
    elif unit == "minutes":  # ":SS"
        hour, minute, second = "0", "0", parts[1]
    elif unit == "hours":  # "MM:SS", or ":MM"
        hour, minute, second = ("0", parts[0], parts[1]) if parts[0] else ("0", parts[1], "0")
    else:  # "HH:MM"
        hour, minute = parts
        second = "0"
    if daily and not 0 <= int(hour) <= 23:
        # (sic: schedule's message has an unfilled placeholder)
        raise ScheduleValueError("Invalid number of hours ({} is not between 0 and 23)")
    return datetime.time(int(hour), int(minute), int(second))


def _until_moment(
    until_time: datetime.datetime | datetime.timedelta | datetime.time | str,
) -> datetime.datetime:
    """The moment ``until(until_time)`` names, as schedule 1.2.2 reads it: a datetime as
    it is, a timedelta from now, a time today, or a string in one of ``_UNTIL_FORMATS``
    (without a date: today). Whether it is past is the caller's check.

    Raises:
        ScheduleValueError: the string has none of the formats.
        TypeError: *until_time* is of another type.
    """
    if isinstance(until_time, datetime.datetime):
        return until_time
    if isinstance(until_time, datetime.timedelta):
        return datetime.datetime.now() + until_time
    if isinstance(until_time, datetime.time):
        return datetime.datetime.combine(datetime.datetime.now(), until_time)
    if isinstance(until_time, str):
        cancel_after = _parse_until(until_time)
        if cancel_after is None:
            raise ScheduleValueError("Invalid string format for until()")
        if "-" not in until_time:
            today = datetime.datetime.now()
            cancel_after = cancel_after.replace(year=today.year, month=today.month, day=today.day)
        return cancel_after
    raise TypeError(
        "until() takes a string, datetime.datetime, datetime.timedelta, datetime.time parameter"
    )
