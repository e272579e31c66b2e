"""The sans-IO core (``SchedulerCore``) and the planning maths, driven directly.

No clock, no threads: time is an argument. The last tests run days of simulated time
through the core, and through a whole scheduler with a FakeClock, in milliseconds.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickwork import (
    Catchup,
    CronTrigger,
    DateTrigger,
    EventKind,
    IntervalTrigger,
    Job,
    LeaseExpired,
    OrTrigger,
    Outcome,
    Overlap,
    RetryPolicy,
    Trigger,
    _deadlines,
)
from tickwork._core import SchedulerCore
from tickwork._decision import Decision, FireDue, RetryDue
from tickwork._model import RunRequest, RunResult, evolve
from tickwork._planning import (
    count_fires,
    epoch_us,
    jitter_offset,
    latest_fire_at_or_before,
    next_job_fire,
    plan_due,
    retry_delay,
)
from tickwork.testing import run_until

from .jobs_for_tests import T0, Calls, noop, seconds, simulated

EVERY_10S = IntervalTrigger(seconds=10, start=T0 + seconds(10), timezone="UTC")


def make_job(trigger: Trigger = EVERY_10S, **fields: Any) -> Job:
    fields.setdefault("next_fire", trigger.next_after(T0 - timedelta(microseconds=1)))
    job_id = fields.pop("id", "j")
    return Job(id=job_id, name=job_id, func=noop, func_ref=None, trigger=trigger, **fields)


def make_core(*jobs: Job) -> SchedulerCore:
    core = SchedulerCore()
    core.wants = int(EventKind.ALL)  # build every event, as when a listener wants all
    for job in jobs:
        core.put(job)
    return core


def kinds(events: list[Any]) -> list[EventKind]:
    return [event.kind for event in events]


def result(request: RunRequest, outcome: Outcome = Outcome.SUCCESS, **fields: Any) -> RunResult:
    return RunResult(request, outcome, **fields)


# -- the core ---------------------------------------------------------------------------


def test_an_empty_core_has_nothing_due() -> None:
    core = make_core()
    assert core.next_due() is None
    assert core.pop_due(T0 + timedelta(days=365)) == []


def test_pop_due_plans_but_does_not_apply() -> None:
    core = make_core(make_job())
    assert core.next_due() == T0 + seconds(10)
    assert core.pop_due(T0 + seconds(9)) == []
    (due,) = core.pop_due(T0 + seconds(10))
    assert isinstance(due, FireDue)
    assert due.job_id == "j"
    assert due.nominal == T0 + seconds(10)
    assert due.plan.runs == (T0 + seconds(10),)
    assert due.plan.missed == 0
    assert due.plan.next_fire == T0 + seconds(20)
    assert due.plan is due  # one record per fire: it carries its plan's fields
    # Not applied yet: the job still shows the popped fire time.
    assert core.get("j").next_fire == T0 + seconds(10)  # type: ignore[union-attr]
    assert core.in_flight() == 0


def test_commit_fire_moves_the_job_on_and_requests_a_run() -> None:
    core = make_core(make_job(args=(1,), executor="pool"))
    (due,) = core.pop_due(T0 + seconds(10))
    decision = core.commit_fire(due, T0 + seconds(10))  # type: ignore[arg-type]
    ((alias, request),) = decision.runs_to_start
    assert alias == "pool"
    assert request.job_id == "j"
    assert request.scheduled_at == T0 + seconds(10)
    assert request.attempt == 1
    assert request.args == (1,)
    assert kinds(decision.events) == [EventKind.JOB_SUBMITTED]
    assert core.get("j").next_fire == T0 + seconds(20)  # type: ignore[union-attr]
    assert core.next_due() == T0 + seconds(20)
    assert core.running("j") == 1
    assert core.in_flight() == 1
    finished = core.finished(result(request, return_value=5), T0 + seconds(11))
    assert kinds(finished.events) == [EventKind.JOB_EXECUTED]
    assert finished.events[0].return_value == 5
    assert finished.events[0].scheduled_at == T0 + seconds(10)
    assert core.running("j") == 0
    assert core.in_flight() == 0


def test_a_fire_popped_before_a_change_is_stale() -> None:
    core = make_core(make_job())
    (due,) = core.pop_due(T0 + seconds(10))
    core.put(make_job(next_fire=T0 + seconds(100)))  # rescheduled meanwhile
    decision = core.commit_fire(due, T0 + seconds(10))  # type: ignore[arg-type]
    assert decision.runs_to_start == []
    assert decision.events == []
    assert core.next_due() == T0 + seconds(100)


def test_a_replaced_entry_is_ignored_lazily() -> None:
    core = make_core(make_job())
    core.put(make_job(next_fire=T0 + seconds(50)))
    assert core.next_due() == T0 + seconds(50)
    assert core.pop_due(T0 + seconds(49)) == []


def test_paused_and_finished_jobs_are_not_indexed() -> None:
    core = make_core(make_job(id="p", paused=True), make_job(id="n", next_fire=None))
    assert core.next_due() is None
    assert core.pop_due(T0 + timedelta(days=1)) == []
    assert {job.id for job in core.jobs()} == {"p", "n"}


def test_a_one_off_job_is_removed_after_its_run_reports() -> None:
    core = make_core(make_job(DateTrigger(T0 + seconds(5))))
    (due,) = core.pop_due(T0 + seconds(5))
    decision = core.commit_fire(due, T0 + seconds(5))  # type: ignore[arg-type]
    # Its run is going: the record stays (a process taking the run over needs it).
    assert decision.jobs_to_delete == []
    assert core.next_due() is None
    assert "j" in core
    assert core.busy("j")
    done = core.finished(result(decision.runs_to_start[0][1]), T0 + seconds(6))
    assert done.jobs_to_delete == ["j"]
    assert "j" not in core


def test_overlap_in_the_core_skips_and_buffers() -> None:
    core = make_core(make_job(id="skip"), make_job(id="buffer", overlap=Overlap.BUFFER_ONE))
    first = [core.commit_fire(d, T0 + seconds(10)) for d in core.pop_due(T0 + seconds(10))]  # type: ignore[arg-type]
    requests = {r.job_id: r for d in first for _, r in d.runs_to_start}
    second = [core.commit_fire(d, T0 + seconds(20)) for d in core.pop_due(T0 + seconds(20))]  # type: ignore[arg-type]
    events = [e for d in second for e in d.events]
    assert [(e.kind, e.job_id) for e in events] == [(EventKind.JOB_SKIPPED, "skip")]
    assert all(not d.runs_to_start for d in second)
    # The buffered run starts when the running one reports.
    done = core.finished(result(requests["buffer"]), T0 + seconds(25))
    ((_, waiting),) = done.runs_to_start
    assert waiting.scheduled_at == T0 + seconds(20)
    assert kinds(done.events) == [EventKind.JOB_EXECUTED, EventKind.JOB_SUBMITTED]


def test_a_failure_with_a_retry_policy_schedules_a_retry() -> None:
    policy = RetryPolicy(attempts=2, delay=30, jitter=0)
    core = make_core(make_job(DateTrigger(T0 + seconds(5)), retry=policy))
    (due,) = core.pop_due(T0 + seconds(5))
    ((_, request),) = core.commit_fire(due, T0 + seconds(5)).runs_to_start  # type: ignore[arg-type]
    failed = core.finished(
        result(request, Outcome.FAILURE, exception=OSError("x")), T0 + seconds(6)
    )
    assert kinds(failed.events) == [EventKind.JOB_RETRIED]
    assert core.next_due() == T0 + seconds(36)
    assert core.pop_due(T0 + seconds(35)) == []
    (retry,) = core.pop_due(T0 + seconds(36))
    assert retry == RetryDue("j", T0 + seconds(5), 2)
    decision = core.commit_retry(retry, T0 + seconds(36))  # type: ignore[arg-type]
    ((_, again),) = decision.runs_to_start
    assert (again.scheduled_at, again.attempt) == (T0 + seconds(5), 2)
    last = core.finished(result(again, Outcome.FAILURE, exception=OSError("y")), T0 + seconds(37))
    assert kinds(last.events) == [EventKind.JOB_FAILED]
    assert "j" not in core


def test_consecutive_failures_pause_the_job_in_the_core() -> None:
    core = make_core(make_job(max_consecutive_failures=2))
    for step in (10, 20):
        (due,) = core.pop_due(T0 + seconds(step))
        ((_, request),) = core.commit_fire(due, T0 + seconds(step)).runs_to_start  # type: ignore[arg-type]
        decision = core.finished(
            result(request, Outcome.FAILURE, exception=KeyError("k")), T0 + seconds(step)
        )
    assert kinds(decision.events) == [EventKind.JOB_FAILED, EventKind.JOB_PAUSED]
    assert "KeyError" in (decision.events[1].reason or "")
    (stored,) = decision.jobs_to_save
    assert stored.paused
    assert core.next_due() is None


def test_discard_drops_pending_retries() -> None:
    core = make_core(make_job(retry=RetryPolicy(attempts=3, delay=1, jitter=0)))
    (due,) = core.pop_due(T0 + seconds(10))
    ((_, request),) = core.commit_fire(due, T0 + seconds(10)).runs_to_start  # type: ignore[arg-type]
    core.finished(result(request, Outcome.FAILURE, exception=ValueError()), T0 + seconds(10))
    core.discard("j")
    assert "j" not in core
    assert core.pop_due(T0 + seconds(60)) == []
    assert core.next_due() is None


def test_jitter_delays_the_due_time_but_not_the_nominal_time() -> None:
    job = make_job(jitter=timedelta(seconds=5))
    core = make_core(job)
    planned = core.next_due()
    assert planned is not None
    offset = jitter_offset("j", T0 + seconds(10), timedelta(seconds=5), T0 + seconds(20))
    assert planned == T0 + seconds(10) + offset
    assert offset > timedelta(0)  # this id and time happen to get a real delay
    assert core.pop_due(planned - timedelta(microseconds=1)) == []
    (due,) = core.pop_due(planned)
    assert due.nominal == T0 + seconds(10)  # type: ignore[union-attr]
    assert due.plan.runs == (T0 + seconds(10),)  # type: ignore[union-attr]


def test_run_now_never_skips() -> None:
    core = make_core(make_job())
    (due,) = core.pop_due(T0 + seconds(10))
    ((_, request),) = core.commit_fire(due, T0 + seconds(10)).runs_to_start  # type: ignore[arg-type]
    extra = core.run_now("j", T0 + seconds(12), T0 + seconds(12))
    assert extra.runs_to_start == []
    assert extra.events == []
    done = core.finished(result(request), T0 + seconds(13))
    ((_, waiting),) = done.runs_to_start
    assert waiting.scheduled_at == T0 + seconds(12)


def test_only_a_run_of_a_fire_time_as_it_comes_due_carries_the_misfire_grace() -> None:
    # An executor does not start a request later than its misfire_grace: that bound is
    # for the schedule's own fires, not a retry, a run asked for, or one that waited
    # for a free instance (its fire was on time; it waited by the job's own policy).
    grace = timedelta(seconds=5)
    policy = RetryPolicy(attempts=2, delay=30, jitter=0)
    core = make_core(make_job(misfire_grace_time=grace, retry=policy, overlap=Overlap.BUFFER_ONE))
    (due,) = core.pop_due(T0 + seconds(10))
    ((_, fired),) = core.commit_fire(due, T0 + seconds(10)).runs_to_start  # type: ignore[arg-type]
    assert fired.misfire_grace == grace
    (buffered,) = core.pop_due(T0 + seconds(20))
    assert core.commit_fire(buffered, T0 + seconds(20)).runs_to_start == []  # waits
    asked = core.run_now("j", T0 + seconds(21), T0 + seconds(21))
    assert asked.runs_to_start == []  # waits too (max_instances=1)
    done = core.finished(result(fired, Outcome.FAILURE, exception=OSError("x")), T0 + seconds(22))
    assert done.runs_to_start == []  # (the fire is not over: its retry is to come)
    retry = next(item for item in core.pop_due(T0 + seconds(60)) if isinstance(item, RetryDue))
    ((_, again),) = core.commit_retry(retry, T0 + seconds(60)).runs_to_start  # type: ignore[arg-type]
    assert (again.attempt, again.misfire_grace) == (2, None)
    done = core.finished(result(again), T0 + seconds(61))
    ((_, waited),) = done.runs_to_start
    assert (waited.scheduled_at, waited.misfire_grace) == (T0 + seconds(20), None)
    done = core.finished(result(waited), T0 + seconds(62))
    ((_, manual),) = done.runs_to_start
    assert (manual.scheduled_at, manual.misfire_grace) == (T0 + seconds(21), None)


def test_a_fire_with_a_retry_to_come_holds_its_instance() -> None:
    # Its retry must not overlap a run of the next fire (max_instances=1): that fire is
    # skipped, as one would be while the failed attempt still ran (and as it is in
    # another process, where the retry's lease counts).
    policy = RetryPolicy(attempts=2, delay=30, jitter=0)
    core = make_core(make_job(retry=policy))
    (due,) = core.pop_due(T0 + seconds(10))
    ((_, fired),) = core.commit_fire(due, T0 + seconds(10)).runs_to_start  # type: ignore[arg-type]
    core.finished(result(fired, Outcome.FAILURE, exception=OSError("x")), T0 + seconds(11))
    (next_fire,) = core.pop_due(T0 + seconds(20))
    decision = core.commit_fire(next_fire, T0 + seconds(20))  # type: ignore[arg-type]
    assert decision.runs_to_start == []
    assert [event.kind for event in decision.events][-1] is EventKind.JOB_SKIPPED
    assert "1 run(s) still going" in (decision.events[-1].reason or "")
    retry = next(item for item in core.pop_due(T0 + seconds(41)) if isinstance(item, RetryDue))
    ((_, again),) = core.commit_retry(retry, T0 + seconds(41)).runs_to_start  # type: ignore[arg-type]
    assert again.attempt == 2


def test_three_days_of_a_minute_cron_through_the_core_alone() -> None:
    trigger = CronTrigger("* * * * *", timezone="UTC")
    core = make_core(make_job(trigger, next_fire=T0 + seconds(60)))
    end = T0 + timedelta(days=3)
    runs: list[datetime] = []
    began = time.thread_time()  # (CPU time: what else the machine runs does not count)
    while (due_at := core.next_due()) is not None and due_at <= end:
        for item in core.pop_due(due_at):
            decision = core.commit_fire(item, due_at)  # type: ignore[arg-type]
            for _, request in decision.runs_to_start:
                runs.append(request.scheduled_at)
                core.finished(result(request), due_at)
    assert time.thread_time() - began < 2
    assert len(runs) == 3 * 24 * 60
    assert runs[0] == T0 + seconds(60)
    assert runs[-1] == end
    assert all(b - a == seconds(60) for a, b in itertools.pairwise(runs))


def test_three_days_of_a_minute_cron_with_a_fake_clock() -> None:
    with simulated(T0 + seconds(30)) as (scheduler, _, events):
        calls = Calls()
        scheduler.add_job(calls, "cron", "* * * * *", id="m")
        began = time.thread_time()  # (CPU time: what else the machine runs does not count)
        run_until(scheduler, T0 + seconds(30) + timedelta(days=3))
        elapsed = time.thread_time() - began
    assert len(calls) == 4320
    assert calls.scheduled[0] == T0 + seconds(60)
    assert calls.scheduled[-1] == T0 + timedelta(days=3)
    assert not events.of(EventKind.JOB_MISSED | EventKind.JOB_SKIPPED)
    assert elapsed < 2, f"{elapsed:.2f} s"


# -- the heap: stale entries are counted and pruned ---------------------------------------


def _live_entries(core: SchedulerCore) -> int:
    """Entries the heap must hold: one per job with a fire to come, one per retry."""
    fires = sum(1 for job in core.jobs() if job.next_fire is not None and not job.paused)
    return fires + len(core.pending_retries())


def _check_heap(core: SchedulerCore) -> None:
    live = _live_entries(core)
    # The stale count is exact, and stale entries never outnumber the live ones by more
    # than the rule allows.
    assert len(core._deadlines) - core._deadlines.stale == live
    assert core._deadlines.stale <= max(_deadlines.PRUNE_FLOOR, 2 * live)


def test_the_heap_stays_bounded_however_often_jobs_change() -> None:
    jobs = [make_job(id=f"j{n}") for n in range(10)]
    core = make_core(*jobs)
    for step in range(5_000):
        job = jobs[step % 10]
        if step % 7 == 0:
            core.put(evolve(job, paused=True))  # paused: no live entry
        elif step % 11 == 0:
            core.discard(job.id)
        else:
            core.put(evolve(job, next_fire=T0 + seconds(10 + step)))  # rescheduled
        _check_heap(core)
    assert len(core._deadlines) <= 3 * 10 + _deadlines.PRUNE_FLOOR


def test_pruning_keeps_every_live_entry_in_order() -> None:
    core = make_core(*(make_job(id=f"j{n}", next_fire=T0 + seconds(n)) for n in range(1, 6)))
    for _ in range(100):  # enough churn to prune several times
        core.put(make_job(id="j9", next_fire=T0 + seconds(9)))
    assert len(core._deadlines) < 100
    due = core.pop_due(T0 + seconds(10))
    assert [item.job_id for item in due] == ["j1", "j2", "j3", "j4", "j5", "j9"]
    assert core._deadlines.stale == 0 or len(core._deadlines) == core._deadlines.stale


def test_stale_entries_behind_a_live_one_are_counted_out_when_popped() -> None:
    policy = RetryPolicy(attempts=2, delay=5, jitter=0)
    core = make_core(make_job(id="a", retry=policy), make_job(id="b", next_fire=T0 + seconds(12)))
    (due,) = core.pop_due(T0 + seconds(10))
    ((_, request),) = core.commit_fire(due, T0 + seconds(10)).runs_to_start  # type: ignore[arg-type]
    core.finished(result(request, Outcome.FAILURE, exception=OSError()), T0 + seconds(10))
    core.discard("a")  # its retry, due at 15, goes stale
    core.put(make_job(id="c", next_fire=T0 + seconds(13)))
    core.put(make_job(id="c", next_fire=T0 + seconds(30)))  # the entry at 13 goes stale
    assert core._deadlines.stale == 3  # and a's next fire, at 20
    # "b" at 12 is live and in front: pop_due, not next_due, meets both stale entries.
    (fire,) = core.pop_due(T0 + seconds(20))
    assert fire.job_id == "b"
    assert core._deadlines.stale == 0
    core.commit_fire(fire, T0 + seconds(20))  # type: ignore[arg-type]
    _check_heap(core)


def _two_pending_retries() -> SchedulerCore:
    """Job "j" (every 10 s, max 2 instances): the runs of 10 and 20 failed, retries due
    at 40 and 50."""
    policy = RetryPolicy(attempts=2, delay=30, jitter=0)
    core = make_core(make_job(retry=policy, max_instances=2))
    for step in (10, 20):
        (due,) = core.pop_due(T0 + seconds(step))
        ((_, request),) = core.commit_fire(due, T0 + seconds(step)).runs_to_start  # type: ignore[arg-type]
        core.finished(result(request, Outcome.FAILURE, exception=OSError()), T0 + seconds(step))
    assert [r[1:] for r in core.pending_retries()] == [
        (T0 + seconds(10), 2, epoch_us(T0 + seconds(40))),
        (T0 + seconds(20), 2, epoch_us(T0 + seconds(50))),
    ]
    return core


def test_forget_run_drops_the_retries_of_that_fire_only() -> None:
    core = _two_pending_retries()
    assert core.forget_run("j", T0 + seconds(10)) == 1
    _check_heap(core)
    due = [item for item in core.pop_due(T0 + seconds(60)) if isinstance(item, RetryDue)]
    assert due == [RetryDue("j", T0 + seconds(20), 2)]


def test_a_run_whose_claim_was_lost_while_it_went_is_not_retried_nor_counted_here() -> None:
    # A frozen process's run is taken over (the taker records it cut off and retries);
    # when it wakes and the run fails, a retry of its own would run that attempt twice.
    policy = RetryPolicy(attempts=3, delay=5, jitter=0)
    core = make_core(make_job(retry=policy, max_consecutive_failures=5))
    (due,) = core.pop_due(T0 + seconds(10))
    ((_, lost),) = core.commit_fire(due, T0 + seconds(10)).runs_to_start  # type: ignore[arg-type]
    assert core.forget_run("j", T0 + seconds(10)) == 0  # (nothing waited: it runs)
    # The same fire's retry taken back here (its taker died) is this process's again: it
    # waits for the instance the lost run holds.
    taken = Decision()
    core.taken_over("j", T0 + seconds(10), 2, owner="p2", dead=True, handed_off=True,
                    now=T0 + seconds(16), into=taken)  # fmt: skip
    assert taken.runs_to_start == []
    decision = core.finished(result(lost, Outcome.FAILURE, exception=OSError()), T0 + seconds(17))
    kinds = [e.kind for e in decision.events]
    assert kinds == [EventKind.JOB_FAILED, EventKind.JOB_SUBMITTED]  # (the retry taken)
    assert core.pending_retries() == []
    assert core.get("j").consecutive_failures == 0  # type: ignore[union-attr]
    ((_, again),) = decision.runs_to_start
    assert again.attempt == 2
    decision = core.finished(result(again, Outcome.FAILURE, exception=OSError()), T0 + seconds(18))
    assert [e.kind for e in decision.events] == [EventKind.JOB_RETRIED]
    assert [r[1:3] for r in core.pending_retries()] == [(T0 + seconds(10), 3)]


def test_drop_buffers_skips_pending_retries_but_those_handed_off() -> None:
    core = _two_pending_retries()
    handed_off = frozenset({("j", epoch_us(T0 + seconds(20)), 2)})
    decision = core.drop_buffers(T0 + seconds(25), handed_off=handed_off)
    assert [(e.kind, e.scheduled_at) for e in decision.events] == [
        (EventKind.JOB_SKIPPED, T0 + seconds(10))
    ]
    assert core.pending_retries() == []
    _check_heap(core)
    assert all(isinstance(item, FireDue) for item in core.pop_due(T0 + seconds(60)))


def test_a_job_re_added_under_its_id_does_not_fire_at_the_old_time() -> None:
    # Regression: entries were matched by generation number, the removed job's entry
    # had the same one as the new job's first, and the new job fired at the old time.
    core = make_core(make_job(next_fire=T0 + seconds(10)))
    core.discard("j")
    core.put(make_job(next_fire=T0 + seconds(100)))
    assert core.next_due() == T0 + seconds(100)
    assert core.pop_due(T0 + seconds(10)) == []


def test_a_job_re_added_under_its_id_runs_on_its_own_schedule() -> None:
    with simulated() as (scheduler, clock, _):
        calls = Calls()
        scheduler.add_job(calls, "interval", seconds=10, id="x")
        scheduler.remove_job("x")
        scheduler.add_job(calls, "interval", seconds=100, id="x")
        clock.set(T0 + seconds(10))
        scheduler.process_due()
        assert calls.scheduled == []
        clock.set(T0 + seconds(100))
        scheduler.process_due()
        assert calls.scheduled == [T0 + seconds(100)]


_IDS = ("a", "b", "c", "d")
_OPS = st.one_of(
    st.tuples(st.just("put"), st.sampled_from(_IDS), st.integers(1, 50), st.booleans()),
    st.tuples(st.just("discard"), st.sampled_from(_IDS)),
    st.tuples(st.just("advance"), st.integers(0, 30)),
    st.tuples(st.just("fail"), st.sampled_from(_IDS)),
)


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(_OPS, max_size=60), floor=st.sampled_from([0, 2, _deadlines.PRUNE_FLOOR]))
def test_the_heap_agrees_with_a_plain_model(ops: list[tuple[Any, ...]], floor: int) -> None:
    """Fires and retries come due exactly when a plain dict says, whatever the churn
    (with pruning forced often, through a low floor)."""
    trigger = IntervalTrigger(seconds=1000, start=T0, timezone="UTC")
    policy = RetryPolicy(attempts=2, delay=5, jitter=0)
    now = T0
    fires: dict[str, datetime] = {}  # job id -> next fire (jobs not paused)
    retries: list[tuple[datetime, str]] = []  # (due, job id)
    failing: set[str] = set()
    saved = _deadlines.PRUNE_FLOOR
    _deadlines.PRUNE_FLOOR = floor
    try:
        core = make_core()
        for op in ops:
            if op[0] == "put":
                _, job_id, offset, paused = op
                at = now + seconds(offset)
                core.put(make_job(trigger, id=job_id, next_fire=at, paused=paused, retry=policy))
                fires.pop(job_id, None)
                if not paused:
                    fires[job_id] = at
            elif op[0] == "discard":
                core.discard(op[1])
                fires.pop(op[1], None)
                retries = [(due, job_id) for due, job_id in retries if job_id != op[1]]
            elif op[0] == "fail":
                failing.add(op[1])
            else:
                now += seconds(op[1])
                expected_fires = {job_id for job_id, at in fires.items() if at <= now}
                expected_retries = sorted(job_id for due, job_id in retries if due <= now)
                due = core.pop_due(now)
                assert {i.job_id for i in due if isinstance(i, FireDue)} == expected_fires
                assert sorted(i.job_id for i in due if isinstance(i, RetryDue)) == (
                    expected_retries
                )
                retries = [(at, job_id) for at, job_id in retries if at > now]
                for item in due:
                    if isinstance(item, FireDue):
                        assert item.nominal == fires[item.job_id]
                        decision = core.commit_fire(item, now)
                        fires[item.job_id] = trigger.next_after(now)  # type: ignore[assignment]
                    else:
                        decision = core.commit_retry(item, now)
                    for _, request in decision.runs_to_start:
                        if request.job_id in failing and request.attempt == 1:
                            failing.discard(request.job_id)
                            outcome = result(request, Outcome.FAILURE, exception=OSError())
                            retries.append((now + seconds(5), request.job_id))
                        else:
                            outcome = result(request)
                        core.finished(outcome, now)
            soonest = min([*fires.values(), *(due for due, _ in retries)], default=None)
            assert core.next_due() == soonest
            _check_heap(core)
    finally:
        _deadlines.PRUNE_FLOOR = saved


# -- the end of a job's runs: retries, takeovers, removal -----------------------------------


def _one_off_running(**fields: Any) -> tuple[SchedulerCore, RunRequest]:
    """A one-off job whose only fire has started (the job has no fire time left)."""
    core = make_core(make_job(DateTrigger(T0 + seconds(5)), **fields))
    core.records = True
    (due,) = core.pop_due(T0 + seconds(5))
    ((_, request),) = core.commit_fire(due, T0 + seconds(5)).runs_to_start  # type: ignore[arg-type]
    return core, request


def test_a_done_job_stays_while_its_retry_is_pending() -> None:
    core, request = _one_off_running(retry=RetryPolicy(attempts=2, delay=10, jitter=0))
    failed = core.finished(result(request, Outcome.FAILURE, exception=OSError()), T0 + seconds(6))
    assert failed.jobs_to_delete == []
    assert core.busy("j")
    (retry,) = core.pop_due(T0 + seconds(16))
    ((_, again),) = core.commit_retry(retry, T0 + seconds(16)).runs_to_start  # type: ignore[arg-type]
    assert core.finished(result(again), T0 + seconds(17)).jobs_to_delete == ["j"]
    assert "j" not in core


def test_a_removed_job_whose_run_fails_is_not_retried() -> None:
    # Regression: the retry ran the removed job again.
    core, request = _one_off_running(retry=RetryPolicy(attempts=3, delay=1, jitter=0))
    core.discard("j")
    failed = core.finished(result(request, Outcome.FAILURE, exception=OSError()), T0 + seconds(6))
    assert kinds(failed.events) == [EventKind.JOB_FAILED]
    assert failed.jobs_to_save == []  # its record is gone
    assert failed.jobs_to_delete == []
    assert [end.final for end in failed.history] == [True]
    assert core.pop_due(T0 + timedelta(days=1)) == []
    assert core.next_due() is None


def test_a_taken_over_run_without_a_retry_policy_is_interrupted() -> None:
    core = make_core(make_job())
    core.records = True
    decision = Decision()
    later = T0 + seconds(3)
    warning = core.taken_over(
        "j", T0, 1, owner="host:7:x", dead=True, handed_off=False, now=later, into=decision
    )
    assert kinds(decision.events) == [EventKind.JOB_INTERRUPTED]
    (event,) = decision.events
    assert event.reason == "its process died"
    assert isinstance(event.exception, LeaseExpired)
    assert "process host:7:x died" in str(event.exception)
    (end,) = decision.history
    assert (end.outcome, end.reason, end.final) == (Outcome.INTERRUPTED, "its process died", True)
    assert warning == f"{event.exception} (not retried)"
    assert decision.jobs_to_delete == []  # it has fires to come
    assert core.next_due() == T0 + seconds(10)


def test_a_taken_over_run_is_retried_by_its_policy() -> None:
    core = make_core(make_job(retry=RetryPolicy(attempts=3, delay=20, jitter=0)))
    core.records = True
    decision = Decision()
    warning = core.taken_over(
        "j", T0, 1, owner="o", dead=False, handed_off=False, now=T0 + seconds(3), into=decision
    )
    (event,) = decision.events
    assert event.kind is EventKind.JOB_RETRIED
    assert event.reason == "its process stopped renewing the lease; retrying in 20 s"
    assert decision.history[0].final is False
    assert warning is not None
    assert warning.endswith("(retrying)")
    assert core.pending_retries() == [("j", T0, 2, epoch_us(T0 + seconds(23)))]
    assert core.next_due() == T0 + seconds(10)  # its own next fire comes first


@pytest.mark.parametrize(
    ("attempts", "retry_on", "attempt", "retried"),
    [
        (1, (Exception,), 1, False),  # no attempt left
        (3, (Exception,), 1, True),
        (3, (Exception,), 3, False),
        (3, (RuntimeError,), 2, True),  # LeaseExpired is a RuntimeError
        (3, (OSError,), 1, False),  # a policy that does not retry it
    ],
)
def test_a_takeover_and_a_failure_decide_a_retry_alike(
    attempts: int, retry_on: tuple[type[BaseException], ...], attempt: int, retried: bool
) -> None:
    policy = RetryPolicy(attempts=attempts, delay=1, jitter=0, retry_on=retry_on)
    taken = make_core(make_job(retry=policy))
    decision = Decision()
    taken.taken_over(
        "j", T0, attempt, owner="o", dead=True, handed_off=False, now=T0, into=decision
    )
    error = decision.events[0].exception
    assert isinstance(error, LeaseExpired)
    failed = make_core(make_job(retry=policy))
    (due,) = failed.pop_due(T0 + seconds(10))
    ((_, request),) = failed.commit_fire(due, T0 + seconds(10)).runs_to_start  # type: ignore[arg-type]
    failure = failed.finished(
        result(request._replace(attempt=attempt), Outcome.FAILURE, exception=error),
        T0 + seconds(10),
    )
    expected = [EventKind.JOB_RETRIED] if retried else [EventKind.JOB_INTERRUPTED]
    assert kinds(decision.events) == expected
    assert (kinds(failure.events)[0] is EventKind.JOB_RETRIED) is retried
    assert bool(taken.pending_retries()) is retried
    assert bool(failed.pending_retries()) is retried


def test_a_done_job_whose_last_run_is_cut_off_is_removed() -> None:
    # Its last fire was claimed (and cut off) in another process: no fire time left.
    core = make_core(make_job(DateTrigger(T0), next_fire=None))
    decision = Decision()
    core.taken_over("j", T0, 1, owner="o", dead=True, handed_off=False, now=T0, into=decision)
    assert decision.jobs_to_delete == ["j"]
    assert "j" not in core


def test_a_done_job_cut_off_elsewhere_stays_while_a_run_of_it_goes_here() -> None:
    policy = RetryPolicy(attempts=1)
    core = make_core(make_job(max_instances=2, retry=policy))
    (due,) = core.pop_due(T0 + seconds(10))
    ((_, request),) = core.commit_fire(due, T0 + seconds(10)).runs_to_start  # type: ignore[arg-type]
    core.put(evolve(core.get("j"), next_fire=None))  # type: ignore[arg-type]
    decision = Decision()
    core.taken_over("j", T0, 1, owner="o", dead=True, handed_off=False, now=T0, into=decision)
    assert decision.jobs_to_delete == []
    assert core.busy("j")
    assert core.finished(result(request), T0 + seconds(11)).jobs_to_delete == ["j"]


def test_a_handed_off_run_starts_when_taken_or_is_skipped_without_its_job() -> None:
    core = make_core(make_job())
    decision = Decision()
    later = T0 + seconds(1)
    warning = core.taken_over(
        "j", T0, 2, owner="o", dead=False, handed_off=True, now=later, into=decision
    )
    assert warning is None
    ((_, request),) = decision.runs_to_start  # type: ignore[misc]
    assert (request.job_id, request.scheduled_at, request.attempt) == ("j", T0, 2)
    assert request.misfire_grace is None  # late by design: it waited in the store
    assert kinds(decision.events) == [EventKind.JOB_SUBMITTED]
    core.taken_over("gone", T0, 2, owner="o", dead=False, handed_off=True, now=T0, into=decision)
    event = decision.events[-1]
    assert (event.kind, event.job_id, event.reason) == (
        EventKind.JOB_SKIPPED,
        "gone",
        "its job no longer exists",
    )


def test_a_jittered_run_missed_in_its_executor_is_told_with_the_jobs_own_grace() -> None:
    # The message quoted the grace plus the run's jitter offset ("0:00:08.61...").
    core = make_core(make_job(jitter=timedelta(seconds=9), misfire_grace_time=seconds(5)))
    (due,) = core.pop_due(T0 + seconds(20))
    ((_, request),) = core.commit_fire(due, T0 + seconds(20)).runs_to_start  # type: ignore[misc]
    offset = request.misfire_grace - seconds(5)
    assert timedelta(0) <= offset < seconds(9)  # (the executor counts from the jittered start)
    decision = core.finished(
        result(request, Outcome.MISSED), request.scheduled_at + offset + seconds(7)
    )
    (event,) = decision.events
    assert (
        event.reason == "it would have started 7.000 s late, later than misfire_grace_time=0:00:05"
    )


def _take(core: SchedulerCore, at: datetime, attempt: int, now: datetime) -> Decision:
    decision = Decision()
    core.taken_over("j", at, attempt, owner="o", dead=False, handed_off=True, now=now,
                    into=decision)  # fmt: skip
    return decision


def test_a_handed_off_fire_past_its_misfire_grace_is_missed_not_started() -> None:
    """Regression: the taker started a fire handed off at shutdown whatever its lateness
    (4.9 s past a 1 s grace after a redeploy), where its job's own fires were missed."""
    grace = seconds(5)
    core = make_core(make_job(misfire_grace_time=grace, next_fire=T0 + seconds(20)))
    core.records = True
    late = _take(core, T0 + seconds(10), 1, now=T0 + seconds(16))
    assert late.runs_to_start == []
    assert kinds(late.events) == [EventKind.JOB_MISSED]
    (row,) = late.history
    assert (row.outcome, row.scheduled_at) == (Outcome.MISSED, T0 + seconds(10))
    assert "handed off" in (row.reason or "")
    assert "misfire_grace_time=0:00:05" in (row.reason or "")
    assert not core.busy("j")
    # Within the grace, a retry (its attempt 2), a run asked for (not a fire time): started.
    # (Started, or waiting for the one instance.)
    for at, attempt, now in [(10, 1, 15), (10, 2, 100), (13, 1, 100)]:
        waiting = core.waiting
        taken = _take(core, T0 + seconds(at), attempt, now=T0 + seconds(now))
        assert len(taken.runs_to_start) + core.waiting - waiting == 1, (at, attempt, now)
        assert EventKind.JOB_MISSED not in kinds(taken.events)


