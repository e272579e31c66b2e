"""The thread driver's early wake-up: how early it stops blocking before a run's due
time and spins the rest, as a pure policy (times are numbers), and what feeds it."""

from __future__ import annotations

import ctypes
import random
import sys
import threading
from datetime import datetime, timedelta, timezone

import pytest

from tickwork import Scheduler
from tickwork._driver import SPIN_LIMIT, SPIN_SHARE, EarlyWake, Pacer, precise_timers
from tickwork.executors import ThreadExecutor
from tickwork.testing import FakeClock

from .jobs_for_tests import LIMIT, T0

US = 1e-6


def test_nothing_is_spun_before_a_wake_up_was_measured() -> None:
    early = EarlyWake()
    assert early.lead == 0.0
    assert early.block_for(0.010, now=0.0) == 0.010


def test_the_lead_is_the_median_recent_oversleep() -> None:
    early = EarlyWake()
    for late in (70, 80, 75, 90, 400):  # microseconds; one outlier
        early.overslept(late * US)
    assert early.lead == pytest.approx(80 * US)
    # Block until the lead before the due time; the rest is spun.
    assert early.block_for(0.001, now=1.0) == pytest.approx(0.001 - 80 * US)


def test_a_machine_whose_timers_wake_on_time_never_spins() -> None:
    early = EarlyWake()
    for _ in range(10):
        early.overslept(0.0)
    early.overslept(-5 * US)  # woke early: counts as on time
    assert early.lead == 0.0
    assert early.block_for(0.001, now=1.0) == 0.001


def test_an_oversleep_longer_than_the_limit_is_not_chased() -> None:
    early = EarlyWake()
    for _ in range(5):
        early.overslept(0.050)  # a busy machine: spinning 50 ms would not fix it
    assert early.lead == SPIN_LIMIT
    assert early.block_for(0.1, now=1.0) == pytest.approx(0.1 - SPIN_LIMIT)


def test_the_lead_follows_recent_wake_ups_only() -> None:
    early = EarlyWake(samples=8)
    for _ in range(8):
        early.overslept(500 * US)
    for _ in range(8):
        early.overslept(60 * US)
    assert early.lead == pytest.approx(60 * US)


def test_due_times_denser_than_the_lead_are_not_spun() -> None:
    early = EarlyWake()
    early.overslept(100 * US)
    # The next run is due 80 us after the step that ran the last one: just block.
    assert early.block_for(80 * US, now=1.0) == 80 * US
    assert early.block_for(100 * US, now=1.0) == 100 * US
    assert early.block_for(150 * US, now=1.0) == pytest.approx(50 * US)


def test_spinning_stops_when_its_budget_is_spent_and_resumes_as_it_refills() -> None:
    early = EarlyWake(limit=0.001, share=0.02)  # at most 10 ms saved up
    early.overslept(0.001)
    now = 0.0
    assert early.block_for(0.5, now) == pytest.approx(0.499)
    early.spun(0.010, now)  # a spin that took the whole budget
    assert early.block_for(0.5, now) == 0.5  # no budget: block all the way
    now += 0.025  # 0.5 ms of budget back: not enough for a 1 ms lead
    assert early.block_for(0.5, now) == 0.5
    now += 0.025  # 1 ms back
    assert early.block_for(0.5, now) == pytest.approx(0.499)


@pytest.mark.parametrize("rate", [100, 1000, 10_000])
def test_spin_time_never_exceeds_its_share_of_wall_time(rate: int) -> None:
    # Due times *rate* a second for 10 s; each wake-up oversleeps 80 us less than the
    # lead would need, so every permitted spin costs the whole lead: the worst case.
    early = EarlyWake()
    for _ in range(32):
        early.overslept(200 * US)
    gap, now, spun = 1.0 / rate, 0.0, 0.0
    for _ in range(10 * rate):
        block = early.block_for(gap, now)
        if block < gap:
            early.spun(gap - block, now + gap)
            spun += gap - block
        now += gap
    assert spun <= SPIN_SHARE * now + SPIN_LIMIT * 10 + 1e-9
    if rate <= 1000:
        assert spun > 0  # sparse enough due times are spun, within the budget


