#!/usr/bin/env python3
"""How long the dashboard takes to render its pages for 10,000 jobs.

Run it from the repository root::

    python benchmarks/dashboard.py                 # Markdown table on stdout
    python benchmarks/dashboard.py --jobs 2000 --repeat 3

Three targets, each holding ``--jobs`` jobs (a mix of cron and interval triggers in
three zones, a tenth of them paused, some late) and a recorded history of 5,000 runs
(a tenth of them failures with an error message; a ``MemoryStore`` keeps the newest
1,000, its default):

- a live ``Scheduler`` on a ``MemoryStore`` (the dashboard reads the scheduler);
- a live ``Scheduler`` on a ``SQLiteStore`` file (a store too big to load whole: its
  ``get_jobs`` reads the file);
- a ``SQLiteStore`` alone, as ``tickwork dashboard jobs.db`` serves it (another process
  runs the scheduler).

Each page is rendered by calling the WSGI application directly (no server, no network:
what is timed is the dashboard's own work, reading the target included). A cell is the
median of ``--repeat`` renders after one warm-up render (the first render of a SQLite
file also warms SQLite's page cache), in milliseconds. The jobs page shows 100 jobs
per page (the default; up to 1,000 with ``per_page``), and counts states over all of
them; the row "jobs page, 1,000 per page" is the largest page the dashboard serves.
Goal (issue 13): the jobs page for 10,000 jobs in 200 ms or less.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from _report import Table, render

from tickwork import Outcome, Scheduler
from tickwork.stores import MemoryStore, RunEnd, SQLiteStore
from tickwork.testing import FakeClock
from tickwork.web import wsgi_app

UTC = timezone.utc
NOW = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
GOAL_MS = 200.0
ZONES = ("UTC", "Europe/Berlin", "America/New_York")
HISTORY = 5_000


def noop() -> None:
    """The benchmark's jobs (never run: the dashboard only reads them)."""


def _jobs(count: int) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = []
    for i in range(count):
        zone = ZONES[i % 3]
        if i % 2:
            spec: dict[str, Any] = {"trigger": "cron", "hour": i % 24, "minute": i % 60}
        else:
            spec = {"trigger": "interval", "minutes": 1 + i % 90}
        jobs.append({"func": "dashboard:noop", "id": f"job-{i:05d}", "timezone": zone, **spec})
    return jobs


def _history(count: int) -> list[RunEnd]:
    runs = []
    for i in range(HISTORY):
        at = NOW - timedelta(seconds=HISTORY - i)
        failed = i % 10 == 0
        runs.append(
            RunEnd(
                job_id=f"job-{i % count:05d}",
                scheduled_at=at - timedelta(milliseconds=40),
                attempt=1,
                outcome=Outcome.FAILURE if failed else Outcome.SUCCESS,
                at=at,
                started_at=at - timedelta(milliseconds=30),
                error=RuntimeError("upstream timed out") if failed else None,
            )
        )
    return runs


def _fill(scheduler: Scheduler, count: int) -> None:
    scheduler.add_jobs(_jobs(count))
    for i in range(0, count, 10):
        scheduler.pause_job(f"job-{i:05d}", note="benchmark")
    scheduler.store.record_runs(_history(count), now=NOW)


def _render(app: Callable[..., Any], path: str, query: str = "") -> int:
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
    }
    seen: dict[str, str] = {}
    body = b"".join(app(environ, lambda status, headers: seen.update(status=status)))
    if not seen["status"].startswith("200"):
        raise SystemExit(f"{path}?{query} answered {seen['status']}: {body[:300]!r}")
    return len(body)


def _median_ms(app: Callable[..., Any], path: str, query: str, repeat: int) -> tuple[float, int]:
    size = _render(app, path, query)  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        _render(app, path, query)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), size


PAGES = [
    ("jobs page (100 per page, the default)", "/", ""),
    ("jobs page, last page", "/", "page={last}"),
    ("jobs page, late jobs only", "/", "state=late"),
    ("jobs page, id search", "/", "q=job-0999"),
    ("jobs page, 1,000 per page", "/", "per_page=1000"),
    ("a job's page", "/job", "id=job-00001"),
    ("runs page (failures)", "/runs", "outcome=failure"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs per target (10,000)")
    parser.add_argument("--repeat", type=int, default=7, help="renders per cell (7)")
    args = parser.parse_args(argv)
    count, repeat = args.jobs, args.repeat
    clock = FakeClock(NOW)
    with tempfile.TemporaryDirectory() as folder:
        memory = Scheduler(store=MemoryStore(), clock=clock, timezone="UTC")
        _fill(memory, count)
        path = Path(folder) / "jobs.db"
        live_sqlite = Scheduler(store=SQLiteStore(path), clock=clock, timezone="UTC")
        _fill(live_sqlite, count)
        store = SQLiteStore(path)
        targets: list[tuple[str, Any, dict[str, Any]]] = [
            ("Scheduler, MemoryStore", memory, {}),
            ("Scheduler, SQLiteStore", live_sqlite, {}),
            ("SQLiteStore alone", store, {"clock": clock}),
        ]
        clock.advance(3600)  # an hour on: the interval jobs are late
        table = Table(
            f"Dashboard pages for {count:,} jobs and {HISTORY:,} recorded runs "
            f"(median of {repeat}, ms)",
            ["page", *(name for name, _, _ in targets)],
        )
        cells: dict[str, list[float]] = {}
        for _name, target, options in targets:
            app = wsgi_app(target, **options)
            for label, page, query in PAGES:
                query = query.format(last=max(1, -(-count // 100)))
                ms, _ = _median_ms(app, page, query, repeat)
                cells.setdefault(label, []).append(ms)
        for label, _, _ in PAGES:
            table.rows.append([label, *(f"{ms:,.1f}" for ms in cells[label])])
        jobs_page = cells[PAGES[0][0]]
        met = all(ms <= GOAL_MS for ms in jobs_page)
        table.notes.append(
            f"Goal: the jobs page for {count:,} jobs in {GOAL_MS:.0f} ms or less: "
            f"{'met' if met else 'NOT met'} (slowest {max(jobs_page):,.1f} ms). "
            f"Python {sys.version.split()[0]}."
        )
        print("\n".join(render(table)))
        for scheduler in (memory, live_sqlite):
            scheduler.shutdown()
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
