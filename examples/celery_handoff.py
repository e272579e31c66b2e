"""tickwork decides when, Celery workers decide where: runs handed to a Celery worker.

Run it from the repository root, after ``pip install "tickwork[celery]"``, with Redis
at 127.0.0.1:6379 (``TICKWORK_REDIS`` for another)::

    python examples/celery_handoff.py

This file is both sides. The worker side is the module-level ``app`` with
``tickwork.celery.setup(app)`` (the script starts ``celery -A celery_handoff worker``
on it, as you would on your worker machines); the scheduler side is ``main()``: a
``Scheduler`` whose ``"celery"`` executor is a ``CeleryExecutor`` on the same app. For
about two seconds a job runs every half second on the worker; then the run history
shows each run, its outcome and where it ran. Without Celery or a Redis that answers,
it says so and exits.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

REDIS = os.environ.get("TICKWORK_REDIS", "redis://127.0.0.1:6379/9")
QUEUE = f"tickwork-example-{os.getpid()}"

try:
    from celery import Celery

    import tickwork.celery
except ImportError:  # the scheduler side says so in main()
    Celery = None
else:
    app = Celery("example", broker=REDIS, backend=REDIS)
    app.conf.worker_hijack_root_logger = False
    tickwork.celery.setup(app)


def report(name: str) -> str:
    """The job: runs on a worker, which imports it as ``celery_handoff:report``."""
    from tickwork import current_run

    return f"{name} for {current_run().scheduled_at:%H:%M:%S.%f}"[:-3] + f" on pid {os.getpid()}"


def redis_answers() -> bool:
    where = urlparse(REDIS)
    try:
        with socket.create_connection((where.hostname or "127.0.0.1", where.port or 6379), 1):
            return True
    except OSError:
        return False


def main() -> int:
    if Celery is None:
        print('skipped: Celery is not installed (pip install "tickwork[celery]")')
        return 0
    if not redis_answers():
        print(f"skipped: no Redis answers at {REDIS}")
        return 0
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))  # the scheduler checks the reference imports, too
    # The worker imports the same tickwork as this process (and this file, from here).
    source = str(Path(tickwork.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_handoff", "worker", "-P", "threads",
         "-c", "4", "-Q", QUEUE, "-l", "warning", "--without-heartbeat", "--without-gossip",
         "--without-mingle"],
        cwd=here, env={**os.environ, "PYTHONPATH": path}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        return run()
    finally:
        worker.terminate()
        worker.wait(10)


def run() -> int:
    from tickwork import Scheduler
    from tickwork.executors import CeleryExecutor

    scheduler = Scheduler(timezone="UTC", executors={"celery": CeleryExecutor(app, queue=QUEUE)})
    scheduler.add_job(
        "celery_handoff:report", "interval", seconds=0.5, args=["daily report"],
        executor="celery", id="report", misfire_grace_time=30,
    )  # fmt: skip
    print(f"handing runs to a Celery worker on queue {QUEUE!r} for 2 s...")
    scheduler.start()
    time.sleep(2)
    scheduler.pause()
    scheduler.shutdown(wait=True, timeout=10)  # waits for the outcomes still out
    runs = scheduler.history()
    for run in runs:
        at = f"{run.scheduled_at:%H:%M:%S.%f}"[:-3]
        print(f"  {at}  attempt {run.attempt}  {run.outcome.value}")
    print(f"{len(runs)} runs recorded, ran on a worker process: "
          f"{all(run.outcome.value == 'success' for run in runs)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
