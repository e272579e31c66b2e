"""A scheduler process that dies between sending a run to Celery and recording it.

``python -m tests.executors.send_and_die DB QUEUE NOTES JOB_ID``: adds a job due now to
the SQLite store *DB*, hands its run to Celery (queue *QUEUE*), and exits at once after
the send returns (``os._exit``: no history row, no lease released), as a scheduler
killed at that moment would.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from datetime import datetime, timezone

from celery import Celery

from tickwork import Scheduler
from tickwork.executors import CeleryExecutor, QueuedTask
from tickwork.stores import SQLiteStore

from .queues import REDIS


def main(db: str, queue: str, notes: str, job_id: str) -> None:
    app = Celery("tickwork_tests", broker=REDIS, backend=REDIS)
    executor = CeleryExecutor(app, queue=queue)
    send = executor.enqueuer.send

    def send_and_die(tasks: Sequence[QueuedTask]) -> None:
        send(tasks)
        print("sent", tasks[0].task_id, flush=True)
        os._exit(9)

    executor.enqueuer.send = send_and_die  # type: ignore[method-assign]
    scheduler = Scheduler(
        timezone="UTC", store=SQLiteStore(db, lease_time=1.0), executors={"celery": executor}
    )
    scheduler.add_job(
        "tests.executors.queue_jobs:note_run", "date", run_date=datetime.now(timezone.utc),
        args=[notes], id=job_id, executor="celery",
    )  # fmt: skip
    scheduler.start()
    threading.Event().wait(20)  # the send ends the process
    sys.exit("the run was never sent")


if __name__ == "__main__":
    main(*sys.argv[1:5])
