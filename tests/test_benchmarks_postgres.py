"""benchmarks/postgres_vs_peers.py still runs, at a tiny size, with its checks.

Benchmarks are not tests: nothing here is timed. This runs tickwork's side of the
``dispatch`` measurement on 40 jobs (2 processes on the test server) and reads the
table: every job ran, none twice. Skipped without the server, or on a tree without
``PostgresStore``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tickwork
import tickwork.stores

from . import pg

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "postgres_vs_peers.py"


def test_dispatch_runs_every_job_once_at_a_tiny_size() -> None:
    pg.require()
    if "PostgresStore" not in tickwork.stores.__all__:
        pytest.skip("tickwork.stores has no PostgresStore on this tree")
    # The children import the same tickwork as this test does.
    source = str(Path(tickwork.__file__).parents[1])
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [
            *(sys.executable, str(SCRIPT), "--libs", "tickwork", "--only", "dispatch"),
            *("--processes", "2", "--jobs", "40", "--dsn", pg.dsn()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": path},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    runs = re.search(r"\| 40 due date jobs, 2 processes: runs/s +\| +([\d,]+) \|", done.stdout)
    assert runs is not None, done.stdout
    assert int(runs.group(1).replace(",", "")) > 0
    checks = re.search(r"\| … 2 processes: jobs run twice / never run +\| +0 / 0 \|", done.stdout)
    assert checks is not None, done.stdout
