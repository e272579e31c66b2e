"""The worker side of :class:`~tickwork.executors.CeleryExecutor` (``tickwork[celery]``).

Call :func:`setup` on the Celery app the workers load::

    # proj/celery.py
    from celery import Celery
    import tickwork.celery

    app = Celery("proj", broker="redis://localhost", backend="redis://localhost")
    tickwork.celery.setup(app)

It registers the generic ``tickwork.run`` task (it imports the job's function by its
reference and calls it with the job's args, ``tickwork.current_run()`` set), the
guard that makes a second delivery of one run a no-op, and the hooks that record the
final outcome of a task named with ``CeleryExecutor(app, task=...)`` beside Celery's
own state, so that a late ``RETRY`` cannot hide it (see ``docs/task-queues.md``).

With ``setup(app, store=...)`` (the scheduler's job store: a store object, a SQLite
file's path, a PostgreSQL DSN) the workers also write each run's start and outcome
into that store, for a scheduler whose executor reads them there
(``CeleryExecutor(app, outcomes="store")``): no result backend is needed then.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from .executors._celery import RUN_TASK, _import_celery
from .executors._celery_outcomes import connect_outcome_hooks
from .executors._worker import RedisGuard, now_text, run_guarded, worker_name
from .stores import PostgresStore, QueueOutcomes, SQLiteStore

__all__ = ["setup"]

logger = logging.getLogger("tickwork")


def _outcome_store(store: object) -> QueueOutcomes | None:
    """The store the workers write runs' starts and outcomes to: *store* itself (a
    :class:`~tickwork.stores.SQLiteStore` or :class:`~tickwork.stores.PostgresStore`
    object), a ``PostgresStore`` for a ``postgresql://`` DSN, a ``SQLiteStore`` for
    any other path; None for None.

    Raises:
        TypeError: *store* is none of those; the message names it.
    """
    if store is None:
        return None
    if isinstance(store, os.PathLike):
        store = os.fspath(store)
    if isinstance(store, str) and store:
        if store.startswith(("postgresql://", "postgres://")):
            return PostgresStore(store)
        return SQLiteStore(store)
    if isinstance(store, QueueOutcomes):
        return store
    raise TypeError(
        "store must be the scheduler's job store (a SQLiteStore or PostgresStore), a "
        f"SQLite file's path or a PostgreSQL DSN, got {store!r}"
    )


def _write_start(store: QueueOutcomes | None, task_id: str) -> None:
    """Note in *store* that *task_id* starts now, here; a failure is logged, never
    raised (the task runs all the same)."""
    if store is None:
        return
    try:
        store.record_start(task_id, now_text(), worker_name())
    except Exception:
        logger.exception("tickwork: could not record the start of task %s in the store", task_id)


def _write_outcome(store: QueueOutcomes | None, task_id: str, outcome: Mapping[str, Any]) -> bool:
    """Keep *outcome* as how *task_id* ended in *store* (first write wins); whether it
    is kept there. A failure is logged, never raised: a re-send of the run
    (``resend_after``) writes it again (the guard remembers that it was not kept)."""
    if store is None:
        return True
    try:
        store.record_outcome(task_id, outcome)
    except Exception:
        logger.exception("tickwork: could not record the outcome of task %s in the store", task_id)
        return False
    return True


def _redis_of(app: Any, guard_url: str | None) -> Any:
    if guard_url is not None:
        import redis

        return redis.Redis.from_url(guard_url)
    backend = app.backend
    client = getattr(backend, "client", None)
    if client is not None and hasattr(client, "set") and hasattr(client, "eval"):
        return client
    raise ValueError(
        "tickwork.celery.setup needs Redis for its duplicate-delivery guard: give "
        "guard_url='redis://...' or use a Redis result backend (the app's is "
        f"{type(backend).__name__})"
    )


def setup(
    app: Any,
    *,
    guard: bool = True,
    guard_url: str | None = None,
    lease: float = 10.0,
    store: object = None,
) -> Any:
    """Register ``tickwork.run`` on *app* and return that task.

    Args:
        app: the workers' ``celery.Celery`` app.
        guard: drop a second delivery of a run (False: every delivery runs the job).
        guard_url: the Redis the guard keeps its keys in (None: the app's Redis result
            backend).
        lease: seconds a running job's guard lease lasts unless renewed; a run whose
            worker died mid-run is run again (when the broker redelivers it:
            ``acks_late`` with ``reject_on_worker_lost``) after at most this long.
        store: the scheduler's job store, for a scheduler whose executor reads
            outcomes there (``CeleryExecutor(app, outcomes="store")``): a
            ``SQLiteStore`` or ``PostgresStore``, a SQLite file's path (the workers
            share the scheduler's host) or a PostgreSQL DSN (its schema
            ``tickwork``; give a ``PostgresStore`` for another). Each run's start and
            outcome are written there (besides the task's return value). None: not.

    Raises:
        ImportError: Celery is not installed.
        TypeError: *app* is not a Celery app, or *store* not a store, path or DSN.
        ValueError: *guard* is on and no Redis is found for it.

    Example (no result backend; the guard's Redis given)::

        app = Celery("proj", broker="redis://localhost")
        tickwork.celery.setup(
            app, store="postgresql://tickwork@db/jobs", guard_url="redis://localhost"
        )
    """
    celery = _import_celery()
    if not isinstance(app, celery.Celery):
        raise TypeError(f"app must be a celery.Celery app, got {app!r}")
    from celery.exceptions import SoftTimeLimitExceeded

    outcomes = _outcome_store(store)
    redis_guard = RedisGuard(_redis_of(app, guard_url), lease=lease) if guard else None
    timeouts = (SoftTimeLimitExceeded,)
    connect_outcome_hooks(
        app,
        None if outcomes is None else (lambda task_id: _write_start(outcomes, task_id)),
        None if outcomes is None else (lambda task_id, end: _write_outcome(outcomes, task_id, end)),
    )

    @app.task(name=RUN_TASK, bind=True, acks_late=app.conf.task_acks_late)  # type: ignore[untyped-decorator]
    def run(self: Any, message: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(message, Mapping) or message.get("tickwork") != 1:
            raise TypeError(f"tickwork.run takes a message sent by CeleryExecutor, got {message!r}")
        task_id = str(self.request.id)
        if outcomes is None:
            return run_guarded(task_id, message, redis_guard, timeouts)
        # Written only by a delivery that runs the job (or, when its write failed, by a
        # later one): a duplicate's write after the scheduler collected the outcome
        # would leave a row that nothing collects.
        return run_guarded(
            task_id, message, redis_guard, timeouts,
            on_start=lambda: _write_start(outcomes, task_id),
            on_end=lambda end: _write_outcome(outcomes, task_id, end),
        )  # fmt: skip

    return run
