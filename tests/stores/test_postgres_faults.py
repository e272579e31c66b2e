"""Faults against the real PostgreSQL server: what a ``PostgresStore`` promises when
processes die, connections are cut, the server restarts, locks are held, the pool runs
dry, and hosts' clocks are wrong.

Worker processes (:mod:`tests.stores.pg_workers`) write each run as a row of a log
table, in a schema of the test's own beside the store's, so a test counts runs exactly:
every fire of a stream of interval jobs on a fixed grid must have run, and no (job,
fire, attempt) twice. The tests wait on conditions with deadlines, never on sleeps
alone, and kill every worker they started, whatever happens.

``test_the_server_restarted_mid_load`` restarts the shared server: it is marked
``pg_restart`` so a developer can deselect it (``-m "not pg_restart"``) while others
use the server; CI runs it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tickwork import Event, EventKind, Scheduler, StoreError
from tickwork.stores import PostgresStore

from .. import pg
from .pg_workers import EVENTS, HERE, JOB_SETS, LOG_TABLE, READY, SkewedClock

#: A fresh schema per test (the fixture of tests/pg.py).
pg_schema = pg.pg_schema

UTC = timezone.utc
ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "postgres.md"
#: Start-up or shut-down of a worker interpreter on a slow, busy machine: only a limit
#: for a failing test, never waited out by a passing one.
STARTUP = 60.0
#: The store options of every worker: short leases, quick polling.
STORE = {"lease_time": 2.0, "poll_interval": 0.5, "lock_timeout": 2.0}


@dataclass(frozen=True)
class Ran:
    """One row of the log table: one run."""

    job_id: str
    scheduled_at: datetime
    attempt: int
    pid: int
    started: datetime


def wait_for(what: str, done: Callable[[], bool], timeout: float) -> float:
    """Poll *done* until it is true; return the seconds that took; fail after *timeout*."""
    began = time.monotonic()
    while not done():
        if time.monotonic() - began > timeout:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - began


def connect(**options: Any) -> Any:
    import psycopg

    return psycopg.connect(pg.dsn(), autocommit=True, **options)


@pytest.fixture
def log_table(pg_schema: str) -> Iterator[str]:
    """The log table runs are written to, in a schema beside the store's (a store
    refuses a schema holding tables of another application)."""
    log_schema = f"{pg_schema}_log"
    table = f'"{log_schema}".ran'
    with connect() as conn:
        conn.execute(f'CREATE SCHEMA "{log_schema}"')
        conn.execute(LOG_TABLE.format(table=table))
    yield table
    pg.drop_schema(log_schema)


def runs(table: str) -> list[Ran]:
    with connect() as conn:
        rows = conn.execute(
            f"SELECT job_id, scheduled_at, attempt, pid, started FROM {table} "
            "ORDER BY scheduled_at, job_id, attempt"
        ).fetchall()
    return [Ran(*row) for row in rows]


class Workers:
    """Starts worker processes on one schema; stops or kills them all."""

    def __init__(self, directory: Path, schema: str, table: str, **config: Any) -> None:
        self.dir = directory
        self.config = {"dsn": pg.dsn(), "schema": schema, "log": table, "dir": str(directory)}
        self.config |= {"store": STORE, **config}
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, count: int = 1, **config: Any) -> list[int]:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
        started = []
        for _ in range(count):
            settings = json.dumps({**self.config, **config})
            with open(self.dir / f"stderr-{len(self.procs)}", "wb") as errors:
                proc = subprocess.Popen(
                    [sys.executable, "-m", HERE, settings], cwd=ROOT, env=env, stderr=errors
                )
            self.procs.append(proc)
            started.append(proc.pid)
        for pid in started:
            ready = self.dir / READY.format(pid=pid)
            try:
                wait_for(f"worker {pid} to start", lambda ready=ready: self._alive(ready), STARTUP)
            except pytest.fail.Exception:
                os.kill(pid, signal.SIGUSR1)  # its threads' stacks, to its stderr
                time.sleep(0.5)
                pytest.fail(f"worker {pid} did not start in {STARTUP:g} s:\n{self.errors()}")
        return started

    def add_jobs(self, jobs: str, **config: Any) -> datetime:
        """Add the job set *jobs* from this process, as a deployment script would (the
        workers, already running, learn of them by NOTIFY or their next poll: a grid
        that starts after they are up does not depend on how long they took to start).

        Returns the moment the jobs were added. A job's first fire is its first at or
        after the moment it is added, so on a machine slow enough for the adding to
        end after the grid's start, the fires before that moment never were due:
        :func:`check_stream` requires the fires from this moment on.
        """
        settings = {**self.config, **config}
        began = time.monotonic()
        store = PostgresStore(pg.dsn(), schema=settings["schema"])
        scheduler = Scheduler(store=store, timezone="UTC")
        try:
            scheduler.add_jobs(JOB_SETS[jobs](settings))
        finally:
            scheduler.shutdown()
        took = time.monotonic() - began
        if took > 0.25:
            print(f"adding the jobs took {took:.2f} s")
        return datetime.now(UTC)

    def _alive(self, ready: Path) -> bool:
        for proc in self.procs:
            if proc.poll() not in (None, -signal.SIGKILL):
                pytest.fail(f"worker {proc.pid} exited with {proc.returncode}:\n{self.errors()}")
        return ready.exists()

    def errors(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.dir.glob("stderr-*")))

    def events(self, pid: int) -> list[str]:
        path = self.dir / EVENTS.format(pid=pid)
        return path.read_text().splitlines() if path.exists() else []

    def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        next(proc for proc in self.procs if proc.pid == pid).wait(STARTUP)

    def stop(self) -> None:
        (self.dir / "stop").touch()
        for proc in self.procs:
            status = proc.wait(STARTUP)
            assert status in (0, -signal.SIGKILL), f"worker {proc.pid}: {self.errors()}"

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(STARTUP)


@pytest.fixture
def workers(tmp_path: Path, pg_schema: str, log_table: str) -> Iterator[Workers]:
    pool = Workers(tmp_path, pg_schema, log_table)
    try:
        yield pool
    finally:
        pool.kill_all()


def grid_start(ahead: float = 1.0) -> datetime:
    """A start for the grid of interval jobs, *ahead* seconds from now, on a whole
    tenth of a second (every process computes the same fire times from it)."""
    moment = datetime.now(UTC) + timedelta(seconds=ahead)
    return moment.replace(microsecond=moment.microsecond // 100_000 * 100_000)


def fires(start: datetime, every: float, until: datetime) -> list[datetime]:
    """The fire times of an interval job from *start* up to *until*."""
    out = []
    moment = start
    while moment <= until:
        out.append(moment)
        moment = start + timedelta(seconds=every * len(out))
    return out


def check_stream(
    rows: list[Ran],
    start: datetime,
    until: datetime,
    every: list[float],
    killed: frozenset[int] = frozenset(),
    added: datetime | None = None,
) -> None:
    """Every fire up to *until* of each stream job ran, and no fire ran twice: each
    (job, fire, attempt) once, and a second attempt only where a killed process was
    running the first (the job's retry policy runs an interrupted run again).

    *added*: when the jobs were added (:meth:`Workers.add_jobs`); fires of the grid
    before it were never due, and are not required."""
    counts = Counter((row.job_id, row.scheduled_at, row.attempt) for row in rows)
    doubled = sorted(key for key, n in counts.items() if n > 1)
    assert not doubled, f"runs doubled: {doubled}"
    by_fire: dict[tuple[str, datetime], list[Ran]] = {}
    for row in rows:
        by_fire.setdefault((row.job_id, row.scheduled_at), []).append(row)
    for seconds in every:
        job = f"every-{seconds}"
        due = [t for t in fires(start, seconds, until) if added is None or t >= added]
        assert due, f"{job}: no fire between {start} and {until} to check"
        missing = [t for t in due if (job, t) not in by_fire]
        assert not missing, f"{job}: fires lost: {[t.isoformat() for t in missing]}"
    for (job, moment), attempts in by_fire.items():
        if job == "blocker" or len(attempts) == 1:
            continue
        first = [row for row in attempts if row.attempt == 1]
        assert first, f"{job} at {moment}: no first attempt but {attempts}"
        assert first[0].pid in killed, f"{job} at {moment} ran again with no reason: {attempts}"


def client_ports(pid: int) -> set[int]:
    """The local TCP ports of process *pid*'s sockets (its connections to the server):
    a process is told from the server's side by the ports its connections come from."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            with_link = os.readlink(fd) if fd.is_symlink() else ""
        except FileNotFoundError:  # (closed since the listing: no connection of it)
            continue
        found = re.fullmatch(r"socket:\[(\d+)\]", with_link)
        if found:
            inodes.add(found.group(1))
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def terminate_backends_of(pid: int) -> int:
    """``pg_terminate_backend`` on every connection of process *pid*; how many."""
    ports = sorted(client_ports(pid))
    with connect() as conn:
        done = conn.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE client_port = ANY(%s) AND pid <> pg_backend_pid()",
            (ports,),
        ).fetchone()
    return 0 if done is None else int(done[0])


