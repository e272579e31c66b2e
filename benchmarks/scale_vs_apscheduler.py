#!/usr/bin/env python3
"""tickwork at scale beside APScheduler 3: big backlogs, steady load, a million jobs (issue 16).

Run it from the repository root (or with ``PYTHONPATH=src`` from any checkout)::

    pip install -e ".[bench]"
    python benchmarks/scale_vs_apscheduler.py                   # all nine, about 5 minutes
    python benchmarks/scale_vs_apscheduler.py --only backlog --repeat 5
    python benchmarks/scale_vs_apscheduler.py --only steady --profile
    python benchmarks/scale_vs_apscheduler.py --only million --dir /var/tmp

Every measurement sets tickwork and APScheduler 3 up alike, measures both in one run and
checks that every job ran exactly once (a run that loses or doubles a job is refused:
its cell shows "refused" and the reason is printed). Both use UTC and 10 worker threads;
APScheduler gets ``misfire_grace_time=None`` (its default of 1 s would drop late runs,
and a slow dispatch would then look fast) and, on SQLite, ``coalesce=True``.

- In memory: ``Scheduler(store=MemoryStore(), executors={"default":
  ThreadExecutor(max_workers=10)})`` beside ``BackgroundScheduler(jobstores={"default":
  MemoryJobStore()}, executors={"default": ThreadPoolExecutor(10)})``.
- On SQLite: ``SQLiteStore(path)`` beside ``SQLAlchemyJobStore(url="sqlite:///path")``,
  each with its own settings (tickwork: WAL, ``synchronous=NORMAL``; APScheduler:
  SQLite's defaults, a disk flush per commit and a commit per job).
- In asyncio: ``AsyncScheduler(store=MemoryStore(), executors={"default":
  AsyncioExecutor()})`` beside ``AsyncIOScheduler`` with ``AsyncIOExecutor``.

The measurements (``--only NAME`` runs one):

``backlog``
    100,000 ``date`` jobs due at one instant, added before ``start()`` for an instant far
    enough ahead that the adds and the start are over (a run whose setup overran it is
    redone with more time). From the due instant: when the first run starts (ms) and the
    jobs per second to the last run's end. Two floors beside them, with no scheduler: a
    heap of the due times popped by one thread into a deque served by 10 threads, and the
    same heap handing each job to a ``concurrent.futures.ThreadPoolExecutor(10)``.
``dispatch``
    The same with 10,000 jobs.
``sqlite-backlog``
    A file holding 100,000 (tickwork) and 10,000 (both) ``date`` jobs already due,
    filled once outside the timer and copied for each run; from ``start()``: the first
    run's start (ms) and runs per second to the last run's end.
``share``
    tickwork only: 10,000 due jobs in one file, run by 1 and by 4 processes (copies of
    this script in a hidden ``--worker`` mode, started together). Runs per second and
    each process's share; every run exactly once by the workers' records and the file's
    history. APScheduler 3 cannot share a job store: each process would run every job.
``steady``
    A steady load of 100 and 1,000 one-shot jobs a second for ~3 s: the jobs are added to
    a started scheduler ahead of time, due at evenly spread instants. The process's CPU
    time (``time.process_time``) over the window as % of one core, and how late each run
    started (start minus scheduled instant), p50 and p99.
``async``
    10,000 coroutine jobs due at once (jobs/s from the due instant), beside a floor of
    bare asyncio (one ``call_at`` that creates the 10,000 tasks); then the lateness of
    200 one-shot coroutine jobs spread over 3 s, beside a floor of one bare
    ``loop.call_at`` per due instant creating the job's task.
``million``
    tickwork's ``start()`` on a file of 1,000,000 interval jobs (every 365 days, first
    fire times spread evenly over the year 2100, so that none comes due while the file
    is reused), in a fresh subprocess: seconds, and the growth of the process's memory (resident set
    after minus before, and peak resident set minus before). ``len(get_jobs())`` must be
    1,000,000 (timed apart). The file is filled once with ``add_jobs`` (minutes; progress
    is printed) and kept under ``--dir`` for later runs, named by a hash of the tables a
    fresh store creates, so a checkout with another schema fills its own. APScheduler 3
    reads no job in ``start()`` (its thread queries the file at each wake-up), so it is
    not measured here.
``add``
    ``add_job`` one by one, 2,000 interval jobs to a scheduler on a fresh SQLite file
    started paused: µs per job; the rows in the file are counted afterwards.

Repeats: every timed cell is measured ``--repeat`` times (default 2); throughput and
first-run cells keep the best, steady-load cells the median, lateness the run with the
lowest p99 (for every column alike). A cell stops repeating after ``--limit`` seconds
(default 20), and a single APScheduler loop on SQLite longer than that is cut off, then
reported from the work done so far and marked ``*``. ``--scale`` (default 1) multiplies
every job count, for a quick try of the script. ``--profile`` (with ``--only``) runs
tickwork's side once more under ``cProfile`` in every thread (by CPU time per thread)
and prints the top 20 functions by own time.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import functools
import gc
import hashlib
import heapq
import io
import json
import math
import os
import platform
import pstats
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from _common import (
    WAIT,
    WORKERS,
    Cell,
    Files,
    Peer,
    Refused,
    Runs,
    Shared,
    WorkerRuns,
    aps_sqlite,
    filled_file,
    repeated,
    rows,
    run_workers,
    temp_files,
    tickwork_sqlite,
    tickwork_version,
)
from _report import AllThreadsProfile, Table, Target, render

UTC = timezone.utc
R = TypeVar("R")
BACKLOG_JOBS = 100_000
DISPATCH_JOBS = 10_000
SQLITE_SIZES = (100_000, 10_000)
APS_SQLITE_JOBS = 10_000  # APScheduler fills a file one commit per job: 100,000 is too slow
SHARE_JOBS = 10_000
SHARE_PROCESSES = (1, 4)
STEADY_RATES = (100, 1_000)
STEADY_SPAN = 3.0
ASYNC_JOBS = 10_000
LATENESS_JOBS = 200
LATENESS_SPAN = 3.0
LATENESS_SEED = 2024
MILLION = 1_000_000
YEAR_2100 = datetime(2100, 1, 1, tzinfo=UTC)
FILL_CHUNK = 20_000
ADD_JOBS = 2_000
TICKWORK, APSCHEDULER = "tickwork", "APScheduler 3"
PREFIX = "tickwork-scale-"  # of the temporary directory of database files
DEQUE_FLOOR, POOL_FLOOR = "heap + deque + 10 threads", "heap + ThreadPoolExecutor(10)"
MEASUREMENTS = (
    "backlog",
    "dispatch",
    "sqlite-backlog",
    "share",
    "steady",
    "async",
    "million",
    "add",
)


class Overrun(Exception):
    """The adds and the start took longer than the lead given to them: redo with more."""

    def __init__(self, setup: float) -> None:
        super().__init__(f"setup took {setup:.2f} s")
        self.setup = setup


# --- the jobs, and how their runs are checked ---------------------------------------------------


_runs = Runs(0)


def _ran(index: int) -> None:
    _runs(index)


async def _aran(index: int) -> None:
    _runs(index)


def _noop() -> None:
    pass


_worker: WorkerRuns | None = None


def _mp_ran() -> None:
    assert _worker is not None
    run = _worker.current_run()
    _worker.runs.append((run.job_id, run.scheduled_at.isoformat()))
    os.write(_worker.pipe_fd, b".")


def _mp_waited() -> None:
    """A job that waits 1 ms (a query, a call to a service) before it is done."""
    time.sleep(0.001)
    _mp_ran()


# The SQLite stores keep a job's function as a "module:function" reference.
_NOOP = f"{__name__}:_noop"
_RAN = f"{__name__}:_ran"
_MP_RAN = f"{__name__}:_mp_ran"
_MP_WAITED = f"{__name__}:_mp_waited"
#: The jobs `share` runs: each kind in 1 and in 4 processes.
SHARE_KINDS = (("no-op", _MP_RAN), ("1 ms wait", _MP_WAITED))


def _due_jobs(
    count: int, func: str, *, indexed: bool = False, due: datetime | None = None
) -> list[dict[str, Any]]:
    """*count* one-shot jobs, all due at one instant (*due*; default a second ago)."""
    if due is None:
        due = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    return [
        {
            "func": func,
            "trigger": "date",
            "run_date": due,
            "id": f"job-{i}",
            **({"args": [i]} if indexed else {}),
        }
        for i in range(count)
    ]


def _yearly_jobs(start: int, count: int, total: int) -> list[dict[str, Any]]:
    """Jobs *start* to *start + count* of *total* yearly interval jobs, their first fire
    times spread evenly over the year 2100: never due while a cached file is reused, and
    each with a fire time of its own."""
    step = timedelta(days=365) / total
    return [
        {
            "func": _NOOP,
            "trigger": "interval",
            "id": f"job-{i}",
            "days": 365,
            "start_date": YEAR_2100 + i * step,
        }
        for i in range(start, start + count)
    ]


# --- the libraries (the SQLite ones are in _common) -------------------------------------------


def _aps_version() -> str | None:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("apscheduler")
    except PackageNotFoundError:
        return None


def tickwork_memory() -> Peer:
    from tickwork import Scheduler
    from tickwork.executors import ThreadExecutor
    from tickwork.stores import MemoryStore

    def create() -> Any:
        return Scheduler(
            store=MemoryStore(),
            executors={"default": ThreadExecutor(max_workers=WORKERS)},
            timezone="UTC",
        )

    return Peer(TICKWORK, tickwork_version(), create)


def aps_memory() -> Peer:
    try:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.background import BackgroundScheduler
    except ImportError:
        return Peer(APSCHEDULER, None, lambda: None)

    def create() -> Any:
        return BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(WORKERS)},
            job_defaults={"misfire_grace_time": None},
            timezone=UTC,
        )

    return Peer(APSCHEDULER, _aps_version(), create)


def tickwork_async() -> Peer:
    from tickwork import AsyncScheduler
    from tickwork.executors import AsyncioExecutor
    from tickwork.stores import MemoryStore

    def create() -> Any:
        return AsyncScheduler(
            store=MemoryStore(), executors={"default": AsyncioExecutor()}, timezone="UTC"
        )

    return Peer(TICKWORK, tickwork_version(), create)


def aps_async() -> Peer:
    try:
        from apscheduler.executors.asyncio import AsyncIOExecutor
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
    except ImportError:
        return Peer(APSCHEDULER, None, lambda: None)

    def create() -> Any:
        return AsyncIOScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": AsyncIOExecutor()},
            job_defaults={"misfire_grace_time": None},
            timezone=UTC,
        )

    return Peer(APSCHEDULER, _aps_version(), create)


# --- cells (in _common): the best (or median) of the repeats ------------------------------------


def _cells(
    run: Callable[[], R],
    repeat: int,
    limit: float,
    pick: dict[str, tuple[Callable[[R], float | None], Callable[[list[float]], float]]],
    partial: Callable[[R], str | None] = lambda _: None,
) -> dict[str, Cell]:
    """Run *run* up to *repeat* times; one cell per metric in *pick*: (how to read it from a
    result, how to combine the readings: ``min``, ``max`` or ``statistics.median``)."""
    try:
        results = repeated(run, repeat, limit)
    except Refused as why:
        return {name: Cell(refused=str(why)) for name in pick}
    cut = next((p for p in map(partial, results) if p), None)
    cells = {}
    for name, (read, combine) in pick.items():
        values = [v for v in map(read, results) if v is not None]
        cells[name] = Cell(combine(values) if values else None, cut, len(results))
    return cells


def _footnotes(
    table: Table, cells: dict[str, Cell], problems: list[str], repeat: int, limit: float
) -> None:
    noted: set[str] = set()
    for what, cell in cells.items():
        if cell.refused is not None:
            line = f"Refused: {what}: {cell.refused}."
            table.notes.append(line)
            problems.append(line)
        elif cell.partial is not None and cell.partial not in noted:
            noted.add(cell.partial)
            whose = what.split(" (")[0]  # the run, not the metric: one note per run
            table.notes.append(f"Cut off (*): {whose}, by --limit {limit:g}: {cell.partial}.")
        elif cell.value is not None and cell.runs < repeat and what.endswith("*"):
            table.notes.append(f"{what}: {cell.runs} of {repeat} runs (--limit {limit:g} s).")


def _mark(met: bool | None) -> str:
    return {True: " ✓", False: " ✗", None: ""}[met]


def _times(ratio: float) -> str:
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.2f}x"


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


# --- backlog and dispatch: many date jobs due at one instant, in memory -----------------------


@dataclass
class Burst:
    """One run of many jobs due at once: first run after the due instant, throughput."""

    first_ms: float
    jobs_per_s: float
    setup: float = 0.0  # seconds the adds and the start took (to size the next lead)


class Lead:
    """How far ahead of the adds to put the due instant: learnt from the previous run of
    the same peer and size, so that little time is spent waiting."""

    def __init__(self, least: float) -> None:
        self.least = least
        self._setup: dict[tuple[str, int], float] = {}

    def get(self, label: str, count: int) -> float:
        setup = self._setup.get((label, count))
        if setup is None:  # a first guess: 100 µs per job for the adds and the start
            return max(self.least, 1.0 + 100e-6 * count)
        return max(self.least, 1.3 * setup + 0.3)

    def learn(self, label: str, count: int, setup: float) -> None:
        self._setup[(label, count)] = setup


def _with_lead(run: Callable[[float], Burst], lead: Lead, label: str, count: int) -> Burst:
    """*run* with the learnt lead; redone once with twice as much if its setup overran."""
    ahead = lead.get(label, count)
    for _ in range(3):
        try:
            result = run(ahead)
        except Overrun as why:
            lead.learn(label, count, why.setup)
            ahead = max(2 * ahead, lead.get(label, count))
            continue
        lead.learn(label, count, result.setup)
        return result
    raise Refused(f"the adds and the start kept overrunning a lead of {ahead:.1f} s")


def burst_once(peer: Peer, count: int, lead: float, timed: Any = None) -> Burst:
    """*count* date jobs due *lead* s after the first add, added before ``start()``."""
    runs = Runs(count)
    scheduler = peer.create()
    wall0, perf0 = time.time(), time.perf_counter()
    run_at = datetime.fromtimestamp(wall0 + lead, UTC)
    due = perf0 + (run_at.timestamp() - wall0)  # the due instant on the perf_counter scale
    try:
        for i in range(count):
            scheduler.add_job(runs, "date", run_date=run_at, args=(i,))
        with timed or contextlib.nullcontext():
            scheduler.start()
            gc.collect()
            setup = time.perf_counter() - perf0
            if time.perf_counter() > due - 0.05:
                raise Overrun(setup)
            finished = runs.done.wait(due - time.perf_counter() + WAIT)
    finally:
        scheduler.shutdown(wait=True)
    problem = runs.problem(complete=finished)
    if problem or not finished:
        raise Refused(problem or f"{len(runs.seen):,} of {count:,} runs within {WAIT:.0f} s")
    return Burst(1000 * (runs.first - due), count / (runs.last - due), setup)


def floor_burst_once(count: int, pool: bool, lead: float = 0.5) -> Burst:
    """The floor, with no scheduler: a heap of *count* due instants, popped by one thread
    at the instant and handed to 10 threads through a deque (or a ThreadPoolExecutor)."""
    runs = Runs(count)
    due_wall = time.time() + lead
    heap = [(due_wall, i) for i in range(count)]
    heapq.heapify(heap)
    due = time.perf_counter() + (due_wall - time.time())
    gc.collect()
    if pool:
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as executor:
            never = threading.Event()
            never.wait(max(0.0, due_wall - time.time()))
            while heap and heap[0][0] <= time.time():
                executor.submit(runs, heapq.heappop(heap)[1])
            runs.done.wait(WAIT)
    else:
        queue: deque[int] = deque()
        ready = threading.Condition()
        stop = threading.Event()

        def worker() -> None:
            while True:
                try:
                    index = queue.popleft()
                except IndexError:
                    with ready:
                        while not queue and not stop.is_set():
                            ready.wait()
                    if stop.is_set() and not queue:
                        return
                    continue
                runs(index)

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(WORKERS)]
        for thread in threads:
            thread.start()
        never = threading.Event()
        never.wait(max(0.0, due_wall - time.time()))
        size = 100  # a small first chunk: a worker may start before the next is popped
        while heap and heap[0][0] <= time.time():
            chunk = [heapq.heappop(heap)[1] for _ in range(min(size, len(heap)))]
            size = 1_000
            queue.extend(chunk)
            with ready:
                ready.notify_all()
        runs.done.wait(WAIT)
        stop.set()
        with ready:
            ready.notify_all()
        for thread in threads:
            thread.join()
    problem = runs.problem()
    if problem:
        raise Refused(f"floor: {problem}")
    return Burst(1000 * (runs.first - due), count / (runs.last - due))


def measure_burst(
    name: str, count: int, args: argparse.Namespace, lead: Lead, problems: list[str]
) -> tuple[Table, list[Target]]:
    ours, theirs = tickwork_memory(), aps_memory()
    pick: dict[str, tuple[Callable[[Burst], float | None], Callable[[list[float]], float]]] = {
        "first": (lambda b: b.first_ms, min),
        "rate": (lambda b: b.jobs_per_s, max),
    }
    columns: dict[str, dict[str, Cell]] = {}
    for peer in (ours, theirs):
        if not peer.version:
            columns[peer.label] = {k: Cell() for k in pick}
            continue
        once = functools.partial(
            _with_lead, functools.partial(burst_once, peer, count), lead, peer.label, count
        )
        columns[peer.label] = _cells(once, args.repeat, math.inf, pick)
    for label, pool in ((DEQUE_FLOOR, False), (POOL_FLOOR, True)):
        columns[label] = _cells(
            functools.partial(floor_burst_once, count, pool), args.repeat, math.inf, pick
        )
    table = Table(
        f"{count:,} date jobs due at one instant, in memory (best of {args.repeat})",
        ["Metric", *columns, "tickwork ÷ APScheduler"],
    )
    for metric, title, fmt, higher in (
        ("first", "first run starts after the due instant, ms", ",.1f", False),
        ("rate", "jobs/s, due instant to the last run's end", ",.0f", True),
    ):
        mine, other = columns[TICKWORK][metric], columns[APSCHEDULER][metric]
        ratio = "—"
        if mine.value and other.value:
            ratio = _times(mine.value / other.value if higher else other.value / mine.value)
        table.rows.append([title, *(c[metric].text(fmt) for c in columns.values()), ratio])
    table.notes.append(
        "The jobs are added before start(), for an instant after the adds and the start "
        "are over; the clock starts at that instant. Floors: no scheduler, the same due "
        "instants on a heap popped by one thread at the instant (in chunks of 100, then 1,000, onto a "
        "deque served by 10 threads; or one submit each to a ThreadPoolExecutor(10))."
    )
    flat = {f"{label} ({metric})": c for label, col in columns.items() for metric, c in col.items()}
    _footnotes(table, flat, problems, args.repeat, math.inf)
    first, rate = columns[TICKWORK]["first"], columns[TICKWORK]["rate"]
    if name == "backlog":
        return table, [
            _at_most("backlog", "first run <= 20 ms", first, 20.0, " ms", ",.1f"),
            _at_least("backlog", ">= 90,000 jobs/s", rate, 90_000, " jobs/s", ",.0f"),
        ]
    return table, [_at_least("dispatch", ">= 200,000 jobs/s", rate, 200_000, " jobs/s", ",.0f")]


def _at_most(name: str, goal: str, cell: Cell, bound: float, unit: str, fmt: str) -> Target:
    met = None if cell.value is None else cell.value <= bound
    return Target(name, goal, cell.text(fmt) + unit, met)


def _at_least(name: str, goal: str, cell: Cell, bound: float, unit: str, fmt: str) -> Target:
    met = None if cell.value is None else cell.value >= bound
    return Target(name, goal, cell.text(fmt) + unit, met)


# --- sqlite-backlog: due jobs already in a file -------------------------------------------------


@dataclass
class FileBurst:
    first_ms: float | None  # None: no run at all before the cut-off
    runs_per_s: float
    start_ms: float
    partial: str | None = None


def file_burst_once(
    peer: Peer, files: Files, source: str, count: int, limit: float, timed: Any = None
) -> FileBurst:
    """Start a scheduler on a copy of *source* (*count* due jobs); time to the last run."""
    global _runs
    path = files.copy(source, f"burst-{peer.short}")
    _runs = runs = Runs(count)
    scheduler = peer.create(path)
    finished = False
    try:
        gc.collect()
        with timed or contextlib.nullcontext():
            began = time.perf_counter()
            scheduler.start()
            started = time.perf_counter()
            finished = runs.done.wait(limit)
            cut, done = time.perf_counter(), len(runs.seen)
    finally:
        if finished:
            scheduler.shutdown(wait=True)
        else:
            peer.stop_midway(scheduler)
    files.discard(path)
    problem = runs.problem(complete=finished)
    if problem:
        raise Refused(problem)
    first = None if math.isnan(runs.first) else 1000 * (runs.first - began)
    if not finished:
        if not done:
            raise Refused(f"no run within {limit:.0f} s")
        return FileBurst(
            first,
            done / (cut - began),
            1000 * (started - began),
            f"{done:,} of {count:,} runs in {cut - began:.0f} s",
        )
    return FileBurst(first, count / (runs.last - began), 1000 * (started - began))


def measure_sqlite_backlog(
    files: Files, args: argparse.Namespace, problems: list[str]
) -> tuple[Table, list[Target]]:
    ours, theirs = tickwork_sqlite(TICKWORK, chunk=FILL_CHUNK), aps_sqlite(APSCHEDULER)
    scale = args.scale
    pick: dict[str, tuple[Callable[[FileBurst], float | None], Callable[[list[float]], float]]] = {
        "first": (lambda r: r.first_ms, min),
        "rate": (lambda r: r.runs_per_s, max),
        "start": (lambda r: r.start_ms, min),
    }
    table = Table(
        f"Due date jobs already in a SQLite file, from start() (best of {args.repeat})",
        [
            "Jobs due",
            "tickwork: first run, ms",
            "runs/s",
            "ms in start()",
            "APScheduler: first run, ms",
            "runs/s",
            "tickwork ÷ APScheduler",
        ],
    )
    flat: dict[str, Cell] = {}
    filled: list[str] = []
    targets: list[Target] = []
    for size in SQLITE_SIZES:
        count = max(1, int(size * scale))
        jobs = _due_jobs(count, _RAN, indexed=True)
        cols: dict[str, dict[str, Cell]] = {}
        for peer in (ours, theirs):
            if not peer.version:
                cols[peer.label] = {k: Cell() for k in pick}
                continue
            if peer is theirs and size != APS_SQLITE_JOBS:
                cols[peer.label] = {k: Cell(missing="— (not filled)") for k in pick}
                continue
            source, took = filled_file(peer, files, f"burst-source-{peer.short}-{count}", jobs)
            filled.append(f"{peer.short} {count:,} in {took:.1f} s")
            once = functools.partial(
                file_burst_once, peer, files, source, count, args.limit if peer is theirs else WAIT
            )
            cols[peer.label] = _cells(
                once, args.repeat, args.limit, pick, partial=lambda r: r.partial
            )
            files.discard(source)
            for metric, cell in cols[peer.label].items():
                flat[f"{peer.short} {count:,} ({metric})"] = cell
        mine, other = cols[TICKWORK], cols[APSCHEDULER]
        ratio = "—"
        if mine["rate"].value and other["rate"].value:
            ratio = _times(mine["rate"].value / other["rate"].value)
        table.rows.append(
            [
                f"{count:,}",
                mine["first"].text(",.0f"),
                mine["rate"].text(",.0f"),
                mine["start"].text(",.0f"),
                other["first"].text(",.0f"),
                other["rate"].text(",.0f"),
                ratio,
            ]
        )
        if size == SQLITE_SIZES[0]:
            targets.append(
                _at_most(
                    f"sqlite-backlog ({count:,})",
                    "first run <= 50 ms",
                    mine["first"],
                    50.0,
                    " ms",
                    ",.0f",
                )
            )
        else:
            targets.append(
                _at_least(
                    f"sqlite-backlog ({count:,})",
                    ">= 60,000 runs/s",
                    mine["rate"],
                    60_000,
                    " runs/s",
                    ",.0f",
                )
            )
    table.notes += [
        "Each file is filled beforehand (tickwork with add_jobs, APScheduler one add_job "
        "at a time with synchronous off) and copied for each run; the clock starts before "
        "start(), which loads the jobs. Each job's index is recorded: every job exactly "
        f"once. APScheduler is measured at {APS_SQLITE_JOBS:,} jobs only (no batch add to "
        f"fill its file). Files filled in: {'; '.join(filled)}.",
    ]
    _footnotes(table, flat, problems, args.repeat, args.limit)
    return table, targets


# --- share: one file, several processes --------------------------------------------------------


def share_once(
    files: Files,
    count: int,
    processes: int,
    lead: float,
    func: str = _MP_RAN,
    profile_dir: str | None = None,
) -> Shared:
    """*processes* started workers on one file whose *count* jobs (of *func*) fall due
    together, *lead* seconds after the fill begins: from that instant to the last run."""
    due = datetime.now(UTC) + timedelta(seconds=lead)
    path, _ = filled_file(
        tickwork_sqlite(TICKWORK, chunk=FILL_CHUNK),
        files,
        f"shared-{processes}",
        _due_jobs(count, func, due=due),
    )

    def at_due(_workers: list[subprocess.Popen[str]]) -> float:
        # Every worker has started its scheduler on the file: wait for the due instant.
        left = (due - datetime.now(UTC)).total_seconds()
        if left <= 0:
            raise Refused(f"the workers started {-left:.1f} s after the jobs fell due")
        time.sleep(left)
        return time.perf_counter()

    script = os.path.abspath(__file__)
    return run_workers(script, files, path, processes, count, at_due, profile_dir)


def worker_main(path: str, pipe_fd: int, output: str, profile_out: str | None) -> int:
    """A ``--worker`` process: a scheduler on the shared file, started on the parent's word."""
    global _worker
    from tickwork import Scheduler, current_run
    from tickwork.executors import ThreadExecutor
    from tickwork.stores import SQLiteStore

    _worker = WorkerRuns(pipe_fd, current_run)
    scheduler = Scheduler(
        store=SQLiteStore(path),
        executors={"default": ThreadExecutor(max_workers=WORKERS)},
        timezone="UTC",
    )
    profile = AllThreadsProfile() if profile_out else None
    with profile or contextlib.nullcontext():
        scheduler.start()
        print("ready", flush=True)
        sys.stdin.read()  # until the parent has counted every run
        scheduler.shutdown(wait=True)
    if profile is not None and profile_out is not None:
        profile.stats().dump_stats(profile_out)
    with open(output, "w", encoding="utf-8") as stream:
        json.dump({"pid": os.getpid(), "runs": _worker.runs}, stream)
    return 0


