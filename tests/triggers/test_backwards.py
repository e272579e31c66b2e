"""Walking fire times backwards: ``previous_before`` and ``previous_times`` on every trigger.

The one rule: the fire set is the same whichever way it is walked. For p =
``previous_before(t)``: p < t, ``next_after(p - 1 µs)`` is p, and ``next_after(p)`` is
the first fire at or after t (no fire lies in (p, t)). The DST tables below were
worked out by hand from the rules in docs/time-semantics.md (and checked against
tzdata with zoneinfo); the forward tables of test_cron_dst.py are walked back too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwork import (
    AndTrigger,
    CalendarIntervalTrigger,
    CronTrigger,
    DateTrigger,
    DstGap,
    DstOverlap,
    IntervalTrigger,
    InvalidExpression,
    OrTrigger,
    Trigger,
)

from . import test_cron_dst as dst
from .test_cron_properties import TRANSITIONS, build, oracle, specs

UTC = timezone.utc
US = timedelta(microseconds=1)
DST_ZONES = [
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Santiago",
    "Europe/Dublin",
    "UTC",
]


def instant(moment: datetime) -> int:
    """Microseconds since the epoch: compare instants, never same-zone wall times."""
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // US


def shift(moment: datetime, micros: int) -> datetime:
    """*moment* moved by whole microseconds of real time (in UTC: arithmetic on a datetime
    of a zone is wall-clock arithmetic, and drops the fold of a second-pass time)."""
    return moment.astimezone(UTC) + micros * US


def check_previous(trigger: Trigger, moment: datetime) -> datetime | None:
    """previous_before(moment), checked against next_after; returns it."""
    found = trigger.previous_before(moment)
    first_at_or_after = trigger.next_after(shift(moment, -1))
    if found is None:
        # No fire before moment: walking forward from far back reaches none either.
        far = trigger.next_after(moment - timedelta(days=3 * 366))
        assert far is None or instant(far) >= instant(moment)
        return None
    assert instant(found) < instant(moment)
    again = trigger.next_after(shift(found, -1))
    assert again is not None
    assert instant(again) == instant(found)
    following = trigger.next_after(found)
    if first_at_or_after is None:
        assert following is None
    else:
        assert following is not None
        assert instant(following) == instant(first_at_or_after)
    return found


def check_times_agree(trigger: Trigger, moment: datetime, count: int) -> list[datetime]:
    """previous_times(moment, count) equals the forward walk from just before its oldest."""
    backwards = trigger.previous_times(moment, count)
    assert len(backwards) <= count
    assert all(instant(a) > instant(b) for a, b in pairwise(backwards))
    if backwards:
        forwards: list[datetime] = []
        current: datetime | None = shift(backwards[-1], -1)
        while True:
            assert current is not None
            current = trigger.next_after(current)
            if current is None or instant(current) >= instant(moment):
                break
            forwards.append(current)
        assert [instant(t) for t in forwards] == [instant(t) for t in reversed(backwards)]
        assert [t.isoformat() for t in forwards] == [t.isoformat() for t in reversed(backwards)]
    if len(backwards) < count:
        oldest = moment if not backwards else backwards[-1]
        assert trigger.previous_before(oldest) is None
    return backwards


# -- cron: against the brute-force oracle, around real transitions ----------------------------


@given(
    data=st.data(),
    where=st.sampled_from(TRANSITIONS),
    gap=st.sampled_from([None, *DstGap]),
    overlap=st.sampled_from([None, *DstOverlap]),
)
def test_cron_previous_matches_brute_force(
    data: st.DataObject,
    where: tuple[str, datetime],
    gap: DstGap | None,
    overlap: DstOverlap | None,
) -> None:
    zone_name, moment = where
    zone = ZoneInfo(zone_name)
    spec = data.draw(specs(near_month=moment.astimezone(zone).month))
    trigger = build(spec, zone_name, dst_gap=gap, dst_overlap=overlap)
    if trigger is None:
        return
    low = int(moment.timestamp()) - 30 * 3600
    high = int(moment.timestamp()) + 30 * 3600
    expected = oracle(spec, zone, low, high, trigger.dst_gap, trigger.dst_overlap)
    # Any second of the window, and sometimes a microsecond past it.
    second = data.draw(st.integers(low, high))
    micros = data.draw(st.sampled_from([0, 0, 1, 999_999]))
    before = datetime.fromtimestamp(second, UTC) + micros * US
    older = [f for f in expected if f < before.timestamp()]
    fires = trigger.previous_times(before, 6)
    got = [int(f.timestamp()) for f in fires if f.timestamp() >= low]
    assert got == older[::-1][: len(got)]
    assert len(got) == min(6, len(older)) or len(fires) == 6
    assert all(f.tzinfo is zone for f in fires)
    check_previous(trigger, before)


@given(
    spec=specs(),
    zone_name=st.sampled_from(DST_ZONES),
    moment=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)),
    gap=st.sampled_from([None, *DstGap]),
    overlap=st.sampled_from([None, *DstOverlap]),
)
def test_cron_previous_agrees_with_next_anywhere(
    spec: Any,
    zone_name: str,
    moment: datetime,
    gap: DstGap | None,
    overlap: DstOverlap | None,
) -> None:
    trigger = build(spec, zone_name, dst_gap=gap, dst_overlap=overlap)
    if trigger is None:
        return
    before = moment.replace(tzinfo=UTC)
    check_previous(trigger, before)
    check_times_agree(trigger, before, 8)


# Expressions beyond the oracle's reach: seconds, L, W, #, years, the keyword form.
_SECONDS = ["0", "*/15", "30", "*", "5,50"]
_MINUTES = ["*", "0", "*/20", "30", "15,45"]
_HOURS = ["*", "2", "0-3", "*/6", "1,2,3", "9-17"]
_DAYS = ["*", "L", "L-2", "15W", "LW", "1,15", "?", "29", "31"]
_MONTHS = ["*", "2", "3,10,11", "*/3", "1-6"]
_WEEKDAYS = ["*", "1-5", "5#2", "0L", "6", "?", "sun"]


@st.composite
def rich_expressions(draw: st.DrawFn) -> str:
    fields = [
        draw(st.sampled_from(_MINUTES)),
        draw(st.sampled_from(_HOURS)),
        draw(st.sampled_from(_DAYS)),
        draw(st.sampled_from(_MONTHS)),
        draw(st.sampled_from(_WEEKDAYS)),
    ]
    if draw(st.booleans()):
        fields.insert(0, draw(st.sampled_from(_SECONDS)))
        if draw(st.booleans()):
            fields.append(draw(st.sampled_from(["*", "2024", "2019-2021", "2020,2030"])))
    return " ".join(fields)


@given(
    expression=rich_expressions(),
    zone_name=st.sampled_from(DST_ZONES),
    moment=st.datetimes(min_value=datetime(2017, 1, 1), max_value=datetime(2032, 1, 1)),
    gap=st.sampled_from([None, *DstGap]),
    overlap=st.sampled_from([None, *DstOverlap]),
    bounds=st.sampled_from([(None, None), (-40, None), (None, 40), (-400, 3)]),
)
def test_cron_rich_expressions_walk_back_consistently(
    expression: str,
    zone_name: str,
    moment: datetime,
    gap: DstGap | None,
    overlap: DstOverlap | None,
    bounds: tuple[int | None, int | None],
) -> None:
    before = moment.replace(tzinfo=UTC)
    start, end = (None if b is None else before + timedelta(days=b) for b in bounds)
    try:
        trigger = CronTrigger(
            expression,
            timezone=zone_name,
            dst_gap=gap,
            dst_overlap=overlap,
            start=start,
            end=end,
        )
    except InvalidExpression:
        return
    check_previous(trigger, before)
    check_times_agree(trigger, before, 6)


@given(
    data=st.data(),
    zone_name=st.sampled_from(DST_ZONES),
    moment=st.datetimes(min_value=datetime(2018, 1, 1), max_value=datetime(2030, 1, 1)),
)
def test_keyword_form_walks_back_consistently(
    data: st.DataObject, zone_name: str, moment: datetime
) -> None:
    fields = data.draw(
        st.fixed_dictionaries(
            {},
            optional={
                "week": st.sampled_from(["1-10", "*/2", "53", "20"]),
                "day_of_week": st.sampled_from(["mon-fri", "sat,sun", "fri#2", "sunL"]),
                "day": st.sampled_from(["1-10", "last", "13", "last fri"]),
                "hour": st.sampled_from([2, "1-3", "*/5"]),
                "minute": st.sampled_from([0, 30, "*/20"]),
            },
        )
    )
    try:
        trigger = CronTrigger.from_fields(timezone=zone_name, **fields)
    except (InvalidExpression, ValueError):
        return
    before = moment.replace(tzinfo=UTC)
    check_previous(trigger, before)
    check_times_agree(trigger, before, 5)


def test_walking_back_from_own_results_matches_a_fresh_question() -> None:
    # The trigger remembers the wall time of its last answer; a walk fed its own results
    # must give what the same questions asked afresh give, across both transitions.
    for zone_name, expression in [
        ("America/New_York", "*/20 * * * *"),
        ("America/New_York", "30 1,2 * * *"),
        ("Australia/Lord_Howe", "*/15 * * * *"),
        ("Pacific/Chatham", "45 * * * *"),
    ]:
        for overlap in DstOverlap:
            walker = CronTrigger(expression, timezone=zone_name, dst_overlap=overlap)
            fresh = CronTrigger(expression, timezone=zone_name, dst_overlap=overlap)
            for year_end in (datetime(2024, 12, 1, tzinfo=UTC), datetime(2020, 12, 1, tzinfo=UTC)):
                walked = walker.previous_times(year_end, 3000)
                asked = [fresh.previous_before(shift(t, 1)) for t in walked]
                assert [instant(t) for t in asked if t is not None] == [instant(t) for t in walked]
                assert [t.isoformat() for t in asked if t is not None] == [
                    t.isoformat() for t in walked
                ]


# -- cron: DST tables, walked backwards ------------------------------------------------------

# expression, zone, options, before (exclusive), the previous fires newest first.
BackRow = tuple[str, str, Mapping[str, str], str, list[str]]
BACK_ROWS: list[BackRow] = [
    # New York 2024-03-10: 02:00 EST -> 03:00 EDT.
    (
        "30 2 * * *",
        "America/New_York",
        {},
        "2024-03-11T12:00:00-04:00",
        ["2024-03-11T02:30:00-04:00", "2024-03-10T03:00:00-04:00", "2024-03-09T02:30:00-05:00"],
    ),
    (
        "30 2 * * *",
        "America/New_York",
        {},
        "2024-03-10T03:00:00-04:00",
        ["2024-03-09T02:30:00-05:00"],
    ),
    (
        "30 2 * * *",
        "America/New_York",
        {"dst_gap": "skip"},
        "2024-03-11T02:30:00-04:00",
        ["2024-03-09T02:30:00-05:00"],
    ),
    (
        "0 2,3 * * *",
        "America/New_York",
        {},
        "2024-03-11T02:30:00-04:00",
        ["2024-03-11T02:00:00-04:00", "2024-03-10T03:00:00-04:00", "2024-03-09T03:00:00-05:00"],
    ),
    (
        "*/30 * * * *",
        "America/New_York",
        {},
        "2024-03-10T03:31:00-04:00",
        [
            "2024-03-10T03:30:00-04:00",
            "2024-03-10T03:00:00-04:00",
            "2024-03-10T01:30:00-05:00",
            "2024-03-10T01:00:00-05:00",
        ],
    ),
    (
        "15 * * * *",
        "America/New_York",
        {"dst_gap": "shift"},
        "2024-03-10T03:16:00-04:00",
        ["2024-03-10T03:15:00-04:00", "2024-03-10T03:00:00-04:00", "2024-03-10T01:15:00-05:00"],
    ),
    # New York 2024-11-03: 02:00 EDT -> 01:00 EST; 01:00-01:59:59 twice.
    (
        "30 1 * * *",
        "America/New_York",
        {},
        "2024-11-04T00:00:00-05:00",
        ["2024-11-03T01:30:00-04:00", "2024-11-02T01:30:00-04:00"],
    ),
    (
        # Asked in the second pass: the first pass's 01:30 is the latest fire.
        "30 1 * * *",
        "America/New_York",
        {},
        "2024-11-03T01:10:00-05:00",
        ["2024-11-03T01:30:00-04:00", "2024-11-02T01:30:00-04:00"],
    ),
    (
        "30 1 * * *",
        "America/New_York",
        {"dst_overlap": "last"},
        "2024-11-03T01:40:00-05:00",
        ["2024-11-03T01:30:00-05:00", "2024-11-02T01:30:00-04:00"],
    ),
    (
        "30 1 * * *",
        "America/New_York",
        {"dst_overlap": "last"},
        "2024-11-03T01:20:00-05:00",
        ["2024-11-02T01:30:00-04:00"],
    ),
    (
        "30 1 * * *",
        "America/New_York",
        {"dst_overlap": "both"},
        "2024-11-03T01:20:00-05:00",
        ["2024-11-03T01:30:00-04:00", "2024-11-02T01:30:00-04:00"],
    ),
    (
        "*/20 * * * *",
        "America/New_York",
        {},
        "2024-11-03T01:10:00-05:00",
        [
            "2024-11-03T01:00:00-05:00",
            "2024-11-03T01:40:00-04:00",
            "2024-11-03T01:20:00-04:00",
            "2024-11-03T01:00:00-04:00",
            "2024-11-03T00:40:00-04:00",
        ],
    ),
    (
        "*/20 * * * *",
        "America/New_York",
        {"dst_overlap": "first"},
        "2024-11-03T02:10:00-05:00",
        ["2024-11-03T02:00:00-05:00", "2024-11-03T01:40:00-04:00", "2024-11-03T01:20:00-04:00"],
    ),
    (
        # Asked in the first pass: the repeated hour fires only in its second pass.
        "*/20 * * * *",
        "America/New_York",
        {"dst_overlap": "last"},
        "2024-11-03T01:30:00-04:00",
        ["2024-11-03T00:40:00-04:00", "2024-11-03T00:20:00-04:00"],
    ),
    # Berlin 2024-03-31: 02:00 CET -> 03:00 CEST; 2024-10-27: 03:00 CEST -> 02:00 CET.
    (
        "30 2 * * *",
        "Europe/Berlin",
        {},
        "2024-04-01T00:00:00+02:00",
        ["2024-03-31T03:00:00+02:00", "2024-03-30T02:30:00+01:00"],
    ),
    (
        "0 * * * *",
        "Europe/Berlin",
        {},
        "2024-03-31T04:00:00+02:00",
        ["2024-03-31T03:00:00+02:00", "2024-03-31T01:00:00+01:00", "2024-03-31T00:00:00+01:00"],
    ),
    (
        "30 * * * *",
        "Europe/Berlin",
        {},
        "2024-10-27T03:31:00+01:00",
        [
            "2024-10-27T03:30:00+01:00",
            "2024-10-27T02:30:00+01:00",
            "2024-10-27T02:30:00+02:00",
            "2024-10-27T01:30:00+02:00",
        ],
    ),
    (
        "30 2 * * *",
        "Europe/Berlin",
        {},
        "2024-10-27T02:40:00+01:00",
        ["2024-10-27T02:30:00+02:00", "2024-10-26T02:30:00+02:00"],
    ),
    (
        "30 2 * * *",
        "Europe/Berlin",
        {"dst_overlap": "last"},
        "2024-10-27T02:40:00+01:00",
        ["2024-10-27T02:30:00+01:00", "2024-10-26T02:30:00+02:00"],
    ),
    # Lord Howe 2019-10-06: 02:00 +10:30 -> 02:30 +11:00 (a 30-minute gap).
    (
        "15 2 * * *",
        "Australia/Lord_Howe",
        {},
        "2019-10-06T12:00:00+11:00",
        ["2019-10-06T02:30:00+11:00", "2019-10-05T02:15:00+10:30"],
    ),
    (
        "0 * * * *",
        "Australia/Lord_Howe",
        {},
        "2019-10-06T04:00:00+11:00",
        ["2019-10-06T03:00:00+11:00", "2019-10-06T01:00:00+10:30"],
    ),
    (
        "0 * * * *",
        "Australia/Lord_Howe",
        {"dst_gap": "shift"},
        "2019-10-06T04:00:00+11:00",
        ["2019-10-06T03:00:00+11:00", "2019-10-06T02:30:00+11:00", "2019-10-06T01:00:00+10:30"],
    ),
    (
        "*/15 * * * *",
        "Australia/Lord_Howe",
        {},
        "2019-10-06T02:46:00+11:00",
        ["2019-10-06T02:45:00+11:00", "2019-10-06T02:30:00+11:00", "2019-10-06T01:45:00+10:30"],
    ),
    # Lord Howe 2020-04-05: 02:00 +11:00 -> 01:30 +10:30; 01:30-01:59:59 twice.
    (
        "45 1 * * *",
        "Australia/Lord_Howe",
        {},
        "2020-04-05T12:00:00+10:30",
        ["2020-04-05T01:45:00+11:00", "2020-04-04T01:45:00+11:00"],
    ),
    (
        "45 1 * * *",
        "Australia/Lord_Howe",
        {"dst_overlap": "both"},
        "2020-04-05T12:00:00+10:30",
        ["2020-04-05T01:45:00+10:30", "2020-04-05T01:45:00+11:00"],
    ),
    (
        "*/30 * * * *",
        "Australia/Lord_Howe",
        {},
        "2020-04-05T02:01:00+10:30",
        [
            "2020-04-05T02:00:00+10:30",
            "2020-04-05T01:30:00+10:30",
            "2020-04-05T01:30:00+11:00",
            "2020-04-05T01:00:00+11:00",
        ],
    ),
]


def back_id(row: BackRow) -> str:
    expression, zone, options, before, _ = row
    extra = "".join(f" {key}={value}" for key, value in options.items())
    return f"{zone} '{expression}'{extra} before {before}"


@pytest.mark.parametrize("row", BACK_ROWS, ids=map(back_id, BACK_ROWS))
def test_dst_tables_backwards(row: BackRow) -> None:
    expression, zone, options, before, expected = row
    for text in expected:  # the table itself: real wall times at the offsets written
        assert datetime.fromisoformat(text).astimezone(ZoneInfo(zone)).isoformat() == text
    trigger = CronTrigger(expression, timezone=zone, **options)  # type: ignore[arg-type]
    moment = datetime.fromisoformat(before)
    fires = trigger.previous_times(moment, len(expected))
    assert [t.isoformat() for t in fires] == expected
    assert [instant(t) for t in fires] == [instant(datetime.fromisoformat(t)) for t in expected]
    assert all(t.tzinfo is trigger.timezone for t in fires)
    # Asked in any zone, the answer is the same instant, written in the trigger's zone.
    assert trigger.previous_before(moment.astimezone(ZoneInfo("Asia/Kolkata"))) == fires[0]
    check_times_agree(trigger, moment, len(expected) + 2)


FORWARD_ROWS = [
    (expression, zone, {}, start, expected)
    for rows in (dst.GAPS, dst.OVERLAPS, dst.SECONDS, dst.UTC_ROWS)
    for expression, zone, start, expected in rows
] + [(e, z, o, s, x) for e, z, o, s, x in dst.OVERRIDES]


@pytest.mark.parametrize("row", FORWARD_ROWS, ids=map(back_id, FORWARD_ROWS))
def test_forward_dst_tables_walked_back(row: BackRow) -> None:
    # Every forward table row, read backwards from its last fire: the others in reverse,
    # then nothing between the row's start and its first fire.
    expression, zone, options, start, expected = row
    trigger = CronTrigger(expression, timezone=zone, **options)  # type: ignore[arg-type]
    last = datetime.fromisoformat(expected[-1])
    back = trigger.previous_times(last, len(expected))
    assert [t.isoformat() for t in back[: len(expected) - 1]] == expected[-2::-1]
    before_first = trigger.previous_before(datetime.fromisoformat(expected[0]))
    if before_first is not None:
        assert instant(before_first) <= instant(datetime.fromisoformat(start))


# -- cron: bounds, moments and errors ------------------------------------------------------


def test_start_and_end_bound_the_walk() -> None:
    start = datetime(2024, 1, 10, 9, 0, 0, 1, tzinfo=UTC)  # 1 µs past a fire: not it
    end = datetime(2024, 1, 20, 9, tzinfo=UTC)
    trigger = CronTrigger("0 9 * * *", timezone="UTC", start=start, end=end)
    assert trigger.previous_before(datetime(2024, 3, 1, tzinfo=UTC)) == end
    assert trigger.previous_before(end) == end - timedelta(days=1)
    fires = trigger.previous_times(datetime(2030, 1, 1, tzinfo=UTC), 100)
    assert fires[0] == end
    assert fires[-1] == datetime(2024, 1, 11, 9, tzinfo=UTC)
    assert len(fires) == 10
    assert trigger.previous_before(datetime(2024, 1, 11, 9, tzinfo=UTC)) is None


def test_microseconds_are_strict_backwards() -> None:
    trigger = CronTrigger("* * * * * *", timezone="UTC")
    exact = datetime(2024, 1, 1, 0, 0, 10, tzinfo=UTC)
    assert trigger.previous_before(exact) == exact - timedelta(seconds=1)
    assert trigger.previous_before(exact + US) == exact
    assert trigger.previous_before(exact + timedelta(microseconds=999_999)) == exact


def test_no_fire_before_a_restricted_year_range() -> None:
    trigger = CronTrigger("0 0 0 1 1 * 2030", timezone="Europe/Berlin")
    assert trigger.previous_before(datetime(2030, 1, 1, tzinfo=UTC)) is not None  # 00:00+01:00
    assert trigger.previous_before(datetime(2029, 12, 31, 23, tzinfo=UTC)) is None
    assert trigger.previous_times(datetime(2100, 1, 1, tzinfo=UTC), 3) == [
        datetime(2030, 1, 1, tzinfo=ZoneInfo("Europe/Berlin"))
    ]


def test_the_walk_stops_at_the_year_1() -> None:
    trigger = CronTrigger("0 0 29 2 *", timezone="UTC")
    fires = trigger.previous_times(datetime(13, 1, 1, tzinfo=UTC), 10)
    assert [t.year for t in fires] == [12, 8, 4]


ALL_TRIGGERS: list[Trigger] = [
    CronTrigger("0 9 * * *", timezone="UTC"),
    IntervalTrigger(hours=1, start=datetime(2024, 1, 1, tzinfo=UTC)),
    CalendarIntervalTrigger(days=1, start=datetime(2024, 1, 1, tzinfo=UTC), timezone="UTC"),
    DateTrigger(datetime(2024, 1, 1, tzinfo=UTC)),
    AndTrigger([CronTrigger("0 * * * *", timezone="UTC")]),
    OrTrigger([CronTrigger("0 * * * *", timezone="UTC")]),
]


@pytest.mark.parametrize("trigger", ALL_TRIGGERS, ids=lambda t: type(t).__name__)
def test_bad_arguments_are_refused_as_next_after_refuses_them(trigger: Trigger) -> None:
    naive = datetime(2024, 6, 1)
    with pytest.raises(TypeError, match="moment must be an aware datetime"):
        trigger.previous_before(naive)
    with pytest.raises(TypeError, match="aware datetime"):
        trigger.previous_times(naive, 2)
    moment = datetime(2024, 6, 1, tzinfo=UTC)
    for count in (-1, 1.5, "3", None):
        with pytest.raises(ValueError, match="count must be a non-negative int"):
            trigger.previous_times(moment, count)  # type: ignore[arg-type]
    assert trigger.previous_times(moment, 0) == []
    assert len(trigger.previous_times(moment, 1)) == 1


# -- the other triggers -----------------------------------------------------------------------


@given(
    seconds=st.integers(1, 10 * 86400),
    micros=st.integers(0, 999_999),
    offset=st.integers(-40 * 86400, 40 * 86400),
    end_after=st.one_of(st.none(), st.integers(0, 80 * 86400)),
    zone=st.sampled_from(DST_ZONES),
)
def test_interval_previous(
    seconds: int, micros: int, offset: int, end_after: int | None, zone: str
) -> None:
    start = datetime(2024, 3, 1, 0, 0, 0, 123, tzinfo=ZoneInfo("Europe/Berlin"))
    end = None if end_after is None else start + timedelta(seconds=end_after)
    trigger = IntervalTrigger(seconds=seconds + micros / 1e6, start=start, end=end, timezone=zone)
    moment = start + timedelta(seconds=offset)
    found = check_previous(trigger, moment)
    if found is not None:
        assert found.tzinfo is trigger.timezone or found is trigger.start
    check_times_agree(trigger, moment, 4)


@given(
    months=st.integers(0, 14),
    days=st.integers(0, 9),
    hour=st.integers(0, 3),
    minute=st.sampled_from([0, 15, 30, 45]),
    zone=st.sampled_from(DST_ZONES),
    missing=st.sampled_from(["skip", "clamp"]),
    gap=st.sampled_from([None, *DstGap]),
    overlap=st.sampled_from([None, *DstOverlap]),
    anchor_day=st.integers(0, 400),
    offset_days=st.integers(-30, 900),
    end_days=st.one_of(st.none(), st.integers(0, 700)),
)
def test_calendar_interval_previous(
    months: int,
    days: int,
    hour: int,
    minute: int,
    zone: str,
    missing: str,
    gap: DstGap | None,
    overlap: DstOverlap | None,
    anchor_day: int,
    offset_days: int,
    end_days: int | None,
) -> None:
    if not (months or days):
        days = 1
    start = datetime(2019, 1, 1, 1, 20, tzinfo=UTC) + timedelta(days=anchor_day)
    end = None if end_days is None else start + timedelta(days=end_days)
    trigger = CalendarIntervalTrigger(
        months=months,
        days=days,
        hour=hour,
        minute=minute,
        start=start,
        end=end,
        timezone=zone,
        on_missing_day=missing,
        dst_gap=gap,
        dst_overlap=overlap,
    )
    moment = start + timedelta(days=offset_days, seconds=offset_days * 3607)
    check_previous(trigger, moment)
    check_times_agree(trigger, moment, 5)


def test_calendar_interval_dst_backwards() -> None:
    # Daily 02:30 in New York: on 2024-03-10 it fires at 03:00 (the gap's end).
    trigger = CalendarIntervalTrigger(
        days=1,
        hour=2,
        minute=30,
        start=datetime(2024, 3, 1, tzinfo=ZoneInfo("America/New_York")),
        timezone="America/New_York",
    )
    fires = trigger.previous_times(datetime.fromisoformat("2024-03-11T12:00:00-04:00"), 3)
    assert [t.isoformat() for t in fires] == [
        "2024-03-11T02:30:00-04:00",
        "2024-03-10T03:00:00-04:00",
        "2024-03-09T02:30:00-05:00",
    ]
    assert trigger.previous_before(datetime.fromisoformat("2024-03-01T02:30:00-05:00")) is None


def test_date_trigger_previous() -> None:
    run_at = datetime(2024, 5, 1, 9, tzinfo=ZoneInfo("Europe/Paris"))
    trigger = DateTrigger(run_at)
    assert trigger.previous_before(run_at) is None
    assert trigger.previous_before(run_at + US) is run_at
    assert trigger.previous_times(run_at + timedelta(days=3), 5) == [run_at]
    assert DateTrigger(run_at, timezone="UTC").previous_before(run_at + US) == run_at
    assert DateTrigger(run_at, timezone="UTC").previous_before(run_at + US).tzinfo is ZoneInfo(
        "UTC"
    )


@given(
    pair=st.sampled_from(
        [
            ("*/10 * * * *", "*/15 * * * *"),
            ("0 * * * *", "0 */2 * * *"),
            ("15,45 2 * * *", "*/5 1-3 * * *"),
            ("0 0 * * 1", "0 0 1 * *"),
        ]
    ),
    interval_minutes=st.sampled_from([30, 45, 60, 90]),
    zone=st.sampled_from(DST_ZONES),
    moment=st.datetimes(min_value=datetime(2019, 1, 1), max_value=datetime(2026, 1, 1)),
)
def test_and_or_previous(
    pair: tuple[str, str], interval_minutes: int, zone: str, moment: datetime
) -> None:
    start = datetime(2018, 1, 1, tzinfo=UTC)
    children: list[Trigger] = [
        CronTrigger(pair[0], timezone=zone),
        CronTrigger(pair[1], timezone=zone),
        IntervalTrigger(minutes=interval_minutes, start=start),
    ]
    before = moment.replace(tzinfo=UTC)
    either = OrTrigger(children)
    check_previous(either, before)
    check_times_agree(either, before, 6)
    both = AndTrigger(children[:2], max_iterations=100_000)
    check_previous(both, before)
    check_times_agree(both, before, 3)


def test_or_prefers_the_first_trigger_at_a_shared_instant() -> None:
    zone = ZoneInfo("Europe/Berlin")
    first = CronTrigger("0 * * * *", timezone=zone)
    second = IntervalTrigger(hours=1, start=datetime(2024, 1, 1, tzinfo=UTC), timezone="UTC")
    moment = datetime(2024, 6, 1, 12, 30, tzinfo=UTC)
    assert OrTrigger([first, second]).previous_before(moment).tzinfo is zone  # type: ignore[union-attr]
    assert OrTrigger([second, first]).previous_before(moment).tzinfo is ZoneInfo("UTC")  # type: ignore[union-attr]


def test_and_gives_up_like_next_after() -> None:
    from tickwork import TriggerSearchExhausted

    never = AndTrigger(
        [CronTrigger("0 0 31 * *", timezone="UTC"), CronTrigger("0 0 * 2 *", timezone="UTC")],
        max_iterations=20,
    )
    with pytest.raises(TriggerSearchExhausted, match="before 2024-06-01"):
        never.previous_before(datetime(2024, 6, 1, tzinfo=UTC))


# -- the generic search, for triggers that only define next_after ----------------------------


class OnlyNext(Trigger):
    """A third-party trigger: next_after and serialization, nothing else."""

    type_name = "test-only-next"
    __slots__ = ("_inner",)

    def __init__(self, inner: Trigger) -> None:
        object.__setattr__(self, "_inner", inner)

    def next_after(self, moment: datetime) -> datetime | None:
        return self._inner.next_after(moment)  # type: ignore[attr-defined, no-any-return]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OnlyNext:
        raise NotImplementedError


@given(
    inner=st.sampled_from(
        [
            CronTrigger("*/20 * * * *", timezone="America/New_York"),
            CronTrigger("30 2 * * *", timezone="Europe/Berlin"),
            CronTrigger("0 0 29 2 *", timezone="UTC", start=datetime(2000, 1, 1, tzinfo=UTC)),
            IntervalTrigger(
                seconds=0.25,
                start=datetime(2024, 1, 1, tzinfo=UTC),
                end=datetime(2024, 3, 1, tzinfo=UTC),
            ),
            DateTrigger(datetime(2024, 2, 2, 2, 2, 2, 2, tzinfo=UTC)),
        ]
    ),
    moment=st.datetimes(min_value=datetime(2023, 10, 1), max_value=datetime(2025, 1, 1)),
)
def test_generic_previous_before_equals_the_direct_answer(inner: Trigger, moment: datetime) -> None:
    before = moment.replace(tzinfo=UTC)
    generic = OnlyNext(inner)
    expected = inner.previous_before(before)
    found = generic.previous_before(before)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert instant(found) == instant(expected)
        assert found.isoformat() == expected.isoformat()
    assert [instant(t) for t in generic.previous_times(before, 3)] == [
        instant(t) for t in inner.previous_times(before, 3)
    ]


def test_generic_search_counts_its_calls() -> None:
    calls = []

    class Counted(OnlyNext):
        type_name = "test-counted"
        __slots__ = ()

        def next_after(self, moment: datetime) -> datetime | None:
            calls.append(moment)
            return super().next_after(moment)

    daily = Counted(CronTrigger("0 0 * * *", timezone="UTC"))
    assert daily.previous_before(datetime(2024, 6, 1, 12, tzinfo=UTC)) == datetime(
        2024, 6, 1, tzinfo=UTC
    )
    assert len(calls) < 130
    calls.clear()
    never_before = Counted(DateTrigger(datetime(2024, 1, 1, tzinfo=UTC)))
    assert never_before.previous_before(datetime(2024, 1, 1, tzinfo=UTC)) is None
    assert len(calls) < 70
