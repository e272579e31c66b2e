"""CalendarIntervalTrigger: wall-clock periods, month arithmetic from the anchor, DST."""

from __future__ import annotations

import calendar
import json
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from hypothesis import event, given
from hypothesis import strategies as st

from tickwork import CalendarIntervalTrigger, DstGap, DstOverlap, MissingDay, trigger_from_dict

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def fires(trigger: CalendarIntervalTrigger, count: int) -> list[str]:
    """The first *count* fires from the trigger's start, as wall strings with offsets."""
    moment = trigger.start - timedelta(microseconds=1)
    return [str(fire) for fire in trigger.next_times(moment, count)]


def until(trigger: CalendarIntervalTrigger, last: datetime) -> list[str]:
    """Every fire from the trigger's start up to *last* (inclusive), as wall strings."""
    result = []
    for fire in trigger.iter_after(trigger.start - timedelta(microseconds=1)):
        if fire > last:
            break
        result.append(str(fire))
    return result


# (zone, kwargs, start date, expected first fires)
DST_CASES = [
    pytest.param(
        BERLIN,
        {"days": 1, "hour": 12},
        date(2024, 3, 30),
        ["2024-03-30 12:00:00+01:00", "2024-03-31 12:00:00+02:00", "2024-04-01 12:00:00+02:00"],
        id="berlin-spring-forward-stays-at-noon",
    ),
    pytest.param(
        BERLIN,
        {"days": 1, "hour": 12},
        date(2024, 10, 26),
        ["2024-10-26 12:00:00+02:00", "2024-10-27 12:00:00+01:00", "2024-10-28 12:00:00+01:00"],
        id="berlin-fall-back-stays-at-noon",
    ),
    pytest.param(
        NEW_YORK,
        {"days": 1, "hour": 2, "minute": 30},
        date(2024, 3, 9),
        ["2024-03-09 02:30:00-05:00", "2024-03-10 03:00:00-04:00", "2024-03-11 02:30:00-04:00"],
        id="new-york-gap-shifts-to-3am",
    ),
    pytest.param(
        NEW_YORK,
        {"days": 1, "hour": 2, "minute": 30, "dst_gap": "skip"},
        date(2024, 3, 9),
        ["2024-03-09 02:30:00-05:00", "2024-03-11 02:30:00-04:00"],
        id="new-york-gap-skip",
    ),
    pytest.param(
        NEW_YORK,
        {"days": 1, "hour": 1, "minute": 30},
        date(2024, 11, 2),
        ["2024-11-02 01:30:00-04:00", "2024-11-03 01:30:00-04:00", "2024-11-04 01:30:00-05:00"],
        id="new-york-overlap-fires-once-at-first-instant",
    ),
    pytest.param(
        NEW_YORK,
        {"days": 1, "hour": 1, "minute": 30, "dst_overlap": DstOverlap.LAST},
        date(2024, 11, 2),
        ["2024-11-02 01:30:00-04:00", "2024-11-03 01:30:00-05:00", "2024-11-04 01:30:00-05:00"],
        id="new-york-overlap-last",
    ),
    pytest.param(
        NEW_YORK,
        {"days": 1, "hour": 1, "minute": 30, "dst_overlap": "both"},
        date(2024, 11, 2),
        [
            "2024-11-02 01:30:00-04:00",
            "2024-11-03 01:30:00-04:00",
            "2024-11-03 01:30:00-05:00",
            "2024-11-04 01:30:00-05:00",
        ],
        id="new-york-overlap-both",
    ),
    pytest.param(
        BERLIN,
        {"weeks": 1, "hour": 2, "minute": 15},
        date(2024, 3, 24),
        ["2024-03-24 02:15:00+01:00", "2024-03-31 03:00:00+02:00", "2024-04-07 02:15:00+02:00"],
        id="berlin-weekly-in-the-gap",
    ),
]


@pytest.mark.parametrize(("zone", "kwargs", "start_date", "expected"), DST_CASES)
def test_wall_time_across_dst(
    zone: ZoneInfo, kwargs: dict[str, Any], start_date: date, expected: list[str]
) -> None:
    start = datetime.combine(start_date, datetime.min.time(), tzinfo=zone)
    trigger = CalendarIntervalTrigger(**kwargs, start=start, timezone=zone)
    assert fires(trigger, len(expected)) == expected


