"""The command line: ``python -m tickwork demo | next | explain``.

``main(argv)`` returns the exit status, so it can be tested without a subprocess.
This module is a driver: it is allowed to read the clock and to sleep.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TextIO

from . import __version__
from ._errors import TickworkError
from ._events import Event
from ._tz import coerce_timezone, timezone_name
from .triggers import CronTrigger

__all__ = ["entry_point", "main"]


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
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the command line with *argv* (default: ``sys.argv[1:]``); return the exit status."""
    stream = out if out is not None else sys.stdout
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args.duration, stream)
        if args.command == "next":
            return _next(args.expression, args.tz, args.count, args.after, stream)
        print(CronTrigger(args.expression, timezone="UTC").explain(), file=stream)
        return 0
    except (TickworkError, ValueError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


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
        moment = datetime.fromisoformat(after)
        if moment.tzinfo is None:
            raise ValueError(f"--after must carry an offset, e.g. {after}+00:00")
    print(f"{trigger.explain()} ({timezone_name(zone)})", file=out)
    for instant in trigger.next_times(moment, count):
        print(
            f"  {instant.isoformat()}  ({instant.astimezone(timezone.utc):%H:%M:%S} UTC)", file=out
        )
    return 0


def _demo(duration: float, out: TextIO) -> int:
    if not duration > 0:
        raise ValueError(f"--duration must be positive, got {duration}")
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
