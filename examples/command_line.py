"""The ``tickwork`` command on a job file: look, check health, change a job.

Run it from the repository root, after ``pip install .``::

    python examples/command_line.py

In a temporary directory it runs a scheduler on ``jobs.db`` for a few simulated
minutes (a fake clock that ends at the real time now, so the file looks as a live one
would): ``sync`` succeeds every 30 s, ``feed`` fails every minute. Then it runs the
command line on the file, in a process of its own as from a shell: ``jobs``,
``history --failed``, ``check`` (exit 1: ``feed`` keeps failing), ``pause feed``, and
``check`` again with ``--ignore-paused`` (exit 0). The command line reads the file
without changing it and imports nothing it names; ``pause`` writes through the store,
as a scheduler sharing the file would. Times printed are real ones.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import tickwork as _package
from tickwork import RetryPolicy, Scheduler
from tickwork.executors import InlineExecutor
from tickwork.stores import SQLiteStore
from tickwork.testing import FakeClock, advance

SOURCE = os.pathsep.join(
    filter(
        None, [str(Path(_package.__file__).resolve().parent.parent), os.environ.get("PYTHONPATH")]
    )
)


def sync() -> None:
    pass


def fetch_feed(url: str) -> None:
    raise ConnectionError(f"{url}: connection refused")


def tickwork(*argv: str) -> int:
    """Run ``tickwork ARGV...`` (``python -m tickwork``) and show what it prints."""
    print(f"$ tickwork {shlex.join(argv)}")
    done = subprocess.run(
        [sys.executable, "-m", "tickwork", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        # The tickwork this script runs on, and a terminal's width for the tables.
        env={**os.environ, "PYTHONPATH": SOURCE, "COLUMNS": "110"},
    )
    print(done.stdout + done.stderr, end="")
    print(f"[exit status {done.returncode}]\n")
    return done.returncode


def main() -> None:
    logging.getLogger("tickwork").addHandler(logging.NullHandler())  # (feed's failures)
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "jobs.db")
        start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=4)
        scheduler = Scheduler(
            store=SQLiteStore(path),
            clock=FakeClock(start),
            executors={"default": InlineExecutor()},
            timezone="UTC",
        )
        scheduler.add_job(sync, "interval", seconds=30, id="sync")
        scheduler.add_job(
            fetch_feed, "interval", minutes=1, id="feed", args=["https://example.com/feed"],
            retry=RetryPolicy(attempts=2, delay=5, jitter=0),
        )  # fmt: skip
        scheduler.open()
        advance(scheduler, 4 * 60 - 5)
        scheduler.shutdown()
        os.chdir(folder)  # so that the file is named as "jobs.db"
        tickwork("jobs", "jobs.db")
        tickwork("history", "jobs.db", "--failed", "--limit", "3")
        assert tickwork("check", "jobs.db") == 1
        tickwork("pause", "jobs.db", "feed", "--note", "feed server down")
        assert tickwork("check", "jobs.db", "--ignore-paused") == 0
        os.chdir(Path(__file__).resolve().parent)  # (leave the folder before removing it)


if __name__ == "__main__":
    main()
