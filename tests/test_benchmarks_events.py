"""benchmarks/workflows_events.py still runs, at a tiny size, with its checks.

Benchmarks are not tests: nothing here is timed. This runs the script with a few
hundred events and reads its tables: every row is there, and no event was lost or ran
its job twice.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import tickwork

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "workflows_events.py"


def test_the_events_benchmark_runs_and_loses_nothing_at_a_tiny_size() -> None:
    source = str(Path(tickwork.__file__).parents[1])
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--latency", "50", "--events", "300",
         "--sqlite-events", "200"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": path},
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("| emit → job starts") for line in lines), done.stdout
    rows = [line.split("|") for line in lines if line.startswith(("| MemoryStore", "| SQLite"))]
    assert len(rows) == 2, done.stdout
    for row in rows:
        cells = [cell.strip() for cell in row]
        assert cells[4:6] == ["0", "0"], done.stdout  # lost, ran twice
    assert "targets met." in done.stdout
