"""Runs that events start, beside the rest of a job's life: pausing while a debounce
waits, ``start``/``end``, ``max_consecutive_failures``, an ``OrTrigger`` whose schedule
and event meet at one instant, the instant a store keeps an event at, and what a payload
and a filter may hold.

On a ``FakeClock`` with an ``InlineExecutor``, over a ``MemoryStore`` and a
``SQLiteStore`` file.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickwork import (
    CronTrigger,
    EventKind,
    EventTrigger,
    OrTrigger,
    Outcome,
    Scheduler,
    SerializationError,
    current_run,
)
from tickwork._instants import EPOCH
from tickwork._model import EmittedEvent
from tickwork.executors import InlineExecutor
from tickwork.stores import JobStore, MemoryStore, SQLiteStore
from tickwork.stores._eventlog import EVENT_GAP_US, stored_at
from tickwork.testing import FakeClock, advance, run_until

from .jobs_for_tests import T0

#: Each run of :func:`noted`: (job id, scheduled_at, run id, event payload or None).
RUNS: list[tuple[str, datetime, str, Any]] = []


def noted() -> None:
    run = current_run()
    RUNS.append((run.job_id, run.scheduled_at, run.run_id,
                 None if run.event is None else run.event.payload))  # fmt: skip


def failing() -> None:
    raise RuntimeError("the mail server is down")


NOTED = f"{__name__}:noted"
FAILING = f"{__name__}:failing"


@pytest.fixture(autouse=True)
def _fresh_runs() -> Iterator[None]:
    RUNS.clear()
    yield
    RUNS.clear()


@pytest.fixture(params=["memory", "sqlite"])
def sched(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Scheduler]:
    store: JobStore = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "e.db")
    scheduler = Scheduler(
        clock=FakeClock(T0), store=store, executors={"default": InlineExecutor()}, timezone="UTC"
    )
    yield scheduler
    scheduler.shutdown()


def payloads(job_id: str) -> list[Any]:
    return [run[3] for run in RUNS if run[0] == job_id]


# -- a debounced event and a job that changed while it waited -----------------------------


def test_a_job_paused_or_rescheduled_while_a_debounce_waits_does_not_run(
    sched: Scheduler,
) -> None:
    for job_id in ("paused", "rescheduled", "modified", "resumed"):
        sched.add_job(NOTED, EventTrigger("order", debounce=10), id=job_id)
    sched.open()
    sched.emit("order", {"n": 1})
    sched.process_due()
    advance(sched, 5)
    sched.pause_job("paused", note="maintenance")
    sched.reschedule_job("rescheduled", "cron", "0 0 1 1 *")
    sched.modify_job("modified", name="still listening")
    sched.pause_job("resumed")
    sched.resume_job("resumed")  # (resumed before the wait ended)
    advance(sched, 30)
    assert sorted(run[0] for run in RUNS) == ["modified", "resumed"]
    assert sched.history("paused") == sched.history("rescheduled") == []
    # Nothing of it is kept: resumed, the job waits for the next event.
    sched.resume_job("paused")
    advance(sched, 30)
    assert payloads("paused") == []


# -- start and end ------------------------------------------------------------------------


def test_an_event_job_runs_only_within_its_start_and_end(sched: Scheduler) -> None:
    half = T0 + timedelta(minutes=30)
    sched.add_job(NOTED, EventTrigger("tick"), id="until", end=half)
    sched.add_job(NOTED, EventTrigger("tick"), id="from", start=half)
    removed: list[Any] = []
    sched.add_listener(removed.append, EventKind.JOB_REMOVED)
    sched.open()
    sched.emit("tick", 1)
    sched.process_due()
    advance(sched, 3600)
    sched.emit("tick", 2)
    sched.process_due()
    assert (payloads("until"), payloads("from")) == ([1], [2])
    # The event after its end removed it: nothing could run it again.
    assert [event.job_id for event in removed] == ["until"]
    assert [job.id for job in sched.get_jobs()] == ["from"]


def test_an_event_job_whose_end_has_passed_is_refused(sched: Scheduler) -> None:
    with pytest.raises(ValueError, match="job 'late' would never run: its end="):
        sched.add_job(NOTED, EventTrigger("tick"), id="late", end=T0 - timedelta(days=1))
    assert sched.get_jobs() == []


# -- max_consecutive_failures -------------------------------------------------------------


def test_max_consecutive_failures_pauses_an_event_job(sched: Scheduler) -> None:
    sched.add_job(FAILING, EventTrigger("mail"), id="send", max_consecutive_failures=2)
    sched.open()
    for n in range(4):
        sched.emit("mail", n)
        advance(sched, 60)
    job = sched.get_job("send")
    assert job is not None
    assert (job.paused, job.consecutive_failures) == (True, 2)
    assert [run.outcome for run in sched.history("send")] == [Outcome.FAILURE] * 2


# -- a schedule and an event at one instant -----------------------------------------------


def test_an_event_at_an_instant_of_the_schedule_runs_a_microsecond_later(
    sched: Scheduler,
) -> None:
    trigger = OrTrigger([CronTrigger("0 * * * *", timezone="UTC"), EventTrigger("now")])
    sched.add_job(NOTED, trigger, id="report")
    sched.open()
    sched.emit("now", "before the fire")  # 00:00: the cron fire is due, not yet run
    sched.process_due()
    run_until(sched, T0 + timedelta(hours=1))  # the 01:00 fire runs first this time
    sched.emit("now", "after the fire")
    sched.process_due()
    tick = timedelta(microseconds=1)
    at = {(run[1], run[3]) for run in RUNS}
    assert at == {
        (T0, None),
        (T0 + tick, "before the fire"),
        (T0 + timedelta(hours=1), None),
        (T0 + timedelta(hours=1) + tick, "after the fire"),
    }
    run_ids = [run.run_id for run in sched.history("report")]
    assert len(set(run_ids)) == len(run_ids) == 4
    assert "report@2024-01-01T00:00:00.000001Z#1" in run_ids


def test_an_event_at_the_instant_of_a_first_fire_runs_a_microsecond_later(
    sched: Scheduler,
) -> None:
    sched.add_job(NOTED, EventTrigger("now"), id="j", run_immediately=True)
    sched.open()
    sched.emit("now", "event")  # the immediate run is due at that instant, not yet run
    sched.process_due()
    assert sorted((run[1], run[3]) for run in RUNS if run[3] is not None) == [
        (T0 + timedelta(microseconds=1), "event")
    ]
    assert len({run.run_id for run in sched.history("j")}) == 2


def test_an_event_moved_off_a_fire_never_takes_the_instant_of_a_later_event(
    sched: Scheduler,
) -> None:
    # The first event's run (00:00, a cron fire's instant) moves on to 00:00:00.000001,
    # which emit gives the second event in memory. The second must move on again, even
    # though the first run has ended before it starts.
    trigger = OrTrigger([CronTrigger("0 * * * *", timezone="UTC"), EventTrigger("o")])
    sched.add_job(NOTED, trigger, id="job")
    sched.open()
    first, second = sched.emit("o", 1), sched.emit("o", 2)
    assert first.emitted_at == T0 < second.emitted_at
    sched.process_due()
    sched.run_job_now("job")  # (its instant is free of both events' runs too)
    sched.process_due()
    scheduled = [run[1] for run in RUNS]
    assert len(RUNS) == 4
    assert len(set(scheduled)) == 4, scheduled
    assert sorted(run[3] for run in RUNS if run[3] is not None) == [1, 2]
    run_ids = [run.run_id for run in sched.history("job")]
    assert len(set(run_ids)) == len(run_ids) == 4, run_ids


def test_an_event_run_never_takes_the_instant_of_a_run_job_now(sched: Scheduler) -> None:
    trigger = OrTrigger([CronTrigger("0 * * * *", timezone="UTC"), EventTrigger("o")])
    sched.add_job(NOTED, trigger, id="job")
    sched.open()
    sched.emit("o", "event")  # 00:00, a fire: its run moves on to 00:00:00.000001
    sched.run_job_now("job")  # 00:00:00.000001 is free of events: that is its instant
    sched.process_due()
    run_ids = [run.run_id for run in sched.history("job")]
    assert len(RUNS) == 3
    assert len(set(run_ids)) == len(run_ids) == 3, run_ids


# -- a store's instant for an event (stores/_eventlog.py, rule Apart) ----------------------


@settings(max_examples=300, deadline=None)
@given(
    own=st.integers(min_value=0, max_value=300),
    stored=st.lists(st.integers(min_value=0, max_value=400), max_size=150),
)
def test_a_store_keeps_an_event_at_the_first_instant_apart_from_the_others(
    own: int, stored: list[int]
) -> None:
    # The first instant from the event's own on that is EVENT_GAP from every stored
    # one (some a store of old may hold at one instant), whatever the reads it takes.
    reads: list[tuple[int, int]] = []

    def near(low: int, high: int) -> list[int]:
        reads.append((low, high))
        return [at for at in stored if low <= at <= high][::-1]  # (in no order)

    event = EmittedEvent(id="e" * 32, name="e", payload=None,
                         emitted_at=EPOCH + timedelta(microseconds=own))  # fmt: skip
    expected = next(
        at
        for at in itertools.count(own)
        if all(abs(at - other) >= EVENT_GAP_US for other in stored)
    )
    assert stored_at(event, near) == expected
    if expected == own:
        assert len(reads) == 1


# -- what a payload and a filter hold -----------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        ({1: "a"}, "key 1 is int"),
        ({1: "int key", "1": "str key"}, "key 1 is int"),
        ({None: 1, "null": 2}, "key None is NoneType"),
        ({True: "t"}, "key True is bool"),
        ([{"order": {2.5: "x"}}], "key 2.5 is float"),
    ],
)
def test_a_payload_with_a_key_that_is_not_a_str_is_refused(
    sched: Scheduler, payload: Any, key: str
) -> None:
    sched.add_job(NOTED, EventTrigger("order"), id="j")
    sched.open()
    with pytest.raises(SerializationError, match=f"event 'order': payload .* {key}, not str"):
        sched.emit("order", payload)
    sched.process_due()
    assert RUNS == []


@pytest.mark.parametrize(
    ("wanted", "found", "runs"),
    [
        (True, True, True),
        (True, 1, False),
        (True, 1.0, False),
        (False, 0, False),
        (False, False, True),
        (1, True, False),
        (1, 1.0, True),
        ([True, "yes"], 1, False),
        ([True, "yes"], True, True),
        ({"a": True}, {"a": 1}, False),
        ([[False]], [0], False),
    ],
)
def test_a_mapping_filter_compares_as_json_true_is_not_1(
    sched: Scheduler, wanted: Any, found: Any, runs: bool
) -> None:
    sched.add_job(NOTED, EventTrigger("order", filter={"customer.vip": wanted}), id="vip")
    sched.open()
    sched.emit("order", {"customer": {"vip": found}})
    sched.process_due()
    assert len(RUNS) == int(runs)