@pytest.mark.parametrize("catchup", list(Catchup))
def test_a_handed_off_fire_older_than_a_due_fire_follows_the_catchup(catchup: Catchup) -> None:
    """Regression: with catchup="latest", the taker ran a fire handed off at shutdown and
    then skipped the latest fire, due meanwhile, for max_instances."""
    core = make_core(make_job(catchup=catchup, next_fire=T0 + seconds(20)))
    taken = _take(core, T0 + seconds(10), 1, now=T0 + seconds(25))
    if catchup in (Catchup.LATEST, Catchup.NONE):
        assert taken.runs_to_start == []
        (event,) = taken.events
        assert event.kind is EventKind.JOB_MISSED
        assert "later fire time is due" in event.reason
        (due,) = core.pop_due(T0 + seconds(25))
        assert len(core.commit_fire(due, T0 + seconds(25)).runs_to_start) == 1  # the latest
    else:  # the oldest runs (catchup="all" runs the rest after it)
        assert len(taken.runs_to_start) == 1


def test_runs_handed_off_wait_for_a_free_instance_oldest_first() -> None:
    # A catch-up's queue left at shutdown ran all at once where it was taken (ten
    # overlapping runs of a job with max_instances=1, in a probe).
    core = make_core(make_job())
    (due,) = core.pop_due(T0 + seconds(10))
    ((_, running),) = core.commit_fire(due, T0 + seconds(10)).runs_to_start  # type: ignore[misc]
    decision = Decision()
    for fire in (20, 30):
        core.taken_over("j", T0 + seconds(fire), 1, owner="", dead=False, handed_off=True,
                        now=T0 + seconds(31), into=decision)  # fmt: skip
    assert decision.runs_to_start == []
    assert core.waiting == 2
    after = core.finished(result(running), T0 + seconds(32))
    ((_, request),) = after.runs_to_start  # type: ignore[misc]
    assert request.scheduled_at == T0 + seconds(20)


