"""The command line: ``python -m tickwork demo | next | explain | jobs | history``.

``main(argv)`` returns the exit status, so it can be tested without a subprocess.
This module is a driver: it is allowed to read the clock and to sleep.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import TextIO

from . import __version__
from ._checks import seconds
from ._errors import StoreError, TickworkError
from ._events import Event
from ._model import Job, Outcome, Run
from ._references import references_as_text
from ._tz import coerce_timezone, timezone_name
from .stores import JobStore, SQLiteStore
from .triggers import CronTrigger, Trigger

__all__ = ["entry_point", "main"]


_STORE_HELP = (
    "a SQLite job file, or a PostgreSQL DSN (postgresql://user@host/db, or libpq's "
    "'host=... dbname=...')"
)
_SCHEMA_HELP = "the schema of a PostgreSQL store (default: tickwork)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tickwork",
        description="tickwork: an in-process job scheduler that is right about time.",
    )
    parser.add_argument("--version", action="version", version=f"tickwork {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="fire a few live schedules for a while and summarize")
    demo.add_argument("--duration", type=float, default=10.0, help="seconds to run (default: 10)")

    upcoming = commands.add_parser("next", help="print the next fire times of a cron expression")
    upcoming.add_argument("expression", help='a cron expression, e.g. "0 9 * * mon-fri"')
    upcoming.add_argument("--tz", default=None, help="IANA zone (default: the local zone)")
    upcoming.add_argument("-n", "--count", type=int, default=5, help="how many (default: 5)")
    upcoming.add_argument(
        "--after", default=None, help="ISO datetime with offset to start from (default: now)"
    )

    explain = commands.add_parser("explain", help="describe a cron expression in English")
    explain.add_argument("expression")

    jobs = commands.add_parser("jobs", help="list the jobs (and broken jobs) in a job store")
    jobs.add_argument("db", metavar="STORE", help=_STORE_HELP)
    jobs.add_argument("--schema", default=None, metavar="NAME", help=_SCHEMA_HELP)
    jobs.add_argument(
        "--tz", default=None, metavar="ZONE", help="show times in this zone (default: as stored)"
    )

    history = commands.add_parser("history", help="list the newest runs recorded in a job store")
    history.add_argument("db", metavar="STORE", help=_STORE_HELP)
    history.add_argument("--schema", default=None, metavar="NAME", help=_SCHEMA_HELP)
    history.add_argument("--job", default=None, metavar="ID", help="only the runs of this job")
    history.add_argument(
        "--limit", type=int, default=20, metavar="N", help="how many runs (default: 20)"
    )
    history.add_argument(
        "--failed",
        action="store_true",
        help="only runs that did not succeed (failure, interrupted, missed, skipped)",
    )
    history.add_argument(
        "--tz", default=None, metavar="ZONE", help="show times in this zone (default: as stored)"
    )
    return parser


#: The exit status after the output pipe closed: 128 + SIGPIPE, as the shell reports
#: a tool that the signal ended.
_BROKEN_PIPE = 141


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the command line with *argv* (default: ``sys.argv[1:]``); return the exit status."""
    stream = out if out is not None else sys.stdout
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args.duration, stream)
        if args.command == "next":
            return _next(args.expression, args.tz, args.count, args.after, stream)
        if args.command == "jobs":
            return _jobs(args.db, args.schema, args.tz, stream)
        if args.command == "history":
            return _history(
                args.db, args.schema, args.job, args.limit, args.failed, args.tz, stream
            )
        print(CronTrigger(args.expression, timezone="UTC").explain(), file=stream)
        return 0
    except (TickworkError, ValueError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader stopped reading (``python -m tickwork next ... | head``): stop
        # quietly, with the status of a tool that SIGPIPE ended. Point stdout at devnull
        # so that the interpreter's final flush does not fail again.
        if out is None:
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return _BROKEN_PIPE


def entry_point() -> None:
    """Console-script entry point."""
    sys.exit(main())


def _next(expression: str, tz: str | None, count: int, after: str | None, out: TextIO) -> int:
    if count < 1:
        raise ValueError(f"--count must be 1 or more, got {count}")
    zone = coerce_timezone(tz, "--tz")
    trigger = CronTrigger(expression, timezone=zone)
    if after is None:
        moment = datetime.now(timezone.utc)
    else:
        try:
            moment = datetime.fromisoformat(after)
        except ValueError:
            raise ValueError(
                f"--after {after!r} is not an ISO 8601 datetime, e.g. 2024-05-01T09:00:00+02:00"
            ) from None
        if moment.tzinfo is None:
            raise ValueError(f"--after must carry an offset, e.g. {after}+00:00")
    print(f"{trigger.explain()} ({timezone_name(zone)})", file=out)
    for instant in trigger.next_times(moment, count):
        print(
            f"  {instant.isoformat()}  ({instant.astimezone(timezone.utc):%H:%M:%S} UTC)", file=out
        )
    return 0


#: Outcomes that ``history --failed`` shows: every run that did not succeed.
_NOT_SUCCESS = frozenset({Outcome.FAILURE, Outcome.INTERRUPTED, Outcome.MISSED, Outcome.SKIPPED})
#: How many runs ``history --failed`` searches at most for the failures it shows.
_SEARCH_LIMIT = 100_000
_ERROR_WIDTH = 80
_NOTE_WIDTH = 40
#: The keys of ``CronTrigger.to_dict()`` that its short description shows.
_CRON_ESSENTIALS = frozenset({"type", "expression", "timezone"})


def _jobs(path: str, schema: str | None, tz: str | None, out: TextIO) -> int:
    zone = None if tz is None else coerce_timezone(tz, "--tz")
    with _reading(path, schema) as (store, name):
        # Marks first: loading a row that decodes clears its stored mark (in the copy),
        # though the scheduler set it because the row's function did not import.
        broken = store.broken_jobs()
        jobs = store.get_jobs()
        broken |= store.broken_jobs()  # and the rows this load could not decode
    rows = [
        [
            _cell(job.id),
            _when(job.next_fire, zone),
            _paused(job),
            _describe(job.trigger),
            _cell(job.func_ref or "-"),  # as text: looking imports nothing
        ]
        for job in jobs
        if job.id not in broken
    ]
    if rows:
        print(f"Jobs in {name} ({len(rows)}), soonest first:", file=out)
        _table(["ID", "NEXT FIRE", "PAUSED", "TRIGGER", "FUNCTION"], rows, out)
    else:
        print(f"No jobs in {name}.", file=out)
    if broken:
        where = "the database" if _is_dsn(path) else "the file"
        print(f"\nBroken jobs ({len(broken)}), kept in {where} but not run:", file=out)
        _table(["ID", "REASON"], [[k, _cell(broken[k])] for k in sorted(broken)], out)
    else:
        print("\nBroken jobs: none.", file=out)
    return 0


def _history(
    path: str,
    schema: str | None,
    job_id: str | None,
    limit: int,
    failed: bool,
    tz: str | None,
    out: TextIO,
) -> int:
    if limit < 1:
        raise ValueError(f"--limit must be 1 or more, got {limit}")
    zone = None if tz is None else coerce_timezone(tz, "--tz")
    with _reading(path, schema) as (store, name):
        runs = _failures(store, job_id, limit) if failed else store.history(job_id, limit=limit)
    kind = "failed " if failed else ""
    of = "" if job_id is None else f" of job {job_id!r}"
    if not runs:
        print(f"No {kind}runs{of} recorded in {name}.", file=out)
        return 0
    noun = "run" if len(runs) == 1 else "runs"
    print(f"The newest {len(runs)} {kind}{noun}{of} in {name}, newest first:", file=out)
    _table(
        ["SCHEDULED AT", "JOB", "ATTEMPT", "OUTCOME", "DURATION", "PROCESS", "ERROR"],
        [_run_row(run, zone) for run in runs],
        out,
        right=(2, 4),
    )
    return 0


def _failures(store: JobStore, job_id: str | None, limit: int) -> list[Run]:
    """The newest *limit* runs that did not succeed, searching ever more of the history
    (successes usually outnumber them) until there are enough or it runs out."""
    fetch = limit * 10
    while True:
        fetch = min(fetch, _SEARCH_LIMIT)
        runs = store.history(job_id, limit=fetch)
        found = [run for run in runs if run.outcome in _NOT_SUCCESS][:limit]
        if len(found) == limit or len(runs) < fetch or fetch == _SEARCH_LIMIT:
            return found
        fetch *= 10


@contextlib.contextmanager
def _reading(target: str, schema: str | None) -> Iterator[tuple[JobStore, str]]:
    """The store *target* names (a SQLite file or a PostgreSQL DSN), and how to name it
    to the user."""
    if _is_dsn(target):
        with _postgres(target, "tickwork" if schema is None else schema) as (store, name):
            yield store, name
        return
    if schema is not None:
        raise ValueError(f"--schema is for a PostgreSQL DSN; {target!r} is a SQLite file")
    with _read_only(target) as store:
        yield store, target


#: How a DSN begins, as libpq reads one: a URI, or ``keyword=value`` pairs.
_URI_SCHEMES = ("postgresql://", "postgres://")
_KEYWORD_VALUE = re.compile(r"\s*[A-Za-z_]+\s*=")


def _is_dsn(target: str) -> bool:
    """Whether *target* names a PostgreSQL database rather than a SQLite file (a file
    that exists by that name is a file, whatever its name looks like)."""
    if target.startswith(_URI_SCHEMES):
        return True
    return _KEYWORD_VALUE.match(target) is not None and not os.path.exists(target)


@contextlib.contextmanager
def _postgres(dsn: str, schema: str) -> Iterator[tuple[JobStore, str]]:
    """A store on the tickwork schema *schema* of the database *dsn*.

    Unlike a file, a database cannot be copied aside, so the store reads it in place,
    in a transaction that is rolled back; and a schema that is not there already is
    never created: the store would make a fresh one, and a mistyped name would leave
    an empty schema behind. (The store registers itself as a live process while it
    reads, as every store does, and removes its row when closed.)

    Raises:
        StoreError: psycopg is not installed, the server cannot be reached or refuses
            the connection, or the schema holds no tickwork store; the message names the
            server, database and schema (never a password).
    """
    try:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict
    except ImportError as error:
        raise StoreError(
            f'reading a PostgreSQL store needs psycopg: pip install "tickwork[postgres]" ({error})'
        ) from None
    from .stores import PostgresStore

    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error as error:
        raise StoreError(f"not a valid PostgreSQL DSN: {error}") from None
    host = params.get("host") or "the local socket"
    port = params.get("port") or 5432
    name = f"schema {schema!r} of database {params.get('dbname') or '(default)'!r} at {host}"
    if not str(host).startswith("/") and host != "the local socket":
        name += f":{port}"
    store = PostgresStore(dsn, schema=schema, pool_size=1)  # ValueError: a bad schema name
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            row = conn.execute(
                "SELECT to_regclass(format('%%I.jobs', %s::text)) IS NOT NULL", (schema,)
            ).fetchone()
    except psycopg.Error as error:
        reason = " ".join(str(error).split())
        raise StoreError(f"cannot read {name}: {reason}") from None
    if not row or not row[0]:
        raise StoreError(f"{name} is not a tickwork job store (it has no jobs table)")
    # Looking at a store must never run code from it, as for a file. And it must not
    # change it: a store that reads can write (it marks rows it cannot decode broken,
    # and clears the mark of rows that decode, as rows naming a module that does not
    # import do here), so everything is read in one transaction, then rolled back.
    with references_as_text():
        _quiet_store_log()
        try:
            store.open()
            with store.transaction():
                yield store, name
                raise _Undo
        except _Undo:
            pass
        finally:
            store.close()


class _Undo(Exception):
    """Raised at the end of a read to roll back whatever the reading wrote."""


@contextlib.contextmanager
def _read_only(path: str) -> Iterator[SQLiteStore]:
    """A store over a private copy of the job file *path*, which is never changed.

    Reading through a store can write: it marks rows it cannot load as broken, clears
    the mark of rows that load again, and creates or upgrades the schema of an empty or
    older file. So the file is copied through a connection SQLite opens read-only (no
    write, not even a checkpoint, can reach it), and the store reads the copy.

    Raises:
        StoreError: *path* does not exist (it is not created), is not a SQLite file, is
            empty, or is not a tickwork job store; the message names *path*.
    """
    if not os.path.exists(path):
        raise StoreError(f"no such file: {path!r}")
    # Looking at a file must never run code from it: rows are decoded without importing
    # the modules they name (and the store, opened without pickle=True, unpickles nothing).
    with references_as_text(), tempfile.TemporaryDirectory(prefix="tickwork-") as folder:
        copy = os.path.join(folder, "jobs.db")
        _copy_read_only(path, copy)
        _quiet_store_log()
        store = SQLiteStore(copy)
        try:
            store.open()
            yield store
        except StoreError as error:
            # Its message names the copy; the user knows the file by *path*.
            raise StoreError(str(error).replace(repr(copy), repr(path))) from error
        finally:
            store.close()


def _quiet_store_log() -> None:
    """Keep the store's log of broken rows off stderr (the report lists them, and the
    log names the copy); once per process."""
    log = logging.getLogger("tickwork")
    if not any(isinstance(handler, logging.NullHandler) for handler in log.handlers):
        log.addHandler(logging.NullHandler())


def _copy_read_only(path: str, copy: str) -> None:
    """Copy the database *path* to *copy*, opening *path* with SQLite's ``mode=ro``
    (a consistent snapshot, even while schedulers write to it)."""
    try:
        source = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise StoreError(f"cannot open {path!r}: {error}") from error
    try:
        target = sqlite3.connect(copy)
        try:
            source.backup(target)
            tables = target.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        finally:
            target.close()
    except sqlite3.DatabaseError as error:
        if "not a database" in str(error) or "malformed" in str(error):
            raise StoreError(
                f"{path!r} is not a SQLite database, or is corrupt: {error}"
            ) from error
        raise StoreError(f"cannot read {path!r}: {error}") from error
    finally:
        source.close()
    if not tables:
        # SQLiteStore would make it a job store; every file it has opened has tables.
        raise StoreError(f"{path!r} is empty: not a tickwork job store")


def _run_row(run: Run, zone: tzinfo | None) -> list[str]:
    duration = run.duration
    error = ": ".join(part for part in (run.error_type, run.error_message) if part)
    return [
        _when(run.scheduled_at, zone),
        _cell(run.job_id),
        str(run.attempt),
        run.outcome.value,
        "-" if duration is None else f"{duration.total_seconds():.3f} s",
        _cell(run.process),
        _cell(error, _ERROR_WIDTH),
    ]


def _when(moment: datetime | None, zone: tzinfo | None) -> str:
    if moment is None:
        return "-"
    return (moment if zone is None else moment.astimezone(zone)).isoformat()


def _paused(job: Job) -> str:
    if not job.paused:
        return "no"
    return "yes" if not job.pause_note else _cell(f"yes: {job.pause_note}", _NOTE_WIDTH)


def _describe(trigger: Trigger) -> str:
    """A cron trigger as its expression and zone, when that is all there is to it (not
    a keyword-built one, no start, end or DST options); any other trigger as its repr."""
    if isinstance(trigger, CronTrigger):
        data = trigger.to_dict()
        extras = [value for key, value in data.items() if key not in _CRON_ESSENTIALS]
        if not any(extras):
            return f"cron {trigger.expression!r} ({data['timezone']})"
    return _cell(repr(trigger))


def _cell(text: str, width: int | None = None) -> str:
    """*text* on one line (runs of white space, newlines included, become one space),
    cut to *width* characters with a trailing "..."."""
    text = " ".join(text.split())
    if width is not None and len(text) > width:
        text = text[: width - 3] + "..."
    return text


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO, right: Sequence[int] = ()
) -> None:
    """Print *rows* under *header* in aligned columns; columns in *right* align right."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print("  " + "  ".join(cells).rstrip(), file=out)


def _demo(duration: float, out: TextIO) -> int:
    seconds(duration, "--duration", positive=True)
    # First, what the time engine says about a few schedules around DST changes.
    print("Next fire times around the 2024 DST changes:", file=out)
    samples = [
        ("30 2 * * *", "America/New_York", datetime(2024, 3, 9, 12, tzinfo=timezone.utc)),
        ("30 1 * * *", "America/New_York", datetime(2024, 11, 2, 12, tzinfo=timezone.utc)),
        ("*/30 * * * *", "Europe/Berlin", datetime(2024, 10, 27, 0, 15, tzinfo=timezone.utc)),
    ]
    for expression, zone, start in samples:
        trigger = CronTrigger(expression, timezone=zone)
        times = ", ".join(t.strftime("%m-%d %H:%M%z") for t in trigger.next_times(start, 3))
        print(f"  {expression!r:16} in {zone}: {times}", file=out)

    # Then a real scheduler, each run printed as it happens.
    return _live_demo(duration, out)


def _live_demo(duration: float, out: TextIO) -> int:
    from . import EventKind, RetryPolicy, Scheduler, current_run

    lock = threading.Lock()
    lateness: list[float] = []
    attempts: dict[str, int] = {}

    def say(text: str) -> None:
        with lock:
            print(f"  {datetime.now(timezone.utc):%H:%M:%S.%f}"[:-3] + f" {text}", file=out,
                  flush=True)  # fmt: skip

    def work(label: str) -> str:
        run = current_run()
        late = (datetime.now(timezone.utc) - run.scheduled_at).total_seconds() * 1000
        with lock:
            lateness.append(late)
        return f"{label} (due {run.scheduled_at:%H:%M:%S}, started +{late:.1f} ms)"

    def flaky() -> str:
        run = current_run()
        key = run.scheduled_at.isoformat()
        attempts[key] = attempts.get(key, 0) + 1
        if run.attempt == 1:
            raise ConnectionError("upstream not ready (first attempt always fails)")
        return work(f"flaky job, attempt {run.attempt}")

    def slow() -> str:
        label = work("slow job (takes 1.3 s, due every second)")
        time.sleep(1.3)
        return label

    counts: dict[str, int] = {}

    def on_event(event: Event) -> None:
        name = event.kind.name or "?"
        with lock:
            counts[name] = counts.get(name, 0) + 1
        if event.kind is EventKind.JOB_EXECUTED:
            say(f"fired {event.return_value}")
        elif event.kind is EventKind.JOB_RETRIED:
            say(f"retry {event.job_id}: {event.reason} ({event.exception})")
        elif event.kind is EventKind.JOB_SKIPPED:
            say(f"skipped {event.job_id} at {event.scheduled_at:%H:%M:%S}: {event.reason}")
        elif event.kind is EventKind.JOB_FAILED:
            say(f"failed {event.job_id}: {event.exception!r}")

    # The listener below prints failures; keep the log's tracebacks out of the demo.
    logging.getLogger("tickwork").addHandler(logging.NullHandler())
    scheduler = Scheduler(timezone="UTC")
    scheduler.add_listener(on_event, EventKind.JOB_ALL)
    scheduler.add_job(work, "cron", "*/2 * * * * *", args=["cron '*/2 * * * * *'"], id="cron")
    scheduler.add_job(work, "interval", seconds=1.5, args=["interval of 1.5 s"], id="interval")
    scheduler.add_job(flaky, "interval", seconds=3, id="flaky",
                      retry=RetryPolicy(attempts=3, delay=0.3, jitter=0))  # fmt: skip
    scheduler.add_job(slow, "interval", seconds=1, id="slow")
    print(f"\nRunning a Scheduler for {duration:g} s (memory store, 10 worker threads):", file=out)
    started = time.monotonic()
    scheduler.start()
    try:
        time.sleep(duration)
    finally:
        scheduler.shutdown(wait=True, timeout=5)
    elapsed = time.monotonic() - started
    fired = counts.get("JOB_EXECUTED", 0)
    print(f"\nSummary: {fired} fires in {elapsed:.1f} s", file=out)
    for name in sorted(counts):
        print(f"  {name.lower()}: {counts[name]}", file=out)
    if lateness:
        ordered = sorted(lateness)
        p50 = ordered[len(ordered) // 2]
        print(f"  lateness: max {ordered[-1]:.1f} ms, median {p50:.1f} ms", file=out)
    return 0
