"""benchmarks/celery_handoff.py still runs, at its short size, and reports every table.

Benchmarks are not tests: nothing here is timed. This runs the script's ``--short``
mode (a real worker and two beat processes on the local Redis) and reads its tables:
every send counted, both lateness rows filled, two beats doubling every task and two
tickwork processes running each fire once. Skipped without Redis.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import tickwork

from .executors import queues

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "celery_handoff.py"


def test_the_celery_benchmark_reports_every_table_at_its_short_size() -> None:
    queues.require_redis()
    source = str(Path(tickwork.__file__).parents[1])
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--short"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": path},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    sends = re.findall(
        r"^\| (CeleryExecutor\.submit_many|Scheduler, [^|]+) \| ([\d,]+) \|", out, re.M
    )
    assert [int(count.replace(",", "")) for _, count in sends] == [2000, 2000], out
    late = dict(
        re.findall(r"^\| (tickwork \+ CeleryExecutor|Celery beat) \| ([\d,]+) \|", out, re.M)
    )
    assert int(late["tickwork + CeleryExecutor"].replace(",", "")) >= 100, out
    assert int(late["Celery beat"].replace(",", "")) > 0, out
    assert re.search(r"Goal: tickwork's p99 lateness .*: (met|NOT met)", out)
    doubling = dict(re.findall(r"^\| (Celery beat, 2 processes|tickwork, 2 processes, 1 store) "
                               r"\|.*\| ([\d.]+) \|$", out, re.M))  # fmt: skip
    assert float(doubling["Celery beat, 2 processes"]) >= 1.5, out
    assert float(doubling["tickwork, 2 processes, 1 store"]) == 1.0, out
