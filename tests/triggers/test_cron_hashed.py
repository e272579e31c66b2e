"""Hashed cron fields (Jenkins-style ``H``): the grammar, the fixed hash, spreading,
unbound triggers, serialization and explain().

The expected values below were NOT computed with tickwork. The hash is documented as
the first 8 bytes (big-endian) of SHA-256 of ``"tickwork cron H\\0" + field + "\\0" +
key`` in UTF-8, reduced modulo the size of the range; each number was worked out with
coreutils and bc, e.g. for key ``job-1``, field ``minute``, range 0-59::

    h=$(printf 'tickwork cron H\\0minute\\0job-1' | sha256sum | cut -c1-16 | tr a-f A-F)
    echo "ibase=16; $h % 3C" | bc        # -> 37

Results (the number modulo the range's size: 60 for second and minute, 24 for hour, 28
for day, 12 for month, 7 for weekday; before adding the range's first value):

| key | second | minute | minute %15 | minute %10 | hour | day | month | weekday |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
| ``job-1`` | 23 | 37 | 7 | 7 | 17 | 0 | 7 | 2 |
| ``x`` | 11 | 50 | 5 | 0 | 16 | 2 | 9 | 0 |
| ``Ünïcode`` | 41 | 53 | 8 | 3 | 18 | 13 | 4 | 4 |

So for ``job-1``: second 23, minute 37, hour 17, day 1 (1 + 0), August (1 + 7),
Tuesday (2). Calendar facts used: 2024-01-01 is a Monday, 2024 is a leap year.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwork import AndTrigger, CronTrigger, InvalidExpression, OrTrigger
from tickwork.triggers import trigger_from_dict

UTC = timezone.utc
START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


def fires(expression: str, key: str, count: int = 3) -> list[str]:
    trigger = CronTrigger(expression, timezone="UTC", hash_key=key)
    return [t.strftime("%Y-%m-%d %H:%M:%S %a") for t in trigger.next_times(START, count)]


# -- fixed values: the hash never changes ----------------------------------------------


@pytest.mark.parametrize(
    ("expression", "key", "expected"),
    [
        ("H * * * *", "job-1", ["2024-01-01 00:37:00 Mon", "2024-01-01 01:37:00 Mon"]),
        ("H * * * *", "x", ["2024-01-01 00:50:00 Mon", "2024-01-01 01:50:00 Mon"]),
        ("H * * * *", "Ünïcode", ["2024-01-01 00:53:00 Mon", "2024-01-01 01:53:00 Mon"]),
        ("H H * * *", "job-1", ["2024-01-01 17:37:00 Mon", "2024-01-02 17:37:00 Tue"]),
        ("H H * * *", "x", ["2024-01-01 16:50:00 Mon", "2024-01-02 16:50:00 Tue"]),
        ("H H H * * *", "job-1", ["2024-01-01 17:37:23 Mon", "2024-01-02 17:37:23 Tue"]),
        # day: 1 + 0 for job-1, 1 + 2 for x; month: 1 + 7 (August), 1 + 9 (October).
        ("0 0 H * *", "job-1", ["2024-02-01 00:00:00 Thu", "2024-03-01 00:00:00 Fri"]),
        ("0 0 H * *", "x", ["2024-01-03 00:00:00 Wed", "2024-02-03 00:00:00 Sat"]),
        ("0 0 1 H *", "job-1", ["2024-08-01 00:00:00 Thu", "2025-08-01 00:00:00 Fri"]),
        ("0 0 1 H *", "x", ["2024-10-01 00:00:00 Tue", "2025-10-01 00:00:00 Wed"]),
        # weekday 2 (Tuesday) for job-1, 0 (Sunday) for x, 4 (Thursday) for Ünïcode.
        ("0 0 * * H", "job-1", ["2024-01-02 00:00:00 Tue", "2024-01-09 00:00:00 Tue"]),
        ("0 0 * * H", "x", ["2024-01-07 00:00:00 Sun", "2024-01-14 00:00:00 Sun"]),
        ("0 0 * * H", "Ünïcode", ["2024-01-04 00:00:00 Thu", "2024-01-11 00:00:00 Thu"]),
    ],
)
def test_fixed_values(expression: str, key: str, expected: list[str]) -> None:
    assert fires(expression, key, len(expected)) == expected


@pytest.mark.parametrize(
    ("key", "field", "digest_head"),
    [
        # printf 'tickwork cron H\0<field>\0<key>' | sha256sum | cut -c1-16
        ("job-1", "minute", "65efcef9bdd67449"),
        ("job-1", "hour", "af2f4f3c4bcdcbd9"),
        ("job-1", "day-of-month", "049f5322ccc11cac"),
        ("job-1", "month", "a7268063518f072b"),
        ("job-1", "day-of-week", "74e4b63578d495cd"),
        ("job-1", "second", "25a17abcca790cd7"),
    ],
)
def test_the_documented_number(key: str, field: str, digest_head: str) -> None:
    from tickwork.triggers._cronparse import hash_number

    assert hash_number(key, field) == int(digest_head, 16)


@pytest.mark.parametrize(
    ("expression", "key", "minutes"),
    [
        # H/15 starts at number % 15 (7 for job-1, 5 for x, 8 for Ünïcode).
        ("H/15 * * * *", "job-1", [7, 22, 37, 52]),
        ("H/15 * * * *", "x", [5, 20, 35, 50]),
        ("H/15 * * * *", "Ünïcode", [8, 23, 38, 53]),
        # H(0-29)/10 starts at number % 10 within 0-29: job-1 7, x 0, Ünïcode 3.
        ("H(0-29)/10 * * * *", "job-1", [7, 17, 27]),
        ("H(0-29)/10 * * * *", "x", [0, 10, 20]),
        ("H(0-29)/10 * * * *", "Ünïcode", [3, 13, 23]),
        # H(30-39) is 30 + number % 10; H(0-9) is number % 10.
        ("H(30-39) * * * *", "job-1", [37]),
        ("H(0-9),30 * * * *", "job-1", [7, 30]),
        ("H(0-9),30 * * * *", "x", [0, 30]),
        # Items of one field share its number: twice an hour, 30 minutes apart.
        ("H(0-29),H(30-59) * * * *", "x", [20, 50]),
        ("H/60 * * * *", "job-1", [37]),
        ("H/1 * * * *", "job-1", list(range(60))),
    ],
)
def test_forms_within_one_hour(expression: str, key: str, minutes: list[int]) -> None:
    trigger = CronTrigger(expression, timezone="UTC", hash_key=key)
    fires = trigger.next_times(START - timedelta(seconds=1), 2 * len(minutes))
    assert [t.minute for t in fires if t.hour == 0] == minutes
    assert [t.minute for t in fires if t.hour == 1] == minutes  # the next hour alike


def test_ranges_with_names_and_sunday_at_the_end() -> None:
    # Weekday H(fri-sun) is 5 + number % 3 over 5-7 (7 is Sunday): for job-1,
    # printf 'tickwork cron H\0day-of-week\0job-1' | sha256sum -> 74e4b63578d495cd,
    # and echo "ibase=16; 74E4B63578D495CD % 3" | bc -> 2: day 7, Sunday.
    assert fires("0 0 * * H(fri-sun)", "job-1", 2) == [
        "2024-01-07 00:00:00 Sun",
        "2024-01-14 00:00:00 Sun",
    ]
    # Month H(jan-mar) is 1 + number % 3; 0xa7268063518f072b % 3 = 1: February.
    assert fires("0 0 1 H(jan-mar) *", "job-1", 2) == [
        "2024-02-01 00:00:00 Thu",
        "2025-02-01 00:00:00 Sat",
    ]


# -- ranges: any key, a value in range, the same one every time ------------------------

_FORMS = [
    # expression, what to read off a fire time, the values allowed
    ("H * * * * *", lambda t: t.second, range(60)),
    ("H * * * *", lambda t: t.minute, range(60)),
    ("0 H * * *", lambda t: t.hour, range(24)),
    ("0 0 H * *", lambda t: t.day, range(1, 29)),  # 1-28: every month has the day
    ("0 0 1 H *", lambda t: t.month, range(1, 13)),
    ("0 0 * * H", lambda t: t.isoweekday() % 7, range(7)),
    ("H(10-20) * * * *", lambda t: t.minute, range(10, 21)),
    ("0 0 H(29-31) * *", lambda t: t.day, range(29, 32)),
    ("0 0 * * H(mon-fri)", lambda t: t.isoweekday() % 7, range(1, 6)),
]


@given(key=st.text(min_size=1, max_size=40), form=st.sampled_from(_FORMS))
def test_any_key_gives_one_value_in_range_and_the_same_twice(key: str, form: tuple) -> None:  # type: ignore[type-arg]
    expression, read, allowed = form
    first = CronTrigger(expression, timezone="UTC", hash_key=key)
    values = {read(t) for t in first.next_times(START, 40)}
    assert len(values) == 1
    assert values <= set(allowed)
    again = CronTrigger(expression, timezone="UTC").with_hash_key(key)
    assert again == first
    assert again.next_times(START, 5) == first.next_times(START, 5)


@given(key=st.text(min_size=1, max_size=40), step=st.integers(1, 60))
def test_a_hashed_step_keeps_its_step_and_starts_below_it(key: str, step: int) -> None:
    trigger = CronTrigger(f"H/{step} * * * *", timezone="UTC", hash_key=key)
    minutes = sorted({t.minute for t in trigger.next_times(START, 61)})
    assert minutes[0] < step
    assert minutes == list(range(minutes[0], 60, step))


def test_the_value_is_the_same_in_another_process() -> None:
    # str hashing is salted per process (PYTHONHASHSEED); the H hash must not be.
    code = (
        "from datetime import datetime, timezone\n"
        "from tickwork import CronTrigger\n"
        "t = CronTrigger('H H * * *', timezone='UTC', hash_key='job-1')\n"
        "print(t.next_after(datetime(2024, 1, 1, tzinfo=timezone.utc)).isoformat())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "2024-01-01T17:37:00+00:00"


# -- spreading ---------------------------------------------------------------------------


def test_a_thousand_job_ids_spread_over_the_hour() -> None:
    minutes = Counter(
        CronTrigger("H * * * *", timezone="UTC", hash_key=f"job-{n}").next_after(START).minute  # type: ignore[union-attr]
        for n in range(1000)
    )
    counts = [minutes[minute] for minute in range(60)]
    # Each minute's count is Binomial(1000, 1/60): mean 16.7, sd 4.05. P(X <= 3) is
    # 4.9e-5 and P(X >= 35) 5.0e-5, so a uniform hash has all 60 counts in 4..34 with
    # probability over 99.4 % (union bound); a hash that clumps does not.
    assert min(counts) >= 4
    assert max(counts) <= 34
    # Pearson's chi-square with 59 degrees of freedom: its 99.9 % quantile is about
    # 98.4 (Wilson-Hilferty: 59 * (1 - 2/531 + 3.09 * sqrt(2/531)) ** 3).
    expected = 1000 / 60
    chi_square = sum((count - expected) ** 2 / expected for count in counts)
    assert chi_square < 98.4


def test_the_fields_of_one_key_are_not_correlated() -> None:
    # Were the minute and the hour taken from one number, minute % 12 == hour % 12 always
    # (12 divides 24 and 60). Independent fields agree with probability 1/12: over 1000
    # keys, Binomial(1000, 1/12), mean 83.3, sd 8.7; 51..120 holds with probability
    # above 99.99 %.
    agree = 0
    for n in range(1000):
        fire = CronTrigger("H H * * *", timezone="UTC", hash_key=f"job-{n}").next_after(START)
        assert fire is not None
        agree += fire.minute % 12 == fire.hour % 12
    assert 51 <= agree <= 120


# -- bad forms ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "field", "token", "reason"),
    [
        ("H(30-10) * * * *", "minute", "H(30-10)", "range runs backwards (30 > 10)"),
        ("H/0 * * * *", "minute", "H/0", "a step of 0 never advances"),
        ("H(0-99) * * * *", "minute", "H(0-99)", "99 is out of range (expected 0-59)"),
        ("Hx * * * *", "minute", "HX", "expected H, H(a-b), H/n or H(a-b)/n"),
        ("H(0-) * * * *", "minute", "H(0-)", "expected H, H(a-b), H/n or H(a-b)/n"),
        ("H(5) * * * *", "minute", "H(5)", "expected H, H(a-b), H/n or H(a-b)/n"),
        ("H/61 * * * *", "minute", "H/61", "a step of 61 does not fit the range 0-59"),
        ("H(0-29)/40 * * * *", "minute", "H(0-29)/40", "does not fit the range 0-29"),
        ("0 0 H/30 * *", "day-of-month", "H/30", "does not fit the range 1-28"),
        ("0 H(20-25) * * *", "hour", "H(20-25)", "25 is out of range (expected 0-23)"),
        ("0 0 * H(13-14) *", "month", "H(13-14)", "13 is out of range"),
        ("0 0 * * H(fri-mon)", "day-of-week", "H(FRI-MON)", "range runs backwards (5 > 1)"),
        ("0 0 HW * *", "day-of-month", "HW", "expected H, H(a-b), H/n or H(a-b)/n"),
        ("0 0 * * HL", "day-of-week", "HL", "expected H, H(a-b), H/n or H(a-b)/n"),
        ("0 0 0 * * * H", "year", "H", "not allowed in the year field"),
        ("0 0 0 * * * H(2030-2035)", "year", "H(2030-2035)", "not allowed in the year field"),
    ],
)
def test_bad_forms_name_the_field_and_token(
    expression: str, field: str, token: str, reason: str
) -> None:
    for key in (None, "job-1"):  # refused whether or not the trigger has a key
        with pytest.raises(InvalidExpression) as caught:
            CronTrigger(expression, timezone="UTC", hash_key=key)
        assert caught.value.field == field
        assert caught.value.token == token
        assert f"{field} field {token!r}: " in str(caught.value)
        assert reason in str(caught.value)


def test_from_fields_refuses_h() -> None:
    with pytest.raises(
        InvalidExpression, match=r"minute='H'.*not allowed in CronTrigger\.from_fields"
    ):
        CronTrigger.from_fields(minute="H", timezone="UTC")


def test_hash_key_must_be_a_non_empty_str() -> None:
    with pytest.raises(TypeError, match="hash_key must be a str, got int"):
        CronTrigger("H * * * *", timezone="UTC", hash_key=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hash_key must be a non-empty str"):
        CronTrigger("H * * * *", timezone="UTC", hash_key="")


def test_whether_it_can_fire_is_checked_with_the_key() -> None:
    # H(2-4) is 2 + number % 3, and 3 divides 12, so number % 3 is the table's month
    # % 12 taken % 3: job-1 7 % 3 = 1 -> March, which has a 31st; x 9 % 3 = 0 ->
    # February, which never has.
    assert fires("0 0 31 H(2-4) *", "job-1", 2) == [
        "2024-03-31 00:00:00 Sun",
        "2025-03-31 00:00:00 Mon",
    ]
    with pytest.raises(InvalidExpression, match=r"with hash_key 'x': .* would never fire"):
        CronTrigger("0 0 31 H(2-4) *", timezone="UTC", hash_key="x")
    # Unbound, it cannot be decided yet, so it is accepted until a key is given.
    unbound = CronTrigger("0 0 31 H(2-4) *", timezone="UTC")
    with pytest.raises(InvalidExpression, match="would never fire"):
        unbound.with_hash_key("x")
    assert unbound.with_hash_key("job-1").next_after(START) == datetime(2024, 3, 31, tzinfo=UTC)
    # With H only in the time fields, no key can help: refused at once, key or not.
    with pytest.raises(InvalidExpression, match="would never fire"):
        CronTrigger("H H 30 2 *", timezone="UTC")


# -- unbound triggers --------------------------------------------------------------------


def test_an_unbound_trigger_refuses_to_give_times_and_names_hash_key() -> None:
    trigger = CronTrigger("H/15 * * * *", timezone="UTC")
    assert trigger.is_hashed
    assert trigger.hash_key is None
    for ask in (
        lambda: trigger.next_after(START),
        lambda: trigger.next_times(START, 2),
        lambda: trigger.previous_before(START),
        lambda: trigger.previous_times(START, 2),
        trigger.explain,
    ):
        with pytest.raises(InvalidExpression, match="no hash_key") as caught:
            ask()
        assert caught.value.token == "H"
    assert repr(trigger) == "CronTrigger('H/15 * * * *', timezone='UTC')"
    assert "hash_key" not in trigger.to_dict()
    assert trigger_from_dict(trigger.to_dict()) == trigger
    bound = trigger.with_hash_key("job-1")
    assert bound.hash_key == "job-1"
    assert bound.next_after(START) == datetime(2024, 1, 1, 0, 7, tzinfo=UTC)
    # Backwards over the same hashed grid: minutes 7, 22, 37, 52.
    assert bound.previous_before(START) == datetime(2023, 12, 31, 23, 52, tzinfo=UTC)
    assert bound.with_hash_key("job-1") is bound


def test_a_trigger_without_h_ignores_no_key_and_needs_none() -> None:
    plain = CronTrigger("0 9 * * *", timezone="UTC")
    assert not plain.is_hashed
    assert plain.next_after(START) == datetime(2024, 1, 1, 9, tzinfo=UTC)
    keyed = CronTrigger("0 9 * * *", timezone="UTC", hash_key="k")
    assert keyed.next_times(START, 3) == plain.next_times(START, 3)


# -- serialization, repr, explain --------------------------------------------------------


def test_to_dict_carries_the_key_and_old_rows_still_load() -> None:
    trigger = CronTrigger("H H * * *", timezone="Europe/Berlin", hash_key="job-1")
    data = json.loads(json.dumps(trigger.to_dict()))
    assert data["hash_key"] == "job-1"
    again = trigger_from_dict(data)
    assert again == trigger
    assert again.next_times(START, 3) == trigger.next_times(START, 3)
    assert trigger != CronTrigger("H H * * *", timezone="Europe/Berlin", hash_key="job-2")
    # A row written before hashing existed has no "hash_key" key.
    old = {
        "type": "cron",
        "expression": "0 9 * * mon-fri",
        "timezone": "UTC",
        "start": None,
        "end": None,
        "dst_gap": None,
        "dst_overlap": None,
    }
    loaded = trigger_from_dict(old)
    assert isinstance(loaded, CronTrigger)
    assert loaded.hash_key is None
    assert loaded.to_dict() == old


def test_a_keyword_form_trigger_keeps_a_key_through_to_dict() -> None:
    trigger = CronTrigger.from_fields(hour=9, week="1-10", timezone="UTC").with_hash_key("k")
    assert trigger_from_dict(trigger.to_dict()) == trigger
    assert repr(trigger).endswith("hash_key='k')")


def test_repr_shows_the_key() -> None:
    trigger = CronTrigger("H 9 * * *", timezone="UTC", hash_key="job-1")
    assert repr(trigger) == "CronTrigger('H 9 * * *', timezone='UTC', hash_key='job-1')"


@pytest.mark.parametrize(
    ("expression", "key", "text"),
    [
        ("H * * * *", "job-1", "At minute 37 past every hour (H: minute 37)"),
        ("H H * * *", "job-1", "At 17:37 (H: minute 37, hour 17)"),
        (
            "H/15 * * * *",
            "job-1",
            "Every 15 minutes from 7 through 52 (H: minutes 7, 22, 37 and 52)",
        ),
        ("H(0-9),30 * * * *", "job-1", "At minutes 7 and 30 past every hour (H: minute 7)"),
        ("0 0 H * *", "x", "At 00:00 on day 3 of the month (H: day 3)"),
        ("0 0 1 H * ", "job-1", "At 00:00 on day 1 of August (H: August)"),
        ("0 9 * * H", "job-1", "At 09:00 on Tuesday (H: Tuesday)"),
        ("H 9 * * *", "x", "At 09:50 (H: minute 50)"),
    ],
)
def test_explain_shows_the_chosen_values(expression: str, key: str, text: str) -> None:
    assert CronTrigger(expression, timezone="UTC", hash_key=key).explain() == text


# -- and/or triggers ---------------------------------------------------------------------


def test_combined_triggers_are_bound_through_the_scheduler_helper() -> None:
    from tickwork.triggers._binding import bind_hash_key

    unbound = CronTrigger("H * * * *", timezone="UTC")
    own = CronTrigger("H * * * *", timezone="UTC", hash_key="own")
    plain = CronTrigger("0 9 * * *", timezone="UTC")
    either = bind_hash_key(OrTrigger([unbound, AndTrigger([own, unbound]), plain]), "x")
    assert isinstance(either, OrTrigger)
    first, both, third = either.triggers
    assert isinstance(first, CronTrigger)
    assert first.hash_key == "x"
    assert isinstance(both, AndTrigger)
    assert [t.hash_key for t in both.triggers] == ["own", "x"]  # type: ignore[attr-defined]
    assert third is plain  # no H: left exactly as it was
    # Nothing to bind: the very same object comes back.
    done = OrTrigger([own, plain])
    assert bind_hash_key(done, "x") is done
