"""The command line: ``tickwork COMMAND ...`` (the same as ``python -m tickwork``).

Commands: ``next`` and ``explain`` (a cron expression, or a job of a store), ``jobs``,
``history`` and ``check`` (read a store, never changing it), ``pause``, ``resume``,
``run-now`` and ``remove`` (change a job in the store, safe while schedulers run on
it), ``emit`` (an event, for the schedulers on the store), ``metrics`` and
``dashboard`` (serve what a store holds), ``demo``. A store is a SQLite job file or a
PostgreSQL DSN. Every command takes ``--json``. See ``docs/cli.md``.

``main(argv)`` returns the exit status, so it can be tested without a subprocess:
0 done (``check``: healthy), 1 ``check`` found a problem (or ``remove`` was not
confirmed), 2 a usage error or a store that cannot be read, with a one-line message
on stderr. This module is a driver: it is allowed to read the clock and to sleep.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from types import ModuleType
from typing import Any, TextIO

from . import __version__
from ._checks import seconds
from ._cli.emit import emit_command
from ._cli.health import check_command
from ._cli.output import Output, printable
from ._cli.reads import explain_command, history_command, jobs_command, next_command
from ._cli.stores import is_dsn as _is_dsn
from ._cli.stores import live, reading
from ._cli.stores import read_only as _read_only
from ._cli.writes import write_command
from ._errors import TickworkError
from ._events import Event
from .triggers import CronTrigger

__all__ = ["entry_point", "main"]
# (_read_only and _is_dsn stay importable from here, for tests and older callers.)
_ = (_read_only, _is_dsn)


_STORE_HELP = (
    "a SQLite job file, or a PostgreSQL DSN (postgresql://user@host/db, or libpq's "
    "'host=... dbname=...')"
)
_SCHEMA_HELP = "the schema of a PostgreSQL store (default: tickwork)"
_TARGET_HELP = (
    'a cron expression in quotes ("0 9 * * mon-fri"), or a store and a job id: '
    "STORE JOB_ID (STORE: " + _STORE_HELP + ")"
)
_PICKLE_HELP = (
    "the store keeps pickled arguments (pickle=True): read them; unpickling runs code, "
    "so only for a store no one untrusted writes"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tickwork",
        description="tickwork: an in-process job scheduler that is right about time.",
        epilog="Exit status: 0 done (check: healthy), 1 check found a problem, "
        "2 bad usage or a store that cannot be read. See docs/cli.md.",
    )
    parser.add_argument("--version", action="version", version=f"tickwork {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", help="print one JSON document (for machines)"
    )

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=text, description=text, parents=[common])

    def store(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("db", metavar="STORE", help=_STORE_HELP)
        sub.add_argument("--schema", default=None, metavar="NAME", help=_SCHEMA_HELP)

    def zone(sub: argparse.ArgumentParser, text: str) -> None:
        sub.add_argument("--tz", default=None, metavar="ZONE", help=text)

    def hashed(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--hash-key", default=None, metavar="KEY",
            help="for an expression with hashed values (H): the key to hash, as a job's "
                 "id is (default: none; H then needs one)",
        )  # fmt: skip

    def previous(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--previous", type=int, default=None, metavar="N",
            help="the N fire times before now (or --before), newest first",
        )  # fmt: skip
        sub.add_argument(
            "--before", default=None, metavar="ISO", help="with --previous: before this instant"
        )

    demo = commands.add_parser(  # (a show for people: no --json)
        "demo", help="fire a few live schedules for a while and summarize"
    )
    demo.add_argument("--duration", type=float, default=10.0, help="seconds to run (default: 10)")

    upcoming = command("next", "print the next fire times of a cron expression or a stored job")
    upcoming.add_argument("target", nargs="+", metavar="TARGET",
                          help=_TARGET_HELP)  # fmt: skip
    zone(upcoming, "an expression's IANA zone (default: the local zone); a job's times "
                   "are shown in this zone (default: as stored)")  # fmt: skip
    upcoming.add_argument("-n", "--count", type=int, default=5, help="how many (default: 5)")
    upcoming.add_argument(
        "--after", default=None, help="ISO datetime with offset to start from (default: now)"
    )
    previous(upcoming)
    hashed(upcoming)
    upcoming.add_argument("--schema", default=None, metavar="NAME", help=_SCHEMA_HELP)

    explain = command("explain", "describe a cron expression or a stored job's schedule")
    explain.add_argument("target", nargs="+", metavar="TARGET",
                         help=_TARGET_HELP)  # fmt: skip
    zone(explain, "the zone of an expression (for --previous; default: UTC) or to show a "
                  "job's times in")  # fmt: skip
    previous(explain)
    hashed(explain)
    explain.add_argument("--schema", default=None, metavar="NAME", help=_SCHEMA_HELP)

    jobs = command("jobs", "list the jobs (and broken jobs) in a job store")
    store(jobs)
    zone(jobs, "show times in this zone (default: as stored)")

    history = command("history", "list the newest runs recorded in a job store")
    store(history)
    history.add_argument("--job", default=None, metavar="ID", help="only the runs of this job")
    history.add_argument(
        "--limit", type=int, default=20, metavar="N", help="how many runs (default: 20)"
    )
    history.add_argument(
        "--failed",
        action="store_true",
        help="only runs that did not succeed (failure, interrupted, missed, skipped)",
    )
    zone(history, "show times in this zone (default: as stored)")

    check = command(
        "check",
        "health probe: exit 1, with the reasons, when a job is broken, late or failing",
    )
    store(check)
    check.add_argument("--job", action="append", default=None, metavar="ID",
                       help="check only this job (repeatable)")  # fmt: skip
    check.add_argument(
        "--grace", type=float, default=60.0, metavar="SECONDS",
        help="how late a job without a misfire grace time may be (default: 60)",
    )  # fmt: skip
    check.add_argument(
        "--failures", type=int, default=3, metavar="N",
        help="unhealthy when a job failed its last N runs (default: 3)",
    )  # fmt: skip
    check.add_argument("--ignore-paused", action="store_true",
                       help="do not check paused jobs (paused jobs are never late)")  # fmt: skip

    for name, text in (
        ("pause", "pause a job in the store (schedulers sharing it stop firing it)"),
        ("resume", "resume a paused job, from its first fire time from now on"),
        ("run-now", "make a job due now: a running scheduler fires it at once"),
        ("remove", "remove a job from the store (its run history stays)"),
    ):
        sub = command(name, text)
        store(sub)
        sub.add_argument("job_id", metavar="JOB_ID", help="the job's id")
        sub.add_argument("--pickle", action="store_true", help=_PICKLE_HELP)
        if name == "pause":
            sub.add_argument("--note", default=None, help="why it is paused (shown by jobs)")
        if name == "remove":
            sub.add_argument("-y", "--yes", action="store_true",
                             help="do not ask (needed when not at a terminal)")  # fmt: skip

    emit = command("emit", "emit an event: schedulers on the store run the jobs listening for it")
    store(emit)
    emit.add_argument("name", metavar="NAME", help="the event name, such as order.created")
    emit.add_argument("--payload", default=None, metavar="JSON",
                      help="the event's payload, as JSON (default: null)")  # fmt: skip

    metrics = command("metrics", "print the store's metrics in the Prometheus text format")
    store(metrics)
    metrics.add_argument("--listen", default=None, metavar="HOST:PORT",
                         help="serve them at http://HOST:PORT/metrics until Ctrl-C")  # fmt: skip

    dashboard = command("dashboard", "serve the web dashboard of a store (until Ctrl-C)")
    store(dashboard)
    dashboard.add_argument("--host", default="127.0.0.1", help="(default: 127.0.0.1)")
    dashboard.add_argument("--port", type=int, default=8080, help="(default: 8080)")
    dashboard.add_argument("--allow-actions", action="store_true",
                           help="offer pause, resume, run now and remove")  # fmt: skip
    dashboard.add_argument("--show-args", action="store_true", help="show jobs' arguments")
    dashboard.add_argument("--pickle", action="store_true", help=_PICKLE_HELP)
    return parser


#: The exit status after the output pipe closed: 128 + SIGPIPE, as the shell reports
#: a tool that the signal ended.
_BROKEN_PIPE = 141
#: The exit status for bad usage or a store that cannot be read.
_USAGE = 2
#: The hosts ``tickwork.web.serve`` treats as this machine only, where the dashboard's
#: actions need no authorize hook.
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})

_COMMANDS: dict[str, Callable[[argparse.Namespace, Output], int]] = {
    "next": next_command,
    "explain": explain_command,
    "jobs": jobs_command,
    "history": history_command,
    "check": check_command,
    "pause": write_command,
    "resume": write_command,
    "run-now": write_command,
    "remove": write_command,
    "emit": emit_command,
}


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the command line with *argv* (default: ``sys.argv[1:]``); return the exit status."""
    stream = out if out is not None else sys.stdout
    args = _parser().parse_args(argv)
    output = Output(stream, as_json=getattr(args, "json", False))
    try:
        if args.command == "demo":
            return _demo(args.duration, stream)
        if args.command == "metrics":
            return _metrics(args, output)
        if args.command == "dashboard":
            return _dashboard(args, output)
        return _COMMANDS[args.command](args, output)
    except (TickworkError, ValueError, TypeError) as error:
        print(f"error: {printable(' '.join(str(error).split()))}", file=sys.stderr)
        return _USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader stopped reading (``tickwork next ... | head``): stop quietly, with
        # the status of a tool that SIGPIPE ended. Point stdout at devnull so that the
        # interpreter's final flush does not fail again.
        if out is None:
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return _BROKEN_PIPE