def measure_share(
    files: Files, args: argparse.Namespace, problems: list[str]
) -> tuple[Table, list[Target]]:
    count = max(1, int(SHARE_JOBS * args.scale))
    # Filling, starting the workers and loading the jobs in each fit well in this.
    lead = max(args.lead, 4.0)
    table = Table(
        f"{count:,} due date jobs in one SQLite file shared by several processes "
        f"(best of {args.repeat})",
        ["Job", "Processes", "runs/s", "runs per process", "share min / max", APSCHEDULER],
    )
    best: dict[tuple[str, int], Shared] = {}
    for kind, func in SHARE_KINDS:
        for processes in SHARE_PROCESSES:
            once = functools.partial(share_once, files, count, processes, lead, func)
            try:
                results = repeated(once, args.repeat, args.limit)
            except Refused as why:
                line = f"Refused: {kind}, {processes} process(es): {why}."
                table.notes.append(line)
                problems.append(line)
                table.rows.append([kind, str(processes), "refused", "", "", ""])
                continue
            found = best[kind, processes] = max(results, key=lambda r: r.runs_per_s)
            shares = [n / count for n in found.per_process]
            table.rows.append(
                [
                    kind,
                    str(processes),
                    f"{found.runs_per_s:,.0f}",
                    " / ".join(f"{n:,}" for n in found.per_process),
                    f"{min(shares):.0%} / {max(shares):.0%}",
                    "not safe: each process runs every job",
                ]
            )
    table.notes.append(
        "The jobs fall due together, after every worker has started its scheduler on the "
        "file (a burst while the app's processes are up). Timed from that instant to the "
        "last run, counted by the parent through a pipe. Every run's (job_id, scheduled_at) "
        "is checked against the others' and the file's history: each job exactly once."
    )
    table.notes.append(
        "A no-op job measures the schedulers alone: on 2 cores, 4 processes have at most "
        "twice the CPU of one, and each must read and plan every due job. A 1 ms job "
        "(time.sleep, as a query or a call to a service waits) is what sharing is for."
    )
    targets = []
    n = SHARE_PROCESSES[-1]
    for kind, _ in SHARE_KINDS:
        one, many = best.get((kind, SHARE_PROCESSES[0])), best.get((kind, n))
        faster: bool | None = None
        fair: bool | None = None
        speed_text = share_text = "—"
        if one and many:
            speed = many.runs_per_s / one.runs_per_s
            faster, speed_text = speed > 1, f"{speed:.2f}x"
        if many:
            low, high = min(many.per_process) / count, max(many.per_process) / count
            fair, share_text = low >= 0.10, f"min {low:.0%}, max {high:.0%}"
        targets += [
            Target(f"share, {kind}", f"{n} processes beat 1", speed_text, faster),
            Target(f"share, {kind}", "each process runs >= 10 %", share_text, fair),
        ]
    return table, targets


