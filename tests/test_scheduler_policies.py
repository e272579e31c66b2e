"""Run policies: missed runs and catch-up, overlap, jitter, retries, failure counting,
and schedules that do not drift.

Simulated time (FakeClock + InlineExecutor) everywhere except the overlap tests, which
need runs that are really in progress (a ThreadExecutor and jobs blocked on an Event).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from tickwork import EventKind, IntervalTrigger, OrTrigger, RetryPolicy, Scheduler, current_run
from tickwork.executors import ThreadExecutor
from tickwork.testing import FakeClock, advance, run_until

from .jobs_for_tests import T0, Calls, Events, Gate, pump, seconds, simulated

Sim = tuple[Scheduler, FakeClock, Events]


@pytest.fixture
def sim() -> Iterator[Sim]:
    with simulated() as parts:
        yield parts


# -- misfire grace time -----------------------------------------------------------------


def test_a_run_later_than_the_grace_time_is_missed(sim: Sim) -> None:
    scheduler, clock, events = sim
    calls = Calls()
    scheduler.add_job(calls, "date", run_date=T0 + seconds(10), misfire_grace_time=5, id="d")
    clock.set(T0 + seconds(16))  # the scheduler was busy, or down: 6 s late
    scheduler.process_due()
    assert len(calls) == 0
    (missed,) = events.of(EventKind.JOB_MISSED, "d")
    assert missed.missed == 1
    assert missed.scheduled_at == T0 + seconds(10)
    assert "misfire_grace_time" in (missed.reason or "")
    assert scheduler.get_job("d") is None


def test_a_run_within_the_grace_time_runs_with_its_nominal_time(sim: Sim) -> None:
    scheduler, clock, events = sim
    calls = Calls(clock)
    scheduler.add_job(calls, "date", run_date=T0 + seconds(10), misfire_grace_time=5, id="d")
    clock.set(T0 + seconds(15))  # exactly the grace late: not later than it
    scheduler.process_due()
    assert calls.scheduled == [T0 + seconds(10)]
    assert calls.started == [T0 + seconds(15)]
    assert not events.of(EventKind.JOB_MISSED)


def test_grace_with_a_backlog_runs_only_fires_within_the_grace(sim: Sim) -> None:
    scheduler, clock, events = sim
    latest, earliest = Calls(), Calls()
    scheduler.add_job(latest, "interval", seconds=10, misfire_grace_time=12, id="latest")
    scheduler.add_job(
        earliest, "interval", seconds=10, misfire_grace_time=12, catchup="earliest", id="early"
    )
    clock.set(T0 + seconds(35))  # 10, 20, 30 are due; only 30 is within 12 s
    scheduler.process_due()
    assert latest.scheduled == [T0 + seconds(30)]
    assert earliest.scheduled == [T0 + seconds(30)]
    assert events.of(EventKind.JOB_MISSED, "latest")[0].missed == 2
    assert events.of(EventKind.JOB_MISSED, "early")[0].missed == 2


def test_with_no_grace_time_a_late_run_still_runs(sim: Sim) -> None:
    scheduler, clock, _ = sim
    calls = Calls()
    scheduler.add_job(calls, "date", run_date=T0 + seconds(10))
    clock.set(T0 + timedelta(days=3))
    scheduler.process_due()
    assert calls.scheduled == [T0 + seconds(10)]


# -- catch-up after downtime ------------------------------------------------------------


def _backlog(sim: Sim, **options: object) -> tuple[Calls, list[int]]:
    """A 10 s interval job; the clock passes 10..50 without dispatching, then one step."""
    scheduler, clock, events = sim
    calls = Calls()
    scheduler.add_job(calls, "interval", seconds=10, id="j", **options)
    clock.set(T0 + seconds(55))
    scheduler.process_due()
    return calls, [event.missed for event in events.of(EventKind.JOB_MISSED, "j")]


def test_catchup_latest_is_the_default_and_runs_the_latest_due_fire(sim: Sim) -> None:
    calls, missed = _backlog(sim)
    assert calls.scheduled == [T0 + seconds(50)]
    assert missed == [4]
    assert sim[0].get_job("j").next_fire == T0 + seconds(60)  # type: ignore[union-attr]


def test_coalesce_true_is_catchup_latest(sim: Sim) -> None:
    calls, missed = _backlog(sim, coalesce=True)
    assert calls.scheduled == [T0 + seconds(50)]
    assert missed == [4]


def test_catchup_earliest_runs_the_oldest_due_fire(sim: Sim) -> None:
    calls, missed = _backlog(sim, catchup="earliest")
    assert calls.scheduled == [T0 + seconds(10)]
    assert missed == [4]
    assert sim[0].get_job("j").next_fire == T0 + seconds(60)  # type: ignore[union-attr]


def test_catchup_all_runs_each_due_fire_oldest_first(sim: Sim) -> None:
    # max_instances lets the catch-up runs start together.
    calls, missed = _backlog(sim, catchup="all", max_instances=5)
    assert calls.scheduled == [T0 + seconds(s) for s in (10, 20, 30, 40, 50)]
    assert missed == []
    assert sim[0].get_job("j").next_fire == T0 + seconds(60)  # type: ignore[union-attr]


@pytest.mark.parametrize("options", [{"catchup": "all"}, {"coalesce": False}])
def test_catchup_all_with_default_max_instances_runs_every_due_fire(
    sim: Sim, options: dict[str, object]
) -> None:
    """Regression: the backlog's runs were started at once, so with max_instances=1 all
    but the first were reported JOB_SKIPPED. APScheduler's coalesce=False runs them all."""
    calls, _ = _backlog(sim, **options)
    assert calls.scheduled == [T0 + seconds(s) for s in (10, 20, 30, 40, 50)]
    assert not sim[2].of(EventKind.JOB_SKIPPED)


