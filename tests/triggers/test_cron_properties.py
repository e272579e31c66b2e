"""Hypothesis properties of CronTrigger, checked against a brute-force oracle.

The oracle knows nothing of the engine: it walks every minute of a window around a
real DST transition, reads the wall clock with zoneinfo, matches it against field
*sets* (from which the test spells the expression), and applies the DST policy as
the docs state it. The engine must produce exactly the same instants.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwork import CronTrigger, DstGap, DstOverlap, InvalidExpression, trigger_from_dict

UTC = timezone.utc

# (zone, a UTC instant near a transition). Gaps and overlaps, 1 h, 30 min, at midnight.
TRANSITIONS = [
    ("America/New_York", datetime(2024, 3, 10, 7, tzinfo=UTC)),
    ("America/New_York", datetime(2024, 11, 3, 6, tzinfo=UTC)),
    ("Europe/Berlin", datetime(2024, 3, 31, 1, tzinfo=UTC)),
    ("Europe/Berlin", datetime(2024, 10, 27, 1, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2019, 10, 5, 15, 30, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2020, 4, 4, 15, tzinfo=UTC)),
    ("America/Santiago", datetime(2024, 9, 8, 4, tzinfo=UTC)),
    ("America/Santiago", datetime(2024, 4, 7, 3, tzinfo=UTC)),
    ("America/Havana", datetime(2024, 3, 10, 5, tzinfo=UTC)),
    ("Europe/Dublin", datetime(2024, 10, 27, 1, tzinfo=UTC)),
    ("Pacific/Chatham", datetime(2024, 4, 6, 14, tzinfo=UTC)),
    ("Pacific/Apia", datetime(2011, 12, 30, 10, tzinfo=UTC)),
    ("Asia/Pyongyang", datetime(2018, 5, 4, 15, tzinfo=UTC)),  # 23:30 -> 00:00
    ("Pacific/Kwajalein", datetime(1993, 8, 21, 12, tzinfo=UTC)),  # a day skipped
    ("America/St_Johns", datetime(2004, 10, 31, 2, 31, tzinfo=UTC)),  # back at 00:01
    ("UTC", datetime(2024, 2, 29, 12, tzinfo=UTC)),
]


@dataclass(frozen=True)
class Spec:
    """A cron schedule as plain sets, plus how the day fields were spelled."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    day_star: bool
    weekday_star: bool
    expression: str

    def matches(self, wall: datetime) -> bool:
        if wall.minute not in self.minutes or wall.hour not in self.hours:
            return False
        if wall.month not in self.months:
            return False
        day_ok = wall.day in self.days
        weekday_ok = (wall.weekday() + 1) % 7 in self.weekdays
        if self.day_star or self.weekday_star:
            return day_ok and weekday_ok
        return day_ok or weekday_ok


def build(spec: Spec, zone: str | ZoneInfo, **options: object) -> CronTrigger | None:
    """The trigger for *spec*, or None when it is refused as never firing, which is then
    checked by brute force over one whole 400-year Gregorian cycle."""
    try:
        return CronTrigger(spec.expression, timezone=zone, **options)  # type: ignore[arg-type]
    except InvalidExpression as error:
        assert "never fire" in str(error)
    day = date(2000, 1, 1)
    while day.year < 2400:
        if day.month in spec.months:
            noon = datetime(day.year, day.month, day.day, min(spec.hours), min(spec.minutes))
            assert not spec.matches(noon), f"{spec.expression} matches {day}"
        day += timedelta(days=1)
    return None


def _spell(values: frozenset[int]) -> str:
    return ",".join(str(v) for v in sorted(values))