# -- processes die, connections are cut, the server restarts -----------------------------


def test_kill_9_mid_run_the_survivor_takes_over_at_once_and_retries(workers: Workers) -> None:
    # A lease of 5 s, renewed every 5/3 s, expires 3.3 s or more after the kill: a
    # takeover sooner than that came from the advisory lock, not from expiry.
    pids = workers.start(2, store={**STORE, "lease_time": 5.0})
    start = grid_start(0.3)
    run_date = start + timedelta(seconds=0.5)
    added = workers.add_jobs("with-blocker", start=start.isoformat(), run_date=run_date.isoformat())
    table = workers.config["log"]

    def blocker(attempt: int) -> list[Ran]:
        return [r for r in runs(table) if r.job_id == "blocker" and r.attempt == attempt]

    wait_for("the blocker's first attempt", lambda: bool(blocker(1)), 10)
    (first,) = blocker(1)
    victim = first.pid
    assert victim in pids
    workers.kill(victim)
    killed_at = datetime.now(UTC)
    took = wait_for("the blocker's retry on the survivor", lambda: bool(blocker(2)), 10)
    (second,) = blocker(2)
    (survivor,) = set(pids) - {victim}
    assert second.pid == survivor
    # Its advisory lock went with its connections: no waiting out the lease.
    assert took < 3, f"taken over after {took:.2f} s"
    print(f"kill -9: the blocked run was retried by the survivor {took:.2f} s after the kill")
    # The stream goes on on the survivor; then stop and count.
    until = datetime.now(UTC) + timedelta(seconds=1)
    # A fire due just before *until* may not have started when the clock passes it: count
    # up to *until*, stop a second later.
    wait_for(
        "the stream to pass the check point",
        lambda: datetime.now(UTC) > until + timedelta(seconds=1),
        6,
    )
    later = [r for r in runs(table) if r.started > killed_at + timedelta(seconds=0.5)]
    assert later
    assert {r.pid for r in later} == {survivor}
    workers.stop()
    check_stream(
        runs(table), start, until, [0.25, 0.3, 0.4, 0.5], killed=frozenset({victim}), added=added
    )


