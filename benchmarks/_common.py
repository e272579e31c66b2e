"""What the scripts comparing tickwork's SQLite store with APScheduler 3's share: the two
libraries on a file, temporary database files, the checks on a run, and repeated cells.

The scripts run as ``python benchmarks/NAME.py``, so this folder is first on the import
path and ``import _common`` finds this module (as it finds ``_report``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import select
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timezone
from typing import Any, TypeVar

__all__ = [
    "WAIT",
    "WORKERS",
    "Cell",
    "Files",
    "Peer",
    "Refused",
    "Runs",
    "Shared",
    "WorkerRuns",
    "aps_sqlite",
    "filled_file",
    "repeated",
    "rows",
    "run_workers",
    "shared_problem",
    "temp_files",
    "tickwork_sqlite",
    "tickwork_version",
]

UTC = timezone.utc
R = TypeVar("R")
WORKERS = 10  # worker threads of every scheduler measured
WAIT = 120.0  # seconds a run may take before it is refused


class Refused(Exception):
    """A run that cannot be reported: it lost or doubled jobs, or did not finish."""


# --- the jobs' runs --------------------------------------------------------------------------


class Runs:
    """The runs of one measurement: which job indices ran, when the first started and the
    last ended. Safe from any thread (``list.append`` and ``next()`` on a count are
    atomic in CPython)."""

    def __init__(self, total: int, on_done: Callable[[], None] | None = None) -> None:
        self.total = total
        self.seen: list[int] = []
        self._count = itertools.count(1)
        self.done = threading.Event()
        self.on_done = on_done
        self.first = math.nan
        self.last = math.nan

    def __call__(self, index: int) -> None:
        n = next(self._count)
        if n == 1:
            self.first = time.perf_counter()
        self.seen.append(index)
        if n == self.total:
            self.last = time.perf_counter()
            self.done.set()
            if self.on_done is not None:
                self.on_done()

    def problem(self, *, complete: bool = True, strangers: bool = True) -> str | None:
        """Jobs run twice (and, for a *complete* run, jobs never run; with *strangers*,
        indices outside the run's), or None."""
        counts = Counter(self.seen)
        twice = sum(1 for n in counts.values() if n > 1)
        missing = self.total - len(counts) if complete else 0
        unknown = sum(1 for i in counts if not 0 <= i < self.total) if strangers else 0
        if not (twice or missing or unknown):
            return None
        found = f"{missing} job(s) never ran, {twice} ran more than once"
        return f"{found}, {unknown} unknown" if strangers else found


class WorkerRuns:
    """In a ``--worker`` process: every run's ``(job_id, scheduled_at)``; a byte per run."""

    def __init__(self, pipe_fd: int, current_run: Callable[[], Any]) -> None:
        self.pipe_fd = pipe_fd
        self.current_run = current_run
        self.runs: list[tuple[str, str]] = []


def shared_problem(seen: Counter[tuple[str, str]], path: str, count: int) -> str | None:
    """Every one of *count* jobs ran exactly once, by the workers' own records and by the
    store's history."""
    from tickwork import Outcome
    from tickwork.stores import SQLiteStore

    twice = sum(1 for n in seen.values() if n > 1)
    missing = len({f"job-{i}" for i in range(count)} - {job_id for job_id, _ in seen})
    store = SQLiteStore(path)
    try:
        history = Counter(
            (run.job_id, run.scheduled_at.isoformat())
            for run in store.history(limit=2 * count)
            if run.outcome is Outcome.SUCCESS
        )
        left = len(store.get_jobs())
    finally:
        store.close()
    problems = []
    if twice or missing:
        problems.append(f"{missing} job(s) never ran, {twice} ran more than once")
    if history != seen:
        problems.append(f"the history holds {sum(history.values()):,} successful runs")
    if left:
        problems.append(f"{left} done job(s) still stored")
    return "; ".join(problems) or None


# --- the libraries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    """A library as one measurement needs it: how to build a scheduler (on *path* for a
    file store), fill a file, and stop a scheduler cut off in the middle of its work."""

    label: str
    version: str | None  # None: not installed
    create: Callable[..., Any]
    fill: Callable[[str, list[dict[str, Any]]], None] = lambda _path, _jobs: None
    table: str = ""  # the table of job rows in its file
    stop_midway: Callable[[Any], None] = lambda scheduler: scheduler.shutdown(wait=True)

    @property
    def short(self) -> str:
        return self.label.split()[0]


def tickwork_version() -> str:
    """tickwork's version (raises ImportError when it is not importable)."""
    import tickwork

    return tickwork.__version__