# --- steady: a steady flow of one-shot jobs -----------------------------------------------------


@dataclass
class Steady:
    cpu_percent: float
    late: list[float]  # seconds, ascending


def steady_once(peer: Peer, rate: int, span: float, timed: Any = None) -> Steady:
    """One-shot jobs due every 1/*rate* s for *span* s, added ahead to a started
    scheduler: the process's CPU over the window, and each run's lateness."""
    count = max(1, int(rate * span))
    runs = Runs(count)
    late: list[float] = []

    def job(index: int, scheduled: float) -> None:
        late.append(time.time() - scheduled)
        runs(index)

    scheduler = peer.create()
    with timed or contextlib.nullcontext():
        scheduler.start()
        try:
            base = time.time() + 0.5 + 400e-6 * count  # room for the adds
            for k in range(count):
                run_at = datetime.fromtimestamp(base + (k + 0.5) / rate, UTC)
                scheduler.add_job(job, "date", run_date=run_at, args=(k, run_at.timestamp()))
            gc.collect()
            if time.time() > base - 0.1:
                raise Refused(f"adding {count:,} jobs overran the start of the window")
            time.sleep(base - time.time())
            cpu0, wall0 = time.process_time(), time.perf_counter()
            finished = runs.done.wait(span + WAIT)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        finally:
            scheduler.shutdown(wait=True)
    problem = runs.problem(complete=finished)
    if problem or not finished:
        raise Refused(problem or f"{len(runs.seen):,} of {count:,} runs within the wait")
    return Steady(100 * cpu / wall, sorted(late))


