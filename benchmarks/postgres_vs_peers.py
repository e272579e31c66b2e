#!/usr/bin/env python3
"""tickwork's ``PostgresStore`` beside APScheduler 3 and 4 on the same PostgreSQL server.

Run it from the repository root, with a PostgreSQL server (default DSN
``postgresql://postgres@127.0.0.1:5432/test``)::

    pip install -e ".[bench,postgres]"
    python benchmarks/postgres_vs_peers.py --aps4-python /path/to/venv-aps4/bin/python
    python benchmarks/postgres_vs_peers.py --only latency --libs tickwork
    python benchmarks/postgres_vs_peers.py --quick

Every scheduler runs in processes of its own, started by this script in a hidden
``--child`` mode: the parent never imports a scheduler, it spawns, signals, counts and
checks. APScheduler 4 is a pre-release that cannot live beside APScheduler 3 in one
environment, so its children run under the Python given by ``--aps4-python`` (a
virtualenv with ``apscheduler==4.0.0a6``, SQLAlchemy, asyncpg, and sniffio, which 4.0.0a6
imports without declaring it); without it, its column says why it is empty.

The libraries, each with its own defaults except where noted:

- tickwork: ``Scheduler(store=PostgresStore(dsn, schema=...), executors={"default":
  ThreadExecutor(max_workers=10)}, timezone="UTC")``.
- APScheduler 3: ``BackgroundScheduler(jobstores={"default":
  SQLAlchemyJobStore(url="postgresql+psycopg://...", tableschema=...)}, executors=
  {"default": ThreadPoolExecutor(10)}, job_defaults={"misfire_grace_time": None,
  "coalesce": True}, timezone=UTC)``. Its store has no notion of several processes.
- APScheduler 4: ``Scheduler(SQLAlchemyDataStore(engine, schema=...),
  AsyncpgEventBroker.from_async_sqla_engine(engine))`` on a
  ``postgresql+asyncpg://`` engine (the event broker is what lets its schedulers in
  several processes hear of each other's work); its task is configured with
  ``max_running_jobs=None`` (the default, 1, would run one job at a time) and
  ``misfire_grace_time=None``. A "date job" is a schedule on a ``DateTrigger``.

Each measurement uses a fresh schema in the database, dropped afterwards (the idle load
uses a fresh database of its own, see below). Jobs that must exist beforehand are added
by a child before the measured processes start (tickwork with ``add_jobs``, the peers
with ``add_job``/``add_schedule`` on a connection with ``synchronous_commit=off``; that
is setup, never timed).

The measurements (``--only NAME`` runs one):

``dispatch``
    20,000 date jobs (APScheduler 4: 2,000 by default, ``--aps4-jobs``: at its speed
    20,000 would take minutes to add and minutes to run), all due at the instant they
    were added, are in the store. 1, then 4, processes build their schedulers, say they
    are ready, and are told to start at once. Every run writes its job's index and the
    time (``time.monotonic``, one clock for every process on Linux) to a pipe the
    parent reads. Runs per second = jobs / (last job's first run - the signal to start).
    Then each process is shut down, the pipe is read to its end, and the parent counts
    the jobs run more than once and the jobs never run. A run that has not finished in
    120 s is cut off and reported from the jobs done so far (marked ``*``).
``add``
    2,000 ``add_job`` calls (a date job an hour ahead, explicit id) in one process, then
    in four at once (distinct ids), on a schema prepared beforehand: tickwork on a
    ``Scheduler`` that is not started (as in a web app), APScheduler 3 on one started
    paused (unstarted, it only queues jobs in memory), APScheduler 4 with its services
    up but not started. Adds per second over all processes, from the signal to the last
    add; the rows in the store are counted afterwards.
``latency``
    One process runs a started scheduler. Another adds 200 jobs, 20 ms apart, each due
    at once (tickwork: a ``Scheduler`` never started). The latency of a job is the time
    from just before its ``add_job`` call to its start in the other process: p50 and
    p99. tickwork is measured with LISTEN/NOTIFY (the default) and with
    ``notify=False`` (polling only).
``idle``
    One process with 10,000 jobs, none due within the hour, left alone: transactions
    per second it makes, from the server's own count (``pg_stat_database``,
    ``xact_commit + xact_rollback``) over 10 s. That count is per database, so this runs
    in a fresh database of its own (created and dropped here) where nothing else runs.
    PostgreSQL publishes an idle backend's counts up to 10 s late, so the window opens
    11 s after the scheduler has started.

Results go into one Markdown table: measurement | tickwork | APScheduler 3 |
APScheduler 4 | target, with notes below it: how long each dispatch took to its first
run, and the CPU time its processes used beside the CPU time the whole machine was busy
while it was timed (on Linux; on a small machine the server and the schedulers share the
same cores). The machine is whatever it is: other processes on it, and other clients of
the same server, move every number.

Options: ``--only dispatch,latency`` (a list), ``--libs tickwork,aps3`` (default all
three), ``--repeat N`` (best of N for each cell, default 1: the peers' runs are long),
``--quick`` (smaller sizes throughout), ``--processes 4,1`` (of ``dispatch``), the sizes
one by one (``--jobs``, ``--aps4-jobs``, ``--adds``, ``--latency-adds``, ``--idle-jobs``,
``--idle-seconds``), ``--dsn``. A library that fails is reported below the table and
the others still run; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import platform
import select
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from _report import Table, render

UTC = timezone.utc
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
LIBS = ("tickwork", "aps3", "aps4")
LABELS = {"tickwork": "tickwork", "aps3": "APScheduler 3", "aps4": "APScheduler 4"}
MEASUREMENTS = ("dispatch", "add", "latency", "idle")
WORKERS = 10  # threads of each scheduler's pool
WAIT = 120.0  # seconds a dispatch may take before it is cut off
STALL = 15.0  # seconds without a run after which a dispatch is given up
IDLE_SETTLE = 11.0  # PostgreSQL flushes an idle backend's counters up to 10 s late

SIZES = {
    # name: (full, --quick)
    "jobs": (20_000, 2_000),
    "aps4_jobs": (2_000, 500),
    "adds": (2_000, 300),
    "latency_adds": (200, 50),
    "idle_jobs": (10_000, 1_000),
    "idle_seconds": (10.0, 5.0),
}


# --- in the children: the job, and each library behind the same five calls ------------------

_PIPE_FD = -1


def _ran(index: int) -> None:
    """The job: its index and the time it started, one line to the parent's pipe."""
    os.write(_PIPE_FD, f"{index} {time.monotonic():.6f}\n".encode())


