"""Numbers in schedule strings are ASCII digits, and nothing else.

``str.isdigit()`` and ``int()`` also take the digits of other scripts (Arabic-Indic
five, U+0665) and, for ``isdigit()`` only, superscripts (U+00B2). Every parser of a
cron expression, a cron keyword, a fluent ``.at()`` time or the ``schedule`` drop-in's
``.at()`` refuses them with its usual error, as it refuses any other stray character.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwork import CronTrigger, InvalidExpression, Scheduler
from tickwork.compat import schedule as compat

#: One character that Python counts as a digit but that is not 0-9.
UNICODE_DIGITS = st.characters(categories=["Nd", "No"]).filter(
    lambda c: c.isdigit() and not c.isascii()
)

CRON_TEMPLATES = [
    "0 0 * * {d}L",  # the last given weekday of the month
    "0 0 * * {d}",
    "0 0 * * 1-{d}",
    "0 0 * * 1#{d}",
    "0 0 * * {d}#1",
    "{d} * * * *",
    "0 {d} * * *",
    "0 0 {d} * *",
    "0 0 {d}W * *",
    "0 0 L-{d} * *",
    "0 0 * {d} *",
    "*/{d} * * * *",
    "0 0 0 * * * 202{d}",
]


@pytest.mark.parametrize("template", CRON_TEMPLATES)
@given(digit=UNICODE_DIGITS)
def test_cron_expressions_refuse_non_ascii_digits(template: str, digit: str) -> None:
    with pytest.raises(InvalidExpression):
        CronTrigger(template.format(d=digit), timezone="UTC")


@given(digit=UNICODE_DIGITS)
def test_cron_keywords_refuse_non_ascii_digits(digit: str) -> None:
    with pytest.raises(InvalidExpression):
        CronTrigger.from_fields(hour=f"1{digit}", timezone="UTC")
    with pytest.raises(InvalidExpression):
        CronTrigger.from_fields(day_of_week=f"{digit}L", timezone="UTC")


@pytest.mark.parametrize("template", ["1{d}:30", "10:3{d}", "10:30:{d}0"])
@given(digit=UNICODE_DIGITS)
def test_fluent_at_refuses_non_ascii_digits(template: str, digit: str) -> None:
    scheduler = Scheduler(timezone="UTC")
    with pytest.raises(ValueError, match="is not a time"):
        scheduler.every().day.at(template.format(d=digit))


@pytest.mark.parametrize(
    ("unit", "template"),
    [("day", "1{d}:30"), ("day", "10:3{d}:00"), ("hour", ":{d}0"), ("minute", ":1{d}")],
)
@given(digit=UNICODE_DIGITS)
def test_compat_at_refuses_non_ascii_digits(unit: str, template: str, digit: str) -> None:
    job = getattr(compat.Scheduler().every(), unit)
    with pytest.raises(compat.ScheduleValueError, match="Invalid time format"):
        job.at(template.format(d=digit))