def test_catchup_all_is_capped_by_max_catchup_keeping_the_most_recent(sim: Sim) -> None:
    calls, missed = _backlog(sim, catchup="all", max_catchup=3, max_instances=10)
    assert calls.scheduled == [T0 + seconds(s) for s in (30, 40, 50)]
    assert missed == [2]


def test_catchup_none_runs_none_of_a_backlog_but_runs_single_fires(sim: Sim) -> None:
    calls, missed = _backlog(sim, catchup="none")
    assert calls.scheduled == []
    assert missed == [5]
    advance(sim[0], 5)  # 60 is due alone: it runs
    assert calls.scheduled == [T0 + seconds(60)]


def test_after_a_catchup_the_schedule_goes_on_unchanged(sim: Sim) -> None:
    scheduler, _, _ = sim
    calls, _ = _backlog(sim)
    run_until(scheduler, T0 + seconds(80))
    assert calls.scheduled == [T0 + seconds(s) for s in (50, 60, 70, 80)]


def test_a_backlog_stops_at_the_job_end(sim: Sim) -> None:
    scheduler, clock, events = sim
    calls = Calls()
    scheduler.add_job(calls, "interval", seconds=10, end=T0 + seconds(30), id="j")
    clock.set(T0 + seconds(55))
    scheduler.process_due()
    assert calls.scheduled == [T0 + seconds(30)]
    assert events.of(EventKind.JOB_MISSED, "j")[0].missed == 2  # 10 and 20; 40, 50 are past end
    assert scheduler.get_job("j") is None


WEEK = 7 * 86_400


@pytest.mark.parametrize(
    ("catchup", "runs", "missed"),
    [
        # Fires at T0+1 s ... T0+WEEK s are due: WEEK of them.
        ("latest", [T0 + seconds(WEEK)], WEEK - 1),
        ("earliest", [T0 + seconds(1)], WEEK - 1),
        ("none", [], WEEK),
    ],
)
def test_a_week_of_downtime_is_resolved_in_one_quick_step(
    sim: Sim, catchup: str, runs: list[datetime], missed: int
) -> None:
    scheduler, clock, events = sim
    calls = Calls()
    scheduler.add_job(calls, "interval", seconds=1, catchup=catchup, id="j")
    clock.jump(timedelta(weeks=1))
    began = time.thread_time()  # (CPU time: what else the machine runs does not count)
    scheduler.process_due()
    elapsed = time.thread_time() - began
    assert elapsed < 0.2, f"{elapsed:.3f} s: the backlog was walked"
    assert calls.scheduled == runs
    (event,) = events.of(EventKind.JOB_MISSED, "j")
    assert event.missed == missed
    assert scheduler.get_job("j").next_fire == T0 + seconds(WEEK + 1)  # type: ignore[union-attr]


