"""Real task-queue workers for the tests: a Celery worker or an RQ worker process,
started by a context manager that always kills it, and the tests' Redis."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tickwork import EventKind, Scheduler

ROOT = Path(__file__).parents[2]
#: The Redis the tests use (a database number of their own on the shared server).
REDIS = os.environ.get("TICKWORK_TEST_REDIS", "redis://127.0.0.1:6379/7")
RABBIT = os.environ.get("TICKWORK_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")
#: The most a test waits for a worker to start.
START_LIMIT = 30.0


def answers(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def require_redis() -> None:
    if not answers("127.0.0.1", 6379):
        pytest.skip("no Redis at 127.0.0.1:6379")


def require_rabbit() -> None:
    if not answers("127.0.0.1", 5672):
        pytest.skip("no RabbitMQ at 127.0.0.1:5672")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _env(extra: Mapping[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env.update(extra)
    return env


class Worker:
    """A worker process and what it printed."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if " ready." in line or "Listening on" in line:
                self.ready.set()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_LIMIT
        while not self.ready.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the worker did not start:\n" + "".join(self.lines))

    def children(self) -> list[int]:
        """The pids of the worker's pool processes (prefork)."""
        found = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True
        ).stdout.split()
        return [int(pid) for pid in found]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(3)
        if self.process.poll() is None:
            # The whole group: a prefork worker's children too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        self._reader.join(2)
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextlib.contextmanager
def _started(command: list[str], env: Mapping[str, str]) -> Iterator[Worker]:
    """The worker process of *command* (in its own session, *env* added), once it says
    it is ready; stopped on the way out whatever happens."""
    process = subprocess.Popen(
        command, cwd=ROOT, env=_env(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    worker = Worker(process)
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()


@contextlib.contextmanager
def celery_worker(
    queue: str,
    *,
    broker: str = REDIS,
    backend: str = REDIS,
    pool: str = "threads",
    concurrency: int = 4,
    env: Mapping[str, str] | None = None,
) -> Iterator[Worker]:
    """A ``celery worker`` on *queue*, killed on the way out whatever happens."""
    command = [
        sys.executable, "-m", "celery", "-A", "tests.executors.queue_app", "worker",
        "-P", pool, "-c", str(concurrency), "-Q", queue, "-l", "info",
        "--without-heartbeat", "--without-gossip", "--without-mingle",
        "-n", f"{queue}@%h",
    ]  # fmt: skip
    extra = {"TICKWORK_TEST_BROKER": broker, "TICKWORK_TEST_BACKEND": backend, **(env or {})}
    with _started(command, extra) as worker:
        yield worker


@contextlib.contextmanager
def rq_worker(
    queue: str, url: str = REDIS, *, worker_class: str = "rq.worker.SimpleWorker"
) -> Iterator[Worker]:
    """An ``rq worker`` on *queue* (by default the simple worker: no fork per job;
    ``rq.worker.Worker`` forks a work horse per job)."""
    rq = shutil.which("rq", path=os.path.dirname(sys.executable)) or "rq"
    command = [rq, "worker", "--url", url, "--worker-class", worker_class,
               "--logging_level", "INFO", queue]  # fmt: skip
    with _started(command, {}) as worker:
        yield worker


class CeleryApps:
    """Makes the scheduler side's Celery apps for a test, and closes them all after
    it: their broker connections and their Redis result backend's. (An app left to the
    garbage collector leaves a socket to it, and the ``ResourceWarning`` fails whichever
    test the collection falls in.)"""

    def __init__(self) -> None:
        self.made: list[Any] = []

    def __call__(self, broker: str = REDIS, backend: str = REDIS) -> Any:
        from celery import Celery

        app = Celery("tickwork_tests", broker=broker, backend=backend)
        self.made.append(app)
        return app

    def close(self) -> None:
        for app in self.made:
            close_app(app)
        self.made.clear()


def close_app(app: Any) -> None:
    """Close a Celery app's broker connections and its Redis result backend's."""
    app.close()
    client = app.backend.__dict__.get("client")
    if client is not None:
        client.close()
        client.connection_pool.disconnect()


def wait_for(predicate: object, limit: float = 10.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return bool(predicate())  # type: ignore[operator]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OwnRedis:
    """A redis-server of the test's own (another port, its own directory, every write
    fsynced to its append-only file), which the test may stop and start again: the
    shared server is never touched."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            pytest.skip("no redis-server to start a broker of the test's own")
        self.process = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if not wait_for(lambda: answers("127.0.0.1", self.port), limit=10):
            raise RuntimeError("the test's redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class Events:
    """The events a scheduler fires, kept for a test to wait on."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.events: list[Any] = []
        self.changed = threading.Condition()
        scheduler.add_listener(self._record, EventKind.ALL)

    def _record(self, event: Any) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def of(self, kind: EventKind) -> list[Any]:
        with self.changed:
            return [event for event in self.events if event.kind in kind]

    def wait(self, kind: EventKind, count: int = 1, limit: float = 15.0) -> list[Any]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.of(kind)) >= count, limit)
        found = self.of(kind)
        assert len(found) >= count, f"waited for {count} {kind!r}; events: {self.events}"
        return found


def now() -> datetime:
    return datetime.now(timezone.utc)


def one_job(
    name: str, executor: Any, ref: str, *, args: list[Any], job_id: str, **options: Any
) -> tuple[Scheduler, Events]:
    """A scheduler whose executor *name* is *executor*, with one job due now, and the
    recorder of its events."""
    scheduler = Scheduler(timezone="UTC", executors={name: executor})
    events = Events(scheduler)
    scheduler.add_job(ref, "date", run_date=now(), args=args, executor=name, id=job_id, **options)
    return scheduler, events


def run_until(
    scheduler: Scheduler, events: Events, kind: EventKind, limit: float = 15.0, **shutdown: Any
) -> list[Any]:
    """Start *scheduler*, wait for an event of *kind*, and shut it down (with *shutdown*'s
    arguments) whatever happens."""
    scheduler.start()
    try:
        return events.wait(kind, limit=limit)
    finally:
        scheduler.shutdown(**shutdown)
