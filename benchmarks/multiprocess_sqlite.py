"""Several processes on one SQLite file: fires lost or doubled, and kill -9 takeover time.

Each cell starts *processes* real worker processes on a fresh file. Every worker runs a
``Scheduler(store=SQLiteStore(path, poll_interval=...))`` and adds the same job with
``replace_existing=True``, as every worker of a web app does at start-up: an interval job
on a fixed grid, default options (``max_instances=1``, ``overlap="skip"``), whose run
takes *length* seconds. Once every worker is up, the script watches for ``--seconds``
(or five fires, whichever is longer), stops the workers, and reads the file's history:

* **expected**: the fire times on the grid inside the watched window;
* **lost**: those with no successful run (skipped, missed, or never claimed);
* **doubled**: fire times with more than one run.

The last table kills (``SIGKILL``) a worker in the middle of a run of a job with a retry
policy while another worker is up (default ``lease_time`` of 30 s, ``poll_interval`` 1
s) and times, from the kill, the ``interrupted`` history row and the retry's start.

APScheduler 3 has no equivalent (its jobs stores are not shared between schedulers: each
process would run every fire), so there is no peer column.

    python benchmarks/multiprocess_sqlite.py            # the full table (about 2 min)
    python benchmarks/multiprocess_sqlite.py --quick    # 3 s per cell, slow job scaled
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tickwork import RetryPolicy, Scheduler, current_run
from tickwork.stores import SQLiteStore

UTC = timezone.utc
GRID = datetime(2024, 1, 1, tzinfo=UTC)
STARTUP = 60.0


def work(length: float) -> None:
    """The benchmark's job: takes *length* seconds."""
    time.sleep(length)


def block(marker: str) -> None:
    """Write this process's pid to *marker*, then block (first attempt only)."""
    if current_run().attempt == 1:
        Path(marker).write_text(str(os.getpid()))
        time.sleep(600)


_WORK = f"{__name__}:work"
_BLOCK = f"{__name__}:block"


def worker(config: dict[str, object]) -> int:
    """One process of the app: add the job, run until stdin closes, shut down."""
    store = SQLiteStore(
        str(config["db"]), poll_interval=float(config["poll"]), history_per_job=1_000_000
    )  # type: ignore[arg-type]
    scheduler = Scheduler(store=store, timezone="UTC")
    if config["mode"] == "cell":
        scheduler.add_job(_WORK, "interval", seconds=config["every"], start_date=GRID,
                          args=[config["length"]], id="job", replace_existing=True)  # fmt: skip
    elif config["mode"] == "victim":
        scheduler.add_job(_BLOCK, "date", run_date=datetime.now(UTC), args=[config["marker"]],
                          id="victim", retry=RetryPolicy(attempts=2, delay=0))  # fmt: skip
    scheduler.start()
    print("ready", flush=True)
    sys.stdin.read()
    scheduler.shutdown(wait=True)
    return 0


