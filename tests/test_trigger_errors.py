"""A trigger that raises instead of giving a fire time (an ``AndTrigger`` that gives up,
a bug in a custom trigger) breaks its own job only.

At a call (``add_job``, ``reschedule_job``, ``modify_job``, ``resume_job``,
``next_fire_times``, ``backfill``) the call raises a ``TriggerError`` naming the job.
At a fire time the job is reported (``JOB_MISSED`` for the fire that did not run,
``JOB_PAUSED`` with the reason and the error, a log line, a history row) and paused,
in the store too; every other job keeps its times.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tickwork import (
    AndTrigger,
    CronTrigger,
    EventKind,
    Outcome,
    RetryPolicy,
    Scheduler,
    TriggerError,
    TriggerSearchExhausted,
)
from tickwork.stores import JobStore, MemoryStore, SQLiteStore
from tickwork.testing import FakeClock, run_until
from tickwork.triggers import Trigger

from .jobs_for_tests import T0, Events, inline_scheduler

H = timedelta(hours=1)
HOURLY = CronTrigger("0 * * * *", timezone="UTC")


class Flaky(Trigger):
    """Hourly, for its first *answers* answers; then every call raises."""

    __slots__ = ("_answers", "_calls")

    def __init__(self, answers: int) -> None:
        object.__setattr__(self, "_answers", answers)
        object.__setattr__(self, "_calls", [0])

    def next_after(self, moment: datetime) -> datetime | None:
        self._calls[0] += 1
        if self._calls[0] > self._answers:
            raise ZeroDivisionError("the holiday table is empty")
        return HOURLY.next_after(moment)

    def to_dict(self) -> dict[str, Any]:
        return HOURLY.to_dict()  # stored as the hourly cron it imitates

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trigger:
        raise NotImplementedError


class Misbehaving(Flaky):
    """Hourly, for its first *answers* answers; then a naive time ("naive") or the
    moment it was asked about, no later ("stuck"): a custom trigger's bugs that broke
    every later call on the job, or looped for ever."""

    __slots__ = ("_how",)

    def __init__(self, answers: int, how: str) -> None:
        super().__init__(answers)
        object.__setattr__(self, "_how", how)

    def next_after(self, moment: datetime) -> datetime | None:
        self._calls[0] += 1
        if self._calls[0] <= self._answers:
            return HOURLY.next_after(moment)
        return moment.replace(tzinfo=None) + H if self._how == "naive" else moment


def never() -> AndTrigger:
    """The 31st of February: the search gives up (quickly, with few rounds)."""
    return AndTrigger(
        [CronTrigger("0 0 31 * *", timezone="UTC"), CronTrigger("0 0 * 2 *", timezone="UTC")],
        max_iterations=20,
    )


def _store(kind: str, tmp_path: Path) -> JobStore:
    return MemoryStore() if kind == "memory" else SQLiteStore(tmp_path / "jobs.db")


STORES = ["memory", "sqlite"]


def _check_broken(
    scheduler: Scheduler, events: Events, at: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    """Job "broken" was reported and paused at its fire time *at*; job "other", due at
    the same time, ran on time."""
    ran = [run for run in scheduler.history("other") if run.outcome is Outcome.SUCCESS]
    assert [run.scheduled_at for run in ran] == [at]
    assert ran[0].started_at == at
    (missed,) = events.of(EventKind.JOB_MISSED, "broken")
    assert missed.scheduled_at == at
    assert missed.missed == 1
    (paused,) = events.of(EventKind.JOB_PAUSED, "broken")
    assert paused.exception is not None
    assert "trigger" in (paused.reason or "")
    assert type(paused.exception).__name__ in (paused.reason or "")
    job = scheduler.get_job("broken")
    assert job is not None
    assert job.paused
    assert job.pause_note == paused.reason
    (row,) = scheduler.history("broken")
    assert row.outcome is Outcome.MISSED
    assert row.scheduled_at == at
    assert "trigger" in (row.error_message or "")
    assert any(
        record.levelno == logging.ERROR and "'broken'" in record.getMessage()
        for record in caplog.records
    )
    assert not events.of(EventKind.JOB_SUBMITTED, "broken")


@pytest.mark.parametrize("store_kind", STORES)
def test_a_trigger_that_raises_at_a_fire_pauses_its_job_and_others_run_on_time(
    store_kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression: the error escaped process_due, so the due fire of every job was lost,
    nothing was reported, and the broken job stayed due forever."""
    clock = FakeClock(T0 + timedelta(minutes=30))
    with inline_scheduler(clock, _store(store_kind, tmp_path)) as (scheduler, events):
        # One answer: the first fire time (at add_job); planning the next one raises.
        scheduler.add_job("tests.jobs_for_tests:noop", Flaky(1), id="broken")
        scheduler.add_job("tests.jobs_for_tests:noop", HOURLY, id="other")
        with caplog.at_level(logging.ERROR, logger="tickwork"):
            run_until(scheduler, T0 + H)
        _check_broken(scheduler, events, T0 + H, caplog)
        run_until(scheduler, T0 + 3 * H)
        ran = [run.scheduled_at for run in scheduler.history("other")]
        assert sorted(ran) == [T0 + H, T0 + 2 * H, T0 + 3 * H]
        assert len(scheduler.history("broken")) == 1


