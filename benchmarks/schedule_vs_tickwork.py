#!/usr/bin/env python3
"""``tickwork.compat.schedule`` beside the real ``schedule`` package, in one run.

Run it from the repository root::

    pip install -e ".[bench]"
    python benchmarks/schedule_vs_tickwork.py                  # all three, under 2 minutes
    python benchmarks/schedule_vs_tickwork.py --only idle --sizes 1000,10000

Both libraries get the same program, ``every(n).minutes.do(noop)`` with n cycling over
10..59 (so nothing comes due during the run), at 1,000, 10,000 and 100,000 jobs:

``idle``
    The cost of one ``run_pending()`` when nothing is due: the call every polling loop
    makes almost every time. The calls are repeated until about ``--budget`` seconds
    (default 0.3) have passed; the best of ``--repeat`` rounds, in microseconds per call.
``add``
    The cost of adding the jobs (``every(...).minutes.do(noop)``) to an empty scheduler, in
    microseconds per job, garbage collector on, as in a program. Best of ``--repeat``.
``lateness``
    The loop from ``schedule``'s README, ``run_pending(); time.sleep(0.01)``, for
    ``--duration`` seconds (default 3) over the scheduler holding the idle jobs plus
    one-off jobs, ``--due`` per second (default 100), due at evenly spread instants. Each
    records how long after its ``next_run`` it started and returns ``CancelJob``, so each
    run also pays for removing a job from the list. Percentiles in milliseconds. The 10 ms sleep alone makes runs
    up to ~10 ms late (about 5 ms on average); anything more is the scheduler.

If ``schedule`` is not installed its columns show "n/a". Wall times use
``time.perf_counter``; lateness uses ``datetime.datetime.now()``, the clock both libraries
schedule by.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib
import importlib.metadata
import os
import platform
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from tickwork.compat import schedule as tickwork_schedule


def noop() -> None:
    pass


def peers() -> dict[str, ModuleType | None]:
    try:
        real: ModuleType | None = importlib.import_module("schedule")
    except ImportError:
        real = None
    return {"tickwork": tickwork_schedule, "schedule": real}


def fill(module: ModuleType, count: int) -> tuple[Any, float]:
    """A scheduler with *count* idle jobs, and the seconds the adds took."""
    scheduler = module.Scheduler()
    every = scheduler.every
    started = time.perf_counter()
    for index in range(count):
        every(10 + index % 50).minutes.do(noop)
    return scheduler, time.perf_counter() - started


def time_idle(scheduler: Any, budget: float, repeat: int) -> float:
    """Microseconds per ``run_pending()`` with nothing due (best of *repeat* rounds)."""
    run_pending = scheduler.run_pending
    started = time.perf_counter()
    run_pending()
    calls = max(3, int(budget / max(time.perf_counter() - started, 1e-7)))
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(calls):
            run_pending()
        best = min(best, (time.perf_counter() - started) / calls)
    return best * 1e6


def measure_lateness(module: ModuleType, scheduler: Any, due: int, duration: float) -> list[float]:
    """Lateness (ms) of one-off jobs in a ``run_pending(); sleep(0.01)`` loop."""
    samples: list[float] = []
    now = datetime.datetime.now

    def make(holder: list[Any]) -> Callable[[], Any]:
        def run() -> Any:
            samples.append((now() - holder[0].next_run).total_seconds() * 1000)
            return module.CancelJob

        return run

    made = []
    for _ in range(int(due * duration)):
        holder: list[Any] = []
        holder.append(scheduler.every().hour.do(make(holder)))
        made.append(holder[0])
    # Spread the due times evenly over the run (a program may set next_run; both
    # libraries allow it), so that they fall at every phase of the 10 ms sleep.
    start = now()
    for index, job in enumerate(made):
        job.next_run = start + datetime.timedelta(seconds=0.05 + index / due)
    deadline = time.perf_counter() + duration + 0.1
    while time.perf_counter() < deadline:
        scheduler.run_pending()
        time.sleep(0.01)
    for job in made:
        scheduler.cancel_job(job)
    return samples


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def cell(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--only", choices=["idle", "add", "lateness"], action="append")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget", type=float, default=0.3)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--due", type=int, default=100)
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    wanted = set(args.only or ["idle", "add", "lateness"])
    libraries = peers()

    idle: dict[tuple[str, int], float] = {}
    add: dict[tuple[str, int], float] = {}
    late: dict[tuple[str, int], list[float]] = {}
    for size in sizes:
        for name, module in libraries.items():
            if module is None:
                continue
            best_add = float("inf")
            for _ in range(args.repeat if "add" in wanted else 1):
                gc.collect()
                scheduler, seconds = fill(module, size)
                best_add = min(best_add, seconds / size * 1e6)
            add[name, size] = best_add
            if "idle" in wanted:
                idle[name, size] = time_idle(scheduler, args.budget, args.repeat)
            if "lateness" in wanted:
                late[name, size] = measure_lateness(module, scheduler, args.due, args.duration)
            del scheduler
            gc.collect()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    try:
        peer = "schedule " + importlib.metadata.version("schedule")
    except importlib.metadata.PackageNotFoundError:
        peer = "schedule not installed"
    print(
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"load average {load:.2f}; {peer}\n"
    )
    if "idle" in wanted:
        print("### `run_pending()` with nothing due (µs per call)\n")
        print("| Jobs | tickwork | schedule | speed-up |")
        print("| ---: | ---: | ---: | ---: |")
        for size in sizes:
            ours, theirs = idle.get(("tickwork", size)), idle.get(("schedule", size))
            ratio = f"{theirs / ours:,.0f}x" if ours and theirs else "n/a"
            print(f"| {size:,} | {cell(ours, '.2f')} | {cell(theirs, ',.1f')} | {ratio} |")
        print()
    if "add" in wanted:
        print("### Adding jobs: `every(n).minutes.do(f)` (µs per job)\n")
        print("| Jobs | tickwork | schedule | tickwork / schedule |")
        print("| ---: | ---: | ---: | ---: |")
        for size in sizes:
            ours, theirs = add.get(("tickwork", size)), add.get(("schedule", size))
            ratio = f"{ours / theirs:.2f}" if ours and theirs else "n/a"
            print(f"| {size:,} | {cell(ours, '.2f')} | {cell(theirs, '.2f')} | {ratio} |")
        print()
    if "lateness" in wanted:
        print(
            f"### Lateness in a `run_pending(); sleep(0.01)` loop, {args.due} one-off jobs "
            f"due per second (ms)\n"
        )
        print("| Jobs | tickwork p50 | tickwork p99 | schedule p50 | schedule p99 | runs |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: |")
        for size in sizes:
            ours_late = late.get(("tickwork", size))
            theirs_late = late.get(("schedule", size))
            row = [f"{size:,}"]
            for samples in (ours_late, theirs_late):
                if samples is None:
                    row += ["n/a", "n/a"]
                else:
                    row += [f"{percentile(samples, 0.5):.1f}", f"{percentile(samples, 0.99):.1f}"]
            counts = [str(len(s)) for s in (ours_late, theirs_late) if s is not None]
            print("| " + " | ".join([*row, " / ".join(counts)]) + " |")
        print()
    if "idle" in wanted and ("tickwork", 10_000) in idle and ("schedule", 10_000) in idle:
        ratio = idle["schedule", 10_000] / idle["tickwork", 10_000]
        verdict = "met" if ratio >= 200 else "NOT met"
        print(
            f"Target: `run_pending()` at 10,000 jobs at least 200x faster: {ratio:,.0f}x, {verdict}."
        )
    if "lateness" in wanted and len(sizes) > 1:
        first, last = late.get(("tickwork", sizes[0])), late.get(("tickwork", sizes[-1]))
        if first and last:
            growth = percentile(last, 0.99) - percentile(first, 0.99)
            verdict = "met" if growth < 2.0 else "NOT met"
            print(
                f"Target: tickwork's p99 lateness does not grow with the number of jobs: "
                f"{growth:+.1f} ms from {sizes[0]:,} to {sizes[-1]:,} jobs, {verdict}."
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