def measure_steady(args: argparse.Namespace, problems: list[str]) -> tuple[Table, list[Target]]:
    peers = (tickwork_memory(), aps_memory())
    median = statistics.median
    pick: dict[str, tuple[Callable[[Steady], float | None], Callable[[list[float]], float]]] = {
        "cpu": (lambda s: s.cpu_percent, median),
        "p50": (lambda s: 1000 * _percentile(s.late, 0.5), median),
        "p99": (lambda s: 1000 * _percentile(s.late, 0.99), median),
    }
    table = Table(
        f"Steady load of one-shot jobs, ~{STEADY_SPAN:.0f} s each, in memory (median of "
        f"{args.repeat})",
        [
            "Jobs/s",
            "tickwork CPU %",
            "APScheduler CPU %",
            "tickwork lateness p50 / p99, ms",
            "APScheduler p50 / p99, ms",
        ],
    )
    flat: dict[str, Cell] = {}
    targets: list[Target] = []
    for rate in STEADY_RATES:
        cols: dict[str, dict[str, Cell]] = {}
        for peer in peers:
            if not peer.version:
                cols[peer.label] = {k: Cell() for k in pick}
                continue
            once = functools.partial(steady_once, peer, rate, STEADY_SPAN * args.scale)
            cols[peer.label] = _cells(once, args.repeat, math.inf, pick)
            for metric, cell in cols[peer.label].items():
                flat[f"{peer.short} {rate}/s ({metric})"] = cell
        mine, other = cols[TICKWORK], cols[APSCHEDULER]
        table.rows.append(
            [
                f"{rate:,}",
                mine["cpu"].text(".1f"),
                other["cpu"].text(".1f"),
                f"{mine['p50'].text('.3f')} / {mine['p99'].text('.3f')}",
                f"{other['p50'].text('.3f')} / {other['p99'].text('.3f')}",
            ]
        )

        def versus(
            metric: str,
            fmt: str,
            unit: str,
            mine: dict[str, Cell] = mine,
            other: dict[str, Cell] = other,
            rate: int = rate,
        ) -> Target:
            ours, theirs = mine[metric], other[metric]
            met = None
            if ours.value is not None and theirs.value is not None:
                met = ours.value <= theirs.value
            value = f"{ours.text(fmt)}{unit} (APScheduler {theirs.text(fmt)}{unit})"
            return Target(f"steady {rate}/s", f"{metric} <= APScheduler's", value, met)

        targets += [
            versus("cpu", ".1f", " %"),
            _at_most(f"steady {rate}/s", "lateness p50 <= 0.3 ms", mine["p50"], 0.3, " ms", ".3f"),
            versus("p99", ".3f", " ms"),
        ]
    table.notes.append(
        "The jobs are added to a started scheduler before the window; each is due at "
        "an evenly spread instant (k + 0.5) / rate into it. CPU: time.process_time() of the "
        "whole process (scheduler and worker threads, the jobs themselves: a time.time() "
        "and two appends) from the window's start to the last run, as % of one core. "
        "Lateness: time.time() at the job's start minus its scheduled instant."
    )
    _footnotes(table, flat, problems, args.repeat, math.inf)
    return table, targets


