"""The thread driver's early wake-up: how early it stops blocking before a run's due
time and spins the rest, as a pure policy (times are numbers), and what feeds it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tickwork import Scheduler
from tickwork._driver import SPIN_LIMIT, SPIN_SHARE, EarlyWake, Pacer
from tickwork.testing import FakeClock

from .jobs_for_tests import T0

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
