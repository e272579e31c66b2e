"""IntervalTrigger: elapsed-time intervals, exact microsecond arithmetic, O(1) lookups."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from hypothesis import given
from hypothesis import strategies as st

from tickwork import IntervalTrigger, trigger_from_dict

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def wall(value: datetime) -> str:
    """Wall time with its offset, e.g. '2024-03-31 13:00:00+02:00'."""
    return str(value)


# (zone, interval kwargs, start (wall, in zone), expected successive fires as wall strings)
DST_CASES = [
    pytest.param(
        BERLIN,
        {"days": 1},
        datetime(2024, 3, 30, 12),
        ["2024-03-30 12:00:00+01:00", "2024-03-31 13:00:00+02:00", "2024-04-01 13:00:00+02:00"],
        id="berlin-spring-forward-days-1-moves-to-13h",
    ),
    pytest.param(
        BERLIN,
        {"days": 1},
        datetime(2024, 10, 26, 12),
        ["2024-10-26 12:00:00+02:00", "2024-10-27 11:00:00+01:00", "2024-10-28 11:00:00+01:00"],
        id="berlin-fall-back-days-1-moves-to-11h",
    ),
    pytest.param(
        NEW_YORK,
        {"hours": 1},
        datetime(2024, 11, 3, 0),
        [
            "2024-11-03 00:00:00-04:00",
            "2024-11-03 01:00:00-04:00",
            "2024-11-03 01:00:00-05:00",
            "2024-11-03 02:00:00-05:00",
        ],
        id="new-york-fall-back-hourly-fires-in-both-passes",
    ),
    pytest.param(
        NEW_YORK,
        {"hours": 1},
        datetime(2024, 3, 10, 0),
        ["2024-03-10 00:00:00-05:00", "2024-03-10 01:00:00-05:00", "2024-03-10 03:00:00-04:00"],
        id="new-york-spring-forward-hourly-has-no-2am",
    ),
]


@pytest.mark.parametrize(("zone", "interval", "start_wall", "expected"), DST_CASES)
def test_elapsed_time_across_dst(
    zone: ZoneInfo, interval: dict[str, Any], start_wall: datetime, expected: list[str]
) -> None:
    start = start_wall.replace(tzinfo=zone)
    trigger = IntervalTrigger(**interval, start=start, timezone=zone)
    fires = trigger.next_times(start - timedelta(microseconds=1), len(expected))
    assert [wall(fire) for fire in fires] == expected


def test_results_are_in_the_trigger_timezone() -> None:
    start = datetime(2024, 1, 1, 12, tzinfo=UTC)
    trigger = IntervalTrigger(hours=6, start=start, timezone="Asia/Tokyo")
    fire = trigger.next_after(start)
    assert fire is not None
    assert fire.tzinfo == ZoneInfo("Asia/Tokyo")
    assert wall(fire) == "2024-01-02 03:00:00+09:00"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"weeks": 1}, timedelta(weeks=1)),
        ({"days": 1, "hours": 2, "minutes": 3, "seconds": 4}, timedelta(1, 7384)),
        ({"seconds": 0.1}, timedelta(microseconds=100_000)),
        ({"hours": 1.5}, timedelta(minutes=90)),
        ({"hours": 1, "minutes": -15}, timedelta(minutes=45)),
        ({"seconds": 0.000_001}, timedelta(microseconds=1)),
    ],
)
def test_interval_total(kwargs: dict[str, Any], expected: timedelta) -> None:
    trigger = IntervalTrigger(**kwargs, start=datetime(2024, 1, 1, tzinfo=UTC), timezone="UTC")
    assert trigger.interval == expected


def test_sub_second_interval_does_not_drift_over_10000_steps() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    trigger = IntervalTrigger(seconds=0.1, start=start, timezone="UTC")
    fires = trigger.next_times(start - timedelta(microseconds=1), 10_001)
    assert fires[-1] == start + timedelta(seconds=1000)
    assert all(fire == start + timedelta(microseconds=100_000 * k) for k, fire in enumerate(fires))


def test_start_is_inclusive_and_next_after_start_is_the_second_fire() -> None:
    start = datetime(2024, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC)
    trigger = IntervalTrigger(minutes=5, start=start, timezone="UTC")
    assert trigger.next_after(start - timedelta(days=3)) == start
    assert trigger.next_after(start - timedelta(microseconds=1)) == start
    assert trigger.next_after(start) == start + timedelta(minutes=5)


def test_end_is_inclusive() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = start + timedelta(hours=3)
    trigger = IntervalTrigger(hours=1, start=start, end=end, timezone="UTC")
    assert trigger.next_times(start, 10) == [start + timedelta(hours=h) for h in (1, 2, 3)]
    assert trigger.next_after(end) is None
    assert trigger.next_after(end - timedelta(microseconds=1)) == end


def test_end_equal_to_start_fires_once() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    trigger = IntervalTrigger(seconds=1, start=start, end=start, timezone="UTC")
    assert trigger.next_times(start - timedelta(seconds=1), 5) == [start]


def test_far_away_moment_is_computed_directly() -> None:
    start = datetime(2000, 1, 1, tzinfo=UTC)
    trigger = IntervalTrigger(seconds=7, start=start, timezone="UTC")
    moment = datetime(2500, 6, 1, 12, 0, 3, tzinfo=UTC)
    fire = trigger.next_after(moment)
    assert fire is not None
    elapsed = (fire - start) // timedelta(seconds=1)
    assert elapsed % 7 == 0
    assert timedelta(0) < fire - moment <= timedelta(seconds=7)


def test_no_fire_past_the_year_9999() -> None:
    start = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    trigger = IntervalTrigger(hours=2, start=start, timezone="UTC")
    assert trigger.next_after(start) is None


def test_moment_compared_by_instant_not_wall_time() -> None:
    # 01:45 EDT (first pass) is before 01:30 EST (second pass) although its wall time is later.
    start = datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=NEW_YORK)
    trigger = IntervalTrigger(hours=1, start=start, timezone=NEW_YORK)
    moment = datetime(2024, 11, 3, 1, 45, tzinfo=NEW_YORK)
    assert trigger.next_after(moment) == start
    fire = trigger.next_after(moment)
    assert fire is not None
    assert fire.utcoffset() == timedelta(hours=-5)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, ValueError, "nothing"),
        ({"seconds": 0}, ValueError, "nothing"),
        ({"minutes": -5}, ValueError, "minutes=-5"),
        ({"hours": 1, "minutes": -60}, ValueError, "minutes=-60"),
        ({"seconds": 1e-9}, ValueError, "seconds=1e-09"),
        ({"seconds": float("nan")}, ValueError, "nan"),
        ({"days": float("inf")}, ValueError, "inf"),
        ({"hours": "1"}, TypeError, "'1'"),
        ({"hours": True}, TypeError, "True"),
        ({"weeks": 10**12}, ValueError, "weeks=1000000000000"),
    ],
)
def test_bad_intervals_are_refused(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        IntervalTrigger(**kwargs, start=datetime(2024, 1, 1, tzinfo=UTC), timezone="UTC")


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2024, 1, 1)
    aware = naive.replace(tzinfo=UTC)
    with pytest.raises(TypeError, match="start"):
        IntervalTrigger(hours=1, start=naive, timezone="UTC")
    with pytest.raises(TypeError, match="end"):
        IntervalTrigger(hours=1, start=aware, end=naive, timezone="UTC")
    trigger = IntervalTrigger(hours=1, start=aware, timezone="UTC")
    with pytest.raises(TypeError, match="moment"):
        trigger.next_after(naive)


def test_end_before_start_is_refused() -> None:
    start = datetime(2024, 1, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="2024-01-01T00:00:00"):
        IntervalTrigger(hours=1, start=start, end=start - timedelta(days=1), timezone="UTC")


def test_start_defaults_to_the_moment_of_construction() -> None:
    with freeze_time("2024-05-01 10:00:00.250000"):
        trigger = IntervalTrigger(minutes=1, timezone="Europe/Berlin")
    assert trigger.start == datetime(2024, 5, 1, 10, 0, 0, 250_000, tzinfo=UTC)
    fire = trigger.next_after(datetime(2024, 5, 1, 10, 30, tzinfo=UTC))
    assert fire is not None
    assert wall(fire) == "2024-05-01 12:30:00.250000+02:00"


@pytest.mark.parametrize(
    "trigger",
    [
        IntervalTrigger(hours=2, start=datetime(2024, 1, 1, tzinfo=BERLIN), timezone=BERLIN),
        IntervalTrigger(
            weeks=1,
            days=2,
            seconds=0.25,
            start=datetime(2024, 1, 1, tzinfo=UTC),
            end=datetime(2025, 1, 1, tzinfo=UTC),
            timezone="+05:30",
        ),
    ],
)
def test_round_trip_through_json(trigger: IntervalTrigger) -> None:
    data = json.loads(json.dumps(trigger.to_dict()))
    assert data["type"] == "interval"
    rebuilt = trigger_from_dict(data)
    assert rebuilt == trigger
    assert hash(rebuilt) == hash(trigger)
    moment = datetime(2024, 6, 1, 0, 0, 0, 1, tzinfo=UTC)
    assert rebuilt.next_times(moment, 3) == trigger.next_times(moment, 3)


def test_repr_is_readable() -> None:
    trigger = IntervalTrigger(
        hours=1, minutes=30, start=datetime(2024, 1, 1, tzinfo=UTC), timezone="Europe/Berlin"
    )
    assert repr(trigger) == (
        "IntervalTrigger(hours=1, minutes=30, start='2024-01-01T00:00:00+00:00', "
        "timezone='Europe/Berlin')"
    )


def test_is_immutable() -> None:
    trigger = IntervalTrigger(hours=1, start=datetime(2024, 1, 1, tzinfo=UTC), timezone="UTC")
    with pytest.raises(AttributeError):
        trigger._interval_us = 5


ZONES = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])
STARTS = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


@given(
    zone=ZONES,
    start=STARTS,
    interval_us=st.integers(min_value=1, max_value=40 * 86_400_000_000),
    offset_us=st.integers(min_value=-(10**14), max_value=10**15),
)
def test_results_are_exactly_start_plus_k_intervals(
    zone: str, start: datetime, interval_us: int, offset_us: int
) -> None:
    trigger = IntervalTrigger(seconds=interval_us / 1_000_000, start=start, timezone=zone)
    step = trigger.interval // timedelta(microseconds=1)
    moment = start + timedelta(microseconds=offset_us)
    fires = trigger.next_times(moment, 5)
    assert len(fires) == 5
    previous = moment.astimezone(UTC)
    for fire in fires:
        instant = fire.astimezone(UTC)
        assert instant > previous
        k, remainder = divmod((instant - start) // timedelta(microseconds=1), step)
        assert remainder == 0
        assert k >= 0
        assert instant - previous <= trigger.interval or previous < start
        previous = instant


def test_an_int_amount_stays_an_int_after_an_equal_float_one() -> None:
    # Equal interval tuples are shared between triggers; 1 and 1.0 are equal but not
    # the same number to show.
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert IntervalTrigger(seconds=1.0, start=start).to_dict()["seconds"] == 1.0
    made = IntervalTrigger(seconds=1, start=start)
    assert type(made.to_dict()["seconds"]) is int
    assert "seconds=1," in repr(made)


def test_a_trigger_shifted_for_a_from_now_job_keeps_every_slot() -> None:
    # _shifted copies the slots one by one: a slot added to the class and not to the copy
    # would be unset in every interval job added "from now".
    start = datetime(2024, 3, 30, 12, tzinfo=ZoneInfo("Europe/Berlin"))
    end = datetime(2024, 4, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    trigger = IntervalTrigger(hours=2, start=start, end=end, timezone="Europe/Berlin")
    shifted = trigger._shifted(timedelta(minutes=30))
    unset = [name for name in IntervalTrigger.__slots__ if not hasattr(shifted, name)]
    assert unset == []
    assert shifted.next_after(start) == start + timedelta(minutes=30)
    assert shifted.to_dict()["end"] == trigger.to_dict()["end"]


_AMOUNT = (
    st.integers(min_value=-(10**6), max_value=10**6)
    | st.integers(min_value=10**12, max_value=10**15)
    | st.floats(min_value=-1e3, max_value=1e3)
    | st.booleans()
    | st.none()
)


@given(
    amounts=st.tuples(*[st.integers(min_value=-(10**3), max_value=10**4)] * 5)
    | st.tuples(*[_AMOUNT] * 5),
    start=st.sampled_from(
        [
            "2024-03-31T01:30:00+01:00",
            "2100-01-01T00:00:00+00:00",
            "2024-01-01T00:00:00",
            "0001-01-01T00:00:00+00:00",
            "9999-12-31T23:59:59+00:00",
        ]
    ),
    end=st.sampled_from([None, "2024-06-01T00:00:00+00:00", "2020-01-01T00:00:00+00:00"]),
    zone=st.sampled_from(["UTC", "Europe/Berlin", "+05:30", "Mars/Olympus", None, 5]),
)
def test_from_dict_makes_what_the_constructor_makes_or_raises_as_it_does(
    amounts: tuple[Any, ...], start: str, end: str | None, zone: Any
) -> None:
    """from_dict has a fast path for the usual stored trigger (whole units, no end): it
    must build the same trigger as the constructor, and leave everything else to it."""
    names = ("weeks", "days", "hours", "minutes", "seconds")
    given_amounts = dict(zip(names, amounts, strict=True))
    data = {"type": "interval", **given_amounts, "start": start, "end": end, "timezone": zone}
    kwargs = {
        **given_amounts,
        "start": datetime.fromisoformat(start),
        "end": None if end is None else datetime.fromisoformat(end),
        "timezone": zone,
    }
    try:
        expected = IntervalTrigger(**kwargs)
    except Exception as error:
        with pytest.raises(type(error)):
            IntervalTrigger.from_dict(data)
        return
    made = IntervalTrigger.from_dict(data)
    assert made == expected
    assert repr(made) == repr(expected)
    assert made.to_dict() == expected.to_dict()
    assert made.timezone == expected.timezone
    moment = datetime(2024, 5, 1, tzinfo=UTC)
    assert made.next_after(moment) == expected.next_after(moment)
    assert not made._from_now
