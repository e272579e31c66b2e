"""Leases are renewed on time while runs go on: a run longer than several lease times,
with another scheduler watching the same schema, is never taken over (real clocks,
short leases)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from tickwork import EventKind, Outcome, Scheduler
from tickwork.stores import PostgresStore

from .. import pg

pg_schema = pg.pg_schema  # (the fixture: a fresh schema per test)

UTC = timezone.utc
LEASE = 0.6  # seconds: renewed every 0.2 s
RUN_FOR = 2.0  # more than three lease times

started = threading.Event()
release = threading.Event()


def long_run() -> None:
    started.set()
    release.wait(RUN_FOR)


def test_a_run_longer_than_its_lease_keeps_it_while_another_scheduler_watches(
    pg_schema: str,
) -> None:
    started.clear()
    release.clear()
    stores = [
        PostgresStore(pg.dsn(), schema=pg_schema, lease_time=LEASE, poll_interval=0.1)
        for _ in range(2)
    ]
    schedulers = [Scheduler(store=store, timezone="UTC") for store in stores]
    taken: list[object] = []
    for scheduler in schedulers:
        scheduler.add_listener(taken.append, EventKind.JOB_INTERRUPTED)
    try:
        for scheduler in schedulers:
            scheduler.start()
        schedulers[0].add_job(
            long_run,
            "date",
            run_date=datetime.now(UTC) + timedelta(seconds=0.2),
            id="long",
            retry=None,
        )
        assert started.wait(5), "the run did not start"
        # The run goes on for RUN_FOR seconds, more than three lease times, while the
        # other scheduler polls every 0.1 s for expired leases and dead owners.
        release.wait(RUN_FOR)
        release.set()
        deadline = datetime.now(UTC) + timedelta(seconds=5)
        while datetime.now(UTC) < deadline and not schedulers[0].history("long"):
            release.wait(0.05)
        history = schedulers[0].history("long")
        assert [run.outcome for run in history] == [Outcome.SUCCESS], history
        assert history[0].attempt == 1
        assert taken == []
    finally:
        release.set()
        for scheduler in schedulers:
            scheduler.shutdown(wait=True)
