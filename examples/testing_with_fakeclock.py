"""Simulate a week of a weekday cron job in a few milliseconds, with a fake clock.

Run it from the repository root, after ``pip install .``::

    python examples/testing_with_fakeclock.py

This is how tests of code that schedules jobs avoid sleeping: a ``FakeClock`` that
moves only when told, an ``InlineExecutor`` that runs each job in the calling thread,
and ``run_until``, which steps the clock from one due time to the next. The simulated
week spans the night clocks in Berlin spring forward (2024-03-31): the job stays at
09:00 on the wall clock, which is an hour earlier in UTC afterwards. Apart from the
real time taken, the output is the same on every run.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from tickwork import Event, EventKind, Scheduler, current_run
from tickwork.executors import InlineExecutor
from tickwork.testing import FakeClock, run_until

START = datetime(2024, 3, 28, 0, 0, tzinfo=timezone.utc)  # a Thursday


def main() -> None:
    clock = FakeClock(START)
    scheduler = Scheduler(
        clock=clock, executors={"default": InlineExecutor()}, timezone="Europe/Berlin"
    )
    runs: list[str] = []

    def standup_reminder() -> None:
        scheduled = current_run().scheduled_at
        utc = scheduled.astimezone(timezone.utc)
        runs.append(f"{scheduled:%a %Y-%m-%d %H:%M %Z}  ({utc:%H:%M} UTC)")

    events: list[Event] = []
    scheduler.add_listener(events.append, EventKind.JOB_EXECUTED)
    scheduler.add_job(standup_reminder, "cron", "0 9 * * mon-fri", id="standup")
    scheduler.open()  # no background thread: run_until drives it

    started = time.perf_counter()
    steps = run_until(scheduler, START + timedelta(weeks=1))
    elapsed_ms = (time.perf_counter() - started) * 1000

    print("runs of '0 9 * * mon-fri' in Europe/Berlin:")
    for line in runs:
        print("  " + line)
    print(f"{len(events)} runs in {steps} steps; the fake clock is at {clock.now():%Y-%m-%d %H:%M}")
    print(f"a simulated week took {elapsed_ms:.1f} ms of real time")
    scheduler.shutdown()


if __name__ == "__main__":
    main()
