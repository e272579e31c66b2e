"""The Celery app the tests' workers load (``celery -A tests.executors.queue_app``),
configured from the environment the test gives the worker process."""

from __future__ import annotations

import os
import time

from celery import Celery, signals

import tickwork.celery

# (An empty TICKWORK_TEST_BACKEND: no result backend, Celery's disabled one.)
app = Celery(
    "tickwork_tests",
    broker=os.environ.get("TICKWORK_TEST_BROKER", "redis://127.0.0.1:6379/7"),
    backend=os.environ.get("TICKWORK_TEST_BACKEND", "redis://127.0.0.1:6379/7") or None,
)
app.conf.update(
    task_acks_late=os.environ.get("TICKWORK_TEST_ACKS_LATE") == "1",
    task_reject_on_worker_lost=os.environ.get("TICKWORK_TEST_ACKS_LATE") == "1",
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


def _outcome_store() -> object:
    """The scheduler's store the workers write outcomes to (None: not): a SQLite path
    or a PostgreSQL DSN, with a PostgreSQL schema of its own when one is named."""
    where = os.environ.get("TICKWORK_TEST_OUTCOME_STORE")
    schema = os.environ.get("TICKWORK_TEST_OUTCOME_SCHEMA")
    if where and schema:
        from tickwork.stores import PostgresStore

        return PostgresStore(where, schema=schema)
    return where or None


def _slow_to_record(sender: object = None, **_: object) -> None:
    """Hold up tickwork's hook (connected after this one) for the task
    ``tickwork_tests.recorded_late``: Celery's final state is then in the backend for
    a while before tickwork's record (with the start time) follows it."""
    if getattr(sender, "name", None) == "tickwork_tests.recorded_late":
        time.sleep(0.3)


signals.task_success.connect(_slow_to_record, weak=False)

tickwork.celery.setup(
    app,
    lease=float(os.environ.get("TICKWORK_TEST_LEASE", "10")),
    guard_url=os.environ.get("TICKWORK_TEST_GUARD_URL") or None,
    store=_outcome_store(),
)


@app.task(name="tickwork_tests.flaky", bind=True, autoretry_for=(ValueError,),
          max_retries=2, default_retry_delay=0)  # fmt: skip
def flaky(self: object, path: str) -> int:
    """A Celery task with Celery's own retries: fails on its first try."""
    retries: int = self.request.retries  # type: ignore[attr-defined]
    with open(path, "a") as file:
        file.write(f"{retries}\n")
    if retries < 1:
        raise ValueError("the first try fails")
    return retries


@app.task(name="tickwork_tests.hopeless", bind=True, autoretry_for=(ValueError,),
          max_retries=1, default_retry_delay=0)  # fmt: skip
def hopeless(self: object, text: str) -> None:
    """A Celery task with Celery's own retries that fails on every try."""
    raise ValueError(text)


@app.task(name="tickwork_tests.a_set")
def a_set() -> set[int]:
    """A Celery task whose return value JSON cannot hold."""
    return {1, 2}


@app.task(name="tickwork_tests.recorded_late")
def recorded_late(value: int) -> int:
    """A named task whose outcome tickwork records late (see ``_slow_to_record``)."""
    return value