def test_the_pacer_reports_how_late_a_full_wait_woke() -> None:
    clock = FakeClock(T0)
    pacer = Pacer(Scheduler(clock=clock, timezone="UTC").engine)
    blocks = pacer.sleeps(1.0)
    assert next(blocks) is None  # a fake clock: block until advanced
    clock.advance(timedelta(seconds=1.25))
    assert next(blocks, "done") == "done"
    assert pacer.overslept == pytest.approx(0.25)


def test_the_lead_is_the_median_of_the_last_samples_whatever_their_order() -> None:
    rng = random.Random(16)
    early = EarlyWake(samples=9)
    seen: list[float] = []
    for _ in range(200):
        late = rng.choice([rng.uniform(-50, 900), 120.0, 0.0]) * US  # repeats, negatives
        early.overslept(late)
        seen.append(max(late, 0.0))
        recent = sorted(seen[-9:])
        assert early.lead == min(recent[(len(recent) - 1) // 2], SPIN_LIMIT)


# -- the thread's timed waits ---------------------------------------------------------

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux timer slack")
PR_GET_TIMERSLACK = 30


def _timer_slack() -> int:
    """The calling thread's timer slack, in ns (Linux)."""
    return int(ctypes.CDLL(None).prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0))


def _in_a_thread(func: object) -> object:
    out: list[object] = []
    thread = threading.Thread(target=lambda: out.append(func()))  # type: ignore[operator]
    thread.start()
    thread.join(LIMIT)
    return out[0]


@linux
def test_precise_timers_sets_the_calling_threads_timer_slack_only() -> None:
    before = _timer_slack()
    assert _in_a_thread(lambda: (precise_timers(), _timer_slack())) == (True, 1)
    assert _timer_slack() == before  # another thread's own setting


@linux
@pytest.mark.parametrize("fake", [False, True])
def test_the_scheduler_thread_waits_with_precise_timers_on_a_real_clock_only(fake: bool) -> None:
    # The workers the scheduler's thread starts inherit its timer slack: read there.
    expected = _in_a_thread(_timer_slack) if fake else 1
    clock = FakeClock(T0, autojump=True) if fake else None
    scheduler = Scheduler(clock=clock, executors={"default": ThreadExecutor(1)}, timezone="UTC")
    done = threading.Event()
    slack: list[int] = []
    scheduler.start()
    try:
        now = scheduler.clock.now()
        scheduler.add_job(lambda: (slack.append(_timer_slack()), done.set()), "date", run_date=now)
        assert done.wait(LIMIT)
    finally:
        scheduler.shutdown()
    assert slack == [expected]


def test_runs_start_at_their_due_times_never_before_even_while_woken() -> None:
    # Due times 4 ms apart on the real clock, while another thread keeps waking the
    # scheduler (jobs added far ahead): a wake-up that the step has already handled is
    # no reason to stop waiting, and one that arrives in a wait ends it; every run
    # starts at or after its due time, once.
    scheduler = Scheduler(executors={"default": ThreadExecutor(4)}, timezone="UTC")
    started: dict[int, datetime] = {}
    done = threading.Event()
    count = 40

    def job(index: int) -> None:
        started[index] = datetime.now(timezone.utc)
        if len(started) == count:
            done.set()

    scheduler.start()
    try:
        base = datetime.now(timezone.utc) + timedelta(milliseconds=50)
        due = {k: base + timedelta(milliseconds=4 * k) for k in range(count)}
        for k, at in due.items():
            scheduler.add_job(job, "date", run_date=at, args=[k], id=f"run-{k}")
        later = base + timedelta(hours=1)
        for k in range(200):
            if done.is_set():
                break
            scheduler.add_job(job, "date", run_date=later, args=[-1], id=f"later-{k}")
            done.wait(0.001)
        assert done.wait(LIMIT)
    finally:
        scheduler.shutdown()
    assert sorted(started) == list(range(count))
    early = {k: due[k] - at for k, at in started.items() if at < due[k]}
    assert not early, f"runs started before their due times: {early}"
