"""``Scheduler.last_expected_fire`` and its asyncio twin: when a job should last have fired.

FakeClock throughout: no threads, no sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tickwork import AsyncScheduler, JobLookupError, Scheduler, Trigger, TriggerError
from tickwork.executors import InlineExecutor
from tickwork.testing import FakeClock

from .jobs_for_tests import T0, UTC, Events, noop, simulated


@pytest.fixture
def sim() -> Iterator[tuple[Scheduler, FakeClock, Events]]:
    with simulated() as parts:
        yield parts


def test_defaults_to_the_clock_now_and_is_strictly_before(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, clock, _ = sim
    scheduler.add_job(noop, "cron", "0 9 * * *", id="daily", timezone="UTC")
    # T0 is 2024-01-01 00:00 UTC: the last 09:00 was the day before.
    assert scheduler.last_expected_fire("daily") == datetime(2023, 12, 31, 9, tzinfo=UTC)
    clock.advance(9 * 3600)  # exactly 09:00: a fire *at* now is not before now
    assert scheduler.last_expected_fire("daily") == datetime(2023, 12, 31, 9, tzinfo=UTC)
    clock.advance(1)
    assert scheduler.last_expected_fire("daily") == datetime(2024, 1, 1, 9, tzinfo=UTC)
    berlin = datetime(2024, 3, 31, 12, tzinfo=ZoneInfo("Europe/Berlin"))
    assert scheduler.last_expected_fire("daily", berlin) == datetime(2024, 3, 31, 9, tzinfo=UTC)


def test_respects_the_jobs_start_and_end(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    start = T0 + timedelta(days=2, hours=10)
    end = T0 + timedelta(days=5, hours=10)
    scheduler.add_job(noop, "cron", "0 9 * * *", id="j", timezone="UTC", start=start, end=end)
    # Before the job's start there is nothing to expect.
    assert scheduler.last_expected_fire("j", T0 + timedelta(days=3, hours=9)) is None
    assert scheduler.last_expected_fire("j", T0 + timedelta(days=3, hours=9, seconds=1)) == (
        T0 + timedelta(days=3, hours=9)
    )
    # Long after its end: its last fire inside the window.
    assert scheduler.last_expected_fire("j", T0 + timedelta(days=400)) == (
        T0 + timedelta(days=5, hours=9)
    )


def test_a_paused_job_still_has_a_schedule(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, clock, _ = sim
    scheduler.add_job(noop, "interval", minutes=10, id="j")
    scheduler.pause_job("j")
    clock.advance(25 * 60)
    assert scheduler.last_expected_fire("j") == T0 + timedelta(minutes=20)


def test_bad_arguments(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    scheduler.add_job(noop, "interval", minutes=10, id="j")
    with pytest.raises(JobLookupError):
        scheduler.last_expected_fire("nope")
    with pytest.raises(TypeError, match="before must be an aware datetime"):
        scheduler.last_expected_fire("j", datetime(2024, 1, 1))


class Broken(Trigger):
    type_name = "test-broken-backwards"
    __slots__ = ()

    def next_after(self, moment: datetime) -> datetime | None:
        if moment < T0 - timedelta(seconds=1):
            raise RuntimeError("cannot look back")
        return moment + timedelta(hours=1)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name}

    @classmethod
    def from_dict(cls, data: Any) -> Broken:
        return cls()


def test_a_raising_trigger_is_a_trigger_error_naming_the_job(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, _, _ = sim
    scheduler.add_job(noop, Broken(), id="odd")
    with pytest.raises(TriggerError, match=r"'odd'.*cannot look back") as caught:
        scheduler.last_expected_fire("odd", T0 + timedelta(minutes=5))
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_async_scheduler_has_it_too() -> None:
    async def main() -> datetime | None:
        clock = FakeClock(T0 + timedelta(minutes=95))
        scheduler = AsyncScheduler(
            clock=clock, executors={"default": InlineExecutor()}, timezone="UTC"
        )
        await scheduler.add_job(noop, "cron", "*/30 * * * *", id="j", timezone="UTC")
        return await scheduler.last_expected_fire("j")

    assert asyncio.run(main()) == T0 + timedelta(minutes=90)
