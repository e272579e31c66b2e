"""Fire times are written as the trigger's zone shows them: a wall time in a DST gap as
the clock reads it (the same in memory and read back from a store), and the runs asked
for (run_job_now, run_immediately, first_fire) in the trigger's zone, not UTC."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tickwork import DateTrigger, EventKind, IntervalTrigger, Scheduler
from tickwork.executors import InlineExecutor
from tickwork.stores import MemoryStore, SQLiteStore
from tickwork.testing import FakeClock, run_until

NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
UTC = timezone.utc


@pytest.mark.parametrize(
    ("in_gap", "shown"),
    [
        # New York springs forward at 02:00 to 03:00; Lord Howe by half an hour.
        (datetime(2024, 3, 10, 2, 30, tzinfo=NEW_YORK), "2024-03-10T03:30:00-04:00"),
        (datetime(2024, 10, 6, 2, 15, tzinfo=LORD_HOWE), "2024-10-06T02:45:00+11:00"),
    ],
)
def test_a_date_in_a_dst_gap_fires_as_the_clock_shows_that_instant(
    in_gap: datetime, shown: str
) -> None:
    trigger = DateTrigger(in_gap)
    fire = trigger.next_after(in_gap - timedelta(hours=1))
    assert fire is not None
    assert fire.isoformat() == shown
    assert fire.astimezone(UTC) == in_gap.astimezone(UTC)  # the same instant
    assert trigger == DateTrigger(in_gap.astimezone(UTC), timezone=in_gap.tzinfo)


def test_an_interval_starting_in_a_dst_gap_fires_as_the_clock_shows_it() -> None:
    start = datetime(2024, 3, 10, 2, 30, tzinfo=NEW_YORK)
    trigger = IntervalTrigger(hours=1, start=start, timezone=NEW_YORK)
    first = trigger.next_after(start - timedelta(hours=1))
    assert first is not None
    assert first.isoformat() == "2024-03-10T03:30:00-04:00"
    assert trigger.next_after(first) == first + timedelta(hours=1)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_gap_date_job_keeps_one_scheduled_at_whatever_the_store(
    kind: str, tmp_path: Path
) -> None:
    # The run id (job id and scheduled_at) is an idempotency key: it must not depend on
    # where the job was kept.
    store = SQLiteStore(tmp_path / "jobs.db") if kind == "sqlite" else MemoryStore()
    clock = FakeClock(datetime(2024, 3, 10, 6, 0, tzinfo=UTC))
    scheduler = Scheduler(
        store=store, clock=clock, executors={"default": InlineExecutor()}, timezone="UTC"
    )
    run_at = datetime(2024, 3, 10, 2, 30, tzinfo=NEW_YORK)
    job = scheduler.add_job("tests.jobs_for_tests:noop", DateTrigger(run_at), id="billing")
    assert job.next_fire is not None
    assert job.next_fire.isoformat() == "2024-03-10T03:30:00-04:00"
    scheduler.open()
    run_until(scheduler, clock.now() + timedelta(hours=2))
    [run] = scheduler.history("billing")
    assert run.scheduled_at.isoformat() == "2024-03-10T03:30:00-04:00"  # (docs/jobs.md's key)
    assert run.run_id == "billing@2024-03-10T07:30:00Z#1"
    scheduler.shutdown()


def test_runs_asked_for_are_scheduled_in_the_triggers_zone() -> None:
    clock = FakeClock(datetime(2024, 3, 5, 3, 30, tzinfo=UTC))  # 22:30 on the 4th in NY
    scheduler = Scheduler(
        clock=clock, executors={"default": InlineExecutor()}, timezone="America/New_York"
    )
    seen: list[datetime] = []
    scheduler.add_listener(lambda event: seen.append(event.scheduled_at), EventKind.JOB_SUBMITTED)  # type: ignore[arg-type]
    scheduler.open()
    scheduler.add_job(print, "cron", "0 22 * * *", id="now", run_immediately=True)
    scheduler.add_job(
        print, "cron", "0 22 * * *", id="first", first_fire=clock.now() + timedelta(minutes=5)
    )
    scheduler.process_due()
    scheduler.run_job_now("first")
    run_until(scheduler, clock.now() + timedelta(minutes=10))
    assert [at.isoformat() for at in seen] == [
        "2024-03-04T22:30:00-05:00",
        "2024-03-04T22:30:00-05:00",
        "2024-03-04T22:35:00-05:00",
    ]
    assert all(at.tzinfo == NEW_YORK for at in seen)
    scheduler.shutdown()
