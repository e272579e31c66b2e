"""Worker processes for ``test_sqlite_processes.py``, and the job functions they run.

Run as ``python -m tests.stores.process_workers MODE CONFIG_JSON`` from the repository
root, with ``src`` and the root on ``PYTHONPATH``. Jobs name their functions by
reference (``"tests.stores.process_workers:<name>"``), so every process, the test's
own included, imports the same ones. A job writes each run as one line to a log file
of its process (one ``os.write`` of an ``O_APPEND`` file, so lines never interleave)::

    <job id> <scheduled_at ISO> <attempt> <pid> <wall-clock start, epoch seconds>

Modes:

``serve``
    Run a ``Scheduler`` on the file until the stop file appears, then shut down
    (waiting for running jobs) and exit 0. ``config["jobs"]`` (optional) names a job
    set of :data:`JOB_SETS` to add first, as every process of an application does at
    start-up (the sets meant for several processes use ``replace_existing=True``).
``describe``
    A process starting up on the file, as JSON to ``config["out"]``: the jobs stored
    (``"stored"``), the same after adding the named job set with
    ``replace_existing=True`` (``"again"``), and the jobs its scheduler loads when it
    opens (``"loaded"``).
``simulate``
    A scheduler on a ``FakeClock`` at ``config["now"]`` with an ``InlineExecutor``:
    add the named job set (if any), dispatch what is due once, and exit.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tickwork import Job, RetryPolicy, Scheduler, current_run
from tickwork.executors import InlineExecutor
from tickwork.stores import SQLiteStore
from tickwork.testing import FakeClock

UTC = timezone.utc
HERE = "tests.stores.process_workers"
#: Readiness marker a serving worker writes once its scheduler has started.
READY = "ready-{pid}"


# -- job functions, by reference ---------------------------------------------------------


def _append(path: Path, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _line() -> str:
    run = current_run()
    return (
        f"{run.job_id} {run.scheduled_at.isoformat()} {run.attempt} {os.getpid()} "
        f"{time.time():.6f}\n"
    )


def record(log_dir: str) -> None:
    """Append this run to ``<log_dir>/<pid>.log``."""
    _append(Path(log_dir) / f"{os.getpid()}.log", _line())


def block_first_attempt(log_dir: str, release: str) -> None:
    """Record the run; on its first attempt, block until *release* exists (60 s at most)."""
    record(log_dir)
    if current_run().attempt == 1:
        deadline = time.monotonic() + 60
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.02)


def record_and_sleep(log_dir: str, seconds: float) -> None:
    """Record the run, then take *seconds* (a job that runs for a while)."""
    record(log_dir)
    time.sleep(seconds)


# -- job sets ----------------------------------------------------------------------------


def _shared(config: dict[str, Any]) -> list[dict[str, Any]]:
    """One fast job and a few slower ones on a fixed grid, every fire caught up."""
    start = datetime.fromisoformat(config["start"])
    common = {
        "func": f"{HERE}:record",
        "trigger": "interval",
        "args": [config["log_dir"]],
        "start_date": start,
        "catchup": "all",
        # After a stall (a busy file, a slow machine) a backlog of fires starts at once;
        # overlap is not what these tests are about, so runs may overlap freely.
        "max_instances": 100,
        "replace_existing": True,
    }
    jobs = [{**common, "id": "fast", "seconds": config["fast"]}]
    jobs += [{**common, "id": f"slow-{n}", "seconds": 0.2 + 0.1 * n} for n in range(4)]
    return jobs


def _back_to_back(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Repeating jobs with the default ``max_instances=1`` and overlap policy, each next
    fire due soon after its last run ended: ``config["every"]`` lists ``[interval, run
    length]`` pairs in seconds. Every fire time is caught up (``catchup="all"``), so a
    stalled process does not coalesce fires away: any fire that does not run is lost."""
    start = datetime.fromisoformat(config["start"])
    return [
        {
            "func": f"{HERE}:record_and_sleep",
            "trigger": "interval",
            "seconds": every,
            "args": [config["log_dir"], length],
            "start_date": start,
            "catchup": "all",
            "id": f"every-{every}-takes-{length}",
            "replace_existing": True,
        }
        for every, length in config["every"]
    ]


