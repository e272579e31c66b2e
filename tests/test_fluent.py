"""The fluent API: ``every(...)`` chains, the triggers they build, their errors, ``repeat``
and the module-level default scheduler.

Chains are written as text (``"every(2).hours.at(':30')"``) so each table row reads as
the code a user writes. First fire times were checked against ``schedule`` 1.2.2 under
a frozen clock (they agree, but for the sub-second part ``schedule`` keeps on the
wall-clock units); DST rows follow docs/time-semantics.md, worked out by hand.
Everything runs on a FakeClock with the InlineExecutor: no sleeping.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import tickwork
from tickwork import (
    AsyncScheduler,
    CalendarIntervalTrigger,
    CronTrigger,
    IntervalTrigger,
    JobBuilder,
    RetryPolicy,
    Scheduler,
    SchedulerState,
    UnknownTimezone,
    current_run,
)
from tickwork._default import _set_default_scheduler
from tickwork._engine import Engine
from tickwork._fluent import OPTION_NAMES
from tickwork.executors import InlineExecutor
from tickwork.testing import FakeClock, run_until

from .jobs_for_tests import Calls, noop

UTC = timezone.utc
NEW_YORK = ZoneInfo("America/New_York")
#: A Wednesday, 09:10:20.25 UTC: not on any whole second, so no at-time equals "now".
START = datetime(2024, 3, 6, 9, 10, 20, 250_000, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent


def make(start: datetime = START, zone: str = "UTC") -> tuple[Scheduler, FakeClock]:
    clock = FakeClock(start)
    return Scheduler(clock=clock, timezone=zone, executors={"default": InlineExecutor()}), clock


def chain(scheduler: Scheduler | AsyncScheduler, text: str) -> JobBuilder:
    """``chain(s, "every(2).hours")`` is ``s.every(2).hours``."""
    built = eval(f"scheduler.{text}", {"scheduler": scheduler})  # a test table, not input
    assert isinstance(built, JobBuilder)
    return built


def first_runs(scheduler: Scheduler, calls: Calls, job_id: str, count: int, zone: str) -> list[str]:
    """Run the opened scheduler fire by fire until *count* runs happened."""
    local = ZoneInfo(zone)
    while len(calls) < count:
        job = scheduler.get_job(job_id)
        assert job is not None
        assert job.next_fire is not None
        run_until(scheduler, job.next_fire)
    return [t.astimezone(local).isoformat() for t in calls.scheduled[:count]]


# -- each chain: the trigger it builds and its first three runs ---------------------------

CHAINS = [
    # elapsed-time units: the first run is one interval after .do()
    (
        "every(10).seconds",
        "IntervalTrigger(seconds=10, start='2024-03-06T09:10:30.250000+00:00', timezone='UTC')",
        ["2024-03-06T09:10:30.250000", "2024-03-06T09:10:40.250000", "2024-03-06T09:10:50.250000"],
    ),
    (
        "every().second",
        "IntervalTrigger(seconds=1, start='2024-03-06T09:10:21.250000+00:00', timezone='UTC')",
        ["2024-03-06T09:10:21.250000", "2024-03-06T09:10:22.250000", "2024-03-06T09:10:23.250000"],
    ),
    (
        "every(15).minutes",
        "IntervalTrigger(minutes=15, start='2024-03-06T09:25:20.250000+00:00', timezone='UTC')",
        ["2024-03-06T09:25:20.250000", "2024-03-06T09:40:20.250000", "2024-03-06T09:55:20.250000"],
    ),
    (
        "every().hour",
        "IntervalTrigger(hours=1, start='2024-03-06T10:10:20.250000+00:00', timezone='UTC')",
        ["2024-03-06T10:10:20.250000", "2024-03-06T11:10:20.250000", "2024-03-06T12:10:20.250000"],
    ),
    (
        "every(0.5).hours",
        "IntervalTrigger(hours=0.5, start='2024-03-06T09:40:20.250000+00:00', timezone='UTC')",
        ["2024-03-06T09:40:20.250000", "2024-03-06T10:10:20.250000", "2024-03-06T10:40:20.250000"],
    ),
    # .at() within each minute or hour: interval 1 is a wall-clock cadence (cron) ...
    (
        "every().minute.at(':15')",
        "CronTrigger('15 * * * * *', timezone='UTC')",
        ["2024-03-06T09:11:15", "2024-03-06T09:12:15", "2024-03-06T09:13:15"],
    ),
    (
        "every().hour.at(':30')",
        "CronTrigger('30 * * * *', timezone='UTC')",
        ["2024-03-06T09:30:00", "2024-03-06T10:30:00", "2024-03-06T11:30:00"],
    ),
    (
        "every().hour.at('05:10')",
        "CronTrigger('10 5 * * * *', timezone='UTC')",
        ["2024-03-06T10:05:10", "2024-03-06T11:05:10", "2024-03-06T12:05:10"],
    ),
    # hourly .at() reads "MM:SS", as schedule does: "25:00" is minute 25, second 0
    (
        "every().hour.at('25:00')",
        "CronTrigger('25 * * * *', timezone='UTC')",
        ["2024-03-06T09:25:00", "2024-03-06T10:25:00", "2024-03-06T11:25:00"],
    ),
    # ... and a longer interval counts from the set time in the current minute or hour
    (
        "every(3).minutes.at(':15')",
        "IntervalTrigger(minutes=3, start='2024-03-06T09:13:15+00:00', timezone='UTC')",
        ["2024-03-06T09:13:15", "2024-03-06T09:16:15", "2024-03-06T09:19:15"],
    ),
    (
        "every(2).hours.at(':30')",
        "IntervalTrigger(hours=2, start='2024-03-06T11:30:00+00:00', timezone='UTC')",
        ["2024-03-06T11:30:00", "2024-03-06T13:30:00", "2024-03-06T15:30:00"],
    ),
    # days and weeks keep their wall-clock time
    (
        "every().day.at('10:30')",
        "CronTrigger('30 10 * * *', timezone='UTC')",
        ["2024-03-06T10:30:00", "2024-03-07T10:30:00", "2024-03-08T10:30:00"],
    ),
    (
        "every().day.at('08:30')",
        "CronTrigger('30 8 * * *', timezone='UTC')",
        ["2024-03-07T08:30:00", "2024-03-08T08:30:00", "2024-03-09T08:30:00"],
    ),
    (
        "every().day.at('10:30:15')",
        "CronTrigger('15 30 10 * * *', timezone='UTC')",
        ["2024-03-06T10:30:15", "2024-03-07T10:30:15", "2024-03-08T10:30:15"],
    ),
    (
        "every(3).days.at('10:30')",
        "CalendarIntervalTrigger(days=3, hour=10, minute=30, start='2024-03-09T10:30:00+00:00', "
        "timezone='UTC')",
        ["2024-03-09T10:30:00", "2024-03-12T10:30:00", "2024-03-15T10:30:00"],
    ),
    (
        "every(3).days.at('08:00')",
        "CalendarIntervalTrigger(days=3, hour=8, start='2024-03-09T08:00:00+00:00', "
        "timezone='UTC')",
        ["2024-03-09T08:00:00", "2024-03-12T08:00:00", "2024-03-15T08:00:00"],
    ),
    (
        "every().day",
        "CalendarIntervalTrigger(days=1, hour=9, minute=10, second=20, "
        "start='2024-03-07T09:10:20+00:00', timezone='UTC')",
        ["2024-03-07T09:10:20", "2024-03-08T09:10:20", "2024-03-09T09:10:20"],
    ),
    (
        "every(2).weeks",
        "CalendarIntervalTrigger(weeks=2, hour=9, minute=10, second=20, "
        "start='2024-03-20T09:10:20+00:00', timezone='UTC')",
        ["2024-03-20T09:10:20", "2024-04-03T09:10:20", "2024-04-17T09:10:20"],
    ),
    # weekdays: weekly cron; without .at(), the time of day of the .do() call
    (
        "every().monday",
        "CronTrigger('20 10 9 * * mon', timezone='UTC', start='2024-03-06T09:10:21+00:00')",
        ["2024-03-11T09:10:20", "2024-03-18T09:10:20", "2024-03-25T09:10:20"],
    ),
    (
        "every().wednesday",
        "CronTrigger('20 10 9 * * wed', timezone='UTC', start='2024-03-06T09:10:21+00:00')",
        ["2024-03-13T09:10:20", "2024-03-20T09:10:20", "2024-03-27T09:10:20"],
    ),
    (
        "every().wednesday.at('09:30:05')",
        "CronTrigger('5 30 9 * * wed', timezone='UTC')",
        ["2024-03-06T09:30:05", "2024-03-13T09:30:05", "2024-03-20T09:30:05"],
    ),
    (
        "every().wednesday.at('09:00')",
        "CronTrigger('0 9 * * wed', timezone='UTC')",
        ["2024-03-13T09:00:00", "2024-03-20T09:00:00", "2024-03-27T09:00:00"],
    ),
    (
        "every().sunday.at('00:00')",
        "CronTrigger('0 0 * * sun', timezone='UTC')",
        ["2024-03-10T00:00:00", "2024-03-17T00:00:00", "2024-03-24T00:00:00"],
    ),
    (
        "every().day.at('10:30', tz='Asia/Kolkata')",
        "CronTrigger('30 10 * * *', timezone='Asia/Kolkata')",
        ["2024-03-07T05:00:00", "2024-03-08T05:00:00", "2024-03-09T05:00:00"],
    ),
]


@pytest.mark.parametrize(("text", "trigger", "runs"), CHAINS, ids=[row[0] for row in CHAINS])
def test_chain_builds_its_trigger_and_runs(text: str, trigger: str, runs: list[str]) -> None:
    scheduler, clock = make()
    calls = Calls(clock)
    job = chain(scheduler, text).do(calls)
    assert repr(job.trigger) == trigger
    scheduler.open()
    try:
        assert first_runs(scheduler, calls, job.id, 3, "UTC") == [f"{t}+00:00" for t in runs]
        assert calls.started == calls.scheduled  # no lateness: the runs are the fire times
    finally:
        scheduler.shutdown()


def test_to_builds_an_interval_trigger_and_a_jitter() -> None:
    scheduler, _ = make()
    job = scheduler.every(5).to(10).minutes.do(noop)
    assert isinstance(job.trigger, IntervalTrigger)
    assert job.trigger.interval == timedelta(minutes=7.5)
    assert job.trigger.start == START + timedelta(minutes=5)
    assert job.jitter == timedelta(minutes=2.5)


def test_to_gaps_between_runs_stay_between_interval_and_latest() -> None:
    def gaps(job_id: str) -> list[float]:
        scheduler, clock = make()
        calls = Calls(clock)
        scheduler.every(5).to(10).seconds.options(id=job_id).do(calls)
        scheduler.open()
        run_until(scheduler, START + timedelta(minutes=30))
        scheduler.shutdown()
        started = [START, *calls.started]
        return [(b - a).total_seconds() for a, b in itertools.pairwise(started)]

    first = gaps("spread")
    assert len(first) > 200
    assert all(5 <= gap <= 10 for gap in first)
    assert 7.0 < sum(first) / len(first) < 8.0  # the mean gap is the midpoint, 7.5 s
    assert len({round(gap, 3) for gap in first}) > 100  # spread, not a fixed interval
    assert gaps("spread") == first  # derived from the job id and fire time: reproducible
    assert gaps("other") != first


def test_to_with_until_starts_no_run_after_the_until() -> None:
    """Regression: a fire before .until() with no fire after it kept its whole jitter,
    and started up to (b-a)/2 units past the end that .until() promises."""
    scheduler, clock = make()
    until = START + timedelta(minutes=6)
    runs = []
    for index in range(12):
        calls = Calls(clock)
        runs.append(calls)
        scheduler.every(5).to(10).minutes.until(until).options(id=f"r{index}").do(calls)
    scheduler.open()
    run_until(scheduler, START + timedelta(hours=1))
    scheduler.shutdown()
    started = [moment for calls in runs for moment in calls.started]
    assert len(started) == 12  # each ran its one fire before the end (07:30 is after it)
    assert all(START + timedelta(minutes=5) <= moment <= until for moment in started)


def test_to_equal_to_the_interval_has_no_spread() -> None:
    scheduler, _ = make()
    job = scheduler.every(3).to(3).seconds.do(noop)
    assert job.trigger.interval == timedelta(seconds=3)  # type: ignore[attr-defined]
    assert job.jitter is None


def test_the_timezone_defaults_to_the_schedulers() -> None:
    scheduler, _ = make(zone="Europe/Berlin")
    job = scheduler.every().day.at("10:30").do(noop)
    assert job.trigger == CronTrigger("30 10 * * *", timezone="Europe/Berlin")
    assert job.next_fire == datetime(2024, 3, 6, 10, 30, tzinfo=ZoneInfo("Europe/Berlin"))


def test_at_takes_a_tzinfo() -> None:
    scheduler, _ = make()
    job = scheduler.every().monday.at("09:00", tz=NEW_YORK).do(noop)
    assert job.trigger == CronTrigger("0 9 * * mon", timezone=NEW_YORK)


# -- DST: each unit follows the rules of the trigger it maps to ---------------------------

DST = [
    # a daily time in the spring-forward gap fires once, when the gap ends (anchored)
    (
        "every().day.at('02:30')",
        "2024-03-08T12:00:00-05:00",
        ["2024-03-09T02:30:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"],
    ),
    # a daily time in the fall-back overlap fires once, in the first pass (anchored)
    (
        "every().day.at('01:30')",
        "2024-11-02T12:00:00-04:00",
        ["2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00", "2024-11-05T01:30:00-05:00"],
    ),
    (
        "every(2).days.at('02:30')",
        "2024-03-07T12:00:00-05:00",
        ["2024-03-09T02:30:00-05:00", "2024-03-11T02:30:00-04:00", "2024-03-13T02:30:00-04:00"],
    ),
    (
        "every(3).days.at('02:30')",
        "2024-03-06T12:00:00-05:00",
        ["2024-03-09T02:30:00-05:00", "2024-03-12T02:30:00-04:00", "2024-03-15T02:30:00-04:00"],
    ),
    (
        "every().sunday.at('02:30')",
        "2024-03-08T12:00:00-05:00",
        ["2024-03-10T03:00:00-04:00", "2024-03-17T02:30:00-04:00", "2024-03-24T02:30:00-04:00"],
    ),
    # every().day without .at(): the wall time of the .do() call, kept across the change
    (
        "every().day",
        "2024-03-09T02:30:00-05:00",
        ["2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00", "2024-03-12T02:30:00-04:00"],
    ),
    (
        "every().day",
        "2024-11-02T12:00:00-04:00",
        ["2024-11-03T12:00:00-05:00", "2024-11-04T12:00:00-05:00", "2024-11-05T12:00:00-05:00"],
    ),
    # hours are elapsed time: both passes of the repeated hour, nothing invented in the gap
    (
        "every().hour",
        "2024-11-03T00:10:00-04:00",
        ["2024-11-03T01:10:00-04:00", "2024-11-03T01:10:00-05:00", "2024-11-03T02:10:00-05:00"],
    ),
    (
        "every().hour",
        "2024-03-10T00:10:00-05:00",
        ["2024-03-10T01:10:00-05:00", "2024-03-10T03:10:00-04:00", "2024-03-10T04:10:00-04:00"],
    ),
    # .hour.at() is a cadence: the same, on the wall clock's minute
    (
        "every().hour.at(':30')",
        "2024-11-03T00:10:00-04:00",
        ["2024-11-03T00:30:00-04:00", "2024-11-03T01:30:00-04:00", "2024-11-03T01:30:00-05:00"],
    ),
    (
        "every().hour.at(':30')",
        "2024-03-10T00:45:00-05:00",
        ["2024-03-10T01:30:00-05:00", "2024-03-10T03:30:00-04:00", "2024-03-10T04:30:00-04:00"],
    ),
    (
        "every().minute.at(':30')",
        "2024-03-10T01:58:00-05:00",
        ["2024-03-10T01:58:30-05:00", "2024-03-10T01:59:30-05:00", "2024-03-10T03:00:30-04:00"],
    ),
]


@pytest.mark.parametrize(("text", "start", "runs"), DST, ids=[f"{r[0]}@{r[1]}" for r in DST])
def test_dst_in_new_york(text: str, start: str, runs: list[str]) -> None:
    scheduler, clock = make(datetime.fromisoformat(start), "America/New_York")
    calls = Calls(clock)
    job = chain(scheduler, text).do(calls)
    scheduler.open()
    try:
        assert first_runs(scheduler, calls, job.id, 3, "America/New_York") == runs
    finally:
        scheduler.shutdown()


def test_lord_howe_hour_at_stays_on_the_wall_clock_minute() -> None:
    """A 30-minute DST shift: ``.hour.at(':00')`` keeps to the wall clock's hours (a
    cadence, with no slot in the gap), ``.hour`` keeps to elapsed hours."""
    zone = "Australia/Lord_Howe"
    start = datetime.fromisoformat("2019-10-06T01:03:00+10:30")
    for text, runs in [
        ("every().hour.at(':00')", ["2019-10-06T03:00:00+11:00", "2019-10-06T04:00:00+11:00"]),
        ("every().hour", ["2019-10-06T02:33:00+11:00", "2019-10-06T03:33:00+11:00"]),
    ]:
        scheduler, clock = make(start, zone)
        calls = Calls(clock)
        job = chain(scheduler, text).do(calls)
        scheduler.open()
        assert first_runs(scheduler, calls, job.id, 2, zone) == runs
        scheduler.shutdown()


@pytest.mark.parametrize(
    ("day", "text", "expected"),
    [
        ("2024-11-03", "every().hour", 25),
        ("2024-11-03", "every().hour.at(':00')", 25),
        ("2024-03-10", "every().hour", 23),
        ("2024-03-10", "every().hour.at(':00')", 23),
        ("2024-11-03", "every().day.at('01:30')", 1),
        ("2024-03-10", "every().day.at('02:30')", 1),
    ],
)
def test_runs_in_a_new_york_day_with_a_dst_change(day: str, text: str, expected: int) -> None:
    midnight = datetime.fromisoformat(day).replace(tzinfo=NEW_YORK)
    scheduler, clock = make(midnight - timedelta(minutes=30), "America/New_York")
    calls = Calls(clock)
    chain(scheduler, text).do(calls)
    scheduler.open()
    run_until(scheduler, midnight.replace(hour=23, minute=59, second=59))
    scheduler.shutdown()
    assert {t.astimezone(NEW_YORK).date().isoformat() for t in calls.scheduled} == {day}
    assert len(calls) == expected


# -- errors: each raised at the link that makes the chain wrong ---------------------------

# fmt: off
ERRORS: list[tuple[str, type[Exception], str]] = [
    ("every(0)", ValueError, r"every\(0\): the interval must be a positive number, got 0"),
    ("every(-1)", ValueError, r"every\(-1\): the interval must be a positive number"),
    ("every(float('nan'))", ValueError, r"must be a positive number, got nan"),
    ("every('5')", TypeError, r"the interval must be a number, got str '5'"),
    ("every(True)", TypeError, r"^every\(True\): the interval must be a number, got bool"),
    ("every(2).monday", ValueError, r"every\(2\)\.monday: a weekday runs once a week, so the "
     r"interval must be 1, got every\(2\)"),
    ("every(2).second", ValueError, r"every\(2\)\.second: \.second is for an interval of 1; "
     r"write every\(2\)\.seconds"),
    ("every(3).week", ValueError, r"\.week is for an interval of 1; write every\(3\)\.weeks"),
    ("every(1.5).days", ValueError, r"in whole numbers, got 1\.5; use hours for fractions of a "
     r"day$"),
    ("every(1.5).weeks", ValueError, r"in whole numbers, got 1\.5; use days or hours for "
     r"fractions of a week$"),
    ("every().day.hours", ValueError, r"every\(\)\.day\.hours: the unit is already \.day"),
    ("every().monday.tuesday", ValueError, r"the unit is already \.monday"),
    ("every().day.monday", ValueError, r"the unit is already \.day"),
    ("every().at('10:00')", ValueError, r"every\(\)\.at\('10:00'\): give the unit before "
     r"\.at\(\), e\.g\. every\(\)\.day\.at\('10:00'\)"),
    ("every().day.at('25:00')", ValueError, r"every\(\)\.day\.at\('25:00'\): hour 25 in "
     r"'25:00' is out of range \(00-23\); a daily job takes 'HH:MM' or 'HH:MM:SS'"),
    ("every().day.at('10:60')", ValueError, r"minute 60 in '10:60' is out of range \(00-59\)"),
    ("every().day.at('10:30:61')", ValueError, r"second 61 in '10:30:61' is out of range"),
    ("every().day.at('1:30')", ValueError, r"'1:30' is not a time for a daily job; use "
     r"'HH:MM' or 'HH:MM:SS'"),
    ("every().day.at(':30')", ValueError, r"':30' is not a time for a daily job"),
    ("every().monday.at(':30')", ValueError, r"':30' is not a time for a weekday job"),
    ("every().hour.at('60:00')", ValueError, r"every\(\)\.hour\.at\('60:00'\): minute 60 in "
     r"'60:00' is out of range \(00-59\); an hourly job takes ':MM' \(the minute of each "
     r"hour\) or 'MM:SS'"),
    ("every().hour.at(':75')", ValueError, r"minute 75 in ':75' is out of range"),
    ("every().hour.at('10:30:00')", ValueError, r"'10:30:00' is not a time for an hourly job"),
    ("every().hour.at('30')", ValueError, r"'30' is not a time for an hourly job"),
    ("every().minute.at('10')", ValueError, r"'10' is not a time for a minutely job; use ':SS'"),
    ("every().minute.at(':60')", ValueError, r"second 60 in ':60' is out of range"),
    ("every(5).seconds.at(':10')", ValueError, r"every\(5\)\.seconds\.at\(':10'\): \.at\(\) "
     r"sets a time within each minute, hour or day; it does not apply to seconds"),
    ("every().week.at('10:00')", ValueError, r"\.at\(\) needs a day of the week; write "
     r"every\(\)\.monday\.at\('10:00'\)"),
    ("every().day.at('10:00').at('11:00')", ValueError, r"\.at\(\) was already given"),
    ("every().day.at(1030)", TypeError, r"the time must be a str, got int"),
    ("every().day.at('10:00', tz='Nowhere/Atlantis')", UnknownTimezone,
     r"^every\(\)\.day\.at\('10:00', tz='Nowhere/Atlantis'\): .*'Nowhere/Atlantis'"),
    ("every().day.at('10:00', tz=5)", TypeError, r"^every\(\)\.day\.at\('10:00', tz=5\): tz must "
     r"be a zone name \(str\) or a tzinfo, got int 5"),
    ("every().day.at('10:00', tz=b'UTC')", TypeError, r"^every\(\)\.day\.at\('10:00', "
     r"tz=b'UTC'\): "),
    ("every(5).to(3)", ValueError, r"every\(5\)\.to\(3\): the latest interval 3 is smaller "
     r"than the interval 5"),
    ("every(5).to(0)", ValueError, r"the latest interval must be a positive number"),
    ("every(5).to('9')", TypeError, r"the latest interval must be a number"),
    ("every(5).to(9).to(10)", ValueError, r"\.to\(\) was already given"),
    ("every().to(3).monday", ValueError, r"a random interval \(\.to\(\)\) cannot run on a fixed "
     r"weekday"),
    ("every().monday.to(3)", ValueError, r"a random interval cannot run on a fixed weekday"),
    ("every().to(3).days.at('10:00')", ValueError, r"cannot be combined with a set time"),
    ("every().day.at('10:00').to(3)", ValueError, r"cannot be combined with a set time"),
    ("every().second.until('09:00')", ValueError, r"every\(\)\.second\.until\('09:00'\): "
     r"cannot run until 2024-03-06T09:00:00\+00:00: that is not in the future"),
    ("every().second.until(timedelta(seconds=-1))", ValueError, r"not in the future"),
    ("every().second.until('2024-03-06 09:10:20')", ValueError, r"not in the future"),
    ("every().second.until('tomorrow')", ValueError, r"'tomorrow' is not understood; expected "
     r"a datetime, a timedelta, a time, or a string 'HH:MM'"),
    ("every().second.until('2024-13-01')", ValueError, r"'2024-13-01' is not a valid date"),
    ("every().second.until('25:00')", ValueError, r"'25:00' is not a valid date or time"),
    ("every().second.until(42)", TypeError, r"every\(\)\.second\.until\(42\): expected"),
    ("every().second.until('10:00').until('11:00')", ValueError, r"\.until\(\) was already"),
    ("every().second.options(end=datetime(2025, 1, 1, tzinfo=UTC)).until('11:00')",
     ValueError, r"the end was already given with \.options\(end=\.\.\.\)"),
    ("every().second.until('11:00').options(end=None)", ValueError, r"already given with "
     r"\.until\(\)"),
    ("every(1).to(2).seconds.options(jitter=5)", ValueError, r"\.to\(\) already sets the jitter"),
    ("every(1).options(jitter=5).to(2)", ValueError, r"^every\(\)\.options\(jitter=5\)\.to\(2\): "
     r"the jitter was already given with \.options\(jitter=\.\.\.\); \.to\(\) sets it"),
    ("every().second.tag('ok', 1)", TypeError, r"tags must be strings, got int 1"),
    ("every().second.tag('')", ValueError, r"^every\(\)\.second\.tag\(''\): tags must be "
     r"non-empty strings, got ''"),
    ("every(5).minutes.tag('ok', '')", ValueError, r"^every\(5\)\.minutes\.tag\('ok', ''\): "),
    ("every().second.options(bogus=1)", TypeError, r"unknown option\(s\) bogus \(accepted: "
     r"after, catchup, coalesce, conflict, end, executor, first_fire, id,"),
    ("every().second.options(args=(1,))", TypeError, r"pass the function's arguments to "
     r"\.do\(func, \*args, \*\*kwargs\)"),
]
# fmt: on


@pytest.mark.parametrize(("text", "error", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_a_wrong_chain_raises_at_the_link(text: str, error: type[Exception], message: str) -> None:
    scheduler, _ = make()
    namespace = {"scheduler": scheduler, "timedelta": timedelta, "datetime": datetime, "UTC": UTC}
    with pytest.raises(error, match=message):
        eval(f"scheduler.{text}", namespace)


@pytest.mark.parametrize(
    ("func", "error", "message"),
    [
        (
            1,
            TypeError,
            r"every\(\)\.minute\.do\(\.\.\.\): the job must be a callable or a "
            r"'module:function' reference, got int 1",
        ),
        ("noop", TypeError, r"got str 'noop'"),
        ("tests.jobs_for_tests:nothing_here", LookupError, r"nothing_here"),
    ],
)
def test_do_needs_a_callable(func: Any, error: type[Exception], message: str) -> None:
    scheduler, _ = make()
    with pytest.raises(error, match=message):
        scheduler.every().minute.do(func)
    assert scheduler.get_jobs() == []


def test_do_without_a_unit() -> None:
    scheduler, _ = make()
    with pytest.raises(ValueError, match=r"every\(10\)\.do\(\.\.\.\): the chain has no unit; "):
        scheduler.every(10).do(noop)


@pytest.mark.parametrize("text", ["every(5)", "every(2).to(9)", "every(1.5)"])
def test_a_count_without_a_unit_before_after_is_refused_not_dropped(text: str) -> None:
    scheduler, _ = make()
    scheduler.add_job(noop, "cron", "0 * * * *", id="extract")
    with pytest.raises(
        ValueError, match=r"\.after\('extract', on='success'\)\.do\(\.\.\.\): the chain has no unit"
    ):
        chain(scheduler, text).after("extract").do(noop)
    assert [job.id for job in scheduler.get_jobs()] == ["extract"]
    assert scheduler.every().after("extract").do(noop).after == ("extract",)  # (no count)


def test_option_values_are_checked_by_add_job_at_do() -> None:
    scheduler, _ = make()
    builder = scheduler.every().minute.options(overlap="sometimes")
    with pytest.raises(ValueError, match="overlap must be one of"):
        builder.do(noop)


def test_until_too_early_for_the_first_run_is_refused_by_add_job() -> None:
    scheduler, _ = make()
    with pytest.raises(ValueError, match="would never run") as caught:
        scheduler.every().hour.until(timedelta(minutes=30)).do(noop)
    # The message quotes the chain, not only the job's random id.
    assert str(caught.value).startswith("every().hour.until(")


# -- job options through the chain ------------------------------------------------------


def test_options_accepts_every_add_job_option() -> None:
    accepted = {
        p.name
        for p in inspect.signature(Engine.add_job).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert accepted - {"args", "kwargs"} == OPTION_NAMES


def test_options_tags_and_arguments_reach_the_job() -> None:
    scheduler, _ = make()
    job = (
        scheduler.every(10)
        .minutes.tag("reports", "hourly")
        .options(
            id="report",
            name="the report",
            tags="io",
            retry=3,
            overlap="buffer_one",
            misfire_grace_time=60,
            max_instances=2,
            catchup="all",
            timeout=5,
            max_consecutive_failures=4,
            remaining_runs=7,
        )
        .do(Calls(), 1, 2, key="value")
    )
    assert job.id == "report"
    assert job.name == "the report"
    assert job.tags == {"reports", "hourly", "io"}
    assert job.retry == RetryPolicy(attempts=3)
    assert job.overlap.value == "buffer_one"
    assert job.misfire_grace_time == timedelta(seconds=60)
    assert job.max_instances == 2
    assert job.catchup.value == "all"
    assert job.timeout == 5.0
    assert job.max_consecutive_failures == 4
    assert job.remaining_runs == 7
    assert job.args == (1, 2)
    assert job.kwargs == {"key": "value"}
    assert [j.id for j in scheduler.get_jobs("reports")] == ["report"]


def test_retry_through_the_chain_retries() -> None:
    scheduler, _ = make()
    attempts: list[int] = []

    def flaky() -> None:
        attempts.append(current_run().attempt)
        if len(attempts) < 3:
            raise RuntimeError("not yet")

    scheduler.every().hour.options(retry=RetryPolicy(attempts=3, delay=1)).do(flaky)
    scheduler.open()
    run_until(scheduler, START + timedelta(minutes=61))
    scheduler.shutdown()
    assert attempts == [1, 2, 3]


def test_do_passes_keyword_arguments_named_like_options_to_the_function() -> None:
    scheduler, _ = make()
    calls: list[dict[str, Any]] = []
    job = scheduler.every().second.do(lambda **kw: calls.append(kw), id=5, retry="x")
    assert job.id != "5"
    scheduler.open()
    run_until(scheduler, START + timedelta(seconds=1))
    scheduler.shutdown()
    assert calls == [{"id": 5, "retry": "x"}]


def test_replace_existing_and_paused() -> None:
    scheduler, _ = make()
    scheduler.every().hour.options(id="x").do(noop)
    job = scheduler.every().day.at("10:30").options(id="x", replace_existing=True).do(noop)
    assert isinstance(job.trigger, CronTrigger)
    assert len(scheduler.get_jobs()) == 1
    paused = scheduler.every().minute.options(id="p", paused=True, pause_note="later").do(noop)
    assert paused.paused
    assert paused.pause_note == "later"


def test_run_immediately_through_options() -> None:
    scheduler, _ = make()
    job = scheduler.every().hour.options(run_immediately=True).do(noop)
    assert job.next_fire == START


def test_a_later_options_call_overrides_an_earlier_one() -> None:
    scheduler, _ = make()
    job = scheduler.every().hour.options(retry=2, name="a").options(retry=5).do(noop)
    assert job.retry == RetryPolicy(attempts=5)
    assert job.name == "a"


def test_function_references_are_accepted() -> None:
    scheduler, _ = make()
    job = scheduler.every().hour.do("tests.jobs_for_tests:add", 1, 2)
    assert job.func_ref == "tests.jobs_for_tests:add"


# -- until --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("until", "end"),
    [
        (timedelta(hours=2), "2024-03-06T11:10:20.250000+00:00"),
        ("11:00", "2024-03-06T11:00:00+00:00"),
        ("11:00:30", "2024-03-06T11:00:30+00:00"),
        (time(11, 0), "2024-03-06T11:00:00+00:00"),
        ("2024-03-07", "2024-03-07T00:00:00+00:00"),
        ("2024-03-07 08:15", "2024-03-07T08:15:00+00:00"),
        ("2024-03-07 08:15:30", "2024-03-07T08:15:30+00:00"),
        ("2024-03-07T08:15:30+02:00", "2024-03-07T08:15:30+02:00"),
        ("2024-03-07T08:15:30Z", "2024-03-07T08:15:30+00:00"),
        ("11:00+00:00", "2024-03-06T11:00:00+00:00"),
        ("11:00Z", "2024-03-06T11:00:00+00:00"),
        ("11:00:30+01:00", "2024-03-06T11:00:30+01:00"),
        ("06:00:30-05:00", "2024-03-06T06:00:30-05:00"),
        (datetime(2024, 3, 7, 8, 15), "2024-03-07T08:15:00+00:00"),
        (datetime(2024, 3, 7, 8, 15, tzinfo=NEW_YORK), "2024-03-07T08:15:00-05:00"),
    ],
)
def test_until_sets_the_jobs_end(until: Any, end: str) -> None:
    scheduler, _ = make()
    job = scheduler.every(10).minutes.until(until).do(noop)
    assert job.end is not None
    assert job.end.isoformat() == end


def test_naive_until_is_read_in_the_zone_of_at() -> None:
    scheduler, _ = make()
    job = scheduler.every().day.at("09:00", tz="America/New_York").until("2024-03-20 18:00")
    assert job.do(noop).end == datetime(2024, 3, 20, 18, tzinfo=NEW_YORK)
    # the zone is that of the whole chain, even when .at() comes after .until()
    later = scheduler.every().day.until("2024-03-20 18:00").at("09:00", tz="America/New_York")
    assert later.do(noop).end == datetime(2024, 3, 20, 18, tzinfo=NEW_YORK)


def test_a_naive_until_in_a_gap_is_the_end_of_the_gap() -> None:
    # 02:30 on New York's spring-forward day was read as 02:30-05:00, i.e. 03:30 EDT:
    # "the wall time plus the gap", which time-semantics.md says tickwork never uses.
    scheduler = Scheduler(clock=FakeClock(datetime(2024, 3, 10, 5, tzinfo=timezone.utc)),
                          timezone="America/New_York")  # fmt: skip
    for until in ("02:30", "2024-03-10 02:30", time(2, 30), datetime(2024, 3, 10, 2, 30)):
        job = scheduler.every(5).minutes.until(until).do(noop)
        assert job.end is not None
        assert job.end.isoformat() == "2024-03-10T03:00:00-04:00"


def test_the_job_stops_after_until() -> None:
    scheduler, clock = make()
    calls = Calls(clock)
    job = scheduler.every(30).minutes.until(timedelta(hours=2)).do(calls)
    scheduler.open()
    run_until(scheduler, START + timedelta(days=1))
    scheduler.shutdown()
    assert len(calls) == 4
    assert scheduler.get_job(job.id) is None


# -- builders are values ----------------------------------------------------------------


def test_a_builder_is_never_changed_so_a_partial_chain_is_a_template() -> None:
    scheduler, _ = make()
    daily = scheduler.every().day.tag("daily")
    morning = daily.at("08:00").do(noop)
    evening = daily.at("20:00").do(noop)
    assert morning.trigger == CronTrigger("0 8 * * *", timezone="UTC")
    assert evening.trigger == CronTrigger("0 20 * * *", timezone="UTC")
    assert repr(daily) == "<JobBuilder every().day.tag('daily')>"
    assert len(scheduler.get_jobs("daily")) == 2


def test_do_twice_adds_two_jobs() -> None:
    scheduler, _ = make()
    builder = scheduler.every(5).minutes
    assert builder.do(noop).id != builder.do(noop).id
    assert len(scheduler.get_jobs()) == 2


def test_fluent_triggers_serialize() -> None:
    scheduler, _ = make()
    for text in ["every(3).days.at('10:30')", "every().monday", "every(2).hours.at(':30')"]:
        trigger = chain(scheduler, text).do(noop).trigger
        assert tickwork.trigger_from_dict(trigger.to_dict()) == trigger
    assert isinstance(scheduler.every(2).weeks.do(noop).trigger, CalendarIntervalTrigger)


# -- repeat -------------------------------------------------------------------------------


def test_repeat_schedules_the_function_and_returns_it_unchanged() -> None:
    scheduler, clock = make()
    calls = Calls(clock)

    def job(*args: Any, **kwargs: Any) -> None:
        calls(*args, **kwargs)

    decorated = tickwork.repeat(scheduler.every(10).minutes, 1, flag=True)(job)
    assert decorated is job
    (added,) = scheduler.get_jobs()
    assert added.func is job
    assert added.args == (1,)
    assert added.kwargs == {"flag": True}
    scheduler.open()
    run_until(scheduler, START + timedelta(minutes=30))
    scheduler.shutdown()
    assert len(calls) == 3


def test_repeat_as_a_decorator_statement() -> None:
    scheduler, _ = make()

    @tickwork.repeat(scheduler.every().day.at("10:30"))
    def report() -> str:
        return "done"

    assert report() == "done"
    assert scheduler.get_jobs()[0].trigger == CronTrigger("30 10 * * *", timezone="UTC")


def test_repeat_refuses_what_is_not_a_chain_and_an_unfinished_chain() -> None:
    scheduler, _ = make()
    with pytest.raises(TypeError, match=r"repeat\(\) takes a chain such as every\(\)"):
        tickwork.repeat(scheduler)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="the chain has no unit"):
        tickwork.repeat(scheduler.every(3))(noop)


# -- the asyncio driver -----------------------------------------------------------------


def test_async_scheduler_every_is_plain() -> None:
    async def main() -> None:
        clock = FakeClock(START)
        scheduler = AsyncScheduler(
            clock=clock, timezone="UTC", executors={"default": InlineExecutor()}
        )
        calls = Calls(clock)
        job = scheduler.every().minute.at(":30").do(calls)  # no await: .do() is plain
        assert job.trigger == CronTrigger("30 * * * * *", timezone="UTC")
        assert [j.id for j in await scheduler.get_jobs()] == [job.id]
        scheduler.engine.open()
        run_until(scheduler.engine, START + timedelta(minutes=2))
        await scheduler.shutdown()
        assert [t.isoformat() for t in calls.scheduled] == [
            "2024-03-06T09:10:30+00:00",
            "2024-03-06T09:11:30+00:00",
        ]

    asyncio.run(main())


# -- the module-level API and its default scheduler --------------------------------------


@pytest.fixture
def fresh_default(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No default scheduler before the test; whatever the test made is shut down after."""
    monkeypatch.setenv("TZ", "UTC")  # the default scheduler reads the local zone
    previous = _set_default_scheduler(None)
    try:
        yield
    finally:
        made = _set_default_scheduler(previous)
        if made is not None and made.state is not SchedulerState.SHUTDOWN:
            made.shutdown(wait=True, timeout=3)


