"""CronTrigger.from_fields: APScheduler 3's keyword spelling of cron schedules.

Expected fire times are worked out by hand from the calendar, not by the code under
test. Calendar facts used below: 2024-01-01 is a Monday and 2024 is a leap year;
2025-01-01 is a Wednesday, 2026-01-01 a Thursday, 2027-01-01 a Friday.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickwork import CronTrigger, InvalidExpression
from tickwork.triggers import trigger_from_dict

UTC = timezone.utc
START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday; fires at exactly START are excluded


def fires(count: int = 3, start: datetime = START, **fields: Any) -> list[str]:
    trigger = CronTrigger.from_fields(timezone="UTC", **fields)
    return [t.strftime("%Y-%m-%d %H:%M:%S %a") for t in trigger.next_times(start, count)]


# -- defaults and plain fields ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {},
            ["2024-01-01 00:00:01 Mon", "2024-01-01 00:00:02 Mon", "2024-01-01 00:00:03 Mon"],
            id="nothing-is-every-second",
        ),
        pytest.param(
            {"hour": 9},
            ["2024-01-01 09:00:00 Mon", "2024-01-02 09:00:00 Tue", "2024-01-03 09:00:00 Wed"],
            id="hour",
        ),
        pytest.param(
            {"hour": 9, "minute": 30},
            ["2024-01-01 09:30:00 Mon", "2024-01-02 09:30:00 Tue", "2024-01-03 09:30:00 Wed"],
            id="hour-minute",
        ),
        pytest.param(
            {"minute": "*/5"},
            ["2024-01-01 00:05:00 Mon", "2024-01-01 00:10:00 Mon", "2024-01-01 00:15:00 Mon"],
            id="minute-step",
        ),
        pytest.param(
            {"minute": 30},
            ["2024-01-01 00:30:00 Mon", "2024-01-01 01:30:00 Mon", "2024-01-01 02:30:00 Mon"],
            id="minute-every-hour",
        ),
        pytest.param(
            {"second": 15},
            ["2024-01-01 00:00:15 Mon", "2024-01-01 00:01:15 Mon", "2024-01-01 00:02:15 Mon"],
            id="second-every-minute",
        ),
        pytest.param(
            {"hour": "9-17/4"},
            ["2024-01-01 09:00:00 Mon", "2024-01-01 13:00:00 Mon", "2024-01-01 17:00:00 Mon"],
            id="hour-range-step",
        ),
        pytest.param(
            {"day": 1},
            ["2024-02-01 00:00:00 Thu", "2024-03-01 00:00:00 Fri", "2024-04-01 00:00:00 Mon"],
            id="day",
        ),
        pytest.param(
            # Fields between two given ones allow every value (APScheduler): every hour.
            {"day": 1, "minute": 30},
            ["2024-01-01 00:30:00 Mon", "2024-01-01 01:30:00 Mon", "2024-01-01 02:30:00 Mon"],
            id="gap-between-given-fields-is-star",
        ),
        pytest.param(
            {"month": 6},
            ["2024-06-01 00:00:00 Sat", "2025-06-01 00:00:00 Sun", "2026-06-01 00:00:00 Mon"],
            id="month",
        ),
        pytest.param(
            {"month": 6, "hour": 9},
            ["2024-06-01 09:00:00 Sat", "2024-06-02 09:00:00 Sun", "2024-06-03 09:00:00 Mon"],
            id="month-hour-every-day",
        ),
        pytest.param(
            {"month": "jan-mar", "day": 15},
            ["2024-01-15 00:00:00 Mon", "2024-02-15 00:00:00 Thu", "2024-03-15 00:00:00 Fri"],
            id="month-names",
        ),
        pytest.param(
            {"year": 2025},
            ["2025-01-01 00:00:00 Wed"],
            id="year-fires-once",
        ),
        pytest.param(
            {"day_of_week": "mon-fri", "hour": 9, "minute": 30},
            ["2024-01-01 09:30:00 Mon", "2024-01-02 09:30:00 Tue", "2024-01-03 09:30:00 Wed"],
            id="weekdays",
        ),
        pytest.param(
            {"day_of_week": "sat-sun"},
            ["2024-01-06 00:00:00 Sat", "2024-01-07 00:00:00 Sun", "2024-01-13 00:00:00 Sat"],
            id="weekend-range-runs-monday-to-sunday",
        ),
        pytest.param(
            {"day_of_week": "fri-sun"},
            ["2024-01-05 00:00:00 Fri", "2024-01-06 00:00:00 Sat", "2024-01-07 00:00:00 Sun"],
            id="range-ending-on-sunday",
        ),
        pytest.param(
            {"day_of_week": "tue-sat/2"},
            ["2024-01-02 00:00:00 Tue", "2024-01-04 00:00:00 Thu", "2024-01-06 00:00:00 Sat"],
            id="step-over-a-range-of-names-not-from-monday",
        ),
        pytest.param(
            {"day_of_week": "Sunday, wed"},
            ["2024-01-03 00:00:00 Wed", "2024-01-07 00:00:00 Sun", "2024-01-10 00:00:00 Wed"],
            id="full-names-and-spaces",
        ),
    ],
)
def test_fire_times(fields: dict[str, Any], expected: list[str]) -> None:
    assert fires(**fields) == expected


def test_a_step_over_a_range_of_weekday_names_counts_from_its_first_day() -> None:
    # As in the expression form, whichever day weekday numbers start from: Monday,
    # Wednesday, Friday, Sunday. (APScheduler 3 drops the step and fires every day.)
    assert fires(5, day_of_week="mon-sun/2", hour=9) == [
        "2024-01-01 09:00:00 Mon",
        "2024-01-03 09:00:00 Wed",
        "2024-01-05 09:00:00 Fri",
        "2024-01-07 09:00:00 Sun",
        "2024-01-08 09:00:00 Mon",
    ]
    keywords = CronTrigger.from_fields(day_of_week="mon-sun/2", hour=9, timezone="UTC")
    expression = CronTrigger("0 9 * * mon-sun/2", timezone="UTC")
    assert keywords.next_times(START, 8) == expression.next_times(START, 8)


def test_the_zone_is_the_one_given() -> None:
    trigger = CronTrigger.from_fields(hour=9, timezone="Europe/Berlin")
    assert [t.isoformat() for t in trigger.next_times(START, 2)] == [
        "2024-01-01T09:00:00+01:00",
        "2024-01-02T09:00:00+01:00",
    ]


def test_start_and_end_bound_the_fires() -> None:
    trigger = CronTrigger.from_fields(
        hour=9,
        start=datetime(2024, 1, 2, tzinfo=UTC),
        end=datetime(2024, 1, 3, 9, tzinfo=UTC),
        timezone="UTC",
    )
    assert [t.day for t in trigger.next_times(START, 5)] == [2, 3]


# -- APScheduler's day forms -----------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"day": "last"},
            ["2024-01-31 00:00:00 Wed", "2024-02-29 00:00:00 Thu", "2024-03-31 00:00:00 Sun"],
            id="last",
        ),
        pytest.param(
            {"day": "last fri", "hour": 17},
            ["2024-01-26 17:00:00 Fri", "2024-02-23 17:00:00 Fri", "2024-03-29 17:00:00 Fri"],
            id="last-fri",
        ),
        pytest.param(
            {"day": "last friday"},
            ["2024-01-26 00:00:00 Fri", "2024-02-23 00:00:00 Fri", "2024-03-29 00:00:00 Fri"],
            id="last-friday",
        ),
        pytest.param(
            {"day": "2nd mon"},
            ["2024-01-08 00:00:00 Mon", "2024-02-12 00:00:00 Mon", "2024-03-11 00:00:00 Mon"],
            id="2nd-mon",
        ),
        pytest.param(
            {"day": "1st mon", "hour": 9},
            ["2024-01-01 09:00:00 Mon", "2024-02-05 09:00:00 Mon", "2024-03-04 09:00:00 Mon"],
            id="1st-mon",
        ),
        pytest.param(
            {"day": "3rd wed"},
            ["2024-01-17 00:00:00 Wed", "2024-02-21 00:00:00 Wed", "2024-03-20 00:00:00 Wed"],
            id="3rd-wed",
        ),
        pytest.param(
            {"day": "4th thu"},
            ["2024-01-25 00:00:00 Thu", "2024-02-22 00:00:00 Thu", "2024-03-28 00:00:00 Thu"],
            id="4th-thu",
        ),
        pytest.param(
            # Only months with five Fridays: March, May and August 2024.
            {"day": "5th fri"},
            ["2024-03-29 00:00:00 Fri", "2024-05-31 00:00:00 Fri", "2024-08-30 00:00:00 Fri"],
            id="5th-fri",
        ),
        pytest.param(
            {"day": "1st mon, 3rd mon"},
            ["2024-01-15 00:00:00 Mon", "2024-02-05 00:00:00 Mon", "2024-02-19 00:00:00 Mon"],
            id="list-of-positions",
        ),
        pytest.param(
            {"day": "1,15,last"},
            ["2024-01-15 00:00:00 Mon", "2024-01-31 00:00:00 Wed", "2024-02-01 00:00:00 Thu"],
            id="last-in-a-list",
        ),
        pytest.param(
            {"day": "L-1"},
            ["2024-01-30 00:00:00 Tue", "2024-02-28 00:00:00 Wed", "2024-03-30 00:00:00 Sat"],
            id="cron-day-syntax",
        ),
    ],
)
def test_day_forms(fields: dict[str, Any], expected: list[str]) -> None:
    assert fires(**fields) == expected


def test_weekday_positions_become_the_day_of_week_field() -> None:
    trigger = CronTrigger.from_fields(day="last fri", hour=9, timezone="UTC")
    assert trigger.expression == "0 0 9 * * FRIL"
    assert trigger == CronTrigger("0 0 9 * * FRIL", timezone="UTC")


# -- day AND day of week ---------------------------------------------------------------


def test_day_and_day_of_week_must_both_match() -> None:
    # The first Monday of each month; cron's "0 9 1-7 * mon" would mean days 1-7 *or*
    # any Monday.
    fields = {"day": "1-7", "day_of_week": "mon", "hour": 9}
    assert fires(**fields) == [
        "2024-01-01 09:00:00 Mon",
        "2024-02-05 09:00:00 Mon",
        "2024-03-04 09:00:00 Mon",
    ]
    cron = CronTrigger("0 9 1-7 * mon", timezone="UTC")
    assert [t.day for t in cron.next_times(START, 3)] == [1, 2, 3]
    assert CronTrigger.from_fields(timezone="UTC", **fields) != cron


def test_friday_the_13th() -> None:
    assert fires(day=13, day_of_week="fri") == [
        "2024-09-13 00:00:00 Fri",
        "2024-12-13 00:00:00 Fri",
        "2025-06-13 00:00:00 Fri",
    ]


def test_last_day_of_the_month_when_it_is_a_weekend_day() -> None:
    # Last days in 2024: Jan 31 Wed, Feb 29 Thu, Mar 31 Sun, Apr 30 Tue, May 31 Fri,
    # Jun 30 Sun, Jul 31 Wed, Aug 31 Sat.
    assert fires(day="last", day_of_week="sat,sun") == [
        "2024-03-31 00:00:00 Sun",
        "2024-06-30 00:00:00 Sun",
        "2024-08-31 00:00:00 Sat",
    ]


def test_and_is_recorded_only_when_it_changes_the_meaning() -> None:
    both = CronTrigger.from_fields(day="1-7", day_of_week="mon", timezone="UTC")
    assert both.to_dict()["day_and_weekday"] is True
    # A '*' day field makes cron match both fields anyway: the plain trigger is equal.
    one = CronTrigger.from_fields(day="*/2", day_of_week="mon", timezone="UTC")
    assert "day_and_weekday" not in one.to_dict()
    assert one == CronTrigger("0 0 0 */2 * MON", timezone="UTC")


def test_and_that_matches_no_day_is_refused() -> None:
    # Days 1-7 never hold the second Monday (8th to 14th).
    with pytest.raises(InvalidExpression, match="never fire"):
        CronTrigger.from_fields(day="1-7", day_of_week="mon#2", timezone="UTC")


# -- ISO weeks -------------------------------------------------------------------------


def test_week_one_mondays() -> None:
    trigger = CronTrigger.from_fields(week=1, day_of_week="mon", hour=9, timezone="UTC")
    found = trigger.next_times(datetime(2023, 12, 31, tzinfo=UTC), 4)
    expected = [date(2024, 1, 1), date(2024, 12, 30), date(2025, 12, 29), date(2027, 1, 4)]
    assert [t.date() for t in found] == expected
    assert all(t.hour == 9 and t.minute == 0 and t.second == 0 for t in found)
    # The dates above are worked out by hand; the calendar agrees they start ISO week 1.
    assert [day.isocalendar()[1:] for day in expected] == [(1, 1)] * 4
    for year in (2024, 2025, 2026):
        monday = date.fromisocalendar(year, 1, 1)
        assert datetime(monday.year, monday.month, monday.day, 9, tzinfo=UTC) in found


def test_week_alone_fires_every_day_of_it() -> None:
    # ISO week 10 of 2024 is Monday March 4 to Sunday March 10.
    assert fires(5, week=10, hour=9) == [
        "2024-03-04 09:00:00 Mon",
        "2024-03-05 09:00:00 Tue",
        "2024-03-06 09:00:00 Wed",
        "2024-03-07 09:00:00 Thu",
        "2024-03-08 09:00:00 Fri",
    ]


def test_week_step() -> None:
    # Weeks 1, 3, 5...: Monday of week 1 (Jan 1, excluded: it is the start) and 3 (Jan 15).
    assert fires(2, week="*/2", day_of_week="mon") == [
        "2024-01-15 00:00:00 Mon",
        "2024-01-29 00:00:00 Mon",
    ]


def test_week_53_only_exists_in_some_years() -> None:
    # 2026 starts on a Thursday, so it has 53 ISO weeks; the last runs to 2027-01-03.
    assert fires(5, year=2027, week=53) == [
        "2027-01-01 00:00:00 Fri",
        "2027-01-02 00:00:00 Sat",
        "2027-01-03 00:00:00 Sun",
    ]
    # 2025 has 52 weeks, and its January days belong to week 1.
    with pytest.raises(InvalidExpression, match="never fire"):
        CronTrigger.from_fields(year=2025, week=53, timezone="UTC")


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"week": 53, "month": 6}, id="week-53-in-june"),
        pytest.param({"week": 1, "month": 7}, id="week-1-in-july"),
        pytest.param({"week": 1, "day": 15}, id="week-1-on-the-15th"),
        pytest.param({"week": 1, "month": 1, "day": 20}, id="week-1-on-january-20"),
    ],
)
def test_week_that_matches_no_day_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidExpression, match="never fire"):
        CronTrigger.from_fields(timezone="UTC", **fields)


def test_week_on_a_date_that_only_sometimes_falls_in_it() -> None:
    # Week 1 is the week holding January 4th. January 7th is in it when the year starts
    # on a Monday (week 1 is Jan 1-7) or on a Friday to Sunday (it starts Jan 2-4):
    # 2024 starts on a Monday, 2025 and 2026 on a Wednesday and a Thursday, 2027 a Friday.
    assert fires(2, week=1, month=1, day=7) == [
        "2024-01-07 00:00:00 Sun",
        "2027-01-07 00:00:00 Thu",
    ]


# -- round trip, repr, explain ---------------------------------------------------------


ROUND_TRIP = [
    {"hour": 9},
    {"day": 1, "minute": 30},
    {"day": "1-7", "day_of_week": "mon", "hour": 9},
    {"week": 1, "day_of_week": "mon", "hour": 9},
    {"week": "*/2", "second": "*/10"},
    {"day": "last fri", "week": "10-20"},
    {"day": "L", "day_of_week": "sat-sun,wed", "month": "feb-apr", "year": "2024-2030"},
    {"day": "LW", "day_of_week": "mon#1,friL"},
    {},
]


@pytest.mark.parametrize("fields", ROUND_TRIP)
def test_round_trip(fields: dict[str, Any]) -> None:
    trigger = CronTrigger.from_fields(timezone="Europe/Berlin", dst_gap="skip", **fields)
    data = json.loads(json.dumps(trigger.to_dict()))
    again = trigger_from_dict(data)
    assert again == trigger
    assert hash(again) == hash(trigger)
    assert repr(again) == repr(trigger)
    assert again.next_times(START, 20) == trigger.next_times(START, 20)


@pytest.mark.parametrize("fields", ROUND_TRIP)
def test_repr_rebuilds_an_equal_trigger(fields: dict[str, Any]) -> None:
    trigger = CronTrigger.from_fields(timezone="UTC", **fields)
    assert eval(repr(trigger), {"CronTrigger": CronTrigger}) == trigger


def test_to_dict_records_week_and_and() -> None:
    trigger = CronTrigger.from_fields(week=1, day="1-7", day_of_week="mon", timezone="UTC")
    assert trigger.to_dict() == {
        "type": "cron",
        "expression": "0 0 0 1-7 * MON",
        "week": "1",
        "day_and_weekday": True,
        "timezone": "UTC",
        "start": None,
        "end": None,
        "dst_gap": None,
        "dst_overlap": None,
    }


def test_without_week_or_and_it_is_a_plain_cron_trigger() -> None:
    trigger = CronTrigger.from_fields(day_of_week="mon-fri", hour=9, minute=30, timezone="UTC")
    assert trigger.expression == "0 30 9 * * MON-FRI"
    assert trigger == CronTrigger("0 30 9 * * MON-FRI", timezone="UTC")
    assert repr(trigger) == "CronTrigger('0 30 9 * * MON-FRI', timezone='UTC')"
    assert set(trigger.to_dict()) == set(CronTrigger("* * * * *").to_dict())


def test_repr_of_the_keyword_form() -> None:
    trigger = CronTrigger.from_fields(day="1-7", day_of_week="mon", hour=9, timezone="UTC")
    assert repr(trigger) == (
        "CronTrigger.from_fields(day='1-7', day_of_week='MON', hour=9, minute=0, second=0, "
        "timezone='UTC')"
    )
    weekly = CronTrigger.from_fields(week="1-3", hour=9, minute=0, second="*", timezone="UTC")
    assert repr(weekly) == (
        "CronTrigger.from_fields(week='1-3', hour=9, minute=0, second='*', timezone='UTC')"
    )


def test_week_and_and_differ_from_the_bare_expression() -> None:
    weekly = CronTrigger.from_fields(week=1, day_of_week="mon", timezone="UTC")
    assert weekly != CronTrigger(weekly.expression, timezone="UTC")


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        (
            {"day": "1-7", "day_of_week": "mon", "hour": 9},
            "At 09:00 on days 1 through 7 of the month if it is a Monday",
        ),
        ({"week": 1, "day_of_week": "mon", "hour": 9}, "At 09:00 on Monday, in ISO week 1"),
        ({"week": "*/2", "hour": 9}, "At 09:00, in every 2nd ISO week"),
        ({"week": "1,5,9-12", "hour": 9}, "At 09:00, in ISO weeks 1, 5 and 9 through 12"),
    ],
)
def test_explain(fields: dict[str, Any], text: str) -> None:
    assert CronTrigger.from_fields(timezone="UTC", **fields).explain() == text


# -- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 4, "0", "1-5", "mon,2", "*/2", "1-5/2", "mon-5/2"])
def test_numeric_day_of_week_is_refused(value: Any) -> None:
    with pytest.raises(InvalidExpression) as caught:
        CronTrigger.from_fields(day_of_week=value, timezone="UTC")
    message = str(caught.value)
    assert f"day_of_week={value!r}" in message
    assert "Monday = 0" in message
    assert "Sunday = 0" in message
    assert "'mon-fri'" in message
    assert caught.value.field == "day_of_week"


@pytest.mark.parametrize(
    ("fields", "shown"), [({"hour": 9.5}, "hour=9.5"), ({"hour": True}, "hour=True")]
)
def test_a_field_of_the_wrong_type_is_a_type_error(fields: dict[str, Any], shown: str) -> None:
    # As for every number in tickwork: a bool is not a number, nor is a float here.
    with pytest.raises(TypeError, match="int or a str") as caught:
        CronTrigger.from_fields(timezone="UTC", **fields)
    assert shown in str(caught.value)
    assert not isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("fields", "shown", "why"),
    [
        ({"hour": 24}, "hour=24", "out of range"),
        ({"minute": 60}, "minute=60", "out of range"),
        ({"second": "61"}, "second='61'", "out of range"),
        ({"month": 13}, "month=13", "out of range"),
        ({"month": "foo"}, "month='foo'", "not a number or a name"),
        ({"day": 0}, "day=0", "out of range"),
        ({"day": "32"}, "day='32'", "out of range"),
        ({"week": 0}, "week=0", "out of range"),
        ({"week": 54}, "week=54", "out of range"),
        ({"year": 1969}, "year=1969", "out of range"),
        ({"hour": "x"}, "hour='x'", "not a number"),
        ({"hour": ""}, "hour=''", "empty"),
        ({"minute": "1 2"}, "minute='1 2'", "spaces"),
        ({"hour": "5-1"}, "hour='5-1'", "backwards"),
        ({"day": "last xyz"}, "day='last xyz'", "not a weekday name"),
        ({"day": "6th mon"}, "day='6th mon'", "expected"),
        ({"day": "1,last fri"}, "day='1,last fri'", "cannot be listed"),
        (
            {"day": "last fri", "day_of_week": "mon"},
            "day_of_week='mon'",
            "already names the weekday",
        ),
        ({"day_of_week": "sun-mon"}, "day_of_week='sun-mon'", "backwards"),
        ({"day_of_week": "funday"}, "day_of_week='funday'", "weekday name"),
        ({"day_of_week": "mon#6"}, "day_of_week='mon#6'", "n 1-5"),
        ({"day_of_week": "mon/2"}, "day_of_week='mon/2'", "a step needs a range of weekday"),
        ({"day_of_week": "mon-fri/0"}, "day_of_week='mon-fri/0'", "a step of 0"),
        ({"day_of_week": ""}, "day_of_week=''", "empty"),
    ],
)
def test_bad_values_name_the_keyword_and_value(
    fields: dict[str, Any], shown: str, why: str
) -> None:
    with pytest.raises(InvalidExpression) as caught:
        CronTrigger.from_fields(timezone="UTC", **fields)
    message = str(caught.value)
    assert shown in message
    assert why in message
    assert isinstance(caught.value, ValueError)


def test_a_day_that_never_comes_is_refused() -> None:
    with pytest.raises(InvalidExpression, match="never fire"):
        CronTrigger.from_fields(month=2, day=30, timezone="UTC")
    # February 2027 starts on a Monday and has four of them.
    with pytest.raises(InvalidExpression, match="never fire"):
        CronTrigger.from_fields(year=2027, month=2, day="5th mon", timezone="UTC")


# -- against a day-by-day model ----------------------------------------------------------

DayRule = Callable[[date], bool]


def _last_day(day: date) -> bool:
    return (day + timedelta(days=1)).month != day.month


DAY_RULES: dict[str | None, DayRule] = {
    None: lambda day: True,
    "1-7": lambda day: day.day <= 7,
    "*/2": lambda day: day.day % 2 == 1,
    "13": lambda day: day.day == 13,
    "31": lambda day: day.day == 31,
    "last": _last_day,
}
WEEKDAY_RULES: dict[str | None, DayRule] = {
    None: lambda day: True,
    "mon": lambda day: day.weekday() == 0,
    "sat,sun": lambda day: day.weekday() >= 5,
    "mon-fri": lambda day: day.weekday() < 5,
    "fri#2": lambda day: day.weekday() == 4 and 8 <= day.day <= 14,
    "friL": lambda day: day.weekday() == 4 and (day + timedelta(days=7)).month != day.month,
}
WEEK_RULES: dict[str | None, DayRule] = {
    None: lambda day: True,
    "1": lambda day: day.isocalendar()[1] == 1,
    "53": lambda day: day.isocalendar()[1] == 53,
    "*/3": lambda day: day.isocalendar()[1] % 3 == 1,
    "10-20": lambda day: 10 <= day.isocalendar()[1] <= 20,
}
MONTH_RULES: dict[str | None, DayRule] = {
    None: lambda day: True,
    "1": lambda day: day.month == 1,
    "12": lambda day: day.month == 12,
    "2-3": lambda day: day.month in (2, 3),
}


@settings(max_examples=60, deadline=None)
@given(
    day=st.sampled_from(list(DAY_RULES)),
    weekday=st.sampled_from(list(WEEKDAY_RULES)),
    week=st.sampled_from(list(WEEK_RULES)),
    month=st.sampled_from(list(MONTH_RULES)),
)
def test_matches_a_day_by_day_model(
    day: str | None, weekday: str | None, week: str | None, month: str | None
) -> None:
    rules = (DAY_RULES[day], WEEKDAY_RULES[weekday], WEEK_RULES[week], MONTH_RULES[month])
    candidate, last = date(2024, 1, 1), date(2080, 1, 1)
    expected: list[date] = []
    while candidate < last and len(expected) < 8:
        if all(rule(candidate) for rule in rules):
            expected.append(candidate)
        candidate += timedelta(days=1)
    fields = {"day": day, "day_of_week": weekday, "week": week, "month": month}
    try:
        trigger = CronTrigger.from_fields(hour=9, timezone="UTC", **fields)
    except InvalidExpression:
        assert expected == []
        return
    found = trigger.next_times(START, len(expected) or 1)
    assert [t.date() for t in found] == expected
    assert all(t.hour == 9 and t.minute == 0 and t.second == 0 for t in found)
