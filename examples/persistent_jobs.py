"""Jobs kept in a SQLite file: they survive a restart, and two processes share them.

Run it from the repository root, after ``pip install .``::

    python examples/persistent_jobs.py

In a temporary directory it (1) runs two jobs on ``jobs.db`` for a second (a lambda
is refused: it cannot be stored); (2) after half a second down, starts again on the
file and declares the same jobs, which keep their stored next fire times; (3) runs a
second process on the file (this script with ``--worker``, declaring nothing) for two
seconds, and checks in the run history that each fire ran once, in one process.

Jobs are stored by reference: ``tick`` is stored as ``"__main__:tick"``, which any
process running *this script* can import. In an application, keep jobs in a module
(``"myapp.jobs:tick"``) that every process can import. Times printed are real ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from tickwork import EventKind, Scheduler, SerializationError, current_run
from tickwork.stores import SQLiteStore


def tick() -> str:
    return f"tick for {current_run().scheduled_at:%H:%M:%S.%f}"[:-3]


def greet() -> str:
    return "hello"


def open_scheduler(path: Path) -> Scheduler:
    # poll_interval: how soon a process sees the others' changes (default 1 s).
    return Scheduler(store=SQLiteStore(path, poll_interval=0.2), timezone="UTC")


def declare_jobs(scheduler: Scheduler) -> None:
    """What the program does at every start: fixed ids and replace_existing make it
    idempotent (a job already in the file keeps its schedule)."""
    scheduler.add_jobs(  # one transaction; each item holds the arguments of one add_job
        {**job, "replace_existing": True}
        for job in [
            {"func": tick, "trigger": "interval", "seconds": 0.25, "id": "tick"},
            {"func": greet, "trigger": "cron", "expression": "* * * * * *", "id": "greet"},
        ]
    )


def worker(path: Path) -> None:
    """The second process: a scheduler on the same file, its jobs read from it."""
    with open_scheduler(path):
        time.sleep(2)


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "jobs.db"

        print("1. first start")
        scheduler = open_scheduler(path)
        scheduler.add_listener(
            lambda event: print(f"  {event.job_id:<5} returned {event.return_value!r}"),
            EventKind.JOB_EXECUTED,
        )
        try:
            scheduler.add_job(lambda: None, "interval", seconds=1, id="anonymous")
        except SerializationError as error:
            print(f"  refused: {str(error).split('. ')[0]}")
        declare_jobs(scheduler)
        scheduler.start()
        time.sleep(1)
        scheduler.shutdown()
        stored = {job.id: job.next_fire for job in scheduler.get_jobs()}

        time.sleep(0.5)  # down: fires of "tick" go by, to be caught up at the restart
        print("2. restart on the same file")
        scheduler = open_scheduler(path)
        declare_jobs(scheduler)
        for job in scheduler.get_jobs():
            kept = job.next_fire == stored[job.id]
            print(f"  {job.id:<5} {job.func_ref:<14} next fire kept from the file: {kept}")
        scheduler.start()

        print("3. a second process on the same file")
        since = time.time()
        command = [sys.executable, *(f"-W{w}" for w in sys.warnoptions), __file__]
        worker_process = subprocess.Popen([*command, "--worker", str(path)])
        if worker_process.wait(timeout=30) != 0:
            raise SystemExit(f"the worker failed with exit code {worker_process.returncode}")
        scheduler.shutdown()

        history = scheduler.history(limit=1000)  # newest first, from every process
        ticks = [
            run
            for run in history
            if run.job_id == "tick" and run.started_at and run.started_at.timestamp() > since
        ]
        per_fire = Counter(run.scheduled_at for run in ticks)
        print(f"  {len(per_fire)} fires of 'tick', each ran once: {set(per_fire.values()) == {1}}")
        by_pid = Counter(run.process.rpartition(":")[2] for run in ticks)  # "host:pid"
        mine, theirs = by_pid[str(os.getpid())], by_pid[str(worker_process.pid)]
        print(f"  of those, this process ran {mine} and the worker {theirs}")
        print(f"  whole history: {dict(Counter(run.outcome.value for run in history))}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(Path(sys.argv[2]))
    else:
        main()
