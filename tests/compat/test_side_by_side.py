"""The same programs, run against the real ``schedule`` package and against ours.

Each scenario is a function of the module under test (``schedule`` or
``tickwork.compat.schedule``). It runs under the same frozen clock (and host zone) for
both, and returns what a program can observe: next_run values, run order, repr and str
strings, exception types and messages, log lines. The two results must be identical.

``schedule`` is in the ``bench`` extra, not ``test``: without it this module is skipped.
Scenarios with ``at(..., tz)`` also need pytz, which schedule uses for zones.
"""

from __future__ import annotations

import datetime
import functools
import logging
import os
import random
import re
import sys
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from tickwork.compat import schedule as ours

real = pytest.importorskip("schedule")

START = "2024-05-01 12:00:30.5"  # a Wednesday
DT = datetime.datetime
UTC = datetime.timezone.utc
NEW_YORK = ZoneInfo("America/New_York")
JOB_ATTRIBUTES = (
    "interval",
    "latest",
    "unit",
    "at_time",
    "last_run",
    "next_run",
    "start_day",
    "cancel_after",
    "tags",
)

Scenario = Callable[[ModuleType], Any]


def job(*args: Any, **kwargs: Any) -> None:
    """A job function with a name."""


def _clean(text: str) -> str:
    return re.sub(r" at 0x[0-9a-f]+>", " at ADDR>", text)


def describe(value: Any) -> Any:
    """What a program can observe of *value*, as plain data."""
    if isinstance(value, (real.Job, ours.Job)):
        seen: dict[str, Any] = {name: getattr(value, name) for name in JOB_ATTRIBUTES}
        seen["type"] = type(value).__name__
        seen["at_time_zone"] = str(value.at_time_zone)
        func = value.job_func
        if func is not None:
            keywords = {key: describe(item) for key, item in func.keywords.items()}
            seen["job_func"] = (describe(list(func.args)), keywords)
        seen["job_func_name"] = getattr(func, "__name__", None)
        seen["str"] = _clean(str(value))
        seen["repr"] = outcome(lambda: _clean(repr(value)))
        return seen
    if isinstance(value, (list, tuple)):
        return [describe(item) for item in value]
    if isinstance(value, (real.Scheduler, ours.Scheduler)):
        return {"jobs": describe(value.jobs), "next_run": value.next_run}
    return value


def outcome(call: Callable[[], Any]) -> Any:
    try:
        value = call()
    except Exception as error:
        return ("raised", type(error).__name__, str(error))
    return ("returned", describe(value))


def both(
    scenario: Scenario, *, start: str = START, tz_offset: float = 0, hide_pytz: bool = False
) -> None:
    """Run *scenario* for schedule and for us under the same clock; compare the results.

    With *hide_pytz*, ours runs as if pytz were not installed (zones from zoneinfo).
    """
    results = []
    for module in (real, ours):
        random.seed(2024)
        hidden = hide_pytz and module is ours
        saved = sys.modules.get("pytz")
        if hidden:
            sys.modules["pytz"] = None  # type: ignore[assignment]
        try:
            with freeze_time(start, tz_offset=tz_offset):
                results.append(outcome(lambda module=module: scenario(module)))
        finally:
            if hidden:
                sys.modules["pytz"] = saved  # type: ignore[assignment]
    assert results[1] == results[0]


@pytest.fixture
def host_zone() -> Iterator[Callable[[str], None]]:
    if not hasattr(time, "tzset"):
        pytest.skip("needs time.tzset (POSIX)")
    before = os.environ.get("TZ")

    def set_zone(name: str) -> None:
        os.environ["TZ"] = name
        time.tzset()

    yield set_zone
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.fixture(autouse=True)
def _clean_default_schedulers() -> Iterator[None]:
    real.clear()
    ours.clear()
    yield
    real.clear()
    ours.clear()


# --------------------------------------------------------------------------------------
# One chain at a time: the job it builds, or the error it raises
# --------------------------------------------------------------------------------------

