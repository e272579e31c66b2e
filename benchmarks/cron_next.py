#!/usr/bin/env python3
"""Cost of walking successive cron fire times: tickwork beside cronsim, croniter and APScheduler 3.

Run it from the repository root::

    pip install -e ".[bench]"
    python benchmarks/cron_next.py                # Markdown table on stdout
    python benchmarks/cron_next.py --repeat 9 --count 1000 --plain

For ten everyday cron expressions in three zones (UTC, Europe/Berlin, America/New_York),
each library walks ``--count`` successive fire times from the same aware start
(2024-01-01 00:00 in that zone unless ``--start`` says otherwise), using its natural
"next" API fed its own previous result:

- tickwork: ``CronTrigger(expr, timezone=zone).next_after(previous)``
- cronsim: ``next(CronSim(expr, start))``
- croniter: ``croniter(expr, start).get_next(datetime)``
- APScheduler 3: ``CronTrigger.from_crontab(expr, timezone=zone)`` and
  ``get_next_fire_time(previous, previous)``, which returns the first fire time strictly
  after *previous*. ``from_crontab`` in 3.x does *not* translate weekday numbers (it
  treats 0 as Monday, crontab treats 0 as Sunday), so numeric day-of-week fields are
  rewritten to weekday names before it sees them.

The table reports microseconds per fire time: the best of ``--repeat`` timed walks divided
by ``--count``. To be fair to the iterator APIs (cronsim and croniter are built *from* a
start), every library gets the same treatment: each repeat builds a fresh object *outside*
the timer, then the timer (``time.perf_counter_ns``, garbage collector paused) covers only
the ``--count`` calls. Work a library defers from construction to its first call is
therefore counted in the walk, and caches a library fills during a walk start cold in every
repeat. Construction is timed separately and printed below the table, not added to it.

A second table walks the other way: ``--count`` fire times *before* the same start,
each fed its own previous result, with tickwork's ``previous_before(previous)`` beside
cronsim's ``CronSim(expr, start, reverse=True)`` and croniter's ``get_prev(datetime)``
(APScheduler 3 has no backwards walk). Its "ratio" column is tickwork's
``previous_before`` time over its ``next_after`` time on the same row: the target is at
most 1.5.

As a sanity check, each peer's walk is compared with tickwork's and the differences are
listed as numbered footnotes. The peers are known to mishandle some daylight-saving
transitions, so differences in Europe/Berlin and America/New_York are expected: they are
reported, never hidden. The peers are optional: a column shows "n/a" when its library
cannot be imported.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import platform
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

EXPRESSIONS = (
    "* * * * *",
    "*/5 * * * *",
    "0 * * * *",
    "30 2 * * *",
    "0 9 * * mon-fri",
    "0 0 * * 0",
    "0 0 1 * *",
    "15 10 1,15 * *",
    "0 */6 * * *",
    "0 9-17 * * 1-5",
)
ZONES = ("UTC", "Europe/Berlin", "America/New_York")

Build = Callable[[str, ZoneInfo, datetime], Any]
# walk(obj, previous, count) makes `count` calls and returns the last fire time. The
# iterator APIs ignore `previous`: they carry their position themselves.
Walk = Callable[[Any, datetime, int], datetime]


# --- one builder and one walker per library ----------------------------------------------
# The walkers are deliberately the same shape: bind the method once, then a bare loop.


def _build_tickwork(expr: str, zone: ZoneInfo, start: datetime) -> Any:
    from tickwork import CronTrigger

    return CronTrigger(expr, timezone=zone)


def _walk_tickwork(trigger: Any, previous: datetime, count: int) -> datetime:
    next_after = trigger.next_after
    for _ in range(count):
        previous = next_after(previous)
    return previous


def _walk_tickwork_back(trigger: Any, previous: datetime, count: int) -> datetime:
    previous_before = trigger.previous_before
    for _ in range(count):
        previous = previous_before(previous)
    return previous


def _build_cronsim_back(expr: str, zone: ZoneInfo, start: datetime) -> Any:
    from cronsim import CronSim

    return CronSim(expr, start, reverse=True)


def _walk_croniter_back(it: Any, previous: datetime, count: int) -> datetime:
    get_prev = it.get_prev
    for _ in range(count):
        previous = get_prev(datetime)
    return previous


def _build_cronsim(expr: str, zone: ZoneInfo, start: datetime) -> Any:
    from cronsim import CronSim

    return CronSim(expr, start)


def _walk_cronsim(it: Any, previous: datetime, count: int) -> datetime:
    step = it.__next__
    for _ in range(count):
        previous = step()
    return previous


def _build_croniter(expr: str, zone: ZoneInfo, start: datetime) -> Any:
    from croniter import croniter

    return croniter(expr, start)


def _walk_croniter(it: Any, previous: datetime, count: int) -> datetime:
    get_next = it.get_next
    for _ in range(count):
        previous = get_next(datetime)
    return previous


_CRON_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DOW_TOKEN = re.compile(r"^(\*|[0-7]|[a-z]{3})(?:-([0-7]|[a-z]{3}))?(?:/(\d+))?$")


def _cron_day(text: str) -> int:
    return _CRON_DAY_NAMES.index(text) if text.isalpha() else int(text)


def _aps_day_of_week(field: str) -> str:
    """Rewrite a crontab day-of-week field (0 or 7 = Sunday) for APScheduler 3 (0 = Monday).

    A field of weekday names without a step passes through: APScheduler reads names as
    crontab does. Any other field is expanded to the days it allows, written as names.
    """
    field = field.lower()
    if not any(ch.isdigit() for ch in field):
        return field
    days: set[int] = set()
    for token in field.split(","):
        match = _DOW_TOKEN.match(token)
        if match is None:
            raise ValueError(f"cannot translate day-of-week token {token!r} for APScheduler")
        first, last, step = match.groups()
        if first == "*":
            low, high = 0, 6
        else:
            low = _cron_day(first)
            # "2/3" means from Tuesday to the end of the week, as in Vixie cron.
            high = _cron_day(last) if last else (6 if step else low)
        if low > high:
            raise ValueError(f"cannot translate day-of-week token {token!r} for APScheduler")
        days.update(day % 7 for day in range(low, high + 1, int(step or 1)))
    if len(days) == 7:
        return "*"
    return ",".join(_CRON_DAY_NAMES[day] for day in sorted(days))


def _build_apscheduler(expr: str, zone: ZoneInfo, start: datetime) -> Any:
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    fields[4] = _aps_day_of_week(fields[4])
    return CronTrigger.from_crontab(" ".join(fields), timezone=zone)


def _walk_apscheduler(trigger: Any, previous: datetime, count: int) -> datetime:
    get_next_fire_time = trigger.get_next_fire_time
    for _ in range(count):
        # With previous == now it searches from previous + 1 µs: strictly after.
        previous = get_next_fire_time(previous, previous)
    return previous


@dataclass(frozen=True, kw_only=True)
class Library:
    label: str
    module: str
    dist: str
    build: Build
    walk: Walk


LIBRARIES = (
    Library(
        label="tickwork",
        module="tickwork",
        dist="tickwork",
        build=_build_tickwork,
        walk=_walk_tickwork,
    ),
    Library(
        label="cronsim", module="cronsim", dist="cronsim", build=_build_cronsim, walk=_walk_cronsim
    ),
    Library(
        label="croniter",
        module="croniter",
        dist="croniter",
        build=_build_croniter,
        walk=_walk_croniter,
    ),
    Library(
        label="APScheduler 3",
        module="apscheduler",
        dist="APScheduler",
        build=_build_apscheduler,
        walk=_walk_apscheduler,
    ),
)

#: The backwards walks: tickwork first (the reference), then the peers that have one.
BACKWARDS = (
    Library(
        label="tickwork",
        module="tickwork",
        dist="tickwork",
        build=_build_tickwork,
        walk=_walk_tickwork_back,
    ),
    Library(
        label="cronsim",
        module="cronsim",
        dist="cronsim",
        build=_build_cronsim_back,
        walk=_walk_cronsim,
    ),
    Library(
        label="croniter",
        module="croniter",
        dist="croniter",
        build=_build_croniter,
        walk=_walk_croniter_back,
    ),
)


# --- measuring -----------------------------------------------------------------------------


@dataclass(kw_only=True)
class Cell:
    """One library on one (expression, zone) row."""

    walk_ns: int | None = None
    build_ns: int | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)


def _available(library: Library) -> str | None:
    """The installed version, or None when the library cannot be imported."""
    try:
        importlib.import_module(library.module)
    except ImportError:
        return None
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(library.dist)
    except PackageNotFoundError:
        return "?"


def _time_walk(
    library: Library, expr: str, zone: ZoneInfo, start: datetime, count: int, repeat: int
) -> tuple[int, int]:
    """Best-of-*repeat* (construction ns, walk ns); a fresh object per repeat."""
    best_build = best_walk = sys.maxsize
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter_ns()
            obj = library.build(expr, zone, start)
            t1 = time.perf_counter_ns()
            library.walk(obj, start, count)
            t2 = time.perf_counter_ns()
        finally:
            gc.enable()
        best_build = min(best_build, t1 - t0)
        best_walk = min(best_walk, t2 - t1)
    return best_build, best_walk


def _collect(
    library: Library, expr: str, zone: ZoneInfo, start: datetime, count: int
) -> list[datetime]:
    obj = library.build(expr, zone, start)
    out: list[datetime] = []
    previous = start
    for _ in range(count):
        previous = library.walk(obj, previous, 1)
        out.append(previous)
    return out


def _instant(moment: datetime) -> float:
    # Compare instants, not wall times: two aware datetimes sharing a tzinfo compare by
    # wall clock and ignore `fold`, so the two passes of an overlap would look equal.
    return moment.astimezone(timezone.utc).timestamp()


def _show(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")


def _differences(label: str, ours: Sequence[datetime], theirs: Sequence[datetime]) -> str | None:
    """Describe how a peer's walk differs from tickwork's, or None when it is identical."""
    mine = [_instant(m) for m in ours]
    other = [_instant(m) for m in theirs]
    positional = sum(a != b for a, b in zip(mine, other, strict=True))
    if positional == 0:
        return None
    first = next(i for i, (a, b) in enumerate(zip(mine, other, strict=True)) if a != b)
    # Within the span both walks cover, which instants one has and the other lacks: one
    # skipped or doubled fire time shifts every later position, so positions alone mislead.
    horizon = min(mine[-1], other[-1])
    mine_counts = Counter(x for x in mine if x <= horizon)
    other_counts = Counter(x for x in other if x <= horizon)
    missing = sum((mine_counts - other_counts).values())
    extra = sum((other_counts - mine_counts).values())
    return (
        f"{label}: {positional}/{len(mine)} positions differ ({missing} missing, {extra} extra "
        f"within the common span); first at #{first + 1}: tickwork {_show(ours[first])}, "
        f"{label} {_show(theirs[first])}"
    )


# --- output --------------------------------------------------------------------------------


def _render(headers: Sequence[str], rows: Sequence[Sequence[str]], *, markdown: bool) -> list[str]:
    widths = [max(len(r[i]) for r in (headers, *rows)) for i in range(len(headers))]
    right = [i >= 2 for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ]
        return "| " + " | ".join(parts) + " |" if markdown else "  ".join(parts).rstrip()

    rule = [("-" * (w - 1) + ":") if r else "-" * w for w, r in zip(widths, right, strict=True)]
    if not markdown:
        rule = ["-" * w for w in widths]
    return [line(headers), line(rule), *(line(r) for r in rows)]


def _us(ns: float) -> str:
    return f"{ns / 1000:.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5, help="timed walks per cell, best kept")
    parser.add_argument("--count", type=int, default=400, help="fire times per walk")
    parser.add_argument(
        "--start",
        default="2024-01-01T00:00",
        help="naive ISO wall time each walk starts from, in each zone (default %(default)s)",
    )
    style = parser.add_mutually_exclusive_group()
    style.add_argument(
        "--markdown",
        dest="markdown",
        action="store_true",
        default=True,
        help="Markdown table (default)",
    )
    style.add_argument("--plain", dest="markdown", action="store_false", help="plain aligned text")
    parser.add_argument(
        "--no-backwards",
        dest="backwards",
        action="store_false",
        help="skip the second table (walking backwards)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.count < 1:
        parser.error("--repeat and --count must be at least 1")
    start_wall = datetime.fromisoformat(args.start)
    if start_wall.tzinfo is not None:
        parser.error("--start is a wall time without an offset; it is read in each zone")

    versions = {lib.label: _available(lib) for lib in LIBRARIES}
    if versions["tickwork"] is None:
        print("tickwork is not importable: run `pip install -e .` first", file=sys.stderr)
        return 1
    present = [lib for lib in LIBRARIES if versions[lib.label] is not None]

    headers = ["Expression", "Zone", *(lib.label for lib in LIBRARIES)]
    rows: list[list[str]] = []
    footnotes: list[str] = []
    totals = {lib.label: [0, 0, 0] for lib in present}  # walk ns, fire times, build ns
    failed: set[str] = set()
    forward_ns: dict[tuple[str, str], int] = {}  # tickwork's walk, per row

    for expr in EXPRESSIONS:
        for zone_name in ZONES:
            zone = ZoneInfo(zone_name)
            start = start_wall.replace(tzinfo=zone)
            reference = _collect(LIBRARIES[0], expr, zone, start, args.count)
            row = [f"`{expr}`" if args.markdown else expr, zone_name]
            for lib in LIBRARIES:
                if lib not in present:
                    row.append("n/a")
                    continue
                try:
                    build_ns, walk_ns = _time_walk(lib, expr, zone, start, args.count, args.repeat)
                    walk = (
                        reference
                        if lib is LIBRARIES[0]
                        else _collect(lib, expr, zone, start, args.count)
                    )
                except Exception as exc:  # a peer that raises is a finding, not a crash
                    failed.add(lib.label)
                    footnotes.append(f"`{expr}` / {zone_name}: {lib.label} raised {exc!r}")
                    row.append(f"error [{len(footnotes)}]")
                    continue
                if lib is LIBRARIES[0]:
                    forward_ns[expr, zone_name] = walk_ns
                total = totals[lib.label]
                total[0] += walk_ns
                total[1] += args.count
                total[2] += build_ns
                cell = _us(walk_ns / args.count)
                diff = None if lib is LIBRARIES[0] else _differences(lib.label, reference, walk)
                if diff is not None:
                    footnotes.append(f"`{expr}` / {zone_name}: {diff}")
                    cell += f" [{len(footnotes)}]"
                row.append(cell)
            rows.append(row)

    bold = "**" if args.markdown else ""
    overall = [f"{bold}overall{bold}", "all"]
    per_fire: dict[str, float] = {}
    for lib in LIBRARIES:
        if lib not in present or totals[lib.label][1] == 0:
            overall.append("n/a")
            continue
        walk_ns, fires, _ = totals[lib.label]
        per_fire[lib.label] = walk_ns / fires
        mark = "*" if lib.label in failed else ""
        overall.append(f"{bold}{_us(per_fire[lib.label])}{bold}{mark}")
    rows.append(overall)

    print(
        f"Microseconds per fire time, best of {args.repeat}, walking {args.count} fire times "
        f"from {start_wall.isoformat(timespec='minutes')} in each zone "
        f"(Python {platform.python_version()}, {platform.machine()}).\n"
    )
    print("\n".join(_render(headers, rows, markdown=args.markdown)))
    print()
    if failed:
        star = "\\*" if args.markdown else "*"
        print(f"{star} overall over the rows where the library did not raise.\n")
    print(
        "Libraries: "
        + ", ".join(f"{lib.label} {versions[lib.label] or 'not installed'}" for lib in LIBRARIES)
        + "."
    )
    builds = [
        f"{lib.label} {_us(totals[lib.label][2] * args.count / totals[lib.label][1])}"
        for lib in present
        if totals[lib.label][1]
    ]
    print("Construction, µs per object (excluded from the table): " + ", ".join(builds) + ".")
    peers = {label: us for label, us in per_fire.items() if label != "tickwork"}
    if peers and "tickwork" in per_fire:
        fastest = min(peers, key=peers.__getitem__)
        ratio = peers[fastest] / per_fire["tickwork"]
        verdict = f"{ratio:.1f}x faster than" if ratio >= 1 else f"{1 / ratio:.1f}x slower than"
        print(
            f"\ntickwork: {_us(per_fire['tickwork'])} µs per fire time overall, {verdict} the "
            f"fastest peer ({fastest}, {_us(peers[fastest])} µs)."
        )
    else:
        print('\nNo peer is installed: `pip install -e ".[bench]"` to compare.')
    if footnotes:
        print("\nDifferences from tickwork's walk:\n")
        for number, note in enumerate(footnotes, 1):
            print(f"[{number}] {note}")
    elif len(present) > 1:
        print("\nEvery peer's walk matched tickwork's on every row.")
    if args.backwards:
        _backwards(args, start_wall, versions, forward_ns)
    return 0


def _backwards(
    args: argparse.Namespace,
    start_wall: datetime,
    versions: dict[str, str | None],
    forward_ns: dict[tuple[str, str], int],
) -> None:
    """The second table: walking back, tickwork's previous_before beside the peers'."""
    present = [lib for lib in BACKWARDS if versions[lib.label] is not None]
    peers = list(BACKWARDS[1:])
    headers = ["Expression", "Zone", "next_after", "previous_before", "ratio"]
    headers += [f"{lib.label} (back)" for lib in peers]
    rows: list[list[str]] = []
    footnotes: list[str] = []
    totals = {lib.label: [0, 0] for lib in present}
    forward_total = 0
    for expr in EXPRESSIONS:
        for zone_name in ZONES:
            zone = ZoneInfo(zone_name)
            start = start_wall.replace(tzinfo=zone)
            reference = _collect(BACKWARDS[0], expr, zone, start, args.count)
            _, back_ns = _time_walk(BACKWARDS[0], expr, zone, start, args.count, args.repeat)
            ahead_ns = forward_ns[expr, zone_name]
            forward_total += ahead_ns
            totals["tickwork"][0] += back_ns
            totals["tickwork"][1] += args.count
            row = [
                f"`{expr}`" if args.markdown else expr,
                zone_name,
                _us(ahead_ns / args.count),
                _us(back_ns / args.count),
                f"{back_ns / ahead_ns:.2f}",
            ]
            for lib in peers:
                if lib not in present:
                    row.append("n/a")
                    continue
                try:
                    _, walk_ns = _time_walk(lib, expr, zone, start, args.count, args.repeat)
                    walk = _collect(lib, expr, zone, start, args.count)
                except Exception as exc:  # a peer that raises is a finding, not a crash
                    footnotes.append(f"`{expr}` / {zone_name}: {lib.label} raised {exc!r}")
                    row.append(f"error [{len(footnotes)}]")
                    continue
                totals[lib.label][0] += walk_ns
                totals[lib.label][1] += args.count
                cell = _us(walk_ns / args.count)
                # Compared oldest first, as instants grow: positions count from the oldest.
                diff = _differences(lib.label, reference[::-1], walk[::-1])
                if diff is not None:
                    footnotes.append(f"`{expr}` / {zone_name}: {diff} (oldest first)")
                    cell += f" [{len(footnotes)}]"
                row.append(cell)
            rows.append(row)
    bold = "**" if args.markdown else ""
    back_total, fires = totals["tickwork"]
    ratio = back_total / forward_total
    overall = [
        f"{bold}overall{bold}",
        "all",
        f"{bold}{_us(forward_total / fires)}{bold}",
        f"{bold}{_us(back_total / fires)}{bold}",
        f"{bold}{ratio:.2f}{bold}",
    ]
    for lib in peers:
        walk_ns, count = totals.get(lib.label, [0, 0])
        overall.append(f"{bold}{_us(walk_ns / count)}{bold}" if count else "n/a")
    rows.append(overall)
    print(
        f"\nWalking backwards: microseconds per fire time, best of {args.repeat}, "
        f"{args.count} fire times before {start_wall.isoformat(timespec='minutes')} in each "
        "zone; ratio = previous_before / next_after.\n"
    )
    print("\n".join(_render(headers, rows, markdown=args.markdown)))
    verdict = "meets" if ratio <= 1.5 else "MISSES"
    print(f"\ntickwork previous_before / next_after overall: {ratio:.2f} ({verdict} <= 1.5).")
    if footnotes:
        print("\nDifferences from tickwork's backwards walk:\n")
        for number, note in enumerate(footnotes, 1):
            print(f"[{number}] {note}")
    elif len(present) > 1:
        print("\nEvery peer's backwards walk matched tickwork's on every row.")


if __name__ == "__main__":
    raise SystemExit(main())
