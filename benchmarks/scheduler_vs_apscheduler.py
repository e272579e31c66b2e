#!/usr/bin/env python3
"""tickwork's ``Scheduler`` beside APScheduler 3's ``BackgroundScheduler``, in one run.

Run it from the repository root::

    pip install -e ".[bench]"
    python benchmarks/scheduler_vs_apscheduler.py            # all five, under 2 minutes
    python benchmarks/scheduler_vs_apscheduler.py --only dispatch --repeat 5
    python benchmarks/scheduler_vs_apscheduler.py --only dispatch --profile

Both schedulers are set up alike: a background thread, jobs kept in memory and run by a
pool of 10 threads, everything in UTC.

- tickwork: ``Scheduler(store=MemoryStore(), executors={"default": ThreadExecutor(10)},
  timezone="UTC")``.
- APScheduler 3: ``BackgroundScheduler(jobstores={"default": MemoryJobStore()},
  executors={"default": ThreadPoolExecutor(10)}, timezone=UTC)`` with
  ``job_defaults={"misfire_grace_time": None}``. APScheduler's default grace time of 1 s
  would drop runs that start more than 1 s late; tickwork has no grace limit by default.
  Without the change, a slow dispatch would look *faster* (dropped runs end early).

Jobs are added with the spelling both libraries share: ``add_job(func, "date",
run_date=...)`` and ``add_job(func, "interval", hours=1)``, with default (random) ids.

The measurements, each its own function (``--only NAME`` runs one):

``dispatch``
    10,000 jobs whose ``date`` trigger fires at the same instant: added to a scheduler
    that is not yet started, for a due instant ``--lead`` seconds (default 2) after the
    first add, then the scheduler is started and the main thread waits. Each job bumps an
    ``itertools.count`` (atomic in CPython) and the 10,000th sets an event. The time runs
    from the due instant to the last completion, so it includes the scheduler thread
    waking, planning, submitting and the pool running every job. Adding before start
    keeps the scheduler thread from competing with the adds; both libraries load the added
    jobs on start. A run whose setup overran the due instant is refused. Best of
    ``--repeat``.
``lateness``
    200 one-shot jobs on a started scheduler, due at random offsets (seed 2024) over 3 s
    starting 0.5 s after the adds. Each job records ``time.time()`` at its start minus its
    scheduled instant. Percentiles in ms; of ``--repeat`` runs, the one with the lowest p99
    is shown, for each library alike. A third column, "bare threads", is the floor: the
    same due times kept by one thread sleeping in ``Event.wait`` and handed to 10 worker
    threads through a deque and a ``Condition``, with no scheduler at all.
``idle``
    10,000 interval jobs an hour away on a started scheduler; after 0.5 s of warm-up,
    ``time.process_time()`` of the whole process over 3 s of idling, as % of one core.
``memory``
    50,000 interval jobs (every hour) added to a started scheduler; the current memory
    traced by ``tracemalloc`` after the adds minus before (a garbage collection before each
    reading), divided by 50,000. One warm-up job is added before the first reading so that
    lazy imports and caches are not counted.
``add``
    Wall time to add 100,000 interval jobs (every hour) to a started scheduler. Best of
    ``--repeat``.

Wall times use ``time.perf_counter``. Every scheduler is shut down with
``shutdown(wait=True)`` before the next measurement. If APScheduler is not installed its
column shows "n/a".

``--profile`` (with ``--only``) runs tickwork's side of that measurement once more under
``cProfile``, in every thread the measurement starts (by CPU time per thread, so waiting
for the GIL is not charged to the function that was interrupted), and prints the top 20
functions by own time; for ``memory`` also the ``tracemalloc`` allocation sites per job.
"""

from __future__ import annotations

import argparse
import functools
import gc
import itertools
import math
import os
import platform
import random
import sys
import threading
import time
import tracemalloc
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from _report import AllThreadsProfile, Table, Target, render

UTC = timezone.utc
DISPATCH_JOBS = 10_000
LATENESS_JOBS = 200
LATENESS_SPAN = 3.0
LATENESS_SEED = 2024
IDLE_JOBS = 10_000
IDLE_SECONDS = 3.0
MEMORY_JOBS = 50_000
ADD_JOBS = 100_000
FLOOR = "bare threads"


