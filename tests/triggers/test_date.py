"""DateTrigger: one fire, compared by instant."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwork import DateTrigger, trigger_from_dict

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
RUN_AT = datetime(2030, 1, 1, 9, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param(RUN_AT - timedelta(days=365), RUN_AT, id="long-before"),
        pytest.param(RUN_AT - timedelta(microseconds=1), RUN_AT, id="just-before"),
        pytest.param(RUN_AT, None, id="at-run_at"),
        pytest.param(RUN_AT + timedelta(seconds=1), None, id="after"),
        pytest.param(datetime(2030, 1, 1, 7, 59, tzinfo=UTC), RUN_AT, id="other-zone-before"),
        pytest.param(datetime(2030, 1, 1, 8, 0, tzinfo=UTC), None, id="other-zone-same-instant"),
    ],
)
def test_fires_once(moment: datetime, expected: datetime | None) -> None:
    assert DateTrigger(RUN_AT).next_after(moment) == expected


def test_compares_instants_not_wall_times() -> None:
    # 01:30 EST (second pass) is later than 01:45 EDT (first pass), same tzinfo object.
    run_at = datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=NEW_YORK)
    trigger = DateTrigger(run_at)
    assert trigger.next_after(datetime(2024, 11, 3, 1, 45, tzinfo=NEW_YORK)) is run_at
    assert trigger.next_after(datetime(2024, 11, 3, 1, 45, fold=1, tzinfo=NEW_YORK)) is None


def test_result_keeps_run_at_zone_unless_told_otherwise() -> None:
    assert DateTrigger(RUN_AT).next_after(RUN_AT - timedelta(1)) is RUN_AT
    converted = DateTrigger(RUN_AT, timezone="Asia/Tokyo").next_after(RUN_AT - timedelta(1))
    assert str(converted) == "2030-01-01 17:00:00+09:00"
    assert converted == RUN_AT


def test_nothing_follows_the_fire_time_whichever_object_names_it() -> None:
    trigger = DateTrigger(RUN_AT)
    # The scheduler asks with the very datetime the trigger gave it...
    assert trigger.next_after(trigger.next_after(RUN_AT - timedelta(1))) is None  # type: ignore[arg-type]
    # ...a store hands back an equal one, or the same instant in another zone.
    assert trigger.next_after(RUN_AT.replace()) is None
    assert trigger.next_after(RUN_AT.astimezone(ZoneInfo("Asia/Tokyo"))) is None
    assert trigger.next_after(RUN_AT - timedelta(microseconds=1)) is RUN_AT


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(TypeError, match="run_at"):
        DateTrigger(datetime(2030, 1, 1))
    with pytest.raises(TypeError, match="moment"):
        DateTrigger(RUN_AT).next_after(datetime(2030, 1, 1))
    with pytest.raises(TypeError, match="str"):
        DateTrigger("2030-01-01T00:00:00+00:00")  # type: ignore[arg-type]


MINUS_12 = timezone(timedelta(hours=-12))
PLUS_14 = timezone(timedelta(hours=14))


@pytest.mark.parametrize(
    ("run_at", "zone", "message"),
    [
        # 20:00 at UTC-12 on the last day is 08:00 UTC in the year 10000.
        (datetime(9999, 12, 31, 20, tzinfo=MINUS_12), None, "after the year 9999 in UTC"),
        (datetime(1, 1, 1, 1, tzinfo=PLUS_14), None, "before the year 1 in UTC"),
        (datetime(9999, 12, 31, 23, tzinfo=UTC), "Pacific/Kiritimati", "9999 in timezone Pac"),
        (datetime(1, 1, 1, 1, tzinfo=UTC), "America/New_York", "year 1 in timezone America"),
    ],
    ids=["utc-after", "utc-before", "zone-after", "zone-before"],
)
def test_an_instant_past_the_datetime_range_is_a_value_error_naming_run_at(
    run_at: datetime, zone: str | None, message: str
) -> None:
    # It was an OverflowError naming nothing, or (in a zone of that offset) a trigger
    # that no store could read back.
    with pytest.raises(
        ValueError, match=f"^run_at={re.escape(run_at.isoformat())} is out of range: .*{message}"
    ):
        DateTrigger(run_at, timezone=zone)


def test_the_last_and_first_instants_in_range_are_taken() -> None:
    last = datetime(9999, 12, 31, 11, 59, 59, 999999, tzinfo=MINUS_12)
    first = datetime(1, 1, 1, 14, tzinfo=PLUS_14)
    for run_at in (last, first):
        trigger = DateTrigger(run_at)
        assert trigger_from_dict(json.loads(json.dumps(trigger.to_dict()))) == trigger


def test_unknown_timezone_is_refused() -> None:
    with pytest.raises(LookupError, match="Nowhere/Special"):
        DateTrigger(RUN_AT, timezone="Nowhere/Special")


@pytest.mark.parametrize(
    "trigger",
    [
        DateTrigger(RUN_AT),
        DateTrigger(RUN_AT, timezone="America/New_York"),
        DateTrigger(datetime(2030, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=30)))),
        DateTrigger(datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=NEW_YORK)),
    ],
)
def test_round_trip_through_json(trigger: DateTrigger) -> None:
    data = json.loads(json.dumps(trigger.to_dict()))
    assert data["type"] == "date"
    rebuilt = trigger_from_dict(data)
    assert rebuilt == trigger
    assert hash(rebuilt) == hash(trigger)
    moment = datetime(2000, 1, 1, tzinfo=UTC)
    before, after = trigger.next_after(moment), rebuilt.next_after(moment)
    # Same instant, same wall time, same zone name.
    assert str(before) == str(after)
    assert before is not None
    assert after is not None
    assert str(before.tzinfo) == str(after.tzinfo)


def test_repr_is_readable() -> None:
    assert repr(DateTrigger(RUN_AT)) == "DateTrigger('2030-01-01T09:00:00+01:00')"
    assert repr(DateTrigger(RUN_AT, timezone=UTC)) == (
        "DateTrigger('2030-01-01T08:00:00+00:00', timezone='UTC')"
    )


ZONED = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, PARIS, NEW_YORK]),
)


@given(
    run_at=ZONED,
    shift=st.timedeltas(min_value=timedelta(hours=-3), max_value=timedelta(hours=3)),
    zone=st.sampled_from([UTC, PARIS, NEW_YORK]),
)
def test_fires_exactly_when_run_at_is_later(
    run_at: datetime, shift: timedelta, zone: ZoneInfo
) -> None:
    moment = (run_at.astimezone(UTC) + shift).astimezone(zone)
    fire = DateTrigger(run_at).next_after(moment)
    if shift < timedelta(0):
        assert fire is run_at
    else:
        assert fire is None