CHAINS: list[Callable[[Any], Any]] = [
    lambda s: s.every().second.do(job),
    lambda s: s.every(15).seconds.do(job, 1, key="v"),
    lambda s: s.every().minute.do(job),
    lambda s: s.every(10).minutes.do(job),
    lambda s: s.every().hour.do(job),
    lambda s: s.every(3).hours.do(job),
    lambda s: s.every().day.do(job),
    lambda s: s.every(2).days.do(job),
    lambda s: s.every().week.do(job),
    lambda s: s.every(2).weeks.do(job),
    lambda s: s.every(2.5).minutes.do(job),
    lambda s: s.every(1.0).seconds.do(job),
    lambda s: s.every(True).second.do(job),
    lambda s: s.every().monday.do(job),
    lambda s: s.every().tuesday.do(job),
    lambda s: s.every().wednesday.do(job),
    lambda s: s.every().thursday.do(job),
    lambda s: s.every().friday.do(job),
    lambda s: s.every().saturday.do(job),
    lambda s: s.every().sunday.do(job),
    lambda s: s.every().monday.tuesday.do(job),
    lambda s: s.every().day.at("10:30").do(job),
    lambda s: s.every().day.at("12:00:30").do(job),
    lambda s: s.every().day.at("12:00:31").do(job),
    lambda s: s.every().day.at("00:00").do(job),
    lambda s: s.every().day.at("23:59:59").do(job),
    lambda s: s.every().day.at("10:00\n").do(job),
    lambda s: s.every(2).days.at("13:00").do(job),
    lambda s: s.every(2).days.at("11:00").do(job),
    lambda s: s.every().hour.at(":30").do(job),
    lambda s: s.every().hour.at("15:30").do(job),
    lambda s: s.every().hour.at(":00").do(job),
    lambda s: s.every(3).hours.at("15:07").do(job),
    lambda s: s.every().minute.at(":10").do(job),
    lambda s: s.every().minute.at(":31").do(job),
    lambda s: s.every(10).minutes.at(":07").do(job),
    lambda s: s.every().monday.at("10:00").do(job),
    lambda s: s.every().wednesday.at("12:00:30").do(job),
    lambda s: s.every().wednesday.at("18:00").do(job),
    lambda s: s.every().monday.hours.at("10:00").do(job),
    lambda s: s.every().monday.hours.at("10:00:00"),
    lambda s: s.every().monday.minutes.at("10:00"),
    lambda s: s.every(3).to(5).hours.do(job),
    lambda s: s.every(1).to(3).days.at("10:00").do(job),
    lambda s: s.every(5).to(3).seconds.do(job),
    lambda s: s.every(1).to("5").seconds.do(job),
    lambda s: s.every().second.until(DT(2030, 1, 1)).do(job),
    lambda s: s.every().second.until(datetime.timedelta(hours=1)).do(job),
    lambda s: s.every().second.until(datetime.time(13, 0)).do(job),
    lambda s: s.every().second.until("2024-05-02 10:00:01").do(job),
    lambda s: s.every().second.until("2024-05-02 10:00").do(job),
    lambda s: s.every().second.until("2024-05-02").do(job),
    lambda s: s.every().second.until("13:00:01").do(job),
    lambda s: s.every().second.until("13:00").do(job),
    lambda s: s.every().second.until("11:00"),
    lambda s: s.every().second.until("tomorrow"),
    lambda s: s.every().second.until(5),
    lambda s: s.every().second.until(datetime.date(2030, 1, 1)),
    lambda s: s.every().second.until(DT(2020, 1, 1)),
    lambda s: s.every().second.until(DT(2030, 1, 1, tzinfo=UTC)),
    lambda s: s.every().second.until(datetime.timedelta(hours=-1)),
    lambda s: s.every().second.tag("a", 1, ("t",)).do(job),
    lambda s: s.every().second.tag([1]),
    lambda s: s.every(2).second,
    lambda s: s.every(2).minute,
    lambda s: s.every(2).hour,
    lambda s: s.every(2).day,
    lambda s: s.every(2).week,
    lambda s: s.every(0).second,
    lambda s: s.every(2).monday,
    lambda s: s.every(2).sunday,
    lambda s: s.every().seconds.at("10:00"),
    lambda s: s.every().weeks.at("10:00"),
    lambda s: s.every().at("10:00"),
    lambda s: s.every().day.at(1000),
    lambda s: s.every().day.at("25:00"),
    lambda s: s.every().day.at("24:00"),
    lambda s: s.every().day.at("1:00"),
    lambda s: s.every().day.at("10:60"),
    lambda s: s.every().day.at("10:00:60"),
    lambda s: s.every().day.at("30:00"),
    lambda s: s.every().monday.at(":30"),
    lambda s: s.every().hour.at("10:00:00"),
    lambda s: s.every().hour.at("60:00"),
    lambda s: s.every().minute.at("10:00"),
    lambda s: s.every().minute.at(":60"),
    lambda s: s.every().do(job),
    lambda s: s.every().monday.day.do(job),
    lambda s: s.every().second.do(5),
    lambda s: s.every("2").seconds.do(job),
    lambda s: s.every(3),
    lambda s: s.every().seconds,
    lambda s: s.every().day.at("10:00"),
    lambda s: s.every().second.do(lambda: None),
    lambda s: s.every().second.do(functools.partial(job, 3)),
    lambda s: s.every(2).seconds.do(job, s.every().day.at("10:30").do(job), "s", [1], k=None),
    lambda s: s.Job(1).seconds.do(job),
    lambda s: repr(s.Job(1)),
    lambda s: s.CancelJob,
]