def test_start_in_second_pass_of_overlap_does_not_refire() -> None:
    start = datetime(2024, 11, 1, tzinfo=NEW_YORK)
    trigger = CalendarIntervalTrigger(days=1, hour=1, minute=30, start=start, timezone=NEW_YORK)
    moment = datetime(2024, 11, 3, 1, 10, fold=1, tzinfo=NEW_YORK)  # 01:10 EST, second pass
    assert str(trigger.next_after(moment)) == "2024-11-04 01:30:00-05:00"


MONTHLY_31 = {
    MissingDay.SKIP: [
        "2024-01-31",
        "2024-03-31",
        "2024-05-31",
        "2024-07-31",
        "2024-08-31",
        "2024-10-31",
        "2024-12-31",
    ],
    MissingDay.CLAMP: [
        "2024-01-31",
        "2024-02-29",
        "2024-03-31",
        "2024-04-30",
        "2024-05-31",
        "2024-06-30",
        "2024-07-31",
        "2024-08-31",
        "2024-09-30",
        "2024-10-31",
        "2024-11-30",
        "2024-12-31",
    ],
}


@pytest.mark.parametrize("policy", list(MissingDay))
def test_monthly_on_the_31st_for_a_whole_year(policy: MissingDay) -> None:
    trigger = CalendarIntervalTrigger(
        months=1,
        hour=9,
        start=datetime(2024, 1, 31, tzinfo=UTC),
        timezone="UTC",
        on_missing_day=policy,
    )
    got = until(trigger, datetime(2024, 12, 31, 23, tzinfo=UTC))
    assert got == [f"{day} 09:00:00+00:00" for day in MONTHLY_31[policy]]


@pytest.mark.parametrize(
    ("policy", "start", "expected"),
    [
        pytest.param(
            "skip",
            date(2024, 2, 29),
            ["2024-02-29", "2028-02-29", "2032-02-29"],
            id="skip-only-leap-years",
        ),
        pytest.param(
            "clamp",
            date(2024, 2, 29),
            ["2024-02-29", "2025-02-28", "2026-02-28", "2027-02-28", "2028-02-29"],
            id="clamp-to-the-28th",
        ),
        pytest.param(
            "skip",
            date(2096, 2, 29),
            ["2096-02-29", "2104-02-29"],
            id="skip-2100-is-not-a-leap-year",
        ),
    ],
)
def test_yearly_on_february_29(policy: str, start: date, expected: list[str]) -> None:
    trigger = CalendarIntervalTrigger(
        years=1,
        start=datetime.combine(start, datetime.min.time(), tzinfo=UTC),
        timezone="UTC",
        on_missing_day=policy,
    )
    assert fires(trigger, len(expected)) == [f"{day} 00:00:00+00:00" for day in expected]


def test_months_and_days_combine_from_the_anchor() -> None:
    # k-th fire: anchor + k months, then + k days (clamped months first).
    trigger = CalendarIntervalTrigger(
        months=1,
        days=1,
        hour=6,
        start=datetime(2024, 1, 30, tzinfo=UTC),
        timezone="UTC",
        on_missing_day="clamp",
    )
    assert fires(trigger, 4) == [
        "2024-01-30 06:00:00+00:00",
        "2024-03-01 06:00:00+00:00",  # Feb 29 (clamped) + 1 day
        "2024-04-01 06:00:00+00:00",  # Mar 30 + 2 days
        "2024-05-03 06:00:00+00:00",  # Apr 30 + 3 days
    ]


def test_start_is_inclusive_and_earlier_fires_are_excluded() -> None:
    at_nine = datetime(2024, 5, 1, 9, tzinfo=UTC)
    trigger = CalendarIntervalTrigger(days=1, hour=9, start=at_nine, timezone="UTC")
    assert trigger.next_after(at_nine - timedelta(days=30)) == at_nine
    later = CalendarIntervalTrigger(
        days=1, hour=9, start=at_nine + timedelta(seconds=1), timezone="UTC"
    )
    assert later.next_after(at_nine - timedelta(days=30)) == at_nine + timedelta(days=1)


def test_anchor_is_the_start_date_in_the_trigger_zone() -> None:
    # 23:00 UTC on May 1 is already May 2 in Berlin: the anchor is May 2.
    start = datetime(2024, 5, 1, 23, tzinfo=UTC)
    trigger = CalendarIntervalTrigger(months=1, hour=12, start=start, timezone=BERLIN)
    assert fires(trigger, 2) == ["2024-05-02 12:00:00+02:00", "2024-06-02 12:00:00+02:00"]


