"""A job store of one's own that breaks the contract gets an error naming it and what
it got wrong, where the engine takes its answer (``_storecheck``), not an error deep in
the engine or fires silently skipped (a probe's findings: a claim answered ``True``
skipped every fire as "True run(s) in progress in other processes"; an answer list one
short looped on ``zip()``; a naive next fire crashed ``start()`` with a bare
``TypeError``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from tickwork import EventKind, Scheduler, StoreError
from tickwork.executors import InlineExecutor
from tickwork.stores import MemoryStore, SQLiteStore
from tickwork.testing import FakeClock, run_until

from .jobs_for_tests import T0

RAN: list[datetime] = []


def ran() -> None:
    RAN.append(T0)


class Answering(MemoryStore):
    """A store of one's own (a MemoryStore's behaviour, but not tickwork's module)
    whose claims answer *answer(claims)*."""

    def __init__(self, answer: Any) -> None:
        super().__init__()
        self.answer = answer

    def claim_fires(self, claims: Sequence[Any], *, now: datetime) -> list[int | None]:
        super().claim_fires(claims, now=now)
        return self.answer(claims)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda claims: [True] * len(claims), "answered True for claim 0 (job 'j')"),
        (lambda claims: ["0"] * len(claims), "answered '0'"),
        (lambda claims: [-1] * len(claims), "answered -1"),
        (lambda claims: [0] * (len(claims) - 1), "1 claims, got 0"),
        (lambda claims: None, "1 claims, got NoneType"),
    ],
)
def test_a_claim_answer_that_breaks_the_contract_is_a_store_error_naming_the_store(
    answer: Any, words: str
) -> None:
    clock = FakeClock(T0)
    scheduler = Scheduler(
        store=Answering(answer), clock=clock, executors={"default": InlineExecutor()}
    )
    errors: list[Any] = []
    skipped: list[Any] = []
    scheduler.add_listener(errors.append, EventKind.STORE_ERROR)
    scheduler.add_listener(skipped.append, EventKind.JOB_SKIPPED)
    RAN.clear()
    scheduler.add_job(ran, "interval", seconds=10, id="j")
    scheduler.open()
    run_until(scheduler, T0 + timedelta(seconds=10))
    assert RAN == []  # nothing ran on a claim nobody can read
    assert skipped == []  # nor was it called skipped
    (event,) = errors
    assert isinstance(event.exception, StoreError)
    assert "Answering.claim_fires" in str(event.exception)
    assert words in str(event.exception)
    scheduler.shutdown()


@pytest.mark.parametrize("kind", [list, tuple])
def test_an_answer_that_keeps_the_contract_runs_the_job(kind: type) -> None:
    clock = FakeClock(T0)
    store = Answering(lambda claims: kind([0] * len(claims)))
    scheduler = Scheduler(store=store, clock=clock, executors={"default": InlineExecutor()})
    RAN.clear()
    scheduler.add_job(ran, "interval", seconds=10, id="j")
    scheduler.open()
    run_until(scheduler, T0 + timedelta(seconds=20))
    assert len(RAN) == 2
    scheduler.shutdown()


class Naive(MemoryStore):
    """Gives jobs back with their next fire time made naive (a store that kept the
    wall time and dropped the zone)."""

    def load_jobs(self) -> list[Any]:
        from tickwork._model import evolve

        return [
            evolve(job, next_fire=job.next_fire.replace(tzinfo=None))  # type: ignore[union-attr]
            for job in super().load_jobs()
        ]


def test_a_naive_next_fire_from_a_store_is_a_store_error_at_start_naming_it() -> None:
    store = Naive()
    writer = Scheduler(store=store, clock=FakeClock(T0))
    writer.add_job(ran, "interval", seconds=10, id="j")  # (stored; not started)
    reader = Scheduler(store=store, clock=FakeClock(T0))
    with pytest.raises(StoreError, match=r"Naive.load_jobs returned job 'j' with next_fire="):
        reader.open()


@pytest.mark.parametrize("store", [SQLiteStore, MemoryStore])
def test_a_store_class_instead_of_a_store_is_refused_at_once(store: type) -> None:
    with pytest.raises(TypeError, match=f"got the class {store.__name__}"):
        Scheduler(store=store)


class FailingOnce(MemoryStore):
    """A store of one's own (not shared by processes) whose next *fail* writes of run
    results fail, as a full disk's would."""

    fail = 0

    def record_runs(self, runs: Sequence[Any], *, now: datetime) -> Any:
        if self.fail:
            self.fail -= 1
            raise StoreError("disk full (test)")
        return super().record_runs(runs, now=now)


def test_a_store_of_ones_own_that_failed_once_is_tried_again_and_dispatch_goes_on() -> None:
    # Only a shared store's upkeep marked a failing store as answering again: one that
    # no process shares stopped every run for good, and run_until never returned.
    clock = FakeClock(T0)
    store = FailingOnce()
    scheduler = Scheduler(store=store, clock=clock, executors={"default": InlineExecutor()})
    errors: list[Any] = []
    scheduler.add_listener(errors.append, EventKind.STORE_ERROR)
    RAN.clear()
    scheduler.add_job(ran, "interval", seconds=10, id="j")
    scheduler.open()
    run_until(scheduler, T0 + timedelta(seconds=10))
    store.fail = 1
    run_until(scheduler, T0 + timedelta(seconds=50))
    assert len(RAN) == 5  # every fire, the one whose result was not written among them
    assert len(errors) == 1
    assert len(scheduler.history("j")) == 5  # that result written once the store answered
    scheduler.shutdown()