# schedule imports pytz as soon as at() is given a zone, even a wrong one.
ZONE_CHAINS: list[Callable[[Any], Any]] = [
    lambda s: s.every().day.at("10:00", 5),
    lambda s: s.every().day.at(1000, 5),
    lambda s: s.every().day.at(1000, "Europe/Berlin"),
    lambda s: s.every().day.at("99:00", "Europe/Berlin"),
    lambda s: s.every().seconds.at("10:00", "Nowhere/Land"),
    lambda s: s.every().day.at("10:00", "Nowhere/Land"),
    lambda s: s.every().day.at("10:00", "Europe/Berlin").do(job),
    lambda s: s.every().day.at("10:00", ZoneInfo("Europe/Berlin")),
]


@pytest.mark.parametrize(
    "chain", ZONE_CHAINS, ids=[f"zone{index}" for index in range(len(ZONE_CHAINS))]
)
def test_chains_with_zones(chain: Callable[[Any], Any], host_zone: Callable[[str], None]) -> None:
    pytest.importorskip("pytz")
    host_zone("UTC")
    if chain is ZONE_CHAINS[-1]:
        pytest.skip("schedule refuses tzinfo objects other than pytz's; we accept them")
    test_chains_build_the_same_job_or_raise_the_same_error(chain)


@pytest.mark.parametrize("chain", CHAINS, ids=[f"chain{index}" for index in range(len(CHAINS))])
def test_chains_build_the_same_job_or_raise_the_same_error(chain: Callable[[Any], Any]) -> None:
    def scenario(module: ModuleType) -> Any:
        scheduler = module.Scheduler()
        scheduler.Job = module.Job  # type: ignore[attr-defined]
        scheduler.CancelJob = module.CancelJob  # type: ignore[attr-defined]
        built = chain(scheduler)
        if built is module.CancelJob:
            return "CancelJob"
        return [built, scheduler]

    both(scenario)


def generated_chains(count: int) -> list[list[tuple[str, Any]]]:
    """Random fluent chains (seeded): a mix of valid and invalid steps."""
    rng = random.Random(20240501)
    units = ["second", "seconds", "minute", "minutes", "hour", "hours", "day", "days"]
    units += ["week", "weeks", "monday", "thursday", "sunday"]
    times = ["10:30", "00:00:01", "23:59", ":15", "05:07", ":00", "12:00:30", "24:00", "9:00"]
    chains = []
    for _ in range(count):
        steps: list[tuple[str, Any]] = [("every", rng.choice([1, 1, 2, 3, 7]))]
        steps.append(("unit", rng.choice(units)))
        if rng.random() < 0.6:
            steps.append(("at", rng.choice(times)))
        if rng.random() < 0.2:
            steps.append(("to", rng.choice([1, 4, 9])))
        if rng.random() < 0.2:
            steps.append(("until", rng.choice(["13:00", "2024-06-01", "11:00"])))
        chains.append(steps)
    return chains


