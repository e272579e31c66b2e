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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .executors._celery import RUN_TASK, _import_celery
from .executors._celery_outcomes import connect_outcome_hooks
from .executors._worker import RedisGuard, run_guarded

__all__ = ["setup"]


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

    Raises:
        ImportError: Celery is not installed.
        TypeError: *app* is not a Celery app.
        ValueError: *guard* is on and no Redis is found for it.
    """
    celery = _import_celery()
    if not isinstance(app, celery.Celery):
        raise TypeError(f"app must be a celery.Celery app, got {app!r}")
    from celery.exceptions import SoftTimeLimitExceeded

    redis_guard = RedisGuard(_redis_of(app, guard_url), lease=lease) if guard else None
    timeouts = (SoftTimeLimitExceeded,)
    connect_outcome_hooks(app)

    @app.task(name=RUN_TASK, bind=True, acks_late=app.conf.task_acks_late)  # type: ignore[untyped-decorator]
    def run(self: Any, message: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(message, Mapping) or message.get("tickwork") != 1:
            raise TypeError(f"tickwork.run takes a message sent by CeleryExecutor, got {message!r}")
        return run_guarded(self.request.id, message, redis_guard, timeouts)

    return run