def test_terminated_connections_are_replaced_and_nothing_is_doubled(workers: Workers) -> None:
    pids = workers.start(2)
    start = grid_start(0.3)
    added = workers.add_jobs("stream", start=start.isoformat())
    table = workers.config["log"]
    wait_for("runs", lambda: len(runs(table)) >= 10, 10)
    victim = pids[0]
    cut = datetime.now(UTC)
    assert terminate_backends_of(victim) >= 1

    # Runs claimed before the cut may still start just after it: count from later.
    def resumed(after: datetime = cut + timedelta(seconds=0.5)) -> bool:
        return any(r.pid == victim and r.started > after for r in runs(table))

    took = wait_for(f"worker {victim} to run jobs again", resumed, 15)
    print(f"pg_terminate_backend: worker ran jobs again after {took:.2f} s")
    until = datetime.now(UTC)
    wait_for("one more second", lambda: datetime.now(UTC) > until + timedelta(seconds=1), 5)
    workers.stop()
    check_stream(runs(table), start, until, [0.25, 0.3, 0.4, 0.5], added=added)


def test_a_worker_alone_resumes_at_once_after_its_connections_are_cut(workers: Workers) -> None:
    """With no peer to take the fires, the cut process itself must catch up: each fire
    runs, late by about the scheduler's one-second retry, none twice."""
    (victim,) = workers.start(1)
    start = grid_start(0.3)
    added = workers.add_jobs("stream", start=start.isoformat())
    table = workers.config["log"]
    wait_for("runs", lambda: len(runs(table)) >= 5, 10)
    for _ in range(2):
        cut = datetime.now(UTC)
        assert terminate_backends_of(victim) >= 1

        def resumed(after: datetime = cut + timedelta(seconds=0.5)) -> bool:
            return any(r.started > after for r in runs(table))

        took = wait_for("the worker to run jobs again", resumed, 5)
        print(f"pg_terminate_backend, alone: ran jobs again {took:.2f} s after the cut")
        assert took < 3
    until = datetime.now(UTC)
    wait_for("one more second", lambda: datetime.now(UTC) > until + timedelta(seconds=1), 5)
    workers.stop()
    check_stream(runs(table), start, until, [0.25, 0.3, 0.4, 0.5], added=added)