@pytest.mark.parametrize("steps", generated_chains(150))
def test_generated_chains(steps: list[tuple[str, Any]]) -> None:
    def scenario(module: ModuleType) -> Any:
        scheduler = module.Scheduler()
        built: Any = scheduler
        for name, argument in steps:
            if name == "unit":
                built = getattr(built, argument)
            else:
                built = getattr(built, name)(argument)
        built = built.do(job)
        return [built, built.next_run]

    both(scenario)


# --------------------------------------------------------------------------------------
# Programs over time: run order, cancellation, tags, idle_seconds...
# --------------------------------------------------------------------------------------


def run_program(build: Callable[[Any, Callable[..., Any]], None], seconds: int = 12) -> None:
    """Build jobs that log their runs, then tick one second at a time; compare everything."""

    def scenario(module: ModuleType) -> Any:
        log: list[Any] = []
        trace = []
        with freeze_time(START) as frozen:
            scheduler = module.Scheduler()
            build(scheduler, lambda name: log.append((name, datetime.datetime.now())))
            for _ in range(seconds):
                frozen.tick(1)
                scheduler.run_pending()
                nexts = [one.next_run for one in scheduler.jobs]
                trace.append((scheduler.next_run, scheduler.idle_seconds, nexts))
        return [log, trace, scheduler]

    both(scenario)


def program_mixed(s: Any, record: Callable[..., Any]) -> None:
    s.every(3).seconds.do(record, "every3").tag("a")
    s.every(2).seconds.do(record, "every2").tag("b")
    s.every(2).seconds.do(record, "every2-second").tag("a", "b")
    s.every().second.do(record, "every1")
    s.every().minute.at(":35").do(record, "at35")


def program_cancel(s: Any, record: Callable[..., Any]) -> None:
    count = [0]

    def three_times() -> Any:
        count[0] += 1
        record("three")
        return cancel_marker(s) if count[0] >= 3 else None

    s.every().second.do(three_times)
    s.every(4).seconds.until(datetime.timedelta(seconds=9)).do(record, "until")
    s.every(2).seconds.do(record, "steady")


def cancel_marker(s: Any) -> Any:
    module = real if isinstance(s, real.Scheduler) else ours
    return module.CancelJob


def program_edits(s: Any, record: Callable[..., Any]) -> None:
    victim = s.every(2).seconds.do(record, "victim")
    tagged = s.every(3).seconds.do(record, "tagged").tag("t")

    def meddler() -> None:
        record("meddler")
        s.cancel_job(victim)
        s.clear("t")
        s.every(5).seconds.do(record, "newcomer")
        tagged.next_run = datetime.datetime.now()

    s.every(4).seconds.do(meddler)


def program_list_surgery(s: Any, record: Callable[..., Any]) -> None:
    a = s.every(2).seconds.do(record, "a")
    b = s.every(2).seconds.do(record, "b")
    c = s.every(2).seconds.do(record, "c")
    s.jobs.append(a)  # listed twice
    s.jobs.remove(b)
    s.jobs.insert(0, b)
    s.jobs.reverse()
    del s.jobs[1]
    s.jobs.append(c)
    s.jobs.sort(key=lambda j: j.job_func.args[0])


def program_random(s: Any, record: Callable[..., Any]) -> None:
    s.every(1).to(3).seconds.do(record, "random")
    s.every(2).to(4).seconds.do(record, "random2")


PROGRAMS = [program_mixed, program_cancel, program_edits, program_list_surgery, program_random]


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.__name__ for p in PROGRAMS])
def test_programs_run_the_same(program: Callable[[Any, Callable[..., Any]], None]) -> None:
    run_program(program)


def test_exceptions_and_retries() -> None:
    def build(s: Any, record: Callable[..., Any]) -> None:
        state = {"n": 0}

        def flaky() -> None:
            state["n"] += 1
            record("flaky")
            if state["n"] % 3 == 1:
                raise RuntimeError(f"boom {state['n']}")

        s.every().second.do(flaky)
        s.every().second.do(record, "after")

    def scenario(module: ModuleType) -> Any:
        results = []
        with freeze_time(START) as frozen:
            scheduler = module.Scheduler()
            log: list[Any] = []
            build(scheduler, lambda name: log.append((name, datetime.datetime.now())))
            for _ in range(6):
                frozen.tick(1)
                results.append(outcome(scheduler.run_pending))
            results.append(log)
        return results

    both(scenario)