def test_a_week_of_downtime_with_catchup_all_runs_the_last_max_catchup(sim: Sim) -> None:
    scheduler, clock, events = sim
    calls = Calls()
    scheduler.add_job(calls, "interval", seconds=1, catchup="all", max_instances=100, id="j")
    clock.set(T0 + timedelta(weeks=1))
    began = time.thread_time()  # (CPU time: what else the machine runs does not count)
    scheduler.process_due()
    assert time.thread_time() - began < 0.2
    assert calls.scheduled == [T0 + seconds(WEEK - 99 + k) for k in range(100)]
    assert events.of(EventKind.JOB_MISSED, "j")[0].missed == WEEK - 100


def test_a_week_of_downtime_of_a_cron_job_is_quick_too(sim: Sim) -> None:
    scheduler, clock, events = sim
    calls = Calls()
    scheduler.add_job(calls, "cron", second="*", id="j")  # every second
    clock.jump(timedelta(weeks=1, seconds=0.5))
    began = time.thread_time()  # (CPU time: what else the machine runs does not count)
    scheduler.process_due()
    assert time.thread_time() - began < 0.2
    assert calls.scheduled == [T0 + seconds(WEEK)]
    assert events.of(EventKind.JOB_MISSED, "j")[0].missed > 0
    assert scheduler.get_job("j").next_fire == T0 + seconds(WEEK + 1)  # type: ignore[union-attr]


# -- overlap ----------------------------------------------------------------------------


@pytest.fixture
def threaded() -> Iterator[Sim]:
    with simulated(executors={"default": ThreadExecutor(max_workers=4)}) as parts:
        yield parts


def _fire(scheduler: Scheduler, clock: FakeClock, times: int = 1) -> None:
    for _ in range(times):
        clock.advance(10)
        scheduler.process_due()


def test_overlap_skip_is_the_default(threaded: Sim) -> None:
    scheduler, clock, events = threaded
    gate = Gate()
    scheduler.add_job(gate, "interval", seconds=10, id="o")
    _fire(scheduler, clock)
    gate.wait_started(1)
    _fire(scheduler, clock, 2)  # 20 and 30 come due while 10 runs
    skipped = events.of(EventKind.JOB_SKIPPED, "o")
    assert [e.scheduled_at for e in skipped] == [T0 + seconds(20), T0 + seconds(30)]
    assert all("max_instances=1" in (e.reason or "") for e in skipped)
    gate.opened.set()
    assert pump(scheduler, lambda: bool(events.of(EventKind.JOB_EXECUTED, "o")))
    _fire(scheduler, clock)  # 40: nothing runs now, so it starts
    assert pump(scheduler, lambda: len(events.of(EventKind.JOB_EXECUTED, "o")) == 2)
    assert gate.scheduled == [T0 + seconds(10), T0 + seconds(40)]


def test_overlap_buffer_one_starts_one_waiting_run_and_skips_the_rest(threaded: Sim) -> None:
    scheduler, clock, events = threaded
    gate = Gate()
    scheduler.add_job(gate, "interval", seconds=10, id="o", overlap="buffer_one")
    _fire(scheduler, clock)
    gate.wait_started(1)
    _fire(scheduler, clock, 3)  # 20 waits; 30 and 40 are skipped
    skipped = events.of(EventKind.JOB_SKIPPED, "o")
    assert [e.scheduled_at for e in skipped] == [T0 + seconds(30), T0 + seconds(40)]
    assert all("buffer_one" in (e.reason or "") for e in skipped)
    assert gate.scheduled == [T0 + seconds(10)]
    gate.opened.set()
    assert pump(scheduler, lambda: len(events.of(EventKind.JOB_EXECUTED, "o")) == 2)
    assert gate.scheduled == [T0 + seconds(10), T0 + seconds(20)]
    assert gate.most_at_once == 1


def test_overlap_buffer_all_runs_each_in_order(threaded: Sim) -> None:
    scheduler, clock, events = threaded
    gate = Gate()
    scheduler.add_job(gate, "interval", seconds=10, id="o", overlap="buffer_all")
    _fire(scheduler, clock)
    gate.wait_started(1)
    _fire(scheduler, clock, 3)
    assert not events.of(EventKind.JOB_SKIPPED)
    gate.opened.set()
    assert pump(scheduler, lambda: len(events.of(EventKind.JOB_EXECUTED, "o")) == 4)
    assert gate.scheduled == [T0 + seconds(s) for s in (10, 20, 30, 40)]
    assert gate.most_at_once == 1