def test_end_is_inclusive() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = datetime(2024, 1, 3, 12, tzinfo=UTC)
    trigger = CalendarIntervalTrigger(days=1, hour=12, start=start, end=end, timezone="UTC")
    assert fires(trigger, 10) == [
        "2024-01-01 12:00:00+00:00",
        "2024-01-02 12:00:00+00:00",
        "2024-01-03 12:00:00+00:00",
    ]
    assert trigger.next_after(end) is None


@pytest.mark.parametrize(
    ("kwargs", "moment", "expected"),
    [
        ({"days": 1}, datetime(9000, 6, 15, 13, tzinfo=UTC), "9000-06-16 00:00:00+00:00"),
        ({"days": 3}, datetime(2500, 1, 1, tzinfo=UTC), "2500-01-02 00:00:00+00:00"),
        ({"months": 1}, datetime(2600, 2, 10, tzinfo=UTC), "2600-02-28 00:00:00+00:00"),
        ({"years": 7}, datetime(9990, 1, 1, tzinfo=UTC), "9994-02-28 00:00:00+00:00"),
        ({"months": 5, "weeks": 2}, datetime(2001, 1, 1, tzinfo=UTC), "2001-01-25 00:00:00+00:00"),
    ],
)
def test_far_away_moments(kwargs: dict[str, Any], moment: datetime, expected: str) -> None:
    start = datetime(2000, 2, 28, tzinfo=UTC)
    trigger = CalendarIntervalTrigger(**kwargs, start=start, timezone="UTC", on_missing_day="clamp")
    assert str(trigger.next_after(moment)) == expected


def oracle(
    trigger: CalendarIntervalTrigger,
    period: tuple[int, int, int, int],
    moment: datetime,
    count: int,
) -> list[datetime]:
    """The first *count* fires after *moment* of a UTC trigger, by walking every period."""
    years, months, weeks, days = period
    anchor = trigger.start.date()
    clock = (trigger.to_dict()["hour"], trigger.to_dict()["minute"], trigger.to_dict()["second"])
    found: list[datetime] = []
    k = 0
    while len(found) < count:
        year, month = divmod(anchor.year * 12 + anchor.month - 1 + k * (years * 12 + months), 12)
        last = calendar.monthrange(year, month + 1)[1]
        if anchor.day <= last or trigger.on_missing_day is MissingDay.CLAMP:
            day = date(year, month + 1, min(anchor.day, last)) + timedelta(k * (weeks * 7 + days))
            fire = datetime(day.year, day.month, day.day, *clock, tzinfo=UTC)
            if fire > moment and fire >= trigger.start:
                found.append(fire)
        k += 1
    return found


@given(
    start=st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
    period=st.tuples(
        st.integers(0, 5), st.integers(0, 25), st.integers(0, 3), st.integers(0, 45)
    ).filter(any),
    clock=st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)),
    offset=st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(days=3000)),
    missing=st.sampled_from(list(MissingDay)),
)
def test_matches_walking_every_period(
    start: datetime,
    period: tuple[int, int, int, int],
    clock: tuple[int, int, int],
    offset: timedelta,
    missing: MissingDay,
) -> None:
    years, months, weeks, days = period
    hour, minute, second = clock
    trigger = CalendarIntervalTrigger(
        years=years,
        months=months,
        weeks=weeks,
        days=days,
        hour=hour,
        minute=minute,
        second=second,
        start=start,
        timezone="UTC",
        on_missing_day=missing,
    )
    moment = start + offset
    assert trigger.next_times(moment, 4) == oracle(trigger, period, moment, 4)