def test_run_all_and_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)

    def scenario(module: ModuleType) -> Any:
        sleeps.clear()
        scheduler = module.Scheduler()
        ran: list[str] = []
        scheduler.every().hour.do(ran.append, "a")
        scheduler.every().day.do(lambda: module.CancelJob)
        scheduler.every().week.do(ran.append, "c")
        scheduler.run_all(delay_seconds=3)
        scheduler.run_all()
        return [ran, list(sleeps), scheduler]

    both(scenario)


def test_module_level_api() -> None:
    def scenario(module: ModuleType) -> Any:
        seen: list[Any] = []
        seen.append((module.next_run(), module.idle_seconds(), module.get_jobs()))
        ran: list[str] = []
        first = module.every(2).seconds.do(ran.append, "x").tag("t")
        module.every(5).minutes.do(ran.append, "y")

        @module.repeat(module.every(3).seconds, "z")
        def decorated(word: str) -> None:
            ran.append(word)

        seen.append((module.next_run(), module.next_run("t"), module.idle_seconds()))
        module.run_all()
        module.run_pending()
        module.cancel_job(first)
        seen.append((module.get_jobs(), module.jobs is module.default_scheduler.jobs))
        module.clear("nothing")
        module.clear()
        seen.append((module.jobs, module.next_run(), module.idle_seconds(), ran))
        return seen

    both(scenario)


def test_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="schedule")

    def scenario(module: ModuleType) -> Any:
        caplog.clear()
        scheduler = module.Scheduler()
        scheduler.every().second.do(job).tag("a")
        gone = scheduler.every().second.do(lambda: module.CancelJob)
        scheduler.every().second.until(datetime.timedelta(seconds=1)).do(job)
        with freeze_time("2024-05-01 12:00:32"):
            scheduler.run_pending()
        scheduler.run_all(delay_seconds=0)
        scheduler.cancel_job(gone)
        scheduler.clear("a")
        scheduler.clear()
        return [_clean(record.getMessage()) for record in caplog.records]

    both(scenario)


# --------------------------------------------------------------------------------------
# Daylight saving time
# --------------------------------------------------------------------------------------


def simulate(
    module: ModuleType,
    build: Callable[[Any, Callable[[], None]], Any],
    start: DT,
    minutes: int,
    host: ZoneInfo | None,
) -> list[Any]:
    """A `run_pending(); sleep(60)` loop; the host's wall clock is frozen (naive)."""
    runs: list[Any] = []
    instant = start.replace(tzinfo=UTC)
    zone = host or ZoneInfo("UTC")

    def wall(moment: DT) -> DT:
        return moment.astimezone(zone).replace(tzinfo=None)

    with freeze_time(wall(instant)) as frozen:
        scheduler = module.Scheduler()
        built = build(scheduler, lambda: runs.append(instant.isoformat()))
        nexts = [built.next_run]
        for _ in range(minutes):
            instant += datetime.timedelta(minutes=1)
            frozen.move_to(wall(instant))
            scheduler.run_pending()
            if built.next_run != nexts[-1]:
                nexts.append(built.next_run)
    return [runs, nexts]


NAIVE_DST = [
    (lambda s, f: s.every().hour.do(f), DT(2024, 11, 3, 3, 30), 300),
    (lambda s, f: s.every(20).minutes.do(f), DT(2024, 11, 3, 5, 0), 120),
    (lambda s, f: s.every().hour.do(f), DT(2024, 3, 10, 4, 30), 240),
    (lambda s, f: s.every().day.at("02:30").do(f), DT(2024, 3, 9, 12, 0), 2400),
    (lambda s, f: s.every().day.at("01:30").do(f), DT(2024, 11, 2, 12, 0), 2400),
    (lambda s, f: s.every().hour.at(":10").do(f), DT(2024, 11, 3, 4, 0), 300),
    (lambda s, f: s.every().sunday.at("02:30").do(f), DT(2024, 3, 9, 12, 0), 1500),
]