def test_max_instances_three_runs_three_at_once(threaded: Sim) -> None:
    scheduler, clock, events = threaded
    gate = Gate()
    scheduler.add_job(gate, "interval", seconds=10, id="o", max_instances=3)
    _fire(scheduler, clock, 4)
    gate.wait_started(3)
    skipped = events.of(EventKind.JOB_SKIPPED, "o")
    assert [e.scheduled_at for e in skipped] == [T0 + seconds(40)]
    assert "max_instances=3" in (skipped[0].reason or "")
    assert gate.most_at_once == 3
    gate.opened.set()
    assert pump(scheduler, lambda: len(events.of(EventKind.JOB_EXECUTED, "o")) == 3)


def test_run_job_now_at_max_instances_waits_rather_than_being_skipped(threaded: Sim) -> None:
    scheduler, clock, events = threaded
    gate = Gate()
    scheduler.add_job(gate, "interval", seconds=10, id="o")
    _fire(scheduler, clock)
    gate.wait_started(1)
    scheduler.run_job_now("o")
    assert not events.of(EventKind.JOB_SKIPPED)
    gate.opened.set()
    assert pump(scheduler, lambda: len(events.of(EventKind.JOB_EXECUTED, "o")) == 2)
    # now == 10 at the call: the fire time of the run going, so the run asked for is
    # a microsecond on (a run id of its own).
    assert gate.scheduled == [T0 + seconds(10), T0 + seconds(10) + timedelta(microseconds=1)]


# -- jitter -----------------------------------------------------------------------------


def test_jitter_starts_within_the_window_and_keeps_nominal_times(sim: Sim) -> None:
    scheduler, clock, _ = sim
    calls = Calls(clock)
    scheduler.add_job(calls, "interval", seconds=60, jitter=10, id="j")
    run_until(scheduler, T0 + seconds(60 * 100 + 30))
    assert len(calls) == 100
    # The schedule never moves: nominal times are exactly start + k * 60.
    assert calls.scheduled == [T0 + seconds(60 * k) for k in range(1, 101)]
    offsets = [
        started - nominal for started, nominal in zip(calls.started, calls.scheduled, strict=True)
    ]
    assert all(timedelta(0) <= offset < seconds(10) for offset in offsets)
    assert len(set(offsets)) > 50  # actually spread, not a constant


def test_jitter_never_reaches_the_next_nominal_fire(sim: Sim) -> None:
    scheduler, clock, _ = sim
    calls = Calls(clock)
    scheduler.add_job(calls, "interval", seconds=10, jitter=60, id="j")
    run_until(scheduler, T0 + seconds(10 * 50 + 5))
    assert calls.scheduled == [T0 + seconds(10 * k) for k in range(1, 51)]
    for started, nominal in zip(calls.started, calls.scheduled, strict=True):
        assert nominal <= started < nominal + seconds(10)


@pytest.mark.parametrize("bound", ["job end", "trigger end_date", "OrTrigger of ended parts"])
def test_the_last_jittered_run_starts_no_later_than_the_end(sim: Sim, bound: str) -> None:
    """Regression (every(5).to(10).minutes.until(...)): the last fire before the end,
    with no next fire to bound its jitter, started up to the whole jitter past the end."""
    scheduler, clock, _ = sim
    end = T0 + seconds(60 * 5 + 1)
    runs = []
    for index in range(40):
        calls = Calls(clock)
        runs.append(calls)
        if bound == "OrTrigger of ended parts":
            parts = [IntervalTrigger(minutes=m, start=T0, end=end) for m in (5, 7)]
            trigger: Any = OrTrigger(parts)
            scheduler.add_job(calls, trigger, jitter=240, id=f"j{index}")
            continue
        ends = {"end": end} if bound == "job end" else {"end_date": end}
        scheduler.add_job(calls, "interval", minutes=5, jitter=240, id=f"j{index}", **ends)
    run_until(scheduler, T0 + timedelta(hours=1))
    for calls in runs:
        assert calls.scheduled[-1] == T0 + seconds(300)
        assert T0 + seconds(300) <= calls.started[-1] <= end
    # (still spread over the second it has: not all moved to the end)
    assert len({calls.started[-1] for calls in runs}) > 10


def test_jitter_is_the_same_for_a_job_and_fire_time_across_restarts() -> None:
    starts: list[list[datetime]] = []
    for _ in range(2):
        with simulated() as (scheduler, clock, _):
            calls = Calls(clock)
            scheduler.add_job(calls, "cron", "*/5 * * * *", jitter=120, id="stable")
            run_until(scheduler, T0 + timedelta(hours=2))
            starts.append(calls.started)
    assert len(starts[0]) == 24  # 00:00 ... 01:55 (02:00 starts after its jitter)
    assert starts[0] == starts[1]