def test_no_fire_past_the_year_9999() -> None:
    start = datetime(9999, 12, 1, tzinfo=UTC)
    trigger = CalendarIntervalTrigger(months=1, start=start, timezone="UTC")
    assert trigger.next_after(start) is None


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, ValueError, "years=0, months=0, weeks=0, days=0"),
        ({"months": -1}, ValueError, "months must not be negative, got -1"),
        ({"days": 1.5}, TypeError, "1.5"),
        ({"years": True}, TypeError, "True"),
        ({"days": 1, "hour": 24}, ValueError, "hour must be between 0 and 23, got 24"),
        ({"days": 1, "minute": 60}, ValueError, "minute .* got 60"),
        ({"days": 1, "second": -1}, ValueError, "second .* got -1"),
        ({"days": 1, "on_missing_day": "never"}, ValueError, "'never'"),
        ({"days": 1, "dst_gap": "later"}, ValueError, "'later'"),
        ({"days": 1, "dst_overlap": "twice"}, ValueError, "'twice'"),
        ({"days": 1, "timezone": "Mars/Olympus"}, LookupError, "Mars/Olympus"),
    ],
)
def test_bad_arguments_are_refused(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    kwargs.setdefault("timezone", "UTC")
    with pytest.raises(error, match=message):
        CalendarIntervalTrigger(**kwargs, start=datetime(2024, 1, 1, tzinfo=UTC))


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2024, 1, 1)
    aware = naive.replace(tzinfo=UTC)
    with pytest.raises(TypeError, match="start"):
        CalendarIntervalTrigger(days=1, start=naive, timezone="UTC")
    with pytest.raises(TypeError, match="end"):
        CalendarIntervalTrigger(days=1, start=aware, end=naive, timezone="UTC")
    trigger = CalendarIntervalTrigger(days=1, start=aware, timezone="UTC")
    with pytest.raises(TypeError, match="moment"):
        trigger.next_after(naive)


def test_end_before_start_is_refused() -> None:
    start = datetime(2024, 1, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="before start"):
        CalendarIntervalTrigger(days=1, start=start, end=start - timedelta(1), timezone="UTC")


def test_start_defaults_to_the_moment_of_construction() -> None:
    with freeze_time("2024-05-01 22:30:00"):
        trigger = CalendarIntervalTrigger(days=1, hour=23, timezone=BERLIN)
    # 22:30 UTC is 00:30 on May 2 in Berlin: the anchor is May 2, 23:00 local.
    assert trigger.start == datetime(2024, 5, 1, 22, 30, tzinfo=UTC)
    assert fires(trigger, 1) == ["2024-05-02 23:00:00+02:00"]


def test_policies_and_defaults_are_exposed() -> None:
    trigger = CalendarIntervalTrigger(days=1, start=datetime(2024, 1, 1, tzinfo=UTC), timezone=UTC)
    assert trigger.dst_gap is DstGap.SHIFT
    assert trigger.dst_overlap is DstOverlap.FIRST
    assert trigger.on_missing_day is MissingDay.SKIP
    assert trigger.to_dict()["dst_gap"] is None


@pytest.mark.parametrize(
    "trigger",
    [
        CalendarIntervalTrigger(
            months=2, hour=9, start=datetime(2024, 1, 31, tzinfo=BERLIN), timezone=BERLIN
        ),
        CalendarIntervalTrigger(
            years=1,
            weeks=1,
            days=2,
            hour=2,
            minute=30,
            second=15,
            start=datetime(2024, 2, 29, 5, tzinfo=UTC),
            end=datetime(2030, 1, 1, tzinfo=UTC),
            timezone="America/New_York",
            on_missing_day="clamp",
            dst_gap="skip",
            dst_overlap="both",
        ),
    ],
)
def test_round_trip_through_json(trigger: CalendarIntervalTrigger) -> None:
    data = json.loads(json.dumps(trigger.to_dict()))
    assert data["type"] == "calendar_interval"
    rebuilt = trigger_from_dict(data)
    assert rebuilt == trigger
    assert hash(rebuilt) == hash(trigger)
    moment = datetime(2024, 6, 1, tzinfo=UTC)
    assert rebuilt.next_times(moment, 5) == trigger.next_times(moment, 5)


def test_repr_is_readable() -> None:
    trigger = CalendarIntervalTrigger(
        months=1,
        hour=9,
        start=datetime(2024, 1, 31, tzinfo=UTC),
        timezone="Europe/Berlin",
        on_missing_day="clamp",
    )
    assert repr(trigger) == (
        "CalendarIntervalTrigger(months=1, hour=9, start='2024-01-31T00:00:00+00:00', "
        "timezone='Europe/Berlin', on_missing_day='clamp')"
    )


ZONES = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])


