"""How many fire times a cron trigger has in a span, without walking each one.

A downtime of a month asks a cron every minute how many of its 43,200 fire times were
missed; walking them costs a trigger call each (a second for half a million). On a day
whose clocks do not change, a cron's fire times are its times of day (every allowed
hour, minute and second) if the date matches, in the order of their wall times, so
how many lie between two instants of that day is arithmetic on the field masks. Only
a day whose UTC offset changes (DST, a zone's new rules) is walked, fire by fire, as
:meth:`~tickwork.CronTrigger.next_after` answers it: its gap and overlap policies
decide what runs there.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any, Protocol

from .._instants import US as _US
from .._tz import require_aware

if TYPE_CHECKING:
    from ._cronparse import CronFields


class CronTrigger(Protocol):
    """What the count reads of a :class:`~tickwork.CronTrigger` (not imported: it
    imports this module)."""

    @property
    def start(self) -> datetime | None: ...

    @property
    def end(self) -> datetime | None: ...

    @property
    def timezone(self) -> tzinfo: ...

    _next_wall: Callable[..., Any]

    def next_after(self, moment: datetime) -> datetime | None: ...


__all__ = ["count_between"]

_UTC = timezone.utc
_DAY = timedelta(days=1)


def count_between(self: CronTrigger, after: datetime, until: datetime) -> int:
    """How many fire instants lie in ``(after, until]``, computed exactly: days whose
    clocks do not change are counted from the fields, the others walked.

    The scheduler uses this to report how many runs a long downtime missed without
    walking every one of them.
    """
    # (In UTC: aware datetimes of one zone compare by their wall times.)
    after = require_aware(after, "after").astimezone(_UTC)
    until = require_aware(until, "until").astimezone(_UTC)
    if self.start is not None:
        after = max(after, self.start.astimezone(_UTC) - _US)
    if self.end is not None:
        until = min(until, self.end.astimezone(_UTC))
    if until <= after:
        return 0
    schedule: Any = getattr(self._next_wall, "__self__", None)
    if schedule is None:  # (hashed with no key: next_after says why it cannot answer)
        return _walk(self, after, until)
    fields: CronFields = schedule.fields
    zone = self.timezone
    times = (_bits(fields.hours), _bits(fields.minutes), _bits(fields.seconds))
    first, last = _day_of(after, zone), _day_of(until, zone)
    count = 0
    day = first
    begins = _day_start(day, zone)
    walked = after  # the fires up to this instant are counted
    while day <= last:
        following = day + _DAY if day < date.max else None
        ends = None if following is None else _day_start(following, zone)
        if begins is not None and ends is not None and _steady(zone, begins, ends):
            if _matches(schedule, fields, day):
                low = 0
                if day == first:
                    low = _times_up_to(fields, times, after.astimezone(zone))
                elif walked >= begins:  # (the walk of the day before counted its midnight)
                    low = _times_up_to(fields, times, begins.astimezone(zone))
                high = (
                    _times_up_to(fields, times, until.astimezone(zone))
                    if day == last
                    else times[0] * times[1] * times[2]
                )
                count += high - low
        else:
            # Walked up to the next day's start inclusive: a fire the gap policy moves to
            # the end of a gap that ends at midnight (a skipped day, a 23:30 -> 00:00
            # change) is at that instant, which the next day's fields do not hold.
            since = walked if begins is None else max(walked, begins - _US)
            walked = until if ends is None else min(until, ends)
            count += _walk(self, since, walked)
        if following is None or ends is None:
            break  # (the end of the calendar)
        day, begins = following, ends
    return count


def _walk(trigger: CronTrigger, after: datetime, until: datetime) -> int:
    """The fire times in ``(after, until]``, one trigger call each."""
    count = 0
    moment = trigger.next_after(after)
    while moment is not None and moment <= until:
        count += 1
        moment = trigger.next_after(moment)
    return count


def _day_start(day: date, zone: tzinfo) -> datetime | None:
    """The instant (UTC) the wall date *day* begins at (its midnight, the first pass;
    a midnight a spring-forward skips: the instant the clocks jump); None past the
    ends of the calendar in UTC."""
    try:
        return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(_UTC)
    except OverflowError:
        return None


def _day_of(moment: datetime, zone: tzinfo) -> date:
    """The day whose instants ``[its start, the next day's start)`` hold *moment*: its
    wall date, but where clocks go back across midnight (St. John's at 00:01, before
    2011) an hour of a date comes again after the next date has begun, and belongs to
    that next day here (days partition time by their starts)."""
    day = moment.astimezone(zone).date()
    begins = _day_start(day, zone)
    if begins is not None and moment < begins and day > date.min:
        return day - _DAY
    if day < date.max:
        following = _day_start(day + _DAY, zone)
        if following is not None and moment >= following:
            return day + _DAY
    return day


def _steady(zone: tzinfo, begins: datetime, ends: datetime) -> bool:
    """Whether the clocks of *zone* keep one UTC offset through the day [begins, ends):
    then its wall times and its instants go together, one for one."""
    offset = begins.astimezone(zone).utcoffset()
    middle = begins + (ends - begins) / 2
    return (
        ends - begins == _DAY
        and middle.astimezone(zone).utcoffset() == offset
        and (ends - _US).astimezone(zone).utcoffset() == offset
    )


def _matches(schedule: Any, fields: CronFields, day: date) -> bool:
    """Whether the cron's date fields allow *day*."""
    year, month = day.year, day.month
    if not fields.months >> month & 1:
        return False
    if fields.years is not None and year not in fields.years:
        return False
    return bool(schedule._days(year, month)[day.day] == day.day)


def _bits(mask: int) -> int:
    return bin(mask).count("1")


def _below(mask: int, value: int) -> int:
    """How many of *mask*'s values are below *value*."""
    return _bits(mask & ((1 << value) - 1))


def _times_up_to(fields: CronFields, times: tuple[int, int, int], wall: datetime) -> int:
    """How many of the cron's times of day come at or before *wall*'s time of day (a
    fire is at a whole second: one at *wall*'s second is not after it)."""
    hours, minutes, seconds = fields.hours, fields.minutes, fields.seconds
    _, per_minute, per_second = times
    count = _below(hours, wall.hour) * per_minute * per_second
    if hours >> wall.hour & 1:
        count += _below(minutes, wall.minute) * per_second
        if minutes >> wall.minute & 1:
            count += _below(seconds, wall.second + 1)
    return count