# --- async: coroutine jobs on an asyncio loop ---------------------------------------------------


async def _async_burst(peer: Peer | None, count: int, lead: float, timed: Any = None) -> Burst:
    """*count* coroutine jobs due at one instant (*peer* None: bare asyncio)."""
    global _runs
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    _runs = runs = Runs(count, on_done=done.set)
    wall0, perf0 = time.time(), time.perf_counter()
    run_at = datetime.fromtimestamp(wall0 + lead, UTC)
    due = perf0 + (run_at.timestamp() - wall0)
    if peer is None:
        tasks: list[asyncio.Task[None]] = []
        loop.call_at(
            loop.time() + (due - time.perf_counter()),
            lambda: tasks.extend(loop.create_task(_aran(i)) for i in range(count)),
        )
        gc.collect()
        await asyncio.wait_for(done.wait(), lead + WAIT)
        await asyncio.gather(*tasks)
    else:
        tw = peer.label == TICKWORK
        scheduler = peer.create()
        try:
            for i in range(count):
                added = scheduler.add_job(_aran, "date", run_date=run_at, args=(i,))
                if tw:
                    await added
            with timed or contextlib.nullcontext():
                if tw:
                    await scheduler.start()
                else:
                    scheduler.start()
                gc.collect()
                setup = time.perf_counter() - perf0
                if time.perf_counter() > due - 0.05:
                    raise Overrun(setup)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(done.wait(), due - time.perf_counter() + WAIT)
        finally:
            if tw:
                await scheduler.shutdown(wait=True)
            elif scheduler.running:
                scheduler.shutdown(wait=False)
                await asyncio.sleep(0.01)  # let its executor's callbacks run
        if not runs.done.is_set():
            raise Refused(f"{len(runs.seen):,} of {count:,} runs within {WAIT:.0f} s")
    problem = runs.problem()
    if problem:
        raise Refused(problem)
    return Burst(1000 * (runs.first - due), count / (runs.last - due), time.perf_counter() - perf0)