@st.composite
def specs(draw: st.DrawFn, near_month: int | None = None) -> Spec:
    minutes = draw(
        st.one_of(
            st.frozensets(st.integers(0, 59), min_size=1, max_size=4),
            st.sampled_from([frozenset(range(60)), frozenset(range(0, 60, 15))]),
        )
    )
    hours = draw(
        st.one_of(
            st.frozensets(st.integers(0, 23), min_size=1, max_size=5),
            st.just(frozenset(range(24))),
        )
    )
    day_form = draw(st.sampled_from(["star", "step", "list"]))
    if day_form == "star":
        days, day_text, day_star = frozenset(range(1, 32)), "*", True
    elif day_form == "step":
        step = draw(st.integers(2, 5))
        days, day_text, day_star = frozenset(range(1, 32, step)), f"*/{step}", True
    else:
        days = draw(st.frozensets(st.integers(1, 31), min_size=1, max_size=6))
        day_text, day_star = _spell(days), False
    weekday_form = draw(st.sampled_from(["star", "list", "list"]))
    if weekday_form == "star":
        weekdays, weekday_text, weekday_star = frozenset(range(7)), "*", True
    else:
        weekdays = draw(st.frozensets(st.integers(0, 6), min_size=1, max_size=4))
        weekday_text, weekday_star = _spell(weekdays), False
    if near_month is not None and draw(st.booleans()):
        months = frozenset({near_month})
    else:
        months = draw(
            st.one_of(
                st.just(frozenset(range(1, 13))),
                st.frozensets(st.integers(1, 12), min_size=1, max_size=4),
            )
        )
    minute_text = "*" if len(minutes) == 60 else _spell(minutes)
    hour_text = "*" if len(hours) == 24 else _spell(hours)
    month_text = "*" if len(months) == 12 else _spell(months)
    expression = f"{minute_text} {hour_text} {day_text} {month_text} {weekday_text}"
    return Spec(minutes, hours, days, months, weekdays, day_star, weekday_star, expression)


def _offset(zone: ZoneInfo, instant: int) -> int:
    offset = datetime.fromtimestamp(instant, zone).utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


def oracle(
    spec: Spec, zone: ZoneInfo, low: int, high: int, gap: DstGap, overlap: DstOverlap
) -> list[int]:
    """Every fire instant in [low, high] (minute-aligned epoch seconds), by brute force."""
    fires: set[int] = set()
    previous_offset = _offset(zone, low - 60)
    for instant in range(low, high + 1, 60):
        local = datetime.fromtimestamp(instant, zone)
        offset = _offset(zone, instant)
        if offset > previous_offset and gap is DstGap.SHIFT:
            # A gap starts here: wall times [instant + before, instant + after) never happen.
            wall = datetime(1970, 1, 1) + timedelta(seconds=instant + previous_offset)
            while wall < datetime(1970, 1, 1) + timedelta(seconds=instant + offset):
                if spec.matches(wall):
                    fires.add(instant)
                    break
                wall += timedelta(minutes=1)
        previous_offset = offset
        naive = local.replace(tzinfo=None)
        if not spec.matches(naive):
            continue
        ambiguous = local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()
        keep_this_pass = (overlap is DstOverlap.FIRST) == (local.fold == 0)
        if not ambiguous or overlap is DstOverlap.BOTH or keep_this_pass:
            fires.add(instant)
    return sorted(fires)


def _walk(trigger: CronTrigger, start: int, high: int) -> list[int]:
    found: list[int] = []
    moment = datetime.fromtimestamp(start, UTC)
    while True:
        result = trigger.next_after(moment)
        if result is None or result.timestamp() > high:
            return found
        found.append(int(result.timestamp()))
        moment = result


