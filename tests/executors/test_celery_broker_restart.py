"""A broker restarted mid-load: runs sent while it is down are reported, none is lost
(the broker keeps what it took: an append-only file), none runs twice."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tickwork import EventKind, Scheduler
from tickwork.executors import CeleryExecutor

from . import queues

pytestmark = pytest.mark.broker_restart


def test_runs_across_a_broker_restart_are_each_run_once_or_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from celery import Celery

    queues.require_redis()
    broker = queues.OwnRedis(tmp_path)
    broker.start()
    notes = tmp_path / "ran"
    queue = queues.unique("tw-restart")
    events: list[Any] = []
    lock = threading.Lock()
    restarts: list[str] = []
    try:
        with contextlib.ExitStack() as workers:
            worker = workers.enter_context(queues.celery_worker(queue, broker=broker.url))
            app = Celery("tickwork_tests", broker=broker.url, backend=queues.REDIS)
            app.conf.broker_connection_timeout = 0.5
            executor = CeleryExecutor(
                app,
                queue=queue,
                retry_policy={"max_retries": 1, "interval_start": 0.1},
                resend_after=1.0,
            )
            scheduler = Scheduler(timezone="UTC", executors={"celery": executor})

            def record(event: Any) -> None:
                with lock:
                    events.append(event)

            scheduler.add_listener(record, EventKind.ALL)
            scheduler.add_job(
                "tests.executors.queue_jobs:note_run", "interval", seconds=0.05,
                args=[str(notes)], executor="celery", id="load", max_instances=1000,
                misfire_grace_time=timedelta(seconds=60),
            )  # fmt: skip
            scheduler.start()
            time.sleep(0.5)
            broker.stop()
            time.sleep(0.5)
            broker.start()
            time.sleep(0.5)
            scheduler.pause()
            # Wait for the runs out to come back, as a supervisor (systemd, Kubernetes)
            # would, restarting a worker that died: kombu's Redis transport can crash a
            # worker that reconnects at the wrong moment ("'NoneType' object has no
            # attribute 'hostname'", outside tickwork). The re-sends of the runs it
            # held then reach the new worker, whose guard runs each once.
            deadline = time.monotonic() + 20
            while executor.out() and time.monotonic() < deadline:
                if worker.process.poll() is not None or _crashed(worker):
                    restarts.append("".join(worker.lines[-20:]))
                    worker.stop()
                    worker = workers.enter_context(queues.celery_worker(queue, broker=broker.url))
                time.sleep(0.05)
            scheduler.shutdown(wait=True, timeout=10)
            queues.close_app(app)
    finally:
        broker.stop()
    log = "".join(worker.lines[-40:])
    with lock:
        submitted = [e for e in events if e.kind is EventKind.JOB_SUBMITTED]
        executed = [e for e in events if e.kind is EventKind.JOB_EXECUTED]
        interrupted = [e for e in events if e.kind is EventKind.JOB_INTERRUPTED]
        failed = [e for e in events if e.kind is EventKind.JOB_FAILED]
    lines = notes.read_text().splitlines()
    # None ran twice.
    assert len(lines) == len(set(lines))
    # Every run that ran was recorded as run, and nothing is left unreported.
    assert {e.return_value for e in executed} == set(lines)
    assert not failed
    assert len(executed) + len(interrupted) == len(submitted)
    # Sends during the outage failed loudly (the broker's error) and were sent again
    # once it was back (within UNSENT_FOR): none was reported interrupted while it ran
    # (a send cut off midway may have reached the broker), and none of the runs taken
    # before the restart was lost.
    assert "refused" in caplog.text, "some sends should have met the stopped broker"
    left = [e for e in interrupted if "still out on a worker" in str(e.exception)]
    assert not left, (len(left), len(executed), len(interrupted), restarts, log)
    assert len(executed) >= 10


def _crashed(worker: queues.Worker) -> bool:
    return any("Unrecoverable error" in line for line in worker.lines)