def test_a_job_done_firing_stays_stored_while_its_runs_are_left_to_others() -> None:
    # Its waiting runs were left in the store at shutdown: the taker needs the record.
    core = make_core(make_job(max_instances=1))
    (due,) = core.pop_due(T0 + seconds(10))
    ((_, running),) = core.commit_fire(due, T0 + seconds(10)).runs_to_start  # type: ignore[misc]
    core.run_now("j", T0 + seconds(11), T0 + seconds(11))  # waits for the running one
    core.put(evolve(core.get("j"), next_fire=None))  # type: ignore[arg-type]
    [(job_id, at, attempt)] = core.waiting_runs()
    dropped = core.drop_buffers(
        T0 + seconds(12), handed_off=frozenset({(job_id, epoch_us(at), attempt)})
    )
    assert dropped.events == []
    assert core.finished(result(running), T0 + seconds(13)).jobs_to_delete == []


# -- planning: small pieces -------------------------------------------------------------


def test_epoch_us_is_the_instant_whatever_the_zone() -> None:
    berlin = T0.astimezone(ZoneInfo("Europe/Berlin"))
    assert epoch_us(berlin) == epoch_us(T0) == 1_704_067_200 * 1_000_000
    # The repeated hour of a DST fall-back: fold tells the two instants apart.
    zone = ZoneInfo("Europe/Berlin")
    first = datetime(2024, 10, 27, 2, 30, tzinfo=zone)
    second = first.replace(fold=1)
    assert epoch_us(second) - epoch_us(first) == 3600 * 1_000_000