@pytest.mark.parametrize(("build", "start", "minutes"), NAIVE_DST)
def test_naive_local_time_on_a_dst_host(
    build: Callable[[Any, Callable[[], None]], Any], start: DT, minutes: int
) -> None:
    both(lambda module: simulate(module, build, start, minutes, NEW_YORK))


ZONED_DST = [
    (lambda s, f: s.every().day.at("02:30", "America/New_York").do(f), DT(2024, 3, 9, 17), 4800),
    (lambda s, f: s.every(2).days.at("02:30", "America/New_York").do(f), DT(2024, 3, 8, 12), 7200),
    (lambda s, f: s.every().day.at("01:30", "America/New_York").do(f), DT(2024, 11, 2, 17), 3600),
    (lambda s, f: s.every().hour.at(":15", "America/New_York").do(f), DT(2024, 11, 3, 4), 300),
    (lambda s, f: s.every().hour.at(":15", "America/New_York").do(f), DT(2024, 3, 10, 5), 240),
    (lambda s, f: s.every().day.at("12:00", "America/New_York").do(f), DT(2024, 3, 8, 12), 6000),
    (lambda s, f: s.every().sunday.at("02:30", "Europe/Berlin").do(f), DT(2024, 3, 30, 12), 13000),
    (
        lambda s, f: s.every().minute.at(":20", "Australia/Lord_Howe").do(f),
        DT(2024, 4, 6, 14, 50),
        90,
    ),
    (
        lambda s, f: s.every().day.at("02:15", "Australia/Lord_Howe").do(f),
        DT(2024, 10, 5, 10),
        2000,
    ),
]


@pytest.mark.parametrize("hide_pytz", [False, True], ids=["pytz", "zoneinfo"])
@pytest.mark.parametrize(("build", "start", "minutes"), ZONED_DST)
def test_at_with_a_zone_across_dst(
    host_zone: Callable[[str], None],
    build: Callable[[Any, Callable[[], None]], Any],
    start: DT,
    minutes: int,
    hide_pytz: bool,
) -> None:
    pytest.importorskip("pytz")
    host_zone("UTC")
    both(lambda module: simulate(module, build, start, minutes, None), hide_pytz=hide_pytz)


@pytest.mark.parametrize(
    ("host", "offset", "start"),
    [
        ("Europe/Budapest", 2, "2023-04-14 02:50"),  # peer-wrong-answers row 19
        ("America/Los_Angeles", -7, "2024-07-01 20:00"),
        ("Asia/Kolkata", 5.5, "2024-01-15 23:45"),
    ],
)
@pytest.mark.parametrize("hide_pytz", [False, True], ids=["pytz", "zoneinfo"])
def test_at_with_a_zone_on_a_host_elsewhere(
    host_zone: Callable[[str], None], host: str, offset: float, start: str, hide_pytz: bool
) -> None:
    pytz = pytest.importorskip("pytz")
    host_zone(host)

    def scenario(module: ModuleType) -> Any:
        scheduler = module.Scheduler()
        built = [
            scheduler.every().day.at("00:00", "US/Central").do(job),
            scheduler.every().day.at("10:00", "Asia/Tokyo").do(job),
            scheduler.every().monday.at("09:30", pytz.timezone("Europe/London")).do(job),
            scheduler.every().hour.at("05:00", "America/St_Johns").do(job),
            scheduler.every().minute.at(":45", "UTC").do(job),
        ]
        return [[b.next_run for b in built], scheduler]

    both(scenario, start=start, tz_offset=offset, hide_pytz=hide_pytz)


def test_unknown_zone_raises_the_same_error() -> None:
    pytest.importorskip("pytz")

    def scenario(module: ModuleType) -> Any:
        scheduler = module.Scheduler()
        names = ("Nowhere/Land", "", "+05:00", "europe/berlin", "utc", "US/Eastern")
        return [
            outcome(lambda name=name: scheduler.every().day.at("10:00", name)) for name in names
        ]

    both(scenario)
