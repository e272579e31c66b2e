#!/usr/bin/env python3
"""tickwork's ``SQLiteStore`` beside APScheduler 3's ``SQLAlchemyJobStore`` on SQLite, in one run.

Run it from the repository root::

    pip install -e ".[bench]"
    python benchmarks/store_vs_apscheduler.py                  # all four, under 3 minutes
    python benchmarks/store_vs_apscheduler.py --only dispatch --repeat 5
    python benchmarks/store_vs_apscheduler.py --only start --profile

Both schedulers keep their jobs in a SQLite file, run them on a pool of 10 threads and use
UTC, each with its store's default settings:

- tickwork: ``Scheduler(store=SQLiteStore(path), executors={"default":
  ThreadExecutor(max_workers=10)}, timezone="UTC")``. The store uses WAL and
  ``synchronous=NORMAL``: a commit writes to the WAL and waits for no disk flush.
- APScheduler 3: ``BackgroundScheduler(jobstores={"default":
  SQLAlchemyJobStore(url=f"sqlite:///{path}")}, executors={"default":
  ThreadPoolExecutor(10)}, job_defaults={"misfire_grace_time": None, "coalesce": True},
  timezone=UTC)``. SQLite's defaults apply: a rollback journal and ``synchronous=FULL``,
  so every commit waits for the disk, and APScheduler commits once per job it adds,
  updates or removes. Without ``misfire_grace_time=None`` it would drop runs that start
  more than 1 s late, and a slow dispatch would look fast.

The disk therefore sets APScheduler's numbers more than the CPU does. At the start, the
header prints the median time of a one-row insert and commit in the files' directory with
each library's settings. On a disk shared with busy neighbours this moves within seconds.
``--dir`` chooses the directory (default: the system's temporary directory).

Every measurement uses a fresh file. Both libraries add jobs with the spelling they share:
``add_job("module:function", trigger, id=..., args=..., **trigger_fields)``, the function
given as a ``"module:function"`` string and every id explicit. Files that must already
hold jobs are filled once, outside the timer, and copied for each repeat. tickwork fills
them with ``add_jobs``. APScheduler has no batch call, so its files are filled by
``add_job`` on a paused scheduler whose engine turns SQLite's ``synchronous`` off; the
measured scheduler then opens the copy with the plain ``url=`` store above.

The measurements, each its own function (``--only NAME`` runs one):

``add``
    2,000 jobs added one by one with ``add_job`` to a scheduler started paused
    (``start(paused=True)``: an APScheduler that is not started only queues jobs in
    memory). This is done once with ``"interval", hours=1`` and once with ``"cron",
    hour=9, minute=30``. Reported in µs per ``add_job``. A third row times tickwork's
    ``add_jobs([...])`` of the same 2,000 interval jobs, one transaction; APScheduler has
    no batch call. After each run the job rows in the file are counted with a fresh
    SQLite connection, once the scheduler is shut down.
``dispatch``
    5,000 jobs with a ``date`` trigger, all due at one instant already past, are in the
    file; job *i* has ``args=[i]``. The scheduler is created, then timed from ``start()``
    to the end of the last run. That covers loading the jobs, claiming them (tickwork) or
    fetching and deleting them (APScheduler), and running them on the pool. Each run
    appends its *i* to a list and the 5,000th sets an event. After ``shutdown(wait=True)``
    the list must hold each *i* exactly once. Reported in runs per second.
``start``
    Wall time of ``start()`` on a file that already holds 10,000 jobs (both libraries)
    and 100,000 jobs (tickwork only; APScheduler has no batch add). Every job is on
    ``"cron", month=1, day=1, hour=3, minute=0``, so none is due. tickwork's ``start()``
    reads the first page of the jobs due next (500, through an index) and the others as
    their time comes. APScheduler 3 reads none there: its thread queries the file at
    each wake-up. Neither ``start()`` depends much on the number of jobs. The count
    (``len(get_jobs())``, which reads every job) is checked after the timer.
``multiprocess``
    tickwork only. 5,000 ``date`` jobs, all due, are in one file shared by 1, then 4,
    processes. The script starts copies of itself in a hidden ``--worker`` mode. Each
    builds a ``Scheduler`` on the shared file, says it is ready and waits; then all are
    told to start at once. Every run writes one byte to a pipe the parent reads, so the
    parent stops its clock at the 5,000th run. Each run also keeps ``(job_id,
    scheduled_at)`` from ``tickwork.current_run()``, and each worker writes these to its
    own file after its shutdown. The parent checks the union: no run twice, none
    missing, and the store's history agrees. Reported in runs per second. APScheduler 3
    cannot share a job store between processes: each process would run every job.

- **Repeats and time limit.** Each timed cell is the best of ``--repeat`` runs (default
  3). A cell stops repeating once its runs have taken ``--limit`` seconds (default 30),
  and a note says how many it got. No timed loop runs longer than ``--limit`` either: a
  slower run is cut off there, reported from the work done so far (µs per job added,
  runs per second) and marked ``*``, with a note on how far it got. Only APScheduler on a
  slow disk gets that far; its runs are long enough to vary less from one to the next.
- **Correctness.** A run that loses or duplicates a job is refused: its cell shows
  "refused" and the reason is printed below the table and in the summary.
- **Timing.** Wall times use ``time.perf_counter``, with the garbage collector on (as
  in an application) after a ``gc.collect()``. Every scheduler is shut down with
  ``shutdown(wait=True)`` before the next one starts. If APScheduler or SQLAlchemy is
  not installed, its column shows "n/a".
- **Profiling.** ``--profile`` (with ``--only``) runs tickwork's side of that
  measurement once more under ``cProfile``, in every thread it starts, and prints the top
  20 functions by own time. Each thread is profiled by its CPU time
  (``time.thread_time``), so waiting for the GIL is not charged to the function that was
  interrupted. For ``multiprocess`` it merges the profiles of the 4 workers.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import io
import json
import math
import os
import platform
import pstats
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
)
from _report import AllThreadsProfile, Table, Target, render

UTC = timezone.utc
R = TypeVar("R")
ADD_JOBS = 2_000
DISPATCH_JOBS = 5_000
START_SIZES = (10_000, 100_000)
APS_START_JOBS = 10_000  # APScheduler has no batch add: 100,000 would take minutes to fill
START_FIELDS = {"month": 1, "day": 1, "hour": 3, "minute": 0}  # yearly: never due here
MP_JOBS = 5_000
MP_PROCESSES = (1, 4)
TICKWORK, APSCHEDULER = "tickwork", "APScheduler 3 + SQLAlchemy"
PREFIX = "tickwork-bench-"  # of the temporary directory of database files
MEASUREMENTS = ("add", "dispatch", "start", "multiprocess")


# --- the jobs, found by "module:function" reference ------------------------------------------


def _noop() -> None:
    pass


_runs = Runs(0)


def _ran(index: int) -> None:
    _runs(index)


_worker: WorkerRuns | None = None


def _mp_ran() -> None:
    assert _worker is not None
    run = _worker.current_run()
    _worker.runs.append((run.job_id, run.scheduled_at.isoformat()))
    os.write(_worker.pipe_fd, b".")


_NOOP = f"{__name__}:_noop"
_RAN = f"{__name__}:_ran"
_MP_RAN = f"{__name__}:_mp_ran"


def _interval_jobs(count: int) -> list[dict[str, Any]]:
    return [
        {"func": _NOOP, "trigger": "interval", "hours": 1, "id": f"job-{i}"} for i in range(count)
    ]


def _cron_jobs(count: int, **fields: int) -> list[dict[str, Any]]:
    return [{"func": _NOOP, "trigger": "cron", "id": f"job-{i}", **fields} for i in range(count)]


def _due_jobs(count: int, func: str, *, indexed: bool) -> list[dict[str, Any]]:
    """*count* one-shot jobs, all due at one instant a second ago."""
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


# --- the two libraries (in _common), and the disk under them ---------------------------------


def _commit_ms(where: str, *, wal: bool) -> float:
    """Median time of a one-row insert-and-commit in *where*, with WAL + NORMAL (tickwork)
    or SQLite's defaults, a rollback journal + FULL (APScheduler)."""
    fd, path = tempfile.mkstemp(suffix=".db", dir=where)
    os.close(fd)
    try:
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
            if wal:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB)")
            took = []
            for n in range(20):
                began = time.perf_counter()
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO t (data) VALUES (?)", (bytes(500),))
                conn.execute("COMMIT")
                took.append(time.perf_counter() - began)
                if n == 0 and took[0] > 0.1:
                    break  # a very slow disk: one sample says enough
        return 1000 * statistics.median(took)
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path + suffix)