def test_next_job_fire_keeps_inside_start_and_end() -> None:
    trigger = IntervalTrigger(seconds=10, start=T0, timezone="UTC")
    start, end = T0 + seconds(25), T0 + seconds(40)
    assert next_job_fire(trigger, T0, start, end) == T0 + seconds(30)
    assert next_job_fire(trigger, T0 + seconds(30), start, end) == T0 + seconds(40)  # inclusive
    assert next_job_fire(trigger, T0 + seconds(40), start, end) is None
    assert next_job_fire(trigger, T0, T0 + seconds(30), None) == T0 + seconds(30)  # inclusive


def test_count_fires_of_an_interval_is_exact_and_immediate() -> None:
    trigger = IntervalTrigger(seconds=1, start=T0, timezone="UTC")
    began = time.thread_time()  # (CPU time: what else the machine runs does not count)
    count = count_fires(trigger, T0, T0 + timedelta(days=365), None, None)
    assert time.thread_time() - began < 0.01
    assert count == 365 * 86_400


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (T0 + timedelta(minutes=10, seconds=30), None),
        (None, T0 + timedelta(hours=3, seconds=1)),
        (T0 + timedelta(minutes=90), T0 + timedelta(hours=2)),
        (T0 + timedelta(hours=9), None),  # starts after the span: none
    ],
)
def test_count_fires_of_an_interval_is_exact_within_the_jobs_start_and_end(
    start: datetime | None, end: datetime | None
) -> None:
    # A job's start/end narrow what counts: the exact count agrees with a walk, and it
    # is still computed, not walked (a long downtime counted 9,999 where a start was set).
    trigger = IntervalTrigger(seconds=1, start=T0, timezone="UTC")
    until = T0 + timedelta(hours=4)
    walked = 0
    moment = next_job_fire(trigger, T0, start, end)
    while moment is not None and moment <= until:
        walked += 1
        moment = next_job_fire(trigger, moment, start, end)
    assert count_fires(trigger, T0, until, start, end, limit=10) == walked


