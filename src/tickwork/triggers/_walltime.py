"""Turning wall-clock schedules into instants, with one DST policy for every trigger.

Theory of operation
-------------------
A wall-clock trigger (cron, calendar interval) is a set of *matching wall times*:
naive local times such as "2024-03-10 02:30:00". Its fire instants are what those
wall times resolve to in the trigger's zone:

* a wall time that exists once resolves to its one instant;
* a wall time inside a spring-forward gap exists zero times: with ``DstGap.SHIFT``
  it resolves to the transition instant, the first instant after the gap (so
  several gap times merge into one fire, and merge with a real slot there); with
  ``DstGap.SKIP`` to nothing;
* a wall time inside a fall-back overlap exists twice: ``DstOverlap.FIRST`` keeps
  the earlier instant, ``LAST`` the later, ``BOTH`` both.

The fire set is the union of those instants, and ``next_after(moment)`` is its
smallest element strictly later than ``moment``. The set is defined without any
reference to where a search starts, which is what makes "a start inside the second
pass of an overlap does not re-fire the first" hold by construction.

Walking backwards
-----------------
``previous_fire`` answers the mirror question, the largest element of the same set
strictly earlier than a moment, by walking matching wall times downwards and keeping,
for each, the latest instant it resolves to that is early enough. Wall order and
instant order disagree only inside an overlap, now for a moment in its *second*
pass: wall times above the moment's own still have a first-pass instant in the past,
but any second-pass instant of a wall time at or below the moment's is later than
all of those. So the second pass is asked first, then the walk goes on from the top
of the repeated range. (A moment in the first pass needs nothing special: the
second-pass instants are all in the future, and the bound filters them out.)

Walking forwards
----------------
The search below walks matching wall times upwards from the wall time of the
starting instant. Wall time only runs backwards inside an overlap, so there is one
place where wall order and instant order disagree: a start in the *first* pass of
an overlap, where wall times at or below the start's own wall time still have a
second, future instant. That case is handled explicitly; everything else is one
zone round-trip per candidate wall time.

All instants here are whole seconds since the Unix epoch (ints): both DST
arithmetic and comparisons are exact, and never depend on Python comparing two
datetimes of the same zone by wall time.

The ends of time
----------------
A fire is an instant a ``datetime`` can hold in UTC (the stores keep instants as UTC,
and ``astimezone(timezone.utc)`` of any other raises ``OverflowError``), so the fire
set stops at the years 1 and 9999 *in UTC*; the zone's own wall times stop there
too, a few hours off. Near those ends ``fromtimestamp`` cannot say what the wall
clock reads at an instant whose UTC or local time is out of range, so the searches
start from the zone's offset there instead (no zone changes its clocks in the year 1
or on the last day of 9999). The searches never start outside ``FIRST_INSTANT`` ..
``LAST_INSTANT``, but a result may lie a few hours outside: the triggers' start and
end bounds never do, and refuse it there at no cost to the walk from fire to fire.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone, tzinfo

from ._base import DstGap, DstOverlap

__all__ = [
    "FIRST_INSTANT",
    "LAST_INSTANT",
    "Wall",
    "next_fire",
    "previous_fire",
    "wall_of_epoch",
    "wall_to_epoch",
]

#: (year, month, day, hour, minute, second) of a naive local time.
Wall = tuple[int, int, int, int, int, int]
#: The smallest matching wall time strictly later than the given one, or None. The
#: given wall's second may be -1 ("strictly after the previous minute").
NextWall = Callable[[Wall], "Wall | None"]
#: The largest matching wall time strictly earlier than the given one, or None. The
#: given wall's second may be 60 ("strictly before the next minute").
PreviousWall = Callable[[Wall], "Wall | None"]

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_NAIVE_EPOCH = datetime(1970, 1, 1)
_SECOND = timedelta(seconds=1)


def wall_to_epoch(wall: Wall) -> int:
    """Seconds from 1970-01-01 00:00 to *wall*, reading both as the same naive clock."""
    y, mo, d, h, mi, s = wall
    return (date(y, mo, d).toordinal() - _EPOCH_ORDINAL) * 86400 + h * 3600 + mi * 60 + s


def wall_of_epoch(value: int) -> Wall:
    """The inverse of :func:`wall_to_epoch`."""
    t = _NAIVE_EPOCH + timedelta(seconds=value)
    return (t.year, t.month, t.day, t.hour, t.minute, t.second)


#: The first and last instants a fire may be at (see "The ends of time"); as walls,
#: the first and last wall times a ``datetime`` holds.
FIRST_INSTANT = wall_to_epoch((1, 1, 1, 0, 0, 0))
LAST_INSTANT = wall_to_epoch((9999, 12, 31, 23, 59, 59))
#: How near those an instant's wall time can leave the years 1 to 9999 (offsets are
#: under a day).
_NEAR_END = 2 * 86400


def _wall_near_first(zone: tzinfo, after: int) -> Wall:
    """The wall time at *after* (near the year 1), or just before the first one."""
    offset = datetime(1, 1, 2, tzinfo=zone).utcoffset()
    assert offset is not None
    local = after + offset // _SECOND
    return (1, 1, 1, 0, 0, -1) if local < FIRST_INSTANT else wall_of_epoch(local)


def _top_near_last(zone: tzinfo, latest: int) -> Wall:
    """Just above the wall time at *latest* (near the year 9999), or the last one."""
    offset = datetime(9999, 12, 30, tzinfo=zone).utcoffset()
    assert offset is not None
    y, mo, d, h, mi, s = wall_of_epoch(min(latest + offset // _SECOND, LAST_INSTANT))
    return y, mo, d, h, mi, s + 1


def _offset_at(zone: tzinfo, instant: int) -> int:
    offset = datetime.fromtimestamp(instant, zone).utcoffset()
    assert offset is not None
    return offset // _SECOND


def _first_instant_with_offset(zone: tzinfo, low: int, high: int, offset: int) -> int:
    """The smallest instant in ``(low, high]`` whose UTC offset is *offset*.

    The offset is assumed to change once in that span (a single DST transition).
    """
    while high - low > 1:
        middle = (low + high) // 2
        if _offset_at(zone, middle) == offset:
            high = middle
        else:
            low = middle
    return high


def at_wall(wall: datetime, zone: tzinfo) -> datetime:
    """The naive wall time *wall* in *zone*, as an aware datetime. A wall time that
    never happens (in a spring-forward gap) is the first instant after the gap, as an
    anchored schedule's gap time fires (time-semantics.md): never "the wall time plus the
    length of the gap", which attaching the zone alone gives. One in an overlap is its
    first occurrence, or its second with ``fold=1``."""
    aware = wall.replace(tzinfo=zone)  # (its fold picks the pass of an overlap)
    back = aware.astimezone(timezone.utc).astimezone(zone)
    if back.replace(tzinfo=None, fold=0) == wall.replace(fold=0):
        return aware
    # In a gap: fold=1 reads it with the offset after the change, which puts it before
    # the change; fold=0, with the offset before, after it: the change lies between.
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    high = int(wall.replace(tzinfo=zone, fold=0).timestamp())
    change = _first_instant_with_offset(zone, low, high, _offset_at(zone, high))
    return datetime.fromtimestamp(change, zone)


def next_fire(
    zone: tzinfo,
    next_wall: NextWall,
    after: int,
    gap: DstGap,
    overlap: DstOverlap,
    plain_wall: Wall | None = None,
) -> tuple[int, datetime, Wall | None] | None:
    """The first fire instant strictly after the instant *after* (epoch seconds).

    Returns ``(epoch_seconds, aware_datetime_in_zone, wall)`` or ``None`` when no
    matching wall time is left; the result may lie past ``LAST_INSTANT`` (left to the
    caller's end bound). ``wall`` is the fire's wall time when it is an ordinary one
    (neither in a gap nor an overlap), else ``None``; a caller may hand it back as
    *plain_wall* with the same instant as *after* to skip re-reading the zone (the
    common "next after the previous fire" walk).
    """
    best: tuple[int, datetime, Wall | None] | None = None
    if plain_wall is not None:
        wall = plain_wall
    else:
        if after < FIRST_INSTANT:
            after = FIRST_INSTANT - 1  # (no fire is earlier than the year 1 in UTC)
        try:
            local = datetime.fromtimestamp(after, zone)
        except (OverflowError, OSError, ValueError):
            if after > FIRST_INSTANT + _NEAR_END:
                return None  # past the year 9999 in the zone (or a platform's limit)
            wall = _wall_near_first(zone, after)
        else:
            wall = (local.year, local.month, local.day, local.hour, local.minute, local.second)
            here = local.utcoffset()
            there = datetime(*wall, 0, zone, fold=1 - local.fold).utcoffset()
            if here != there:
                # The start's own wall time happens twice: it lies in a fall-back overlap.
                assert here is not None
                assert there is not None
                if local.fold == 0:
                    best = _second_pass_before(
                        zone, next_wall, after, wall, here // _SECOND, there // _SECOND, overlap
                    )
                elif overlap is DstOverlap.FIRST:
                    # Second pass: every remaining overlap wall time already fired in the first.
                    earlier, later = there // _SECOND, here // _SECOND
                    transition = _first_instant_with_offset(
                        zone, after - (earlier - later), after, later
                    )
                    last_repeated = transition + earlier - 1
                    if last_repeated > wall_to_epoch(wall):
                        wall = wall_of_epoch(last_repeated)

    candidate = next_wall(wall)
    while candidate is not None:
        found = _resolve_after(zone, candidate, after, gap, overlap)
        if found is not None:
            if best is None or found[0] < best[0]:
                best = found
            return best
        candidate = next_wall(candidate)
    return best


def _second_pass_before(
    zone: tzinfo,
    next_wall: NextWall,
    after: int,
    wall: Wall,
    earlier: int,
    later: int,
    overlap: DstOverlap,
) -> tuple[int, datetime, Wall | None] | None:
    """From the first pass of an overlap: the earliest second-pass fire of a wall time <= *wall*.

    *earlier* and *later* are the UTC offsets (seconds) before and after the transition.
    """
    if overlap is DstOverlap.FIRST:
        return None
    transition = _first_instant_with_offset(zone, after, after + (earlier - later), later)
    repeated_from = transition + later  # wall epoch where the repeated range starts
    candidate = next_wall(wall_of_epoch(repeated_from - 1))
    if candidate is None or wall_to_epoch(candidate) > wall_to_epoch(wall):
        return None
    instant = wall_to_epoch(candidate) - later
    return instant, datetime(*candidate, 0, zone, fold=1), None


def _resolve_after(
    zone: tzinfo, wall: Wall, after: int, gap: DstGap, overlap: DstOverlap
) -> tuple[int, datetime, Wall | None] | None:
    """The earliest instant that *wall* resolves to under the policies, if later than *after*."""
    try:
        first = datetime(*wall, 0, zone)
    except (OverflowError, ValueError):
        return None
    offset = first.utcoffset()
    other = datetime(*wall, 0, zone, fold=1).utcoffset()
    assert offset is not None
    assert other is not None
    _y, _mo, _d, h, mi, s = wall
    local = (first.toordinal() - _EPOCH_ORDINAL) * 86400 + h * 3600 + mi * 60 + s
    if offset == other:
        instant = local - offset // _SECOND
        return (instant, first, wall) if instant > after else None
    if offset > other:
        # Fall-back overlap: the wall time happens at two instants.
        early = local - offset // _SECOND
        late = local - other // _SECOND
        if overlap is not DstOverlap.LAST and early > after:
            return early, first, None
        if overlap is not DstOverlap.FIRST and late > after:
            return late, datetime(*wall, 0, zone, fold=1), None
        return None
    # Spring-forward gap: the wall time never happens.
    if gap is DstGap.SKIP:
        return None
    before, past = offset // _SECOND, other // _SECOND
    transition = _first_instant_with_offset(zone, local - past, local - before, past)
    if transition <= after:
        return None
    return transition, datetime.fromtimestamp(transition, zone), None


def previous_fire(
    zone: tzinfo,
    previous_wall: PreviousWall,
    latest: int,
    gap: DstGap,
    overlap: DstOverlap,
    plain_wall: Wall | None = None,
) -> tuple[int, datetime, Wall | None] | None:
    """The last fire instant at or before the instant *latest* (epoch seconds).

    The mirror of :func:`next_fire` over the same fire set: returns ``(epoch_seconds,
    aware_datetime_in_zone, wall)`` or ``None`` when no matching wall time is left; the
    result may lie before ``FIRST_INSTANT`` (left to the caller's start bound).
    *plain_wall* may be the ordinary wall time of the instant ``latest + 1`` (a fire
    this module returned): the walk then starts below it without re-reading the zone.
    """
    if plain_wall is not None:
        candidate = previous_wall(plain_wall)
    else:
        if latest > LAST_INSTANT:
            latest = LAST_INSTANT  # (no fire is later than the year 9999 in UTC)
        try:
            local = datetime.fromtimestamp(latest, zone)
        except (OverflowError, OSError, ValueError):
            if latest < LAST_INSTANT - _NEAR_END:
                return None  # before the year 1 in the zone (or a platform's limit)
            top = _top_near_last(zone, latest)
        else:
            y, mo, d, h, mi, s = wall = (
                local.year,
                local.month,
                local.day,
                local.hour,
                local.minute,
                local.second,
            )
            top = (y, mo, d, h, mi, s + 1)  # strictly below it: at or below *wall*
            here = local.utcoffset()
            there = datetime(*wall, 0, zone, fold=1 - local.fold).utcoffset()
            if here != there:
                # The moment's own wall time happens twice: it lies in a fall-back overlap.
                assert here is not None
                assert there is not None
                if local.fold == 0:
                    if overlap is DstOverlap.LAST:
                        # First pass: the repeated wall times fire only in the future.
                        earlier, later = here // _SECOND, there // _SECOND
                        transition = _first_instant_with_offset(
                            zone, latest, latest + (earlier - later), later
                        )
                        top = wall_of_epoch(transition + later)
                else:
                    earlier, later = there // _SECOND, here // _SECOND
                    transition = _first_instant_with_offset(
                        zone, latest - (earlier - later), latest, later
                    )
                    if overlap is not DstOverlap.FIRST:
                        # A second-pass instant of a wall time <= the moment's beats every
                        # first-pass instant.
                        candidate = previous_wall(top)
                        if candidate is not None:
                            local_epoch = wall_to_epoch(candidate)
                            if local_epoch >= transition + later:
                                return (
                                    local_epoch - later,
                                    datetime(*candidate, 0, zone, fold=1),
                                    None,
                                )
                    # Otherwise the latest fire is a first-pass one (or older): walk down
                    # from the top of the repeated range.
                    top = wall_of_epoch(transition + earlier)
        candidate = previous_wall(top)
    while candidate is not None:
        found = _resolve_before(zone, candidate, latest, gap, overlap)
        if found is not None:
            return found
        candidate = previous_wall(candidate)
    return None


def _resolve_before(
    zone: tzinfo, wall: Wall, latest: int, gap: DstGap, overlap: DstOverlap
) -> tuple[int, datetime, Wall | None] | None:
    """The latest instant that *wall* resolves to under the policies, if at or before
    *latest*."""
    try:
        first = datetime(*wall, 0, zone)
    except (OverflowError, ValueError):
        return None
    offset = first.utcoffset()
    other = datetime(*wall, 0, zone, fold=1).utcoffset()
    assert offset is not None
    assert other is not None
    _y, _mo, _d, h, mi, s = wall
    local = (first.toordinal() - _EPOCH_ORDINAL) * 86400 + h * 3600 + mi * 60 + s
    if offset == other:
        instant = local - offset // _SECOND
        return (instant, first, wall) if instant <= latest else None
    if offset > other:
        # Fall-back overlap: the wall time happens at two instants.
        early = local - offset // _SECOND
        late = local - other // _SECOND
        if overlap is not DstOverlap.FIRST and late <= latest:
            return late, datetime(*wall, 0, zone, fold=1), None
        if overlap is not DstOverlap.LAST and early <= latest:
            return early, first, None
        return None
    # Spring-forward gap: the wall time never happens.
    if gap is DstGap.SKIP:
        return None
    before, past = offset // _SECOND, other // _SECOND
    transition = _first_instant_with_offset(zone, local - past, local - before, past)
    if transition > latest:
        return None
    return transition, datetime.fromtimestamp(transition, zone), None