# --- the measurements ------------------------------------------------------------------------


@dataclass
class Timed:
    """One run's number, and how far it got if the time limit cut it off."""

    value: float
    partial: str | None = None


def add_once(
    peer: Peer,
    files: Files,
    jobs: list[dict[str, Any]],
    *,
    batch: bool = False,
    limit: float = math.inf,
    timed: contextlib.AbstractContextManager[Any] | None = None,
) -> Timed:
    """µs per job to add *jobs* to a scheduler started paused (``add_jobs`` if *batch*).

    *timed* (a profile) is entered before the scheduler starts, so that it sees the
    scheduler's thread too, and left after the adds.
    """
    path = files.fresh(f"add-{peer.short}")
    scheduler = peer.create(path)
    added = 0
    gc.collect()
    try:
        with timed or contextlib.nullcontext():
            scheduler.start(paused=True)
            began = time.perf_counter()
            if batch:
                scheduler.add_jobs(jobs)
                added = len(jobs)
            else:
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
    partial = None if added == len(jobs) else f"{added:,} of {len(jobs):,} added in {took:.0f} s"
    return Timed(1e6 * took / added, partial)


@dataclass
class Dispatch:
    runs_per_s: float
    start_ms: float  # in start()
    leftover: int | None  # job rows still in the file after shutdown (None: cut off)
    partial: str | None = None