# --- the two schedulers ----------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    """A scheduler library: how to build a scheduler as the measurements need it."""

    label: str
    version: str | None  # None: not installed
    create: Callable[[], Any]


def _tickwork() -> Peer:
    import tickwork
    from tickwork import Scheduler
    from tickwork.executors import ThreadExecutor
    from tickwork.stores import MemoryStore

    def create() -> Any:
        return Scheduler(
            store=MemoryStore(),
            executors={"default": ThreadExecutor(max_workers=10)},
            timezone="UTC",
        )

    return Peer("tickwork", tickwork.__version__, create)


def _apscheduler() -> Peer:
    try:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.background import BackgroundScheduler
    except ImportError:
        return Peer("APScheduler 3", None, lambda: None)
    from importlib.metadata import version

    def create() -> Any:
        return BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(10)},
            job_defaults={"misfire_grace_time": None},
            timezone=UTC,
        )

    return Peer("APScheduler 3", version("apscheduler"), create)


def _noop() -> None:
    pass


class _Finish:
    """Counts calls from any thread; records when the *total*-th one happened."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._count = itertools.count(1)  # next() on a count is atomic in CPython
        self.done = threading.Event()
        self.at = math.nan

    def __call__(self, *_: Any) -> None:
        if next(self._count) == self.total:
            self.at = time.perf_counter()
            self.done.set()


# --- the measurements ------------------------------------------------------------------------


def dispatch_once(peer: Peer, lead: float = 2.0) -> float:
    """Jobs per second from the shared due instant to the last of 10,000 completions."""
    finish = _Finish(DISPATCH_JOBS)
    scheduler = peer.create()
    wall0, perf0 = time.time(), time.perf_counter()
    run_at = datetime.fromtimestamp(wall0 + lead, UTC)
    due = perf0 + (run_at.timestamp() - wall0)  # the due instant on the perf_counter scale
    try:
        for _ in range(DISPATCH_JOBS):
            scheduler.add_job(finish, "date", run_date=run_at)
        scheduler.start()
        gc.collect()
        if time.perf_counter() > due - 0.05:
            raise RuntimeError(
                f"{peer.label}: adding {DISPATCH_JOBS} jobs took longer than --lead {lead} s"
            )
        if not finish.done.wait(120):
            raise RuntimeError(f"{peer.label}: the jobs did not all run within 120 s")
    finally:
        scheduler.shutdown(wait=True)
    return DISPATCH_JOBS / (finish.at - due)


def lateness_once(peer: Peer, seed: int = LATENESS_SEED) -> list[float]:
    """How late (in seconds) each of 200 one-shot jobs started, sorted."""
    rng = random.Random(seed)
    late: list[float] = []  # list.append is atomic in CPython
    finish = _Finish(LATENESS_JOBS)

    def job(scheduled: float) -> None:
        late.append(time.time() - scheduled)
        finish()

    scheduler = peer.create()
    scheduler.start()
    try:
        base = time.time() + 0.5
        for _ in range(LATENESS_JOBS):
            run_at = datetime.fromtimestamp(base + rng.uniform(0, LATENESS_SPAN), UTC)
            scheduler.add_job(job, "date", run_date=run_at, args=(run_at.timestamp(),))
        if not finish.done.wait(LATENESS_SPAN + 30):
            raise RuntimeError(f"{peer.label}: the jobs did not all run within 30 s of their time")
    finally:
        scheduler.shutdown(wait=True)
    return sorted(late)


def floor_lateness_once(seed: int = LATENESS_SEED) -> list[float]:
    """The same 200 due times, on bare threads: the floor this machine and Python allow.

    One timer thread sleeps with ``threading.Event.wait`` until each due instant and hands
    it to one of 10 worker threads through a deque and a condition variable, as a
    scheduler with a thread pool must; the worker records its lateness.
    """
    rng = random.Random(seed)
    base = time.time() + 0.5
    due = sorted(
        datetime.fromtimestamp(base + rng.uniform(0, LATENESS_SPAN), UTC).timestamp()
        for _ in range(LATENESS_JOBS)
    )
    late: list[float] = []
    queue: deque[float | None] = deque()
    ready = threading.Condition()

    def worker() -> None:
        while True:
            with ready:
                while not queue:
                    ready.wait()
                scheduled = queue.popleft()
            if scheduled is None:
                return
            late.append(time.time() - scheduled)

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(10)]
    for thread in workers:
        thread.start()
    never = threading.Event()
    for scheduled in due:
        never.wait(max(0.0, scheduled - time.time()))
        with ready:
            queue.append(scheduled)
            ready.notify()
    with ready:
        queue.extend([None] * len(workers))
        ready.notify_all()
    for thread in workers:
        thread.join()
    return sorted(late)


def idle_once(peer: Peer) -> float:
    """CPU time of the whole process as % of one core while 10,000 jobs wait an hour."""
    scheduler = peer.create()
    scheduler.start()
    try:
        for _ in range(IDLE_JOBS):
            scheduler.add_job(_noop, "interval", hours=1)
        gc.collect()
        time.sleep(0.5)  # warm-up: let the scheduler thread settle after the adds
        cpu0, wall0 = time.process_time(), time.perf_counter()
        time.sleep(IDLE_SECONDS)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        scheduler.shutdown(wait=True)
    return 100.0 * cpu / wall


def memory_once(peer: Peer) -> float:
    """Bytes traced by ``tracemalloc`` per interval job held by a started scheduler."""
    scheduler = peer.create()
    scheduler.start()
    try:
        scheduler.add_job(_noop, "interval", hours=1)  # warm-up: lazy imports, caches
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(MEMORY_JOBS):
                scheduler.add_job(_noop, "interval", hours=1)
            time.sleep(0.05)  # let the scheduler thread finish its wake-ups
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    finally:
        scheduler.shutdown(wait=True)
    return (after - before) / MEMORY_JOBS


def add_once(peer: Peer) -> float:
    """Seconds to add 100,000 interval jobs to a started scheduler."""
    scheduler = peer.create()
    scheduler.start()
    try:
        gc.collect()
        t0 = time.perf_counter()
        for _ in range(ADD_JOBS):
            scheduler.add_job(_noop, "interval", hours=1)
        elapsed = time.perf_counter() - t0
    finally:
        scheduler.shutdown(wait=True)
    return elapsed


# --- turning runs into table rows -------------------------------------------------------------


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    rank = max(1, math.ceil(fraction * len(ordered)))  # fraction 0: the minimum
    return ordered[rank - 1]


def _na(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def measure_dispatch(peers: Sequence[Peer], repeat: int, lead: float) -> tuple[Table, Target]:
    best: dict[str, float | None] = {}
    for peer in peers:
        runs = [dispatch_once(peer, lead) for _ in range(repeat)] if peer.version else []
        best[peer.label] = max(runs) if runs else None
    ours, theirs = best["tickwork"], best["APScheduler 3"]
    ratio = None if ours is None or theirs is None else ours / theirs
    ratio_text = "n/a" if ratio is None else f"{ratio:.2f}x"
    table = Table(
        f"Dispatch throughput: {DISPATCH_JOBS:,} jobs due at one instant (best of {repeat})",
        ["Metric", *best],
        [
            ["jobs/s", *(_na(v, ",.0f") for v in best.values())],
            [
                "ms, due instant to last completion",
                *(
                    _na(None if v is None else 1000 * DISPATCH_JOBS / v, ".1f")
                    for v in best.values()
                ),
            ],
            ["tickwork / APScheduler", ratio_text, ""],
        ],
        [],
    )
    met = None if ratio is None else ratio >= 3
    return table, Target("dispatch", "tickwork >= 3x APScheduler", ratio_text, met)


def measure_lateness(peers: Sequence[Peer], repeat: int) -> tuple[Table, Target]:
    runners: dict[str, Callable[[], list[float]] | None] = {
        peer.label: functools.partial(lateness_once, peer) if peer.version else None
        for peer in peers
    }
    runners[FLOOR] = floor_lateness_once
    best: dict[str, list[float] | None] = {}
    for label, run in runners.items():
        runs = [run() for _ in range(repeat)] if run is not None else []
        best[label] = min(runs, key=lambda r: _percentile(r, 0.99)) if runs else None

    def cell(label: str, fraction: float) -> str:
        late = best[label]
        return "n/a" if late is None else f"{1000 * _percentile(late, fraction):.3f}"

    rows = [
        [name, *(cell(label, fraction) for label in best)]
        for name, fraction in (
            ("min", 0.0),
            ("p50", 0.5),
            ("p90", 0.9),
            ("p99", 0.99),
            ("max", 1.0),
        )
    ]
    table = Table(
        f"Firing lateness: {LATENESS_JOBS} one-shot jobs over {LATENESS_SPAN:.0f} s, ms "
        f"(lowest-p99 run of {repeat})",
        ["Percentile", *best],
        rows,
        [
            f"{FLOOR}: one thread doing `Event.wait` until each due instant, handing it to "
            "one of 10 worker threads through a deque and a `Condition`: no scheduler at all."
        ],
    )
    ours = best["tickwork"]
    p99 = None if ours is None else 1000 * _percentile(ours, 0.99)
    return table, Target(
        "lateness",
        "tickwork p99 <= 0.5 ms",
        _na(p99, ".3f") + " ms",
        None if p99 is None else p99 <= 0.5,
    )


def measure_idle(peers: Sequence[Peer]) -> tuple[Table, Target]:
    result = {peer.label: idle_once(peer) if peer.version else None for peer in peers}
    table = Table(
        f"Idle CPU: {IDLE_JOBS:,} jobs an hour away, {IDLE_SECONDS:.0f} s, % of one core",
        ["Metric", *result],
        [["CPU %", *(_na(v, ".3f") for v in result.values())]],
        [],
    )
    ours = result["tickwork"]
    return table, Target(
        "idle",
        "tickwork 0.0 %",
        _na(ours, ".3f") + " %",
        None if ours is None else round(ours, 1) == 0.0,
    )


def measure_memory(peers: Sequence[Peer]) -> tuple[Table, Target]:
    result = {peer.label: memory_once(peer) if peer.version else None for peer in peers}
    table = Table(
        f"Memory per scheduled job: {MEMORY_JOBS:,} interval jobs, tracemalloc",
        ["Metric", *result],
        [["bytes/job", *(_na(v, ",.0f") for v in result.values())]],
        [],
    )
    ours, theirs = result["tickwork"], result["APScheduler 3"]
    met = None if ours is None or theirs is None else ours < theirs
    return table, Target("memory", "tickwork < APScheduler", _na(ours, ",.0f") + " B", met)


def measure_add(peers: Sequence[Peer], repeat: int) -> tuple[Table, Target]:
    best: dict[str, float | None] = {}
    for peer in peers:
        runs = [add_once(peer) for _ in range(repeat)] if peer.version else []
        best[peer.label] = min(runs) if runs else None
    per_job = {k: None if v is None else 1e6 * v / ADD_JOBS for k, v in best.items()}
    table = Table(
        f"Time to add {ADD_JOBS:,} interval jobs to a started scheduler (best of {repeat})",
        ["Metric", *best],
        [
            ["seconds", *(_na(v, ".2f") for v in best.values())],
            ["µs/job", *(_na(v, ".1f") for v in per_job.values())],
        ],
        [],
    )
    return table, Target("add", "(none)", _na(per_job["tickwork"], ".1f") + " µs/job", None)


# --- profiling ---------------------------------------------------------------------------------


def memory_sites(peer: Peer, count: int = 20_000, limit: int = 20) -> str:
    """Where the memory a job holds is allocated: ``tracemalloc`` by source line."""
    scheduler = peer.create()
    scheduler.start()
    try:
        scheduler.add_job(_noop, "interval", hours=1)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            for _ in range(count):
                scheduler.add_job(_noop, "interval", hours=1)
            time.sleep(0.05)
            gc.collect()
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
    finally:
        scheduler.shutdown(wait=True)
    lines = ["bytes/job  blocks/job  allocated at"]
    for stat in after.compare_to(before, "lineno")[:limit]:
        frame = stat.traceback[0]
        where = f"{os.path.relpath(frame.filename)}:{frame.lineno}"
        lines.append(f"{stat.size_diff / count:9.1f}  {stat.count_diff / count:10.2f}  {where}")
    return "\n".join(lines)


# --- output ------------------------------------------------------------------------------------


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):  # not on Unix
        return "unknown"


def _environment(peers: Sequence[Peer]) -> list[str]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 0
    versions = ", ".join(f"{p.label.split()[0]} {p.version or 'not installed'}" for p in peers)
    return [
        "## tickwork Scheduler vs APScheduler 3 BackgroundScheduler",
        "",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}",
        f"- CPUs: {os.cpu_count()} ({usable} usable by this process); load average "
        f"{_load()} at the start (other busy processes make every number noisier)",
        f"- {versions}",
        "- Both: background thread, jobs in memory, 10 worker threads, UTC; APScheduler "
        "with misfire_grace_time=None",
        "",
    ]


MEASUREMENTS = ("dispatch", "lateness", "idle", "memory", "add")


def _run(name: str, peers: Sequence[Peer], args: argparse.Namespace) -> tuple[Table, Target]:
    if name == "dispatch":
        return measure_dispatch(peers, args.repeat, args.lead)
    if name == "lateness":
        return measure_lateness(peers, args.repeat)
    if name == "idle":
        return measure_idle(peers)
    if name == "memory":
        return measure_memory(peers)
    return measure_add(peers, args.repeat)


def _profile(name: str, peer: Peer, lead: float) -> str:
    once: dict[str, Callable[[], object]] = {
        "dispatch": functools.partial(dispatch_once, peer, lead),
        "lateness": functools.partial(lateness_once, peer),
        "idle": functools.partial(idle_once, peer),
        "memory": functools.partial(memory_once, peer),
        "add": functools.partial(add_once, peer),
    }
    # In dispatch and lateness the main thread only sets up and waits; the measured work
    # is all in the scheduler's threads.
    with AllThreadsProfile(this_thread=name not in ("dispatch", "lateness")) as profile:
        once[name]()
    return profile.report(20)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", choices=MEASUREMENTS, help="run one measurement")
    parser.add_argument("--repeat", type=int, default=2, help="runs per timed cell, best kept")
    parser.add_argument(
        "--lead", type=float, default=2.0, help="dispatch: seconds from first add to due instant"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="with --only: also profile tickwork's side once (top 20 by own time)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.profile and not args.only:
        parser.error("--profile needs --only NAME")

    try:
        ours = _tickwork()
    except ImportError:
        print("tickwork is not importable: run `pip install -e .` first", file=sys.stderr)
        return 1
    peers = [ours, _apscheduler()]
    print("\n".join(_environment(peers)), flush=True)

    started = time.perf_counter()
    targets: list[Target] = []
    for name in [args.only] if args.only else MEASUREMENTS:
        began = time.perf_counter()
        table, target = _run(name, peers, args)
        table.notes.append(f"`{name}` took {time.perf_counter() - began:.0f} s.")
        targets.append(target)
        print("\n".join(render(table)), flush=True)

    summary = Table(
        "Targets",
        ["Measurement", "Target", "tickwork"],
        [
            [t.measurement, t.goal, t.value + {True: " ✓", False: " ✗", None: ""}[t.met]]
            for t in targets
        ],
        [f"Total time {time.perf_counter() - started:.0f} s."],
    )
    print("\n".join(render(summary)))

    if args.profile:
        print(f"### cProfile of tickwork's side of `{args.only}` (all threads, by tottime)\n")
        print("```")
        print(_profile(args.only, ours, args.lead).rstrip())
        print("```")
        if args.only == "memory":
            print("\n### tracemalloc of tickwork's side of `memory`, by source line\n")
            print(f"```\n{memory_sites(ours)}\n```")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
