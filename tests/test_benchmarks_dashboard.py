"""benchmarks/dashboard.py still runs, at a tiny size, and reports every page.

Benchmarks are not tests: nothing here is timed. This renders the dashboard's pages
for 300 jobs once per target and reads the table: one row per page, one number per
target, and the goal line.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import tickwork

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "dashboard.py"


def test_the_dashboard_benchmark_renders_every_page_at_a_tiny_size() -> None:
    source = str(Path(tickwork.__file__).parents[1])
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-W", "error", str(SCRIPT), "--jobs", "300", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": path},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Dashboard pages for 300 jobs" in done.stdout
    rows = re.findall(r"^\| (jobs page|a job's page|runs page)[^|]*((?:\| +[\d,.]+ )+)\|$",
                      done.stdout, re.M)  # fmt: skip
    assert len(rows) == 7, done.stdout
    assert all(len(cells.split("|")) - 1 == 3 for _, cells in rows)
    assert re.search(
        r"Goal: the jobs page for 300 jobs in 200 ms or less: (met|NOT met)", done.stdout
    )
