"""CronTrigger: the grammar, the errors, and the public surface."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tickwork import CronTrigger, DstGap, DstOverlap, InvalidExpression, UnknownTimezone
from tickwork.triggers import trigger_from_dict

UTC = timezone.utc
START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


def fires(expression: str, count: int = 3, start: datetime = START) -> list[str]:
    trigger = CronTrigger(expression, timezone="UTC")
    return [t.strftime("%Y-%m-%d %H:%M:%S %a") for t in trigger.next_times(start, count)]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("* * * * *", ["2024-01-01 00:01:00 Mon", "2024-01-01 00:02:00 Mon"]),
        ("*/15 * * * *", ["2024-01-01 00:15:00 Mon", "2024-01-01 00:30:00 Mon"]),
        ("10-50/20 * * * *", ["2024-01-01 00:10:00 Mon", "2024-01-01 00:30:00 Mon"]),
        ("50/5 * * * *", ["2024-01-01 00:50:00 Mon", "2024-01-01 00:55:00 Mon"]),
        ("0 9 * * mon-fri", ["2024-01-01 09:00:00 Mon", "2024-01-02 09:00:00 Tue"]),
        ("0 9 * * MON-FRI/2", ["2024-01-01 09:00:00 Mon", "2024-01-03 09:00:00 Wed"]),
        ("0 0 * * 0", ["2024-01-07 00:00:00 Sun", "2024-01-14 00:00:00 Sun"]),
        ("0 0 * * 7", ["2024-01-07 00:00:00 Sun", "2024-01-14 00:00:00 Sun"]),
        ("0 0 * * 5-7", ["2024-01-05 00:00:00 Fri", "2024-01-06 00:00:00 Sat"]),
        ("0 0 * * sun,sat", ["2024-01-06 00:00:00 Sat", "2024-01-07 00:00:00 Sun"]),
        ("0 0 1 jan,Jul *", ["2024-07-01 00:00:00 Mon", "2025-01-01 00:00:00 Wed"]),
        ("0 0 ? * 1", ["2024-01-08 00:00:00 Mon", "2024-01-15 00:00:00 Mon"]),
        ("0 0 1,15 * 1", ["2024-01-08 00:00:00 Mon", "2024-01-15 00:00:00 Mon"]),
        ("0 0 */2 * 1", ["2024-01-15 00:00:00 Mon", "2024-01-29 00:00:00 Mon"]),
        ("0 0 2 * *", ["2024-01-02 00:00:00 Tue", "2024-02-02 00:00:00 Fri"]),
        ("0 0 L * *", ["2024-01-31 00:00:00 Wed", "2024-02-29 00:00:00 Thu"]),
        ("0 0 L-1 * *", ["2024-01-30 00:00:00 Tue", "2024-02-28 00:00:00 Wed"]),
        ("0 0 LW * *", ["2024-01-31 00:00:00 Wed", "2024-02-29 00:00:00 Thu"]),
        ("0 0 L,1 * *", ["2024-01-31 00:00:00 Wed", "2024-02-01 00:00:00 Thu"]),
        ("0 0 6W * *", ["2024-01-05 00:00:00 Fri", "2024-02-06 00:00:00 Tue"]),
        ("0 0 * * 5#3", ["2024-01-19 00:00:00 Fri", "2024-02-16 00:00:00 Fri"]),
        ("0 0 * * fri#3", ["2024-01-19 00:00:00 Fri", "2024-02-16 00:00:00 Fri"]),
        ("0 0 * * 5L", ["2024-01-26 00:00:00 Fri", "2024-02-23 00:00:00 Fri"]),
        ("0 0 * * FRIL", ["2024-01-26 00:00:00 Fri", "2024-02-23 00:00:00 Fri"]),
        ("0 0 * * 1#1,5L", ["2024-01-26 00:00:00 Fri", "2024-02-05 00:00:00 Mon"]),
        ("30 0 0 * * *", ["2024-01-01 00:00:30 Mon", "2024-01-02 00:00:30 Tue"]),
        ("*/20 * * * * *", ["2024-01-01 00:00:20 Mon", "2024-01-01 00:00:40 Mon"]),
        ("0 0 0 1 1 * 2026", ["2026-01-01 00:00:00 Thu", None]),
        ("0 0 0 1 1 ? 2025-2026", ["2025-01-01 00:00:00 Wed", "2026-01-01 00:00:00 Thu"]),
        ("@yearly", ["2025-01-01 00:00:00 Wed", "2026-01-01 00:00:00 Thu"]),
        ("@annually", ["2025-01-01 00:00:00 Wed", "2026-01-01 00:00:00 Thu"]),
        ("@monthly", ["2024-02-01 00:00:00 Thu", "2024-03-01 00:00:00 Fri"]),
        ("@weekly", ["2024-01-07 00:00:00 Sun", "2024-01-14 00:00:00 Sun"]),
        ("@daily", ["2024-01-02 00:00:00 Tue", "2024-01-03 00:00:00 Wed"]),
        ("@MIDNIGHT", ["2024-01-02 00:00:00 Tue", "2024-01-03 00:00:00 Wed"]),
        ("@hourly", ["2024-01-01 01:00:00 Mon", "2024-01-01 02:00:00 Mon"]),
        ("  0   9 *\t* 1  ", ["2024-01-01 09:00:00 Mon", "2024-01-08 09:00:00 Mon"]),
        ("0 0 31 * *", ["2024-01-31 00:00:00 Wed", "2024-03-31 00:00:00 Sun"]),
        ("0 0 29 2 *", ["2024-02-29 00:00:00 Thu", "2028-02-29 00:00:00 Tue"]),
        ("0 0 */90 * * *", ["2024-01-01 00:00:00 Mon", "2024-01-02 00:00:00 Tue"]),
    ],
)
def test_fire_times(expression: str, expected: list[str | None]) -> None:
    start = START - timedelta(seconds=1) if expression.startswith("0 0 */90") else START
    got = fires(expression, 2, start)
    assert got + [None] * (2 - len(got)) == expected


@pytest.mark.parametrize(
    ("expression", "field", "token", "fragment"),
    [
        ("", None, None, "got 0"),
        ("* * * *", None, None, "got 4"),
        ("* * * * * * * *", None, None, "got 8"),
        ("60 * * * *", "minute", "60", "out of range"),
        ("* 24 * * *", "hour", "24", "out of range"),
        ("* * 0 * *", "day-of-month", "0", "out of range"),
        ("* * 32 * *", "day-of-month", "32", "out of range"),
        ("* * * 13 *", "month", "13", "out of range"),
        ("* * * * 8", "day-of-week", "8", "out of range"),
        ("60 * * * * *", "second", "60", "out of range"),
        ("0 0 0 1 1 * 1969", "year", "1969", "out of range"),
        ("*/0 * * * *", "minute", "*/0", "step of 0"),
        ("5-1 * * * *", "minute", "5-1", "backwards"),
        ("* * * foo *", "month", "FOO", "not a number"),
        ("* * * * funday", "day-of-week", "FUNDAY", "not a number"),
        ("1,,2 * * * *", "minute", "1,,2", "empty item"),
        ("? * * * *", "minute", "?", "only allowed in the day fields"),
        ("* * L-31 * *", "day-of-month", "L-31", "1 to 30"),
        ("* * 32W * *", "day-of-month", "32W", "1 to 31"),
        ("* * 1L * *", "day-of-month", "1L", "expected L"),
        ("* * * * 5#6", "day-of-week", "5#6", "1 to 5"),
        ("* * * * L", "day-of-week", "L", "needs a weekday"),
        ("* * * jan-dec/x *", "month", "JAN-DEC/X", "expected a value"),
        ("@reboot", None, "@reboot", "start-up"),
        ("@fortnightly", None, "@fortnightly", "unknown alias"),
        # An alias is the whole expression (it was called an unknown alias).
        ("@daily *", None, "*", "@daily is a whole expression"),
        ("@HOURLY 5", None, "5", "@HOURLY is a whole expression"),
        ("@reboot *", None, "@reboot *", "start-up"),
    ],
)
def test_invalid_expressions_name_field_and_token(
    expression: str, field: str | None, token: str | None, fragment: str
) -> None:
    with pytest.raises(InvalidExpression) as caught:
        CronTrigger(expression, timezone="UTC")
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.field == field
    assert error.token == token
    assert fragment in str(error)
    if field is not None:
        assert f"{field} field" in str(error)


@pytest.mark.parametrize(
    "expression",
    [
        "0 0 30 2 *",
        "0 0 31 4 *",
        "0 0 31 2,4,6,9,11 *",
        "0 0 L-30 2 *",
        "0 0 30 2 ? ",
        "0 0 0 29 2 * 2025",
        "0 0 0 29 2 ? 2097-2099",
    ],
)
def test_expressions_that_never_fire_are_refused(expression: str) -> None:
    with pytest.raises(InvalidExpression, match="never fire"):
        CronTrigger(expression, timezone="UTC")


@pytest.mark.parametrize(
    ("expression", "first"),
    [
        # Rare but real: decided over the whole 400-year cycle, not a guessed horizon.
        ("0 0 29 2 1", "2024-02-05"),  # OR rule: Feb 29th, or any Monday in February
        ("0 0 29 2 */7", "2024-02-04"),  # AND with a star: Feb 29th that is a Sunday
        ("0 0 0 29 2 ? 2096-2099", "2096-02-29"),
    ],
)
def test_rare_expressions_are_accepted(expression: str, first: str) -> None:
    trigger = CronTrigger(expression, timezone="UTC")
    result = trigger.next_after(START)
    assert result is not None
    if "*/7" in expression:
        # Sunday Feb 29ths: 2032, 2060, 2088, ...
        assert result.date().isoformat() == "2032-02-29"
    else:
        assert result.date().isoformat() == first


def test_start_and_end_are_inclusive() -> None:
    start = datetime(2024, 1, 1, 9, tzinfo=UTC)
    end = datetime(2024, 1, 3, 9, tzinfo=UTC)
    trigger = CronTrigger("0 9 * * *", timezone="UTC", start=start, end=end)
    assert trigger.next_times(START, 5) == [start, start + timedelta(days=1), end]
    assert trigger.next_after(end) is None


def test_start_with_microseconds_excludes_the_earlier_second() -> None:
    start = datetime(2024, 1, 1, 9, 0, 0, 1, tzinfo=UTC)
    trigger = CronTrigger("* * * * * *", timezone="UTC", start=start)
    assert trigger.next_after(START) == datetime(2024, 1, 1, 9, 0, 1, tzinfo=UTC)


def test_end_before_start_is_refused() -> None:
    with pytest.raises(ValueError, match="before start"):
        CronTrigger(
            "* * * * *",
            timezone="UTC",
            start=datetime(2024, 2, 1, tzinfo=UTC),
            end=datetime(2024, 1, 1, tzinfo=UTC),
        )


NEW_YORK = ZoneInfo("America/New_York")


def test_an_end_in_the_second_pass_of_a_fold_may_be_an_earlier_wall_time() -> None:
    # 2024-11-03 in New York: 01:00-01:59 happens at -04:00 (fold 0), then at -05:00.
    # 01:20 in the second pass is an earlier wall time than 01:30 in the first, but as
    # an instant it is 50 minutes later: a valid window.
    start = datetime(2024, 11, 3, 1, 30, tzinfo=NEW_YORK)
    end = datetime(2024, 11, 3, 1, 20, fold=1, tzinfo=NEW_YORK)
    trigger = CronTrigger("*/10 * * * *", timezone=NEW_YORK, start=start, end=end)
    fires = trigger.next_times(datetime(2024, 11, 3, tzinfo=NEW_YORK), 10)
    assert [f"{fire:%H:%M%z}" for fire in fires] == [
        "01:30-0400", "01:40-0400", "01:50-0400", "01:00-0500", "01:10-0500", "01:20-0500",
    ]  # fmt: skip


def test_an_end_in_the_first_pass_of_a_fold_before_start_is_refused() -> None:
    # 01:40 in the first pass is a later wall time than 01:30 in the second, but as an
    # instant it is 50 minutes earlier: the window is empty (it was accepted, and never
    # fired).
    start = datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=NEW_YORK)
    end = datetime(2024, 11, 3, 1, 40, tzinfo=NEW_YORK)
    with pytest.raises(ValueError, match="is before start"):
        CronTrigger("*/10 * * * *", timezone=NEW_YORK, start=start, end=end)


def test_the_cron_shortcut_compares_start_and_end_dates_as_instants() -> None:
    from tickwork import Scheduler
    from tickwork.testing import FakeClock

    scheduler = Scheduler(clock=FakeClock(datetime(2024, 11, 3, 5, tzinfo=UTC)), timezone=NEW_YORK)
    first_0130 = datetime(2024, 11, 3, 1, 30, tzinfo=NEW_YORK)
    second_0120 = datetime(2024, 11, 3, 1, 20, fold=1, tzinfo=NEW_YORK)
    job = scheduler.add_job(
        print, "cron", "*/10 * * * *", start_date=first_0130, end_date=second_0120
    )
    assert job.next_fire == first_0130
    with pytest.raises(ValueError, match=r"end_date .* is before start_date"):
        scheduler.add_job(print, "cron", "*/10 * * * *", start_date=second_0120,
                          end_date=first_0130)  # fmt: skip


def test_naive_datetimes_are_refused() -> None:
    trigger = CronTrigger("* * * * *", timezone="UTC")
    with pytest.raises(TypeError, match="moment must be an aware datetime"):
        trigger.next_after(datetime(2024, 1, 1))
    with pytest.raises(TypeError, match="start must be an aware datetime"):
        CronTrigger("* * * * *", timezone="UTC", start=datetime(2024, 1, 1))


def test_results_are_in_the_trigger_zone_whatever_the_moment_zone() -> None:
    trigger = CronTrigger("0 9 * * *", timezone="Asia/Tokyo")
    result = trigger.next_after(datetime(2024, 1, 1, tzinfo=ZoneInfo("America/New_York")))
    assert result is not None
    assert result.tzinfo is trigger.timezone
    # 2024-01-01 00:00 in New York is already 14:00 in Tokyo.
    assert result.isoformat() == "2024-01-02T09:00:00+09:00"


def test_fixed_offset_zones() -> None:
    trigger = CronTrigger("0 9 * * *", timezone="+05:30")
    result = trigger.next_after(START)
    assert result is not None
    assert result.isoformat() == "2024-01-01T09:00:00+05:30"
    assert trigger.to_dict()["timezone"] == "+05:30"


def test_unknown_timezone() -> None:
    with pytest.raises(UnknownTimezone, match="Mars/Olympus_Mons"):
        CronTrigger("* * * * *", timezone="Mars/Olympus_Mons")


def test_bad_policy_values_are_refused() -> None:
    with pytest.raises(ValueError, match="dst_gap must be one of"):
        CronTrigger("* * * * *", timezone="UTC", dst_gap="later")
    with pytest.raises(ValueError, match="dst_overlap must be one of"):
        CronTrigger("* * * * *", timezone="UTC", dst_overlap=True)  # type: ignore[arg-type]


def test_policies_accept_enums_and_strings() -> None:
    a = CronTrigger("0 2 * * *", timezone="UTC", dst_gap="skip", dst_overlap="both")
    b = CronTrigger("0 2 * * *", timezone="UTC", dst_gap=DstGap.SKIP, dst_overlap=DstOverlap.BOTH)
    assert a == b
    assert a.dst_gap is DstGap.SKIP
    assert a.dst_overlap is DstOverlap.BOTH


def test_runs_out_after_the_last_year() -> None:
    trigger = CronTrigger("0 0 0 1 1 * 2099", timezone="UTC")
    last = trigger.next_after(START)
    assert last is not None
    assert last.year == 2099
    assert trigger.next_after(last) is None


def test_far_future_stops_at_year_9999() -> None:
    trigger = CronTrigger("0 0 29 2 *", timezone="UTC")
    assert trigger.next_after(datetime(9996, 3, 1, tzinfo=UTC)) is None


def test_repr_and_dict() -> None:
    trigger = CronTrigger(
        "0  9 * * mon-fri",
        timezone="Europe/Berlin",
        start=datetime(2024, 1, 1, tzinfo=UTC),
        dst_gap="skip",
    )
    assert repr(trigger) == (
        "CronTrigger('0 9 * * mon-fri', timezone='Europe/Berlin', "
        "start='2024-01-01T00:00:00+00:00', dst_gap='skip')"
    )
    data = trigger.to_dict()
    assert data == {
        "type": "cron",
        "expression": "0 9 * * mon-fri",
        "timezone": "Europe/Berlin",
        "start": "2024-01-01T00:00:00+00:00",
        "end": None,
        "dst_gap": "skip",
        "dst_overlap": None,
    }
    assert trigger_from_dict(json.loads(json.dumps(data))) == trigger


def test_triggers_are_immutable_and_hashable() -> None:
    trigger = CronTrigger("* * * * *", timezone="UTC")
    with pytest.raises(AttributeError, match="immutable"):
        trigger.expression = "0 * * * *"  # type: ignore[misc]
    assert len({trigger, CronTrigger("* * * * *", timezone="UTC")}) == 1
    assert trigger != CronTrigger("* * * * *", timezone="Europe/Berlin")


def test_local_zone_default_comes_from_tz(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    assert CronTrigger("* * * * *").to_dict()["timezone"] == "Asia/Kolkata"


def test_six_fields_with_a_year_point_to_seven() -> None:
    with pytest.raises(InvalidExpression, match="seven fields"):
        CronTrigger("0 0 1 1 * 2030", timezone="UTC")


def test_trigger_data_missing_a_key_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"invalid .cron. trigger data"):
        trigger_from_dict({"type": "cron"})


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(
            {"type": "cron", "expression": "0 9 * * *", "timezone": "UTC", "start": "yesterday"},
            "start 'yesterday' is not an ISO 8601 datetime (Invalid isoformat string",
            id="cron-start",
        ),
        pytest.param(
            {"type": "cron", "expression": "0 9 * * *", "timezone": "UTC", "end": 5},
            "end must be an ISO 8601 datetime string, got int 5",
            id="cron-end-int",
        ),
        pytest.param(
            {"type": "date", "run_at": "soon", "timezone": "UTC"},
            "run_at 'soon' is not an ISO 8601 datetime",
            id="date-run-at",
        ),
        pytest.param(
            {
                "type": "interval",
                "hours": 1,
                "start": "2024-13-01T00:00:00+00:00",
                "timezone": "UTC",
            },
            "start '2024-13-01T00:00:00+00:00' is not an ISO 8601 datetime (month must be",
            id="interval-start",
        ),
        pytest.param(
            {
                "type": "interval",
                "hours": 1,
                "start": "2024-01-01T00:00:00+00:00",
                "end": "later",
                "timezone": "UTC",
            },
            "end 'later' is not an ISO 8601 datetime",
            id="interval-end",
        ),
        pytest.param(
            {
                "type": "calendar_interval",
                "days": 1,
                "start": "2024-01-01T00:00:00+00:00",
                "end": "2024-02-30T00:00:00+00:00",
                "timezone": "UTC",
            },
            "end '2024-02-30T00:00:00+00:00' is not an ISO 8601 datetime",
            id="calendar-end",
        ),
    ],
)
def test_malformed_stored_datetimes_are_wrapped_naming_the_field(
    data: dict[str, object], reason: str
) -> None:
    with pytest.raises(ValueError, match="trigger data") as raised:
        trigger_from_dict(data)
    message = str(raised.value)
    assert message.startswith(f"invalid {data['type']!r} trigger data {data!r}: ")
    assert reason in message


@pytest.mark.parametrize("method", ["iter_after", "iter_before"])
def test_iterating_from_a_naive_moment_fails_at_the_call(method: str) -> None:
    trigger = CronTrigger("0 9 * * *", timezone="UTC")
    with pytest.raises(TypeError, match="moment must be an aware datetime"):
        getattr(trigger, method)(datetime(2024, 1, 1))
    # An aware moment still walks lazily, in both directions.
    fires = getattr(trigger, method)(START)
    assert next(fires).isoformat() == (
        "2024-01-01T09:00:00+00:00" if method == "iter_after" else "2023-12-31T09:00:00+00:00"
    )


def test_a_moment_that_is_no_datetime_is_a_type_error_naming_it() -> None:
    # date and str objects raised AttributeError ('date' object has no attribute 'tzinfo').
    from datetime import date

    cron = CronTrigger("0 9 * * *", timezone="UTC")
    for wrong in (date(2024, 1, 1), "2024-01-01T00:00:00+00:00", 1704067200):
        with pytest.raises(TypeError, match="moment must be an aware datetime"):
            cron.next_after(wrong)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="moment must be an aware datetime"):
            cron.previous_before(wrong)  # type: ignore[arg-type]
    moment = datetime(2024, 1, 1, tzinfo=timezone.utc)
    for count_method in (cron.next_times, cron.previous_times):
        with pytest.raises(TypeError, match="got bool True"):
            count_method(moment, True)  # type: ignore[arg-type]