def dispatch_once(
    peer: Peer,
    files: Files,
    source: str,
    limit: float = WAIT,
    timed: contextlib.AbstractContextManager[Any] | None = None,
) -> Dispatch:
    """Start a scheduler on a copy of *source* (5,000 due jobs); time to the last run.

    *timed* is entered around the timed part only (a profile).
    """
    global _runs
    path = files.copy(source, f"dispatch-{peer.short}")
    _runs = runs = Runs(DISPATCH_JOBS)
    scheduler = peer.create(path)
    finished = False
    try:
        gc.collect()
        with timed or contextlib.nullcontext():
            began = time.perf_counter()
            scheduler.start()
            started = time.perf_counter()
            finished = runs.done.wait(limit)
            cut, count = time.perf_counter(), len(runs.seen)
    finally:
        if finished:
            scheduler.shutdown(wait=True)
        else:
            peer.stop_midway(scheduler)
    leftover = rows(path, peer.table)
    files.discard(path)
    problem = runs.problem(complete=finished, strangers=False)
    if problem:
        raise Refused(problem)
    if not finished:
        if not count:
            raise Refused(f"no run within {limit:.0f} s")
        return Dispatch(
            count / (cut - began),
            1000 * (started - began),
            None,
            f"{count:,} of {DISPATCH_JOBS:,} runs in {cut - began:.0f} s",
        )
    return Dispatch(DISPATCH_JOBS / (runs.last - began), 1000 * (started - began), leftover)


def start_once(
    peer: Peer,
    files: Files,
    source: str,
    count: int,
    timed: contextlib.AbstractContextManager[Any] | None = None,
) -> Timed:
    """Seconds in ``start()`` on a copy of *source* (*count* jobs, none due).

    *timed* is entered around the timed part only (a profile).
    """
    path = files.copy(source, f"start-{peer.short}")
    scheduler = peer.create(path)
    try:
        gc.collect()
        with timed or contextlib.nullcontext():
            began = time.perf_counter()
            scheduler.start()
            took = time.perf_counter() - began
        loaded = len(scheduler.get_jobs())
    finally:
        scheduler.shutdown(wait=True)
    files.discard(path)
    if loaded != count:
        raise Refused(f"{count:,} jobs in the file, {loaded:,} after start()")
    return Timed(took)