async def _async_lateness(peer: Peer | None, seed: int = LATENESS_SEED) -> list[float]:
    """How late (s) each of 200 one-shot coroutine jobs started (*peer* None: bare
    ``loop.call_at`` creating the job's task), sorted."""
    loop = asyncio.get_running_loop()
    rng = random.Random(seed)
    late: list[float] = []
    done = asyncio.Event()
    finish = Runs(LATENESS_JOBS, on_done=done.set)

    async def job(index: int, scheduled: float) -> None:
        late.append(time.time() - scheduled)
        finish(index)

    base = time.time() + 0.5
    instants = [
        datetime.fromtimestamp(base + rng.uniform(0, LATENESS_SPAN), UTC)
        for _ in range(LATENESS_JOBS)
    ]
    scheduler = None if peer is None else peer.create()
    tw = peer is not None and peer.label == TICKWORK
    try:
        if tw:
            await scheduler.start()  # type: ignore[union-attr]
        elif scheduler is not None:
            scheduler.start()
        for i, run_at in enumerate(instants):
            scheduled = run_at.timestamp()
            if scheduler is None:
                loop.call_at(
                    loop.time() + (scheduled - time.time()),
                    lambda i=i, s=scheduled: loop.create_task(job(i, s)),  # type: ignore[misc]
                )
                continue
            added = scheduler.add_job(job, "date", run_date=run_at, args=(i, scheduled))
            if tw:
                await added
        await asyncio.wait_for(done.wait(), LATENESS_SPAN + WAIT)
    finally:
        if tw:
            await scheduler.shutdown(wait=True)  # type: ignore[union-attr]
        elif scheduler is not None:
            scheduler.shutdown(wait=False)
            await asyncio.sleep(0.01)
    problem = finish.problem()
    if problem:
        raise Refused(problem)
    return sorted(late)


def _in_loop(make: Callable[[], Coroutine[Any, Any, R]]) -> R:
    return asyncio.run(make())


def measure_async(
    args: argparse.Namespace, lead: Lead, problems: list[str]
) -> tuple[Table, list[Target]]:
    ours, theirs = tickwork_async(), aps_async()
    count = max(1, int(ASYNC_JOBS * args.scale))
    floor = "bare asyncio"
    rates: dict[str, Cell] = {}
    for peer in (ours, theirs, None):
        label = floor if peer is None else peer.label
        if peer is not None and not peer.version:
            rates[label] = Cell()
            continue

        def burst(ahead: float, peer: Peer | None = peer) -> Burst:
            return _in_loop(lambda: _async_burst(peer, count, ahead))

        once = functools.partial(_with_lead, burst, lead, f"async {label}", count)
        rates[label] = _cells(once, args.repeat, math.inf, {"rate": (lambda b: b.jobs_per_s, max)})[
            "rate"
        ]
    late: dict[str, list[float] | None] = {}
    refusals: dict[str, Cell] = {}
    for peer in (ours, theirs, None):
        label = "bare loop.call_at" if peer is None else peer.label
        if peer is not None and not peer.version:
            late[label] = None
            continue
        try:
            found = repeated(
                functools.partial(_in_loop, functools.partial(_async_lateness, peer)),
                args.repeat,
                math.inf,
            )
        except Refused as why:
            late[label] = None
            refusals[f"{label} lateness"] = Cell(refused=str(why))
            continue
        late[label] = min(found, key=lambda r: _percentile(r, 0.99))

    def ms(label: str, fraction: float) -> str:
        found = late[label]
        return "n/a" if found is None else f"{1000 * _percentile(found, fraction):.3f}"

    mine, other = rates[TICKWORK], rates[APSCHEDULER]
    ratio = _times(mine.value / other.value) if mine.value and other.value else "—"
    table = Table(
        f"asyncio: {count:,} coroutine jobs due at once, and the lateness of "
        f"{LATENESS_JOBS} spread over {LATENESS_SPAN:.0f} s (best of {args.repeat}; "
        "lateness: the lowest-p99 run)",
        ["Metric", TICKWORK, APSCHEDULER, "floor", "tickwork ÷ APScheduler"],
        [
            [
                f"{count:,} due: jobs/s",
                mine.text(",.0f"),
                other.text(",.0f"),
                rates[floor].text(",.0f"),
                ratio,
            ],
            *(
                [
                    f"lateness {name}, ms",
                    ms(TICKWORK, q),
                    ms(APSCHEDULER, q),
                    ms("bare loop.call_at", q),
                    "",
                ]
                for name, q in (("p50", 0.5), ("p99", 0.99))
            ),
        ],
        [
            "tickwork: AsyncScheduler + AsyncioExecutor; APScheduler: AsyncIOScheduler + "
            "AsyncIOExecutor; each in a fresh asyncio.run(). Floors: for throughput, one "
            "loop.call_at at the due instant creating every job's task; for lateness, one "
            "loop.call_at per due instant creating that job's task."
        ],
    )
    _footnotes(
        table,
        {**{f"{k} (jobs/s)": c for k, c in rates.items()}, **refusals},
        problems,
        args.repeat,
        math.inf,
    )
    met = None if not (mine.value and other.value) else mine.value >= 2 * other.value
    ours_late, bare = late[TICKWORK], late["bare loop.call_at"]
    gap = None
    if ours_late is not None and bare is not None:
        gap = 1000 * (_percentile(ours_late, 0.5) - _percentile(bare, 0.5))
    return table, [
        Target("async", "jobs/s >= 2x APScheduler", ratio, met),
        Target(
            "async",
            "lateness p50 within 0.1 ms of bare call_at",
            "—" if gap is None else f"{gap:+.3f} ms",
            None if gap is None else gap <= 0.1,
        ),
    ]


# --- million: start() on a file of a million jobs ------------------------------------------------


def _schema_key(files: Files) -> str:
    """A short hash of the tables a fresh store of this checkout creates: a cached file is
    reused only by a tickwork that would have written the same tables."""
    path = files.fresh("schema")
    peer = tickwork_sqlite(TICKWORK, chunk=FILL_CHUNK)
    peer.fill(path, _yearly_jobs(0, 1, 1))
    with contextlib.closing(sqlite3.connect(path)) as conn:
        sql = sorted(str(row[0]) for row in conn.execute("SELECT sql FROM sqlite_master"))
        meta = sorted(map(str, conn.execute("SELECT key, value FROM meta").fetchall()))
    files.discard(path)
    return hashlib.sha256("\n".join([*sql, *meta]).encode()).hexdigest()[:12]