def test_jitter_differs_between_jobs(sim: Sim) -> None:
    scheduler, clock, _ = sim
    first, second = Calls(clock), Calls(clock)
    scheduler.add_job(first, "interval", seconds=60, jitter=30, id="first")
    scheduler.add_job(second, "interval", seconds=60, jitter=30, id="second")
    run_until(scheduler, T0 + seconds(60 * 10 + 45))
    assert first.scheduled == second.scheduled
    assert first.started != second.started


def test_jitter_is_not_lateness_for_the_misfire_grace_time(sim: Sim) -> None:
    """Regression: lateness counted from the nominal time, so a jitter longer than the
    grace time made every jittered run a JOB_MISSED."""
    scheduler, clock, events = sim
    calls = Calls(clock)
    scheduler.add_job(calls, "interval", seconds=60, jitter=30, misfire_grace_time=1, id="j")
    run_until(scheduler, T0 + seconds(60 * 10 + 45))
    assert not events.of(EventKind.JOB_MISSED)
    assert len(calls) == 10


@pytest.mark.parametrize("catchup", ["latest", "all", "earliest"])
def test_a_backlog_counts_the_grace_from_the_jittered_start_too(catchup: str) -> None:
    """Regression: with two fire times due at once (after downtime, a pause), the grace
    was counted from the nominal times, and a jittered run still within it was missed."""
    with simulated(T0 - seconds(600)) as (scheduler, clock, events):
        calls = Calls(clock)
        scheduler.add_job(calls, "cron", "0 * * * *", id="hourly", jitter=1800,
                          misfire_grace_time=300, catchup=catchup)  # fmt: skip
        one_hour = scheduler.next_fire_times("hourly", 2)[1]  # (T0 + 1 h)
        # Where its jittered run starts: found from a twin on its own clock.
        with simulated(T0 - seconds(600)) as (twin, twin_clock, _):
            twin_calls = Calls(twin_clock)
            twin.add_job(twin_calls, "cron", "0 * * * *", id="hourly", jitter=1800)
            run_until(twin, T0 + seconds(7200))
        starts = dict(zip(twin_calls.scheduled, twin_calls.started, strict=True))
        # Down from before T0 until a minute after one_hour's jittered start: T0's is
        # long past its grace, one_hour's within it.
        clock.set(starts[one_hour] + seconds(60))
        scheduler.process_due()
        assert calls.scheduled == [one_hour]
        (missed,) = events.of(EventKind.JOB_MISSED, "hourly")
        assert (missed.scheduled_at, missed.missed) == (T0, 1)


def test_a_thread_executor_counts_the_grace_from_the_jittered_start() -> None:
    """Regression: the executor compared a run's start with its nominal fire time, so a
    jitter longer than the grace made a real executor report every jittered run missed
    (an inline executor, which checks nothing, hid it)."""
    with simulated(executors={"default": ThreadExecutor(max_workers=4)}) as (
        scheduler,
        clock,
        events,
    ):
        calls = Calls(clock)
        for index in range(10):
            scheduler.add_job(calls, "interval", seconds=60, jitter=30, misfire_grace_time=1,
                              id=f"j{index}")  # fmt: skip
        run_until(scheduler, T0 + seconds(91))  # (waits for the runs going at each step)
        assert len(calls) == 10
        assert not events.of(EventKind.JOB_MISSED)
        offsets = [b - a for a, b in zip(calls.scheduled, calls.started, strict=True)]
        assert max(offsets) > seconds(1)  # (some jitter longer than the grace)


# -- retries ----------------------------------------------------------------------------


class Flaky:
    """Fails with *error* the first *failures* calls, then returns "ok"."""

    def __init__(self, clock: FakeClock, failures: int, error: type[Exception] = ValueError):
        self.clock = clock
        self.failures = failures
        self.error = error
        self.calls: list[tuple[datetime, int, datetime]] = []

    def __call__(self) -> str:
        run = current_run()
        self.calls.append((run.scheduled_at, run.attempt, self.clock.now()))
        if len(self.calls) <= self.failures:
            raise self.error(f"failure {len(self.calls)}")
        return "ok"


NO_JITTER = RetryPolicy(attempts=3, delay=10, factor=2, jitter=0)


