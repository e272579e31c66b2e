"""Two "hosts" sharing one PostgreSQL database: each fire runs once, on one of them.

Run it from the repository root, after ``pip install ".[postgres]"``, with a server
to talk to::

    TICKWORK_DSN=postgresql://user@dbhost/app python examples/postgres_cluster.py

(default: ``postgresql://postgres@127.0.0.1:5432/test``). In a schema of its own
(dropped at the end) it starts two schedulers, each with its own ``PostgresStore``,
as two machines would: their own connections, their own advisory lock, nothing in
common but the database. Both declare the same jobs at start-up, as every replica of
an application does; for about three seconds they share the runs; then the run
history shows each fire ran once, and which host ran it. Without psycopg or a server
that answers, it says so and exits.

Jobs are stored by reference (``"__main__:tick"``): in an application, keep them in a
module every host can import (``"myapp.jobs:tick"``). Times printed are real ones.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from datetime import datetime

from tickwork import Event, EventKind, Scheduler, StoreError, current_run
from tickwork.stores import PostgresStore

DSN = os.environ.get(
    "TICKWORK_DSN",
    os.environ.get("TICKWORK_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"),
)
SCHEMA = f"tickwork_example_{os.getpid()}"


def tick() -> str:
    return f"tick for {current_run().scheduled_at:%H:%M:%S.%f}"[:-3]


def host(name: str) -> Scheduler:
    """One host's scheduler: its own store object, pool and advisory lock."""
    store = PostgresStore(DSN, schema=SCHEMA, lease_time=5, poll_interval=1)
    scheduler = Scheduler(store=store, timezone="UTC")
    # Every host declares the same jobs at start-up; replace_existing keeps one copy.
    scheduler.add_job(tick, "interval", seconds=0.5, id="tick", replace_existing=True)
    scheduler.add_job(tick, "interval", seconds=0.7, id="tock", replace_existing=True)
    return scheduler


def drop_schema() -> None:
    import psycopg

    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')


def main() -> int:
    try:
        import psycopg

        with psycopg.connect(DSN, connect_timeout=3):
            pass
    except ImportError:
        print('skipped: psycopg is not installed (pip install "tickwork[postgres]")')
        return 0
    except psycopg.Error as error:
        print(f"skipped: no PostgreSQL server answers at {DSN}: {' '.join(str(error).split())}")
        return 0
    try:
        return run()
    finally:
        drop_schema()


def run() -> int:
    hosts = {name: host(name) for name in ("host-a", "host-b")}
    ran: list[tuple[str, str, datetime]] = []  # (host, job, fire time), from each host's events
    for name, scheduler in hosts.items():

        def note(event: Event, name: str = name) -> None:
            if event.job_id is not None and event.scheduled_at is not None:
                ran.append((name, event.job_id, event.scheduled_at))

        scheduler.add_listener(note, EventKind.JOB_EXECUTED)
    try:
        for scheduler in hosts.values():
            scheduler.start()
        print(f"two hosts on schema {SCHEMA!r}, running for 3 s...")
        time.sleep(3)
    except StoreError as error:
        print(f"the store failed: {error}")
        return 1
    finally:
        for scheduler in hosts.values():
            scheduler.shutdown(wait=True)
    fires = Counter((job_id, at) for _, job_id, at in ran)
    once = max(fires.values(), default=0) == 1
    print(f"{len(ran)} runs of {len(fires)} fires; each fire ran once: {once}")
    for name, count in sorted(Counter(name for name, _, _ in ran).items()):
        print(f"  {name} ran {count}")
    for name, job_id, at in sorted(ran, key=lambda row: (row[2], row[1]))[:6]:
        print(f"  {at:%H:%M:%S.%f}"[:-3] + f"  {job_id}  on {name}")
    # The history in the database says the same, whoever reads it.
    reader = PostgresStore(DSN, schema=SCHEMA)
    reader.open()
    try:
        recorded = Counter((run.job_id, run.scheduled_at) for run in reader.history(limit=1000))
    finally:
        reader.close()
    print(f"history: {sum(recorded.values())} runs recorded, each fire once: "
          f"{max(recorded.values(), default=0) == 1}")  # fmt: skip
    return 0 if once else 1


if __name__ == "__main__":
    sys.exit(main())