@pytest.mark.parametrize("how", ["naive", "stuck"])
def test_a_trigger_breaking_its_contract_at_a_fire_pauses_its_job(
    how: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # "stuck": the planning of the job's fires never returned (process_due hung, and a
    # running scheduler spun a core); "naive": every later call on the job failed.
    clock = FakeClock(T0 + timedelta(minutes=30))
    with inline_scheduler(clock, _store("memory", tmp_path)) as (scheduler, events):
        scheduler.add_job("tests.jobs_for_tests:noop", Misbehaving(1, how), id="broken")
        scheduler.add_job("tests.jobs_for_tests:noop", HOURLY, id="other")
        with caplog.at_level(logging.ERROR, logger="tickwork"):
            run_until(scheduler, T0 + H)
        _check_broken(scheduler, events, T0 + H, caplog)
        expected = "aware datetime" if how == "naive" else "strictly later"
        assert expected in (scheduler.get_job("broken").pause_note or "")  # type: ignore[union-attr]


def test_a_broken_stored_job_found_at_start_up_is_paused_and_stays_paused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A restart over a file store: loading the jobs asks the broken job's trigger
    (for its jitter), then its fire time comes. (A memory store has no restart: the
    test above covers it.)"""
    clock = FakeClock(T0 + timedelta(minutes=30))
    path = tmp_path / "jobs.db"
    with inline_scheduler(clock, SQLiteStore(path)) as (scheduler, _):
        # An explicit first fire time: add_job does not ask the trigger for one.
        scheduler.add_job(
            "tests.jobs_for_tests:noop", never(), id="broken", first_fire=T0 + H, jitter=60
        )
        scheduler.add_job("tests.jobs_for_tests:noop", HOURLY, id="other")
    with inline_scheduler(clock, SQLiteStore(path)) as (scheduler, events):
        with caplog.at_level(logging.ERROR, logger="tickwork"):
            run_until(scheduler, T0 + H)
        _check_broken(scheduler, events, T0 + H, caplog)
    # The pause is stored: the next start finds the job paused, and it stays quiet.
    with inline_scheduler(clock, SQLiteStore(path)) as (scheduler, events):
        run_until(scheduler, T0 + 4 * H)
        job = scheduler.get_job("broken")
        assert job is not None
        assert job.paused
        assert not events.of(EventKind.JOB_MISSED | EventKind.JOB_PAUSED, "broken")
        assert len(scheduler.history("other")) == 4


@pytest.mark.parametrize("store_kind", STORES)
def test_a_trigger_that_raises_after_a_retry_pauses_the_job(
    store_kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(T0 + timedelta(minutes=30))
    with inline_scheduler(clock, _store(store_kind, tmp_path)) as (scheduler, events):
        # Two answers: the first fire (01:00) and the one after it (02:00). boom()
        # fails, so 01:00 is retried at 01:01; planning 02:00 raises.
        retry = RetryPolicy(attempts=2, delay=60, jitter=0)
        scheduler.add_job("tests.jobs_for_tests:boom", Flaky(2), id="broken", retry=retry)
        scheduler.add_job("tests.jobs_for_tests:noop", HOURLY, id="other")
        with caplog.at_level(logging.ERROR, logger="tickwork"):
            run_until(scheduler, T0 + 2 * H)
        (retried,) = events.of(EventKind.JOB_RETRIED, "broken")
        (failed,) = events.of(EventKind.JOB_FAILED, "broken")
        assert (retried.scheduled_at, failed.attempt) == (T0 + H, 2)
        (paused,) = events.of(EventKind.JOB_PAUSED, "broken")
        assert paused.scheduled_at == T0 + 2 * H
        job = scheduler.get_job("broken")
        assert job is not None
        assert job.paused
        assert sorted(run.scheduled_at for run in scheduler.history("other")) == [
            T0 + H,
            T0 + 2 * H,
        ]


def _fresh(store_kind: str, tmp_path: Path) -> AbstractContextManager[tuple[Scheduler, Events]]:
    return inline_scheduler(FakeClock(T0 + timedelta(minutes=30)), _store(store_kind, tmp_path))


@pytest.mark.parametrize("store_kind", STORES)
@pytest.mark.parametrize(
    ("trigger", "cause"),
    [
        (never, TriggerSearchExhausted),
        (lambda: Flaky(0), ZeroDivisionError),
        (lambda: Misbehaving(0, "naive"), TypeError),
        (lambda: Misbehaving(0, "stuck"), ValueError),
    ],
)
def test_add_job_with_a_trigger_that_raises_names_the_job(
    store_kind: str, tmp_path: Path, trigger: Any, cause: type[Exception]
) -> None:
    with _fresh(store_kind, tmp_path) as (scheduler, events):
        with pytest.raises(TriggerError, match="job 'j'") as raised:
            scheduler.add_job("tests.jobs_for_tests:noop", trigger(), id="j")
        assert isinstance(raised.value.__cause__, cause)
        assert raised.value.job_id == "j"
        assert isinstance(raised.value, ValueError)
        assert scheduler.get_job("j") is None
        assert not events.of(EventKind.JOB_ADDED)


@pytest.mark.parametrize("store_kind", STORES)
def test_reschedule_job_to_a_trigger_that_raises_changes_nothing(
    store_kind: str, tmp_path: Path
) -> None:
    with _fresh(store_kind, tmp_path) as (scheduler, _):
        scheduler.add_job("tests.jobs_for_tests:noop", HOURLY, id="j")
        with pytest.raises(TriggerError, match=r"job 'j'.*TriggerSearchExhausted"):
            scheduler.reschedule_job("j", never())
        job = scheduler.get_job("j")
        assert job is not None
        assert (job.trigger, job.next_fire) == (HOURLY, T0 + H)


@pytest.mark.parametrize("store_kind", STORES)
def test_modify_job_that_asks_a_raising_trigger_changes_nothing(
    store_kind: str, tmp_path: Path
) -> None:
    with _fresh(store_kind, tmp_path) as (scheduler, _):
        scheduler.add_job("tests.jobs_for_tests:noop", Flaky(1), id="j")
        # A start past the next fire time makes modify_job ask the trigger again.
        with pytest.raises(TriggerError, match=r"job 'j'.*ZeroDivisionError"):
            scheduler.modify_job("j", start=T0 + 5 * H)
        job = scheduler.get_job("j")
        assert job is not None
        assert (job.start, job.next_fire) == (None, T0 + H)


@pytest.mark.parametrize("store_kind", STORES)
def test_resume_job_with_a_raising_trigger_leaves_it_paused(
    store_kind: str, tmp_path: Path
) -> None:
    with _fresh(store_kind, tmp_path) as (scheduler, events):
        scheduler.add_job("tests.jobs_for_tests:noop", Flaky(1), id="j", paused=True)
        with pytest.raises(TriggerError, match="job 'j'"):
            scheduler.resume_job("j")
        job = scheduler.get_job("j")
        assert job is not None
        assert job.paused
        assert not events.of(EventKind.JOB_RESUMED)


@pytest.mark.parametrize("store_kind", STORES)
def test_next_fire_times_and_backfill_of_a_raising_trigger_name_the_job(
    store_kind: str, tmp_path: Path
) -> None:
    with _fresh(store_kind, tmp_path) as (scheduler, _):
        scheduler.add_job("tests.jobs_for_tests:noop", Flaky(2), id="j")  # 1 answer left
        with pytest.raises(TriggerError, match=r"job 'j'.*ZeroDivisionError"):
            scheduler.next_fire_times("j", 3)
        with pytest.raises(TriggerError, match=r"job 'j'.*ZeroDivisionError"):
            scheduler.backfill("j", T0, T0 + H / 2)  # (the clock's now: not after it)
