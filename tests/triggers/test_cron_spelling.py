"""Friendlier spellings: day-of-week ranges that end on Sunday, and what separates fields.

Calendar facts used: 2024-01-01 is a Monday, so 2024-01-01..07 is Monday..Sunday.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tickwork import CronTrigger, InvalidExpression

UTC = timezone.utc
START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
WEEK = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def weekdays(expression: str) -> list[str]:
    """The weekdays a daily-at-09:00 expression fires on in the week 2024-01-01..07."""
    trigger = CronTrigger(expression, timezone="UTC")
    fires = trigger.next_times(START, 7)
    return [f"{fire:%a}" for fire in fires if fire < START + timedelta(days=7)]


# -- day-of-week ranges ending on Sunday --------------------------------------------------


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("mon-sun", list(WEEK)),
        ("MON-SUN", list(WEEK)),
        ("fri-sun", ["Fri", "Sat", "Sun"]),
        ("sat-sun", ["Sat", "Sun"]),
        ("sun-sun", ["Sun"]),
        ("5-7", ["Fri", "Sat", "Sun"]),
        ("1-7", list(WEEK)),
        ("5-0", ["Fri", "Sat", "Sun"]),  # 0 is Sunday too: the same range as 5-7
        ("fri-7", ["Fri", "Sat", "Sun"]),
        ("0-6", list(WEEK)),
        ("sun-sat", list(WEEK)),
        ("sun-mon", ["Mon", "Sun"]),  # a range that starts on Sunday (0) is left alone
        ("mon-sun/2", ["Mon", "Wed", "Fri", "Sun"]),  # 1-7/2: 1, 3, 5, 7
        ("tue-sun/3", ["Tue", "Fri"]),  # 2-7/3: 2, 5
        ("mon-fri,sat-sun", list(WEEK)),
        ("H(fri-sun)", None),  # hashed: one of the three (see test_cron_hashed.py)
    ],
)
def test_ranges_may_end_on_sunday(field: str, expected: list[str] | None) -> None:
    expression = f"0 9 * * {field}"
    if expected is None:
        for key in ("job-1", "x", "Ünïcode"):
            chosen = CronTrigger(expression, timezone="UTC", hash_key=key)
            days = [f"{fire:%a}" for fire in chosen.next_times(START, 3)]
            assert len(set(days)) == 1
            assert days[0] in ("Fri", "Sat", "Sun")
        return
    assert weekdays(expression) == expected


@pytest.mark.parametrize(
    ("field", "shown", "numbers"),
    [
        ("fri-mon", "FRI-MON", "(5 > 1)"),
        ("5-1", "5-1", "(5 > 1)"),
        ("sat-tue", "SAT-TUE", "(6 > 2)"),
        ("7-1", "7-1", "(7 > 1)"),  # a 7 at the start stays 7: no wrapping round
        ("sun-0", None, None),  # 0-0: accepted, just Sunday
    ],
)
def test_ranges_that_really_run_backwards_are_still_refused(
    field: str, shown: str | None, numbers: str | None
) -> None:
    expression = f"0 9 * * {field}"
    if shown is None:
        assert weekdays(expression) == ["Sun"]
        return
    with pytest.raises(InvalidExpression) as caught:
        CronTrigger(expression, timezone="UTC")
    assert caught.value.field == "day-of-week"
    assert caught.value.token == shown
    assert f"range runs backwards {numbers}; split it, e.g. " in str(caught.value)


def test_sunday_ends_a_range_only_in_the_day_of_week_field() -> None:
    # Elsewhere 0 is an ordinary value: a range ending on it runs backwards.
    with pytest.raises(InvalidExpression, match=r"hour field '5-0': range runs backwards"):
        CronTrigger("0 5-0 * * *", timezone="UTC")


def test_explain_reads_a_range_to_sunday_as_the_days_it_allows() -> None:
    assert CronTrigger("0 9 * * fri-sun", timezone="UTC").explain() == (
        "At 09:00 on Friday through Sunday"
    )
    assert CronTrigger("0 9 * * mon-sun", timezone="UTC").explain() == "At 09:00"


# -- field separators -----------------------------------------------------------------------

_SPACES = {
    "tab": "\t",
    "several spaces": "   ",
    "space and tab": " \t ",
    "newline": "\n",
    "carriage return and newline": "\r\n",
    "no-break space U+00A0": "\u00a0",
    "narrow no-break space U+202F": "\u202f",
    "em space U+2003": "\u2003",
    "ideographic space U+3000": "\u3000",
    "line separator U+2028": "\u2028",
}


@pytest.mark.parametrize("separator", list(_SPACES.values()), ids=list(_SPACES))
def test_any_run_of_unicode_white_space_separates_fields(separator: str) -> None:
    expression = separator.join(["30", "9", "*", "*", "mon-fri"])
    trigger = CronTrigger(expression, timezone="UTC")
    assert trigger.expression == "30 9 * * mon-fri"  # folded to single spaces
    assert trigger == CronTrigger("30 9 * * mon-fri", timezone="UTC")
    assert trigger.next_after(START) == datetime(2024, 1, 1, 9, 30, tzinfo=UTC)


def test_leading_and_trailing_white_space_is_ignored() -> None:
    trigger = CronTrigger(" \t30 9 * * *\n", timezone="UTC")
    assert trigger.expression == "30 9 * * *"
    assert trigger.next_after(START) == datetime(2024, 1, 1, 9, 30, tzinfo=UTC)


def test_two_lines_of_expressions_are_too_many_fields() -> None:
    with pytest.raises(InvalidExpression, match=r"expected 5 fields .* got 10"):
        CronTrigger("0 9 * * *\n0 17 * * *", timezone="UTC")


@pytest.mark.parametrize(
    ("character", "name"),
    [("\u200b", "zero-width space"), ("\ufeff", "byte order mark"), ("\u180e", "U+180E")],
)
def test_invisible_characters_that_are_not_white_space_are_named_in_the_error(
    character: str, name: str
) -> None:
    del name
    with pytest.raises(InvalidExpression) as caught:
        CronTrigger(f"30{character} 9 * * *", timezone="UTC")
    assert caught.value.field == "minute"
    assert caught.value.token == f"30{character}"
    assert repr(f"30{character}") in str(caught.value)  # shown escaped, e.g. '30\u200b'


def test_a_hashed_item_takes_no_white_space_inside() -> None:
    # "H (0-29)" is two fields, "H" and "(0-29)": the second is refused by name.
    with pytest.raises(InvalidExpression) as caught:
        CronTrigger("H (0-29) * * * *", timezone="UTC")
    assert caught.value.field == "minute"
    assert caught.value.token == "(0-29)"