def test_retries_back_off_then_fail(sim: Sim) -> None:
    scheduler, clock, events = sim
    job = Flaky(clock, failures=99)
    scheduler.add_job(job, "date", run_date=T0 + seconds(5), retry=NO_JITTER, id="r")
    run_until(scheduler, T0 + timedelta(minutes=5))
    nominal = T0 + seconds(5)
    assert job.calls == [
        (nominal, 1, T0 + seconds(5)),
        (nominal, 2, T0 + seconds(15)),  # +10 s
        (nominal, 3, T0 + seconds(35)),  # +20 s
    ]
    kinds = [e.kind for e in events.of(EventKind.JOB_RETRIED | EventKind.JOB_FAILED, "r")]
    assert kinds == [EventKind.JOB_RETRIED, EventKind.JOB_RETRIED, EventKind.JOB_FAILED]
    retried = events.of(EventKind.JOB_RETRIED, "r")
    assert [e.attempt for e in retried] == [1, 2]
    assert all(e.scheduled_at == nominal for e in retried)
    assert isinstance(retried[0].exception, ValueError)
    (failed,) = events.of(EventKind.JOB_FAILED, "r")
    assert failed.attempt == 3
    assert str(failed.exception) == "failure 3"


def test_a_retry_that_succeeds_ends_in_job_executed(sim: Sim) -> None:
    scheduler, clock, events = sim
    job = Flaky(clock, failures=1)
    scheduler.add_job(job, "date", run_date=T0 + seconds(5), retry=NO_JITTER, id="r")
    run_until(scheduler, T0 + timedelta(minutes=5))
    assert [attempt for _, attempt, _ in job.calls] == [1, 2]
    (executed,) = events.of(EventKind.JOB_EXECUTED, "r")
    assert executed.attempt == 2
    assert executed.return_value == "ok"
    assert executed.scheduled_at == T0 + seconds(5)
    assert not events.of(EventKind.JOB_FAILED)


def test_retry_on_limits_which_errors_are_retried(sim: Sim) -> None:
    scheduler, clock, events = sim
    job = Flaky(clock, failures=99, error=KeyError)
    policy = RetryPolicy(attempts=3, delay=10, jitter=0, retry_on=(ValueError,))
    scheduler.add_job(job, "date", run_date=T0 + seconds(5), retry=policy, id="r")
    run_until(scheduler, T0 + timedelta(minutes=5))
    assert len(job.calls) == 1
    assert not events.of(EventKind.JOB_RETRIED)
    (failed,) = events.of(EventKind.JOB_FAILED, "r")
    assert isinstance(failed.exception, KeyError)


def test_retries_do_not_move_the_schedule(sim: Sim) -> None:
    scheduler, clock, _ = sim
    job = Flaky(clock, failures=2)
    scheduler.add_job(job, "interval", seconds=60, retry=NO_JITTER, id="r")
    run_until(scheduler, T0 + seconds(180))
    assert [(s, a) for s, a, _ in job.calls] == [
        (T0 + seconds(60), 1),
        (T0 + seconds(60), 2),
        (T0 + seconds(60), 3),
        (T0 + seconds(120), 1),
        (T0 + seconds(180), 1),
    ]


def test_retry_delay_is_capped_by_max_delay(sim: Sim) -> None:
    scheduler, clock, _ = sim
    job = Flaky(clock, failures=99)
    policy = RetryPolicy(attempts=4, delay=10, factor=10, max_delay=30, jitter=0)
    scheduler.add_job(job, "date", run_date=T0, retry=policy, id="r")
    run_until(scheduler, T0 + timedelta(minutes=5))
    assert [at for _, _, at in job.calls] == [
        T0,
        T0 + seconds(10),
        T0 + seconds(40),
        T0 + seconds(70),
    ]


@pytest.mark.parametrize(
    ("options", "error", "named"),
    [
        ({"attempts": 0}, ValueError, "attempts"),
        ({"attempts": 1.5}, TypeError, "attempts"),
        ({"delay": -1}, ValueError, "delay"),
        ({"max_delay": "x"}, TypeError, "max_delay"),
        ({"factor": 0.5}, ValueError, "factor"),
        ({"jitter": 2}, ValueError, "jitter"),
        ({"retry_on": (int,)}, TypeError, "retry_on"),
        ({"retry_on": ()}, TypeError, "retry_on"),
        ({"delay": 600, "max_delay": 60}, ValueError, "max_delay 60 s is less than delay 600"),
    ],
)
def test_retry_policy_validation(
    options: dict[str, object], error: type[Exception], named: str
) -> None:
    with pytest.raises(error, match=named):
        RetryPolicy(**options)  # type: ignore[arg-type]