def million_file(files: Files, count: int) -> tuple[str, str]:
    """The cached file of *count* yearly jobs (filled now if missing), and how it was got."""
    path = os.path.join(files.where, f"tickwork-scale-yearly-{count}-{_schema_key(files)}.db")
    if os.path.exists(path):
        return path, f"cached {path}"
    peer = tickwork_sqlite(TICKWORK, chunk=FILL_CHUNK)
    part = path + ".part"
    files.discard(part)
    print(f"Filling {path} with {count:,} jobs, once (add_jobs of {FILL_CHUNK:,})", flush=True)
    began = time.perf_counter()
    for at in range(0, count, FILL_CHUNK):
        # A scheduler per chunk, never started: one that lives through the whole fill
        # keeps every job it added in memory (gigabytes for a million).
        scheduler = peer.create(part)
        try:
            scheduler.add_jobs(_yearly_jobs(at, min(FILL_CHUNK, count - at), count))
        finally:
            scheduler.shutdown(wait=True)
        done = min(at + FILL_CHUNK, count)
        if done % (5 * FILL_CHUNK) == 0 or done == count:
            print(f"  {done:,} jobs, {time.perf_counter() - began:.0f} s", flush=True)
    stored = rows(part, peer.table)
    if stored != count:
        raise RuntimeError(f"filling {part} with {count:,} jobs stored {stored:,}")
    os.replace(part, path)
    return path, f"filled {path} in {time.perf_counter() - began:.0f} s"


def _rss() -> int:
    """This process's resident set, bytes (peak resident set where /proc is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as stream:
            return int(stream.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return _peak_rss()


def _peak_rss() -> int:
    """This process's peak resident set, bytes. From ``VmHWM`` where /proc has it: Linux
    carries ``ru_maxrss`` over an exec, so a child of a large parent would report the
    parent's peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else 1024 * peak  # bytes on macOS, KiB elsewhere


def million_main(path: str, profile_out: str | None) -> int:
    """A ``--million`` process: ``start()`` on *path*, timed; memory; then the count."""
    peer = tickwork_sqlite(TICKWORK, chunk=FILL_CHUNK)
    scheduler = peer.create(path)
    gc.collect()
    before = _rss()
    profile = AllThreadsProfile() if profile_out else None
    with profile or contextlib.nullcontext():
        began = time.perf_counter()
        scheduler.start()
        took = time.perf_counter() - began
    after, peak = _rss(), _peak_rss()
    if profile is not None and profile_out is not None:
        profile.stats().dump_stats(profile_out)
    counted = time.perf_counter()
    count = len(scheduler.get_jobs())
    count_s = time.perf_counter() - counted
    scheduler.shutdown(wait=True)
    print(
        json.dumps(
            {
                "start_s": took,
                "grown": after - before,
                "peak_grown": peak - before,
                "count": count,
                "count_s": count_s,
            }
        )
    )
    return 0


@dataclass
class Million:
    start_s: float
    grown: int
    peak_grown: int
    count_s: float


def million_once(files: Files, source: str, count: int, profile_out: str | None = None) -> Million:
    path = files.copy(source, "million")
    command = [sys.executable, os.path.abspath(__file__), "--million", path]
    if profile_out:
        command += ["--profile-out", profile_out]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10 * WAIT)
    finally:
        files.discard(path)
    if done.returncode != 0:
        raise RuntimeError(f"the --million process failed:\n{done.stderr}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    if found["count"] != count:
        raise Refused(f"{count:,} jobs in the file, get_jobs() returned {found['count']:,}")
    return Million(found["start_s"], found["grown"], found["peak_grown"], found["count_s"])


def measure_million(
    files: Files, args: argparse.Namespace, problems: list[str]
) -> tuple[Table, list[Target]]:
    count = max(1, int(MILLION * args.scale))
    source, how = million_file(files, count)
    pick: dict[str, tuple[Callable[[Million], float | None], Callable[[list[float]], float]]] = {
        "start": (lambda m: m.start_s, min),
        "grown": (lambda m: m.grown / 1e6, min),
        "peak": (lambda m: m.peak_grown / 1e6, min),
        "count": (lambda m: m.count_s, min),
    }
    cells = _cells(
        functools.partial(million_once, files, source, count), args.repeat, math.inf, pick
    )
    aps = "— (loads no job at start)"
    table = Table(
        f"start() on a SQLite file of {count:,} yearly interval jobs, in a fresh process "
        f"(best of {args.repeat})",
        ["Metric", TICKWORK, APSCHEDULER],
        [
            ["start(), s", cells["start"].text(".3f"), aps],
            ["resident set after start() minus before, MB", cells["grown"].text(",.0f"), aps],
            ["peak resident set minus before start(), MB", cells["peak"].text(",.0f"), aps],
            [f"len(get_jobs()) == {count:,}, s (not timed above)", cells["count"].text(".2f"), "—"],
        ],
        [
            "The process imports tickwork and builds its Scheduler(SQLiteStore(copy)) before "
            "the first reading. APScheduler 3's start() reads no job (its thread queries the "
            "file at each wake-up), so it has nothing to compare here, and filling its file "
            f"one commit per job would take hours. File: {how}.",
        ],
    )
    _footnotes(table, {f"{k}": c for k, c in cells.items()}, problems, args.repeat, math.inf)
    return table, [
        _at_most(f"million ({count:,})", "start() <= 0.3 s", cells["start"], 0.3, " s", ".3f"),
        _at_most(
            f"million ({count:,})",
            "memory <= 100 MB (peak growth)",
            cells["peak"],
            100,
            " MB",
            ",.0f",
        ),
    ]


# --- add: add_job one by one on SQLite -----------------------------------------------------------


@dataclass
class Added:
    us_per_job: float
    partial: str | None = None


def add_once(
    peer: Peer, files: Files, count: int, limit: float = math.inf, timed: Any = None
) -> Added:
    """µs per ``add_job`` of *count* interval jobs to a scheduler started paused."""
    path = files.fresh(f"add-{peer.short}")
    jobs = [
        {"func": _NOOP, "trigger": "interval", "hours": 1, "id": f"job-{i}"} for i in range(count)
    ]
    scheduler = peer.create(path)
    added = 0
    gc.collect()
    try:
        with timed or contextlib.nullcontext():
            scheduler.start(paused=True)
            began = time.perf_counter()
            for job in jobs:
                scheduler.add_job(**job)
                added += 1
                if time.perf_counter() - began > limit:
                    break
            took = time.perf_counter() - began
    finally:
        scheduler.shutdown(wait=True)
    stored = rows(path, peer.table)
    files.discard(path)
    if stored != added:
        raise Refused(f"{added:,} jobs added, {stored:,} rows in the file")
    partial = None if added == count else f"{added:,} of {count:,} added in {took:.0f} s"
    return Added(1e6 * took / added, partial)


def measure_add(
    files: Files, args: argparse.Namespace, problems: list[str]
) -> tuple[Table, list[Target]]:
    count = max(1, int(ADD_JOBS * args.scale))
    cols: dict[str, Cell] = {}
    for peer in (tickwork_sqlite(TICKWORK, chunk=FILL_CHUNK), aps_sqlite(APSCHEDULER)):
        if not peer.version:
            cols[peer.label] = Cell()
            continue
        once = functools.partial(add_once, peer, files, count, args.limit)
        cols[peer.label] = _cells(
            once,
            args.repeat,
            args.limit,
            {"us": (lambda a: a.us_per_job, min)},
            partial=lambda a: a.partial,
        )["us"]
    mine, other = cols[TICKWORK], cols[APSCHEDULER]
    ratio = _times(other.value / mine.value) if mine.value and other.value else "—"
    table = Table(
        f'add_job(func, "interval", hours=1, id=...) one by one on a fresh SQLite file, '
        f"{count:,} jobs, µs per job (best of {args.repeat})",
        ["Metric", TICKWORK, APSCHEDULER, "APScheduler ÷ tickwork"],
        [["µs per add_job", mine.text(",.1f"), other.text(",.1f"), ratio]],
        ["A scheduler started paused; the job rows in the file are counted afterwards."],
    )
    _footnotes(table, cols, problems, args.repeat, args.limit)
    return table, [_at_most("add", "add_job <= 60 µs", mine, 60.0, " µs", ",.1f")]


# --- profiling ---------------------------------------------------------------------------------


def _profile(name: str, files: Files, args: argparse.Namespace) -> str:
    """tickwork's side of *name* once more, under ``cProfile`` in every thread."""
    scale = args.scale
    profile = AllThreadsProfile(this_thread=False)
    if name in ("backlog", "dispatch"):
        count = max(1, int((BACKLOG_JOBS if name == "backlog" else DISPATCH_JOBS) * scale))
        lead = Lead(args.lead)
        _with_lead(
            functools.partial(burst_once, tickwork_memory(), count, timed=profile),
            lead,
            TICKWORK,
            count,
        )
    elif name == "sqlite-backlog":
        count = max(1, int(SQLITE_SIZES[0] * scale))
        peer = tickwork_sqlite(TICKWORK, chunk=FILL_CHUNK)
        source, _ = filled_file(peer, files, "profile", _due_jobs(count, _RAN, indexed=True))
        profile = AllThreadsProfile()
        file_burst_once(peer, files, source, count, WAIT, timed=profile)
    elif name == "steady":
        profile = AllThreadsProfile()
        steady_once(tickwork_memory(), STEADY_RATES[-1], STEADY_SPAN * scale, timed=profile)
    elif name == "async":
        profile = AllThreadsProfile()
        count = max(1, int(ASYNC_JOBS * scale))
        _with_lead(
            lambda ahead: _in_loop(
                lambda: _async_burst(tickwork_async(), count, ahead, timed=profile)
            ),
            Lead(args.lead),
            TICKWORK,
            count,
        )
    elif name == "add":
        profile = AllThreadsProfile()
        add_once(
            tickwork_sqlite(TICKWORK, chunk=FILL_CHUNK),
            files,
            max(1, int(ADD_JOBS * scale)),
            timed=profile,
        )
    else:  # share and million run in other processes: merge their dumps
        with tempfile.TemporaryDirectory(dir=files.root) as where:
            if name == "share":
                count = max(1, int(SHARE_JOBS * scale))
                share_once(files, count, SHARE_PROCESSES[-1], 4.0, profile_dir=where)
            else:
                count = max(1, int(MILLION * scale))
                source, _ = million_file(files, count)
                million_once(files, source, count, os.path.join(where, "million.pstats"))
            dumps = [os.path.join(where, dump) for dump in sorted(os.listdir(where))]
            out = io.StringIO()
            print(f"{len(dumps)} process(es) merged, CPU time per thread.", file=out)
            pstats.Stats(*dumps, stream=out).strip_dirs().sort_stats("tottime").print_stats(20)
        return out.getvalue()
    return profile.report(20)


# --- output ------------------------------------------------------------------------------------


def _environment(files: Files) -> list[str]:
    try:
        load = f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):  # not on Unix
        load = "unknown"
    aps = aps_sqlite(APSCHEDULER)
    return [
        "## tickwork at scale vs APScheduler 3 (issue 16)",
        "",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, SQLite {sqlite3.sqlite_version}",
        f"- CPUs: {os.cpu_count()}; load average {load} at the start (other busy processes "
        "make every number noisier)",
        f"- tickwork {tickwork_version()} from {os.path.dirname(_tickwork_path())}; "
        f"APScheduler {aps.version or 'not installed'}",
        f"- Files in {files.root}",
        "- Both: 10 worker threads, UTC; APScheduler with misfire_grace_time=None",
        "",
    ]