def _blockers(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Two runs that start at once and block: one job retries, one does not."""
    common = {
        "func": f"{HERE}:block_first_attempt",
        "trigger": "interval",
        "hours": 1,
        "args": [config["log_dir"], config["release"]],
        "run_immediately": True,
    }
    return [
        {**common, "id": "retried", "retry": RetryPolicy(attempts=2, delay=0, jitter=0)},
        {**common, "id": "not-retried"},
    ]


def _one_off_blocker(config: dict[str, Any]) -> list[dict[str, Any]]:
    """A one-off run that blocks, with a retry policy."""
    return [
        {
            "func": f"{HERE}:block_first_attempt",
            "trigger": "date",
            "run_date": datetime.fromisoformat(config["run_date"]),
            "args": [config["log_dir"], config["release"]],
            "id": "one-off",
            "retry": RetryPolicy(attempts=2, delay=0, jitter=0),
        }
    ]


def _kept(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Jobs of several kinds, none due soon: what a restart must bring back unchanged."""
    log = [config["log_dir"]]
    job = {"func": f"{HERE}:record", "args": log, "replace_existing": True}
    return [
        {**job, "id": "cron", "trigger": "cron", "expression": "30 4 * * mon-fri"},
        {**job, "id": "interval", "trigger": "interval", "hours": 5, "coalesce": True},
        {
            **job,
            "id": "date",
            "trigger": "date",
            "run_date": datetime(2999, 1, 1, tzinfo=UTC),
            "misfire_grace_time": 30,
        },
        {**job, "id": "paused", "trigger": "interval", "minutes": 7, "paused": True},
    ]


def _backlog(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Jobs every minute from the start, under each backlog policy."""
    job = {
        "func": f"{HERE}:record",
        "trigger": "interval",
        "minutes": 1,
        "start_date": datetime.fromisoformat(config["start"]),
        "args": [config["log_dir"]],
        "replace_existing": True,
    }
    return [
        {**job, "id": "coalesced", "coalesce": True},
        {**job, "id": "all", "catchup": "all"},
        {**job, "id": "graced", "catchup": "all", "misfire_grace_time": 0.5},
    ]


JOB_SETS = {
    "shared": _shared,
    "back-to-back": _back_to_back,
    "blockers": _blockers,
    "one-off-blocker": _one_off_blocker,
    "kept": _kept,
    "backlog": _backlog,
}


# -- modes -------------------------------------------------------------------------------


def _store(config: dict[str, Any]) -> SQLiteStore:
    return SQLiteStore(config["db"], **config.get("store", {}))


def _add(scheduler: Scheduler, config: dict[str, Any]) -> None:
    if config.get("jobs"):
        scheduler.add_jobs(JOB_SETS[config["jobs"]](config))


def describe(jobs: list[Job]) -> list[dict[str, Any]]:
    """What a restart must keep of each job: id, trigger, next fire, options."""
    return [
        {
            "id": job.id,
            "trigger": job.trigger.to_dict(),
            "next_fire": None if job.next_fire is None else job.next_fire.isoformat(),
            "paused": job.paused,
            "catchup": job.catchup.value,
            "misfire_grace_time": (
                None if job.misfire_grace_time is None else job.misfire_grace_time.total_seconds()
            ),
        }
        for job in jobs
    ]


def serve(config: dict[str, Any]) -> None:
    scheduler = Scheduler(store=_store(config), timezone="UTC")
    _add(scheduler, config)
    scheduler.start()
    try:
        (Path(config["log_dir"]) / READY.format(pid=os.getpid())).touch()
        stop = Path(config["stop"])
        pause = threading.Event()
        while not stop.exists():
            pause.wait(0.02)
    finally:
        scheduler.shutdown(wait=True)


def describe_mode(config: dict[str, Any]) -> None:
    store = _store(config)
    scheduler = Scheduler(store=store, timezone="UTC")
    try:
        stored = describe(store.get_jobs())
        _add(scheduler, config)
        again = describe(store.get_jobs())
        scheduler.open(paused=True)
        loaded = describe(scheduler.get_jobs())
    finally:
        scheduler.shutdown()
    Path(config["out"]).write_text(json.dumps({"stored": stored, "again": again, "loaded": loaded}))


def simulate(config: dict[str, Any]) -> None:
    clock = FakeClock(datetime.fromisoformat(config["now"]))
    scheduler = Scheduler(
        store=_store(config),
        clock=clock,
        executors={"default": InlineExecutor()},
        timezone="UTC",
    )
    try:
        _add(scheduler, config)
        scheduler.open()
        scheduler.process_due()
    finally:
        scheduler.shutdown(wait=True)


MODES = {"serve": serve, "describe": describe_mode, "simulate": simulate}


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    mode, config = argv
    MODES[mode](json.loads(config))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
