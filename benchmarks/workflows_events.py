"""Jobs started by events: emit-to-start latency and emits handled per second.

Three measurements, each on a real ``Scheduler`` (its thread, the default thread-pool
executor, the system clock), with one job listening for ``order.created``:

* **latency, MemoryStore**: *latency* events, one at a time (the next once the run of
  the previous has started): the time from just before ``scheduler.emit(...)`` to the
  first line of the job, with ``time.perf_counter``. p50, p99 and the worst.
  Target: p99 ≤ 5 ms.
* **throughput, MemoryStore** and **throughput, SQLiteStore** (a file in a temporary
  folder): *events* emitted as fast as one thread can, from the first ``emit`` to the
  end of the last run. Targets: ≥ 10,000/s (memory) and ≥ 2,000/s (SQLite: every event
  is written to the file, with its (job, event) slot, before ``emit`` returns).

Every run reports its event's payload; each row checks that every event ran the job
once: none lost, none twice. With ``--dsn`` a PostgreSQL row is added (no target).

    python benchmarks/workflows_events.py                   # 2,000 / 20,000 / 5,000
    python benchmarks/workflows_events.py --dsn postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import _report

from tickwork import EventTrigger, Scheduler, current_run
from tickwork.stores import JobStore, MemoryStore, SQLiteStore

LATENCY_P99_MS = 5.0
MEMORY_PER_S = 10_000
SQLITE_PER_S = 2_000


class Seen:
    """What the job saw: each event's payload number, and when its run started."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: dict[int, float] = {}
        self.counts: Counter[int] = Counter()
        self.done = threading.Event()
        self.expected = 0

    def reset(self, expected: int) -> None:
        with self.lock:
            self.started.clear()
            self.counts.clear()
            self.expected = expected
            self.done.clear()


SEEN = Seen()


def on_order() -> None:
    """The benchmark's job: note when it started, for which event."""
    at = time.perf_counter()
    event = current_run().event
    assert event is not None
    n = int(event.payload["n"])
    with SEEN.lock:
        SEEN.started.setdefault(n, at)
        SEEN.counts[n] += 1
        if len(SEEN.started) >= SEEN.expected:
            SEEN.done.set()


def scheduler_on(store: JobStore) -> Scheduler:
    scheduler = Scheduler(store=store)
    scheduler.add_job(on_order, EventTrigger("order.created"), id="on-order")
    scheduler.start()
    return scheduler


def latency(events: int) -> list[float]:
    """Milliseconds from emit to the job's start, one event at a time (MemoryStore)."""
    scheduler = scheduler_on(MemoryStore())
    delays = []
    try:
        for n in range(events):
            SEEN.reset(1)
            before = time.perf_counter()
            scheduler.emit("order.created", {"n": n})
            if not SEEN.done.wait(5):
                raise RuntimeError(f"event {n} did not start its job within 5 s")
            delays.append((SEEN.started[n] - before) * 1000)
    finally:
        scheduler.shutdown()
    return delays


def throughput(store: JobStore, events: int) -> tuple[float, int, int]:
    """Events handled per second (first emit to last run started), and how many were
    lost and how many ran twice."""
    scheduler = scheduler_on(store)
    SEEN.reset(events)
    try:
        began = time.perf_counter()
        for n in range(events):
            scheduler.emit("order.created", {"n": n})
        SEEN.done.wait(max(30.0, events / 500))
        elapsed = time.perf_counter() - began
        time.sleep(0.2)  # a run started twice would show now
    finally:
        scheduler.shutdown(wait=True)
    with SEEN.lock:
        lost = events - len(SEEN.counts)
        doubled = sum(1 for count in SEEN.counts.values() if count > 1)
    return events / elapsed, lost, doubled


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=int, default=2_000, help="events timed one by one")
    parser.add_argument("--events", type=int, default=20_000, help="events, MemoryStore")
    parser.add_argument("--sqlite-events", type=int, default=5_000, help="events, SQLite")
    parser.add_argument("--dsn", help="a PostgreSQL database for one more row")
    args = parser.parse_args(argv)
    met: list[bool] = []

    delays = latency(args.latency)
    p50 = statistics.median(delays)
    p99 = statistics.quantiles(delays, n=100)[98] if len(delays) >= 2 else delays[0]
    table = _report.Table(
        f"Emit to start, MemoryStore ({args.latency:,} events, one at a time)",
        ["Measurement", "p50 ms", "p99 ms", "worst ms", f"p99 ≤ {LATENCY_P99_MS:g} ms"],
    )
    met.append(p99 <= LATENCY_P99_MS)
    table.rows.append(
        ["emit → job starts", f"{p50:.3f}", f"{p99:.3f}", f"{max(delays):.3f}",
         "yes" if met[-1] else "no"]
    )  # fmt: skip
    print("\n".join(_report.render(table)))

    table = _report.Table(
        "Emits handled per second (one emitting thread, one listening job)",
        ["Store", "events", "events/s", "lost", "ran twice", "target", "met"],
    )
    rows: list[tuple[str, Callable[[], JobStore], int, int | None]] = [
        ("MemoryStore", MemoryStore, args.events, MEMORY_PER_S),
    ]
    cleanup: list[Callable[[], Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "jobs.db"
        rows.append(("SQLiteStore", lambda: SQLiteStore(path), args.sqlite_events, SQLITE_PER_S))
        if args.dsn:
            from tickwork.stores import PostgresStore

            schema = f"tw_bench_{uuid.uuid4().hex[:8]}"

            def drop() -> None:
                import psycopg

                with psycopg.connect(args.dsn, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

            cleanup.append(drop)
            rows.append(
                ("PostgresStore", lambda: PostgresStore(args.dsn, schema=schema),
                 args.sqlite_events, None)
            )  # fmt: skip
        try:
            for name, make, count, target in rows:
                rate, lost, doubled = throughput(make(), count)
                ok = lost == 0 and doubled == 0 and (target is None or rate >= target)
                if target is not None:
                    met.append(ok)
                table.rows.append(
                    [name, f"{count:,}", f"{rate:,.0f}", str(lost), str(doubled),
                     "-" if target is None else f"≥ {target:,}/s",
                     "yes" if ok else "no"]
                )  # fmt: skip
        finally:
            for step in cleanup:
                step()
    table.notes.append(
        "events/s: from the first emit to the start of the last event's run; lost and "
        "ran twice are counted from the runs' payloads."
    )
    print("\n".join(_report.render(table)))
    print(f"{sum(met)} of {len(met)} targets met.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