def _cluster() -> list[str]:
    """The command that restarts the local server, or skip when there is none."""
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        pytest.skip("no pg_ctlcluster: the server is not a local Debian cluster")
    (version,) = sorted(os.listdir("/etc/postgresql"))[-1:]
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"]


@pytest.mark.pg_restart
def test_the_server_restarted_mid_load(workers: Workers) -> None:
    command = _cluster()
    pids = workers.start(2)
    start = grid_start(0.3)
    added = workers.add_jobs("stream", start=start.isoformat())
    table = workers.config["log"]
    wait_for("runs", lambda: len(runs(table)) >= 10, 10)
    began = time.monotonic()
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    down = time.monotonic() - began
    back = datetime.now(UTC)

    def both_resumed() -> bool:
        return {r.pid for r in runs(table) if r.started > back} == set(pids)

    took = wait_for("both workers to run jobs again", both_resumed, 20)
    print(f"restart: the server was down {down:.2f} s; both ran jobs {took:.2f} s after")
    until = datetime.now(UTC)
    wait_for("one more second", lambda: datetime.now(UTC) > until + timedelta(seconds=1), 5)
    workers.stop()
    check_stream(runs(table), start, until, [0.25, 0.3, 0.4, 0.5], added=added)
    for pid in pids:
        errors = [line for line in workers.events(pid) if line.startswith("STORE_ERROR")]
        assert errors, f"worker {pid} reported no STORE_ERROR while the server was down"


# -- locks, timeouts, a full pool, a cut LISTEN connection --------------------------------


@pytest.fixture
def store_on(pg_schema: str) -> Iterator[Callable[..., PostgresStore]]:
    """Stores on the test's schema (opened), all closed after the test."""
    made: list[PostgresStore] = []

    def make(dsn_or_pool: Any = None, **options: Any) -> PostgresStore:
        store = PostgresStore(pg.dsn() if dsn_or_pool is None else dsn_or_pool, schema=pg_schema,
                              **options)  # fmt: skip
        made.append(store)
        store.open()
        return store

    yield make
    for store in made:
        store.close()


class Held:
    """``LOCK TABLE <schema>.jobs IN ACCESS EXCLUSIVE MODE`` in a transaction of another
    connection, until :meth:`release`."""

    def __init__(self, schema: str) -> None:
        self.conn = connect()
        self.conn.execute("BEGIN")
        self.conn.execute(f'LOCK TABLE "{schema}".jobs IN ACCESS EXCLUSIVE MODE')

    def release(self) -> None:
        if not self.conn.closed:
            self.conn.execute("ROLLBACK")
            self.conn.close()


@pytest.fixture
def lock_jobs(pg_schema: str) -> Iterator[Callable[[], Held]]:
    held: list[Held] = []

    def take() -> Held:
        held.append(Held(pg_schema))
        return held[-1]

    yield take
    for lock in held:
        lock.release()


def test_a_held_lock_fails_a_call_within_lock_timeout_naming_the_wait(
    store_on: Callable[..., PostgresStore], lock_jobs: Callable[[], Held]
) -> None:
    store = store_on(lock_timeout=1.0, statement_timeout=10.0)
    lock_jobs()
    began = time.monotonic()
    with pytest.raises(StoreError, match="lock") as caught:
        store.get_jobs()
    took = time.monotonic() - began
    assert 0.9 < took < 3, f"failed after {took:.2f} s"
    assert "timeout" in str(caught.value)