RAN = "__main__:_ran"  # the children run this file as __main__


class _Tickwork:
    def __init__(self, dsn: str, schema: str, notify: bool, poll: float | None) -> None:
        from tickwork import Scheduler
        from tickwork.executors import ThreadExecutor
        from tickwork.stores import PostgresStore

        options: dict[str, Any] = {"schema": schema, "notify": notify}
        if poll is not None:
            options["poll_interval"] = poll
        self.scheduler = Scheduler(
            store=PostgresStore(dsn, **options),
            executors={"default": ThreadExecutor(max_workers=WORKERS)},
            timezone="UTC",
        )

    def fill(self, count: int, at: datetime) -> None:
        jobs = [
            {"func": RAN, "trigger": "date", "run_date": at, "id": f"job-{i}", "args": [i]}
            for i in range(count)
        ]
        for start in range(0, count, 5_000):
            self.scheduler.add_jobs(jobs[start : start + 5_000])

    def add(self, job_id: str, index: int, at: datetime) -> None:
        self.scheduler.add_job(RAN, "date", run_date=at, id=job_id, args=[index])

    def start(self) -> None:
        self.scheduler.start()

    def close(self) -> None:
        self.scheduler.shutdown(wait=True)


class _Aps3:
    def __init__(self, url: str, schema: str, *, fast: bool, paused: bool) -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        options = {"connect_args": {"options": "-c synchronous_commit=off"}} if fast else {}
        self.scheduler = BackgroundScheduler(
            jobstores={
                "default": SQLAlchemyJobStore(
                    url=url.replace("postgresql://", "postgresql+psycopg://", 1),
                    tableschema=schema,
                    engine_options=options,
                )
            },
            executors={"default": ThreadPoolExecutor(WORKERS)},
            job_defaults={"misfire_grace_time": None, "coalesce": True},
            timezone=UTC,
        )
        self.paused = paused
        if paused:  # unstarted, it would keep added jobs in memory
            self.scheduler.start(paused=True)

    def fill(self, count: int, at: datetime) -> None:
        for i in range(count):
            self.add(f"job-{i}", i, at)

    def add(self, job_id: str, index: int, at: datetime) -> None:
        self.scheduler.add_job(RAN, "date", run_date=at, id=job_id, args=[index])

    def start(self) -> None:
        self.scheduler.start()

    def close(self) -> None:
        if self.paused:
            # A paused scheduler's thread makes one pass over the due jobs when it is shut
            # down, its executors already stopped: take the store away first.
            self.scheduler.remove_jobstore("default")
        self.scheduler.shutdown(wait=True)