def test_a_delay_longer_than_the_default_cap_is_waited_whole(sim: Sim) -> None:
    # RetryPolicy(delay=600) waited 300 s: the default max_delay capped it silently.
    scheduler, clock, _ = sim
    job = Flaky(clock, failures=99)
    policy = RetryPolicy(attempts=3, delay=600, jitter=0)
    assert policy.max_delay == 1200  # (the factor still doubles it)
    assert RetryPolicy(delay=5).max_delay == 300
    assert dataclasses.replace(RetryPolicy(), delay=1000).max_delay == 2000  # (not given)
    scheduler.add_job(job, "date", run_date=T0, retry=policy, id="r")
    run_until(scheduler, T0 + timedelta(hours=1))
    assert [at for _, _, at in job.calls] == [T0, T0 + seconds(600), T0 + seconds(1800)]


def test_retry_on_accepts_a_single_type() -> None:
    assert RetryPolicy(retry_on=KeyError).retry_on == (KeyError,)  # type: ignore[arg-type]


def test_retry_on_given_as_a_list_or_a_set_is_kept_as_a_tuple() -> None:
    listed = RetryPolicy(retry_on=[KeyError, ValueError])  # type: ignore[arg-type]
    assert listed.retry_on == (KeyError, ValueError)
    given = RetryPolicy(retry_on={ValueError, KeyError})  # type: ignore[arg-type]
    assert given.retry_on == (KeyError, ValueError)  # (sorted: the same in every process)
    assert given == RetryPolicy(retry_on={KeyError, ValueError})  # type: ignore[arg-type]
    assert hash(given) == hash(RetryPolicy(retry_on=(KeyError, ValueError)))


def test_a_job_retried_on_a_list_of_types_is_retried_and_others_keep_their_pace() -> None:
    # A list once reached the run's end as it was: taking in the failure raised
    # TypeError, the failure was lost and every dispatch step failed again.
    with simulated(executors={"default": ThreadExecutor(max_workers=2)}) as sim:
        _retried_on_a_list(sim)


def _retried_on_a_list(sim: Sim) -> None:
    scheduler, clock, _ = sim
    job = Flaky(clock, failures=1, error=ValueError)
    other = Calls()
    policy = RetryPolicy(attempts=2, delay=1, jitter=0, retry_on=[ValueError])  # type: ignore[arg-type]
    scheduler.add_job(job, "interval", seconds=10, id="flaky", retry=policy)
    scheduler.add_job(other, "interval", seconds=2, id="tick")
    run_until(scheduler, T0 + seconds(20))
    assert [(at, attempt, ran) for at, attempt, ran in job.calls] == [
        (T0 + seconds(10), 1, T0 + seconds(10)),
        (T0 + seconds(10), 2, T0 + seconds(11)),
        (T0 + seconds(20), 1, T0 + seconds(20)),
    ]
    assert len(other) == 10
    runs = scheduler.history("flaky")
    assert sorted((run.attempt, run.outcome.value) for run in runs) == [
        (1, "failure"),
        (1, "success"),
        (2, "success"),
    ]


# -- failures ---------------------------------------------------------------------------


