"""The decorators (``@scheduler.cron(...)``, ``interval``, ``at``, ``scheduled_job``):
a bare use, and schedule arguments checked when the decorator is made.

Everything runs on a FakeClock: no threads, no sleeps.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from tickwork import AsyncScheduler, Scheduler
from tickwork.testing import FakeClock

from .jobs_for_tests import T0, noop

Maker = Callable[[], "Scheduler | AsyncScheduler"]
DRIVERS: list[Maker] = [
    lambda: Scheduler(clock=FakeClock(T0), timezone="UTC"),
    lambda: AsyncScheduler(clock=FakeClock(T0), timezone="UTC"),
]
IDS = ["Scheduler", "AsyncScheduler"]


def nightly() -> None:
    pass


@pytest.mark.parametrize("make", DRIVERS, ids=IDS)
@pytest.mark.parametrize(
    ("name", "right_form"),
    [
        ("cron", r'@scheduler\.cron\("0 9 \* \* \*"\)'),
        ("interval", r"@scheduler\.interval\(minutes=5\)"),
        ("at", r'@scheduler\.at\("2024-05-01T09:00:00\+00:00"\)'),
        ("scheduled_job", r'@scheduler\.scheduled_job\("cron", hour=9\)'),
    ],
)
def test_a_bare_decorator_raises_at_once_naming_itself_and_the_right_form(
    make: Maker, name: str, right_form: str
) -> None:
    scheduler = make()
    decorator: Any = getattr(scheduler, name)
    with pytest.raises(TypeError, match=rf"^@scheduler\.{name} .*'nightly'.*{right_form}"):
        decorator(nightly)
    assert scheduler.engine.get_jobs() == []


#: Decorators whose schedule is wrong, written as the call (made before any function).
# fmt: off
BAD_SCHEDULES: list[tuple[str, type[Exception], str]] = [
    ("cron(5)", TypeError, r"cron expression must be a str, got int"),
    ("cron('61 * * * *')", ValueError, r"'61 \* \* \* \*'.*61 is out of range"),
    ("cron(hour=99)", ValueError, r"hour=99"),
    ("cron()", TypeError, r"needs an expression or field keywords"),
    ("cron('0 9 * * *', hour=9)", TypeError, r"not both \(hour\)"),
    ("interval(mins=5)", TypeError, r"unexpected argument\(s\).*mins"),
    ("interval()", ValueError, r"the interval must be at least one microsecond"),
    ("interval(5)", TypeError, r"interval\(\) takes keyword arguments only"),
    ("at('tomorrow')", ValueError, r"run_date: 'tomorrow' is not an ISO 8601"),
    ("scheduled_job('sundial')", ValueError, r"unknown trigger 'sundial'"),
    ("scheduled_job('cron', hour=9, timezone=5)", TypeError, r"timezone.*int 5"),
]
# fmt: on


@pytest.mark.parametrize("make", DRIVERS, ids=IDS)
@pytest.mark.parametrize(
    ("call", "error", "message"), BAD_SCHEDULES, ids=[r[0] for r in BAD_SCHEDULES]
)
def test_bad_schedule_arguments_raise_when_the_decorator_is_made(
    make: Maker, call: str, error: type[Exception], message: str
) -> None:
    scheduler = make()
    with pytest.raises(error, match=message):
        eval(f"scheduler.{call}", {"scheduler": scheduler})
    assert scheduler.engine.get_jobs() == []


def test_a_good_decorator_adds_nothing_until_it_decorates_and_then_counts_from_then() -> None:
    clock = FakeClock(T0)
    scheduler = Scheduler(clock=clock, timezone="UTC")
    every_five = scheduler.interval(minutes=5, id="poll", tags="io")
    assert scheduler.get_jobs() == []
    clock.advance(60)
    assert every_five(noop) is noop
    (job,) = scheduler.get_jobs()
    assert (job.id, job.tags, job.next_fire) == ("poll", {"io"}, T0 + timedelta(minutes=6))


def test_job_options_are_still_checked_by_add_job_when_the_function_is_decorated() -> None:
    scheduler = Scheduler(clock=FakeClock(T0), timezone="UTC")
    decorator = scheduler.cron("0 9 * * *", max_instances=0)
    with pytest.raises(ValueError, match="max_instances"):
        decorator(noop)
    assert scheduler.get_jobs() == []
