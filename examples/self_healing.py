"""A job that fails, a failure handler that repairs, and a retry that then succeeds.

Run it from the repository root, after ``pip install .``::

    python examples/self_healing.py

``sync`` takes the files out of an inbox directory every hour; someone deletes the
inbox at 00:30, so the 01:00 run fails. Its ``on_failure`` handler (a job that runs after ``sync``
fails for good, and is told how: ``current_run().upstream``) creates the directory
again and runs ``sync`` once more for the same hour with ``backfill``, so the retry
keeps the failed run's nominal time (its idempotency key). A scheduler-wide hook
(``scheduler.on_failure``) raises the alert meanwhile. The run history links the runs:
the handler's run names the failed one as its parent. It runs on a fake clock, so the
output is the same every time.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from tickwork import Event, Scheduler, current_run
from tickwork.executors import InlineExecutor
from tickwork.testing import FakeClock, run_until

START = datetime(2024, 6, 3, tzinfo=timezone.utc)


def main() -> None:
    work = Path(tempfile.mkdtemp())
    inbox = work / "inbox"
    inbox.mkdir()
    (inbox / "order-1.json").write_text("{}")
    clock = FakeClock(START)
    scheduler = Scheduler(clock=clock, executors={"default": InlineExecutor()}, timezone="UTC")

    def sync() -> int:
        """Move the inbox's files along; fails when the inbox is missing."""
        files = sorted(inbox.iterdir())  # FileNotFoundError without the inbox
        for path in files:
            path.unlink()
        print(f"  {current_run().run_id}: synced {len(files)} file(s)")
        return len(files)

    def repair() -> None:
        """Runs after sync failed: mend what broke, then retry the same hour."""
        failed = current_run().upstream["sync"]
        print(f"  repair after {failed.run_id}: {failed.error.split(':')[0]}")
        inbox.mkdir(exist_ok=True)
        slot = current_run().scheduled_at
        scheduler.backfill("sync", slot, slot)  # the retry keeps the failed run's time

    @scheduler.on_failure
    def alert(event: Event) -> None:
        error = type(event.exception).__name__
        print(f"  ALERT: {event.job_id} failed at {event.scheduled_at:%H:%M} ({error})")

    scheduler.add_job(sync, "cron", "0 * * * *", id="sync", on_failure=repair)
    scheduler.open()
    run_until(scheduler, START.replace(minute=30))
    print("00:30: the inbox is deleted")
    shutil.rmtree(inbox)
    run_until(scheduler, START.replace(hour=2))
    print("history, oldest first:")
    for run in reversed(scheduler.history()):
        parents = f" <- {', '.join(run.parent_ids)}" if run.parent_ids else ""
        print(f"  {run.run_id} {run.outcome.value}{parents}")
    scheduler.shutdown()
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
