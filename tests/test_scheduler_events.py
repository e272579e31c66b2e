"""Events and listeners: masks, fields, order, and listeners that fail."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tickwork import Event, EventKind, Scheduler, current_run
from tickwork.testing import FakeClock, advance, run_until

from .jobs_for_tests import T0, Calls, Events, add, noop, seconds, simulated

Sim = tuple[Scheduler, FakeClock, Events]


@pytest.fixture
def sim() -> Iterator[Sim]:
    with simulated() as parts:
        yield parts


def fail() -> None:
    raise ValueError("nope")


# -- listeners and masks ----------------------------------------------------------------


def test_a_mask_selects_the_event_kinds(sim: Sim) -> None:
    scheduler, _, everything = sim
    outcomes = Events()
    scheduler.add_listener(outcomes, EventKind.JOB_EXECUTED | EventKind.JOB_FAILED)
    scheduler.add_job(add, "interval", seconds=10, args=(1, 2), id="ok")
    scheduler.add_job(fail, "interval", seconds=10, id="bad")
    advance(scheduler, 10)
    assert {(e.kind, e.job_id) for e in outcomes.all} == {
        (EventKind.JOB_EXECUTED, "ok"),
        (EventKind.JOB_FAILED, "bad"),
    }
    assert len(outcomes.all) == 2
    assert EventKind.JOB_ADDED in everything.kinds()
    assert EventKind.JOB_SUBMITTED in everything.kinds()


def test_remove_listener_stops_the_calls(sim: Sim) -> None:
    scheduler, _, _ = sim
    seen = Events()
    scheduler.add_listener(seen)
    scheduler.add_job(noop, "interval", seconds=10)
    scheduler.remove_listener(seen)
    advance(scheduler, 30)
    assert [e.kind for e in seen.all] == [EventKind.JOB_ADDED]
    with pytest.raises(LookupError):
        scheduler.remove_listener(seen)


def test_a_listener_added_later_gets_the_run_events(sim: Sim) -> None:
    """Run events are only built when someone listens: adding and removing listeners
    must keep that bookkeeping right."""
    scheduler, _, everything = sim
    scheduler.remove_listener(everything)
    scheduler.add_job(add, "interval", seconds=10, args=(2, 2), id="j")
    advance(scheduler, 10)  # nobody listens
    failures = Events()
    scheduler.add_listener(failures, EventKind.JOB_FAILED)
    advance(scheduler, 10)
    late = Events()
    scheduler.add_listener(late, EventKind.JOB_SUBMITTED | EventKind.JOB_EXECUTED)
    advance(scheduler, 10)
    assert [e.kind for e in late.all] == [EventKind.JOB_SUBMITTED, EventKind.JOB_EXECUTED]
    assert late.all[1].return_value == 4
    assert failures.all == []
    scheduler.remove_listener(late)
    scheduler.add_listener(late, EventKind.JOB_EXECUTED)
    advance(scheduler, 10)
    assert [e.kind for e in late.all][-1] == EventKind.JOB_EXECUTED
    assert len(late.all) == 3


def test_listener_arguments_are_checked(sim: Sim) -> None:
    scheduler, _, _ = sim
    with pytest.raises(TypeError, match="callable"):
        scheduler.add_listener("not a function")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mask"):
        scheduler.add_listener(print, 64)  # type: ignore[arg-type]


def test_masks_combine() -> None:
    assert EventKind.JOB_EXECUTED in EventKind.JOB_ALL
    assert EventKind.SCHEDULER_STARTED in EventKind.SCHEDULER_ALL
    assert EventKind.SCHEDULER_STARTED not in EventKind.JOB_ALL
    assert EventKind.ALL == EventKind.JOB_ALL | EventKind.SCHEDULER_ALL


def test_a_failing_listener_is_logged_and_does_not_stop_dispatch(
    sim: Sim, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler, _, _ = sim
    after = Events()

    def broken(event: Event) -> None:
        raise RuntimeError("listener bug")

    scheduler.add_listener(broken)
    scheduler.add_listener(after)
    calls = Calls()
    with caplog.at_level(logging.ERROR, logger="tickwork"):
        scheduler.add_job(calls, "interval", seconds=10, id="j")
        advance(scheduler, 30)
    assert len(calls) == 3
    assert len(after.of(EventKind.JOB_EXECUTED, "j")) == 3
    assert after.of(EventKind.JOB_ADDED, "j")
    logged = [r for r in caplog.records if r.name == "tickwork" and "listener" in r.getMessage()]
    assert len(logged) >= 7  # added, 3 submitted, 3 executed
    assert any("JOB_EXECUTED" in r.getMessage() for r in logged)
    assert all(r.exc_info is not None for r in logged)


# -- the events and their fields --------------------------------------------------------


def test_job_management_events(sim: Sim) -> None:
    scheduler, clock, events = sim
    scheduler.add_job(noop, "interval", seconds=10, id="j")
    clock.advance(1)
    scheduler.modify_job("j", name="renamed")
    scheduler.pause_job("j", note="because")
    scheduler.resume_job("j")
    scheduler.reschedule_job("j", "interval", seconds=20)
    scheduler.remove_job("j")
    job_events = events.of(EventKind.JOB_ALL, "j")
    assert [e.kind for e in job_events] == [
        EventKind.JOB_ADDED,
        EventKind.JOB_MODIFIED,
        EventKind.JOB_PAUSED,
        EventKind.JOB_RESUMED,
        EventKind.JOB_MODIFIED,
        EventKind.JOB_REMOVED,
    ]
    added = job_events[0]
    assert added.scheduled_at == T0 + seconds(10)  # the first fire time
    assert added.at == T0
    assert job_events[2].reason == "because"
    assert all(e.at == T0 + seconds(1) for e in job_events[1:])


def test_run_events_carry_the_nominal_time_attempt_and_value(sim: Sim) -> None:
    scheduler, clock, events = sim
    scheduler.add_job(add, "interval", seconds=10, jitter=5, args=(3, 4), id="j")
    run_until(scheduler, T0 + seconds(16))
    submitted, executed = events.of(EventKind.JOB_SUBMITTED | EventKind.JOB_EXECUTED, "j")
    assert submitted.kind is EventKind.JOB_SUBMITTED
    assert executed.kind is EventKind.JOB_EXECUTED
    for event in (submitted, executed):
        assert event.scheduled_at == T0 + seconds(10)  # nominal, not jittered
        assert event.attempt == 1
        assert event.exception is None
    assert executed.return_value == 7
    assert T0 + seconds(10) <= executed.at < T0 + seconds(15)
    assert clock.now() == T0 + seconds(16)


def test_submitted_is_reported_before_executed(sim: Sim) -> None:
    scheduler, _, events = sim
    scheduler.add_job(noop, "interval", seconds=10, id="j")
    scheduler.add_job(fail, "interval", seconds=10, id="f")
    advance(scheduler, 30)
    for job_id, outcome in (("j", EventKind.JOB_EXECUTED), ("f", EventKind.JOB_FAILED)):
        kinds = [k for k in events.kinds(job_id) if k in EventKind.JOB_SUBMITTED | outcome]
        assert kinds == [EventKind.JOB_SUBMITTED, outcome] * 3


def test_failed_events_carry_the_exception(sim: Sim) -> None:
    scheduler, _, events = sim
    scheduler.add_job(fail, "date", run_date=T0 + seconds(3), id="f")
    advance(scheduler, 5)
    (failed,) = events.of(EventKind.JOB_FAILED, "f")
    assert isinstance(failed.exception, ValueError)
    assert str(failed.exception) == "nope"
    assert failed.scheduled_at == T0 + seconds(3)
    assert failed.return_value is None


def test_missed_and_skipped_events_say_how_many_and_why(sim: Sim) -> None:
    scheduler, clock, events = sim
    scheduler.add_job(noop, "interval", seconds=60, id="j", catchup="none")
    clock.set(T0 + seconds(60 * 5 + 30))
    scheduler.process_due()
    (missed,) = events.of(EventKind.JOB_MISSED, "j")
    assert missed.missed == 5
    assert missed.scheduled_at == T0 + seconds(60)  # the first missed fire
    assert "none" in (missed.reason or "")


def test_scheduler_lifecycle_events() -> None:
    with simulated(open_now=False) as (scheduler, _, events):
        scheduler.open()
        scheduler.pause()
        scheduler.resume()
        scheduler.shutdown()
        assert events.kinds() == [
            EventKind.SCHEDULER_STARTED,
            EventKind.SCHEDULER_PAUSED,
            EventKind.SCHEDULER_RESUMED,
            EventKind.SCHEDULER_SHUTDOWN,
        ]
        assert all(e.job_id is None for e in events.all)


def test_opening_paused_reports_started_then_paused() -> None:
    with simulated(open_now=False) as (scheduler, clock, events):
        calls = Calls()
        scheduler.add_job(calls, "interval", seconds=10)
        scheduler.open(paused=True)
        clock.advance(25)
        assert scheduler.process_due() is None
        assert len(calls) == 0
        assert events.kinds()[-2:] == [EventKind.SCHEDULER_STARTED, EventKind.SCHEDULER_PAUSED]


def test_current_run_outside_a_job_is_a_lookup_error() -> None:
    with pytest.raises(LookupError, match="outside"):
        current_run()


def test_current_run_inside_an_inline_job(sim: Sim) -> None:
    scheduler, _, _ = sim
    calls = Calls()
    scheduler.add_job(calls, "cron", "*/5 * * * *", id="ctx")
    advance(scheduler, 600)
    assert calls.runs == [("ctx", T0 + seconds(300 * k), 1) for k in range(3)]
    with pytest.raises(LookupError):
        current_run()  # reset after each run