class _Aps4:
    def __init__(self, url: str, schema: str, *, fast: bool) -> None:
        from apscheduler import Scheduler
        from apscheduler.datastores.sqlalchemy import SQLAlchemyDataStore
        from apscheduler.eventbrokers.asyncpg import AsyncpgEventBroker
        from sqlalchemy.ext.asyncio import create_async_engine

        settings = {"server_settings": {"synchronous_commit": "off"}} if fast else {}
        engine = create_async_engine(
            url.replace("postgresql://", "postgresql+asyncpg://", 1), connect_args=settings
        )
        self.scheduler = Scheduler(
            SQLAlchemyDataStore(engine, schema=schema),
            AsyncpgEventBroker.from_async_sqla_engine(engine),
        )
        self.scheduler.__enter__()  # the data store and event broker, not the scheduling
        self.scheduler.configure_task(
            "ran", func=_ran, max_running_jobs=None, misfire_grace_time=None
        )
        self.started = False

    def fill(self, count: int, at: datetime) -> None:
        for i in range(count):
            self.add(f"job-{i}", i, at)

    def add(self, job_id: str, index: int, at: datetime) -> None:
        from apscheduler.triggers.date import DateTrigger

        self.scheduler.add_schedule("ran", DateTrigger(at), id=job_id, args=[index])

    def start(self) -> None:
        self.scheduler.start_in_background()
        self.started = True

    def close(self) -> None:
        if self.started:
            self.scheduler.stop()
            self.scheduler.wait_until_stopped()
        self.scheduler.__exit__(None, None, None)


class _Errors(logging.Handler):
    """Log records of level ERROR and up, and threads that died, counted (not printed:
    APScheduler 3 sharing a store logs one per job another process removed first)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.first: str | None = None
        logging.getLogger().addHandler(self)
        threading.excepthook = self._thread_died

    def emit(self, record: logging.LogRecord) -> None:
        self.note(f"{record.name}: {record.getMessage()}"[:300])

    def note(self, what: str) -> None:
        self.count += 1
        self.first = self.first or what

    def _thread_died(self, args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread is not None else "?"
        self.note(f"thread {name} died: {args.exc_type.__name__}: {args.exc_value}"[:300])


def child_main(args: argparse.Namespace) -> int:
    """A ``--child`` process: one library's scheduler in the role the parent names."""
    global _PIPE_FD
    _PIPE_FD = args.pipe_fd if args.pipe_fd is not None else -1
    errors = _Errors()
    role = args.child
    fast = role == "fill"
    if args.lib == "tickwork":
        lib: Any = _Tickwork(args.dsn, args.schema, args.notify == "on", args.poll)
    elif args.lib == "aps3":
        lib = _Aps3(args.url, args.schema, fast=fast, paused=role != "worker")
    else:
        lib = _Aps4(args.url, args.schema, fast=fast)
    result: dict[str, Any] = {}
    if role == "fill":
        began = time.perf_counter()
        lib.fill(args.count, datetime.fromisoformat(args.at))
        result["seconds"] = time.perf_counter() - began
        lib.close()
    else:
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            return 1
        if role == "worker":
            lib.start()
            print("started", flush=True)
            sys.stdin.read()  # until the parent says stop
            lib.close()
        elif role == "add":
            later = datetime.now(UTC) + timedelta(hours=1)
            for i in range(args.count):
                lib.add(f"{args.prefix}{i}", i, later)
            result["end"] = time.monotonic()
            lib.close()
        else:  # "adder": jobs due at once, one every --spacing seconds
            stamps, took = [], []
            for i in range(args.count):
                stamps.append(time.monotonic())
                lib.add(f"job-{i}", i, datetime.now(UTC))
                took.append(time.monotonic() - stamps[-1])
                time.sleep(args.spacing)
            result.update(stamps=stamps, took=took)
            lib.close()
    result.update(errors=errors.count, first_error=errors.first, cpu=sum(os.times()[:2]))
    print(json.dumps(result), flush=True)
    return 0


# --- in the parent: the server, the children, the runs they report ---------------------------


@dataclass
class Setup:
    dsn: str
    url: str  # the same database as a SQLAlchemy URL without a driver
    aps4_python: str | None
    sizes: dict[str, Any]
    repeat: int
    processes: tuple[int, ...] = (4, 1)  # of the dispatch measurement


def _connect(dsn: str) -> Any:
    import psycopg

    return psycopg.connect(dsn, autocommit=True)


def _url(dsn: str) -> str:
    """*dsn* (either form psycopg takes) as a ``postgresql://`` URL for SQLAlchemy."""
    from urllib.parse import quote

    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(dsn)
    user = quote(str(parts.get("user", "")), safe="")
    password = parts.get("password")
    auth = f"{user}:{quote(str(password), safe='')}" if password else user
    host = parts.get("host", "localhost")
    port = parts.get("port", 5432)
    return f"postgresql://{auth}@{host}:{port}/{parts.get('dbname', user)}"


def _fresh(lib: str) -> str:
    return f"twb_{lib}_{uuid.uuid4().hex[:10]}"


