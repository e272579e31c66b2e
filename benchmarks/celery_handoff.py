#!/usr/bin/env python3
"""tickwork handing runs to Celery, beside Celery beat, on the local Redis.

Run it from the repository root, with Redis at 127.0.0.1:6379 (it uses database 8)::

    pip install -e ".[celery]"
    python benchmarks/celery_handoff.py            # the full sizes (about a minute)
    python benchmarks/celery_handoff.py --short    # a smoke run (seconds)

The measurements:

``send``
    How fast one scheduler hands runs to Redis: *N* runs due at once, handed to a
    ``CeleryExecutor`` (``submit_many``, as the engine does: a task per run, its id
    derived from the run, its message, one producer), timed to the last send; and
    the same through a whole ``Scheduler`` (*N* date jobs due at once, from
    ``start()`` until every run is out). No worker consumes; the queue is deleted
    afterwards.
``lateness``
    One ``celery worker`` (threads pool, 8 threads). tickwork: 100 jobs every second,
    their start times 10 ms apart (100 runs/s), for *S* seconds; lateness = the
    worker's start of the job (``started_at``, the same host's clock) - the nominal
    time. Celery beat: the same 100 entries every second (``run_every=1s``); beat has
    no nominal times, so lateness is the start - the entry's ideal grid (its earliest
    start + k seconds): beat re-plans each entry from its last send, so delays add up.
``doubling``
    Two schedulers started by mistake: two ``celery beat`` processes with 10 entries
    every second send every task twice; two tickwork processes on one SQLite store with
    the same 10 jobs (``CeleryExecutor``) send each run once. Runs counted on the
    worker for *S* seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
ROOT = HERE.parent
URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/8")


def env() -> dict[str, str]:
    paths = [str(ROOT / "src"), str(HERE), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), "BENCH_REDIS": URL}


def app() -> Any:
    from celery import Celery

    return Celery("tickwork_bench", broker=URL, backend=URL)


def redis_client() -> Any:
    import redis

    return redis.Redis.from_url(URL)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(" --- " for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


class Process:
    """A child process (worker, beat) whose output is read; always killed at the end."""

    def __init__(self, command: list[str], extra: dict[str, str], ready: str | None) -> None:
        self.process = subprocess.Popen(
            command, cwd=HERE, env={**env(), **extra}, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self.ready = threading.Event()
        self._marker = ready
        threading.Thread(target=self._read, daemon=True).start()
        if ready is not None and not self.ready.wait(30):
            self.stop()
            raise RuntimeError("a child did not start:\n" + "".join(self.lines[-30:]))

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if self._marker is not None and self._marker in line:
                self.ready.set()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def worker(queue: str, threads: int = 8) -> Process:
    return Process(
        [sys.executable, "-m", "celery", "-A", "_celery_bench_app", "worker", "-P", "threads",
         "-c", str(threads), "-Q", queue, "-l", "info", "--without-heartbeat",
         "--without-gossip", "--without-mingle", "-n", f"{queue}@%h"],
        {}, " ready.",
    )  # fmt: skip


def beat(queue: str, entries: int, key: str, directory: Path, number: int) -> Process:
    return Process(
        [sys.executable, "-m", "celery", "-A", "_celery_bench_app", "beat", "-l", "info",
         "-s", str(directory / f"beat-{number}"), "--pidfile", str(directory / f"beat-{number}.pid")],
        {"BENCH_ENTRIES": str(entries), "BENCH_KEY": key, "BENCH_QUEUE": queue},
        "beat: Starting",
    )  # fmt: skip


# -- send ---------------------------------------------------------------------------------


def measure_send(count: int) -> list[list[str]]:
    from tickwork import Scheduler
    from tickwork._model import RunRequest
    from tickwork.executors import CeleryExecutor
    from tickwork.testing import FakeClock

    client = redis_client()
    rows = []
    queue = f"bench-send-{uuid.uuid4().hex[:8]}"
    executor = CeleryExecutor(app(), queue=queue, resend_after=None)
    executor.start(lambda result: None, FakeClock())
    at = datetime.now(timezone.utc)
    requests = [
        RunRequest(i, f"job-{i}", None, "_celery_bench_app:noop", (), {}, at, 1,
                   misfire_grace=timedelta(seconds=60))
        for i in range(count)
    ]  # fmt: skip
    began = time.perf_counter()
    executor.submit_many(requests)
    while executor.sent() < count and time.perf_counter() - began < 60:
        time.sleep(0.001)
    took = time.perf_counter() - began
    executor.shutdown(wait=False)
    rows.append(["CeleryExecutor.submit_many", f"{count:,}", f"{took:.3f}", f"{count / took:,.0f}"])
    client.delete(queue)

    queue = f"bench-send-{uuid.uuid4().hex[:8]}"
    executor = CeleryExecutor(app(), queue=queue, resend_after=None)
    scheduler = Scheduler(timezone="UTC", executors={"celery": executor})
    at = datetime.now(timezone.utc)
    for i in range(count):
        scheduler.add_job("_celery_bench_app:noop", "date", run_date=at, id=f"job-{i}",
                          executor="celery", misfire_grace_time=60)  # fmt: skip
    began = time.perf_counter()
    scheduler.start()
    while executor.sent() < count and time.perf_counter() - began < 60:
        time.sleep(0.001)
    took = time.perf_counter() - began
    sent = executor.sent()
    scheduler.shutdown(wait=False)
    rows.append(
        ["Scheduler, date jobs due at once", f"{sent:,}", f"{took:.3f}", f"{sent / took:,.0f}"]
    )
    client.delete(queue)
    return rows


# -- lateness -------------------------------------------------------------------------------


def measure_tickwork_lateness(queue: str, seconds: float, jobs: int) -> list[float]:
    from tickwork import EventKind, Scheduler
    from tickwork.executors import CeleryExecutor

    lateness: list[float] = []
    lock = threading.Lock()

    def record(event: Any) -> None:
        if event.started_at is not None:
            with lock:
                lateness.append((event.started_at - event.scheduled_at).total_seconds())

    scheduler = Scheduler(timezone="UTC", executors={"celery": CeleryExecutor(app(), queue=queue)})
    scheduler.add_listener(record, EventKind.JOB_EXECUTED)
    first = datetime.now(timezone.utc) + timedelta(seconds=0.5)
    for i in range(jobs):
        scheduler.add_job(
            "_celery_bench_app:noop", "interval", seconds=1, id=f"late-{i}",
            start_date=first + timedelta(seconds=i / jobs), executor="celery",
            end_date=first + timedelta(seconds=seconds),
        )  # fmt: skip
    scheduler.start()
    time.sleep(seconds + 0.6)
    scheduler.shutdown(wait=True, timeout=10)
    return lateness


def measure_beat_lateness(queue: str, seconds: float, jobs: int, directory: Path) -> list[float]:
    client = redis_client()
    key = f"bench:stamps:{uuid.uuid4().hex[:8]}"
    process = beat(queue, jobs, key, directory, 0)
    time.sleep(seconds + 1.2)  # its first round goes 1 s after it starts
    process.stop()
    time.sleep(0.5)
    starts: dict[str, list[float]] = {}
    for raw in client.lrange(key, 0, -1):
        name, at = raw.decode().split()
        starts.setdefault(name, []).append(float(at))
    client.delete(key)
    lateness = []
    for times in starts.values():
        times.sort()
        # The entry's grid is anchored at its earliest start (each start minus its
        # number of whole periods, the least of them), so no run counts as early.
        anchor = min(at - k for k, at in enumerate(times))
        lateness.extend(at - (anchor + k) for k, at in enumerate(times))
    return lateness


# -- doubling -------------------------------------------------------------------------------


def tickwork_child(db: str, queue: str, key: str, seconds: float, jobs: int) -> None:
    """One of two tickwork processes on one store (``--child``)."""
    from tickwork import Scheduler
    from tickwork.executors import CeleryExecutor
    from tickwork.stores import SQLiteStore

    store = SQLiteStore(db)
    scheduler = Scheduler(timezone="UTC", store=store,
                          executors={"celery": CeleryExecutor(app(), queue=queue)})  # fmt: skip
    # Ready: the parent picks the first fire time once both processes are (a machine
    # busy enough to take seconds to import Celery would otherwise start them after
    # their last fire, and they would send nothing).
    print("ready", flush=True)
    first = datetime.fromisoformat(sys.stdin.readline().strip())
    for i in range(jobs):
        scheduler.add_job("_celery_bench_app:note", "interval", seconds=1, args=[key],
                          id=f"twice-{i}", start_date=first, executor="celery",
                          end_date=first + timedelta(seconds=seconds), replace_existing=True)  # fmt: skip
    scheduler.start()
    time.sleep(max(0.0, (first - datetime.now(timezone.utc)).total_seconds()) + seconds + 0.5)
    scheduler.shutdown(wait=True, timeout=10)
    store.close()


def measure_doubling(queue: str, seconds: float, directory: Path) -> list[list[str]]:
    """Two beats and two tickwork processes, at the same time (their own keys)."""
    client = redis_client()
    jobs = 10
    runs_key = f"bench:runs:{uuid.uuid4().hex[:8]}"
    db = str(directory / "twice.db")
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--child", db, queue, runs_key, str(seconds), str(jobs)],
            cwd=HERE,
            env=env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in (1, 2)
    ]
    for child in children:
        assert child.stdout is not None
        child.stdout.readline()  # "ready" (or "" if it died: then it sends nothing)
    first = datetime.now(timezone.utc) + timedelta(seconds=1)
    for child in children:
        assert child.stdin is not None
        child.stdin.write(first.isoformat() + "\n")
        child.stdin.close()
    key = f"bench:stamps:{uuid.uuid4().hex[:8]}"
    beats = [beat(queue, jobs, key, directory, n) for n in (1, 2)]
    time.sleep(1.5)  # both have sent their first round
    began = time.time()
    # A window of whole seconds: each beat sends each entry that many times, or one
    # more (the window's ends fall anywhere in its period).
    time.sleep(max(2, round(seconds)))
    ended = time.time()
    for process in beats:
        process.stop()
    for child in children:
        child.wait(seconds + 60)
        if child.stdout is not None:
            child.stdout.close()
    stamps = [raw.decode().split() for raw in client.lrange(key, 0, -1)]
    client.delete(key)
    beat_runs = sum(1 for _, at in stamps if began <= float(at) < ended)
    # Beat has no fire ids: one beat sends each entry once a second.
    fires = jobs * (ended - began)
    rows = [["Celery beat, 2 processes", f"{jobs} every 1 s", f"{ended - began:.1f} s",
             f"{beat_runs:,}", f"~{fires:,.0f} (1 per entry per second)",
             f"{beat_runs / max(1, fires):.2f}"]]  # fmt: skip
    ids = Counter(raw.decode() for raw in client.lrange(runs_key, 0, -1))
    client.delete(runs_key)
    runs = sum(ids.values())
    rows.append(["tickwork, 2 processes, 1 store", f"{jobs} every 1 s", f"{seconds:g} s",
                 f"{runs:,}", f"{len(ids):,} (distinct run ids)",
                 f"{runs / max(1, len(ids)):.2f}"])  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--short", action="store_true", help="a smoke run: small sizes")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        db, queue, key, seconds, jobs = options.child
        tickwork_child(db, queue, key, float(seconds), int(jobs))
        return 0
    sends = 2_000 if options.short else 20_000
    seconds = 1.5 if options.short else 10.0
    jobs = 100
    try:
        redis_client().ping()
    except Exception as error:
        print(f"skipped: no Redis at {URL} ({error})")
        return 0

    print(f"Celery hand-off, Redis {URL}, {'short' if options.short else 'full'} sizes")
    rows = measure_send(sends)
    table("Send rate, one scheduler to Redis (no worker consuming)",
          ["path", "runs", "seconds", "runs/s"], rows)  # fmt: skip
    rate = float(rows[-1][-1].replace(",", ""))
    print(f"\nGoal: one scheduler sends 5,000 runs/s or more: "
          f"{'met' if rate >= 5000 else 'NOT met'} ({rate:,.0f} runs/s)")  # fmt: skip

    queue = f"bench-late-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        running = worker(queue)
        try:
            ours = measure_tickwork_lateness(queue, seconds, jobs)
            theirs = measure_beat_lateness(queue, seconds, jobs, directory)
            rows = []
            for name, values in (("tickwork + CeleryExecutor", ours), ("Celery beat", theirs)):
                if not values:
                    rows.append([name, "0", "-", "-", "-"])
                    continue
                ms = [v * 1000 for v in values]
                rows.append([name, f"{len(ms):,}", f"{statistics.median(ms):.1f}",
                             f"{percentile(ms, 0.99):.1f}", f"{max(ms):.1f}"])  # fmt: skip
            table(f"Lateness, nominal time to task start on the worker, {jobs} runs/s for "
                  f"{seconds:g} s (ms)", ["scheduler", "runs", "p50", "p99", "max"], rows)  # fmt: skip
            p99 = percentile([v * 1000 for v in ours], 0.99) if ours else float("inf")
            print(f"\nGoal: tickwork's p99 lateness at 100 runs/s 20 ms or less: "
                  f"{'met' if p99 <= 20 else 'NOT met'} ({p99:.1f} ms)")  # fmt: skip
            table("Two schedulers started by mistake",
                  ["scheduler", "schedule", "for", "runs on the worker", "fires", "runs per fire"],
                  measure_doubling(queue, seconds, directory))  # fmt: skip
        finally:
            running.stop()
            redis_client().delete(queue)
    return 0


if __name__ == "__main__":
    sys.exit(main())
