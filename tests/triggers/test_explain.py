"""CronTrigger.explain(): the English read back from the parsed masks."""

from __future__ import annotations

import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

from tickwork._errors import InvalidExpression
from tickwork.triggers import CronTrigger


def explain(expression: str) -> str:
    return CronTrigger(expression, timezone="UTC").explain()


EXPLAINED = [
    # The time of day.
    ("* * * * *", "Every minute"),
    ("*/5 * * * *", "Every 5 minutes"),
    ("0,15,30,45 * * * *", "Every 15 minutes"),
    ("0-59/30 * * * *", "Every 30 minutes"),
    ("*/7 * * * *", "Every 7 minutes from 0 through 56"),
    ("5/10 * * * *", "Every 10 minutes from 5 through 55"),
    ("0-30 * * * *", "Every minute from 0 through 30"),
    ("0 * * * *", "At minute 0 past every hour"),
    ("5,35 * * * *", "At minutes 5 and 35 past every hour"),
    ("30 2 * * *", "At 02:30"),
    ("0 9,17 * * *", "At 09:00 and 17:00"),
    ("0,30 9,17 * * *", "At 09:00, 09:30, 17:00 and 17:30"),
    ("0 1,3,4,8,10,13 * * *", "At 01:00, 03:00, 04:00, 08:00, 10:00 and 13:00"),
    ("0 9-17 * * *", "At minute 0 past every hour from 09:00 through 17:00"),
    ("0 9-12,14-17 * * *", "At minute 0 past hours 9 through 12 and 14 through 17"),
    ("0-10,30 9 * * *", "At minutes 0 through 10 and 30 past hour 9"),
    ("0 */2 * * *", "At minute 0 past every 2nd hour"),
    ("0 */6 * * *", "At 00:00, 06:00, 12:00 and 18:00"),
    ("0 9-17/2 * * *", "At minute 0 past every 2nd hour from 09:00 through 17:00"),
    ("* 9 * * *", "Every minute, between 09:00 and 09:59"),
    ("*/15 */2 * * *", "Every 15 minutes, during every 2nd hour"),
    ("*/5 1,3 * * *", "Every 5 minutes, between 01:00 and 01:59 and between 03:00 and 03:59"),
    ("*/5 1,3,4,8 * * *", "Every 5 minutes, during hours 1, 3, 4 and 8"),
    # Seconds first (6 fields).
    ("* * * * * *", "Every second"),
    ("*/10 * * * * *", "Every 10 seconds"),
    ("0 0 * * * *", "At minute 0 past every hour"),
    ("30 0 9 * * *", "At 09:00:30"),
    ("30 * * * * *", "At second 30 of every minute"),
    ("* * 9 * * *", "Every second, between 09:00 and 09:59"),
    ("*/10 5 9 * * *", "Every 10 seconds, during 09:05"),
    ("*/10 */5 * * * *", "Every 10 seconds, during every 5th minute"),
    # Day of the month, with the special forms.
    ("0 0 1 * *", "At 00:00 on day 1 of the month"),
    ("0 0 1,15 * *", "At 00:00 on days 1 and 15 of the month"),
    ("0 0 1-7 * ?", "At 00:00 on days 1 through 7 of the month"),
    ("0 0 */2 * *", "At 00:00 on every 2nd day of the month"),
    ("0 0 5-20/5 * *", "At 00:00 on every 5th day from day 5 through 20 of the month"),
    ("0 0 L * *", "At 00:00 on the last day of the month"),
    ("0 0 L-1 * *", "At 00:00 on the day before the last day of the month"),
    ("0 0 L-3 * *", "At 00:00 on the 3rd day before the last day of the month"),
    ("0 0 15W * *", "At 00:00 on the weekday nearest day 15 of the month"),
    ("0 0 LW * *", "At 00:00 on the last weekday of the month"),
    ("0 0 1,L * *", "At 00:00 on day 1 of the month and the last day of the month"),
    # Day of the week, with names and the special forms.
    ("0 9 * * mon-fri", "At 09:00 on Monday through Friday"),
    ("0 9 * * 1,3,5", "At 09:00 on Monday, Wednesday and Friday"),
    ("0 0 * * sat,sun", "At 00:00 on Saturday and Sunday"),
    ("0 0 * * 5-7", "At 00:00 on Friday through Sunday"),
    ("0 9 * * 5#3", "At 09:00 on the third Friday of the month"),
    ("0 9 ? * MON#2", "At 09:00 on the second Monday of the month"),
    ("0 9 * * 5L", "At 09:00 on the last Friday of the month"),
    ("0 12 * * FRI#3,FRIL", "At 12:00 on the third and last Friday of the month"),
    ("0 0 ? * 1#1,1#3,1L", "At 00:00 on the first, third and last Monday of the month"),
    # Both day fields: AND when either starts with '*', else OR.
    ("0 0 */2 * 1", "At 00:00 on every 2nd day of the month if it is a Monday"),
    (
        "0 0 */2 * 1-5",
        "At 00:00 on every 2nd day of the month if it falls on Monday through Friday",
    ),
    ("0 0 1,15 * 1", "At 00:00 on days 1 and 15 of the month, and on Monday"),
    (
        "0 0 5 * 5#3",
        "At 00:00 on day 5 of the month, and on the third Friday of the month",
    ),
    ("0 0 1-31 * 1", "At 00:00"),
    # Months.
    ("0 0 1 1 *", "At 00:00 on day 1 of January"),
    ("0 0 1 1,7 *", "At 00:00 on day 1 of the month in January and July"),
    ("0 0 * mar-oct *", "At 00:00 from March through October"),
    ("0 0 * */3 *", "At 00:00 in every 3rd month"),
    ("0 0 * 2/2 *", "At 00:00 in every 2nd month from February through December"),
    ("0 0 15W 2 ?", "At 00:00 on the weekday nearest day 15 of February"),
    ("0 0 * 1 1-5", "At 00:00 on Monday through Friday in January"),
    ("0 0 1 1 1", "At 00:00 on day 1 of the month, and on Monday, in January"),
    (
        "*/15 9-17 * * mon-fri",
        "Every 15 minutes, between 09:00 and 17:59, on Monday through Friday",
    ),
    # Years (7 fields).
    ("0 0 0 1 1 * 2025", "At 00:00 on day 1 of January in 2025"),
    ("0 0 0 1 1 * 2025-2027", "At 00:00 on day 1 of January in 2025 through 2027"),
    ("0 0 0 * * * 2024/2", "At 00:00 in every 2nd year from 2024 through 2098"),
    ("0 0 0 * * * *", "At 00:00"),
    # Any year field but '*' ends in 2099 at the latest, so it is always named: every
    # year the field accepts is not "every year", and a step from 1970 has a range too.
    ("0 0 12 * * * 1970-2099", "At 12:00 in 1970 through 2099"),
    ("0 0 12 * * * 1970/1", "At 12:00 in 1970 through 2099"),
    ("0 0 12 * * * */4", "At 12:00 in every 4th year from 1970 through 2098"),
    ("0 0 12 * * * 1970/4", "At 12:00 in every 4th year from 1970 through 2098"),
    # Aliases.
    ("@yearly", "At 00:00 on day 1 of January"),
    ("@monthly", "At 00:00 on day 1 of the month"),
    ("@weekly", "At 00:00 on Sunday"),
    ("@daily", "At 00:00"),
    ("@hourly", "At minute 0 past every hour"),
]