def test_count_fires_of_a_cron_is_exact_past_the_limit() -> None:
    trigger = CronTrigger("* * * * *", timezone="UTC")
    assert count_fires(trigger, T0, T0 + timedelta(days=30), None, None, limit=500) == 43_200
    # Within the job's start and end.
    start, end = T0 + timedelta(hours=1), T0 + timedelta(hours=2, seconds=30)
    assert count_fires(trigger, T0, T0 + timedelta(days=30), start, end, limit=5) == 61


def test_count_fires_of_other_triggers_stops_at_the_limit() -> None:
    trigger = OrTrigger([CronTrigger("* * * * *", timezone="UTC")])
    assert count_fires(trigger, T0, T0 + timedelta(hours=1), None, None) == 60
    assert count_fires(trigger, T0, T0 + timedelta(days=30), None, None, limit=500) == 500


@pytest.mark.parametrize("expression", ["*/7 * * * *", "0 9 * * mon-fri", "30 2 1 * *"])
def test_latest_fire_at_or_before_matches_a_walk(expression: str) -> None:
    trigger = CronTrigger(expression, timezone="UTC")
    first = trigger.next_after(T0)
    assert first is not None
    for hours in (0, 1, 5, 100, 1000):
        moment = first + timedelta(hours=hours, seconds=17)
        walked = first
        while (following := trigger.next_after(walked)) is not None and following <= moment:
            walked = following
        assert latest_fire_at_or_before(trigger, moment, first, None, None) == walked
        # The same through the generic search a trigger of one's own gets (a bisection).
        generic = NextOnly(trigger)
        assert latest_fire_at_or_before(generic, moment, first, None, None) == walked
        # Bounded by an end: the last fire at or before it.
        end = first + timedelta(hours=hours / 2)
        bounded = latest_fire_at_or_before(trigger, moment, first, None, end)
        assert bounded == latest_fire_at_or_before(generic, moment, first, None, end)
        assert first <= bounded <= end