def multiprocess_once(
    files: Files, source: str, processes: int, profile_dir: str | None = None
) -> Shared:
    """*processes* workers on a copy of *source* (all jobs due): time to the last run."""
    path = files.copy(source, f"shared-{processes}")

    def go(workers: list[subprocess.Popen[str]]) -> float:
        # Each has imported tickwork and built its scheduler: start them together.
        began = time.perf_counter()
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        return began

    script = os.path.abspath(__file__)
    return run_workers(script, files, path, processes, MP_JOBS, go, profile_dir)


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
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1
    profile = AllThreadsProfile() if profile_out else None
    with profile or contextlib.nullcontext():
        scheduler.start()
        sys.stdin.read()  # until the parent has counted every run
        scheduler.shutdown(wait=True)
    if profile is not None and profile_out is not None:
        profile.stats().dump_stats(profile_out)
    with open(output, "w", encoding="utf-8") as stream:
        json.dump({"pid": os.getpid(), "runs": _worker.runs}, stream)
    return 0


# --- turning runs into tables ----------------------------------------------------------------


def _best(run: Callable[[], Timed], repeat: int, limit: float, *, lowest: bool) -> Cell:
    try:
        results = repeated(run, repeat, limit)
    except Refused as why:
        return Cell(refused=str(why))
    best = (min if lowest else max)(results, key=lambda r: r.value)
    return Cell(best.value, best.partial, len(results))


def _times(ratio: float) -> str:
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.1f}x" if ratio >= 1 else f"{ratio:.2g}x"


def _ratio(ours: Cell, theirs: Cell, *, lower_is_better: bool) -> tuple[str, float | None]:
    """How many times better tickwork is, as text and as a number."""
    if ours.value is None or theirs.value is None:
        return "—", None
    ratio = theirs.value / ours.value if lower_is_better else ours.value / theirs.value
    return _times(ratio), ratio


def _footnotes(
    table: Table, cells: dict[str, Cell], problems: list[str], repeat: int, limit: float
) -> None:
    for what, cell in cells.items():
        if cell.refused is not None:
            line = f"Refused: {what}: {cell.refused}."
            table.notes.append(line)
            problems.append(line)
            continue
        if cell.partial is not None:
            table.notes.append(f"Cut off (*): {what}, by --limit {limit:g}: {cell.partial}.")
        if cell.value is not None and cell.runs < repeat:
            table.notes.append(
                f"{what}: {cell.runs} of {repeat} runs (stopped repeating after --limit {limit:g} s)."
            )


def measure_add(
    peers: dict[str, Peer], files: Files, repeat: int, limit: float, problems: list[str]
) -> tuple[Table, list[Target]]:
    ours, theirs = peers[TICKWORK], peers[APSCHEDULER]
    kinds = {
        'add_job, "interval", hours=1': _interval_jobs(ADD_JOBS),
        'add_job, "cron", hour=9, minute=30': _cron_jobs(ADD_JOBS, hour=9, minute=30),
    }
    table = Table(
        f"Adding {ADD_JOBS:,} jobs to a scheduler started paused, µs per job (best of {repeat})",
        ["Call", TICKWORK, APSCHEDULER, "APScheduler ÷ tickwork"],
    )
    cells: dict[str, Cell] = {}
    targets = []
    for kind, jobs in kinds.items():
        trigger = kind.split(",")[1].strip().strip('"')
        mine = cells[f"tickwork {trigger}"] = _best(
            functools.partial(add_once, ours, files, jobs, limit=limit), repeat, limit, lowest=True
        )
        other = cells[f"APScheduler {trigger}"] = (
            _best(
                functools.partial(add_once, theirs, files, jobs, limit=limit),
                repeat,
                limit,
                lowest=True,
            )
            if theirs.version
            else Cell()
        )
        ratio_text, ratio = _ratio(mine, other, lower_is_better=True)
        table.rows.append([kind, mine.text(",.1f"), other.text(",.1f"), ratio_text])
        targets.append(
            Target(
                f"add ({trigger})",
                "add_job >= 10x cheaper than APScheduler",
                ratio_text,
                None if ratio is None else ratio >= 10,
            )
        )
    interval = kinds['add_job, "interval", hours=1']
    batch = cells["tickwork add_jobs"] = _best(
        functools.partial(add_once, ours, files, interval, batch=True), repeat, limit, lowest=True
    )
    table.rows.append(
        ["add_jobs([...]) of the interval jobs", batch.text(",.1f"), "— (no batch call)", "—"]
    )
    table.notes.append(
        'Each job has an explicit id and the function as a "module:function" string; the '
        "rows in the file are counted afterwards."
    )
    _footnotes(table, cells, problems, repeat, limit)
    return table, targets


