"""Events across processes on one SQLite file: each event runs its job exactly once,
whichever process emitted it, even when the emitting process dies right after ``emit``.

The workers are in :mod:`tests.event_workers`; each logs the runs of its process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import pg
from tests.dbfile import connect
from tests.event_workers import HERE, READY

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 20.0


class Workers:
    def __init__(self, directory: Path, db: str, **extra: Any) -> None:
        self.dir = directory
        self.log_dir = directory / "runs"
        self.log_dir.mkdir()
        self.stop_file = directory / "stop"
        self.db = db
        self.extra = extra
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, mode: str, **config: Any) -> subprocess.Popen[bytes]:
        path = os.pathsep.join(
            filter(None, [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH")])
        )
        full = {
            "db": self.db,
            "log_dir": str(self.log_dir),
            "stop": str(self.stop_file),
            **self.extra,
            **config,
        }
        err = self.dir / f"worker-{len(self.procs)}.err"
        with err.open("wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-W", "error", "-m", HERE, mode, json.dumps(full)],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": path},
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        self.procs.append(proc)
        return proc

    def errors(self) -> str:
        return "\n".join(
            err.read_text(errors="replace") for err in sorted(self.dir.glob("worker-*.err"))
        )

    def wait_ready(self, *procs: subprocess.Popen[bytes]) -> None:
        def ready() -> bool:
            return all((self.log_dir / READY.format(pid=p.pid)).exists() for p in procs)

        wait_for(ready, "the workers to start", self)

    def runs(self) -> list[tuple[str, int, int]]:
        found = []
        for log in sorted(self.log_dir.glob("*.log")):
            for line in log.read_text().splitlines():
                event_id, n, pid = line.split()
                found.append((event_id, int(n), int(pid)))
        return found

    def stop(self) -> None:
        self.stop_file.touch()
        for proc in self.procs:
            if proc.returncode is not None and proc.returncode < 0:
                continue  # killed on purpose
            code = proc.wait(TIMEOUT)
            assert code == 0, f"worker {proc.pid} exited with {code}:\n{self.errors()}"
        errors = self.errors()
        assert "Traceback" not in errors, errors
        assert "ERROR" not in errors, errors

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def wait_for(condition: Callable[[], bool], what: str, workers: Workers) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{workers.errors()}")
        time.sleep(0.02)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    team = Workers(tmp_path, str(tmp_path / "jobs.db"))
    try:
        yield team
    finally:
        team.kill_all()


def check_two_processes_emitting(workers: Workers, per_process: int) -> None:
    """Two serving processes each emit *per_process* events while a third process
    writes *per_process* more through ``tickwork emit`` (which the two race to take):
    every event runs the job once, in all."""
    first = workers.spawn("serve", emit=per_process)
    workers.wait_ready(first)  # (the first creates the file and the job)
    second = workers.spawn("serve", emit=per_process)
    workers.wait_ready(second)
    writer = workers.spawn("write", first=1000, count=per_process)
    assert writer.wait(TIMEOUT) == 0, workers.errors()
    total = 3 * per_process
    wait_for(lambda: len(workers.runs()) >= total, "all the runs", workers)
    time.sleep(0.3)  # several polls: a doubled run would show now
    workers.stop()
    runs = workers.runs()
    per_event = Counter(event_id for event_id, _, _ in runs)
    assert len(per_event) == total, "lost events"
    assert set(per_event.values()) == {1}, "an event ran its job twice"
    written = list(range(1000, 1000 + per_process))
    assert sorted(n for _, n, _ in runs) == sorted(list(range(per_process)) * 2 + written)
    # Both serving processes ran some of the written events (they raced for them).
    pids = {pid for _, n, pid in runs if n >= 1000}
    assert pids <= {first.pid, second.pid}


def test_events_emitted_by_two_processes_each_run_the_job_once(workers: Workers) -> None:
    check_two_processes_emitting(workers, 100)


def check_emitter_killed(workers: Workers, open_slots: Callable[[], int]) -> None:
    """The emitting process is killed the moment emit returns (its run of the job had
    started there, and never ends): another process runs it, once."""
    survivor = workers.spawn("serve")
    workers.wait_ready(survivor)
    victim = workers.spawn("emit_and_die", n=7)
    assert victim.wait(TIMEOUT) == -signal.SIGKILL
    wait_for(lambda: len(workers.runs()) == 1, "the survivor to take the run over", workers)
    time.sleep(0.3)  # several polls: a doubled run would show now
    workers.stop()
    runs = workers.runs()
    assert [(n, pid) for _, n, pid in runs] == [(7, survivor.pid)]
    assert open_slots() == 0


def test_an_event_whose_emitter_is_killed_after_emit_runs_once_elsewhere(
    workers: Workers,
) -> None:
    def open_slots() -> int:
        with connect(workers.db) as conn:
            return int(conn.execute("SELECT count(*) FROM event_runs WHERE done = 0").fetchone()[0])

    check_emitter_killed(workers, open_slots)


def check_burst_killed(workers: Workers) -> None:
    """The emitting process is killed in the middle of a debounced burst: the process
    that takes its events over runs the job once, with the burst's last event (it ran
    it once per event of the burst: the dropped events' slots were marked done only at
    the next upkeep, up to a second later)."""
    survivor = workers.spawn("serve", debounce=0.5)
    workers.wait_ready(survivor)
    victim = workers.spawn("burst_and_die", debounce=0.5, count=20)
    assert victim.wait(TIMEOUT) == -signal.SIGKILL
    wait_for(lambda: len(workers.runs()) >= 1, "the survivor to take the burst over", workers)
    time.sleep(1.2)  # past another debounce: a second run would show now
    workers.stop()
    assert [(n, pid) for _, n, pid in workers.runs()] == [(19, survivor.pid)]


def test_a_debounced_burst_whose_emitter_is_killed_runs_once_elsewhere(
    workers: Workers,
) -> None:
    check_burst_killed(workers)


# -- the same with PostgreSQL ---------------------------------------------------------------


pg_schema = pg.pg_schema


@pytest.fixture
def pg_workers(tmp_path: Path, pg_schema: str) -> Iterator[Workers]:
    team = Workers(tmp_path, pg.dsn(), schema=pg_schema)
    try:
        yield team
    finally:
        team.kill_all()


def test_postgres_events_emitted_by_two_processes_each_run_the_job_once(
    pg_workers: Workers,
) -> None:
    check_two_processes_emitting(pg_workers, 30)


def test_postgres_an_event_whose_emitter_is_killed_after_emit_runs_once_elsewhere(
    pg_workers: Workers, pg_schema: str
) -> None:
    import psycopg

    def open_slots() -> int:
        with psycopg.connect(pg.dsn()) as conn:
            row = conn.execute(
                f'SELECT count(*) FROM "{pg_schema}".event_runs WHERE NOT done'
            ).fetchone()
        assert row is not None
        return int(row[0])

    check_emitter_killed(pg_workers, open_slots)


def test_postgres_a_debounced_burst_whose_emitter_is_killed_runs_once_elsewhere(
    pg_workers: Workers,
) -> None:
    check_burst_killed(pg_workers)


#: The notify test's run: an Event to set, then the payloads seen.
NOTIFIED: list[Any] = []


def notified_job() -> None:
    from tickwork import current_run

    event = current_run().event
    NOTIFIED.append(None if event is None else event.payload)
    NOTIFIED[0].set()


def test_postgres_notify_wakes_a_scheduler_for_an_event_from_outside(pg_schema: str) -> None:
    """A scheduler that would poll only every 10 s runs the job of an event written by
    ``tickwork emit`` at once: the write's NOTIFY wakes it."""
    import io
    import threading

    from tickwork import EventTrigger, Scheduler
    from tickwork.cli import main
    from tickwork.stores import PostgresStore

    NOTIFIED.clear()
    ran = threading.Event()
    NOTIFIED.append(ran)
    scheduler = Scheduler(store=PostgresStore(pg.dsn(), schema=pg_schema, poll_interval=10))
    scheduler.add_job(notified_job, EventTrigger("order.created"), id="j")
    scheduler.start()
    try:
        time.sleep(0.2)  # (the first poll at start is behind it)
        began = time.monotonic()
        argv = ["emit", pg.dsn(), "order.created", "--schema", pg_schema, "--payload", "[7]"]
        assert main(argv, out=io.StringIO()) == 0
        assert ran.wait(10), "the event's job did not run"
        took = time.monotonic() - began
    finally:
        scheduler.shutdown()
    assert NOTIFIED[1:] == [[7]]
    assert took < 3, f"took {took:.2f} s: woken by the poll, not by NOTIFY"