@given(
    data=st.data(),
    where=st.sampled_from(TRANSITIONS),
    gap=st.sampled_from([None, *DstGap]),
    overlap=st.sampled_from([None, *DstOverlap]),
)
def test_matches_brute_force_around_transitions(
    data: st.DataObject,
    where: tuple[str, datetime],
    gap: DstGap | None,
    overlap: DstOverlap | None,
) -> None:
    zone_name, instant = where
    zone = ZoneInfo(zone_name)
    spec = data.draw(specs(near_month=instant.astimezone(zone).month))
    trigger = build(spec, zone_name, dst_gap=gap, dst_overlap=overlap)
    if trigger is None:
        return
    low = int(instant.timestamp()) - 30 * 3600
    high = int(instant.timestamp()) + 30 * 3600
    expected = oracle(spec, zone, low, high, trigger.dst_gap, trigger.dst_overlap)
    # Start from a random second of the window so starts inside overlaps are covered.
    start = data.draw(st.integers(low - 1, high))
    assert _walk(trigger, start, high) == [f for f in expected if f > start]


@given(spec=specs())
def test_cadence_defaults_follow_the_hours(spec: Spec) -> None:
    trigger = build(spec, "UTC")
    if trigger is None:
        return
    cadence = len(spec.hours) == 24
    assert trigger.is_cadence is cadence
    assert trigger.dst_gap is (DstGap.SKIP if cadence else DstGap.SHIFT)
    assert trigger.dst_overlap is (DstOverlap.BOTH if cadence else DstOverlap.FIRST)


ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]


@given(
    spec=specs(),
    zone_name=st.sampled_from(ZONES),
    start=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)),
)
def test_results_increase_and_match(spec: Spec, zone_name: str, start: datetime) -> None:
    zone = ZoneInfo(zone_name)
    trigger = build(spec, zone)
    if trigger is None:
        return
    moment = start.replace(tzinfo=UTC)
    previous = moment.timestamp()
    for result in trigger.next_times(moment, 12):
        assert result.tzinfo is zone
        assert result.timestamp() > previous
        previous = result.timestamp()
        wall = result.replace(tzinfo=None)
        shifted = _offset(zone, int(result.timestamp()) - 1) != _offset(
            zone, int(result.timestamp())
        )
        # Either the wall time matches, or the fire is a gap time moved to the gap's end.
        assert spec.matches(wall) or shifted


@given(spec=specs(), zone_name=st.sampled_from(ZONES))
def test_round_trips_through_json(spec: Spec, zone_name: str) -> None:
    trigger = build(spec, zone_name, start=datetime(2024, 1, 1, tzinfo=UTC), dst_overlap="last")
    if trigger is None:
        return
    data = json.loads(json.dumps(trigger.to_dict()))
    again = trigger_from_dict(data)
    assert again == trigger
    assert repr(again) == repr(trigger)
    moment = datetime(2024, 6, 1, tzinfo=UTC)
    assert again.next_times(moment, 5) == trigger.next_times(moment, 5)


_CRON_ALPHABET = st.sampled_from([*list("0123456789*/-,?LW# "), "MON", "JAN", "@", "x", "  "])


@given(text=st.lists(_CRON_ALPHABET, max_size=30).map("".join))
def test_garbage_raises_invalid_expression_or_works(text: str) -> None:
    try:
        trigger = CronTrigger(text, timezone="UTC")
    except InvalidExpression as error:
        assert str(error)
        return
    # Whatever parsed must be usable.
    result = trigger.next_after(datetime(2024, 1, 1, tzinfo=UTC))
    assert result is None or result > datetime(2024, 1, 1, tzinfo=UTC)


@given(text=st.text(max_size=40))
def test_any_text_raises_only_invalid_expression(text: str) -> None:
    with contextlib.suppress(InvalidExpression):
        CronTrigger(text, timezone="UTC")


@pytest.mark.parametrize("seconds", [0, 1, 59])
def test_microseconds_are_strict(seconds: int) -> None:
    trigger = CronTrigger("* * * * * *", timezone="UTC")
    moment = datetime(2024, 1, 1, 0, 0, seconds, 999_999, tzinfo=UTC)
    result = trigger.next_after(moment)
    assert result == moment.replace(microsecond=0) + timedelta(seconds=1)
    exact = moment.replace(microsecond=0)
    assert trigger.next_after(exact) == exact + timedelta(seconds=1)