def test_a_failing_job_is_logged_reported_and_keeps_its_schedule(
    sim: Sim, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler, clock, events = sim
    job = Flaky(clock, failures=2, error=ZeroDivisionError)
    scheduler.add_job(job, "interval", seconds=10, id="boom")
    with caplog.at_level(logging.ERROR, logger="tickwork"):
        run_until(scheduler, T0 + seconds(40))
    assert len(job.calls) == 4
    failed = events.of(EventKind.JOB_FAILED, "boom")
    assert [type(e.exception) for e in failed] == [ZeroDivisionError, ZeroDivisionError]
    assert [e.scheduled_at for e in failed] == [T0 + seconds(10), T0 + seconds(20)]
    assert len(events.of(EventKind.JOB_EXECUTED, "boom")) == 2
    records = [r for r in caplog.records if r.name == "tickwork" and r.levelno >= logging.ERROR]
    assert len(records) == 2
    assert "'boom'" in records[0].getMessage()
    assert "ZeroDivisionError" in records[0].getMessage()
    assert records[0].exc_info is not None


def test_max_consecutive_failures_pauses_the_job(sim: Sim) -> None:
    scheduler, clock, events = sim
    job = Flaky(clock, failures=99, error=KeyError)
    scheduler.add_job(job, "interval", seconds=10, id="f", max_consecutive_failures=3)
    run_until(scheduler, T0 + seconds(100))
    assert len(job.calls) == 3
    (paused,) = events.of(EventKind.JOB_PAUSED, "f")
    assert "KeyError" in (paused.reason or "")
    assert "3" in (paused.reason or "")
    stored = scheduler.get_job("f")
    assert stored is not None
    assert stored.paused
    assert "KeyError" in (stored.pause_note or "")
    resumed = scheduler.resume_job("f")
    assert not resumed.paused
    assert resumed.consecutive_failures == 0
    assert resumed.next_fire == T0 + seconds(100)  # now: resuming does not catch up
    advance(scheduler, 5)
    assert len(job.calls) == 4  # runs again; one failure is not three
    assert not scheduler.get_job("f").paused  # type: ignore[union-attr]


def test_a_success_resets_the_failure_count(sim: Sim) -> None:
    scheduler, _, events = sim
    outcomes = iter([1, 1, 0, 1, 1, 0, 1, 1])

    def sometimes() -> None:
        if next(outcomes):
            raise RuntimeError("down")

    scheduler.add_job(sometimes, "interval", seconds=10, id="f", max_consecutive_failures=3)
    run_until(scheduler, T0 + seconds(80))
    assert not events.of(EventKind.JOB_PAUSED)
    assert len(events.of(EventKind.JOB_FAILED, "f")) == 6


def test_failures_in_retries_count_once_per_fire(sim: Sim) -> None:
    scheduler, clock, events = sim
    job = Flaky(clock, failures=99)
    scheduler.add_job(
        job, "interval", seconds=60, id="f", retry=NO_JITTER, max_consecutive_failures=2
    )
    run_until(scheduler, T0 + seconds(170))
    assert [(s, a) for s, a, _ in job.calls] == [
        (T0 + seconds(60), 1),
        (T0 + seconds(60), 2),
        (T0 + seconds(60), 3),
        (T0 + seconds(120), 1),
        (T0 + seconds(120), 2),
        (T0 + seconds(120), 3),
    ]
    assert len(events.of(EventKind.JOB_PAUSED, "f")) == 1


# -- schedules that do not drift --------------------------------------------------------


def test_long_runs_do_not_make_the_schedule_drift(sim: Sim) -> None:
    scheduler, clock, _ = sim
    nominal: list[datetime] = []

    def slow() -> None:
        nominal.append(current_run().scheduled_at)
        if clock.now() < T0 + seconds(150):
            clock.advance(13)  # a run takes 13 s of a 10 s interval, for a while

    scheduler.add_job(slow, "interval", seconds=10, id="slow")
    run_until(scheduler, T0 + seconds(300))
    # Every run belongs to a fire time of the trigger, start + k * 10 s: nothing moved.
    assert all((t - T0).total_seconds() % 10 == 0 for t in nominal)
    assert nominal == sorted(set(nominal))
    assert len(nominal) > 20
    # Once runs are quick again, every fire time runs, still on the same grid.
    assert nominal[-15:] == [T0 + seconds(10 * k) for k in range(16, 31)]
    upcoming = scheduler.get_job("slow").next_fire  # type: ignore[union-attr]
    assert upcoming == T0 + seconds(310)


def test_run_until_stops_at_until_even_when_every_run_is_slow(sim: Sim) -> None:
    """Regression: process_due looped while inline runs kept falling due, so run_until
    never came back to check `until`."""
    scheduler, clock, _ = sim
    nominal: list[datetime] = []

    def slow() -> None:
        nominal.append(current_run().scheduled_at)
        if len(nominal) < 300:  # a guard, so that the bug cannot hang the suite
            clock.advance(13)

    scheduler.add_job(slow, "interval", seconds=10, id="slow")
    run_until(scheduler, T0 + seconds(300))
    assert len(nominal) <= 30


def test_a_run_finishing_late_does_not_shift_a_cron_schedule(sim: Sim) -> None:
    scheduler, clock, _ = sim
    nominal: list[datetime] = []

    def slow() -> None:
        nominal.append(current_run().scheduled_at)
        clock.advance(17)

    scheduler.add_job(slow, "cron", "* * * * *", id="slow")
    run_until(scheduler, T0 + timedelta(minutes=10))
    assert nominal == [T0 + timedelta(minutes=m) for m in range(11)]
