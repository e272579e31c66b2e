"""A metrics scrape of a scheduler and of a store, with 10,000 jobs: target 50 ms.

Each row sets up *jobs* interval jobs (every minute, each with its own id), lets every
one run once (a fake clock and an inline executor: the runs are real, the waiting is
not), then times a scrape, the call a ``/metrics`` request makes:

* **live**: ``Metrics.render()`` of ``instrument(scheduler)`` on a ``MemoryStore`` and
  on a ``SQLiteStore`` (the next fire and paused flag of every job read from the store,
  with the counters, histograms and last successes kept by the listener);
* **live via prometheus_client**: the same families through ``Metrics.register`` and
  ``prometheus_client.generate_latest`` (for comparison; needs the ``metrics`` extra);
* **store**: ``render_store(store, now=...)`` of the SQLite file from another store
  object, as ``tickwork metrics FILE`` does (jobs, the history's runs counted by job
  and outcome, broken jobs, processes); with ``--dsn``, of a PostgreSQL schema too.

It also times the listener itself: microseconds per event taken in (what each run
costs the scheduler's thread).

Each cell is the median (and the worst) of ``--repeat`` scrapes, timed with
``time.perf_counter``; the output of each is checked with prometheus_client's parser
when it is installed (every job has its next-fire sample).

    python benchmarks/observability.py                  # 10,000 jobs, 20 scrapes each
    python benchmarks/observability.py --jobs 100000 --repeat 5
    python benchmarks/observability.py --dsn postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import _report

from tickwork import Event, EventKind, Scheduler
from tickwork.executors import InlineExecutor
from tickwork.metrics import Metrics, instrument, render_store
from tickwork.stores import JobStore, MemoryStore, SQLiteStore
from tickwork.testing import FakeClock, run_until

UTC = timezone.utc
T0 = datetime(2024, 1, 1, tzinfo=UTC)
TARGET_MS = 50.0


def noop() -> None:
    """The benchmark's job."""


def ran_once(store: JobStore, jobs: int) -> Scheduler:
    """A scheduler on *store* holding *jobs* minute jobs that have each run once."""
    clock = FakeClock(T0)
    scheduler = Scheduler(
        store=store, clock=clock, executors={"default": InlineExecutor()}, timezone="UTC"
    )
    scheduler.add_jobs(
        [
            {"func": "observability:noop", "trigger": "interval", "minutes": 1, "id": f"job-{n:06}"}
            for n in range(jobs)
        ]
    )
    scheduler.open()
    run_until(scheduler, T0 + timedelta(minutes=1))
    return scheduler


def fed(scheduler: Scheduler) -> Metrics:
    """``instrument(scheduler)``, fed one run's end per job, as if it had been there when
    they ran (the scrape then has every per-job series: runs, last success)."""
    metrics = instrument(scheduler)
    for job in scheduler.get_jobs():
        metrics(Event(kind=EventKind.JOB_EXECUTED, at=T0 + timedelta(minutes=1),
                      job_id=job.id, scheduled_at=T0, attempt=1, started_at=T0))  # fmt: skip
    return metrics


def check(text: str, jobs: int) -> str:
    """*text* read back by prometheus_client's parser: every job has its next fire."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        return "not checked (no prometheus_client)"
    fires = sum(
        len(family.samples)
        for family in text_string_to_metric_families(text)
        if family.name == "tickwork_next_fire_timestamp_seconds"
    )
    if fires != jobs:
        raise SystemExit(f"a scrape lists {fires} next fire times for {jobs} jobs")
    return "parsed"


def timed(call: Callable[[], str], repeat: int, jobs: int) -> tuple[float, float, int, str]:
    """(median ms, worst ms, bytes, check) of *repeat* calls."""
    times = []
    text = ""
    for _ in range(repeat):
        start = time.perf_counter()
        text = call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times), len(text.encode()), check(text, jobs)


def listener_cost(scheduler: Scheduler, events: int) -> float:
    """Microseconds per run-end event taken in by an instrumented scheduler's listener."""
    metrics = instrument(scheduler)
    batch = [
        Event(kind=EventKind.JOB_EXECUTED, at=T0 + timedelta(seconds=1), job_id=f"job-{n % 1000}",
              scheduled_at=T0, attempt=1, started_at=T0)
        for n in range(events)
    ]  # fmt: skip
    start = time.perf_counter()
    for event in batch:
        metrics(event)
    return (time.perf_counter() - start) / events * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs per store")
    parser.add_argument("--repeat", type=int, default=20, help="scrapes per cell")
    parser.add_argument("--dsn", help="a PostgreSQL database to time render_store on too")
    args = parser.parse_args(argv)
    jobs, repeat = args.jobs, args.repeat
    table = _report.Table(
        f"A metrics scrape, {jobs:,} jobs that each ran once (median of {repeat})",
        ["Scrape", "ms (median)", "ms (worst)", "bytes", "output", f"≤ {TARGET_MS:g} ms"],
    )
    rows: list[tuple[str, Callable[[], str]]] = []
    cleanup: list[Callable[[], Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        memory = ran_once(MemoryStore(), jobs)
        cleanup.append(memory.shutdown)
        live_memory = fed(memory)
        rows.append(("live, MemoryStore: Metrics.render()", live_memory.render))
        path = Path(folder) / "jobs.db"
        sqlite = ran_once(SQLiteStore(path), jobs)
        cleanup.append(sqlite.shutdown)
        rows.append(("live, SQLiteStore: Metrics.render()", fed(sqlite).render))
        try:
            from prometheus_client import CollectorRegistry, generate_latest
        except ImportError:
            table.notes.append("prometheus_client is not installed: its row is left out.")
        else:
            registry = CollectorRegistry()
            live_memory.register(registry)
            rows.append(
                (
                    "live, MemoryStore: via prometheus_client",
                    lambda: generate_latest(registry).decode(),
                )
            )
        reader = SQLiteStore(path)
        cleanup.append(reader.close)
        rows.append(("store, SQLite file: render_store()", lambda: render_store(reader, now=T0)))
        if args.dsn:
            from tickwork.stores import PostgresStore

            schema = f"tw_bench_{uuid.uuid4().hex[:8]}"
            postgres = ran_once(PostgresStore(args.dsn, schema=schema), jobs)
            pg_reader = PostgresStore(args.dsn, schema=schema)

            def drop() -> None:
                pg_reader.close()
                import psycopg

                with psycopg.connect(args.dsn, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

            cleanup += [postgres.shutdown, drop]
            rows.append(
                ("store, PostgreSQL: render_store()", lambda: render_store(pg_reader, now=T0))
            )
        met = []
        try:
            for name, call in rows:
                median, worst, size, checked = timed(call, repeat, jobs)
                ok = median <= TARGET_MS
                met.append(ok)
                table.rows.append(
                    [name, f"{median:.1f}", f"{worst:.1f}", f"{size:,}", checked,
                     "yes" if ok else "no"]
                )  # fmt: skip
            cost = listener_cost(memory, 100_000)
            table.notes.append(
                f"The listener takes in a run's end in {cost:.2f} µs (100,000 events)."
            )
        finally:
            for step in reversed(cleanup):
                step()
    print("\n".join(_report.render(table)))
    print(f"{sum(met)} of {len(met)} scrapes within {TARGET_MS:g} ms.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
