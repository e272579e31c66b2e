"""A job's first fire time, and the "would never run" refusal, as tables.

``job_first_fire`` is the one answer to "when does this job first fire, from now" for
adding, rescheduling, resuming and previewing a job; ``late_ok`` is the one-off rule
(a date already past is due now, late, when the job is given it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest

from tickwork import (
    CronTrigger,
    DateTrigger,
    EventKind,
    IntervalTrigger,
    Job,
    Trigger,
    TriggerError,
)
from tickwork._planning import job_first_fire, require_first_fire, would_never_run

from .jobs_for_tests import T0, Calls, noop, seconds, simulated

NOW = T0 + seconds(100)
EVERY_10S = IntervalTrigger(seconds=10, start=T0, timezone="UTC")
PAST = DateTrigger(T0 + seconds(50))
SOON = DateTrigger(T0 + seconds(150))


def at(offset: float | None) -> datetime | None:
    return None if offset is None else T0 + seconds(offset)


def job(trigger: Trigger, start: float | None = None, end: float | None = None) -> Job:
    return Job(
        id="j", name="j", func=noop, func_ref=None, trigger=trigger, start=at(start), end=at(end)
    )


class Broken(Trigger):
    def next_after(self, moment: datetime) -> datetime | None:
        raise ArithmeticError("no")

    def to_dict(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trigger:
        raise NotImplementedError

    def __repr__(self) -> str:
        return "Broken()"


@pytest.mark.parametrize(
    ("trigger", "now", "start", "end", "plain", "late_ok"),
    [
        # A fire time exactly at now is the first one; otherwise the next after it.
        (EVERY_10S, 100, None, None, 100, 100),
        (EVERY_10S, 101, None, None, 110, 110),
        # Inside the job's [start, end], both ends included.
        (EVERY_10S, 100, 200, None, 200, 200),
        (EVERY_10S, 100, 95, 100, 100, 100),
        (EVERY_10S, 100, None, 50, None, None),
        (EVERY_10S, 101, None, 105, None, None),
        # A one-off time to come: the same either way.
        (SOON, 100, None, None, 150, 150),
        (DateTrigger(NOW), 100, None, None, 100, 100),
        # A one-off time already past: gone, unless the job is being given it (due now,
        # late), and then only inside [start, end].
        (PAST, 100, None, None, None, 50),
        (PAST, 100, None, 60, None, 50),
        (PAST, 100, 50, 50, None, 50),
        (PAST, 100, None, 40, None, None),
        (PAST, 100, 60, None, None, None),
        # A trigger with nothing left is never late.
        (CronTrigger("* * * * *", timezone="UTC", end=T0), 100, None, None, None, None),
    ],
)
def test_job_first_fire_table(
    trigger: Trigger,
    now: float,
    start: float | None,
    end: float | None,
    plain: float | None,
    late_ok: float | None,
) -> None:
    subject = job(trigger, start, end)
    assert job_first_fire(subject, T0 + seconds(now)) == at(plain)
    assert job_first_fire(subject, T0 + seconds(now), late_ok=True) == at(late_ok)


def test_a_trigger_that_raises_names_the_job() -> None:
    with pytest.raises(TriggerError, match=r"job 'j'.*ArithmeticError: no") as caught:
        job_first_fire(job(Broken()), NOW)
    assert caught.value.job_id == "j"
    assert isinstance(caught.value.__cause__, ArithmeticError)


@pytest.mark.parametrize(
    ("start", "end", "changing", "message"),
    [
        (None, None, False, "job 'j' would never run: {t} has no fire time at or after {now}"),
        (
            None,
            50,
            False,
            "job 'j' would never run: {t} has no fire time at or after {now} within the "
            "job's end=2024-01-01T00:00:50+00:00",
        ),
        (
            200,
            None,
            True,
            "job 'j' would never run again: {t} has no fire time at or after {now} within the "
            "job's start=2024-01-01T00:03:20+00:00; nothing was changed",
        ),
        (
            10,
            50,
            True,
            "job 'j' would never run again: {t} has no fire time at or after {now} within the "
            "job's start=2024-01-01T00:00:10+00:00 and end=2024-01-01T00:00:50+00:00; nothing "
            "was changed",
        ),
    ],
)
def test_would_never_run_says_why(
    start: float | None, end: float | None, changing: bool, message: str
) -> None:
    subject = job(PAST, start, end)
    error = would_never_run(subject, NOW, changing=changing)
    assert isinstance(error, ValueError)
    assert str(error) == message.format(t=repr(PAST), now=NOW.isoformat())


def test_require_first_fire_returns_the_time_or_raises() -> None:
    assert require_first_fire(job(PAST), NOW, late_ok=True) == T0 + seconds(50)
    with pytest.raises(ValueError, match=r"would never run: .* at or after") as caught:
        require_first_fire(job(PAST), NOW)
    assert not isinstance(caught.value, TriggerError)
    with pytest.raises(ValueError, match=r"would never run again: .*; nothing was changed"):
        require_first_fire(job(PAST, end=40), NOW, late_ok=True, changing=True)


# -- the engine asks the same function ------------------------------------------------------


def test_a_one_off_time_already_past_runs_late_when_added_or_rescheduled() -> None:
    with simulated(NOW) as (scheduler, _, events):
        calls = Calls()
        added = scheduler.add_job(calls, PAST, id="once")
        assert added.next_fire == T0 + seconds(50)
        scheduler.add_job(calls, "interval", hours=1, id="moved")
        moved = scheduler.reschedule_job("moved", DateTrigger(T0 + seconds(60)))
        assert moved.next_fire == T0 + seconds(60)
        scheduler.process_due()
        assert sorted(calls.scheduled) == [T0 + seconds(50), T0 + seconds(60)]
        assert not events.of(EventKind.JOB_MISSED)


def test_a_one_off_time_past_outside_the_job_window_is_refused() -> None:
    # It was never a fire time of the job: the job would never run (it used to run now).
    with simulated(NOW) as (scheduler, _, _):
        with pytest.raises(ValueError, match=r"would never run: .* within the job's start="):
            scheduler.add_job(noop, PAST, id="once", start=T0 + seconds(200))
        assert scheduler.get_job("once") is None


def test_resuming_and_previewing_a_paused_one_off_ignore_a_time_that_passed() -> None:
    with simulated(T0) as (scheduler, clock, _):
        scheduler.add_job(noop, PAST, id="once", paused=True)
        assert scheduler.next_fire_times("once") == [T0 + seconds(50)]
        clock.set(NOW)
        assert scheduler.next_fire_times("once") == []
        scheduler.resume_job("once")
        assert scheduler.get_job("once") is None