def measure_dispatch(
    peers: dict[str, Peer], files: Files, repeat: int, limit: float, problems: list[str]
) -> tuple[Table, list[Target]]:
    jobs = _due_jobs(DISPATCH_JOBS, _RAN, indexed=True)
    best: dict[str, Dispatch | None] = {}
    cells: dict[str, Cell] = {}
    filled: list[str] = []
    for label, peer in peers.items():
        best[label], cells[label] = None, Cell()
        if not peer.version:
            continue
        source, took = filled_file(peer, files, f"dispatch-source-{peer.short}", jobs)
        filled.append(f"{peer.short} {took:.1f} s")
        once = functools.partial(dispatch_once, peer, files, source, min(limit, WAIT))
        try:
            results = repeated(once, repeat, limit)
        except Refused as why:
            cells[label] = Cell(refused=str(why))
        else:
            found = best[label] = max(results, key=lambda r: r.runs_per_s)
            cells[label] = Cell(found.runs_per_s, found.partial, len(results))
        files.discard(source)

    def row(name: str, get: Callable[[Dispatch], float | None], fmt: str) -> list[str]:
        """A row of details of the best runs (the ratio column left empty)."""
        texts = []
        for label, result in best.items():
            value = None if result is None else get(result)
            if result is None:
                texts.append(cells[label].text(fmt))
            elif value is None:
                texts.append("— (cut off)")
            else:
                texts.append(format(value, fmt))
        return [name, *texts, ""]

    ratio_text, ratio = _ratio(cells[TICKWORK], cells[APSCHEDULER], lower_is_better=False)
    table = Table(
        f"Dispatch: {DISPATCH_JOBS:,} date jobs due at start-up, from start() to the last "
        f"run's end (best of {repeat})",
        ["Metric", *best, "tickwork ÷ APScheduler"],
        [
            ["runs/s", *(cells[label].text(",.0f") for label in best), ratio_text],
            row(
                "ms, start() to last run",
                lambda r: None if r.partial else 1000 * DISPATCH_JOBS / r.runs_per_s,
                ",.0f",
            ),
            row("ms in start()", lambda r: r.start_ms, ",.1f"),
            row("job rows left in the file", lambda r: r.leftover, ",d"),
        ],
    )
    table.notes.append(
        "Each run is checked: every job's index recorded exactly once. Files filled "
        f"beforehand: {', '.join(filled)}."
    )
    _footnotes(table, cells, problems, repeat, limit)
    return table, [
        Target(
            "dispatch",
            "tickwork >= 10x APScheduler",
            ratio_text,
            None if ratio is None else ratio >= 10,
        )
    ]


