#!/usr/bin/env python3
"""``start()`` on a SQLite file of a million jobs: seconds and memory.

Run it from the repository root::

    python benchmarks/million_jobs.py                      # 1,000,000 jobs, 3 repeats
    python benchmarks/million_jobs.py --jobs 100000 --repeat 5
    python benchmarks/million_jobs.py --dir /tmp/cache     # where the filled file is kept

The file is filled once (``SQLiteStore.add_jobs`` in batches of 20,000) and kept in
``--dir`` for later runs; each measurement uses a copy of it. Half of the jobs are on a
yearly cron schedule (``minute``, ``hour``, ``day`` and ``month`` drawn at random), half on
a 365-day interval starting at a random instant of the coming year, so next fire times
are spread over a year and none is due. The function is ``os:getpid``.

Each repeat runs in a fresh Python process (so memory is the scheduler's own): it
imports tickwork, builds ``Scheduler(store=SQLiteStore(copy), timezone="UTC")``, then
times ``start()`` and reads the process's resident memory (``/proc/self/statm``) before
and after it, and its peak (``VmHWM``). It then checks that ``get_jobs()`` sees
every job, and shuts down. Reported: the best and median seconds, and the median
memory growth, against issue 16's target (start() <= 0.3 s, <= 100 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

UTC = timezone.utc
#: The moment the file's schedules start from (the jobs are due over the year after it).
ORIGIN = datetime(2030, 1, 1, tzinfo=UTC)
BATCH = 20_000


def _peak_mb() -> float:
    """This process's peak resident set, MB: ``VmHWM`` where /proc has it (Linux carries
    ``ru_maxrss`` over an exec, so a child of a large parent would report its peak)."""
    try:
        with open("/proc/self/status", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1e3
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def fill(path: str, count: int) -> None:
    """Write *count* jobs into a new file at *path* (see the module docstring)."""
    from tickwork import Job
    from tickwork.stores import SQLiteStore
    from tickwork.triggers import CronTrigger, IntervalTrigger

    rng = random.Random(16)
    store = SQLiteStore(path)
    now = datetime.now(UTC)
    start = max(now, ORIGIN - timedelta(days=365))
    began = time.perf_counter()
    with store:
        for first in range(0, count, BATCH):
            jobs = []
            for index in range(first, min(count, first + BATCH)):
                if index % 2:
                    fields = (rng.randrange(60), rng.randrange(24), rng.randrange(1, 29))
                    month = rng.randrange(1, 13)
                    trigger = CronTrigger(f"{fields[0]} {fields[1]} {fields[2]} {month} *",
                                          timezone="UTC")  # fmt: skip
                else:
                    offset = timedelta(seconds=rng.randrange(365 * 86_400))
                    trigger = IntervalTrigger(days=365, start=start + offset, timezone="UTC")
                jobs.append(
                    Job(
                        id=f"job-{index:07d}",
                        name=f"job {index}",
                        func=None,
                        func_ref="os:getpid",
                        trigger=trigger,
                        next_fire=trigger.next_after(start - timedelta(microseconds=1)),
                    )
                )
            store.add_jobs(jobs)
            print(f"  filled {first + len(jobs):,} jobs ({time.perf_counter() - began:.0f} s)",
                  file=sys.stderr)  # fmt: skip


def measure(path: str, count: int) -> dict[str, float]:
    """In this (fresh) process: start() on *path*; seconds and memory."""
    import gc

    from tickwork import Scheduler
    from tickwork.stores import SQLiteStore

    scheduler = Scheduler(store=SQLiteStore(path), timezone="UTC")
    gc.collect()
    before = _rss_mb()
    began = time.perf_counter()
    scheduler.start()
    took = time.perf_counter() - began
    after = _rss_mb()
    peak = _peak_mb()
    try:
        seen = len(scheduler.get_jobs())
    finally:
        scheduler.shutdown(wait=True)
    if seen != count:
        raise SystemExit(f"{count:,} jobs in the file, get_jobs() saw {seen:,}")
    return {"seconds": took, "grew_mb": after - before, "before_mb": before, "peak_mb": peak}


def _source(where: str, count: int) -> str:
    """The filled file for this tickwork's schema version: made once and kept, by
    migrating a copy of a file an older tickwork filled if there is one (a migration
    is paid once per file, not at every start), else by filling a new one."""
    from tickwork.stores import SQLiteStore
    from tickwork.stores.sqlite import SCHEMA_VERSION

    os.makedirs(where, exist_ok=True)
    source = os.path.join(where, f"million-{count}-v{SCHEMA_VERSION}.db")
    if os.path.exists(source):
        return source
    older = [
        os.path.join(where, f"million-{count}-v{version}.db")
        for version in range(SCHEMA_VERSION - 1, 0, -1)
    ]
    found = next((path for path in older if os.path.exists(path)), None)
    if found is not None:
        print(f"migrating a copy of {found} to schema {SCHEMA_VERSION} (once)", file=sys.stderr)
        shutil.copyfile(found, source + ".part")
        with SQLiteStore(source + ".part"):
            pass
    else:
        print(f"filling {source} with {count:,} jobs (once)", file=sys.stderr)
        fill(source + ".part", count)
    os.replace(source + ".part", source)
    return source


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "tickwork-bench"))
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.jobs)))
        return 0
    source = _source(args.dir, args.jobs)
    results = []
    for _ in range(args.repeat):
        copy = os.path.join(args.dir, f"copy-{os.getpid()}.db")
        shutil.copyfile(source, copy)
        try:
            out = subprocess.run(
                [sys.executable, __file__, "--jobs", str(args.jobs), "--measure", copy],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        finally:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(copy + suffix):
                    os.remove(copy + suffix)
        results.append(json.loads(out.splitlines()[-1]))
    seconds = [r["seconds"] for r in results]
    grew = statistics.median(r["grew_mb"] for r in results)
    peak = statistics.median(r["peak_mb"] - r["before_mb"] for r in results)
    print("| Measurement | tickwork | target |\n|---|---|---|")
    print(f"| start() on {args.jobs:,} jobs, best / median | "
          f"{min(seconds):.3f} / {statistics.median(seconds):.3f} s | <= 0.3 s |")  # fmt: skip
    print(f"| resident memory grown by start() (peak) | {grew:,.0f} MB ({peak:,.0f} MB) "
          "| <= 100 MB |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
