"""What the benchmark scripts share: Markdown tables, targets, and a profiler that
follows the scheduler's threads.

The scripts run as ``python benchmarks/NAME.py``, so this folder is first on the
import path and ``import _report`` finds this module.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AllThreadsProfile", "Table", "Target", "render"]


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Target:
    measurement: str
    goal: str
    value: str
    met: bool | None  # None: could not be judged


def render(table: Table) -> list[str]:
    """The table as Markdown lines: a heading, aligned columns (numbers to the right),
    then its notes."""
    columns = range(len(table.headers))
    widths = [max(len(row[i]) for row in (table.headers, *table.rows)) for i in columns]
    rule = ["-" * widths[0], *("-" * max(w - 1, 1) + ":" for w in widths[1:])]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cells[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)),
        ]
        return "| " + " | ".join(padded) + " |"

    return [
        f"### {table.title}",
        "",
        line(table.headers),
        line(rule),
        *(line(row) for row in table.rows),
        *(["", *table.notes] if table.notes else []),
        "",
    ]


class AllThreadsProfile:
    """``cProfile`` in every thread started while it is active (and the caller's, if asked).

    ``cProfile`` sees only the thread that enables it, and a scheduler works in threads of
    its own; ``threading.setprofile`` makes each new thread start a profile of its own.
    Each profile counts its thread's CPU time (``time.thread_time``), not wall time: with
    several threads sharing the GIL, wall time would charge the waits for the GIL to
    whichever function happened to be running when the thread was switched out. (A
    thread started inside is profiled until it ends, so the scheduler's shutdown work
    shows up too; it is small next to what is measured.)
    """

    def __init__(self, *, this_thread: bool = True) -> None:
        self._this_thread = this_thread
        self._profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def _start_here(self, *_: Any) -> None:
        sys.setprofile(None)
        profile = cProfile.Profile(time.thread_time)
        with self._lock:
            self._profiles.append(profile)
        profile.enable()

    def __enter__(self) -> AllThreadsProfile:
        threading.setprofile(self._start_here)
        if self._this_thread:
            self._start_here()
        return self

    def __exit__(self, *_: object) -> None:
        if self._this_thread:
            self._profiles[0].disable()
        threading.setprofile(None)

    def stats(self, stream: io.StringIO | None = None) -> pstats.Stats:
        """Every thread's profile, merged."""
        return pstats.Stats(*self._profiles, stream=stream)

    def report(self, limit: int = 20) -> str:
        """The top *limit* functions by own CPU time, all threads merged."""
        out = io.StringIO()
        print(f"{len(self._profiles)} thread(s), CPU time (time.thread_time).", file=out)
        self.stats(out).strip_dirs().sort_stats("tottime").print_stats(limit)
        return out.getvalue()