def _tickwork_path() -> str:
    import tickwork

    return str(tickwork.__file__)


@dataclass
class Context:
    files: Files
    args: argparse.Namespace
    lead: Lead
    problems: list[str] = field(default_factory=list)


def _run(name: str, ctx: Context) -> tuple[Table, list[Target]]:
    args, files, problems = ctx.args, ctx.files, ctx.problems
    if name == "backlog":
        return measure_burst(name, max(1, int(BACKLOG_JOBS * args.scale)), args, ctx.lead, problems)
    if name == "dispatch":
        return measure_burst(
            name, max(1, int(DISPATCH_JOBS * args.scale)), args, ctx.lead, problems
        )
    if name == "sqlite-backlog":
        return measure_sqlite_backlog(files, args, problems)
    if name == "share":
        return measure_share(files, args, problems)
    if name == "steady":
        return measure_steady(args, problems)
    if name == "async":
        return measure_async(args, ctx.lead, problems)
    if name == "million":
        return measure_million(files, args, problems)
    return measure_add(files, args, problems)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", choices=MEASUREMENTS, help="run one measurement")
    parser.add_argument("--repeat", type=int, default=2, help="runs per timed cell (default 2)")
    parser.add_argument(
        "--limit",
        type=float,
        default=20.0,
        help="seconds after which a cell stops repeating, and an APScheduler loop on SQLite "
        "is cut off and marked * (default 20)",
    )
    parser.add_argument(
        "--lead",
        type=float,
        default=1.0,
        help="least seconds from the first add to the due instant of a backlog (default 1; "
        "more is given when the adds need it)",
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply every job count (default 1)"
    )
    parser.add_argument(
        "--dir",
        help="where the database files go, and the million-job file is kept "
        "(default: the temp dir)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="with --only: also profile tickwork's side once (top 20 by own time)",
    )
    parser.add_argument("--worker", metavar="DB", help=argparse.SUPPRESS)
    parser.add_argument("--million", metavar="DB", help=argparse.SUPPRESS)
    parser.add_argument("--pipe-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args.worker, args.pipe_fd, args.out, args.profile_out)
    if args.million:
        return million_main(args.million, args.profile_out)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.limit <= 0 or args.scale <= 0 or args.lead <= 0:
        parser.error("--limit, --scale and --lead must be > 0")
    if args.profile and not args.only:
        parser.error("--profile needs --only NAME")
    try:
        tickwork_version()
    except ImportError:
        print("tickwork is not importable: run `pip install -e .` first", file=sys.stderr)
        return 1

    with temp_files(args.dir, PREFIX) as files:
        ctx = Context(files, args, Lead(args.lead))
        print("\n".join(_environment(files)), flush=True)
        started = time.perf_counter()
        targets: list[Target] = []
        for name in [args.only] if args.only else MEASUREMENTS:
            began = time.perf_counter()
            table, found = _run(name, ctx)
            table.notes.append(f"`{name}` took {time.perf_counter() - began:.0f} s.")
            targets += found
            print("\n".join(render(table)), flush=True)

        summary = Table(
            "Targets",
            ["Measurement", "Target", "tickwork"],
            [[t.measurement, t.goal, t.value + _mark(t.met)] for t in targets],
            [*ctx.problems, f"Total time {time.perf_counter() - started:.0f} s."],
        )
        print("\n".join(render(summary)))
        if args.profile:
            print(f"### cProfile of tickwork's side of `{args.only}` (all threads, by tottime)\n")
            print(f"```\n{_profile(args.only, files, args).rstrip()}\n```")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
