"""benchmarks/cron_next.py still runs, at a tiny size, and its walks agree.

Benchmarks are not tests: nothing here is timed. This runs the script on 3 fire times
per row and reads its output: both tables are there, and no peer that is installed
disagrees with tickwork's walk backwards (its forward footnotes are known DST bugs of
the peers, listed on purpose).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import tickwork

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "cron_next.py"


def test_cron_next_runs_both_tables_at_a_tiny_size() -> None:
    source = str(Path(tickwork.__file__).parents[1])
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--count", "3", "--repeat", "1", "--plain"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": path},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    back = done.stdout.split("Walking backwards:", 1)
    assert len(back) == 2, done.stdout
    assert "30 2 * * *" in back[1]
    assert re.search(r"previous_before / next_after overall: \d+\.\d\d", back[1]), back[1]
    assert "Differences from tickwork's backwards walk" not in back[1], back[1]