def _spawn(config: dict[str, object]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _ready(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"worker {proc.pid} did not start (see stderr)")


def _stop(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None and proc.stdin is not None:
            proc.stdin.close()
    for proc in procs:
        try:
            proc.wait(STARTUP)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Cell:
    expected: int
    lost: int
    doubled: int


def run_cell(
    directory: str, every: float, length: float, processes: int, poll: float, seconds: float
) -> Cell:
    db = os.path.join(directory, f"cell-{every}-{length}-{processes}-{poll}.db")
    config = {"mode": "cell", "db": db, "poll": poll, "every": every, "length": length}
    procs = [_spawn(config) for _ in range(processes)]
    try:
        _ready(procs)
        began = datetime.now(UTC)
        threading.Event().wait(max(seconds, 5 * every + length))
        ended = datetime.now(UTC)
    finally:
        _stop(procs)
    # The grid's fire times wholly inside the window (a run has time to end before it).
    step = timedelta(seconds=every)
    first = GRID + step * (int((began - GRID) / step) + 1)
    expected = []
    moment = first
    while moment + timedelta(seconds=length) < ended - timedelta(seconds=0.05):
        expected.append(moment)
        moment += step
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT scheduled_us FROM history WHERE job_id = 'job' AND outcome = 'success'"
        ).fetchall()
    finally:
        conn.close()
    ran = Counter(GRID + timedelta(microseconds=us - int(GRID.timestamp() * 1e6)) for (us,) in rows)
    lost = sum(1 for moment in expected if not ran[moment])
    doubled = sum(1 for moment in expected if ran[moment] > 1)
    return Cell(len(expected), lost, doubled)


def takeover(directory: str, attempt: int) -> tuple[float, float]:
    """Seconds from kill -9 to the interrupted row, and to the retry's start."""
    db = os.path.join(directory, f"takeover-{attempt}.db")
    marker = os.path.join(directory, f"victim-pid-{attempt}")
    base = {"mode": "victim", "db": db, "poll": 1.0, "marker": marker}
    victim = _spawn(base)
    procs = [victim]
    try:
        _ready([victim])
        deadline = time.monotonic() + STARTUP
        while not os.path.exists(marker) and time.monotonic() < deadline:
            threading.Event().wait(0.01)
        survivor = _spawn({**base, "mode": "survivor"})  # adds no job of its own
        procs.append(survivor)
        _ready([survivor])
        killed = time.time()
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        interrupted = retried = None
        conn = sqlite3.connect(db)
        try:
            while (interrupted is None or retried is None) and time.time() < killed + 60:
                for outcome, recorded, started in conn.execute(
                    "SELECT outcome, recorded_us, started_us FROM history WHERE job_id='victim'"
                ):
                    if outcome == "interrupted":
                        interrupted = recorded / 1e6 - killed
                    elif started is not None:
                        retried = started / 1e6 - killed
                threading.Event().wait(0.01)
        finally:
            conn.close()
    finally:
        _stop(procs)
    if interrupted is None or retried is None:
        raise RuntimeError("the killed run was not taken over within 60 s")
    return interrupted, retried


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="watch each cell this long")
    parser.add_argument("--quick", action="store_true", help="3 s cells, the slow job scaled")
    parser.add_argument("--kills", type=int, default=5, help="kill -9 takeovers to time")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(json.loads(args.worker))
    seconds = 3.0 if args.quick else args.seconds
    slow = (0.6, 0.5) if args.quick else (3.0, 2.5)
    rows: list[tuple[str, list[int], float, float, float]] = [
        ("0.1 s, 1 ms job", [1, 2, 4], 0.1, 0.001, 1.0),
        ("0.25 s, 1 ms job", [1, 2, 4], 0.25, 0.001, 1.0),
        ("0.5 s, 1 ms job", [4], 0.5, 0.001, 1.0),
        (f"{slow[0]:g} s, {slow[1]:g} s job", [4], *slow, 1.0),
        ("0.1 s, 1 ms job, poll_interval=5", [2, 4], 0.1, 0.001, 5.0),
    ]
    print(f"Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, "
          f"{os.cpu_count()} cores; {seconds:g} s watched per cell\n")  # fmt: skip
    print("| interval, run length | 1 process | 2 processes | 4 processes |")
    print("| --- | ---: | ---: | ---: |")
    total_doubled = 0
    with tempfile.TemporaryDirectory() as directory:
        for label, counts, every, length, poll in rows:
            cells = []
            for processes in (1, 2, 4):
                if processes not in counts:
                    cells.append("")
                    continue
                cell = run_cell(directory, every, length, processes, poll, seconds)
                total_doubled += cell.doubled
                share = 100 * cell.lost / cell.expected if cell.expected else 0.0
                cells.append(f"{share:.1f} % lost ({cell.lost}/{cell.expected})")
            print(f"| {label} | " + " | ".join(cells) + " |", flush=True)
        print(f"\nFires run twice, all cells: {total_doubled}\n")
        kills = [takeover(directory, n) for n in range(args.kills)]
    print(f"| kill -9 mid-run, {args.kills} times (lease_time 30 s, poll_interval 1 s) "
          "| median s after the kill | worst |")  # fmt: skip
    print("| --- | ---: | ---: |")
    for label, times in (
        ("`interrupted` row written by the surviving process", [k[0] for k in kills]),
        ("retry (attempt 2) started", [k[1] for k in kills]),
    ):
        print(f"| {label} | {statistics.median(times):.2f} | {max(times):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
