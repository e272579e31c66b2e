"""AndTrigger and OrTrigger: intersections and unions of fire sets."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwork import (
    AndTrigger,
    CronTrigger,
    DateTrigger,
    IntervalTrigger,
    OrTrigger,
    Trigger,
    TriggerSearchExhausted,
    trigger_from_dict,
)

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_NOON = datetime(2024, 1, 1, 12, tzinfo=UTC)  # 2024-01-01 is a Monday


def every(
    start: datetime = MONDAY_NOON, end: datetime | None = None, **interval: Any
) -> IntervalTrigger:
    return IntervalTrigger(**interval, start=start, end=end, timezone="UTC")


# -- AndTrigger ---------------------------------------------------------------------


def test_and_of_a_cron_and_an_interval() -> None:
    # Mondays at noon, and every 3 days from a Monday noon: every third Monday.
    trigger = AndTrigger([CronTrigger("0 12 * * mon", timezone="UTC"), every(days=3)])
    fires = trigger.next_times(MONDAY_NOON - timedelta(seconds=1), 4)
    assert fires == [MONDAY_NOON + timedelta(weeks=3 * k) for k in range(4)]


def test_and_returns_the_first_trigger_datetime() -> None:
    cron = CronTrigger("*/15 * * * *", timezone=BERLIN)
    trigger = AndTrigger([cron, every(minutes=10)])
    fire = trigger.next_after(MONDAY_NOON)
    assert str(fire) == "2024-01-01 13:30:00+01:00"
    assert fire is not None
    assert fire.tzinfo is BERLIN


def test_and_ends_when_any_part_ends() -> None:
    grid = every(hours=1)
    on_grid = DateTrigger(MONDAY_NOON + timedelta(hours=5))
    off_grid = DateTrigger(MONDAY_NOON + timedelta(hours=5, minutes=1))
    assert AndTrigger([grid, on_grid]).next_times(MONDAY_NOON, 5) == [
        MONDAY_NOON + timedelta(hours=5)
    ]
    assert AndTrigger([grid, off_grid]).next_after(MONDAY_NOON) is None


def test_and_of_one_trigger_is_that_trigger() -> None:
    single = every(minutes=7)
    assert AndTrigger([single]).next_times(MONDAY_NOON, 3) == single.next_times(MONDAY_NOON, 3)


def test_and_gives_up_on_triggers_that_never_meet() -> None:
    never = AndTrigger(
        [CronTrigger("0 * * * *", timezone="UTC"), CronTrigger("30 * * * *", timezone="UTC")]
    )
    with pytest.raises(TriggerSearchExhausted) as caught:
        never.next_after(MONDAY_NOON)
    message = str(caught.value)
    assert "10000 rounds" in message
    assert "2024-01-01T12:00:00+00:00" in message
    assert "CronTrigger('0 * * * *'" in message
    assert "CronTrigger('30 * * * *'" in message
    assert isinstance(caught.value, RuntimeError)


def test_and_max_iterations_is_honoured() -> None:
    # Odd and even seconds never meet; three rounds are tried, not more.
    odd = every(start=MONDAY_NOON + timedelta(seconds=1), seconds=2)
    trigger = AndTrigger([every(seconds=2), odd], max_iterations=3)
    with pytest.raises(TriggerSearchExhausted, match="after 3 rounds"):
        trigger.next_after(MONDAY_NOON)


def test_and_within_max_iterations_succeeds() -> None:
    # Every 2 s and every 3 s from the same start meet every 6 s.
    trigger = AndTrigger([every(seconds=2), every(seconds=3)], max_iterations=5)
    assert trigger.next_times(MONDAY_NOON, 3) == [
        MONDAY_NOON + timedelta(seconds=s) for s in (6, 12, 18)
    ]


# -- OrTrigger ----------------------------------------------------------------------


def test_or_merges_equal_instants() -> None:
    trigger = OrTrigger([every(hours=2), every(hours=3)])
    fires = trigger.next_times(MONDAY_NOON, 6)
    assert fires == [MONDAY_NOON + timedelta(hours=h) for h in (2, 3, 4, 6, 8, 9)]


def test_or_merges_equal_instants_in_different_zones() -> None:
    berlin = CronTrigger("0 13 * * *", timezone=BERLIN)
    utc = CronTrigger("0 12 * * *", timezone="UTC")
    fires = OrTrigger([berlin, utc]).next_times(MONDAY_NOON, 3)
    assert [str(fire) for fire in fires] == [
        "2024-01-02 13:00:00+01:00",
        "2024-01-03 13:00:00+01:00",
        "2024-01-04 13:00:00+01:00",
    ]


def test_or_continues_after_a_part_ends_and_ends_with_the_last() -> None:
    once = DateTrigger(MONDAY_NOON + timedelta(minutes=30))
    hourly = every(hours=1, start=MONDAY_NOON, end=MONDAY_NOON + timedelta(hours=2))
    fires = OrTrigger([once, hourly]).next_times(MONDAY_NOON, 10)
    assert fires == [MONDAY_NOON + timedelta(minutes=m) for m in (30, 60, 120)]


# -- shared -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [AndTrigger, OrTrigger])
@pytest.mark.parametrize(
    ("triggers", "error", "message"),
    [
        ([], ValueError, "at least one trigger"),
        ([every(hours=1), "0 * * * *"], TypeError, r"triggers\[1\] .* '0 \* \* \* \*'"),
        (every(hours=1), TypeError, "list of triggers"),
        (None, TypeError, "list of triggers"),
    ],
)
def test_bad_trigger_lists_are_refused(
    kind: type[Trigger], triggers: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        kind(triggers)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("value", "error"), [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)]
)
def test_bad_max_iterations_is_refused(value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match=repr(value)):
        AndTrigger([every(hours=1)], max_iterations=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", [AndTrigger, OrTrigger])
def test_naive_moment_is_refused(kind: type[AndTrigger] | type[OrTrigger]) -> None:
    with pytest.raises(TypeError, match="moment"):
        kind([every(hours=1)]).next_after(datetime(2024, 1, 1))


@pytest.mark.parametrize(
    "trigger",
    [
        AndTrigger([CronTrigger("0 12 * * mon", timezone="UTC"), every(days=3)]),
        AndTrigger([every(hours=1)], max_iterations=50),
        OrTrigger(
            [
                DateTrigger(MONDAY_NOON),
                AndTrigger([every(hours=2), every(hours=3)]),
                CronTrigger("0 9 * * *", timezone=BERLIN),
            ]
        ),
    ],
)
def test_round_trip_through_json(trigger: Trigger) -> None:
    data = json.loads(json.dumps(trigger.to_dict()))
    assert data["type"] in ("and", "or")
    assert all("type" in child for child in data["triggers"])
    rebuilt = trigger_from_dict(data)
    assert rebuilt == trigger
    assert hash(rebuilt) == hash(trigger)
    assert rebuilt.next_times(MONDAY_NOON, 5) == trigger.next_times(MONDAY_NOON, 5)


def test_repr_is_readable() -> None:
    date = DateTrigger(MONDAY_NOON)
    assert repr(OrTrigger([date])) == "OrTrigger([DateTrigger('2024-01-01T12:00:00+00:00')])"
    assert repr(AndTrigger([date])) == "AndTrigger([DateTrigger('2024-01-01T12:00:00+00:00')])"
    assert repr(AndTrigger([date], max_iterations=5)) == (
        "AndTrigger([DateTrigger('2024-01-01T12:00:00+00:00')], max_iterations=5)"
    )


def test_triggers_are_kept_as_a_tuple() -> None:
    parts = [every(hours=1)]
    trigger = OrTrigger(parts)
    parts.append(every(hours=2))
    assert trigger.triggers == (every(hours=1),)


STEPS = st.integers(min_value=1, max_value=90)


@given(steps=st.lists(STEPS, min_size=1, max_size=4), offset=st.integers(0, 10_000))
def test_or_is_the_sorted_union(steps: list[int], offset: int) -> None:
    trigger = OrTrigger([every(minutes=step) for step in steps])
    moment = MONDAY_NOON + timedelta(minutes=offset, seconds=30)
    fires = trigger.next_times(moment, 8)
    minutes = offset + 1
    expected: list[datetime] = []
    while len(expected) < 8:
        if any(minutes % step == 0 for step in steps):
            expected.append(MONDAY_NOON + timedelta(minutes=minutes))
        minutes += 1
    assert fires == expected


# Small steps keep the common multiple (and so the number of search rounds) modest.
@given(
    steps=st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=3),
    offset=st.integers(0, 10_000),
)
def test_and_is_the_intersection(steps: list[int], offset: int) -> None:
    trigger = AndTrigger([every(minutes=step) for step in steps])
    moment = MONDAY_NOON + timedelta(minutes=offset, seconds=30)
    fires = trigger.next_times(moment, 3)
    previous = moment
    for fire in fires:
        assert fire > previous
        elapsed = (fire - MONDAY_NOON) // timedelta(minutes=1)
        assert all(elapsed % step == 0 for step in steps)
        # Nothing common was skipped in between.
        first_common = next(
            m
            for m in range((previous - MONDAY_NOON) // timedelta(minutes=1) + 1, elapsed + 1)
            if all(m % step == 0 for step in steps)
        )
        assert first_common == elapsed
        previous = fire
