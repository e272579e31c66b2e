"""The command line: ``python -m tickwork demo | next | explain``.

``main(argv)`` returns the exit status, so it can be tested without a subprocess.
This module is a driver: it is allowed to read the clock and to sleep.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TextIO

from . import __version__
from ._errors import TickworkError
from ._tz import coerce_timezone, timezone_name
from .triggers import CronTrigger, IntervalTrigger, Trigger

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

    # Then live schedules, each fire printed as it happens.
    now = datetime.now(timezone.utc)
    live: dict[str, Trigger] = {
        "cron '* * * * * *' (every second)": CronTrigger("* * * * * *", timezone="UTC"),
        "interval of 1.5 s": IntervalTrigger(seconds=1.5, start=now, timezone="UTC"),
    }
    print(f"\nRunning for {duration:g} s:", file=out)
    due = {name: trigger.next_after(now) for name, trigger in live.items()}
    fired = dict.fromkeys(live, 0)
    late: list[float] = []
    deadline = time.monotonic() + duration
    while True:
        pending = {name: when for name, when in due.items() if when is not None}
        if not pending:
            break
        name = min(pending, key=lambda key: pending[key])
        when = pending[name]
        wait = (when - datetime.now(timezone.utc)).total_seconds()
        if time.monotonic() + max(wait, 0.0) > deadline:
            break
        if wait > 0:
            time.sleep(wait)
        fired_at = datetime.now(timezone.utc)
        lateness = (fired_at - when).total_seconds() * 1000
        late.append(lateness)
        fired[name] += 1
        print(
            f"  {fired_at:%H:%M:%S.%f} fired {name} (due {when:%H:%M:%S}, +{lateness:.1f} ms)",
            file=out,
            flush=True,
        )
        due[name] = live[name].next_after(when)
    total = sum(fired.values())
    print(f"\nSummary: {total} fires in {duration:g} s", file=out)
    for name, count in fired.items():
        print(f"  {name}: {count}", file=out)
    if late:
        print(f"  lateness: max {max(late):.1f} ms, mean {sum(late) / len(late):.1f} ms", file=out)
    return 0