@pytest.mark.usefixtures("fresh_default")
def test_default_scheduler_is_made_once_and_not_started() -> None:
    first = tickwork.default_scheduler()
    assert tickwork.default_scheduler() is first
    assert first.state is SchedulerState.STOPPED
    assert first.timezone == ZoneInfo("UTC")  # the local zone, as TZ says


@pytest.mark.usefixtures("fresh_default")
def test_module_every_adds_to_the_default_scheduler_and_starts_it() -> None:
    job = tickwork.every(10).minutes.do(noop)
    scheduler = tickwork.default_scheduler()
    assert scheduler.state is SchedulerState.RUNNING
    assert [j.id for j in scheduler.get_jobs()] == [job.id]
    thread = scheduler._thread
    assert thread is not None
    assert thread.daemon  # never keeps the interpreter alive
    tickwork.every().hour.do(noop)  # a second .do() leaves it running
    assert scheduler.state is SchedulerState.RUNNING


@pytest.mark.usefixtures("fresh_default")
def test_a_bad_chain_does_not_start_the_default_scheduler() -> None:
    with pytest.raises(ValueError, match="no unit"):
        tickwork.every(10).do(noop)
    assert tickwork.default_scheduler().state is SchedulerState.STOPPED


@pytest.mark.usefixtures("fresh_default")
def test_after_shutdown_a_new_default_scheduler_is_made() -> None:
    first = tickwork.default_scheduler()
    tickwork.every().hour.do(noop)
    first.shutdown()
    second = tickwork.default_scheduler()
    assert second is not first
    assert second.get_jobs() == []


