"""Worker processes for ``test_events_processes.py``, and the job they run.

Run as ``python -m tests.event_workers MODE CONFIG_JSON`` from the repository root,
with ``src`` and the root on ``PYTHONPATH``. The job, ``tests.event_workers:record``,
writes one line per run to a log file of its process (one ``os.write`` of an
``O_APPEND`` file)::

    <event id> <payload n> <pid>

Modes:

``serve``
    Run a ``Scheduler`` on the store (``config["db"]``: a SQLite file, or a
    PostgreSQL DSN with ``config["schema"]``) with the listening job; write a ready
    file; emit ``config["emit"]`` events (payload ``{"n": i, "by": pid}``) as fast as
    it can; run until the stop file appears, then shut down and exit 0.
``write``
    Emit ``config["count"]`` events (payload ``{"n": config["first"] + i}``) through
    the command line (``tickwork emit``), with no scheduler in this process.
``emit_and_die``
    Start a scheduler on the store whose job would block in this process, emit one
    event (payload ``{"n": config["n"]}``), and kill itself with SIGKILL the moment
    ``emit`` returns (the event's run is started here, and never ends here).
``burst_and_die``
    Emit ``config["count"]`` events (payload ``{"n": i}``) in a burst, then kill itself
    with SIGKILL before the job's debounce (``config["debounce"]`` seconds, which every
    mode gives the job) has ended.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tickwork import EventTrigger, Scheduler, current_run
from tickwork.stores import JobStore, PostgresStore, SQLiteStore

HERE = "tests.event_workers"
JOB = f"{HERE}:record"
READY = "ready-{pid}"
#: Set in a process whose runs must never end (run as __main__, this module is also
#: imported under its own name for the job: an environment variable is seen by both).
_BLOCKING = "TICKWORK_TEST_EVENT_BLOCK"


def record(log_dir: str) -> None:
    """Log this run (blocks for ever, unlogged, in a process that is about to die)."""
    if os.environ.get(_BLOCKING):
        threading.Event().wait()
    event = current_run().event
    assert event is not None
    line = f"{event.id} {event.payload['n']} {os.getpid()}\n"
    fd = os.open(Path(log_dir) / f"{os.getpid()}.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def store_of(config: dict[str, Any]) -> JobStore:
    db = config["db"]
    if db.startswith("postgresql://"):
        return PostgresStore(db, schema=config["schema"], poll_interval=0.05)
    return SQLiteStore(db, poll_interval=0.05)


def _scheduler(config: dict[str, Any]) -> Scheduler:
    scheduler = Scheduler(store=store_of(config))
    scheduler.add_job(
        JOB,
        EventTrigger("order.created", debounce=config.get("debounce")),
        id="on-order",
        args=(config["log_dir"],),
        replace_existing=True,
    )
    return scheduler


def serve(config: dict[str, Any]) -> None:
    scheduler = _scheduler(config)
    scheduler.start()
    Path(config["log_dir"], READY.format(pid=os.getpid())).touch()
    for n in range(config.get("emit", 0)):
        scheduler.emit("order.created", {"n": n, "by": os.getpid()})
    stop = Path(config["stop"])
    deadline = time.monotonic() + 60
    while not stop.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    scheduler.shutdown(wait=True)


def emit_and_die(config: dict[str, Any]) -> None:
    os.environ[_BLOCKING] = "1"
    scheduler = _scheduler(config)
    scheduler.start()
    scheduler.emit("order.created", {"n": config["n"]})
    os.kill(os.getpid(), signal.SIGKILL)


def burst_and_die(config: dict[str, Any]) -> None:
    scheduler = _scheduler(config)
    scheduler.start()
    for n in range(config["count"]):
        scheduler.emit("order.created", {"n": n})
    os.kill(os.getpid(), signal.SIGKILL)


def write(config: dict[str, Any]) -> None:
    from tickwork.cli import main

    for i in range(config["count"]):
        payload = json.dumps({"n": config["first"] + i})
        argv = ["emit", config["db"], "order.created", "--payload", payload]
        if "schema" in config:
            argv += ["--schema", config["schema"]]
        assert main(argv, out=io.StringIO()) == 0


if __name__ == "__main__":
    mode, raw = sys.argv[1], sys.argv[2]
    modes = {"serve": serve, "emit_and_die": emit_and_die, "burst_and_die": burst_and_die}
    {**modes, "write": write}[mode](json.loads(raw))
