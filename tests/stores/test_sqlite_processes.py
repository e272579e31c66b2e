"""Several real processes sharing one SQLite file: the multi-process promises of
``SQLiteStore``, checked with separate interpreters rather than simulated.

* every scheduled fire runs exactly once among the processes, none is lost, also
  while starting processes add the same jobs again;
* a process killed mid-run (``kill -9``) has its run taken over after ``lease_time``,
  recorded as interrupted, and retried only if the job's retry policy says so;
* a new process finds the jobs of one that exited, and fire times that passed while
  no process ran are handled by each job's misfire policy;
* a change made by one process reaches the others within ``poll_interval``.

The workers live in :mod:`tests.stores.process_workers`. Each writes one log file per
process (a line per run); the tests wait on those files with deadlines, not on fixed
sleeps (only where nothing may happen do they watch for a while), and kill every
worker they started, whatever happens.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from tickwork import Outcome, Run, Scheduler
from tickwork.stores import SQLiteStore

from .process_workers import HERE, READY

UTC = timezone.utc
ROOT = Path(__file__).resolve().parents[2]
#: A fixed grid for interval jobs, so that every process computes the same fire times.
GRID = datetime(2024, 1, 1, tzinfo=UTC)
#: Start-up (or shut-down) of a worker interpreter on a slow, busy machine: only a
#: limit for a failing test, never waited out by a passing one.
STARTUP = 60.0
#: Polling interval of the store in every process of these tests.
POLL = 0.2


@dataclass(frozen=True)
class Ran:
    """One line of a worker's run log."""

    job_id: str
    scheduled_at: datetime
    attempt: int
    pid: int
    started: float  # wall clock, epoch seconds

    @property
    def key(self) -> tuple[str, datetime]:
        return self.job_id, self.scheduled_at