def tickwork_sqlite(label: str, *, chunk: int | None = None) -> Peer:
    """tickwork on a ``SQLiteStore``; a file is filled by ``add_jobs`` of *chunk* jobs at a
    time (all at once by default)."""
    from tickwork import Scheduler
    from tickwork.executors import ThreadExecutor
    from tickwork.stores import SQLiteStore

    def create(path: str) -> Any:
        return Scheduler(
            store=SQLiteStore(path),
            executors={"default": ThreadExecutor(max_workers=WORKERS)},
            timezone="UTC",
        )

    def fill(path: str, jobs: list[dict[str, Any]]) -> None:
        scheduler = create(path)
        # Started (paused) so that shutdown closes the store, which checkpoints the WAL
        # into the file that is then copied.
        scheduler.start(paused=True)
        try:
            step = chunk or max(len(jobs), 1)
            for at in range(0, len(jobs), step):
                scheduler.add_jobs(jobs[at : at + step])
        finally:
            scheduler.shutdown(wait=True)

    return Peer(label, tickwork_version(), create, fill, "jobs")


def aps_sqlite(label: str) -> Peer:
    """APScheduler 3 on a ``SQLAlchemyJobStore`` over SQLite (version None when it or
    SQLAlchemy is not installed)."""
    try:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler
        from sqlalchemy import create_engine, event
    except ImportError:
        return Peer(label, None, lambda _path: None)
    from importlib.metadata import version

    def build(store: Any) -> Any:
        return BackgroundScheduler(
            jobstores={"default": store},
            executors={"default": ThreadPoolExecutor(WORKERS)},
            job_defaults={"misfire_grace_time": None, "coalesce": True},
            timezone=UTC,
        )

    def create(path: str) -> Any:
        return build(SQLAlchemyJobStore(url=f"sqlite:///{path}"))

    def fill(path: str, jobs: list[dict[str, Any]]) -> None:
        # Setup only, never timed: with no disk flush per add_job the file fills in
        # seconds. Neither pragma outlives the connection.
        engine = create_engine(f"sqlite:///{path}")

        @event.listens_for(engine, "connect")
        def _unsynced(connection: Any, _record: Any) -> None:
            connection.execute("PRAGMA synchronous = OFF")
            connection.execute("PRAGMA journal_mode = MEMORY")

        scheduler = build(SQLAlchemyJobStore(engine=engine))
        scheduler.start(paused=True)
        for job in jobs:
            scheduler.add_job(**job)
        # A paused BackgroundScheduler's thread makes one pass over the due jobs when it
        # is shut down, after its executors have stopped (errors, nothing runs): take the
        # store away first.
        scheduler.remove_jobstore("default")
        scheduler.shutdown(wait=True)

    def stop_midway(scheduler: Any) -> None:
        # Shut down in the middle of a pass, APScheduler's thread logs an error for each
        # job it can no longer submit, then dies of a JobLookupError (its remove_job looks
        # only at pending jobs once the scheduler is stopped). Neither says anything about
        # the run that was measured: keep both off the screen.
        logger = logging.getLogger("apscheduler")
        level, hook = logger.level, threading.excepthook

        def ignore_its_thread(args: threading.ExceptHookArgs) -> None:
            if args.thread is None or args.thread.name != "APScheduler":
                hook(args)

        logger.setLevel(logging.CRITICAL + 1)
        threading.excepthook = ignore_its_thread
        try:
            scheduler.shutdown(wait=True)  # joins its thread
        finally:
            threading.excepthook = hook
            logger.setLevel(level)

    return Peer(
        label,
        f"{version('apscheduler')} (SQLAlchemy {version('sqlalchemy')})",
        create,
        fill,
        "apscheduler_jobs",
        stop_midway,
    )


# --- files -----------------------------------------------------------------------------------


class Files:
    """Fresh database files in one temporary directory (named *prefix*...) under *where*,
    removed at the end."""

    def __init__(self, where: str | None, prefix: str) -> None:
        self.where = where or tempfile.gettempdir()
        self._dir = tempfile.TemporaryDirectory(prefix=prefix, dir=self.where)
        self.root = self._dir.name
        self._names = itertools.count(1)

    def fresh(self, stem: str) -> str:
        return os.path.join(self.root, f"{stem}-{next(self._names)}.db")

    def copy(self, source: str, stem: str) -> str:
        """A copy of a filled, closed file (a leftover WAL would hold part of its data)."""
        if os.path.exists(source + "-wal"):
            raise RuntimeError(f"{source}: the WAL was not checkpointed at shutdown")
        target = self.fresh(stem)
        shutil.copyfile(source, target)
        return target

    def discard(self, path: str) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path + suffix)

    def close(self) -> None:
        self._dir.cleanup()


