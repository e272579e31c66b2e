"""A shutdown that waits for running jobs keeps looking after a shared store: the runs
going keep their leases (another process must not run them again), and each run that
ends is recorded, and let go of, when it ends (not when the last one does)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from tickwork import AsyncScheduler, Outcome, Scheduler
from tickwork.stores import SQLiteStore

from .jobs_for_tests import wait_until

STARTS: list[str] = []
GO = {"short": threading.Event(), "long": threading.Event()}


def work(name: str) -> None:
    STARTS.append(name)
    GO[name].wait(5)


@pytest.fixture(autouse=True)
def _fresh() -> None:
    STARTS.clear()
    for event in GO.values():
        event.clear()


def store(path: Path) -> SQLiteStore:
    # Leases that lapse in 1 s unless renewed (30 s by default), a peer polling often.
    # (Renewed every third of it: a loaded machine may hold a renewal up 0.6 s.)
    return SQLiteStore(path, lease_time=1.0, poll_interval=0.1)


def test_a_run_going_through_a_waiting_shutdown_keeps_its_claim(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    leaving = Scheduler(store=store(path), timezone="UTC")
    leaving.start()
    leaving.add_job(f"{__name__}:work", "date", "2000-01-01T00:00:00+00:00", args=["long"],
                    id="long", retry=3)  # fmt: skip
    assert wait_until(lambda: STARTS == ["long"])
    staying = Scheduler(store=store(path), timezone="UTC")
    staying.start()
    stopping = threading.Thread(target=leaving.shutdown, kwargs={"wait": True})
    stopping.start()
    # Three lease times of waiting: without renewal the peer took the run over and ran
    # it again (recording this one interrupted).
    stopping.join(3.0)
    assert stopping.is_alive()
    GO["long"].set()
    stopping.join(5)
    assert not stopping.is_alive()
    staying.shutdown(wait=True)
    assert STARTS == ["long"]
    with SQLiteStore(path) as reader:
        [run] = reader.history("long")
    assert (run.outcome, run.attempt) == (Outcome.SUCCESS, 1)


def test_a_run_that_ends_during_a_waiting_shutdown_is_recorded_at_once(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    scheduler = Scheduler(store=store(path), timezone="UTC")
    scheduler.start()
    for name in ("short", "long"):
        scheduler.add_job(f"{__name__}:work", "date", "2000-01-01T00:00:00+00:00",
                          args=[name], id=name)  # fmt: skip
    assert wait_until(lambda: sorted(STARTS) == ["long", "short"])
    stopping = threading.Thread(target=scheduler.shutdown, kwargs={"wait": True})
    stopping.start()
    GO["short"].set()
    with SQLiteStore(path) as reader:  # another process's view of the file
        assert wait_until(lambda: [run.job_id for run in reader.history()] == ["short"])
        assert stopping.is_alive()  # (the long run still holds the shutdown)
        GO["long"].set()
        stopping.join(5)
        assert not stopping.is_alive()
        assert sorted(run.job_id for run in reader.history()) == ["long", "short"]


async def awork(name: str) -> None:
    STARTS.append(name)
    while not GO[name].is_set():
        await asyncio.sleep(0.01)


def test_an_asyncio_run_going_through_a_waiting_shutdown_keeps_its_claim(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.db"
    staying = Scheduler(store=store(path), timezone="UTC")

    async def main() -> None:
        leaving = AsyncScheduler(store=store(path), timezone="UTC")
        await leaving.start()
        await leaving.add_job(f"{__name__}:awork", "date", "2000-01-01T00:00:00+00:00",
                              args=["long"], id="along", retry=3)  # fmt: skip
        while STARTS != ["long"]:
            await asyncio.sleep(0.01)
        staying.start()
        stopping = asyncio.ensure_future(leaving.shutdown(wait=True))
        await asyncio.sleep(3.0)  # three lease times
        assert not stopping.done()
        GO["long"].set()
        await asyncio.wait_for(stopping, 5)

    asyncio.run(main())
    staying.shutdown(wait=True)
    assert STARTS == ["long"]
    with SQLiteStore(path) as reader:
        [run] = reader.history("along")
    assert (run.outcome, run.attempt) == (Outcome.SUCCESS, 1)