def test_a_statement_timeout_fails_a_call_naming_it(
    store_on: Callable[..., PostgresStore], lock_jobs: Callable[[], Held]
) -> None:
    store = store_on(lock_timeout=10.0, statement_timeout=1.0)
    lock_jobs()
    began = time.monotonic()
    with pytest.raises(StoreError, match="statement_timeout"):
        store.get_jobs()
    assert time.monotonic() - began < 3


class Recorder:
    """Events of one kind, and a way to wait for them."""

    def __init__(self, scheduler: Scheduler, kind: EventKind) -> None:
        self.events: list[Event] = []
        self.changed = threading.Condition()
        scheduler.add_listener(self._add, kind)

    def _add(self, event: Event) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def wait(self, count: int, timeout: float) -> list[Event]:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.events) >= count, timeout):
                pytest.fail(f"{len(self.events)} events after {timeout:g} s, wanted {count}")
            return list(self.events)


#: Events the jobs of this module's in-process schedulers set, by name (a job's
#: arguments are stored as JSON: they name the event, they cannot be it).
MARKS: dict[str, threading.Event] = {}


def mark(name: str) -> None:
    MARKS[name].set()


def new_mark() -> tuple[str, threading.Event]:
    name = uuid.uuid4().hex
    MARKS[name] = threading.Event()
    return name, MARKS[name]


def test_a_scheduler_reports_a_held_lock_and_resumes_after_it(
    pg_schema: str, lock_jobs: Callable[[], Held]
) -> None:
    store = PostgresStore(pg.dsn(), schema=pg_schema, lock_timeout=0.5, poll_interval=0.3)
    scheduler = Scheduler(store=store, timezone="UTC")
    errors = Recorder(scheduler, EventKind.STORE_ERROR)
    scheduler.start()
    try:
        lock = lock_jobs()
        (error,) = errors.wait(1, 5)[:1]
        assert "lock" in str(error.exception)
        lock.release()
        name, ran = new_mark()
        due = datetime.now(UTC) + timedelta(seconds=0.3)
        scheduler.add_job(mark, "date", run_at=due, args=[name], id="after")
        assert ran.wait(5), "no run after the lock was released"
    finally:
        scheduler.shutdown(wait=True)


def test_a_full_pool_fails_a_call_saying_so_and_does_not_hang(
    store_on: Callable[..., PostgresStore],
) -> None:
    from psycopg_pool import ConnectionPool

    with ConnectionPool(pg.dsn(), min_size=1, max_size=1, open=True) as pool:
        store = store_on(pool, lock_timeout=1.0)
        with pool.connection():
            began = time.monotonic()
            with pytest.raises(StoreError, match="pool") as caught:
                store.get_jobs()
            assert time.monotonic() - began < 3
        assert re.search(r"full|exhausted", str(caught.value))
        store.get_jobs()  # and works again once a connection is free


def test_pool_size_1_with_its_connection_held_fails_fast(
    store_on: Callable[..., PostgresStore],
) -> None:
    store = store_on(pool_size=1, lock_timeout=1.0)
    pool = store._pool  # type: ignore[attr-defined]  # the store's own pool
    with pool.connection():
        began = time.monotonic()
        with pytest.raises(StoreError, match=r"pool.*(full|exhausted)|(full|exhausted).*pool"):
            store.get_jobs()
        assert time.monotonic() - began < 3


def listener_backends(schema: str) -> list[int]:
    """The backends listening on the store's channel (their last statement)."""
    with connect() as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND query ILIKE 'LISTEN%%' AND query LIKE %s",
            (f"%{schema}%",),
        ).fetchall()
    return [row[0] for row in rows]


