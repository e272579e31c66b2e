"""What a backlog after downtime reports: every due fire time either runs or is counted
missed, and ``JOB_MISSED`` (and its history row) names the oldest fire that did not run.

The downtime is simulated both ways a scheduler meets it: a scheduler on a memory store
whose clock jumps (a suspend), and a SQLite file that one scheduler leaves at shutdown
and a second one opens hours later (a restart).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tickwork import CronTrigger, EventKind, OrTrigger, Outcome
from tickwork.stores import MemoryStore, SQLiteStore
from tickwork.testing import FakeClock, run_until

from .jobs_for_tests import T0, Events, inline_scheduler

H = timedelta(hours=1)
#: Scheduler 1 stops at 10:20 (10:00 ran); the fires 11:00 ... 15:00 fall in the gap.
STOP = T0 + timedelta(hours=10, minutes=20)
BACK = STOP + timedelta(hours=4, minutes=40)
GAP = [T0 + hours * H for hours in range(11, 16)]


def _after_downtime(store_kind: str, tmp_path: Path, **options: Any) -> tuple[Events, list[Any]]:
    """An hourly job added at 09:30; the scheduler is down from 10:20 to 15:00, then
    dispatches once. Returns the events after the downtime and the job's history."""
    clock = FakeClock(T0 + timedelta(hours=9, minutes=30))
    if store_kind == "memory":
        with inline_scheduler(clock, MemoryStore()) as (scheduler, events):
            scheduler.add_job("tests.jobs_for_tests:noop", "cron", "0 * * * *", id="j", **options)
            run_until(scheduler, STOP)
            events.all.clear()
            clock.jump(BACK)  # suspended: the clock moved, nothing was dispatched
            scheduler.process_due()
            return events, scheduler.history("j")
    path = tmp_path / "jobs.db"
    with inline_scheduler(clock, SQLiteStore(path)) as (scheduler, _):
        scheduler.add_job("tests.jobs_for_tests:noop", "cron", "0 * * * *", id="j", **options)
        run_until(scheduler, STOP)
    clock.jump(BACK)
    with inline_scheduler(clock, SQLiteStore(path)) as (scheduler, events):
        scheduler.process_due()
        return events, scheduler.history("j")


# (options, fire times that run, oldest missed fire time or None, how many missed)
CASES = [
    pytest.param({"catchup": "earliest"}, [GAP[0]], GAP[1], 4, id="earliest"),
    pytest.param({"catchup": "latest"}, [GAP[-1]], GAP[0], 4, id="latest"),
    pytest.param({}, [GAP[-1]], GAP[0], 4, id="default"),
    pytest.param({"coalesce": True}, [GAP[-1]], GAP[0], 4, id="coalesce"),
    pytest.param({"catchup": "none"}, [], GAP[0], 5, id="none"),
    pytest.param({"catchup": "all"}, GAP, None, 0, id="all"),
    pytest.param({"coalesce": False}, GAP, None, 0, id="no-coalesce"),
    pytest.param({"catchup": "all", "max_catchup": 2}, GAP[3:], GAP[0], 3, id="all-max2"),
    # 10:00 used one of the remaining runs: two are left for the backlog.
    pytest.param({"catchup": "all", "remaining_runs": 3}, GAP[3:], GAP[0], 3, id="all-remaining"),
    pytest.param(
        {"catchup": "earliest", "remaining_runs": 2}, [GAP[0]], GAP[1], 4, id="earliest-remaining"
    ),
    pytest.param(
        {"catchup": "earliest", "misfire_grace_time": 2 * 3600 + 60},
        [GAP[2]],
        GAP[0],
        4,
        id="earliest-grace",
    ),
]


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
@pytest.mark.parametrize(("options", "runs", "oldest", "missed"), CASES)
def test_a_backlog_reports_every_fire_that_did_not_run_under_the_oldest(
    store_kind: str,
    tmp_path: Path,
    options: dict[str, Any],
    runs: list[datetime],
    oldest: datetime | None,
    missed: int,
) -> None:
    """Regression: catchup="earliest" reported the fire it ran (11:00) as missed and
    never named 12:00; remaining_runs cut a catch-up backlog without counting it."""
    events, history = _after_downtime(store_kind, tmp_path, **options)
    after = [run for run in history if run.scheduled_at > STOP]
    ran = sorted(run.scheduled_at for run in after if run.outcome is Outcome.SUCCESS)
    assert ran == runs
    reported = events.of(EventKind.JOB_MISSED, "j")
    rows = [run for run in history if run.outcome is Outcome.MISSED]
    if oldest is None:
        assert reported == []
        assert rows == []
        return
    (event,) = reported
    assert event.scheduled_at == oldest
    assert event.missed == missed
    assert event.scheduled_at not in ran
    (row,) = rows
    assert row.scheduled_at == oldest
    assert f"{missed} fire time(s) missed" in (row.error_message or "")


@pytest.mark.parametrize(
    ("trigger", "missed", "said"),
    [
        # An interval is counted exactly, its job's start too (regression: a start made
        # it walk the fires, and a month of minutes reported 9,999).
        (
            {"trigger": "interval", "minutes": 1, "start": T0 + timedelta(minutes=1)},
            43_199,
            "43199",
        ),
        # A cron too (its days counted, not its fires walked: it stopped at 9,999).
        ({"trigger": "cron", "minute": "*"}, 43_199, "43199"),
        ({"trigger": "cron", "minute": "0"}, 719, "719"),
        # Another trigger is walked, up to 10,000 fire times: a lower bound, said so.
        (
            {"trigger": OrTrigger([CronTrigger("* * * * *"), CronTrigger("0 0 1 1 *")])},
            9_999,
            "at least 9,999",
        ),
    ],
)
def test_a_month_long_backlog_counts_exactly_or_says_at_least(
    trigger: dict[str, Any], missed: int, said: str
) -> None:
    clock = FakeClock(T0 + timedelta(seconds=30))
    with inline_scheduler(clock, MemoryStore()) as (scheduler, events):
        scheduler.add_job("tests.jobs_for_tests:noop", id="j", **trigger)
        clock.advance(timedelta(days=30))
        scheduler.process_due()
        (event,) = events.of(EventKind.JOB_MISSED, "j")
        assert event.missed == missed
        (row,) = [run for run in scheduler.history("j") if run.outcome is Outcome.MISSED]
        assert (row.error_message or "").startswith(f"{said} fire time(s) missed")