class Workers:
    """Starts worker processes on one database file; stops or kills them all."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.db = directory / "jobs.db"
        self.log_dir = directory / "runs"
        self.log_dir.mkdir()
        self.stop_file = directory / "stop"
        self.release = directory / "release"
        self.procs: list[subprocess.Popen[bytes]] = []
        self._errs: list[Path] = []

    def config(self, **extra: Any) -> dict[str, Any]:
        return {
            "db": str(self.db),
            "log_dir": str(self.log_dir),
            "stop": str(self.stop_file),
            "release": str(self.release),
            **extra,
        }

    def spawn(self, mode: str, config: dict[str, Any]) -> subprocess.Popen[bytes]:
        path = os.pathsep.join(
            filter(None, [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH")])
        )
        err = self.dir / f"worker-{len(self.procs)}.err"
        with err.open("wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-W", "error", "-m", HERE, mode, json.dumps(config)],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": path},
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        self.procs.append(proc)
        self._errs.append(err)
        return proc

    def run(self, mode: str, config: dict[str, Any]) -> None:
        """Run one worker to completion; it must exit cleanly."""
        proc = self.spawn(mode, config)
        try:
            code = proc.wait(STARTUP)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{mode} worker still running after {STARTUP} s") from None
        assert code == 0, f"{mode} worker exited with {code}:\n{self.errors()}"

    def errors(self) -> str:
        return "\n".join(
            f"--- worker {proc.pid}:\n{err.read_text(errors='replace')}"
            for proc, err in zip(self.procs, self._errs, strict=True)
            if err.exists() and err.stat().st_size
        )

    def wait_ready(self, procs: list[subprocess.Popen[bytes]]) -> None:
        def ready() -> bool:
            for proc in procs:
                if proc.poll() is not None:
                    raise AssertionError(
                        f"worker {proc.pid} exited with {proc.returncode}:\n{self.errors()}"
                    )
            return all((self.log_dir / READY.format(pid=proc.pid)).exists() for proc in procs)

        wait_for(ready, STARTUP, "the workers to start", self)

    def stop(self) -> None:
        """Ask every serving worker to stop; each must exit 0 and log no error."""
        self.stop_file.touch()
        for proc in self.procs:
            try:
                code = proc.wait(STARTUP)
            except subprocess.TimeoutExpired:
                raise AssertionError(
                    f"worker {proc.pid} did not stop within {STARTUP} s:\n{self.errors()}"
                ) from None
            assert code == 0, f"worker {proc.pid} exited with {code}:\n{self.errors()}"
        errors = self.errors()
        assert "ERROR" not in errors, errors
        assert "Traceback" not in errors, errors

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def runs(self) -> list[Ran]:
        """Every run logged so far, by any process (complete lines only)."""
        found = []
        for log in sorted(self.log_dir.glob("*.log")):
            for line in log.read_text().splitlines(keepends=True):
                if not line.endswith("\n"):
                    continue
                job_id, scheduled_at, attempt, pid, started = line.split()
                found.append(
                    Ran(
                        job_id,
                        datetime.fromisoformat(scheduled_at),
                        int(attempt),
                        int(pid),
                        float(started),
                    )
                )
        return sorted(found, key=lambda ran: (ran.scheduled_at, ran.job_id, ran.attempt))

    def runs_of(self, job_id: str) -> list[Ran]:
        return [ran for ran in self.runs() if ran.job_id == job_id]


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    started = Workers(tmp_path)
    try:
        yield started
    finally:
        started.release.touch()  # unblock blocking jobs, in this process too
        started.kill_all()


def wait_for(
    predicate: Callable[[], bool], limit: float, what: str, workers: Workers | None = None
) -> None:
    """Poll *predicate* until it holds; fail after *limit* seconds, saying what was awaited."""
    deadline = time.monotonic() + limit
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            detail = f":\n{workers.errors()}" if workers is not None else ""
            raise AssertionError(f"waited {limit} s for {what}{detail}")
        pause.wait(0.02)


def duplicates(runs: list[Ran]) -> list[tuple[str, datetime]]:
    return [key for key, count in Counter(ran.key for ran in runs).items() if count > 1]


def twice(runs: list[Ran]) -> str:
    found = duplicates(runs)
    return f"{len(found)} fire(s) ran twice, first {[(j, t.isoformat()) for j, t in found[:3]]}"


def gaps(runs: list[Ran], every: timedelta) -> list[tuple[datetime, datetime]]:
    """Consecutive recorded fire times of one job that are not one interval apart."""
    times = sorted({ran.scheduled_at for ran in runs})
    return [(a, b) for a, b in pairwise(times) if b - a != every]


def file_history(db: Path) -> list[Run]:
    """Every run recorded in the file, newest first, read as another process would."""
    with SQLiteStore(db) as store:
        return store.history(limit=100_000)


def lease_rows(db: Path, *, held: bool = False) -> int:
    """The lease rows in the file (*held*: those a process holds, not the runs left
    unstarted at shutdown for the next start, whose owner is empty)."""
    conn = sqlite3.connect(db)
    try:
        where = " WHERE owner != ''" if held else ""
        return int(conn.execute(f"SELECT count(*) FROM leases{where}").fetchone()[0])
    finally:
        conn.close()


# -- 1. exactly once ----------------------------------------------------------------------


def test_three_processes_run_each_fire_exactly_once_and_miss_none(workers: Workers) -> None:
    fast = 0.05
    config = workers.config(
        jobs="shared",
        start=GRID.isoformat(),
        fast=fast,
        store={"poll_interval": POLL, "history_per_job": 10_000},
    )
    procs = [workers.spawn("serve", config) for _ in range(3)]
    workers.wait_ready(procs)
    all_up = time.time()
    # About 1.5 s with all three competing for every fire.
    wait_for(
        lambda: sum(ran.started > all_up for ran in workers.runs_of("fast")) >= 30,
        20,
        "30 runs of the fast job with all workers up",
        workers,
    )
    workers.stop()

    runs = workers.runs()
    assert not duplicates(runs), twice(runs)
    assert all(ran.attempt == 1 for ran in runs)
    intervals = {"fast": fast, **{f"slow-{n}": 0.2 + 0.1 * n for n in range(4)}}
    for job_id, every in intervals.items():
        mine = [ran for ran in runs if ran.job_id == job_id]
        assert len(mine) >= 3, f"{job_id} ran {len(mine)} times"
        missing = gaps(mine, timedelta(seconds=every))
        assert not missing, f"{job_id}: fires missing between {missing}"
    fast_pids = {ran.pid for ran in runs if ran.job_id == "fast" and ran.started > all_up}
    assert len(fast_pids) > 1, "one process did all the work"

    # The shared history says the same: one success per fire, whoever ran it.
    history = file_history(workers.db)
    assert {run.outcome for run in history} == {Outcome.SUCCESS}
    recorded = Counter((run.job_id, run.scheduled_at) for run in history)
    assert recorded == Counter(ran.key for ran in runs)
    # (A run one worker claimed as all three were told to stop is left unstarted in the
    # file for the next start, as the docs say: not run, and held by no one.)
    assert lease_rows(workers.db, held=True) == 0


def test_processes_started_together_on_a_backlog_of_slow_jobs_each_run_a_part(
    workers: Workers,
) -> None:
    # The workers of one app start together after a deploy, with a backlog due: the
    # first one up, alone on the file for a moment, claims what its threads will get
    # through in about a second, not the whole backlog (which one process then ran
    # while the others idled: 1,948 of 2,000 in a probe). About 2.5 s of the three
    # processes' work: one that starts a second late (a loaded machine) still gets a
    # fair part (with 1 s of it, one such got 43 of 600).
    count = 300
    setup = Scheduler(store=SQLiteStore(workers.db), timezone="UTC")
    setup.add_jobs(
        {
            "func": f"{HERE}:record_and_sleep",
            "trigger": "date",
            "run_date": GRID,
            "args": [str(workers.log_dir), 0.25],
            "id": f"due-{n}",
            "misfire_grace_time": None,
        }
        for n in range(count)
    )
    setup.shutdown()
    config = workers.config(store={"poll_interval": POLL})
    procs = [workers.spawn("serve", config) for _ in range(3)]
    wait_for(lambda: len(workers.runs()) >= count, 30, "the backlog to be run", workers)
    workers.stop()
    runs = workers.runs()
    assert not duplicates(runs), twice(runs)
    assert len(runs) == count
    shares = Counter(ran.pid for ran in runs)
    assert all(shares[proc.pid] >= count // 10 for proc in procs), shares


def test_adding_a_job_again_while_another_process_runs_it_repeats_no_fire(
    workers: Workers,
) -> None:
    # Every process of an application adds its jobs at start-up with
    # replace_existing=True, while the processes already up are claiming their fires.
    # Adding the same job again keeps its stored next fire time; it must never move it
    # back to a fire another process has claimed since (which would run that fire twice).
    every = 0.01
    job = {
        "func": f"{HERE}:record",
        "trigger": "interval",
        "seconds": every,
        "start_date": GRID,
        "args": [str(workers.log_dir)],
        "catchup": "all",
        "max_instances": 100,
        "id": "fast",
        "replace_existing": True,
    }

    def start_up() -> None:
        """What a process starting with this job does (without running anything)."""
        newcomer = Scheduler(store=SQLiteStore(workers.db, poll_interval=POLL), timezone="UTC")
        try:
            newcomer.add_job(**job)
        finally:
            newcomer.shutdown()

    start_up()
    procs = [workers.spawn("serve", workers.config(store={"poll_interval": POLL}))]
    workers.wait_ready(procs)
    wait_for(lambda: len(workers.runs_of("fast")) >= 10, 5, "the fast job to run", workers)
    until = time.monotonic() + 1.5
    while time.monotonic() < until:
        start_up()
    workers.stop()

    runs = workers.runs_of("fast")
    assert not duplicates(runs), twice(runs)


@pytest.mark.parametrize("processes", [2, 4])
def test_a_finished_run_never_costs_another_process_a_fire(
    workers: Workers, processes: int
) -> None:
    # Each job allows one run at a time (the default) and its next fire comes soon
    # after its last run ended, sooner than the processes check for changes: a run that
    # has ended must release its claim at once, or another process skips the next fire
    # for a run that is no longer going.
    every = [[0.1, 0.001], [0.25, 0.001], [0.5, 0.001], [0.5, 0.3]]
    config = workers.config(
        jobs="back-to-back",
        start=GRID.isoformat(),
        every=every,
        store={"poll_interval": 5, "history_per_job": 10_000},
    )
    procs = [workers.spawn("serve", config) for _ in range(processes)]
    workers.wait_ready(procs)
    all_up = time.time()
    wait_for(
        lambda: sum(ran.started > all_up for ran in workers.runs_of("every-0.5-takes-0.3")) >= 5,
        20,
        "5 runs of the slowest job with all workers up",
        workers,
    )
    workers.stop()

    runs = workers.runs()
    assert not duplicates(runs), twice(runs)
    history = file_history(workers.db)
    lost = [run for run in history if run.outcome not in (Outcome.SUCCESS,)]
    assert not lost, f"{len(lost)} fire(s) not run, first: {lost[:3]}"
    for interval, length in every:
        job_id = f"every-{interval}-takes-{length}"
        mine = [ran for ran in runs if ran.job_id == job_id]
        assert len(mine) >= 5, f"{job_id} ran {len(mine)} times"
        missing = gaps(mine, timedelta(seconds=interval))
        assert not missing, f"{job_id}: fires missing between {missing}"
    assert lease_rows(workers.db) == 0


# -- 2. kill -9 mid-run -------------------------------------------------------------------


LEASE = 1.0


def _blocked_worker(
    workers: Workers, jobs: str, job_ids: list[str], **extra: Any
) -> subprocess.Popen[bytes]:
    """A worker (lease_time 1 s) whose runs of *job_ids* have started and now block."""
    config = workers.config(jobs=jobs, store={"lease_time": LEASE, "poll_interval": POLL}, **extra)
    victim = workers.spawn("serve", config)
    wait_for(
        lambda: {ran.job_id for ran in workers.runs() if ran.pid == victim.pid} >= set(job_ids),
        STARTUP,
        f"{job_ids} to start in the worker",
        workers,
    )
    return victim


def _survivor(workers: Workers) -> Scheduler:
    """A scheduler in this process on the same file, started."""
    survivor = Scheduler(
        store=SQLiteStore(workers.db, lease_time=LEASE, poll_interval=POLL), timezone="UTC"
    )
    survivor.start()
    return survivor


def _kill(victim: subprocess.Popen[bytes]) -> float:
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(STARTUP)
    return time.monotonic()


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGKILL on Windows")
def test_a_run_cut_off_by_kill_9_is_interrupted_and_retried_by_another_process(
    workers: Workers,
) -> None:
    victim = _blocked_worker(workers, "blockers", ["retried", "not-retried"])
    (cut_off,) = workers.runs_of("retried")
    survivor = _survivor(workers)
    try:
        # While the worker lives it renews its leases: runs longer than lease_time are
        # left alone. (An observation window: nothing is supposed to happen in it.)
        time.sleep(2 * LEASE)
        assert survivor.history() == []
        assert len(workers.runs()) == 2

        killed = _kill(victim)
        wait_for(
            lambda: any(ran.attempt == 2 for ran in workers.runs_of("retried")),
            LEASE + 6,
            "the survivor to retry the cut-off run",
        )
        took = time.monotonic() - killed
        wait_for(
            lambda: (
                len(survivor.history("retried")) >= 2 and len(survivor.history("not-retried")) >= 1
            ),
            3,
            "the history of both runs",
        )
        retried = survivor.history("retried")
        not_retried = survivor.history("not-retried")
    finally:
        survivor.shutdown(wait=True)
    assert took < LEASE + 4, f"taken over {took:.1f} s after the kill (lease_time {LEASE} s)"

    (again,) = [ran for ran in workers.runs_of("retried") if ran.attempt == 2]
    assert again.pid == os.getpid()
    assert again.scheduled_at == cut_off.scheduled_at
    assert [(run.attempt, run.outcome) for run in retried] == [
        (2, Outcome.SUCCESS),
        (1, Outcome.INTERRUPTED),
    ]
    assert {run.scheduled_at for run in retried} == {cut_off.scheduled_at}
    interrupted = retried[1]
    assert interrupted.error_type is not None
    assert interrupted.error_type.endswith("LeaseExpired")
    assert f":{victim.pid}:" in (interrupted.error_message or "")

    # Without a retry policy the cut-off run is recorded and not run again.
    assert [(run.attempt, run.outcome) for run in not_retried] == [(1, Outcome.INTERRUPTED)]
    assert not_retried[0].error_type is not None
    assert not_retried[0].error_type.endswith("LeaseExpired")
    assert [ran.attempt for ran in workers.runs_of("not-retried")] == [1]
    assert lease_rows(workers.db) == 0


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGKILL on Windows")
def test_a_one_off_run_cut_off_by_kill_9_is_retried_by_its_policy(workers: Workers) -> None:
    # A date job has no fire time left once its run is claimed; the retry policy of the
    # cut-off run must still apply in the process that takes it over.
    run_date = datetime.now(UTC)
    victim = _blocked_worker(workers, "one-off-blocker", ["one-off"], run_date=run_date.isoformat())
    survivor = _survivor(workers)
    try:
        _kill(victim)
        wait_for(
            lambda: survivor.history("one-off") != [],
            LEASE + 6,
            "the survivor to take over the cut-off run",
        )
        wait_for(
            lambda: any(ran.attempt == 2 for ran in workers.runs_of("one-off")),
            3,
            "the survivor to retry the cut-off one-off run (attempt 2)",
        )
        # The run log is written by the job; its history row only once the survivor has
        # taken in the result, a moment later.
        wait_for(
            lambda: len(survivor.history("one-off")) >= 2,
            3,
            "the history row of the retry",
        )
        history = survivor.history("one-off")
    finally:
        survivor.shutdown(wait=True)
    assert [(run.attempt, run.outcome) for run in history] == [
        (2, Outcome.SUCCESS),
        (1, Outcome.INTERRUPTED),
    ]
    assert [(ran.attempt, ran.scheduled_at) for ran in workers.runs_of("one-off")] == [
        (1, run_date),
        (2, run_date),
    ]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_process_killed_mid_run_is_taken_over_within_seconds_not_a_lease(
    workers: Workers,
) -> None:
    # Default lease_time (30 s), poll_interval 1 s: on one machine the survivor sees at
    # its next poll that the holder is dead, and does not wait for the lease to expire.
    victim = workers.spawn("serve", workers.config(jobs="blockers", store={"poll_interval": 1}))
    wait_for(
        lambda: (
            {ran.job_id for ran in workers.runs() if ran.pid == victim.pid}
            >= {"retried", "not-retried"}
        ),
        STARTUP,
        "the blocking runs to start in the worker",
        workers,
    )
    survivor = Scheduler(store=SQLiteStore(workers.db, poll_interval=1), timezone="UTC")
    # Another job of the survivor's keeps firing throughout: none of its fires is lost.
    survivor.add_job(f"{HERE}:record", "interval", seconds=0.2, start_date=GRID,
                     args=[str(workers.log_dir)], id="tick")  # fmt: skip
    survivor.start()
    try:
        wait_for(lambda: len(workers.runs_of("tick")) >= 2, STARTUP, "the survivor's job")
        killed = _kill(victim)
        wait_for(
            lambda: any(ran.attempt == 2 for ran in workers.runs_of("retried")),
            10,
            "the survivor to retry the cut-off run",
        )
        took = time.monotonic() - killed
        wait_for(lambda: len(survivor.history("not-retried")) == 1, 3, "the history row")
        retried = survivor.history("retried")
        not_retried = survivor.history("not-retried")
        after = time.time()
        wait_for(lambda: time.time() > after + 0.5, 2, "a few more ticks")
    finally:
        survivor.shutdown(wait=True)
    assert took < 5, f"taken over {took:.1f} s after the kill (poll_interval 1 s)"
    assert [(run.attempt, run.outcome) for run in retried][-1] == (1, Outcome.INTERRUPTED)
    assert "died" in (retried[-1].error_message or "")
    assert [(run.attempt, run.outcome) for run in not_retried] == [(1, Outcome.INTERRUPTED)]
    ticks = workers.runs_of("tick")
    assert not gaps(ticks, timedelta(seconds=0.2)), "the survivor lost fires of its own job"


# -- 3. restart ---------------------------------------------------------------------------


def test_a_new_process_finds_the_jobs_of_one_that_exited(workers: Workers) -> None:
    config = workers.config(jobs="kept")
    first_out, second_out = workers.dir / "first.json", workers.dir / "second.json"
    workers.run("describe", {**config, "out": str(first_out)})
    workers.run("describe", {**config, "out": str(second_out)})
    first = json.loads(first_out.read_text())
    second = json.loads(second_out.read_text())

    assert first["stored"] == []
    added = first["again"]
    assert sorted(job["id"] for job in added) == ["cron", "date", "interval", "paused"]
    assert first["loaded"] == added
    # The new process sees the jobs as stored: same ids, triggers, next fire times...
    assert second["stored"] == added
    # ... and adding them again at start-up (replace_existing=True) changes nothing.
    assert second["again"] == added
    assert second["loaded"] == added


def test_fire_times_missed_while_no_process_ran_follow_each_jobs_policy(
    workers: Workers,
) -> None:
    # Simulated time, real processes: the first adds jobs due every minute from T0 + 1
    # min and exits; the second starts 10 min 10 s later, adds them again (as every
    # start-up does) and dispatches once.
    t0 = datetime(2024, 6, 3, 12, tzinfo=UTC)
    start = t0 + timedelta(minutes=1)
    config = workers.config(jobs="backlog", start=start.isoformat())
    workers.run("simulate", {**config, "now": t0.isoformat()})
    assert workers.runs() == []
    later = t0 + timedelta(minutes=10, seconds=10)
    workers.run("simulate", {**config, "now": later.isoformat()})

    backlog = [start + timedelta(minutes=n) for n in range(10)]
    ran = workers.runs()
    assert len({r.pid for r in ran}) == 1
    assert [r.scheduled_at for r in ran if r.job_id == "all"] == backlog
    assert [r.scheduled_at for r in ran if r.job_id == "coalesced"] == [backlog[-1]]
    assert [r.scheduled_at for r in ran if r.job_id == "graced"] == []

    store = SQLiteStore(workers.db)
    try:
        history = {job_id: store.history(job_id) for job_id in ("all", "coalesced", "graced")}
        next_fires = {job.id: job.next_fire for job in store.get_jobs()}
    finally:
        store.close()
    assert [(r.outcome, r.scheduled_at) for r in reversed(history["all"])] == [
        (Outcome.SUCCESS, moment) for moment in backlog
    ]
    # A missed backlog is one history row at its first fire time, saying how many.
    coalesced = [(r.outcome, r.scheduled_at) for r in reversed(history["coalesced"])]
    assert coalesced == [(Outcome.MISSED, backlog[0]), (Outcome.SUCCESS, backlog[-1])]
    assert "9" in (history["coalesced"][-1].error_message or "")
    (graced,) = history["graced"]
    assert (graced.outcome, graced.scheduled_at) == (Outcome.MISSED, backlog[0])
    assert "10" in (graced.error_message or "")
    assert next_fires == dict.fromkeys(
        ("all", "coalesced", "graced"), later + timedelta(seconds=50)
    )


# -- 4. changes reach the other processes -------------------------------------------------


def test_a_change_made_in_one_process_reaches_the_others(workers: Workers) -> None:
    every = 0.1
    manager = Scheduler(store=SQLiteStore(workers.db, poll_interval=POLL), timezone="UTC")
    job = {
        "func": f"{HERE}:record",
        "trigger": "interval",
        "seconds": every,
        "start_date": GRID,
        "args": [str(workers.log_dir)],
        "max_instances": 10,
    }
    manager.add_job(**job, id="ticker")
    manager.add_job(**job, id="doomed")
    # This process manages the jobs and runs none of them.
    manager.start(paused=True)
    try:
        config = workers.config(store={"poll_interval": POLL})
        procs = [workers.spawn("serve", config) for _ in range(2)]
        workers.wait_ready(procs)
        up = time.time()
        wait_for(
            lambda: all(
                sum(r.started > up for r in workers.runs_of(job_id)) >= 3
                for job_id in ("ticker", "doomed")
            ),
            5,
            "both jobs to run in the workers",
            workers,
        )

        manager.pause_job("ticker")
        manager.remove_job("doomed")
        run_date = datetime.now(UTC) + timedelta(seconds=0.3)
        manager.add_job(f"{HERE}:record", "date", run_date=run_date, id="fresh",
                        args=[str(workers.log_dir)])  # fmt: skip
        changed = time.time()
        wait_for(lambda: workers.runs_of("fresh") != [], POLL + 5, "a worker to run the new job")
        # A worker checks for changes before it dispatches, at least every POLL seconds:
        # no fire due after changed + POLL may run, however busy the machine. (A fire
        # due before that may still run late.) Give such a run time to show up.
        settled = changed + POLL + 0.01
        wait_for(lambda: time.time() > settled + 5 * every, 3, "the observation window")
        for job_id in ("ticker", "doomed"):
            late = [r for r in workers.runs_of(job_id) if r.scheduled_at.timestamp() > settled]
            assert not late, f"{job_id} still ran {len(late)} time(s) after the change"

        manager.resume_job("ticker")
        resumed = time.time()
        wait_for(
            lambda: any(r.started > resumed for r in workers.runs_of("ticker")),
            POLL + 2,
            "the resumed job to run again",
        )
    finally:
        manager.shutdown(wait=True)
    workers.stop()

    (fresh,) = workers.runs_of("fresh")
    assert fresh.scheduled_at == run_date
    runs = workers.runs()
    assert not duplicates(runs), twice(runs)
    assert [r.job_id for r in runs if r.pid == os.getpid()] == []
