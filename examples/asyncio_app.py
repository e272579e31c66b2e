"""An asyncio program with an AsyncScheduler: coroutine jobs, a plain job, a timeout.

Run it from the repository root, after ``pip install .``::

    python examples/asyncio_app.py

Coroutine functions run as tasks on the program's own event loop (so they can share
its clients and connections); plain functions run in worker threads, so they never
block the loop. A coroutine job that overruns its ``timeout`` is cancelled. The
program runs for about three seconds of real time; the times printed are the real
ones.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from tickwork import AsyncScheduler, Event, EventKind, current_run

prices: dict[str, float] = {}


async def fetch_price(symbol: str) -> float:
    """A coroutine job: pretends to call an API, then updates shared state."""
    await asyncio.sleep(0.05)
    price = 100 + 0.25 * (current_run().scheduled_at.second % 10)
    prices[symbol] = price
    return price


async def slow_report() -> str:
    """A coroutine job that takes longer than its timeout allows: it is cancelled."""
    await asyncio.sleep(5)
    return "never gets here"


def compress_logs() -> str:
    """A plain function: it runs in a worker thread, not on the event loop."""
    time.sleep(0.1)  # blocking is fine here
    return f"compressed in {threading.current_thread().name}"


def on_event(event: Event) -> None:
    stamp = f"{event.at:%H:%M:%S.%f}"[:-3]
    if event.kind is EventKind.JOB_EXECUTED:
        print(f"{stamp}  {event.job_id:<12} -> {event.return_value!r}")
    else:
        print(f"{stamp}  {event.job_id:<12} {event.kind.name}: {event.exception}")


async def main() -> None:
    # Failures are logged on the "tickwork" logger too; the listener reports them here.
    logging.getLogger("tickwork").setLevel(logging.CRITICAL)

    async with AsyncScheduler(timezone="UTC") as scheduler:  # start() ... shutdown()
        scheduler.add_listener(on_event, EventKind.JOB_EXECUTED | EventKind.JOB_FAILED)
        await scheduler.add_job(fetch_price, "interval", seconds=1, args=["ACME"], id="price")
        await scheduler.add_job(slow_report, "interval", seconds=2, id="slow-report", timeout=0.5)
        await scheduler.add_job(compress_logs, "cron", "*/2 * * * * *", id="compress")
        for job in await scheduler.get_jobs():
            print(f"{job.id:<12} runs on the {job.executor!r} executor")

        # The rest of the application would run here; this demo just waits.
        await asyncio.sleep(3.2)
        print(f"latest prices: {prices}")
    print("scheduler shut down; the loop is still ours:", asyncio.get_running_loop().is_running())


if __name__ == "__main__":
    asyncio.run(main())