@pytest.mark.usefixtures("fresh_default")
def test_module_repeat_with_an_installed_fake_default() -> None:
    scheduler, clock = make()
    _set_default_scheduler(scheduler)
    scheduler.open()  # already running: .do() starts no thread
    calls = Calls(clock)

    @tickwork.repeat(tickwork.every().day.at("10:30"))
    def job() -> None:
        calls()

    assert tickwork.default_scheduler() is scheduler
    assert scheduler._thread is None
    run_until(scheduler, START + timedelta(days=2))
    assert [t.isoformat() for t in calls.scheduled] == [
        "2024-03-06T10:30:00+00:00",
        "2024-03-07T10:30:00+00:00",
    ]


def test_a_program_that_only_schedules_exits_at_once() -> None:
    """The default scheduler's threads are daemons: the interpreter does not wait."""
    script = (
        "import tickwork\n"
        "tickwork.every(1).seconds.do(print, 'tick')\n"
        "tickwork.every().day.at('10:30').do(print, 'daily')\n"
        "print('scheduled', tickwork.default_scheduler().state.value)\n"
    )
    path = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        env={**os.environ, "PYTHONPATH": path, "TZ": "UTC"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "scheduled running"


def test_re_adding_an_interval_chain_keeps_its_next_run() -> None:
    """Start-up code that re-adds the same job must not push its next run back."""
    clock = FakeClock(datetime(2024, 1, 1, tzinfo=timezone.utc))
    scheduler = Scheduler(clock=clock, timezone="UTC", executors={"default": InlineExecutor()})
    try:
        first = scheduler.every(10).minutes.options(id="sync", replace_existing=True).do(print)
        clock.advance(180)
        again = scheduler.every(10).minutes.options(id="sync", replace_existing=True).do(print)
        assert again.next_fire == first.next_fire
        changed = scheduler.every(15).minutes.options(id="sync", replace_existing=True).do(print)
        assert changed.next_fire == clock.now() + timedelta(minutes=15)
    finally:
        scheduler.shutdown()


@pytest.mark.parametrize(
    ("unit", "at", "restart", "changed"),
    [("hours", ":30", 70, ":45"), ("minutes", ":15", 2, ":20")],
)
def test_re_adding_an_every_n_units_at_chain_keeps_its_next_run(
    unit: str, at: str, restart: int, changed: str
) -> None:
    # Its first run is drawn from the moment of .do(): start-up code re-run more often
    # than n units moved it on each time, and the job never ran.
    clock = FakeClock(datetime(2024, 3, 6, 9, 5, tzinfo=timezone.utc))
    scheduler = Scheduler(clock=clock, timezone="UTC", executors={"default": InlineExecutor()})
    runs: list[datetime] = []
    scheduler.open()

    def declare(when: str) -> tickwork.Job:
        chain = getattr(scheduler.every(2 if unit == "hours" else 3), unit).at(when)
        return chain.options(id="j", replace_existing=True).do(lambda: runs.append(clock.now()))  # type: ignore[no-any-return]

    try:
        first = declare(at)
        for _ in range(5):
            run_until(scheduler, clock.now() + timedelta(minutes=restart))
            job = declare(at)
        assert len(runs) >= 2
        step = timedelta(**{unit: 2 if unit == "hours" else 3})
        assert all((run - first.next_fire) % step == timedelta(0) for run in runs)  # type: ignore[operator]
        assert job.next_fire == runs[-1] + step
        moved = declare(changed)  # another set time is another schedule
        assert moved.next_fire != job.next_fire
        assert moved.next_fire is not None
        assert (moved.next_fire - job.next_fire) % step  # type: ignore[operator]
    finally:
        scheduler.shutdown()


@pytest.mark.parametrize(
    "chain",
    [
        lambda s: s.every(1).to(105_120_002.0).minutes,
        lambda s: s.every(1).minutes.to(105_120_002.0),
    ],
)
def test_a_spread_too_large_for_a_jitter_is_refused_at_the_chain(chain: Any) -> None:
    # Half the spread of .to() is each run's jitter, whose limit is 100 years: the error
    # names the chain the user wrote, not the jitter option it becomes.
    scheduler = Scheduler(clock=FakeClock(START), timezone="UTC")
    with pytest.raises(ValueError, match=r"to\(105120002\.0\).*spread.*too large"):
        chain(scheduler)


@pytest.mark.parametrize(
    ("zone", "now", "fires"),
    [
        # Lord Howe's 30-minute gap (02:00-02:30 on 2024-10-06): :15 stays :15 (was :45).
        ("Australia/Lord_Howe", "2024-10-06T02:40:00+11:00", ["04:15+1100", "06:15+1100"]),
        # New York's fall-back hour, second pass (EST): the set time in that pass.
        ("America/New_York", "2024-11-03T01:40:00-05:00", ["03:15-0500", "05:15-0500"]),
        # An ordinary hour.
        ("Europe/Berlin", "2024-06-01T10:40:00+02:00", ["12:15+0200", "14:15+0200"]),
    ],
)
def test_every_n_hours_at_a_minute_counts_from_that_minute_in_the_offset_in_force(
    zone: str, now: str, fires: list[str]
) -> None:
    scheduler, _ = make(datetime.fromisoformat(now), zone)
    job = scheduler.every(2).hours.at(":15").do(noop)
    times = scheduler.next_fire_times(job.id, 2)
    assert [f"{at.astimezone(ZoneInfo(zone)):%H:%M%z}" for at in times] == fires


@pytest.mark.parametrize(
    ("now", "text", "fires"),
    [
        # Apia skipped 2011-12-30 whole (-10:00 to +14:00): a run due that day runs when
        # the gap ends, and the runs after it keep to the dates counted from today.
        ("2011-12-28T00:00", "every(2).days.at('12:00')", ["31 00:00", "01 12:00", "03 12:00"]),
        ("2011-12-29T05:00", "every().day", ["31 00:00", "31 05:00", "01 05:00"]),
        ("2011-12-27T13:00", "every(3).days.at('12:00')", ["31 00:00", "02 12:00", "05 12:00"]),
        ("2011-12-23T13:00", "every().week", ["31 00:00", "06 13:00", "13 13:00"]),
        # (A run on an existing day: unchanged.)
        ("2011-12-28T00:00", "every(3).days.at('12:00')", ["31 12:00", "03 12:00", "06 12:00"]),
    ],
)
def test_days_and_weeks_over_a_whole_skipped_day_keep_their_dates(
    now: str, text: str, fires: list[str]
) -> None:
    zone = ZoneInfo("Pacific/Apia")
    scheduler, _ = make(datetime.fromisoformat(now).replace(tzinfo=zone), "Pacific/Apia")
    job = chain(scheduler, text).do(noop)
    times = scheduler.next_fire_times(job.id, 3)
    assert [f"{at.astimezone(zone):%d %H:%M}" for at in times] == fires