@pytest.mark.parametrize(("expression", "expected"), EXPLAINED)
def test_explain(expression: str, expected: str) -> None:
    assert explain(expression) == expected


def _plain(low: int, high: int) -> st.SearchStrategy[str]:
    """One item of a numeric field: '*', a value, a range, or either with a step."""
    value = st.integers(low, high)
    step = st.integers(1, high - low + 1).map(lambda n: f"/{n}")
    span = st.tuples(value, value).map(lambda ab: f"{min(ab)}-{max(ab)}")
    return st.one_of(
        st.just("*"),
        value.map(str),
        span,
        st.tuples(st.sampled_from(["*"]) | value.map(str) | span, step).map("".join),
    )


def _field(item: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(item, min_size=1, max_size=3).map(",".join)


_DAY_ITEM = st.one_of(
    _plain(1, 31),
    st.just("L"),
    st.just("LW"),
    st.integers(1, 30).map(lambda n: f"L-{n}"),
    st.integers(1, 31).map(lambda n: f"{n}W"),
)
_WEEKDAY_ITEM = st.one_of(
    _plain(0, 7),
    st.sampled_from(["MON", "TUE-THU", "SAT,SUN", "FRI/2"]),
    st.tuples(st.integers(0, 7), st.integers(1, 5)).map(lambda dn: f"{dn[0]}#{dn[1]}"),
    st.integers(0, 7).map(lambda d: f"{d}L"),
)


@st.composite
def cron_expressions(draw: st.DrawFn) -> str:
    fields = [
        draw(_field(_plain(0, 59))),
        draw(_field(_plain(0, 23))),
        draw(st.just("?") | _field(_DAY_ITEM)),
        draw(_field(_plain(1, 12) | st.sampled_from(["JAN", "MAR-OCT", "DEC"]))),
        draw(st.just("?") | _field(_WEEKDAY_ITEM)),
    ]
    if draw(st.booleans()):
        fields.insert(0, draw(_field(_plain(0, 59))))
        if draw(st.booleans()):
            fields.append(draw(_field(_plain(2020, 2035))))
    return " ".join(fields)


@given(cron_expressions())
def test_explain_reads_any_valid_expression(expression: str) -> None:
    try:
        trigger = CronTrigger(expression, timezone="UTC")
    except InvalidExpression:
        reject()  # e.g. '0 0 31 2 *' never fires
    text = trigger.explain()
    assert text
    assert text[0].isupper()
    assert text == text.strip()
    assert "  " not in text
    assert ",," not in text
    assert ", ," not in text
