"""A scheduler gives hashed cron triggers (``H``) the job's id as their hash key.

Expected minutes come from the table in tests/triggers/test_cron_hashed.py (worked out
with sha256sum and bc, not with tickwork): key ``x`` has minute 50 and hour 16, key
``job-1`` minute 37 and hour 17, key ``shared`` is checked against a trigger built with it.
Runs on a FakeClock with the InlineExecutor: no threads, no sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tickwork import (
    AndTrigger,
    CronTrigger,
    InvalidExpression,
    OrTrigger,
    Scheduler,
)
from tickwork.executors import InlineExecutor
from tickwork.stores import SQLiteStore
from tickwork.testing import FakeClock, advance

from .jobs_for_tests import T0, Calls, Events, noop, simulated

NOOP = "tests.jobs_for_tests:noop"


@pytest.fixture
def sim() -> Iterator[tuple[Scheduler, FakeClock, Events]]:
    with simulated() as parts:
        yield parts


def minutes(count: int) -> timedelta:
    return timedelta(minutes=count)


def test_the_cron_shortcut_hashes_the_job_id(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, clock, _ = sim
    calls = Calls(clock)
    job = scheduler.add_job(calls, "cron", "H * * * *", id="x")
    assert isinstance(job.trigger, CronTrigger)
    assert job.trigger.hash_key == "x"
    assert job.next_fire == T0 + minutes(50)
    advance(scheduler, timedelta(hours=2))
    assert calls.scheduled == [T0 + minutes(50), T0 + minutes(110)]


def test_a_trigger_object_without_a_key_hashes_the_generated_id(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, _, _ = sim
    job = scheduler.add_job(noop, CronTrigger("H/15 * * * *", timezone="UTC"))
    assert job.trigger == CronTrigger("H/15 * * * *", timezone="UTC", hash_key=job.id)
    assert job.next_fire is not None
    assert job.next_fire - T0 < minutes(15)
    # Stable after that: the key is stored with the job.
    stored = scheduler.get_job(job.id)
    assert stored is not None
    assert stored.trigger == job.trigger


def test_a_key_given_with_the_trigger_is_kept(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    own = CronTrigger("H * * * *", timezone="UTC", hash_key="shared")
    first = scheduler.add_job(noop, own, id="a")
    second = scheduler.add_job(noop, "cron", "H * * * *", id="b", hash_key="shared")
    assert first.trigger is own
    assert second.trigger == own  # the shortcut's hash_key= too
    assert first.next_fire == second.next_fire == own.next_after(T0)
    third = scheduler.add_job(noop, "cron", "H * * * *", id="c", hash_key="x")
    assert third.next_fire == T0 + minutes(50)


def test_a_trigger_without_h_is_stored_as_given(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    plain = CronTrigger("*/5 * * * *", timezone="UTC")
    job = scheduler.add_job(noop, plain, id="x")
    assert job.trigger is plain
    shortcut = scheduler.add_job(noop, "cron", "0 9 * * *", id="y")
    assert "hash_key" not in shortcut.trigger.to_dict()


def test_and_or_triggers_pass_the_id_down(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    hashed = CronTrigger("H * * * *", timezone="UTC")
    either = OrTrigger([hashed, CronTrigger("0 9 * * *", timezone="UTC")])
    job = scheduler.add_job(noop, either, id="job-1")
    assert isinstance(job.trigger, OrTrigger)
    assert job.next_fire == T0 + minutes(37)
    both = AndTrigger([hashed, CronTrigger("* 17 * * *", timezone="UTC")])
    job = scheduler.add_job(noop, both, id="x")  # minute 50 during hour 17
    assert job.next_fire == T0 + timedelta(hours=17, minutes=50)


def test_add_jobs_binds_each_job_to_its_own_id(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    jobs = scheduler.add_jobs(
        {"func": noop, "trigger": "cron", "expression": "H H * * *", "id": key}
        for key in ("x", "job-1")
    )
    assert [job.next_fire for job in jobs] == [
        T0 + timedelta(hours=16, minutes=50),
        T0 + timedelta(hours=17, minutes=37),
    ]


def test_reschedule_job_binds_the_new_trigger(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim
    scheduler.add_job(noop, "interval", hours=1, id="x")
    job = scheduler.reschedule_job("x", CronTrigger("H H * * *", timezone="UTC"))
    assert job.next_fire == T0 + timedelta(hours=16, minutes=50)
    job = scheduler.reschedule_job("x", "cron", "H * * * *")
    assert job.next_fire == T0 + minutes(50)


def test_the_cron_decorator_binds_too(sim: tuple[Scheduler, FakeClock, Events]) -> None:
    scheduler, _, _ = sim

    @scheduler.cron("H * * * *", id="x")
    def task() -> None:
        pass

    job = scheduler.get_job("x")
    assert job is not None
    assert job.next_fire == T0 + minutes(50)


def test_a_key_whose_values_never_fire_is_refused_by_add_job(
    sim: tuple[Scheduler, FakeClock, Events],
) -> None:
    scheduler, _, _ = sim
    # H(2-4) on key x is February (see the trigger tests), which has no 31st.
    with pytest.raises(InvalidExpression, match="with hash_key 'x'"):
        scheduler.add_job(noop, "cron", "0 0 31 H(2-4) *", id="x")
    assert scheduler.get_job("x") is None
    job = scheduler.add_job(noop, "cron", "0 0 31 H(2-4) *", id="job-1")  # March
    assert job.next_fire is not None
    assert (job.next_fire.month, job.next_fire.day) == (3, 31)


def scheduler_on(path: Path, clock: FakeClock) -> Scheduler:
    return Scheduler(
        store=SQLiteStore(path),
        clock=clock,
        executors={"default": InlineExecutor()},
        timezone="UTC",
    )


def test_the_key_survives_a_restart_and_re_adding_keeps_the_schedule(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite"
    clock = FakeClock(T0)
    first = scheduler_on(db, clock)
    first.add_job(NOOP, "cron", "H * * * *", id="x", replace_existing=True)
    first.open()
    advance(first, minutes(55))  # fired at 00:50, next at 01:50
    first.shutdown()
    second = scheduler_on(db, clock)  # start-up code runs again
    job = second.add_job(NOOP, "cron", "H * * * *", id="x", replace_existing=True)
    assert isinstance(job.trigger, CronTrigger)
    assert job.trigger.hash_key == "x"
    assert job.next_fire == T0 + minutes(110)
    second.open()
    stored = second.get_job("x")
    assert stored is not None
    assert stored.trigger == CronTrigger("H * * * *", timezone="UTC", hash_key="x")
    second.shutdown()
