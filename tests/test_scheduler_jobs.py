"""Adding jobs, their options, the decorators, managing jobs, and argument errors.

Everything here runs on a FakeClock with the InlineExecutor: no threads, no sleeps.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tickwork import (
    ConflictingIdError,
    CronTrigger,
    DateTrigger,
    EventKind,
    EventTrigger,
    IntervalTrigger,
    Job,
    JobLookupError,
    OrTrigger,
    RetryPolicy,
    Scheduler,
    SchedulerStateError,
    TickworkError,
)
from tickwork.executors import InlineExecutor
from tickwork.testing import FakeClock, advance, run_until

from .jobs_for_tests import (
    T0,
    UTC,
    Calls,
    Events,
    add,
    inline_scheduler,
    noop,
    seconds,
    simulated,
)


@pytest.fixture
def sim() -> Iterator[tuple[Scheduler, FakeClock, Events]]:
    with simulated() as parts:
        yield parts


# -- add_job: triggers and shortcuts ----------------------------------------------------


def test_add_job_with_a_trigger_object_returns_a_job(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, _, _ = sim
    trigger = IntervalTrigger(minutes=5, start=T0 + seconds(30), timezone="UTC")
    job = scheduler.add_job(noop, trigger, id="j")
    assert isinstance(job, Job)
    assert job.id == "j"
    assert job.trigger == trigger
    assert job.next_fire == T0 + seconds(30)
    assert scheduler.get_job("j") == job


def test_interval_shortcut_first_runs_one_interval_from_now(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, clock, _ = sim
    clock.advance(7)
    calls = Calls(clock)
    job = scheduler.add_job(calls, "interval", minutes=5)
    assert job.next_fire == T0 + seconds(7 + 300)
    advance(scheduler, 299)
    assert len(calls) == 0
    advance(scheduler, 1 + 300)
    assert calls.scheduled == [T0 + seconds(307), T0 + seconds(607)]


def test_interval_shortcut_jobs_alike_but_for_the_amount_type_keep_their_own(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    # Jobs added "from now" share one validated trigger per interval, moved to each
    # start: hours=1 and hours=1.0 are the same length, yet each job keeps what it was
    # given, and its trigger is the one built directly (every field, the end too).
    scheduler, clock, _ = sim
    whole = scheduler.add_job(noop, "interval", hours=1, id="whole")
    clock.advance(1)
    real = scheduler.add_job(noop, "interval", hours=1.0, id="real")
    ended = scheduler.add_job(noop, "interval", hours=1, end_date=T0 + seconds(7201), id="end")
    start = T0 + seconds(3601)
    assert whole.trigger == IntervalTrigger(hours=1, start=T0 + seconds(3600), timezone="UTC")
    assert real.trigger == IntervalTrigger(hours=1.0, start=start, timezone="UTC")
    assert ended.trigger == IntervalTrigger(
        hours=1, start=start, end=T0 + seconds(7201), timezone="UTC"
    )
    assert "hours=1," in repr(whole.trigger)
    assert "hours=1.0," in repr(real.trigger)
    assert ended.trigger.next_after(T0 + seconds(7201)) is None


def test_interval_shortcut_starts_each_job_from_its_own_now(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, clock, _ = sim
    first = scheduler.add_job(Calls(), "interval", minutes=5, timezone="Europe/Berlin")
    clock.advance(61.5)
    second = scheduler.add_job(Calls(), "interval", minutes=5, timezone="Europe/Berlin")
    assert first.next_fire == T0 + seconds(300)
    assert second.next_fire == T0 + seconds(361.5)
    assert str(second.next_fire.tzinfo) == "Europe/Berlin"
    assert second.trigger.start == T0 + seconds(361.5)  # type: ignore[attr-defined]


def test_date_shortcut_runs_once_and_the_job_is_then_removed(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, _, events = sim
    calls = Calls()
    job = scheduler.add_job(calls, "date", run_date=T0 + timedelta(hours=2), id="once")
    assert isinstance(job.trigger, DateTrigger)
    run_until(scheduler, T0 + timedelta(days=1))
    assert calls.scheduled == [T0 + timedelta(hours=2)]
    assert scheduler.get_job("once") is None
    assert events.of(EventKind.JOB_REMOVED, "once")


def test_cron_shortcut_with_an_expression(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    job = scheduler.add_job(noop, "cron", "0 9 * * mon-fri", id="c")
    assert isinstance(job.trigger, CronTrigger)
    # 2024-01-01 is a Monday; then Tuesday, ..., Friday, then the next Monday.
    assert scheduler.next_fire_times("c", 6) == [
        datetime(2024, 1, day, 9, tzinfo=UTC) for day in (1, 2, 3, 4, 5, 8)
    ]


def test_cron_shortcut_with_apscheduler_field_keywords(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, _, _ = sim
    job = scheduler.add_job(noop, "cron", hour=9, minute=30, day_of_week="mon-fri", id="c")
    times = scheduler.next_fire_times(job.id, 6)
    assert times == [datetime(2024, 1, day, 9, 30, tzinfo=UTC) for day in (1, 2, 3, 4, 5, 8)]


@pytest.mark.parametrize("day_of_week", [1, "1", "1-5", "0,6"])
def test_numeric_day_of_week_is_refused_asking_for_names(
    sim: tuple[Scheduler, FakeClock, Events], day_of_week: object
) -> None:
    scheduler, _, _ = sim
    with pytest.raises(ValueError, match="day_of_week") as caught:
        scheduler.add_job(noop, "cron", hour=9, day_of_week=day_of_week)
    assert "name" in str(caught.value)
    assert "mon" in str(caught.value)
    assert scheduler.get_jobs() == []


def test_func_as_a_module_function_reference(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, events = sim
    job = scheduler.add_job(
        "tests.jobs_for_tests:add", "date", run_date=T0 + seconds(1), args=(2, 3), id="ref"
    )
    assert job.func is add
    assert job.func_ref == "tests.jobs_for_tests:add"
    advance(scheduler, 1)
    assert [e.return_value for e in events.of(EventKind.JOB_EXECUTED)] == [5]


def test_a_callable_gets_its_reference_and_name(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    job = scheduler.add_job(add, "interval", seconds=1, args=[1, 2])
    assert job.func_ref == "tests.jobs_for_tests:add"
    assert "add" in job.name
    assert job.args == (1, 2)


def test_default_ids_are_unique(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    ids = {scheduler.add_job(noop, "interval", seconds=1).id for _ in range(20)}
    assert len(ids) == 20


# -- add_job: argument errors -----------------------------------------------------------


def test_unknown_trigger_name_is_refused(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    with pytest.raises(ValueError, match="unknown trigger 'hourly'"):
        scheduler.add_job(noop, "hourly")


def test_a_cron_string_as_trigger_name_gets_a_hint(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, _, _ = sim
    with pytest.raises(ValueError, match="unknown trigger") as caught:
        scheduler.add_job(noop, "*/5 * * * *")
    assert "add_job(func, 'cron', '*/5 * * * *')" in str(caught.value)


@pytest.mark.parametrize(
    ("options", "error", "named"),
    [
        ({"misfire_grace_time": -1}, ValueError, "misfire_grace_time"),
        ({"misfire_grace_time": "soon"}, TypeError, "misfire_grace_time"),
        ({"catchup": "sometimes"}, ValueError, "catchup"),
        ({"overlap": "sometimes"}, ValueError, "overlap"),
        ({"max_instances": 0}, ValueError, "max_instances"),
        ({"max_instances": 1.5}, TypeError, "max_instances"),
        ({"max_catchup": 0}, ValueError, "max_catchup"),
        ({"remaining_runs": 0}, ValueError, "remaining_runs"),
        ({"max_consecutive_failures": 0}, ValueError, "max_consecutive_failures"),
        ({"jitter": "a"}, TypeError, "jitter"),
        ({"jitter": -2}, ValueError, "jitter"),
        ({"retry": "twice"}, TypeError, "retry"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"coalesce": "yes"}, TypeError, "coalesce"),
        ({"coalesce": True, "catchup": "all"}, ValueError, "coalesce"),
        ({"name": 3}, TypeError, "name"),
        ({"args": 5}, TypeError, "args"),
        ({"args": "ab"}, TypeError, "args"),
        ({"kwargs": [1]}, TypeError, "kwargs"),
        ({"conflict": "merge"}, ValueError, "conflict"),
        ({"paused": "yes"}, TypeError, "paused"),
        ({"id": ""}, ValueError, "id"),
        ({"start": T0 + seconds(10), "end": T0}, ValueError, "before start"),
        ({"executor": "gpu"}, ValueError, "executor 'gpu'"),
        ({"first_fire": T0, "run_immediately": True}, TypeError, "run_immediately"),
        ({"replace_existing": True, "conflict": "keep"}, TypeError, "replace_existing"),
        ({"foo": 1}, TypeError, "foo"),
    ],
)
def test_bad_options_raise_at_the_call_naming_the_argument(
    sim: tuple[Scheduler, FakeClock, Events],
    options: dict[str, object],
    error: type[Exception],
    named: str,
) -> None:
    scheduler, _, events = sim
    with pytest.raises(error, match=named):
        scheduler.add_job(noop, "interval", seconds=5, **options)
    assert scheduler.get_jobs() == []
    assert not events.of(EventKind.JOB_ADDED)


def test_tags_that_are_not_strings_are_refused_naming_tags(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, _, _ = sim
    with pytest.raises(TypeError, match="tags"):
        scheduler.add_job(noop, "interval", seconds=5, tags=3)


def test_tags_with_non_string_members_are_refused(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    with pytest.raises(TypeError, match="tags"):
        scheduler.add_job(noop, "interval", seconds=5, tags=["a", 2])


@pytest.mark.parametrize(
    ("trigger", "kwargs", "named"),
    [
        ("date", {"run_date": datetime(2024, 2, 1)}, "run_date"),
        ("interval", {"seconds": 5, "start": datetime(2024, 2, 1)}, "start"),
        ("interval", {"seconds": 5, "end": datetime(2024, 2, 1)}, "end"),
        ("interval", {"seconds": 5, "first_fire": datetime(2024, 2, 1)}, "first_fire"),
        ("interval", {"seconds": 5, "start_date": datetime(2024, 2, 1)}, "start_date"),
    ],
)
def test_naive_datetimes_are_refused_naming_the_argument(
    sim: tuple[Scheduler, FakeClock, Events],
    trigger: str,
    kwargs: dict[str, object],
    named: str,
) -> None:
    scheduler, _, _ = sim
    with pytest.raises(TypeError, match=f"{named}.*naive"):
        scheduler.add_job(noop, trigger, **kwargs)


def test_a_naive_datetime_is_shown_how_to_attach_the_zone_meant(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, _, _ = sim
    naive = datetime(2030, 1, 1, 9)
    with pytest.raises(TypeError, match=r"run_date\.replace\(tzinfo=ZoneInfo\('Asia/Tokyo'\)\)"):
        scheduler.add_job(noop, "date", run_date=naive, timezone="Asia/Tokyo")
    with pytest.raises(TypeError, match=r"start_date\.replace\(tzinfo=timezone\.utc\)"):
        scheduler.add_job(noop, "cron", "0 9 * * *", start_date=naive)  # (the scheduler's)
    with pytest.raises(TypeError, match=r"tzinfo=timezone\(timedelta\(hours=5, minutes=30\)\)"):
        scheduler.add_job(noop, "date", run_date=naive, timezone="+05:30")  # (no ZoneInfo)
    tokyo = Scheduler(timezone="Asia/Tokyo")
    for option in ("start", "first_fire"):
        with pytest.raises(TypeError, match=rf"{option}\.replace\(tzinfo=ZoneInfo\('Asia/Tokyo'"):
            tokyo.add_job(noop, "cron", "0 9 * * *", **{option: naive})
    with pytest.raises(TypeError, match=r"ZoneInfo\('Europe/Paris'\)"):
        IntervalTrigger(minutes=5, start=naive, timezone="Europe/Paris")
    tokyo.shutdown()


def test_bad_func_is_refused(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    with pytest.raises(TypeError, match="func must be a callable"):
        scheduler.add_job(42, "interval", seconds=5)  # type: ignore[arg-type]
    with pytest.raises(JobLookupError, match="nope"):
        scheduler.add_job("tests.jobs_for_tests:nope", "interval", seconds=5)
    with pytest.raises(ValueError, match="module:function"):
        scheduler.add_job("no_colon_here", "interval", seconds=5)


def test_a_missing_trigger_is_refused(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    with pytest.raises(TypeError, match="trigger is required"):
        scheduler.add_job(noop)
    with pytest.raises(TypeError, match="unexpected arguments with a trigger object"):
        scheduler.add_job(noop, IntervalTrigger(seconds=1, start=T0), seconds=5)


def test_errors_share_the_base_class_and_the_builtins() -> None:
    assert issubclass(ConflictingIdError, TickworkError)
    assert issubclass(ConflictingIdError, ValueError)
    assert issubclass(JobLookupError, LookupError)
    assert issubclass(SchedulerStateError, TickworkError)


# -- id conflicts -----------------------------------------------------------------------


def test_a_conflicting_id_raises_and_keeps_the_first_job(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, _, _ = sim
    first = scheduler.add_job(noop, "interval", seconds=5, id="same")
    with pytest.raises(ConflictingIdError, match="'same'"):
        scheduler.add_job(noop, "interval", seconds=7, id="same")
    assert scheduler.get_job("same") == first


def test_conflict_keep_returns_the_existing_job(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, events = sim
    first = scheduler.add_job(noop, "interval", seconds=5, id="same")
    kept = scheduler.add_job(noop, "interval", seconds=7, id="same", conflict="keep")
    assert kept == first
    assert kept.trigger == first.trigger
    assert len(events.of(EventKind.JOB_ADDED | EventKind.JOB_MODIFIED)) == 1


def test_replace_existing_replaces_the_job(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, events = sim
    scheduler.add_job(noop, "interval", seconds=5, id="same", name="old")
    new = scheduler.add_job(
        noop, "interval", seconds=7, id="same", name="new", replace_existing=True
    )
    assert scheduler.get_job("same") == new
    assert new.name == "new"
    assert len(scheduler.get_jobs()) == 1
    assert events.of(EventKind.JOB_MODIFIED, "same")


def test_replace_existing_with_the_same_interval_later_keeps_the_next_fire(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    """A program that re-adds its jobs on every start must not push them back."""
    scheduler, clock, _ = sim
    calls = Calls(clock)
    first = scheduler.add_job(calls, "interval", minutes=5, id="tick")
    assert first.next_fire == T0 + seconds(300)
    advance(scheduler, 120)
    again = scheduler.add_job(calls, "interval", minutes=5, id="tick", replace_existing=True)
    assert again.next_fire == T0 + seconds(300)
    advance(scheduler, 180)
    assert calls.scheduled == [T0 + seconds(300)]


def test_replace_existing_with_the_same_cron_keeps_the_next_fire(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, clock, _ = sim
    scheduler.add_job(noop, "cron", "0 * * * *", id="hourly")
    clock.advance(10)
    again = scheduler.add_job(noop, "cron", "0 * * * *", id="hourly", replace_existing=True)
    assert again.next_fire == T0  # not yet run: the 00:00 fire is still pending


def test_replace_existing_with_a_changed_trigger_resets_the_next_fire(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, _, _ = sim
    scheduler.add_job(noop, "interval", minutes=5, id="tick")
    advance(scheduler, 120)
    changed = scheduler.add_job(noop, "interval", minutes=6, id="tick", replace_existing=True)
    assert changed.next_fire == T0 + seconds(120 + 360)


# -- options ----------------------------------------------------------------------------


def test_name_and_tags(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    scheduler.add_job(noop, "interval", seconds=5, id="a", name="Alpha", tags=["x", "y"])
    scheduler.add_job(noop, "interval", seconds=6, id="b", tags="y")
    scheduler.add_job(noop, "interval", seconds=7, id="c")
    assert scheduler.get_job("a").name == "Alpha"  # type: ignore[union-attr]
    assert scheduler.get_job("a").tags == {"x", "y"}  # type: ignore[union-attr]
    assert [job.id for job in scheduler.get_jobs(tag="y")] == ["a", "b"]
    assert [job.id for job in scheduler.get_jobs(tag="x")] == ["a"]
    assert scheduler.get_jobs(tag="z") == []


def test_start_and_end_are_inclusive(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    calls = Calls()
    scheduler.add_job(
        calls, "cron", "* * * * *", start=T0 + seconds(120), end=T0 + seconds(240), id="w"
    )
    run_until(scheduler, T0 + timedelta(hours=1))
    assert calls.scheduled == [T0 + seconds(120), T0 + seconds(180), T0 + seconds(240)]
    assert scheduler.get_job("w") is None


def test_moving_start_earlier_brings_the_next_fire_back(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    # A start moved later moved the next fire on; moved back (or cleared), the fire
    # stayed where it was: the fires in between were lost without a trace.
    scheduler, clock, _ = sim
    clock.advance(1800)
    calls = Calls()
    scheduler.add_job(calls, "cron", "0 * * * *", id="hourly")
    assert scheduler.modify_job("hourly", start=T0 + timedelta(hours=5)).next_fire == T0 + \
        timedelta(hours=5)  # fmt: skip
    assert scheduler.modify_job("hourly", start=None).next_fire == T0 + timedelta(hours=1)
    scheduler.modify_job("hourly", start=T0 + timedelta(hours=5))
    job = scheduler.modify_job("hourly", start=T0 + timedelta(hours=2))
    assert job.next_fire == T0 + timedelta(hours=2)
    scheduler.modify_job("hourly", end=T0 + timedelta(hours=3))  # (the start is kept)
    run_until(scheduler, T0 + timedelta(hours=6))
    assert calls.scheduled == [T0 + timedelta(hours=2), T0 + timedelta(hours=3)]


def test_added_paused_with_a_note(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, clock, _ = sim
    calls = Calls()
    job = scheduler.add_job(calls, "interval", seconds=10, id="p", paused=True, pause_note="why")
    assert job.paused
    assert job.pause_note == "why"
    assert not job.pending
    advance(scheduler, 100)
    assert len(calls) == 0
    assert [j.id for j in scheduler.get_jobs(paused=True)] == ["p"]
    clock.advance(5)
    resumed = scheduler.resume_job("p")
    assert resumed.pause_note is None
    assert resumed.next_fire == T0 + seconds(110)
    advance(scheduler, 5)
    assert calls.scheduled == [T0 + seconds(110)]
    assert clock.now() == T0 + seconds(110)


def test_remaining_runs_removes_the_job_after_that_many_runs(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, _, events = sim
    calls = Calls()
    scheduler.add_job(calls, "interval", seconds=10, id="n", remaining_runs=3)
    assert len(scheduler.next_fire_times("n", 10)) == 3
    run_until(scheduler, T0 + seconds(100))
    assert calls.scheduled == [T0 + seconds(10), T0 + seconds(20), T0 + seconds(30)]
    assert scheduler.get_job("n") is None
    removed = events.of(EventKind.JOB_REMOVED, "n")
    assert len(removed) == 1


def test_a_job_can_be_modified_during_its_last_run(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    # It then has 0 runs left, a count add_job refuses: modify_job took it as given and
    # raised "remaining_runs must be a whole number >= 1, got 0".
    scheduler, _, events = sim
    seen: list[tuple[str, int | None]] = []

    def rename() -> None:
        job = scheduler.modify_job("n", name="renamed", end=T0 + timedelta(days=1))
        seen.append((job.name, job.remaining_runs))

    scheduler.add_job(rename, "interval", seconds=10, id="n", remaining_runs=1)
    run_until(scheduler, T0 + seconds(30))
    assert seen == [("renamed", 0)]
    assert events.of(EventKind.JOB_FAILED, "n") == []
    # (A new end gave it a fire again, recorded missed "catchup='latest' runs none".)
    assert events.of(EventKind.JOB_MISSED, "n") == []
    assert scheduler.get_job("n") is None  # (still its last run: removed after it)


async def async_noop() -> None:
    return None


def test_a_new_function_names_the_job_and_picks_its_executor_unless_they_were_given(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    # modify_job(func=<coroutine function>) kept "default" (the coroutine then ran with
    # asyncio.run in a thread) and the old function's name, where add_job picks both.
    scheduler, _, _ = sim
    scheduler.add_job(noop, "interval", seconds=10, id="plain")
    scheduler.add_job(noop, "interval", seconds=10, id="named", name="nightly")
    changed = scheduler.modify_job("plain", func=async_noop)
    assert (changed.executor, changed.name) == ("asyncio", f"{__name__}:async_noop")
    kept = scheduler.modify_job("named", func=async_noop, executor="default")
    assert (kept.executor, kept.name) == ("default", "nightly")
    back = scheduler.modify_job("plain", func=noop)
    assert (back.executor, back.name) == ("default", "tests.jobs_for_tests:noop")


def test_run_immediately_runs_now_then_on_the_trigger(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, clock, _ = sim
    clock.advance(3)
    calls = Calls()
    job = scheduler.add_job(calls, "interval", seconds=60, run_immediately=True)
    assert job.next_fire == T0 + seconds(3)
    run_until(scheduler, T0 + seconds(3 + 120))
    assert calls.scheduled == [T0 + seconds(3), T0 + seconds(63), T0 + seconds(123)]


def test_run_immediately_on_a_cron_job(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, clock, _ = sim
    clock.advance(90)
    calls = Calls()
    scheduler.add_job(calls, "cron", "0 * * * *", run_immediately=True)
    run_until(scheduler, T0 + timedelta(hours=2))
    assert calls.scheduled == [
        T0 + seconds(90),
        T0 + timedelta(hours=1),
        T0 + timedelta(hours=2),
    ]


def test_first_fire_is_explicit(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    calls = Calls()
    job = scheduler.add_job(calls, "interval", seconds=60, first_fire=T0 + seconds(5))
    assert job.next_fire == T0 + seconds(5)
    run_until(scheduler, T0 + seconds(130))
    # After the explicit first fire, the trigger's own schedule (start + k * 60).
    assert calls.scheduled == [T0 + seconds(5), T0 + seconds(60), T0 + seconds(120)]


def test_retry_as_a_number_of_attempts(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    job = scheduler.add_job(noop, "interval", seconds=5, retry=4)
    assert job.retry == RetryPolicy(attempts=4)


def test_max_instances_above_one_implies_overlap_allow(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, _, _ = sim
    job = scheduler.add_job(noop, "interval", seconds=5, max_instances=3)
    assert job.overlap.value == "allow"
    assert scheduler.add_job(noop, "interval", seconds=5).overlap.value == "skip"


@pytest.mark.parametrize(("coalesce", "catchup"), [(True, "latest"), (False, "all")])
def test_coalesce_is_the_apscheduler_spelling_of_catchup(
    sim: tuple[Scheduler, FakeClock, Events], coalesce: bool, catchup: str
) -> None:
    scheduler, _, _ = sim
    job = scheduler.add_job(noop, "interval", seconds=5, coalesce=coalesce)
    assert job.catchup.value == catchup


# -- decorators -------------------------------------------------------------------------


def test_decorators_return_the_function_and_add_the_job(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, _, _ = sim

    def report() -> str:
        return "report"

    def poll() -> str:
        return "poll"

    def once() -> str:
        return "once"

    def legacy() -> str:
        return "legacy"

    assert scheduler.cron("0 9 * * mon-fri", id="report")(report) is report
    assert scheduler.interval(minutes=5, id="poll")(poll) is poll
    assert scheduler.at(T0 + timedelta(hours=3), id="once")(once) is once
    assert scheduler.scheduled_job("interval", seconds=5, id="legacy")(legacy) is legacy
    assert report() == "report"
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"report", "poll", "once", "legacy"}
    assert jobs["report"].func is report
    assert jobs["report"].next_fire == T0 + timedelta(hours=9)
    assert jobs["poll"].next_fire == T0 + timedelta(minutes=5)
    assert jobs["once"].next_fire == T0 + timedelta(hours=3)
    assert jobs["legacy"].next_fire == T0 + seconds(5)


def test_decorator_usage_without_a_call_site_variable(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, _, events = sim

    @scheduler.interval(seconds=10, id="ticker")
    def ticker() -> int:
        return 7

    @scheduler.cron(minute="*/2", id="fields")
    def fields() -> int:
        return 8

    advance(scheduler, 120)
    values = {(e.job_id, e.return_value) for e in events.of(EventKind.JOB_EXECUTED)}
    assert ("ticker", 7) in values
    assert ("fields", 8) in values
    assert ticker() == 7


def test_a_bad_decorator_raises_when_applied(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    with pytest.raises(ValueError, match="day_of_week"):
        scheduler.cron(day_of_week=1)(noop)
    assert scheduler.get_jobs() == []


# -- reading ----------------------------------------------------------------------------


def test_get_job_of_an_unknown_id_is_none(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    assert scheduler.get_job("nope") is None


def test_get_jobs_is_ordered_by_next_fire_time(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    scheduler.add_job(noop, "interval", seconds=30, id="c")
    scheduler.add_job(noop, "interval", seconds=10, id="b")
    scheduler.add_job(noop, "interval", seconds=20, id="a")
    scheduler.add_job(noop, "interval", seconds=10, id="paused", paused=True)
    scheduler.add_job(noop, "date", run_date=T0 + seconds(5), id="z")
    order = [job.id for job in scheduler.get_jobs(paused=False)]
    assert order == ["z", "b", "a", "c"]
    advance(scheduler, 25)  # z done; b at 30, a at 40, c at 30
    assert [job.id for job in scheduler.get_jobs(paused=False)] == ["b", "c", "a"]


def test_get_jobs_orders_by_instant_across_zones(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    scheduler.add_job(noop, "cron", "30 0 * * *", id="utc")  # 00:30 UTC
    scheduler.add_job(noop, "cron", "0 9 * * *", timezone="Asia/Tokyo", id="tokyo")  # 00:00 UTC
    scheduler.add_job(noop, "cron", "15 1 * * *", timezone="Europe/Berlin", id="berlin")  # 00:15
    assert [job.id for job in scheduler.get_jobs()] == ["tokyo", "berlin", "utc"]


def test_next_fire_times(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    scheduler.add_job(noop, "interval", seconds=15, id="i")
    assert scheduler.next_fire_times("i", 3) == [T0 + seconds(15 * k) for k in (1, 2, 3)]
    assert scheduler.next_fire_times("i", 0) == []
    with pytest.raises(JobLookupError):
        scheduler.next_fire_times("nope", 3)
    with pytest.raises(ValueError, match="count"):
        scheduler.next_fire_times("i", -1)


def test_job_convenience_methods_go_through_the_scheduler(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, _, _ = sim
    job = scheduler.add_job(noop, "interval", seconds=15, id="i")
    assert job.pause("later").pause_note == "later"
    assert scheduler.get_job("i").paused  # type: ignore[union-attr]
    assert not job.resume().paused
    assert job.modify(name="renamed").name == "renamed"
    assert job.next_fire_times(2) == [T0 + seconds(15), T0 + seconds(30)]
    job.remove()
    assert scheduler.get_job("i") is None


# -- changing jobs ----------------------------------------------------------------------


def test_modify_job_changes_options(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, events = sim
    scheduler.add_job(add, "interval", seconds=10, id="m", args=(1, 1))
    changed = scheduler.modify_job("m", args=(20, 22), name="sum", tags={"math"})
    assert changed.name == "sum"
    assert changed.tags == {"math"}
    assert changed.next_fire == T0 + seconds(10)  # the schedule is untouched
    advance(scheduler, 10)
    assert [e.return_value for e in events.of(EventKind.JOB_EXECUTED)] == [42]
    assert events.of(EventKind.JOB_MODIFIED, "m")


def test_modify_job_validates_like_add_job(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    before = scheduler.add_job(noop, "interval", seconds=10, id="m")
    with pytest.raises(ValueError, match="max_instances"):
        scheduler.modify_job("m", max_instances=0)
    assert scheduler.get_job("m") == before


@pytest.mark.parametrize("key", ["trigger", "id", "bogus", "next_fire"])
def test_modify_job_refuses_unknown_keys_and_the_trigger(
    sim: tuple[Scheduler, FakeClock, Events], key: str
) -> None:
    scheduler, _, _ = sim
    scheduler.add_job(noop, "interval", seconds=10, id="m")
    with pytest.raises(TypeError, match=f"cannot modify {key}") as caught:
        scheduler.modify_job("m", **{key: "x"})
    if key == "trigger":
        assert "reschedule_job" in str(caught.value)


def test_modify_job_of_an_unknown_id(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    with pytest.raises(JobLookupError, match="'nope'"):
        scheduler.modify_job("nope", name="x")


def test_reschedule_job_gives_a_new_trigger(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, clock, events = sim
    calls = Calls()
    scheduler.add_job(calls, "interval", seconds=10, id="r")
    advance(scheduler, 25)
    assert len(calls) == 2
    job = scheduler.reschedule_job("r", "cron", "0 * * * *")
    assert isinstance(job.trigger, CronTrigger)
    assert job.next_fire == T0 + timedelta(hours=1)
    run_until(scheduler, T0 + timedelta(hours=1, minutes=30))
    assert calls.scheduled[2:] == [T0 + timedelta(hours=1)]
    assert events.of(EventKind.JOB_MODIFIED, "r")
    with pytest.raises(JobLookupError):
        scheduler.reschedule_job("nope", "interval", seconds=1)
    # No trigger: said so, naming the call (it was a TypeError about Engine's signature).
    with pytest.raises(TypeError, match=r"reschedule_job\('r'\) needs the new trigger"):
        scheduler.reschedule_job("r")
    assert clock.now() == T0 + timedelta(hours=1, minutes=30)


def test_pause_job_and_resume_job_do_not_catch_up(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, events = sim
    calls = Calls()
    scheduler.add_job(calls, "interval", seconds=10, id="p")
    advance(scheduler, 15)
    paused = scheduler.pause_job("p", note="maintenance")
    assert paused.paused
    assert paused.pause_note == "maintenance"
    assert events.of(EventKind.JOB_PAUSED, "p")[0].reason == "maintenance"
    advance(scheduler, 100)  # 20..110 pass while paused
    assert calls.scheduled == [T0 + seconds(10)]
    resumed = scheduler.resume_job("p")
    assert not resumed.paused
    assert resumed.next_fire == T0 + seconds(120)  # the first fire at or after now (115)
    advance(scheduler, 10)
    assert calls.scheduled == [T0 + seconds(10), T0 + seconds(120)]
    assert not events.of(EventKind.JOB_MISSED, "p")
    assert events.of(EventKind.JOB_RESUMED, "p")


def test_remove_job(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, events = sim
    calls = Calls()
    scheduler.add_job(calls, "interval", seconds=10, id="gone")
    scheduler.remove_job("gone")
    assert scheduler.get_job("gone") is None
    advance(scheduler, 60)
    assert len(calls) == 0
    assert events.of(EventKind.JOB_REMOVED, "gone")


def test_remove_job_of_an_unknown_id_is_a_lookup_error(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, _, _ = sim
    with pytest.raises(JobLookupError, match="'nope'"):
        scheduler.remove_job("nope")
    with pytest.raises(LookupError):
        scheduler.remove_job("nope")


def test_remove_all_jobs(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, events = sim
    ids = [scheduler.add_job(noop, "interval", seconds=10 + n).id for n in range(3)]
    scheduler.remove_all_jobs()
    assert scheduler.get_jobs() == []
    assert sorted(event.job_id or "" for event in events.of(EventKind.JOB_REMOVED)) == sorted(ids)
    run_until(scheduler, T0 + timedelta(minutes=5))
    assert events.of(EventKind.JOB_SUBMITTED) == []


def test_remove_all_jobs_on_a_file_is_one_write_and_forgets_every_job(tmp_path: Path) -> None:
    # One job at a time: 12.8 s for 100,000 jobs in a probe (a transaction each).
    from tickwork.stores import SQLiteStore

    clock = FakeClock(T0)
    path = tmp_path / "jobs.db"
    scheduler = Scheduler(store=SQLiteStore(path), clock=clock, timezone="UTC",
                          executors={"default": InlineExecutor()})  # fmt: skip
    scheduler.add_jobs([{"func": "tests.jobs_for_tests:noop", "trigger": "interval",
                         "seconds": 60, "id": f"j{n}"} for n in range(300)])  # fmt: skip
    scheduler.open()
    writes: list[int] = []
    store = scheduler.engine._link.store
    remove_jobs, remove_job = store.remove_jobs, store.remove_job
    store.remove_jobs = lambda ids: (writes.append(len(ids)), remove_jobs(ids))[1]  # type: ignore[method-assign]
    store.remove_job = lambda job_id: (writes.append(1), remove_job(job_id))[1]  # type: ignore[method-assign]
    scheduler.remove_all_jobs()
    assert writes == [300]
    assert scheduler.get_jobs() == []
    run_until(scheduler, T0 + timedelta(minutes=5))
    assert scheduler.history() == []
    scheduler.shutdown()
    with SQLiteStore(path) as reader:
        assert reader.get_jobs() == []


def test_run_job_now_runs_at_once_and_leaves_the_schedule(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, clock, _ = sim
    calls = Calls()
    scheduler.add_job(calls, "interval", seconds=60, id="now")
    clock.advance(7)
    scheduler.run_job_now("now")
    scheduler.process_due()
    assert calls.scheduled == [T0 + seconds(7)]
    assert scheduler.get_job("now").next_fire == T0 + seconds(60)  # type: ignore[union-attr]
    advance(scheduler, 53)
    assert calls.scheduled == [T0 + seconds(7), T0 + seconds(60)]
    with pytest.raises(JobLookupError):
        scheduler.run_job_now("nope")


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_run_job_now_twice_in_one_instant_gives_each_run_its_own_id(
    kind: str, tmp_path: Path
) -> None:
    # A fake clock does not move between two calls: the runs must still differ, as
    # their run_id is the idempotency key a job hands to what it writes.
    from tickwork.stores import MemoryStore, SQLiteStore

    store = SQLiteStore(tmp_path / "jobs.db") if kind == "sqlite" else MemoryStore()
    with inline_scheduler(FakeClock(T0), store) as (scheduler, _):
        scheduler.add_job("tests.jobs_for_tests:noop", "interval", hours=1, id="x")
        scheduler.run_job_now("x")
        scheduler.run_job_now("x")
        scheduler.process_due()
        runs = scheduler.history("x")
        assert sorted(run.scheduled_at for run in runs) == [T0, T0 + timedelta(microseconds=1)]
        assert len({run.run_id for run in runs}) == 2


def test_run_job_now_at_a_fire_time_of_the_job_moves_on_a_microsecond(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, clock, _ = sim
    calls = Calls()
    clock.advance(timedelta(minutes=1))
    scheduler.add_job(calls, "cron", minute="*/5", id="c")
    clock.advance(timedelta(minutes=4))  # exactly the job's next fire
    scheduler.run_job_now("c")
    scheduler.process_due()
    fire = T0 + timedelta(minutes=5)
    assert sorted(calls.scheduled) == [fire, fire + timedelta(microseconds=1)]
    assert len({run.run_id for run in scheduler.history("c")}) == 2


def test_backfill_runs_each_fire_time_in_range_with_nominal_times(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, clock, _ = sim
    clock.advance(timedelta(days=1, hours=1))
    calls = Calls()
    scheduler.add_job(calls, "cron", "0 */6 * * *", id="b")
    count = scheduler.backfill("b", T0, T0 + timedelta(hours=18))
    assert count == 4
    scheduler.process_due()  # takes in each result; the next backfilled run then starts
    assert calls.scheduled == [T0 + timedelta(hours=h) for h in (0, 6, 12, 18)]
    # The schedule itself is unchanged.
    next_fire = T0 + timedelta(days=1, hours=6)
    assert scheduler.get_job("b").next_fire == next_fire  # type: ignore[union-attr]


def test_backfill_runs_only_fire_times_within_the_jobs_own_start_and_end(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    # "start and end bound the job": a backfill over a wider range ran fires before it.
    scheduler, clock, _ = sim
    clock.advance(timedelta(days=1))
    calls = Calls()
    start = T0 + timedelta(hours=18)
    scheduler.add_job(calls, "cron", "0 */3 * * *", id="b", start=start)
    assert scheduler.backfill("b", T0, clock.now()) == 2
    scheduler.process_due()  # (the fire at now runs on schedule, once: not backfilled)
    assert calls.scheduled == [T0 + timedelta(hours=h) for h in (18, 21, 24)]


def test_backfill_of_a_job_with_no_fire_times_of_its_own_says_so(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    # (It returned 0 without a word.)
    scheduler, clock, _ = sim
    scheduler.add_job(noop, "interval", minutes=5, id="a")
    scheduler.add_job(noop, after="a", id="b")
    scheduler.add_job(noop, EventTrigger("orders"), id="c")
    clock.advance(timedelta(hours=1))
    for job_id in ("b", "c"):
        with pytest.raises(ValueError, match=rf"job '{job_id}' has no fire times of its own"):
            scheduler.backfill(job_id, T0, clock.now())
    # Events or a time: its time's fires are backfilled.
    either = OrTrigger([EventTrigger("orders"), CronTrigger("0 * * * *", timezone="UTC")])
    scheduler.add_job(noop, either, id="d")
    assert scheduler.backfill("d", T0, clock.now() - timedelta(seconds=1)) == 1


def test_modify_job_with_apschedulers_next_run_time_points_to_pause_job(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, _, _ = sim
    scheduler.add_job(noop, "interval", minutes=5, id="a")
    with pytest.raises(TypeError, match=r"next_run_time=None is pause_job\(id\) here"):
        scheduler.modify_job("a", next_run_time=None)


def test_backfill_refuses_end_before_start(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    scheduler.add_job(noop, "interval", seconds=10, id="b")
    with pytest.raises(ValueError, match="before start"):
        scheduler.backfill("b", T0 + seconds(10), T0)
    with pytest.raises(JobLookupError):
        scheduler.backfill("nope", T0, T0 + seconds(10))
    with pytest.raises(TypeError, match="naive"):
        scheduler.backfill("b", datetime(2024, 1, 1), T0 + seconds(10))


def test_backfill_refuses_an_end_after_now(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    # Fire times to come run on schedule: backfilled as well, they ran twice.
    scheduler, clock, _ = sim
    clock.advance(timedelta(hours=1, minutes=30))
    calls = Calls()
    scheduler.add_job(calls, "cron", "0 * * * *", id="b")
    with pytest.raises(ValueError, match=r"backfill end 2024-\S+T03:00:00\+00:00 is after now"):
        scheduler.backfill("b", T0, T0 + timedelta(hours=3))
    assert scheduler.backfill("b", T0, clock.now()) == 2  # (up to now is the past)
    scheduler.process_due()
    advance(scheduler, timedelta(hours=2))
    hours = [0, 1, 2, 3]
    assert calls.scheduled == [T0 + timedelta(hours=h) for h in hours]


def test_backfill_of_an_empty_range_runs_nothing(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, clock, _ = sim
    clock.advance(timedelta(days=1))
    calls = Calls()
    scheduler.add_job(calls, "cron", "0 0 * * *", id="b")
    assert scheduler.backfill("b", T0 + seconds(1), T0 + timedelta(hours=23)) == 0
    assert len(calls) == 0


def test_pausing_the_scheduler_leaves_due_runs_to_the_catchup_policy(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, clock, events = sim
    latest, everything = Calls(), Calls()
    scheduler.add_job(latest, "interval", seconds=10, id="latest")
    scheduler.add_job(everything, "interval", seconds=10, id="all", catchup="all", max_instances=5)
    advance(scheduler, 15)
    scheduler.pause()
    assert events.of(EventKind.SCHEDULER_PAUSED)
    for _ in range(4):  # 20, 30, 40, 50 fall due while paused
        clock.advance(10)
        assert scheduler.process_due() is None
    assert len(latest) == 1
    assert len(everything) == 1
    scheduler.resume()
    assert events.of(EventKind.SCHEDULER_RESUMED)
    scheduler.process_due()
    assert latest.scheduled == [T0 + seconds(10), T0 + seconds(50)]
    assert everything.scheduled == [T0 + seconds(s) for s in (10, 20, 30, 40, 50)]
    assert events.of(EventKind.JOB_MISSED, "latest")[0].missed == 3


def test_runs_due_during_a_scheduler_pause_obey_the_grace_time(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, clock, events = sim
    calls = Calls()
    scheduler.add_job(calls, "interval", seconds=10, id="g", misfire_grace_time=5)
    scheduler.pause()
    clock.advance(30)
    scheduler.process_due()
    scheduler.resume()
    scheduler.process_due()
    assert calls.scheduled == [T0 + seconds(30)]
    assert [e.missed for e in events.of(EventKind.JOB_MISSED, "g")] == [2]


def test_pause_and_resume_in_the_wrong_state(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    with pytest.raises(SchedulerStateError):
        scheduler.resume()
    scheduler.pause()
    with pytest.raises(SchedulerStateError):
        scheduler.pause()


def test_after_shutdown_operations_are_refused() -> None:
    with simulated() as (scheduler, _, _):
        scheduler.add_job(noop, "interval", seconds=10, id="j")
        scheduler.shutdown()
        with pytest.raises(SchedulerStateError):
            scheduler.add_job(noop, "interval", seconds=10)
        with pytest.raises(SchedulerStateError):
            scheduler.pause_job("j")
        with pytest.raises(SchedulerStateError):
            scheduler.open()
        with pytest.raises(SchedulerStateError):
            scheduler.shutdown()


class _Guarded(Scheduler):
    """A scheduler whose ``process_due`` refuses to be called endlessly (a hang guard)."""

    calls = 0

    def process_due(self) -> datetime | None:
        self.calls += 1
        if self.calls > 10_000:
            raise RuntimeError("process_due called 10,000 times: run_until is spinning")
        return super().process_due()


def test_run_until_on_a_paused_scheduler_returns() -> None:
    """Regression: run_until spun forever following a due time a paused scheduler never pops."""
    clock = FakeClock(T0)
    scheduler = _Guarded(clock=clock, executors={"default": InlineExecutor()}, timezone="UTC")
    try:
        calls = Calls()
        scheduler.add_job(calls, "interval", seconds=10)
        scheduler.open(paused=True)
        run_until(scheduler, T0 + seconds(60))
        assert clock.now() == T0 + seconds(60)
        assert len(calls) == 0
    finally:
        scheduler.shutdown()


def test_resuming_a_one_off_job_whose_time_passed_removes_it(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, clock, events = sim
    calls = Calls()
    scheduler.add_job(calls, "date", T0 + seconds(10), id="once")
    scheduler.pause_job("once")
    clock.set(T0 + seconds(60))
    scheduler.process_due()
    job = scheduler.resume_job("once")
    assert job.next_fire is None
    assert scheduler.get_job("once") is None
    assert len(calls) == 0
    removed = [e for e in events.all if e.kind is EventKind.JOB_REMOVED]
    assert removed
    assert removed[-1].reason == "resumed with no fire time left"


def test_modify_job_refuses_an_end_that_leaves_no_fire_time(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, clock, _ = sim
    scheduler.add_job(Calls(), "interval", seconds=10, id="iv")
    clock.set(T0 + seconds(100))
    scheduler.process_due()  # next fire is now T0 + 110 s
    with pytest.raises(ValueError, match="would never run again"):
        scheduler.modify_job("iv", end=T0 + seconds(50))
    job = scheduler.get_job("iv")
    assert job is not None
    assert job.end is None


def test_reschedule_to_a_trigger_with_no_fire_time_is_refused(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, _, _ = sim
    scheduler.add_job(Calls(), "interval", seconds=10, id="iv")
    ended = CronTrigger("* * * * *", timezone="UTC", end=T0 - seconds(60))
    with pytest.raises(ValueError, match="would never run"):
        scheduler.reschedule_job("iv", ended)


def test_run_job_now_with_an_inline_executor_reports_at_once(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, _, events = sim
    calls = Calls()
    scheduler.add_job(calls, "interval", hours=1, id="h")
    scheduler.run_job_now("h")
    assert len(calls) == 1
    assert any(e.kind is EventKind.JOB_EXECUTED and e.job_id == "h" for e in events.all)


@pytest.mark.parametrize("flag", ["run_immediately", "replace_existing", "paused"])
def test_a_flag_that_is_not_a_bool_is_refused(
    sim: tuple[Scheduler, FakeClock, Events], flag: str
) -> None:
    # "no" is truthy: replace_existing="no" replaced the job, run_immediately="no" ran it.
    scheduler, _, _ = sim
    added = scheduler.add_job(noop, "interval", hours=1, id="a")
    with pytest.raises(TypeError, match=f"{flag} must be a bool .*got str 'no'"):
        scheduler.add_job(noop, "interval", hours=2, id="a", **{flag: "no"})
    assert scheduler.get_job("a") == added


def test_a_first_fire_outside_start_and_end_is_refused(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    # They ran: first_fire after end, or before start; run_immediately before start.
    scheduler, _, _ = sim
    start, end = T0 + timedelta(days=10), T0 + timedelta(days=20)
    window = {"start": start, "end": end}
    with pytest.raises(ValueError, match=r"'late': first_fire is .*outside its start=.* and end="):
        scheduler.add_job(noop, "interval", hours=1, id="late", first_fire=end + seconds(1),
                          **window)  # fmt: skip
    with pytest.raises(ValueError, match=r"'early': first_fire is .*outside its start="):
        scheduler.add_job(noop, "interval", hours=1, id="early", first_fire=T0, **window)
    with pytest.raises(ValueError, match=r"'now': run_immediately=True runs it now .*start="):
        scheduler.add_job(noop, "interval", hours=1, id="now", run_immediately=True, start=start)
    assert scheduler.get_jobs() == []
    job = scheduler.add_job(noop, "interval", hours=1, id="edge", first_fire=end, **window)
    assert job.next_fire == end  # (both bounds are inclusive)


def test_a_job_id_that_is_not_a_str_is_refused(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    scheduler.add_job(noop, "interval", hours=1, id="5")
    for call in (scheduler.get_job, scheduler.pause_job, scheduler.remove_job):
        with pytest.raises(TypeError, match="job_id must be a str, got int 5"):
            call(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cascade=True or detach=True, not both"):
        scheduler.remove_job("5", cascade=True, detach=True)  # (no chain anywhere)
    assert scheduler.get_job("5") is not None


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
def test_a_lone_surrogate_in_an_id_or_a_name_is_refused_naming_it(
    store_kind: str, tmp_path: Path
) -> None:
    # SQLite (and PostgreSQL) cannot encode it: a bare UnicodeEncodeError, naming neither
    # the job nor the argument. Refused on every store alike, so a job does not break
    # when it moves from memory to a database.
    from tickwork.stores import MemoryStore, SQLiteStore

    store = MemoryStore() if store_kind == "memory" else SQLiteStore(tmp_path / "jobs.db")
    scheduler = Scheduler(store=store, clock=FakeClock(T0), timezone="UTC")
    scheduler.add_job(noop, "interval", hours=1, id="ok", name="ok")
    with pytest.raises(ValueError, match=r"^id='a\\ud800' holds the lone surrogate '\\ud800' at"):
        scheduler.add_job(noop, "interval", hours=1, id="a\ud800")
    with pytest.raises(ValueError, match=r"^name='\\udc00b' holds the lone surrogate"):
        scheduler.add_job(noop, "interval", hours=1, id="n", name="\udc00b")
    with pytest.raises(ValueError, match=r"^name='x\\ud800' holds"):
        scheduler.modify_job("ok", name="x\ud800")
    assert [(job.id, job.name) for job in scheduler.get_jobs()] == [("ok", "ok")]
    assert scheduler.get_job("a\ud800") is None  # no job has it: not an encoding error
    with pytest.raises(JobLookupError, match="no job with id"):
        scheduler.pause_job("a\ud800")
    assert scheduler.history("a\ud800") == []  # (nor a UnicodeEncodeError)
    emoji = scheduler.add_job(noop, "interval", hours=1, id="j\U0001f389", name="\u00e9")
    assert scheduler.get_job(emoji.id) == emoji  # a pair makes one character: fine
    scheduler.shutdown()


def test_a_run_date_past_the_datetime_range_is_refused_naming_run_date(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, _, _ = sim
    minus_12 = timezone(timedelta(hours=-12))
    with pytest.raises(ValueError, match=r"^run_date=9999-12-31T20:00:00-12:00 is out of range"):
        scheduler.add_job(noop, "date", run_date=datetime(9999, 12, 31, 20, tzinfo=minus_12))
    when = datetime(9999, 12, 31, 23, tzinfo=UTC)
    with pytest.raises(ValueError, match=r"^run_date=.* after the year 9999 in timezone Pac"):
        scheduler.add_job(noop, "date", run_date=when, timezone="Pacific/Kiritimati")
    assert scheduler.get_jobs() == []


def test_retry_on_that_is_not_exception_types_is_named_in_the_error() -> None:
    from tickwork import RetryPolicy

    for wrong in (5, "ValueError", (ValueError, 5)):
        with pytest.raises(TypeError, match="retry_on must be exception types"):
            RetryPolicy(retry_on=wrong)  # type: ignore[arg-type]
    assert RetryPolicy(retry_on=ValueError).retry_on == (ValueError,)


def test_reschedule_with_jitter_zero_takes_the_jitter_off(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    # jitter=0 was falsy: the job kept its old jitter (add_job and modify_job took it).
    scheduler, _, _ = sim
    scheduler.add_job(noop, "interval", hours=1, id="j", jitter=60)
    assert scheduler.reschedule_job("j", "interval", hours=2, jitter=0).jitter is None
    assert scheduler.reschedule_job("j", "interval", hours=2, jitter=5).jitter == seconds(5)
    assert scheduler.reschedule_job("j", "interval", hours=3).jitter == seconds(5)  # (kept)


def test_args_that_are_a_dict_and_get_jobs_arguments_of_the_wrong_type_are_refused(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    # args={"name": "ana"} ran with ("name",); get_jobs(paused="yes") found nothing.
    scheduler, _, _ = sim
    with pytest.raises(TypeError, match="args must be a list or tuple"):
        scheduler.add_job(noop, "interval", hours=1, args={"name": "ana"})
    scheduler.add_job(noop, "interval", hours=1, id="p", paused=True, tags="reports")
    with pytest.raises(TypeError, match="paused must be a bool or None, got 'yes'"):
        scheduler.get_jobs(paused="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tag must be a str or None"):
        scheduler.get_jobs(["reports"])  # type: ignore[arg-type]
    assert [job.id for job in scheduler.get_jobs("reports", paused=True)] == ["p"]


def _two(a: int, b: int) -> None:
    pass


def _takes_a_session(job: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(job)
    def run(*args: Any, **kwargs: Any) -> None:
        job("session", *args, **kwargs)

    return run


@_takes_a_session
def _with_session(session: str, x: int) -> None:
    pass


def test_arguments_the_function_cannot_take_are_refused_at_the_call(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    """Regression: accepted, then every run failed with a TypeError in the background
    (APScheduler refuses them at add_job too)."""
    scheduler, _, _ = sim
    for args, kwargs, why in [
        ([1], {}, "missing a required argument: 'b'"),
        ([1, 2, 3], {}, "too many positional arguments"),
        ([1, 2], {"c": 1}, "got an unexpected keyword argument 'c'"),
    ]:
        with pytest.raises(TypeError, match=rf"do not fit _two\(a, b\): {why}"):
            scheduler.add_job(_two, "interval", hours=1, args=args, kwargs=kwargs)
    assert scheduler.get_jobs() == []
    scheduler.add_job(_two, "interval", hours=1, args=[1], kwargs={"b": 2}, id="ok")
    with pytest.raises(TypeError, match="do not fit _two"):
        scheduler.modify_job("ok", args=[1, 2, 3])
    assert scheduler.get_job("ok").args == (1,)  # type: ignore[union-attr]
    with pytest.raises(TypeError, match="do not fit _two"):
        scheduler.every().hour.do(_two, 1)

    def keyword_only(*, x: int) -> None:
        pass

    def defaults(a: int = 1, *, b: int = 2) -> None:
        pass

    # (Python 3.12 says "keyword-only argument".)
    with pytest.raises(TypeError, match=r"missing a required (keyword-only )?argument: 'x'"):
        scheduler.add_job(keyword_only, "interval", hours=1)
    scheduler.add_job(defaults, "interval", hours=1)
    # Taken: a decorator that supplies an argument (not read through __wrapped__), a
    # builtin with no signature to read, a callable object taking anything.
    scheduler.add_job(_with_session, "interval", hours=1, args=[1])
    scheduler.add_job(print, "interval", hours=1, args=[1, 2, 3])
    scheduler.add_job(Calls(), "interval", hours=1, args=[1], kwargs={"x": 2})


def test_a_fire_that_came_due_at_this_instant_does_not_run_again_after_a_change(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    """Regression: rescheduled (or paused and resumed) at the very instant of a fire that
    had run, the job took that instant as its next fire (at or after now) and ran the
    same (job, fire time) twice, with one run_id."""
    scheduler, clock, _ = sim
    calls = Calls()
    scheduler.add_job(calls, "cron", "*/30 * * * *", id="j")
    run_until(scheduler, T0 + timedelta(minutes=30))  # 00:00 and 00:30 ran
    assert scheduler.reschedule_job("j", "cron", "*/15 * * * *").next_fire == T0 + timedelta(
        minutes=45
    )
    scheduler.pause_job("j")
    assert scheduler.resume_job("j").next_fire == T0 + timedelta(minutes=45)
    run_until(scheduler, T0 + timedelta(minutes=50))
    assert calls.scheduled == [T0 + timedelta(minutes=m) for m in (0, 30, 45)]
    # Rescheduled at an instant the old trigger did not fire: the new one fires then.
    clock.set(T0 + timedelta(minutes=52))
    job = scheduler.reschedule_job("j", "cron", "* * * * *")
    assert job.next_fire == T0 + timedelta(minutes=52)


def test_a_change_that_leaves_the_arguments_is_not_refused_for_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The function's signature changed since the job was stored: a rename did not cause
    # the mismatch, and was refused for it, quoting arguments the call did not give.
    from tickwork._references import FUNCTIONS
    from tickwork.stores import SQLiteStore

    from . import jobs_for_tests

    with SQLiteStore(tmp_path / "jobs.db") as store:
        first = Scheduler(store=store, timezone="UTC")
        first.add_job("tests.jobs_for_tests:add", "interval", hours=1, args=[1, 2], id="sum")

    def add(a: int, b: int, c: int) -> int:
        return a + b + c

    monkeypatch.setattr(jobs_for_tests, "add", add)
    monkeypatch.setattr(FUNCTIONS, "_found", {})  # (as in a new process)
    with SQLiteStore(tmp_path / "jobs.db") as store:
        later = Scheduler(store=store, timezone="UTC")
        assert later.modify_job("sum", name="renamed").name == "renamed"
        with pytest.raises(TypeError, match=r"do not fit .*add\(a, b, c\)"):
            later.modify_job("sum", kwargs={"d": 4})


def test_changing_the_end_keeps_an_explicit_first_fire(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    # A changed end or start made the job fire from the trigger's first time, before
    # its explicit first_fire (which was lost).
    scheduler, clock, _ = sim
    clock.advance(1800)
    first = T0 + timedelta(days=2, hours=8, minutes=45)
    calls = Calls()
    scheduler.add_job(calls, "cron", "0 9 * * *", id="j", first_fire=first)
    assert scheduler.modify_job("j", end=T0 + timedelta(days=30)).next_fire == first
    assert scheduler.modify_job("j", start=None).next_fire == first
    run_until(scheduler, T0 + timedelta(days=2, hours=9))
    assert calls.scheduled == [first, T0 + timedelta(days=2, hours=9)]


@pytest.mark.parametrize(
    ("expression", "start", "first"),
    [
        # 03:00 EDT, the end of New York's gap, is the first instant of 2024-03-10 at
        # or after 02:30 EST: given in New York's zone, the start read an hour off and
        # the fire at start was skipped.
        ("30 2 * * *", datetime(2024, 3, 10, 3, tzinfo=UTC), "2024-03-10T07:00:00+00:00"),
        # 01:00 EST (fold=1), the second pass: the job ran its 05:00Z fire, before the
        # start, for ever.
        ("0,30 * * * *", datetime(2024, 11, 3, 6, tzinfo=UTC), "2024-11-03T06:00:00+00:00"),
    ],
)
def test_a_start_in_the_jobs_own_zone_is_the_same_instant_as_in_utc(
    expression: str, start: datetime, first: str
) -> None:
    from zoneinfo import ZoneInfo

    new_york = ZoneInfo("America/New_York")
    for given in (start, start.astimezone(new_york)):
        with simulated(start - timedelta(hours=12)) as (scheduler, _, _):
            job = scheduler.add_job(noop, "cron", expression, id="j", timezone=new_york,
                                    start=given)  # fmt: skip
            assert job.next_fire is not None
            assert job.next_fire.astimezone(UTC).isoformat() == first, given
            times = scheduler.next_fire_times("j", 3)
            assert len({t.astimezone(UTC) for t in times}) == 3  # (none twice)
            assert all(t >= start for t in times)


def test_a_catch_up_over_a_dst_change_runs_each_fire_once() -> None:
    # Stepping 1 µs back from a zoned fire time in wall time (an hour off at a change)
    # took regular fires for off-grid ones: the gap's 03:00 EDT fire ran twice.
    from zoneinfo import ZoneInfo

    calls = Calls()
    with simulated(datetime(2024, 3, 9, 12, tzinfo=UTC)) as (scheduler, clock, events):
        scheduler.add_job(calls, "cron", "30 2 * * *", id="j", catchup="all",
                          timezone=ZoneInfo("America/New_York"))  # fmt: skip
        scheduler.pause()
        clock.set(datetime(2024, 3, 12, 12, tzinfo=UTC))
        scheduler.resume()
        scheduler.process_due()
        assert [t.astimezone(UTC).isoformat() for t in calls.scheduled] == [
            "2024-03-10T07:00:00+00:00",
            "2024-03-11T06:30:00+00:00",
            "2024-03-12T06:30:00+00:00",
        ]
        assert events.of(EventKind.JOB_MISSED) == []
