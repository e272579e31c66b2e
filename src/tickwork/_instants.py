"""Instants as whole microseconds since the Unix epoch: tickwork's one time base.

Every layer counts time this way (triggers, planning, the core, the stores), so the
epoch, the unit and the conversion are written here once. This module imports nothing
from tickwork, so the bottom of the stack can use it. Modules that use the constants in
loops bind them as module globals (``from ._instants import US as _US``), which costs
no more than defining them there.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo

__all__ = ["EPOCH", "US", "epoch_us", "instant", "just_after", "just_before"]

#: The Unix epoch, an aware datetime in UTC.
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_UTC = timezone.utc
#: One microsecond: the resolution of every instant tickwork computes or stores.
US = timedelta(microseconds=1)


def epoch_us(moment: datetime) -> int:
    """Microseconds since the Unix epoch: the instant, exact, whatever the zone or fold.

    Compare instants with this, never two datetimes of one zone directly: Python
    compares those by wall time, so 01:30 EDT and 01:30 EST on a fall-back night are
    "equal", and 01:10 EST (the later instant) sorts before 01:30 EDT.

    Raises:
        TypeError: *moment* is naive (it names no instant).
    """
    return (moment - EPOCH) // US


def instant(micros: int, zone: tzinfo) -> datetime:
    """The instant *micros* microseconds after the epoch (as ``epoch_us`` counts),
    expressed in *zone*: how the stores turn an ``*_us`` column back into a time."""
    moment = EPOCH + timedelta(microseconds=micros)
    return moment if zone is _UTC else moment.astimezone(zone)


def just_before(moment: datetime) -> datetime:
    """The instant one microsecond before *moment*, in UTC.

    Never ``moment - US`` on a datetime of a zone with DST: Python subtracts from the
    wall time and reads the result in the zone again, which at the first instant after
    a change lands an hour away (and ignores the fold)."""
    if moment.tzinfo is _UTC:
        return moment - US
    return moment.astimezone(_UTC) - US


def just_after(moment: datetime) -> datetime:
    """The instant one microsecond after *moment*, in UTC (see :func:`just_before`)."""
    if moment.tzinfo is _UTC:
        return moment + US
    return moment.astimezone(_UTC) + US
