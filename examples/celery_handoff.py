"""tickwork decides when, Celery workers decide where: runs handed to a Celery worker.

Run it from the repository root, after ``pip install "tickwork[celery]"``, with Redis
at 127.0.0.1:6379 (``TICKWORK_REDIS`` for another)::

    python examples/celery_handoff.py

This file is both sides. The worker side is the module-level ``app`` with
``tickwork.celery.setup(app)`` (the script starts ``celery -A celery_handoff worker``
on it, as you would on your worker machines, and waits until the worker answers a
ping); the scheduler side is ``main()``: a ``Scheduler`` whose ``"celery"`` executor is
a ``CeleryExecutor`` on the same app. For about two seconds a job runs every half
second on the worker; then the run history shows each run, its outcome and where it
ran, and the script exits with status 1 unless every run succeeded on the worker.
Without Celery or a Redis that answers, it says so and exits.
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
#: The worker's node name: the ping that tells it is ready asks this worker only.
NODE = f"{QUEUE}@example"
#: The longest the script waits for its worker to start.
START_LIMIT = 30.0

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
         "-c", "4", "-Q", QUEUE, "-n", NODE, "-l", "warning", "--without-heartbeat",
         "--without-gossip", "--without-mingle"],
        cwd=here, env={**os.environ, "PYTHONPATH": path}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # Runs sent before the worker consumes would wait in the queue (and fires be
        # skipped, once max_instances runs are out): start the schedule once it answers.
        if not wait_ready(worker):
            print(f"the Celery worker did not start within {START_LIMIT:g} s")
            return 1
        return run()
    finally:
        worker.terminate()
        worker.wait(10)


def wait_ready(worker: subprocess.Popen[bytes]) -> bool:
    """Whether the worker answered a ping (it then consumes its queue: a worker
    answers pings once all its parts, task consumer included, have started)."""
    deadline = time.monotonic() + START_LIMIT
    while worker.poll() is None and time.monotonic() < deadline:
        if app.control.ping(destination=[NODE], timeout=0.5):
            return True
    return False


def run() -> int:
    from tickwork import Scheduler
    from tickwork.executors import CeleryExecutor

    scheduler = Scheduler(timezone="UTC", executors={"celery": CeleryExecutor(app, queue=QUEUE)})
    scheduler.add_job(
        "celery_handoff:report", "interval", seconds=0.5, args=["daily report"],
        executor="celery", id="report", misfire_grace_time=30, max_instances=4,
    )  # fmt: skip
    # (max_instances: as many runs out at once as the worker has threads, so that a
    # round trip slower than the interval, on a busy machine, skips no fire.)
    print(f"handing runs to a Celery worker on queue {QUEUE!r} for 2 s...")
    scheduler.start()
    time.sleep(2)
    scheduler.pause()
    scheduler.shutdown(wait=True, timeout=10)  # waits for the outcomes still out
    runs = scheduler.history()
    for run in runs:
        at = f"{run.scheduled_at:%H:%M:%S.%f}"[:-3]
        print(f"  {at}  attempt {run.attempt}  {run.outcome.value}  {run.return_value or ''}")
    here = f" on pid {os.getpid()}"  # (what report() would return, run in this process)
    on_worker = bool(runs) and all(
        run.outcome.value == "success" and not str(run.return_value).endswith(here) for run in runs
    )
    print(f"{len(runs)} runs recorded, ran on a worker process: {on_worker}")
    return 0 if on_worker else 1


if __name__ == "__main__":
    sys.exit(main())