# -- two schedulers on one store, emitting at one instant ---------------------------------

#: The runs of :func:`traced`: (job id, run id, parent run ids, event payload or None).
TRACED: list[tuple[str, str, tuple[str, ...], Any]] = []


def traced() -> None:
    from tickwork import current_run

    run = current_run()
    parents = tuple(sorted(up.run_id for up in run.upstream.values()))
    TRACED.append((run.job_id, run.run_id, parents,
                   None if run.event is None else run.event.payload))  # fmt: skip


@pytest.fixture(params=["sqlite", "postgres"])
def store_objects(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    """Makes store objects on one SQLite file or one PostgreSQL schema (two stand for
    two processes); closes them after the test."""
    from tickwork.stores import PostgresStore, SQLiteStore

    made: list[Any] = []

    def make() -> Any:
        if request.param == "sqlite":
            store: Any = SQLiteStore(tmp_path / "jobs.db")
        else:
            store = PostgresStore(pg.dsn(), schema=request.getfixturevalue("pg_tables"))
        made.append(store)
        return store

    if request.param == "postgres":
        pg.require()
    yield make
    for store in made:
        store.close()


pg_tables = pg.pg_tables


@pytest.mark.parametrize("with_cron", [False, True], ids=["event", "cron-or-event"])
def test_two_schedulers_emitting_at_one_instant_run_each_event_and_its_chain_once(
    store_objects: Callable[[], Any], with_cron: bool
) -> None:
    """Two processes whose clocks read the same microsecond each emit an event: the
    runs of the listening job get distinct instants (and run ids), and the job that
    runs after it runs once after each of them (a shared instant made their two
    hand-overs one, and one downstream run was lost on PostgreSQL). With a cron fire
    at that instant too (an ``OrTrigger``), the first event's run moves a microsecond
    off the fire, and the other process's event is stored clear of it."""
    from datetime import datetime, timezone

    from tickwork import CronTrigger, EventTrigger, OrTrigger, Scheduler
    from tickwork.executors import InlineExecutor
    from tickwork.testing import FakeClock

    at = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    TRACED.clear()
    schedulers = [
        Scheduler(
            clock=FakeClock(at),
            store=store_objects(),
            executors={"default": InlineExecutor()},
            timezone="UTC",
        )
        for _ in range(2)
    ]
    job = f"{__name__}:traced"
    trigger: Any = EventTrigger("ping")
    if with_cron:
        trigger = OrTrigger([CronTrigger("0 12 * * *", timezone="UTC"), trigger])
    schedulers[0].add_job(job, trigger, id="listen", start=at)
    schedulers[0].add_job(job, after="listen", id="down")
    try:
        for scheduler in schedulers:
            scheduler.open()
        emitted = [scheduler.emit("ping", n) for n, scheduler in enumerate(schedulers)]
        for _ in range(2):
            for scheduler in schedulers:
                scheduler.process_due()
        assert len({event.emitted_at for event in emitted}) == 2
        listen = [run for run in TRACED if run[0] == "listen"]
        down = [run for run in TRACED if run[0] == "down"]
        expected = [None, 0, 1] if with_cron else [0, 1]
        assert sorted((run[3] for run in listen), key=str) == sorted(expected, key=str), listen
        assert len({run[1] for run in listen}) == len(expected), listen
        assert sorted(run[2] for run in down) == sorted((run[1],) for run in listen), down
        assert len({run[1] for run in down}) == len(expected), down
        history = schedulers[0].history("listen")
        assert len({run.run_id for run in history}) == len(history) == len(expected)
    finally:
        for scheduler in schedulers:
            scheduler.shutdown()
        TRACED.clear()


#: What :func:`noted_event` saw: (scheduled_at, its event's emitted_at) per run.
NOTED: list[tuple[Any, Any]] = []


def noted_event() -> None:
    from tickwork import current_run

    run = current_run()
    assert run.event is not None
    NOTED.append((run.scheduled_at, run.event.emitted_at))


def test_an_event_after_another_process_clock_ahead_keeps_its_own_instant(
    store_objects: Callable[[], Any],
) -> None:
    """A process whose clock is an hour ahead (or a test's FakeClock left at a later
    time on the file) emits; then a process with a right clock emits at 12:00. Its event
    is stored at 12:00 (it was stored after the other, at 13:00: every event of every
    process stayed an hour on until the clocks caught up), so the run of a job whose
    ``end`` is 12:30 is scheduled at 12:00, not after its end."""
    from datetime import datetime, timedelta, timezone

    from tickwork import EventTrigger, Scheduler
    from tickwork.executors import InlineExecutor
    from tickwork.testing import FakeClock

    noon = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)

    def scheduler(at: datetime) -> Scheduler:
        return Scheduler(
            clock=FakeClock(at),
            store=store_objects(),
            executors={"default": InlineExecutor()},
            timezone="UTC",
        )

    ahead, right = scheduler(noon + timedelta(hours=1)), scheduler(noon)
    end = noon + timedelta(minutes=30)
    right.add_job(f"{__name__}:noted_event", EventTrigger("order"), id="plain", end=end)
    NOTED.clear()
    try:
        ahead.open()
        assert ahead.emit("ping", {}).emitted_at == noon + timedelta(hours=1)
        right.open()
        event = right.emit("order", {"n": 1})
        right.process_due()
        assert event.emitted_at == noon
        assert NOTED[:] == [(noon, noon)]
        [run] = right.history("plain")
        assert run.scheduled_at == run.started_at == noon
        assert run.scheduled_at <= end
    finally:
        for each in (ahead, right):
            each.shutdown()
        NOTED.clear()
