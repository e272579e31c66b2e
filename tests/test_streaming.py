"""A backlog is streamed: each dispatch step plans, claims and submits one chunk.

With 100,000 runs due at once, the first must not wait for all of them to be planned:
a step takes at most a chunk (``CHUNK_FIRST`` runs, doubling up to ``CHUNK_MAX`` while
the backlog lasts), submits it, and returns "now" so that the driver steps again at
once. ``process_due()`` still dispatches everything due. The chunk sizes are made small
here so that the tests stay quick.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

import pytest

from tickwork import EventKind, Scheduler
from tickwork import _machine as machine_module
from tickwork._model import RunRequest
from tickwork.executors import InlineExecutor
from tickwork.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2024, 1, 1, tzinfo=UTC)
DUE = T0 + timedelta(seconds=10)


class Counting(InlineExecutor):
    """Runs inline, and counts the runs of each submit_many call (one per step)."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.order: list[str] = []

    def submit_many(self, requests: Iterable[RunRequest]) -> None:
        batch = list(requests)
        self.batches.append(len(batch))
        self.order += [request.job_id for request in batch]
        super().submit_many(batch)


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine_module, "CHUNK_FIRST", 4)
    monkeypatch.setattr(machine_module, "CHUNK_MAX", 16)


def backlog(count: int) -> tuple[Scheduler, FakeClock, Counting]:
    clock = FakeClock(T0)
    runner = Counting()
    scheduler = Scheduler(clock=clock, executors={"default": runner}, timezone="UTC")
    for n in range(count):
        scheduler.add_job(noop, "date", run_date=DUE, id=f"job-{n:03}")
    scheduler.open()
    clock.set(DUE)
    return scheduler, clock, runner


def noop() -> None:
    pass


def test_a_step_dispatches_one_chunk_and_asks_to_step_again_at_once() -> None:
    scheduler, clock, runner = backlog(50)
    engine = scheduler.engine
    upcoming = engine.step()
    assert runner.batches == [4]  # the first chunk only
    assert engine.backlog
    assert upcoming is not None
    assert upcoming <= clock.now()
    steps = 1
    while engine.backlog:
        engine.step()
        steps += 1
    # Chunks double while the backlog lasts, up to the most a step takes.
    assert runner.batches == [4, 8, 16, 16, 6]
    assert steps == 5
    assert sorted(runner.order) == [f"job-{n:03}" for n in range(50)]
    assert scheduler.get_jobs() == []  # every one-shot job ran and is done
    scheduler.shutdown()


def test_chunks_start_small_again_after_a_backlog() -> None:
    scheduler, clock, runner = backlog(10)
    scheduler.process_due()
    assert runner.batches == [4, 6]
    scheduler.add_job(noop, "date", run_date=DUE + timedelta(seconds=1), id="next")
    scheduler.add_job(noop, "date", run_date=DUE + timedelta(seconds=1), id="after")
    clock.set(DUE + timedelta(seconds=1))
    scheduler.process_due()
    assert runner.batches == [4, 6, 2]
    scheduler.shutdown()


def test_process_due_dispatches_the_whole_backlog() -> None:
    scheduler, _clock, runner = backlog(37)
    upcoming = scheduler.process_due()
    assert sum(runner.batches) == 37
    assert len(runner.batches) > 1
    assert not scheduler.engine.backlog
    assert upcoming is None  # nothing left to fire
    scheduler.shutdown()


def test_runs_of_a_backlog_start_in_due_order_across_chunks() -> None:
    clock = FakeClock(T0)
    runner = Counting()
    scheduler = Scheduler(clock=clock, executors={"default": runner}, timezone="UTC")
    # Due one second apart, added in reverse: the backlog runs oldest first.
    for n in reversed(range(30)):
        scheduler.add_job(noop, "date", run_date=T0 + timedelta(seconds=n + 1), id=f"job-{n:03}")
    scheduler.open()
    clock.set(T0 + timedelta(minutes=1))
    scheduler.process_due()
    assert runner.order == [f"job-{n:03}" for n in range(30)]
    scheduler.shutdown()


def test_a_call_from_another_thread_gets_in_between_chunks() -> None:
    # The lock is let go between chunks: what a listener (or any thread) does between
    # two steps takes effect before the rest of the backlog is dispatched.
    scheduler, _clock, runner = backlog(20)
    removed: list[str] = []

    def remove_the_last(event: object) -> None:
        if not removed:
            removed.append("job-019")
            scheduler.remove_job("job-019")

    scheduler.add_listener(remove_the_last, EventKind.JOB_EXECUTED)
    scheduler.process_due()
    assert "job-019" not in runner.order
    assert len(runner.order) == 19
    scheduler.shutdown()


def test_the_driver_lets_workers_in_once_per_backlog(monkeypatch: pytest.MonkeyPatch) -> None:
    # After a backlog's first chunk is submitted, the scheduler thread lets go of the
    # GIL for a moment (the workers would otherwise wait out its 5 ms switch interval
    # before the first run); once per backlog, not once per chunk.
    import threading
    import types

    from tickwork import scheduler as scheduler_module

    hand_overs: list[float] = []
    real = scheduler_module.time
    fake = types.SimpleNamespace(
        monotonic=real.monotonic,
        sleep=lambda s: hand_overs.append(s) if s == scheduler_module._HAND_OVER else real.sleep(s),
    )
    monkeypatch.setattr(scheduler_module, "time", fake)
    clock = FakeClock(T0)
    ran = threading.Event()
    runs: list[int] = []

    def count() -> None:
        runs.append(1)
        if len(runs) == 20:
            ran.set()

    scheduler = Scheduler(clock=clock, executors={"default": InlineExecutor()}, timezone="UTC")
    for n in range(20):  # 4 + 8 + 8: three chunks
        scheduler.add_job(count, "date", run_date=DUE, id=f"job-{n:03}")
    scheduler.start()
    try:
        clock.set(DUE)
        assert ran.wait(5), f"{len(runs)} of 20 runs"
    finally:
        scheduler.shutdown()
    assert hand_overs == [scheduler_module._HAND_OVER]
