"""Log records about a run carry ``job_id``, ``scheduled_at``, ``attempt`` and ``run_id``
as attributes (``extra``), the same run id ``current_run().run_id`` gives the job itself.

A capturing handler on the ``tickwork`` logger collects the records; the runs are driven
by a fake clock (and, for the thread executor, waited for with an event).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tickwork import RetryPolicy, Scheduler, current_run
from tickwork.executors import InlineExecutor, ThreadExecutor
from tickwork.stores import SQLiteStore
from tickwork.stores._contract import make_job
from tickwork.stores._shared_contract import claim_run
from tickwork.testing import FakeClock, run_until

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2024, 3, 4, 8, tzinfo=UTC)  # 09:00 in Berlin
FIELDS = ("job_id", "scheduled_at", "attempt", "run_id")

seen_run_ids: list[str] = []
thread_done = threading.Event()


def fails() -> None:
    seen_run_ids.append(current_run().run_id)
    raise ValueError("no")


def fails_in_a_thread() -> None:
    try:
        seen_run_ids.append(current_run().run_id)
        raise ValueError("no")
    finally:
        thread_done.set()


class Odd(BaseException):
    """Neither an Exception nor an exit: the executor logs it itself."""


def exits() -> None:
    raise Odd


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def about(self, job_id: str) -> list[logging.LogRecord]:
        return [r for r in self.records if getattr(r, "job_id", None) == job_id]


@pytest.fixture
def capture() -> Iterator[Capture]:
    seen_run_ids.clear()
    handler = Capture()
    logger = logging.getLogger("tickwork")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def fields(record: logging.LogRecord) -> tuple[object, ...]:
    return tuple(getattr(record, name) for name in FIELDS)


def test_a_failed_run_is_logged_with_its_fields_and_run_id(capture: Capture) -> None:
    clock = FakeClock(T0)
    runner = Scheduler(clock=clock, executors={"default": InlineExecutor()}, timezone="UTC")
    runner.add_job(fails, "cron", "0 9 * * *", timezone=BERLIN, id="report",
                   retry=RetryPolicy(attempts=2, delay=1.0, jitter=0))  # fmt: skip
    runner.open()
    run_until(runner, T0 + timedelta(seconds=5))
    records = capture.about("report")
    nominal = datetime(2024, 3, 4, 9, tzinfo=BERLIN)
    assert [fields(record) for record in records] == [
        ("report", nominal.isoformat(), 1, "report@2024-03-04T08:00:00Z#1"),
        ("report", nominal.isoformat(), 2, "report@2024-03-04T08:00:00Z#2"),
    ]
    assert [record.levelno for record in records] == [logging.ERROR] * 2
    # The job saw the same ids from current_run().
    assert seen_run_ids == [record.run_id for record in records]  # type: ignore[attr-defined]
    runner.shutdown()


def test_a_run_failing_in_a_worker_thread_is_logged_with_its_fields(capture: Capture) -> None:
    thread_done.clear()
    clock = FakeClock(T0)
    runner = Scheduler(clock=clock, executors={"default": ThreadExecutor(1)}, timezone="UTC")
    runner.add_job(fails_in_a_thread, "date", run_date=T0, id="threaded", retry=None)
    runner.start()
    try:
        assert thread_done.wait(5)
        deadline = threading.Event()
        for _ in range(200):  # the result reaches the scheduler's thread soon after
            if capture.about("threaded"):
                break
            deadline.wait(0.01)
    finally:
        runner.shutdown()
    [record] = capture.about("threaded")
    assert fields(record) == ("threaded", T0.isoformat(), 1, "threaded@2024-03-04T08:00:00Z#1")
    assert seen_run_ids == ["threaded@2024-03-04T08:00:00Z#1"]


def test_an_executor_logs_a_run_that_raised_a_base_exception_with_its_fields(
    capture: Capture,
) -> None:
    clock = FakeClock(T0)
    runner = Scheduler(clock=clock, executors={"default": InlineExecutor()}, timezone="UTC")
    runner.add_job(exits, "date", run_date=T0, id="exits", retry=None)
    runner.open()
    run_until(runner, T0 + timedelta(seconds=1))
    records = capture.about("exits")
    assert records[0].getMessage().startswith("tickwork: job 'exits' raised Odd;")
    assert len(records) == 2  # the executor's line, then the failure's
    assert {fields(record) for record in records} == {
        ("exits", T0.isoformat(), 1, "exits@2024-03-04T08:00:00Z#1")
    }
    runner.shutdown()


def test_a_run_taken_over_from_a_dead_process_is_logged_with_its_fields(
    capture: Capture, tmp_path: Path
) -> None:
    path = tmp_path / "jobs.db"
    dead = SQLiteStore(path, lease_time=9)
    dead.add_job(make_job("a", next_fire=T0))
    assert claim_run(dead, T0) == 0
    dead._leases.clear()  # (closing it releases nothing: a crash)
    clock = FakeClock(T0)
    runner = Scheduler(store=SQLiteStore(path, lease_time=9), clock=clock,
                       executors={"default": InlineExecutor()}, timezone="UTC")  # fmt: skip
    runner.open()
    clock.advance(timedelta(seconds=10))
    runner.process_due()
    [record] = capture.about("a")
    assert record.levelno == logging.WARNING
    assert "cut off" in record.getMessage()
    assert fields(record) == ("a", T0.isoformat(), 1, "a@2024-03-04T08:00:00Z#1")
    runner.shutdown()
    dead.close()


def test_the_run_id_is_the_same_whatever_zone_names_the_fire_time() -> None:
    from tickwork._model import RunContext

    in_berlin = RunContext("j", datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=BERLIN), 2)
    in_utc = RunContext("j", datetime(2024, 10, 27, 1, 30, tzinfo=UTC), 2)
    assert in_berlin.run_id == in_utc.run_id == "j@2024-10-27T01:30:00Z#2"
    with_micros = RunContext("j", datetime(2024, 1, 1, 0, 0, 0, 5, tzinfo=UTC), 1)
    assert with_micros.run_id == "j@2024-01-01T00:00:00.000005Z#1"


def test_a_trigger_that_raises_is_logged_with_the_fire_it_could_not_plan(
    capture: Capture,
) -> None:
    from tests.test_trigger_errors import Flaky

    clock = FakeClock(T0)
    runner = Scheduler(clock=clock, executors={"default": InlineExecutor()}, timezone="UTC")
    runner.add_job(print, Flaky(1), id="flaky")  # its first fire: now, 08:00 UTC
    runner.open()
    run_until(runner, T0 + timedelta(hours=2))
    [record] = capture.about("flaky")
    assert "the job is paused" in record.getMessage()
    # The fire at 08:00 could not be planned (the trigger raised for the one after it).
    assert "after 2024-03-04T08:00:00+00:00" in record.getMessage()
    assert fields(record) == ("flaky", T0.isoformat(), None, None)  # a fire, no attempt
    runner.shutdown()


class Refusing(InlineExecutor):
    def submit_many(self, requests: object) -> None:
        raise RuntimeError("the queue is full")


def test_an_executor_refusing_one_run_is_logged_with_its_fields(capture: Capture) -> None:
    clock = FakeClock(T0)
    runner = Scheduler(clock=clock, executors={"default": Refusing()}, timezone="UTC")
    runner.add_job(print, "date", run_date=T0, id="refused")
    runner.open()
    run_until(runner, T0)
    [record] = capture.about("refused")
    assert "refused 1 run(s)" in record.getMessage()
    assert fields(record) == ("refused", T0.isoformat(), 1, "refused@2024-03-04T08:00:00Z#1")
    runner.shutdown()
