"""A plain script with a background scheduler: a cron job, two interval jobs, a listener.

Run it from the repository root, after ``pip install .``::

    python examples/basic_script.py

It runs for about three seconds of real time, then shuts the scheduler down and
prints a summary. The times printed are the real ones, so they differ on every run.
"""

from __future__ import annotations

import logging
import threading
import time

from tickwork import Event, EventKind, Scheduler, current_run

counter_lock = threading.Lock()
counts: dict[str, int] = {"heartbeat": 0, "cleanup": 0}


def heartbeat() -> str:
    """Every second, on the second (a cron expression with a seconds field)."""
    with counter_lock:
        counts["heartbeat"] += 1
    return f"alive at {current_run().scheduled_at:%H:%M:%S}"


def cleanup(directory: str) -> int:
    """Every 0.7 seconds; pretends to delete files and returns how many."""
    with counter_lock:
        counts["cleanup"] += 1
        return counts["cleanup"] % 3


def flaky() -> None:
    """Fails every time: the listener reports it, and the scheduler carries on."""
    raise RuntimeError("the service said no")


def on_event(event: Event) -> None:
    """Print what happens. Listeners run in the scheduler's thread: keep them quick."""
    stamp = f"{event.at:%H:%M:%S.%f}"[:-3]
    if event.kind is EventKind.JOB_EXECUTED:
        print(f"{stamp}  {event.job_id:<9} returned {event.return_value!r}")
    elif event.kind is EventKind.JOB_FAILED:
        print(f"{stamp}  {event.job_id:<9} failed: {event.exception!r}")
    else:
        print(f"{stamp}  {event.kind.name}")


def main() -> None:
    scheduler = Scheduler(timezone="UTC")
    scheduler.add_listener(
        on_event,
        EventKind.JOB_EXECUTED | EventKind.JOB_FAILED | EventKind.SCHEDULER_ALL,
    )
    scheduler.add_job(heartbeat, "cron", "* * * * * *", id="heartbeat")
    scheduler.add_job(cleanup, "interval", seconds=0.7, args=["/tmp/cache"], id="cleanup")
    scheduler.add_job(flaky, "interval", seconds=1.5, id="flaky")

    # Failures are also logged, with tracebacks, on the "tickwork" logger; a script with
    # no logging configuration shows them on stderr. The listener reports them here.
    logging.getLogger("tickwork").setLevel(logging.CRITICAL)

    scheduler.start()
    for job in scheduler.get_jobs():
        print(f"{job.id:<9} next fire {job.next_fire:%H:%M:%S.%f}"[:-3])
    time.sleep(3.2)
    scheduler.shutdown(wait=True)  # waits for running jobs, then stops the executors
    print(f"runs: {counts}")


if __name__ == "__main__":
    main()