def measure_start(
    peers: dict[str, Peer], files: Files, repeat: int, limit: float, problems: list[str]
) -> tuple[Table, list[Target]]:
    ours, theirs = peers[TICKWORK], peers[APSCHEDULER]
    table = Table(
        f"start() on a file of jobs, none due, seconds (best of {repeat})",
        ["Jobs in the file", TICKWORK, APSCHEDULER, "APScheduler ÷ tickwork", "tickwork µs/job"],
    )
    cells: dict[str, Cell] = {}
    filled: list[str] = []
    largest = Cell()
    for count in START_SIZES:
        jobs = _cron_jobs(count, **START_FIELDS)
        source, took = filled_file(ours, files, f"start-source-{count}", jobs)
        filled.append(f"tickwork {count:,} in {took:.1f} s")
        mine = cells[f"tickwork, {count:,} jobs"] = _best(
            functools.partial(start_once, ours, files, source, count), repeat, limit, lowest=True
        )
        files.discard(source)
        if not theirs.version:
            other = Cell()
        elif count != APS_START_JOBS:
            other = Cell(missing="— (not filled)")
        else:
            source, took = filled_file(theirs, files, f"start-source-aps-{count}", jobs)
            filled.append(f"APScheduler {count:,} in {took:.1f} s")
            other = cells[f"APScheduler, {count:,} jobs"] = _best(
                functools.partial(start_once, theirs, files, source, count),
                repeat,
                limit,
                lowest=True,
            )
            files.discard(source)
        ratio_text, _ = _ratio(mine, other, lower_is_better=True)
        per_job = "" if mine.value is None else f"{1e6 * mine.value / count:.1f}"
        table.rows.append([f"{count:,}", mine.text(".3f"), other.text(".3f"), ratio_text, per_job])
        largest = mine
    table.notes += [
        'Every job is on "cron", month=1, day=1, hour=3, minute=0. tickwork\'s start() '
        "reads the first page of jobs due next (500), the others as their time comes. "
        "APScheduler 3's reads none: its thread queries the file at each wake-up. Neither "
        "grows much with the count. APScheduler is measured at "
        f"{APS_START_JOBS:,} jobs only, because it has no batch add to fill a file.",
        f"Files filled beforehand: {'; '.join(filled)}.",
    ]
    _footnotes(table, cells, problems, repeat, limit)
    value = "—" if largest.value is None else f"{largest.value:.3f} s"
    return table, [
        Target(
            f"start ({START_SIZES[-1]:,} jobs)",
            "tickwork < 1 s",
            value,
            None if largest.value is None else largest.value < 1.0,
        )
    ]


def measure_multiprocess(
    peers: dict[str, Peer], files: Files, repeat: int, limit: float, problems: list[str]
) -> tuple[Table, list[Target]]:
    jobs = _due_jobs(MP_JOBS, _MP_RAN, indexed=False)
    source, took = filled_file(peers[TICKWORK], files, "shared-source", jobs)
    table = Table(
        f"{MP_JOBS:,} due date jobs in one file shared by several processes (best of {repeat})",
        ["Processes", "tickwork runs/s", "runs per process", "run twice / missing", APSCHEDULER],
    )
    met: bool | None = True
    for processes in MP_PROCESSES:
        try:
            results = repeated(
                functools.partial(multiprocess_once, files, source, processes), repeat, limit
            )
        except Refused as why:
            met = False
            line = f"Refused: {processes} process(es): {why}."
            table.notes.append(line)
            problems.append(line)
            table.rows.append([str(processes), "refused", "", "", ""])
            continue
        best = max(results, key=lambda r: r.runs_per_s)
        table.rows.append(
            [
                str(processes),
                f"{best.runs_per_s:,.0f}",
                " / ".join(f"{n:,}" for n in best.per_process),
                "0 / 0",
                "not safe: each process runs every job",
            ]
        )
    files.discard(source)
    table.notes.append(
        "Timed from the signal to start (every worker has imported tickwork and built its "
        "scheduler) to the last run, counted by the parent through a pipe. Each run's "
        "(job_id, scheduled_at) is checked against the others' and against the store's "
        f"history. File filled beforehand in {took:.1f} s."
    )
    return table, [Target("multiprocess", "each run exactly once", "ok" if met else "no", met)]


# --- profiling -------------------------------------------------------------------------------


def _profile(name: str, peer: Peer, files: Files) -> str:
    """tickwork's side of *name* once more, under ``cProfile``."""
    if name == "add":
        jobs = _interval_jobs(ADD_JOBS)
        one_by_one, batch = AllThreadsProfile(), AllThreadsProfile()
        add_once(peer, files, jobs, timed=one_by_one)
        add_once(peer, files, jobs, batch=True, timed=batch)
        return f"add_job, one by one:\n{one_by_one.report()}\nadd_jobs:\n{batch.report()}"
    if name == "dispatch":
        jobs = _due_jobs(DISPATCH_JOBS, _RAN, indexed=True)
        source, _ = filled_file(peer, files, "profile-source", jobs)
        profile = AllThreadsProfile()
        dispatch_once(peer, files, source, timed=profile)
        return profile.report()
    if name == "start":
        count = START_SIZES[-1]
        source, _ = filled_file(peer, files, "profile-source", _cron_jobs(count, **START_FIELDS))
        profile = AllThreadsProfile()
        start_once(peer, files, source, count, timed=profile)
        return profile.report()
    source, _ = filled_file(
        peer, files, "profile-source", _due_jobs(MP_JOBS, _MP_RAN, indexed=False)
    )
    with tempfile.TemporaryDirectory(dir=files.root) as where:
        multiprocess_once(files, source, MP_PROCESSES[-1], profile_dir=where)
        dumps = [os.path.join(where, dump) for dump in sorted(os.listdir(where))]
        out = io.StringIO()
        print(f"{len(dumps)} worker processes merged, CPU time per thread.", file=out)
        pstats.Stats(*dumps, stream=out).strip_dirs().sort_stats("tottime").print_stats(20)
    return out.getvalue()


