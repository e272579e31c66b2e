"""Chains across processes on one SQLite file, and on one PostgreSQL schema: every
downstream run starts exactly once, whichever processes ran its upstreams, and even
when the process that recorded the last upstream run dies before it could start the
downstream one.

The workers (``chain_workers.py``) run on fake clocks with inline executors, so each
one's timeline is exact while the processes race on the file for real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tickwork import Scheduler
from tickwork.executors import InlineExecutor
from tickwork.stores import JobStore, PostgresStore, SQLiteStore
from tickwork.testing import FakeClock

from .. import pg
from .chain_workers import HERE, T0

pg_schema = pg.pg_schema

ROOT = Path(__file__).resolve().parents[2]
REF = f"{HERE}:"
LIMIT = 30


def spawn(tmp: Path, mode: str, config: dict[str, Any], n: int) -> subprocess.Popen[bytes]:
    path = os.pathsep.join(
        filter(None, [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH")])
    )
    with (tmp / f"worker-{mode}-{n}.err").open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-W", "error", "-m", HERE, mode, json.dumps(config)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": path},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def finish(tmp: Path, procs: list[subprocess.Popen[bytes]]) -> list[int]:
    codes = [proc.wait(LIMIT) for proc in procs]
    errors = "".join(path.read_text() for path in tmp.glob("worker-*.err"))
    assert "Traceback" not in errors, errors
    return codes


def lines(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def open_store(db: str) -> JobStore:
    if db.startswith("postgresql://"):
        dsn, _, schema = db.partition("#")
        return PostgresStore(dsn, schema=schema)
    return SQLiteStore(db)


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the processes keep their jobs: a SQLite file, or a PostgreSQL schema."""
    if request.param == "postgres":
        return f"{pg.dsn()}#{request.getfixturevalue('pg_schema')}"
    return str(tmp_path / "jobs.db")


def add_jobs(db: str, jobs: list[dict[str, Any]]) -> None:
    executors = {alias: InlineExecutor() for alias in ("default", "ea", "eb")}
    setup = Scheduler(
        clock=FakeClock(T0), store=open_store(db), executors=executors, timezone="UTC"
    )
    setup.add_jobs(jobs)
    setup.shutdown()


def test_two_processes_run_each_fan_in_slot_exactly_once(tmp_path: Path, target: str) -> None:
    db, log, go = target, tmp_path / "runs.log", tmp_path / "go"
    # (The processes' fake clocks run apart: one may claim a job's next fire while the
    # other still runs its last one, which max_instances=1 would skip.)
    every_minute = {"trigger": "interval", "minutes": 1, "catchup": "all", "max_instances": 4}
    add_jobs(
        db,
        [
            # "a" runs only in the first process, "b" only in the second (each has one
            # of their executors): every fan-in joins runs of both processes.
            {"func": REF + "upstream", "id": "a", "executor": "ea", **every_minute},
            {"func": REF + "upstream", "id": "b", "executor": "eb", **every_minute},
            {"func": REF + "downstream", "id": "c", "after": ["a", "b"]},
            # "d" runs only where its executor is: a process without it leaves the
            # hand-over to the one with it.
            {"func": REF + "downstream", "id": "d", "after": "c", "executor": "ea"},
        ],
    )
    slots = 40
    config = {"db": str(db), "log": str(log), "go": str(go), "slots": slots}
    procs = [
        spawn(tmp_path, "slots", {**config, "executors": [alias]}, n)
        for n, alias in enumerate(["ea", "eb"])
    ]
    deadline = time.monotonic() + LIMIT
    while len(list(tmp_path.glob("go.*"))) < 2 and time.monotonic() < deadline:
        assert all(proc.poll() is None for proc in procs)
        time.sleep(0.005)
    go.touch()
    assert finish(tmp_path, procs) == [0, 0]
    # A "d" whose "c" ended after the process with d's executor had stopped waits for
    # one: a process with it, started later, picks its hand-over up.
    end = (T0 + timedelta(minutes=slots, seconds=30)).isoformat()
    later = spawn(tmp_path, "pickup", {**config, "now": end, "executors": ["ea"]}, 2)
    assert finish(tmp_path, [later]) == [0]
    runs = lines(log)
    counts = Counter((job, at) for job, at, _, _ in runs)
    minutes = [(T0 + timedelta(minutes=m)).isoformat() for m in range(1, slots + 1)]
    expected = {(job, at): 1 for job in "abcd" for at in minutes}
    assert counts == expected  # none lost, none doubled
    # Fan-in across processes: c's parents are the a and b runs of its slot, which ran
    # in different processes.
    pids = {(job, at): pid for job, at, pid, _ in runs}
    for job, at, _, parents in runs:
        if job == "c":
            stamp = at.replace("+00:00", "Z")
            assert parents == f"a@{stamp}#1,b@{stamp}#1"
            assert pids["a", at] != pids["b", at]
    assert {pid for job, _, pid, _ in runs if job == "d"} <= {
        pid for job, _, pid, _ in runs if job == "a"
    } | {str(later.pid)}
    with open_store(db) as store:
        history = store.history("c", limit=1000)
    assert len(history) == slots
    assert all(run.return_value == ["a", "b"] for run in history)


def test_a_downstream_run_starts_once_when_the_upstreams_process_dies_after_recording(
    tmp_path: Path, target: str
) -> None:
    db, log = target, tmp_path / "runs.log"
    add_jobs(
        db,
        [
            {"func": REF + "upstream", "id": "a", "trigger": "interval", "minutes": 1},
            {"func": REF + "downstream", "id": "c", "after": "a"},
        ],
    )
    config = {"db": str(db), "log": str(log), "upstream": "a"}
    assert finish(tmp_path, [spawn(tmp_path, "die", config, 0)]) == [0]
    ((job, at, dead_pid, _),) = lines(log)  # "a" ran and was recorded; "c" did not start
    assert (job, at) == ("a", (T0 + timedelta(minutes=1)).isoformat())
    # Two processes come up; one of them (only) picks the hand-over up.
    later = {**config, "now": (T0 + timedelta(minutes=1, seconds=30)).isoformat()}
    procs = [spawn(tmp_path, "pickup", later, n) for n in range(2)]
    assert finish(tmp_path, procs) == [0, 0]
    runs = lines(log)
    downstream = [run for run in runs if run[0] == "c"]
    assert len(downstream) == 1
    _, at, pid, parents = downstream[0]
    assert at == (T0 + timedelta(minutes=1)).isoformat()
    assert pid != dead_pid
    assert parents == "a@2024-01-01T00:01:00Z#1"
    with open_store(db) as store:
        (recorded,) = store.history("c")
    assert recorded.parent_ids == ("a@2024-01-01T00:01:00Z#1",)
    assert recorded.return_value == ["a"]