def test_a_cut_listen_connection_is_reported_then_notifications_resume(
    pg_schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    # poll_interval 10 s: a change seen sooner came by NOTIFY.
    store = PostgresStore(pg.dsn(), schema=pg_schema, poll_interval=10.0)
    scheduler = Scheduler(store=store, timezone="UTC")
    errors = Recorder(scheduler, EventKind.STORE_ERROR)
    peer = Scheduler(store=PostgresStore(pg.dsn(), schema=pg_schema), timezone="UTC")
    scheduler.start()
    peer.start(paused=True)
    try:
        wait_for("the LISTEN connection", lambda: bool(listener_backends(pg_schema)), 5)
        caplog.set_level(logging.WARNING, logger="tickwork")
        with connect() as conn:
            for pid in listener_backends(pg_schema):
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        errors.wait(1, 15)
        assert any("listen" in r.getMessage().lower() for r in caplog.records), caplog.text
        wait_for("LISTEN again", lambda: bool(listener_backends(pg_schema)), 10)
        name, ran = new_mark()
        began = time.monotonic()
        peer.add_job(mark, "date", run_at=datetime.now(UTC), args=[name], id="added-by-peer")
        assert ran.wait(5), "the peer's job did not run"
        took = time.monotonic() - began
        print(f"LISTEN cut: a job added by another process ran {took:.3f} s later")
        assert took < 2, f"the change took {took:.2f} s: by polling, not NOTIFY"
    finally:
        peer.shutdown(wait=True)
        scheduler.shutdown(wait=True)


def test_stores_on_two_schemas_of_one_database_open_at_once(pg_schema: str) -> None:
    """Processes on other schemas of the same database (other applications, other
    tests) must not block a store's start: a liveness lock is a database-wide name."""
    other = f"{pg_schema}_b"
    first = PostgresStore(pg.dsn(), schema=pg_schema)
    second = PostgresStore(pg.dsn(), schema=other)
    opened = threading.Event()

    def open_second() -> None:
        second.open()
        opened.set()

    thread = threading.Thread(target=open_second, daemon=True)
    try:
        first.open()
        thread.start()
        assert opened.wait(5), "a store on another schema waited for this one's lock"
        # and each still sees the other as alive: neither takes anything over
        assert first.maintain(datetime.now(UTC)).taken == []
    finally:
        first.close()  # frees the lock the second may be waiting on
        if thread.is_alive() or opened.is_set():
            thread.join(10)
        second.close()
        pg.drop_schema(other)


# -- a clear error at start ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("postgresql://postgres:hunter2@127.0.0.1:1/test", "127.0.0.1"),
        ("postgresql://postgres@127.0.0.1:5432/tw_no_such_database", "does not exist"),
        ("postgresql://tw_no_such_role@127.0.0.1:5432/test", "does not exist"),
        ("host=127.0.0.1 port=5432 nonsense", "nonsense"),
    ],
    ids=["refused", "no-database", "no-role", "garbled"],
)
def test_a_bad_dsn_fails_start_with_the_reason(dsn: str, message: str) -> None:
    pg.require()
    scheduler = Scheduler(store=PostgresStore(dsn, connect_timeout=3), timezone="UTC")
    began = time.monotonic()
    with pytest.raises(StoreError) as caught:
        scheduler.start()
    assert time.monotonic() - began < 5
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)


@pytest.fixture
def role_without_create() -> Iterator[str]:
    """A login role that may connect but not create a schema; dropped after."""
    pg.require()
    role = f"tw_nocreate_{uuid.uuid4().hex[:10]}"
    with connect() as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'REVOKE CREATE ON DATABASE "{conn.info.dbname}" FROM "{role}"')
    yield role
    with connect() as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
        )
        conn.execute(f'DROP ROLE "{role}"')


def test_a_role_that_cannot_create_the_tables_fails_start_saying_so(
    role_without_create: str, pg_schema: str
) -> None:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    dsn = make_conninfo(**{**conninfo_to_dict(pg.dsn()), "user": role_without_create})
    scheduler = Scheduler(store=PostgresStore(dsn, schema=pg_schema), timezone="UTC")
    with pytest.raises(StoreError, match="permission") as caught:
        scheduler.start()
    assert "CREATE" in str(caught.value)