@dataclass
class Shared:
    """Runs per second of processes sharing one file, and how many each ran."""

    runs_per_s: float
    per_process: list[int]


def run_workers(
    script: str,
    files: Files,
    path: str,
    processes: int,
    count: int,
    begin: Callable[[list[subprocess.Popen[str]]], float],
    profile_dir: str | None = None,
) -> Shared:
    """*processes* copies of *script* in their hidden ``--worker`` mode on the file at
    *path*, which holds *count* due jobs: the time from *begin* (called once every worker
    has said it is ready; it returns the ``perf_counter`` the clock starts at) to the
    last run, counted through a pipe a byte per run. Each run must have happened exactly
    once (:func:`shared_problem`), else :class:`Refused`."""
    outputs = [os.path.join(files.root, f"worker-{processes}-{n}.json") for n in range(processes)]
    read_fd, write_fd = os.pipe()
    workers: list[subprocess.Popen[str]] = []
    try:
        for n, output in enumerate(outputs):
            command = [sys.executable, script, "--worker", path]
            command += ["--pipe-fd", str(write_fd), "--out", output]
            if profile_dir is not None:
                command += ["--profile-out", os.path.join(profile_dir, f"worker-{n}.pstats")]
            workers.append(
                subprocess.Popen(
                    command,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    pass_fds=(write_fd,),
                )
            )
        os.close(write_fd)  # the workers hold it: EOF on the pipe once they all exit
        write_fd = -1
        for worker in workers:
            assert worker.stdout is not None
            if worker.stdout.readline().strip() != "ready":
                raise RuntimeError(f"worker {worker.pid} failed to get ready (see stderr)")
        began = begin(workers)
        got = 0
        while got < count:
            left = began + WAIT - time.perf_counter()
            if left <= 0 or not select.select([read_fd], [], [], left)[0]:
                raise Refused(f"only {got:,} of {count:,} runs within {WAIT:.0f} s")
            chunk = os.read(read_fd, 65536)
            if not chunk:
                raise Refused(f"every worker exited after {got:,} of {count:,} runs")
            got += len(chunk)
        ended = time.perf_counter()
        for worker in workers:  # end of input: shut down, write the runs, exit
            assert worker.stdin is not None
            worker.stdin.close()
        for worker in workers:
            if worker.wait(WAIT) != 0:
                raise RuntimeError(f"worker {worker.pid} exited with {worker.returncode}")
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
    per_process = []
    seen: Counter[tuple[str, str]] = Counter()
    for output in outputs:
        with open(output, encoding="utf-8") as stream:
            runs = [(job_id, at) for job_id, at in json.load(stream)["runs"]]
        os.remove(output)
        per_process.append(len(runs))
        seen.update(runs)
    problem = shared_problem(seen, path, count)
    files.discard(path)
    if problem:
        raise Refused(problem)
    return Shared(count / (ended - began), per_process)


@contextlib.contextmanager
def temp_files(where: str | None, prefix: str) -> Iterator[Files]:
    """``Files`` under *where*, closed (removed) on the way out."""
    files = Files(where, prefix)
    try:
        yield files
    finally:
        files.close()


def rows(path: str, table: str) -> int:
    """Job rows in a file whose scheduler is shut down (a connection of its own)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def filled_file(
    peer: Peer, files: Files, stem: str, jobs: list[dict[str, Any]]
) -> tuple[str, float]:
    """A closed file of *peer* holding *jobs*, and the seconds it took to fill."""
    path = files.fresh(stem)
    began = time.perf_counter()
    peer.fill(path, jobs)
    took = time.perf_counter() - began
    stored = rows(path, peer.table)
    if stored != len(jobs):
        raise RuntimeError(
            f"{peer.label}: filling {path} with {len(jobs):,} jobs stored {stored:,}"
        )
    return path, took


# --- cells -----------------------------------------------------------------------------------


@dataclass
class Cell:
    """One number of a table (the best or median of the repeats), or why there is none."""

    value: float | None = None
    partial: str | None = None  # cut off by --limit: how far it got
    runs: int = 0  # runs made (fewer than --repeat once they took --limit seconds)
    refused: str | None = None
    missing: str = "n/a"  # shown when not measured (not installed, or by design)

    def text(self, fmt: str) -> str:
        if self.refused is not None:
            return "refused"
        if self.value is None:
            return self.missing
        return format(self.value, fmt) + (" *" if self.partial else "")


def repeated(run: Callable[[], R], repeat: int, limit: float) -> list[R]:
    """*repeat* runs, or fewer once they have taken *limit* seconds together."""
    results: list[R] = []
    began = time.perf_counter()
    while len(results) < repeat:
        results.append(run())
        if time.perf_counter() - began > limit:
            break
    return results