class NextOnly(Trigger):
    """A trigger of one's own: only next_after (and serialization)."""

    type_name = "test-core-next-only"
    __slots__ = ("_inner",)

    def __init__(self, inner: Trigger) -> None:
        object.__setattr__(self, "_inner", inner)

    def next_after(self, moment: datetime) -> datetime | None:
        return self._inner.next_after(moment)  # type: ignore[attr-defined, no-any-return]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NextOnly:
        raise NotImplementedError


def test_jitter_offset_is_stable_bounded_and_spread() -> None:
    jitter = timedelta(seconds=30)
    offsets = set()
    for minute in range(200):
        nominal = T0 + timedelta(minutes=minute)
        offset = jitter_offset("job", nominal, jitter, nominal + seconds(60))
        assert timedelta(0) <= offset < jitter
        assert offset == jitter_offset("job", nominal, jitter, nominal + seconds(60))
        # The same instant written in another zone is the same fire time.
        other = nominal.astimezone(ZoneInfo("Asia/Tokyo"))
        assert offset == jitter_offset("job", other, jitter, nominal + seconds(60))
        offsets.add(offset)
    assert len(offsets) > 150
    assert jitter_offset("a", T0, jitter, None) != jitter_offset("b", T0, jitter, None)


def test_jitter_offset_stays_before_the_next_fire() -> None:
    following = T0 + seconds(2)
    for minute in range(100):
        offset = jitter_offset(f"j{minute}", T0, timedelta(hours=1), following)
        assert T0 + offset < following
    assert jitter_offset("j", T0, timedelta(hours=1), T0 + timedelta(microseconds=1)) == (
        timedelta(0)
    )