def test_a_schema_of_a_newer_tickwork_fails_start_unchanged(
    pg_schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = PostgresStore(pg.dsn(), schema=pg_schema)
    store.open()
    store.close()
    with connect() as conn:
        conn.execute(f"UPDATE \"{pg_schema}\".meta SET value = '999' WHERE key = 'schema'")
    scheduler = Scheduler(store=PostgresStore(pg.dsn(), schema=pg_schema), timezone="UTC")
    with pytest.raises(StoreError, match="newer tickwork") as caught:
        scheduler.start()
    scheduler.shutdown()
    assert "999" in str(caught.value)
    # The message as docs/postgres.md quotes it ("..." for the parts left out, N for
    # this tickwork's schema version).
    (row,) = [line for line in DOCS.read_text().splitlines() if line.startswith("| A newer schema")]
    quoted = re.search(r'`StoreError` at `start\(\)`: "(.+?)"', row)
    assert quoted is not None
    parts = [re.escape(part.strip()) for part in quoted.group(1).split("...") if part.strip()]
    pattern = ".*".join(parts).replace(r"\ N\)", r" \d+\)")
    assert re.search(pattern, str(caught.value)), (pattern, str(caught.value))
    # Nothing retries: no word of reading the database's clock again.
    assert [r for r in caplog.records if "clock" in r.getMessage()] == []
    with connect() as conn:
        row = conn.execute(f"SELECT value FROM \"{pg_schema}\".meta WHERE key = 'schema'")
        assert row.fetchone() == ("999",)


# -- hosts whose clocks are wrong ---------------------------------------------------------


def record_here(table: str) -> None:
    """Write the run, started by the database's clock (the true time on this machine)."""
    from tickwork import current_run

    run = current_run()
    with connect() as conn:
        conn.execute(
            f"INSERT INTO {table} (nonce, job_id, scheduled_at, attempt, pid) "
            "VALUES (%s, %s, %s, %s, %s)",
            (uuid.uuid4(), run.job_id, run.scheduled_at, run.attempt, os.getpid()),
        )


#: How early a run may start by the database's clock: the error of a host's estimate
#: of its offset from the database's clock (half a query's round trip, at most).
EARLY_TOLERANCE = timedelta(seconds=0.1)


def test_hosts_30_s_fast_and_slow_run_each_fire_once_and_never_early(
    pg_schema: str, log_table: str
) -> None:
    schedulers = [
        Scheduler(
            store=PostgresStore(pg.dsn(), schema=pg_schema, lease_time=2.0, poll_interval=0.5),
            clock=SkewedClock(skew),
            timezone="UTC",
        )
        for skew in (30.0, -30.0)
    ]
    start = grid_start(1.0)
    every = [0.3, 0.5]
    dates = [f"date-{n}" for n in range(3)]

    def dates_done() -> bool:
        return {r.job_id for r in runs(log_table)} >= set(dates)

    try:
        for scheduler in schedulers:
            scheduler.start()
        for seconds in every:
            schedulers[0].add_job(
                record_here, "interval", seconds=seconds, start_date=start, catchup="all",
                max_instances=100, id=f"every-{seconds}", replace_existing=True,
                args=[log_table],
            )  # fmt: skip
        for n, job_id in enumerate(dates):
            at = start + timedelta(seconds=0.7 * n + 0.35)
            schedulers[1].add_job(record_here, "date", run_at=at, id=job_id, args=[log_table])
        until = start + timedelta(seconds=2.5)
        # The fire at 2.5 s is due as the clock passes it (by the database's clock, which
        # is not this one to the millisecond): stop a second after.
        wait_for(
            "the stream to pass 3.5 s", lambda: datetime.now(UTC) > until + timedelta(seconds=1), 11
        )
        wait_for("the date jobs", dates_done, 5)
    finally:
        for scheduler in schedulers:
            scheduler.shutdown(wait=True)
    rows = runs(log_table)
    check_stream(rows, start, until, every)
    # The database's clock is the true one here (same machine). A host learns its
    # offset from a query, to within half its round trip: not early beyond that.
    early = [(r.job_id, r.scheduled_at - r.started) for r in rows if r.started < r.scheduled_at]
    worst_early = max((ahead for _, ahead in early), default=timedelta(0))
    print(f"clocks +-30 s: {len(rows)} runs, {len(early)} started early, at most by {worst_early}")
    assert worst_early < EARLY_TOLERANCE, f"runs started before their fire time: {early}"
    late = [(r.job_id, r.started - r.scheduled_at) for r in rows]
    worst = max(delay for _, delay in late)
    assert worst < timedelta(seconds=2), f"runs started late (not 30 s: at most 2 s): {late}"
    assert sorted(r.job_id for r in rows if r.job_id.startswith("date")) == dates