@given(
    zone=ZONES,
    start=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
    period=st.tuples(
        st.integers(0, 2), st.integers(0, 14), st.integers(0, 3), st.integers(0, 40)
    ).filter(any),
    clock=st.tuples(st.integers(0, 23), st.sampled_from([0, 15, 30, 59]), st.integers(0, 59)),
    offset=st.one_of(
        st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(days=3000)),
        st.timedeltas(min_value=timedelta(hours=-6), max_value=timedelta(days=3)),
    ),
    missing=st.sampled_from(list(MissingDay)),
    gap=st.sampled_from(list(DstGap)),
    overlap=st.sampled_from(list(DstOverlap)),
)
def test_results_increase_and_sit_on_the_wall_time(
    zone: str,
    start: datetime,
    period: tuple[int, int, int, int],
    clock: tuple[int, int, int],
    offset: timedelta,
    missing: MissingDay,
    gap: DstGap,
    overlap: DstOverlap,
) -> None:
    years, months, weeks, days = period
    hour, minute, second = clock
    trigger = CalendarIntervalTrigger(
        years=years,
        months=months,
        weeks=weeks,
        days=days,
        hour=hour,
        minute=minute,
        second=second,
        start=start,
        timezone=zone,
        on_missing_day=missing,
        dst_gap=gap,
        dst_overlap=overlap,
    )
    tz = ZoneInfo(zone)
    moment = start + offset
    previous = moment.astimezone(UTC)
    for fire in trigger.next_times(moment, 6):
        instant = fire.astimezone(UTC)
        assert instant > previous
        assert instant >= start
        previous = instant
        local = instant.astimezone(tz)
        if (local.hour, local.minute, local.second) != (hour, minute, second):
            # Only a spring-forward gap may move a fire: the wall time must not exist that day.
            event("moved by a DST gap")
            assert gap is DstGap.SHIFT
            intended = datetime.combine(local.date(), datetime.min.time(), tzinfo=tz).replace(
                hour=hour, minute=minute, second=second
            )
            assert intended.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != (
                intended.replace(tzinfo=None)
            )


# (zone, the local date of a DST transition in it)
TRANSITION_DAYS = [
    ("America/New_York", date(2024, 3, 10)),
    ("America/New_York", date(2024, 11, 3)),
    ("Europe/Berlin", date(2024, 3, 31)),
    ("Europe/Berlin", date(2024, 10, 27)),
    ("Australia/Lord_Howe", date(2024, 4, 7)),
    ("Australia/Lord_Howe", date(2024, 10, 6)),
]


def wall_exists(zone: ZoneInfo, wall: datetime) -> int:
    """How many instants the naive *wall* time has in *zone* (0, 1 or 2)."""
    instants = {wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)}
    return sum(1 for instant in instants if instant.astimezone(zone).replace(tzinfo=None) == wall)


@given(
    transition=st.sampled_from(TRANSITION_DAYS),
    days_before=st.integers(0, 3),
    clock=st.tuples(st.integers(0, 3), st.sampled_from([0, 15, 30, 45, 59])),
    gap=st.sampled_from(list(DstGap)),
    overlap=st.sampled_from(list(DstOverlap)),
)
def test_daily_schedule_fires_per_day_as_the_dst_policy_says(
    transition: tuple[str, date],
    days_before: int,
    clock: tuple[int, int],
    gap: DstGap,
    overlap: DstOverlap,
) -> None:
    zone_name, day = transition
    zone = ZoneInfo(zone_name)
    hour, minute = clock
    first = day - timedelta(days_before)
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone)
    trigger = CalendarIntervalTrigger(
        days=1,
        hour=hour,
        minute=minute,
        start=start,
        timezone=zone,
        dst_gap=gap,
        dst_overlap=overlap,
    )
    fired = trigger.next_times(start - timedelta(microseconds=1), 12)
    instants = [fire.astimezone(UTC) for fire in fired]
    assert instants == sorted(set(instants))
    for offset in range(days_before + 3):
        current = first + timedelta(offset)
        wall = datetime(current.year, current.month, current.day, hour, minute)
        count = wall_exists(zone, wall)
        on_day = [fire for fire in fired if fire.astimezone(zone).date() == current]
        if count == 0:
            event("gap")
            assert len(on_day) == (1 if gap is DstGap.SHIFT else 0)
            for fire in on_day:
                assert fire.astimezone(zone).replace(tzinfo=None) > wall
        elif count == 2:
            event("overlap")
            assert len(on_day) == (2 if overlap is DstOverlap.BOTH else 1)
            folds = [fire.astimezone(zone).fold for fire in on_day]
            expected = {DstOverlap.FIRST: [0], DstOverlap.LAST: [1], DstOverlap.BOTH: [0, 1]}
            assert folds == expected[overlap]
        else:
            assert [fire.astimezone(zone).replace(tzinfo=None) for fire in on_day] == [wall]
