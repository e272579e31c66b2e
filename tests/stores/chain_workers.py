"""Worker processes for ``test_sqlite_chains.py``, and the job functions they run.

Run as ``python -m tests.stores.chain_workers MODE CONFIG_JSON`` from the repository
root, with ``src`` and the root on ``PYTHONPATH``. Every worker runs a ``Scheduler`` on
the SQLite file ``config["db"]`` (or the PostgreSQL schema it names,
``postgresql://...#schema``) with a ``FakeClock`` and an ``InlineExecutor``, so what
it does at each simulated time is exact; the processes race for real on the file. A
job appends one line per run to ``config["log"]`` (one ``os.write`` of an ``O_APPEND``
file, so lines never interleave)::

    <job id> <scheduled_at ISO> <pid> <upstream run ids, comma-separated or ->

Modes:

``slots``
    Open the scheduler, say so (``config["go"] + ".<pid>"``), wait for ``config["go"]``
    to exist (so the workers start together), then for each
    of ``config["slots"]`` minutes set the clock to that minute and dispatch what is due.
``die``
    At ``T0 + 1 min``, dispatch what is due, and exit (``os._exit``) the moment the
    history of the run of ``config["upstream"]`` is committed: before the step that
    recorded it can start the downstream run.
``pickup``
    At ``config["now"]``, dispatch once (a store shared by processes is polled for
    hand-overs others left) and exit; ``config["executors"]`` as for ``slots``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tickwork import Scheduler, current_run
from tickwork.executors import InlineExecutor
from tickwork.stores import JobStore, PostgresStore, SQLiteStore
from tickwork.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2024, 1, 1, tzinfo=UTC)
HERE = "tests.stores.chain_workers"
LOG_ENV = "TICKWORK_CHAIN_LOG"


def _log(returned: Any = None) -> Any:
    run = current_run()
    parents = ",".join(sorted(up.run_id for up in run.upstream.values())) or "-"
    line = f"{run.job_id} {run.scheduled_at.isoformat()} {os.getpid()} {parents}\n"
    fd = os.open(os.environ[LOG_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    return returned


def upstream() -> str:
    """An upstream job: returns its own id (after a few milliseconds of work, so that
    racing processes each get some)."""
    time.sleep(0.003)
    return str(_log(current_run().job_id))


def downstream() -> list[str]:
    """A downstream job: returns its upstreams' return values, sorted."""
    values = sorted(str(up.return_value) for up in current_run().upstream.values())
    _log()
    return values


def make(db: str, now: datetime, extra: tuple[str, ...] = ()) -> tuple[Scheduler, FakeClock]:
    """A scheduler on the store *db* (a file, or ``postgresql://...#schema``); *extra*
    names executors besides "default" (a job on an executor a process lacks is left to
    the processes that have it)."""
    clock = FakeClock(now)
    # Leases far longer than the simulated hours: the processes' fake clocks differ, and
    # one must not take another's live runs for expired ones.
    store: JobStore
    if db.startswith("postgresql://"):
        dsn, _, schema = db.partition("#")
        store = PostgresStore(dsn, schema=schema, history_per_job=10_000, lease_time=10**7)
    else:
        store = SQLiteStore(db, history_per_job=10_000, lock_timeout=20, lease_time=10**7)
    executors = {alias: InlineExecutor() for alias in ("default", *extra)}
    scheduler = Scheduler(clock=clock, store=store, executors=executors, timezone="UTC")
    return scheduler, clock


def main(mode: str, config: dict[str, Any]) -> None:
    os.environ[LOG_ENV] = config["log"]
    if mode == "slots":
        scheduler, clock = make(config["db"], T0, tuple(config.get("executors", ())))
        scheduler.open()
        Path(config["go"] + f".{os.getpid()}").touch()  # ready
        go = Path(config["go"])
        deadline = time.monotonic() + 20
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.002)
        for minute in range(1, config["slots"] + 1):
            clock.set(T0 + timedelta(minutes=minute))
            scheduler.process_due()
        scheduler.shutdown()
    elif mode == "die":
        from tickwork._storelink import StoreLink

        persist = StoreLink.persist
        target = config["upstream"]

        def persist_then_die(self: StoreLink, decision: Any, now: datetime) -> None:
            ended = any(end.job_id == target and end.final for end in decision.history)
            persist(self, decision, now)
            if ended:
                os._exit(0)  # committed; the downstream run never started here

        StoreLink.persist = persist_then_die  # type: ignore[method-assign]
        scheduler, clock = make(config["db"], T0 + timedelta(minutes=1))
        scheduler.open()
        scheduler.process_due()
        raise SystemExit("the upstream run was never recorded")
    elif mode == "pickup":
        extra = tuple(config.get("executors", ()))
        scheduler, clock = make(config["db"], datetime.fromisoformat(config["now"]), extra)
        scheduler.open()
        scheduler.process_due()
        scheduler.shutdown()
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]))