@contextlib.contextmanager
def _schema(setup: Setup, lib: str) -> Iterator[str]:
    """A fresh schema name for *lib* (created for APScheduler 3, whose store expects it),
    dropped on the way out."""
    name = _fresh(lib)
    try:
        if lib == "aps3":
            with _connect(setup.dsn) as conn:
                conn.execute(f'CREATE SCHEMA "{name}"')
        yield name
    finally:
        with _connect(setup.dsn) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _command(setup: Setup, lib: str, role: str, schema: str, **options: Any) -> list[str]:
    python = setup.aps4_python if lib == "aps4" else sys.executable
    assert python is not None
    command = [python, os.path.abspath(__file__), "--child", role, "--lib", lib]
    command += ["--dsn", setup.dsn, "--url", setup.url, "--schema", schema]
    for name, value in options.items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    return command


def _fill(setup: Setup, lib: str, schema: str, count: int, at: datetime) -> float:
    """*count* date jobs at *at* added to *schema* by a child; the seconds it took."""
    done = subprocess.run(
        _command(setup, lib, "fill", schema, count=count, at=at.isoformat()),
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{LABELS[lib]}: filling {schema} failed (see stderr)")
    return float(json.loads(done.stdout.splitlines()[-1])["seconds"])


class Children:
    """Child processes spoken to by lines on stdin and stdout."""

    def __init__(self, commands: list[list[str]], pipe_fd: int | None = None) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        for command in commands:
            if pipe_fd is not None:
                command = [*command, "--pipe-fd", str(pipe_fd)]
            self.procs.append(
                subprocess.Popen(
                    command,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    pass_fds=() if pipe_fd is None else (pipe_fd,),
                )
            )

    def expect(self, word: str) -> None:
        for proc in self.procs:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if line != word:
                raise RuntimeError(f"child {proc.pid} said {line!r}, not {word!r} (see stderr)")

    def say(self, word: str) -> float:
        """*word* to every child; the ``time.monotonic()`` just before."""
        began = time.monotonic()
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(word + "\n")
            proc.stdin.flush()
        return began

    def stop(self) -> None:
        """End of input: the children finish what they do and exit."""
        for proc in self.procs:
            if proc.stdin is not None:
                proc.stdin.close()
                proc.stdin = None  # closed: communicate() must not flush it

    def results(self) -> list[dict[str, Any]]:
        """Each child's last line (JSON), once it has exited (within ``WAIT`` seconds)."""
        self.stop()
        found = []
        for proc in self.procs:
            out, _ = proc.communicate(timeout=WAIT)
            lines = out.splitlines()
            if proc.returncode != 0 or not lines:
                raise RuntimeError(f"child {proc.pid} exited with {proc.returncode}")
            found.append(json.loads(lines[-1]))
        return found

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None and not stream.closed:
                    stream.close()


@dataclass
class RunLog:
    """The runs reported through the pipe: how often each job ran, when it first did."""

    runs: Counter[int] = field(default_factory=Counter)
    first: dict[int, float] = field(default_factory=dict)
    rest: bytes = b""

    def feed(self, chunk: bytes) -> None:
        lines = (self.rest + chunk).split(b"\n")
        self.rest = lines.pop()
        for line in lines:
            index, at = line.split()
            job = int(index)
            self.runs[job] += 1
            self.first.setdefault(job, float(at))

    def collect(self, fd: int, want: int, until: float, stall: float) -> None:
        """Read until *want* distinct jobs ran, *until* (monotonic) passes, or no run
        came for *stall* seconds."""
        while len(self.first) < want:
            left = min(until - time.monotonic(), stall)
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            self.feed(chunk)

    def drain(self, fd: int, until: float) -> None:
        """Read to the end of the pipe (every child has exited), or *until*."""
        while (left := until - time.monotonic()) > 0 and select.select([fd], [], [], left)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            self.feed(chunk)

    def doubled(self) -> int:
        return sum(1 for n in self.runs.values() if n > 1)

    def missing(self, count: int) -> int:
        return sum(1 for i in range(count) if i not in self.first)


@contextlib.contextmanager
def _runs_pipe() -> Iterator[tuple[int, int]]:
    read_fd, write_fd = os.pipe()
    try:
        yield read_fd, write_fd
    finally:
        os.close(read_fd)
        with contextlib.suppress(OSError):
            os.close(write_fd)


def _notes(results: list[dict[str, Any]]) -> str | None:
    errors = sum(r["errors"] for r in results)
    if not errors:
        return None
    first = next(r["first_error"] for r in results if r["errors"])
    return f"{errors:,} error(s) logged, the first: {first}"


# --- the measurements ------------------------------------------------------------------------


@dataclass
class Dispatch:
    jobs: int
    runs_per_s: float
    doubled: int
    missing: int
    per_process: str
    cut: str | None = None  # why it stopped short
    errors: str | None = None
    extra_runs: int = 0
    first_s: float = 0.0  # from the signal to start to the first run
    cpu: str = ""  # where the CPU time went


def dispatch_once(setup: Setup, lib: str, processes: int, count: int) -> Dispatch:
    with _schema(setup, lib) as schema:
        _fill(setup, lib, schema, count, datetime.now(UTC))
        log = RunLog()
        with _runs_pipe() as (read_fd, write_fd):
            children = Children(
                [_command(setup, lib, "worker", schema) for _ in range(processes)], write_fd
            )
            try:
                os.close(write_fd)  # the children hold it: EOF once they all exit
                children.expect("ready")
                busy = _busy()
                began = children.say("go")
                log.collect(read_fd, count, began + WAIT, STALL)
                busy = _busy() - busy
                wall = time.monotonic() - began
                cut = None
                if len(log.first) < count:
                    cut = f"{len(log.first):,} of {count:,} jobs ran in {time.monotonic() - began:.0f} s"
                children.stop()
                log.drain(read_fd, time.monotonic() + WAIT)
                results = children.results()
            finally:
                children.kill()
    if not log.first:
        return Dispatch(count, 0.0, 0, count, "", cut, _notes(results))
    last = max(log.first.values())
    # Which process ran what is not reported by the pipe; the total per job is.
    runs = sum(log.runs.values())
    return Dispatch(
        jobs=count,
        runs_per_s=len(log.first) / (last - began),
        doubled=log.doubled(),
        missing=log.missing(count),
        per_process=f"{runs:,} runs",
        cut=cut,
        errors=_notes(results),
        extra_runs=runs - len(log.first),
        first_s=min(log.first.values()) - began,
        cpu=f"{sum(r['cpu'] for r in results):.1f} CPU-s in its processes (their whole lives), "
        f"{busy:.1f} of {wall * (os.cpu_count() or 1):.1f} CPU-s busy on the machine while timed",
    )


def add_once(setup: Setup, lib: str, processes: int, count: int) -> float:
    """Adds per second of *processes* children adding *count* jobs each."""
    with _schema(setup, lib) as schema:
        _fill(setup, lib, schema, 0, datetime.now(UTC))  # the tables, outside the timer
        children = Children(
            [
                _command(setup, lib, "add", schema, count=count, prefix=f"p{n}-")
                for n in range(processes)
            ]
        )
        try:
            children.expect("ready")
            began = children.say("go")
            results = children.results()
        finally:
            children.kill()
        table = {"tickwork": "jobs", "aps3": "apscheduler_jobs", "aps4": "schedules"}[lib]
        with _connect(setup.dsn) as conn:
            row = conn.execute(f'SELECT count(*) FROM "{schema}".{table}').fetchone()
        stored = int(row[0]) if row else 0
    if stored != processes * count:
        raise RuntimeError(f"{LABELS[lib]}: {processes * count:,} added, {stored:,} stored")
    last = max(float(r["end"]) for r in results)
    return processes * count / (last - began)


@dataclass
class Latency:
    p50_ms: float
    p99_ms: float
    started: int
    added: int
    waited: float
    add_ms: tuple[float, float] = (0.0, 0.0)  # the adds themselves: median, slowest


def latency_once(setup: Setup, lib: str, count: int, *, notify: bool = True) -> Latency:
    options = {} if lib != "tickwork" else {"notify": "on" if notify else "off"}
    waited = 5.0 if notify else 15.0  # after the last add (tickwork polls every 5 s)
    with _schema(setup, lib) as schema:
        _fill(setup, lib, schema, 0, datetime.now(UTC))
        log = RunLog()
        with _runs_pipe() as (read_fd, write_fd):
            worker = Children([_command(setup, lib, "worker", schema, **options)], write_fd)
            adder = None
            try:
                os.close(write_fd)
                worker.expect("ready")
                worker.say("go")
                worker.expect("started")
                time.sleep(1.0)  # past its first look at the store
                adder = Children(
                    [_command(setup, lib, "adder", schema, count=count, spacing=0.02, **options)]
                )
                adder.expect("ready")
                adder.say("go")
                added = adder.results()[0]
                stamps = added["stamps"]
                took_add = sorted(1000 * t for t in added["took"])
                log.collect(read_fd, count, time.monotonic() + waited, waited)
                worker.stop()
                log.drain(read_fd, time.monotonic() + WAIT)
                worker.results()
            finally:
                worker.kill()
                if adder is not None:
                    adder.kill()
    took = sorted(1000 * (at - stamps[i]) for i, at in log.first.items())
    adds = (took_add[len(took_add) // 2], took_add[-1])
    if not took:
        return Latency(float("nan"), float("nan"), 0, count, waited, adds)
    return Latency(
        took[len(took) // 2],
        took[min(len(took) - 1, int(0.99 * len(took)))],
        len(took),
        count,
        waited,
        adds,
    )


def idle_once(setup: Setup, lib: str, count: int, seconds: float) -> float:
    """Transactions per second of one process holding *count* jobs none due, measured
    in a database of its own."""
    from psycopg.conninfo import make_conninfo

    database = f"twb_idle_{uuid.uuid4().hex[:10]}"
    with _connect(setup.dsn) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    try:
        dsn = make_conninfo(setup.dsn, dbname=database)
        own = Setup(dsn, _url(dsn), setup.aps4_python, setup.sizes, setup.repeat)
        with _schema(own, lib) as schema:
            _fill(own, lib, schema, count, datetime.now(UTC) + timedelta(hours=1))
            worker = Children([_command(own, lib, "worker", schema)])
            try:
                worker.expect("ready")
                worker.say("go")
                worker.expect("started")
                time.sleep(IDLE_SETTLE)
                with _connect(setup.dsn) as conn:  # not in that database: not counted
                    before = _transactions(conn, database)
                    began = time.monotonic()
                    time.sleep(seconds)
                    after = _transactions(conn, database)
                    took = time.monotonic() - began
                worker.results()
            finally:
                worker.kill()
    finally:
        with _connect(setup.dsn) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return (after - before) / took


def _busy() -> float:
    """CPU seconds the whole machine has been busy (Linux; 0 elsewhere)."""
    try:
        with open("/proc/stat", encoding="ascii") as stream:
            fields = [int(n) for n in stream.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _transactions(conn: Any, database: str) -> int:
    conn.execute("SELECT pg_stat_clear_snapshot()")
    row = conn.execute(
        "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
        (database,),
    ).fetchone()
    return int(row[0])


# --- the table -------------------------------------------------------------------------------


@dataclass
class Report:
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _best(runs: list[Any], key: str) -> Any:
    return max(runs, key=lambda r: getattr(r, key))


def _attempt(report: Report, what: str, call: Any) -> Any:
    """*call*(), or None with the error noted (one library failing spoils no other)."""
    try:
        return call()
    except Exception as error:
        report.failures.append(f"{what}: {type(error).__name__}: {error}")
        return None


def measure_dispatch(setup: Setup, libs: Sequence[str], report: Report) -> None:
    found: dict[tuple[str, int], Dispatch | None] = {}
    for processes in setup.processes:
        for lib in libs:
            if not _runnable(setup, lib):
                continue
            count = setup.sizes["aps4_jobs" if lib == "aps4" else "jobs"]
            once = functools.partial(dispatch_once, setup, lib, processes, count)
            what = f"dispatch, {LABELS[lib]}, {processes} process(es)"
            runs = [_attempt(report, what, once) for _ in range(setup.repeat)]
            good = [r for r in runs if r is not None]
            found[lib, processes] = _best(good, "runs_per_s") if good else None
    for processes in setup.processes:
        cells = {}
        checks = {}
        starts: list[str] = []
        for lib in LIBS:
            result = found.get((lib, processes))
            if result is None:
                cells[lib] = checks[lib] = _absent(setup, lib, libs)
                continue
            text = f"{result.runs_per_s:,.0f}"
            if result.cut:
                text += " *"
                report.notes.append(f"* {LABELS[lib]}, {processes} process(es): {result.cut}.")
            if result.jobs != setup.sizes["jobs"]:
                text += f" ({result.jobs:,} jobs)"
            cells[lib] = text
            checks[lib] = f"{result.doubled:,} / {result.missing:,}"
            if result.extra_runs:
                checks[lib] += f" ({result.extra_runs:,} extra runs)"
            if result.errors:
                report.notes.append(f"{LABELS[lib]}, {processes} process(es): {result.errors}.")
            starts.append(f"{LABELS[lib]} {result.first_s:.2f} s")
            report.notes.append(f"CPU, {LABELS[lib]}, {processes} process(es): {result.cpu}.")
        if starts:
            report.notes.append(
                f"{processes} process(es), from the signal to start to the first run: "
                f"{', '.join(starts)} (in the runs/s above)."
            )
        jobs = setup.sizes["jobs"]
        which = f"{processes} process{'es' if processes > 1 else ''}"
        target = "≥ 10,000; ≥ 10x both peers" if processes == 4 else "≥ 10x both peers"
        report.rows.append([f"{jobs:,} due date jobs, {which}: runs/s", *_row(cells), target])
        report.rows.append(
            [f"… {which}: jobs run twice / never run", *_row(checks), "0 / 0 (tickwork)"]
        )
        ours = found.get(("tickwork", processes))
        peers = [found.get((lib, processes)) for lib in ("aps3", "aps4")]
        if ours is not None and any(peer is not None for peer in peers):
            ratios = {"tickwork": ""}
            for lib in ("aps3", "aps4"):
                theirs = found.get((lib, processes))
                ratios[lib] = (
                    f"{ours.runs_per_s / theirs.runs_per_s:,.1f}x"
                    if theirs is not None and theirs.runs_per_s
                    else "—"
                )
            report.rows.append([f"… {which}: tickwork ÷ peer", *_row(ratios), "≥ 10x"])


def measure_add(setup: Setup, libs: Sequence[str], report: Report) -> None:
    count = setup.sizes["adds"]
    for processes in (1, 4):
        cells = {}
        for lib in LIBS:
            if lib not in libs or not _runnable(setup, lib):
                cells[lib] = _absent(setup, lib, libs)
                continue
            once = functools.partial(add_once, setup, lib, processes, count)
            what = f"add, {LABELS[lib]}, {processes} process(es)"
            runs = [_attempt(report, what, once) for _ in range(setup.repeat)]
            good = [r for r in runs if r is not None]
            cells[lib] = f"{max(good):,.0f}" if good else "failed"
        which = f"{processes} process{'es' if processes > 1 else ''}"
        report.rows.append([f"add_job/s, {which} ({count:,} jobs each)", *_row(cells), "measured"])


def measure_latency(setup: Setup, libs: Sequence[str], report: Report) -> None:
    count = setup.sizes["latency_adds"]
    cells = {}
    polled = dict.fromkeys(LIBS, "")
    adds: list[str] = []
    for lib in LIBS:
        if lib not in libs or not _runnable(setup, lib):
            cells[lib] = _absent(setup, lib, libs)
            continue
        found = _attempt(
            report, f"latency, {LABELS[lib]}", functools.partial(latency_once, setup, lib, count)
        )
        cells[lib] = _latency_text(found)
        adds.append(f"{LABELS[lib]} {_add_text(found)}")
        if lib == "tickwork":
            found = _attempt(
                report,
                "latency, tickwork, notify=False",
                functools.partial(latency_once, setup, lib, count, notify=False),
            )
            polled[lib] = _latency_text(found)
            adds.append(f"tickwork with notify=False {_add_text(found)}")
    report.rows.append(
        [f"add → start latency, {count} adds 20 ms apart: p50 / p99 ms", *_row(cells), "p99 ≤ 50"]
    )
    report.rows.append(["… tickwork with notify=False (polling)", *_row(polled), "contrast"])
    if adds:
        report.notes.append(f"Latency: the adds took (median / slowest, ms): {'; '.join(adds)}.")


def _add_text(found: Latency | None) -> str:
    return "—" if found is None else f"{found.add_ms[0]:,.1f} / {found.add_ms[1]:,.1f}"


def _latency_text(found: Latency | None) -> str:
    if found is None:
        return "failed"
    if not found.started:
        return f"none started in {found.waited:.0f} s"
    text = f"{found.p50_ms:,.1f} / {found.p99_ms:,.1f}"
    if found.started < found.added:
        text += f" ({found.added - found.started} never started)"
    return text


def measure_idle(setup: Setup, libs: Sequence[str], report: Report) -> None:
    count, seconds = setup.sizes["idle_jobs"], setup.sizes["idle_seconds"]
    cells = {}
    for lib in LIBS:
        if lib not in libs or not _runnable(setup, lib):
            cells[lib] = _absent(setup, lib, libs)
            continue
        found = _attempt(
            report, f"idle, {LABELS[lib]}", functools.partial(idle_once, setup, lib, count, seconds)
        )
        cells[lib] = "failed" if found is None else f"{found:.1f}"
    report.rows.append(
        [
            f"idle: transactions/s, {count:,} jobs none due ({seconds:g} s)",
            *_row(cells),
            "a few at most",
        ]
    )


def _row(cells: dict[str, str]) -> list[str]:
    return [cells.get(lib, "") for lib in LIBS]


def _runnable(setup: Setup, lib: str) -> bool:
    return lib != "aps4" or setup.aps4_python is not None


def _absent(setup: Setup, lib: str, libs: Sequence[str]) -> str:
    if lib not in libs:
        return "not run"
    if not _runnable(setup, lib):
        return "n/a (no --aps4-python)"
    return "failed"


# --- output ----------------------------------------------------------------------------------


def _versions(setup: Setup, libs: Sequence[str]) -> str:
    found = []
    for lib in libs:
        if lib == "aps4" and setup.aps4_python is None:
            found.append("APScheduler 4: no --aps4-python, not measured")
            continue
        python = setup.aps4_python if lib == "aps4" else sys.executable
        module = "tickwork" if lib == "tickwork" else "apscheduler"
        probe = (
            "import importlib.metadata as m, sys, "
            f"{module}; print(getattr({module}, '__version__', None) or m.version('{module}'), "
            "'on Python', sys.version.split()[0])"
        )
        done = subprocess.run(
            [python or sys.executable, "-c", probe], capture_output=True, text=True, check=False
        )
        version = done.stdout.strip() or f"not importable ({done.stderr.strip()[-200:]})"
        found.append(f"{LABELS[lib]} {version}")
    return "; ".join(found)


def _header(setup: Setup, libs: Sequence[str]) -> list[str]:
    with _connect(setup.dsn) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    server = row[0] if row else "?"
    try:
        load = f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):
        load = "unknown"
    return [
        "## tickwork PostgresStore vs APScheduler 3 and 4 on PostgreSQL",
        "",
        f"- PostgreSQL {server} at {_url(setup.dsn)} (the same server for every library)",
        f"- {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{load} at the start; other processes on the machine and other clients of the "
        "server move every number",
        f"- {_versions(setup, libs)}",
        f"- Best of {setup.repeat} for each timed cell",
        "",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--only", help=f"comma-separated measurements to run ({', '.join(MEASUREMENTS)})"
    )
    parser.add_argument(
        "--libs",
        default=",".join(LIBS),
        help="comma-separated libraries to run (tickwork,aps3,aps4; default all)",
    )
    parser.add_argument("--dsn", default=os.environ.get("TICKWORK_BENCH_PG_DSN", DEFAULT_DSN))
    parser.add_argument(
        "--aps4-python",
        default=os.environ.get("TICKWORK_BENCH_APS4_PYTHON"),
        help="the Python of a virtualenv with apscheduler 4 (pre-release), SQLAlchemy and "
        "asyncpg; without it, APScheduler 4 is not measured",
    )
    parser.add_argument(
        "--processes",
        default="4,1",
        help="comma-separated process counts of the dispatch measurement (default 4,1)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per cell, best kept")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, about a minute")
    for name, (full, _quick) in SIZES.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=type(full),
            help=f"default {full:,} ({_quick:,} with --quick)",
        )
    # The hidden --child mode.
    parser.add_argument(
        "--child", choices=("fill", "worker", "add", "adder"), help=argparse.SUPPRESS
    )
    parser.add_argument("--lib", choices=LIBS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--at", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", default="job-", help=argparse.SUPPRESS)
    parser.add_argument("--spacing", type=float, default=0.02, help=argparse.SUPPRESS)
    parser.add_argument("--pipe-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--notify", choices=("on", "off"), default="on", help=argparse.SUPPRESS)
    parser.add_argument("--poll", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args)

    only = [name.strip() for name in (args.only or ",".join(MEASUREMENTS)).split(",")]
    if any(name not in MEASUREMENTS for name in only):
        parser.error(f"--only: choose from {', '.join(MEASUREMENTS)}, got {args.only!r}")
    libs = [lib.strip() for lib in args.libs.split(",") if lib.strip()]
    unknown = [lib for lib in libs if lib not in LIBS]
    if unknown:
        parser.error(f"--libs: unknown {', '.join(unknown)} (choose from {', '.join(LIBS)})")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.aps4_python is not None and not os.path.exists(args.aps4_python):
        parser.error(f"--aps4-python: no such file {args.aps4_python!r}")
    sizes = {
        name: getattr(args, name) or (quick if args.quick else full)
        for name, (full, quick) in SIZES.items()
    }
    try:
        processes = tuple(int(n) for n in args.processes.split(","))
    except ValueError:
        processes = ()
    if not processes or min(processes) < 1:
        parser.error(f"--processes: counts >= 1 separated by commas, got {args.processes!r}")
    setup = Setup(args.dsn, _url(args.dsn), args.aps4_python, sizes, args.repeat, processes)
    print("\n".join(_header(setup, libs)), flush=True)
    report = Report()
    started = time.monotonic()
    measures = {
        "dispatch": measure_dispatch,
        "add": measure_add,
        "latency": measure_latency,
        "idle": measure_idle,
    }
    for name in only:
        began = time.monotonic()
        measures[name](setup, libs, report)
        report.notes.append(f"`{name}` took {time.monotonic() - began:.0f} s.")
    table = Table(
        "PostgreSQL: tickwork beside its peers",
        ["Measurement", *(LABELS[lib] for lib in LIBS), "Target"],
        report.rows,
        [
            *report.notes,
            *(f"Failed: {line}" for line in report.failures),
            f"Total time {time.monotonic() - started:.0f} s.",
        ],
    )
    print("\n".join(render(table)), flush=True)
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