# --- output ----------------------------------------------------------------------------------


def _environment(peers: dict[str, Peer], files: Files) -> list[str]:
    try:
        load = f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):  # not on Unix
        load = "unknown"
    versions = ", ".join(f"{p.short} {p.version or 'not installed'}" for p in peers.values())
    return [
        "## tickwork SQLiteStore vs APScheduler 3 SQLAlchemyJobStore (SQLite)",
        "",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, SQLite {sqlite3.sqlite_version}",
        f"- CPUs: {os.cpu_count()}; load average {load} at the start (other busy processes "
        "make every number noisier)",
        f"- {versions}",
        f"- Files in {files.root}. A one-row commit there, median of 20 at the start: "
        f"{_commit_ms(files.root, wal=True):.2f} ms with WAL + synchronous=NORMAL (tickwork), "
        f"{_commit_ms(files.root, wal=False):.2f} ms with a rollback journal + "
        "synchronous=FULL (APScheduler)",
        "- Both: 10 worker threads, UTC; APScheduler with misfire_grace_time=None, coalesce=True",
        "",
    ]


Measure = Callable[[dict[str, Peer], Files, int, float, list[str]], tuple[Table, list[Target]]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", choices=MEASUREMENTS, help="run one measurement")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per timed cell, best kept (default 3)"
    )
    parser.add_argument(
        "--limit",
        type=float,
        default=30.0,
        help="seconds after which a cell stops repeating, and a timed loop is cut off and "
        "marked * (default 30)",
    )
    parser.add_argument("--dir", help="where the database files go (default: the temp dir)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="with --only: also profile tickwork's side once (top 20 by own time)",
    )
    parser.add_argument("--worker", metavar="DB", help=argparse.SUPPRESS)
    parser.add_argument("--pipe-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args.worker, args.pipe_fd, args.out, args.profile_out)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.limit <= 0:
        parser.error("--limit must be a number of seconds > 0")
    if args.profile and not args.only:
        parser.error("--profile needs --only NAME")

    try:
        ours = tickwork_sqlite(TICKWORK)
    except ImportError:
        print("tickwork is not importable: run `pip install -e .` first", file=sys.stderr)
        return 1
    peers = {TICKWORK: ours, APSCHEDULER: aps_sqlite(APSCHEDULER)}
    measures: dict[str, Measure] = {
        "add": measure_add,
        "dispatch": measure_dispatch,
        "start": measure_start,
        "multiprocess": measure_multiprocess,
    }
    with temp_files(args.dir, PREFIX) as files:
        print("\n".join(_environment(peers, files)), flush=True)
        started = time.perf_counter()
        targets: list[Target] = []
        problems: list[str] = []
        for name in [args.only] if args.only else MEASUREMENTS:
            began = time.perf_counter()
            table, found = measures[name](peers, files, args.repeat, args.limit, problems)
            table.notes.append(f"`{name}` took {time.perf_counter() - began:.0f} s.")
            targets += found
            print("\n".join(render(table)), flush=True)

        summary = Table(
            "Targets",
            ["Measurement", "Target", "tickwork"],
            [
                [t.measurement, t.goal, t.value + {True: " ✓", False: " ✗", None: ""}[t.met]]
                for t in targets
            ],
            [*problems, f"Total time {time.perf_counter() - started:.0f} s."],
        )
        print("\n".join(render(summary)))

        if args.profile:
            print(f"### cProfile of tickwork's side of `{args.only}` (all threads, by tottime)\n")
            print(f"```\n{_profile(args.only, ours, files).rstrip()}\n```")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