def entry_point() -> None:
    """Console-script entry point."""
    sys.exit(main())


# -- metrics and dashboard: thin calls into tickwork.metrics and tickwork.web -------------


def _feature(module: str, *names: str) -> ModuleType:
    """The module *module* of this package, with the functions *names*, or a clear error
    (imported when the command runs: serving needs nothing at start-up)."""
    try:
        found = importlib.import_module(module)
    except ImportError as error:
        raise ValueError(f"{module} cannot be imported ({error})") from None
    missing = [name for name in names if not callable(getattr(found, name, None))]
    if missing:
        raise ValueError(f"this version of tickwork has no {module}.{missing[0]}")
    return found


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--listen {value!r} is not HOST:PORT, e.g. 127.0.0.1:9100")
    return host.strip("[]") or "127.0.0.1", int(port)


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """While serving, take SIGTERM (how docker, systemd and Kubernetes stop a service)
    as Ctrl-C: the server stops and the store is closed as it is then (a file only read
    is left as it was found), where the default action ends the process at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _serve_forever(server: Any) -> None:
    """Serve until Ctrl-C (tests replace it to answer one request)."""
    server.serve_forever()


def _metrics(args: argparse.Namespace, out: Output) -> int:
    metrics = _feature("tickwork.metrics", "render_store", "wsgi_app")
    if args.listen is None:
        now = datetime.now(timezone.utc)
        with reading(args.db, args.schema) as (store, name):
            text = str(metrics.render_store(store, now=now))
        if out.as_json:
            out.json({"store": name, "now": now.isoformat(), "text": text})
        else:
            out.stream.write(text)
        return 0
    host, port = _host_port(args.listen)
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """No line per scrape on stderr."""

    with _stop_on_sigterm(), live(args.db, args.schema, serving=True) as (store, name):
        try:
            server = make_server(host, port, metrics.wsgi_app(store), handler_class=Quiet)
        except OSError as error:  # in use, not this machine's, a name that does not resolve
            raise _cannot_listen(f"{host}:{port}", error) from None
        try:
            url = f"http://{host}:{server.server_port}/metrics"
            _announce(out, f"Serving the metrics of {name} at {url} (Ctrl-C to stop)", url)
            _serve_forever(server)
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    return 0


def _dashboard(args: argparse.Namespace, out: Output) -> int:
    web = _feature("tickwork.web", "serve")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be 0 to 65535, got {args.port}")
    if args.allow_actions and args.host not in _LOOPBACK:
        # serve() allows the actions of this machine's users on a loopback host; on any
        # other, it needs an authorize hook, which a command line cannot give.
        raise ValueError(
            f"--allow-actions needs a loopback --host (127.0.0.1, ::1 or localhost), got "
            f"{args.host!r}: anyone who reaches the port could change jobs; to offer actions "
            "to other machines, mount tickwork.web.wsgi_app with an authorize hook"
        )
    with (
        _stop_on_sigterm(),
        live(args.db, args.schema, pickle=args.pickle, serving=True) as (store, name),
    ):
        listens: list[bool] = []

        def listening(server: Any) -> None:
            # Once it listens, with its real address (--port 0 picks one).
            listens.append(True)
            url = str(server.url)
            _announce(out, f"Dashboard of {name} at {url} (Ctrl-C to stop)", url)

        with contextlib.suppress(KeyboardInterrupt):
            try:
                web.serve(
                    store,
                    host=args.host,
                    port=args.port,
                    allow_actions=args.allow_actions,
                    show_args=args.show_args,
                    ready=listening,
                    out=io.StringIO(),  # (announced above, on stderr or as JSON)
                )
            except OSError as error:
                if listens:
                    raise
                raise _cannot_listen(f"{args.host}:{args.port}", error) from None
    return 0


def _cannot_listen(address: str, error: OSError) -> ValueError:
    """The error of a server that could not listen on *address*: taken, not this
    machine's, or a host name that does not resolve."""
    reason = error.strerror or str(error) or type(error).__name__
    return ValueError(f"cannot listen on {address}: {reason}")


def _announce(out: Output, text: str, url: str) -> None:
    """Say where a server listens: on stderr (stdout stays for data), or as JSON."""
    if out.as_json:
        out.json({"url": url})
        out.stream.flush()
    else:
        print(text, file=sys.stderr, flush=True)


# -- demo -------------------------------------------------------------------------------


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
