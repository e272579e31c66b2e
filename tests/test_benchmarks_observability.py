"""benchmarks/observability.py still runs, at a tiny size, with its checks.

Benchmarks are not tests: nothing here is timed. This runs every scrape of the script on
50 jobs, twice each, and reads the table: each row is there and its output was read
back by prometheus_client's parser, with a next fire time for every job.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import tickwork

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "observability.py"


def test_every_scrape_runs_and_parses_at_a_tiny_size() -> None:
    pytest.importorskip("prometheus_client")
    source = str(Path(tickwork.__file__).parents[1])
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--jobs", "50", "--repeat", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": path},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    rows = [line for line in lines if line.startswith(("| live", "| store"))]
    assert len(rows) == 4, done.stdout
    assert all("| parsed |" in row for row in rows), done.stdout
    assert "The listener takes in a run's end in" in done.stdout
