"""A scheduler started before the process forked (a server preloading the app, the
mistake docs/persistence.md warns of): in the child, where it has no thread, start()
says why it cannot run, and shutdown() (a worker's exit hook) returns at once instead
of waiting for locks the parent's thread held at the fork. The default scheduler of
tickwork.every() is made afresh in the child."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import os, signal, threading, time
import tickwork
from tickwork import Scheduler, SchedulerStateError

ran = threading.Event()
scheduler = Scheduler()
scheduler.add_job(time.time, "interval", seconds=0.001, id="busy")  # (its lock is busy)
scheduler.start()
tickwork.every(1).hours.do(time.time)  # the default scheduler, started in the parent
for _ in range(20):
    pid = os.fork()
    if pid == 0:
        signal.alarm(5)  # (a hang dies of SIGALRM)
        try:
            scheduler.start()
        except SchedulerStateError as error:
            assert "before this process" in str(error), error
        else:
            os._exit(3)
        scheduler.shutdown()
        tickwork.every(0.01).seconds.do(ran.set)
        os._exit(0 if ran.wait(3) else 4)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status))
scheduler.shutdown()
tickwork.default_scheduler().shutdown()
"""


def test_a_scheduler_started_before_a_fork_fails_clearly_in_the_child() -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    src = str(Path(__file__).resolve().parents[1] / "src")
    done = subprocess.run(
        # (Python 3.12 warns that forking a process with threads may deadlock: it is
        # what this test does on purpose.)
        [sys.executable, "-W", "error", "-W", "ignore::DeprecationWarning", "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": src},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0"] * 20, done.stderr
