"""Worker processes for ``test_postgres_faults.py``, and the job functions they run.

Run as ``python -m tests.stores.pg_workers CONFIG_JSON`` from the repository root, with
``src`` and the root on ``PYTHONPATH``: a ``Scheduler`` on a ``PostgresStore`` until
the stop file appears, then shut down (waiting for running jobs) and exit 0. Config:

``dsn``, ``schema``, ``store``
    the database, the store's schema and its other keyword arguments;
``log``
    the table (``"schema"."table"``, quoted) runs are written to: see :func:`record`;
``dir``
    where the worker writes its readiness marker (``ready-<pid>``) and its events
    (``events-<pid>.log``, one line per event: ``<kind> <job id> <exception>``), and
    where the test writes ``stop`` (and ``release`` for :func:`block_first_attempt`);
``jobs``, ``start``
    the job set of :data:`JOB_SETS` to add at start-up (``replace_existing=True``, as
    every process of an application does) and the start of its grid (ISO);
``skew``
    seconds this host's clock is off (a :class:`SkewedClock`), 0 by default.

A run is one row of the log table, written by the job itself in a connection of its
own: (a nonce, job id, nominal fire time, attempt, pid, the database's time when the
run started). The insert is retried until it lands (the server may be restarting),
with the nonce as the key, so a retried insert never counts one run twice.
"""

from __future__ import annotations

import faulthandler
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tickwork import Event, EventKind, RetryPolicy, Scheduler, current_run
from tickwork._clock import SystemClock
from tickwork.stores import PostgresStore

from .process_workers import _append

UTC = timezone.utc
HERE = "tests.stores.pg_workers"
READY = "ready-{pid}"
EVENTS = "events-{pid}.log"
#: How long a run keeps trying to write its row while the server does not answer.
RECORD_PATIENCE = 60.0
#: The events a worker writes down.
WATCHED = (
    EventKind.STORE_ERROR | EventKind.JOB_FAILED | EventKind.JOB_MISSED | EventKind.JOB_INTERRUPTED
)

LOG_TABLE = """CREATE TABLE {table} (
    nonce uuid PRIMARY KEY,
    job_id text NOT NULL,
    scheduled_at timestamptz NOT NULL,
    attempt integer NOT NULL,
    pid integer NOT NULL,
    started timestamptz NOT NULL DEFAULT clock_timestamp()
)"""


class SkewedClock(SystemClock):
    """The real clock, *skew* seconds off: a host whose clock is wrong."""

    __slots__ = ("_skew",)

    def __init__(self, skew: float) -> None:
        self._skew = timedelta(seconds=skew)

    def now(self) -> datetime:
        return super().now() + self._skew

    def __repr__(self) -> str:
        return f"SkewedClock({self._skew.total_seconds():+g} s)"


# -- job functions, by reference ---------------------------------------------------------


def record(dsn: str, table: str) -> None:
    """Write this run to *table* (retried, under one nonce, while the server is away)."""
    import psycopg

    run = current_run()
    nonce = uuid.uuid4()
    deadline = time.monotonic() + RECORD_PATIENCE
    while True:
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=2) as conn:
                conn.execute(
                    f"INSERT INTO {table} (nonce, job_id, scheduled_at, attempt, pid) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (nonce) DO NOTHING",
                    (nonce, run.job_id, run.scheduled_at, run.attempt, os.getpid()),
                )
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def block_first_attempt(dsn: str, table: str, release: str) -> None:
    """Record the run; on its first attempt, block until *release* exists (60 s at
    most): a run the test kills its process in the middle of."""
    record(dsn, table)
    if current_run().attempt == 1:
        deadline = time.monotonic() + 60
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.02)


# -- job sets ----------------------------------------------------------------------------


def _stream(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Interval jobs on a fixed grid from ``config["start"]``, every fire caught up (so
    a fire that does not run is lost, not coalesced away), overlap allowed, and one
    retry, so a run cut short by a dead process is run again by its retry policy."""
    start = datetime.fromisoformat(config["start"])
    common = {
        "func": f"{HERE}:record",
        "trigger": "interval",
        "args": [config["dsn"], config["log"]],
        "start_date": start,
        "catchup": "all",
        "max_instances": 100,
        "retry": RetryPolicy(attempts=2, delay=0, jitter=0),
        "replace_existing": True,
    }
    return [
        {**common, "id": f"every-{seconds}", "seconds": seconds}
        for seconds in config.get("every", [0.25, 0.3, 0.4, 0.5])
    ]


def _with_blocker(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The stream, and a one-off run at ``config["run_date"]`` that blocks on its first
    attempt, with one retry."""
    blocker = {
        "func": f"{HERE}:block_first_attempt",
        "trigger": "date",
        "run_date": datetime.fromisoformat(config["run_date"]),
        "args": [config["dsn"], config["log"], str(Path(config["dir"]) / "release")],
        "id": "blocker",
        "retry": RetryPolicy(attempts=2, delay=0, jitter=0),
        "replace_existing": True,
    }
    return [*_stream(config), blocker]


JOB_SETS = {"stream": _stream, "with-blocker": _with_blocker}


# -- the worker --------------------------------------------------------------------------


def serve(config: dict[str, Any]) -> None:
    folder = Path(config["dir"])
    events = folder / EVENTS.format(pid=os.getpid())

    def note(event: Event) -> None:
        what = " ".join(repr(event.exception).split()) if event.exception else ""
        _append(events, f"{event.kind.name} {event.job_id or '-'} {what}\n")

    store = PostgresStore(config["dsn"], schema=config["schema"], **config.get("store", {}))
    scheduler = Scheduler(store=store, clock=SkewedClock(config.get("skew", 0.0)), timezone="UTC")
    scheduler.add_listener(note, WATCHED)
    if config.get("jobs"):
        scheduler.add_jobs(JOB_SETS[config["jobs"]](config))
    scheduler.start()
    try:
        (folder / READY.format(pid=os.getpid())).touch()
        stop = folder / "stop"
        pause = threading.Event()
        while not stop.exists():
            pause.wait(0.02)
    finally:
        scheduler.shutdown(wait=True)


def main(argv: list[str]) -> int:
    # SIGUSR1 prints every thread's stack: a test that finds a worker stuck asks for it.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    (config,) = argv
    serve(json.loads(config))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
