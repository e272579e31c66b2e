"""See what a scheduler does: Prometheus metrics served over HTTP, JSON log lines with
each run's fields, and the processes of a shared store.

Two jobs run on a SQLite file for a simulated ten minutes (a fake clock and an inline
executor, so the output is the same on every machine): one succeeds every minute, one
fails every five. Then the script serves the metrics with the standard library's
``wsgiref`` on a free local port, fetches ``/metrics`` once, and prints some lines of
it; prints the store's processes; and prints the JSON log line of a failed run.

    python examples/observability.py
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import threading
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

from tickwork import RetryPolicy, Scheduler, current_run
from tickwork.executors import InlineExecutor
from tickwork.metrics import instrument, render_store, wsgi_app
from tickwork.stores import SQLiteStore
from tickwork.testing import FakeClock, run_until

START = datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)
FIELDS = ("job_id", "scheduled_at", "attempt", "run_id")


class JsonLines(logging.Formatter):
    """One JSON object per record, with the run's fields when the record has them."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"level": record.levelname, "message": record.getMessage().splitlines()[0]}
        line.update({name: getattr(record, name) for name in FIELDS if hasattr(record, name)})
        return json.dumps(line)


class Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # (no access log on stderr)


def refresh_cache() -> None:
    pass


def export() -> None:
    raise ConnectionError(f"the warehouse is down ({current_run().run_id})")


def main() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLines())
    logger = logging.getLogger("tickwork")
    logger.addHandler(handler)
    logger.propagate = False
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "jobs.db"
        clock = FakeClock(START)
        scheduler = Scheduler(
            store=SQLiteStore(path),
            clock=clock,
            executors={"default": InlineExecutor()},
            timezone="UTC",
        )
        metrics = instrument(scheduler)
        scheduler.add_job(refresh_cache, "interval", minutes=1, id="refresh-cache")
        scheduler.add_job(export, "cron", "*/5 * * * *", id="export", retry=RetryPolicy(attempts=1))
        scheduler.open()
        print("-- log lines (JSON):")
        run_until(scheduler, START + timedelta(minutes=10))

        server = make_server("127.0.0.1", 0, wsgi_app(metrics), handler_class=Quiet)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
            kind = response.headers["Content-Type"]
        server.shutdown()
        server.server_close()
        print(f"\n-- GET /metrics ({kind}), some lines:")
        for line in text.splitlines():
            if line.startswith(
                ("tickwork_runs_total", "tickwork_next_fire", "tickwork_scheduler_up")
            ):
                print(line)

        print("\n-- the store's processes:")
        for process in scheduler.store.processes(now=clock.now()):  # type: ignore[attr-defined]
            leases = len(process.leases)
            print(f"alive={process.alive} last_seen={process.last_seen:%H:%M} leases={leases}")

        print("\n-- what the store alone tells (tickwork metrics FILE), some lines:")
        for line in render_store(scheduler.store, now=clock.now()).splitlines():
            if line.startswith("tickwork_history_runs"):
                print(line)
        scheduler.shutdown()
    logger.removeHandler(handler)


if __name__ == "__main__":
    main()