def test_retry_delay_grows_is_capped_and_jitters_deterministically() -> None:
    policy = RetryPolicy(attempts=10, delay=10, factor=2, max_delay=60, jitter=0)
    assert [retry_delay(policy, "j", T0, n) for n in range(1, 6)] == [10, 20, 40, 60, 60]
    jittered = RetryPolicy(attempts=10, delay=10, factor=2, max_delay=60, jitter=0.5)
    for attempt in range(1, 6):
        base = retry_delay(policy, "j", T0, attempt)
        delay = retry_delay(jittered, "j", T0, attempt)
        assert base <= delay < base * 1.5
        assert delay == retry_delay(jittered, "j", T0, attempt)


# -- planning: plan_due, as a table and against a brute-force reference -------------------


def _plan(
    catchup: str, now: float, grace: float | None = None, max_catchup: int = 100
) -> tuple[list[float], int, float | None]:
    plan = plan_due(
        EVERY_10S,
        T0 + seconds(10),
        T0 + seconds(now),
        grace=None if grace is None else seconds(grace),
        catchup=Catchup(catchup),
        max_catchup=max_catchup,
    )
    offset = [(run - T0).total_seconds() for run in plan.runs]
    following = None if plan.next_fire is None else (plan.next_fire - T0).total_seconds()
    return offset, plan.missed, following


