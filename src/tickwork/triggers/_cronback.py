"""Walking a cron schedule backwards: "the largest matching wall time strictly before".

The mirror of ``_Schedule.next_wall`` in :mod:`.cron`, kept apart so that module stays
about parsing and walking forwards. The same field masks become "largest allowed value
below k" tables, and the days a month allows come from the schedule itself (its day
rules, ``L``, ``W``, ``#`` and ISO weeks resolved, in its forward day tables), so both
directions walk one set of wall times. Turning those into instants, DST rules included, is
:func:`._walltime.previous_fire`'s job.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable

from ._cronparse import CronFields
from ._walltime import Wall

__all__ = ["PreviousWall"]

#: How many months' day tables a schedule keeps before starting afresh.
_MONTHS_KEPT = 2048


def previous_table(mask: int, size: int) -> tuple[int, ...]:
    """``table[k]`` is the largest allowed value < k, or -1, for k in 0..size."""
    table = [-1] * (size + 1)
    preceding = -1
    for value in range(size):
        table[value] = preceding
        if mask >> value & 1:
            preceding = value
    table[size] = preceding
    return tuple(table)


class PreviousWall:
    """The backwards walk of one compiled schedule: :meth:`before`.

    *month_days(year, month)* gives the schedule's forward day table of that month
    (``table[d] == d`` for each day it allows). Safe to share between threads, like the
    schedule.
    """

    __slots__ = ("_days", "_hours", "_minutes", "_month_days", "_months", "_seconds", "_years")

    def __init__(
        self, fields: CronFields, month_days: Callable[[int, int], tuple[int, ...]]
    ) -> None:
        self._seconds = previous_table(fields.seconds, 60)
        self._minutes = previous_table(fields.minutes, 60)
        self._hours = previous_table(fields.hours, 24)
        self._months = previous_table(fields.months, 13)
        self._years = fields.years
        self._month_days = month_days
        self._days: dict[int, tuple[int, ...]] = {}

    def _days_before(self, year: int, month: int) -> tuple[int, ...]:
        """``table[k]``: the largest day < k of this month that matches, or -1 (k <= 32)."""
        key = year * 16 + month
        table = self._days.get(key)
        if table is None:
            forward = self._month_days(year, month)
            mask = sum(1 << day for day in range(1, 32) if forward[day] == day)
            table = previous_table(mask, 33)
            if len(self._days) > _MONTHS_KEPT:
                self._days.clear()
            self._days[key] = table
        return table

    def before(self, wall: Wall) -> Wall | None:
        """The largest matching wall time strictly before *wall* (whose second may be 60)."""
        year, month, day, hour, minute, second = wall
        seconds, minutes, hours = self._seconds, self._minutes, self._hours
        years = self._years
        if (
            self._months[month + 1] == month
            and self._days_before(year, month)[day + 1] == day
            and (years is None or year in years)
        ):
            # Today is a matching date: look for an earlier time of day first.
            found = hours[hour + 1]
            if found == hour:
                found = minutes[minute + 1]
                if found == minute:
                    found = seconds[second]
                    if found >= 0:
                        return year, month, day, hour, minute, found
                    found = minutes[minute]
                if found >= 0:
                    return year, month, day, hour, found, seconds[60]
                found = hours[hour]
            if found >= 0:
                return year, month, day, found, minutes[60], seconds[60]
        date = self._previous_date(year, month, day - 1)
        if date is None:
            return None
        return date[0], date[1], date[2], hours[24], minutes[60], seconds[60]

    def _previous_date(self, year: int, month: int, day: int) -> tuple[int, int, int] | None:
        """The last matching date on or before the given one (*day* may be 0)."""
        months, years = self._months, self._years
        while True:
            if years is not None:
                index = bisect_right(years, year) - 1
                if index < 0:
                    return None
                if years[index] != year:
                    year, month, day = years[index], 12, 31
            elif year < 1:
                return None
            found = months[month + 1]
            if found < 0:
                year, month, day = year - 1, 12, 31
                continue
            if found != month:
                month, day = found, 31
            found = self._days_before(year, month)[day + 1]
            if found < 0:
                month, day = month - 1, 31
                continue
            return year, month, found