@pytest.mark.parametrize(
    ("catchup", "now", "grace", "max_catchup", "runs", "missed", "following"),
    [
        # One fire due: every policy runs it, unless it is later than the grace.
        ("latest", 10, None, 100, [10], 0, 20),
        ("none", 15, None, 100, [10], 0, 20),
        ("all", 19, 9, 100, [10], 0, 20),
        ("latest", 19, 8, 100, [], 1, 20),
        # A backlog of 10, 20 ... 50 at 55.
        ("latest", 55, None, 100, [50], 4, 60),
        ("earliest", 55, None, 100, [10], 4, 60),
        ("all", 55, None, 100, [10, 20, 30, 40, 50], 0, 60),
        ("all", 55, None, 2, [40, 50], 3, 60),
        ("none", 55, None, 100, [], 5, 60),
        # With a grace of 20 s only 40 and 50 may run.
        ("earliest", 55, 20, 100, [40], 4, 60),
        ("all", 55, 20, 100, [40, 50], 3, 60),
        ("latest", 55, 20, 100, [50], 4, 60),
        # Nothing within the grace.
        ("latest", 59, 3, 100, [], 5, 60),
        # Exactly at a fire time: it is due.
        ("latest", 50, None, 100, [50], 4, 60),
    ],
)
def test_plan_due_table(
    catchup: str,
    now: float,
    grace: float | None,
    max_catchup: int,
    runs: list[float],
    missed: int,
    following: float,
) -> None:
    assert _plan(catchup, now, grace, max_catchup) == (runs, missed, following)


def _reference(
    trigger: Trigger,
    first: datetime,
    now: datetime,
    grace: timedelta | None,
    catchup: Catchup,
    max_catchup: int,
) -> tuple[tuple[datetime, ...], int, datetime | None, datetime | None]:
    """plan_due's contract, by walking every fire time."""
    fires = [first]
    following = trigger.next_after(first)
    while following is not None and following <= now:
        fires.append(following)
        following = trigger.next_after(following)
    eligible = [f for f in fires if grace is None or f >= now - grace]
    if len(fires) > 1 and catchup is Catchup.NONE:
        runs: tuple[datetime, ...] = ()
    elif not eligible:
        runs = ()
    elif len(fires) == 1 or catchup is Catchup.LATEST:
        runs = (eligible[-1],)
    elif catchup is Catchup.EARLIEST:
        runs = (eligible[0],)
    else:
        runs = tuple(eligible[-max_catchup:])
    not_run = [fire for fire in fires if fire not in runs]
    return runs, len(not_run), following, not_run[0] if not_run else None


TRIGGERS = [
    IntervalTrigger(seconds=7, start=T0, timezone="UTC"),
    IntervalTrigger(minutes=90, start=T0 + seconds(13), timezone="UTC"),
    CronTrigger("*/5 * * * *", timezone="UTC"),
    CronTrigger("0 9-17 * * mon-fri", timezone="Europe/Berlin"),
]


@settings(max_examples=80, deadline=None)
@given(
    trigger=st.sampled_from(TRIGGERS),
    skip=st.integers(1, 20),
    early=st.none() | st.floats(0.001, 3_600),
    late=st.floats(0, 2 * 86_400),
    grace=st.none() | st.floats(0, 86_400),
    catchup=st.sampled_from(list(Catchup)),
    max_catchup=st.integers(1, 30),
)
def test_plan_due_agrees_with_a_walk(
    trigger: Trigger,
    skip: int,
    early: float | None,
    late: float,
    grace: float | None,
    catchup: Catchup,
    max_catchup: int,
) -> None:
    # *early*: a first fire time off the trigger's times, as another process's run-now
    # or first_fire= sets (due with the trigger's next ones, it was neither run nor
    # counted missed).
    first = trigger.next_times(T0, skip + 1)[-1] - seconds(early or 0)
    now = first + seconds(late)
    grace_delta = None if grace is None else seconds(grace)
    plan = plan_due(
        trigger, first, now, grace=grace_delta, catchup=catchup, max_catchup=max_catchup
    )
    # first_missed: the oldest fire that does not run (regression: "earliest" named
    # the fire it ran).
    assert (plan.runs, plan.missed, plan.next_fire, plan.first_missed) == _reference(
        trigger, first, now, grace_delta, catchup, max_catchup
    )


def test_jobs_due_at_one_instant_come_out_in_the_order_their_schedules_were_set() -> None:
    # Not by job id: in the order added (so a big backlog is walked through memory in
    # the order it was allocated), and a job whose schedule changed since goes last.
    core = make_core(*(make_job(id=job_id) for job_id in ("m", "z", "a", "q")))
    core.put(make_job(id="z"))  # changed (the same fire time): now the newest schedule
    due = core.pop_due(T0 + seconds(10))
    assert [item.job_id for item in due] == ["m", "a", "q", "z"]
    # Loaded together, they keep the order they came in, and so do their next fires.
    loaded = SchedulerCore()
    loaded.put_many([make_job(id=job_id) for job_id in ("c", "b", "a")])
    for at in (10, 20):
        fires = loaded.pop_due(T0 + seconds(at))
        assert [item.job_id for item in fires] == ["c", "b", "a"]
        for fire in fires:
            assert isinstance(fire, FireDue)
            loaded.commit_fire(fire, T0 + seconds(at))


def test_a_skip_for_runs_here_and_elsewhere_counts_both() -> None:
    core = make_core(make_job(max_instances=2))
    (due,) = core.pop_due(T0 + seconds(10))
    assert len(core.commit_fire(due, T0 + seconds(10)).runs_to_start) == 1  # type: ignore[arg-type]
    (second,) = core.pop_due(T0 + seconds(20))
    decision = core.commit_fire(second, T0 + seconds(20), elsewhere=1)  # type: ignore[arg-type]
    assert decision.runs_to_start == []
    (skipped,) = [event for event in decision.events if event.kind is EventKind.JOB_SKIPPED]
    assert "1 run(s) still going here, 1 in other processes, max_instances=2" in (
        skipped.reason or ""
    )
