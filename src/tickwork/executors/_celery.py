"""``CeleryExecutor``: runs handed to Celery workers (the ``tickwork[celery]`` extra).

Celery is imported only when an executor is made (never by ``import tickwork``).
Each run is sent with :meth:`celery.Celery.send_task`: to the generic ``tickwork.run``
task (``tickwork.celery.setup(app)`` registers it on the workers) or to a task the user
names, with the run's task id, ``expires`` (nominal time + misfire grace) and the job's
``timeout`` as the soft time limit (the hard limit a second later), never an ETA or
countdown. Outcomes come back through the app's result backend, or (``outcomes="store"``)
through the scheduler's own job store, which the workers write to (``setup(app,
store=...)``; see ``stores/_queue_outcomes.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._errors import SerializationError
from .._references import resolve_reference
from ._celery_outcomes import celery_error_type, read_outcomes
from ._queue import QueuedTask, QueueExecutor

__all__ = ["CeleryEnqueuer", "CeleryExecutor"]

#: The generic task ``tickwork.celery.setup`` registers.
RUN_TASK = "tickwork.run"
#: Seconds a job past its soft time limit gets before the hard limit kills it.
HARD_LIMIT_AFTER = 1.0
#: Where outcomes come back from: the app's result backend, or the scheduler's store.
OUTCOMES = ("backend", "store")
#: What a store the outcomes are read from offers (``stores._queue_outcomes``).
STORE_METHODS = ("record_start", "record_outcome", "queue_outcomes", "forget_outcomes")


def _import_celery() -> Any:
    try:
        import celery
    except ImportError as error:  # pragma: no cover - celery is in the test extra
        raise ImportError(
            "CeleryExecutor needs Celery: install tickwork[celery] (pip install 'tickwork[celery]')"
        ) from error
    return celery


class CeleryEnqueuer:
    """The :class:`~tickwork.executors.Enqueuer` of a Celery app.

    Args:
        app: the ``celery.Celery`` app (its broker and result backend are used).
        task: the task to send runs to: None for ``"tickwork.run"`` (the message is its
            one argument), or a task name, which gets the job's own args and kwargs
            (and the run in the ``tickwork`` header).
        queue: the queue to send to (None: the app's default routing).
        retry_policy: kombu's publish retry policy (how long a send waits for a broker
            that is down before it fails); the default gives up after about a second.
        outcomes: ``"backend"`` to read outcomes from the app's result backend,
            ``"store"`` to read them from the scheduler's job store (given by
            :meth:`attach_store`), which the workers write to.
    """

    def __init__(
        self,
        app: Any,
        *,
        task: str | None = None,
        queue: str | None = None,
        retry_policy: Mapping[str, Any] | None = None,
        outcomes: str = "backend",
    ) -> None:
        if outcomes not in OUTCOMES:
            raise ValueError(
                f"outcomes must be 'backend' (the app's result backend) or 'store' (the "
                f"scheduler's job store, which the workers write to), got {outcomes!r}"
            )
        celery = _import_celery()
        if not isinstance(app, celery.Celery):
            raise TypeError(f"app must be a celery.Celery app, got {app!r}")
        if task is not None and (not isinstance(task, str) or not task):
            raise TypeError(f"task must be a task name (str) or None, got {task!r}")
        if queue is not None and (not isinstance(queue, str) or not queue):
            raise TypeError(f"queue must be a queue name (str) or None, got {queue!r}")
        if outcomes == "backend" and type(app.backend).__name__ == "DisabledBackend":
            # (Accepted, every run's outcome would be unreadable, and each run would hold
            # its job's instance until shutdown.)
            raise ValueError(
                "CeleryExecutor reads the outcomes of runs from the app's result backend, "
                "and this app has none: give it one (Celery(..., backend='redis://...')), "
                "or use outcomes='store' (the workers write them to the scheduler's store)"
            )
        self.app = app
        self.task = task
        self.queue = queue
        self._backend: Any = None
        self.outcomes = outcomes
        self._store: Any = None
        # Named tasks whose final state was read before the hook's record (see
        # _celery_outcomes.read_outcomes): since when, by task id.
        self._awaited: dict[str, float] = {}
        self.retry_policy = dict(
            retry_policy
            if retry_policy is not None
            else {"max_retries": 3, "interval_start": 0.1, "interval_step": 0.2}
        )

    def send(self, tasks: Sequence[QueuedTask]) -> None:
        """Send *tasks* through one producer, in one publish batch where the transport
        has them (Redis: one pipeline), routed once (see
        :class:`~tickwork.executors.Enqueuer`)."""
        app = self.app
        amqp = app.amqp
        name = self.task or RUN_TASK
        routing = amqp.router.route({"queue": self.queue} if self.queue else {}, name, (), {})
        with app.producer_or_acquire() as producer:
            batch = producer.batch() if hasattr(producer, "batch") else contextlib.nullcontext()
            declare: list[Any] | None = None  # the routed queue's, the first time
            with batch:
                for task in tasks:
                    limits: dict[str, Any] = {}
                    if task.timeout is not None:
                        limits["soft_time_limit"] = task.timeout
                        limits["time_limit"] = task.timeout + HARD_LIMIT_AFTER
                    headers = None
                    if self.task is None:
                        args: Any = [task.message]
                        kwargs: Any = {}
                    else:
                        args, kwargs = task.message["args"], task.message["kwargs"]
                        headers = {"tickwork": {k: v for k, v in task.message.items()
                                                if k not in ("args", "kwargs")}}  # fmt: skip
                    # (argsrepr given: Celery would otherwise repr the message per run.)
                    message = amqp.create_task_message(
                        task.task_id, name, args, kwargs, expires=task.expires,
                        argsrepr=task.message["job_id"], kwargsrepr="", **limits,
                    )  # fmt: skip
                    amqp.send_task_message(
                        producer, name, message, headers=headers, retry=True,
                        retry_policy=self.retry_policy, declare=declare, **routing,
                    )  # fmt: skip
                    # The queue is declared with the batch's first task (a broker
                    # such as RabbitMQ drops messages for a queue that does not exist
                    # yet); declaring it again for each task costs a fifth of a send.
                    declare = []

    def attach_store(self, store: object) -> None:
        """Take the scheduler's job store: with ``outcomes="store"``, :meth:`results`
        reads it.

        Raises:
            TypeError: with ``outcomes="store"``, *store* keeps no queued runs'
                outcomes (a ``MemoryStore``: no worker can write to it).
        """
        if self.outcomes != "store":
            return
        missing = [name for name in STORE_METHODS if not callable(getattr(store, name, None))]
        if missing:
            raise TypeError(
                f"CeleryExecutor(outcomes='store') reads the outcomes of runs from the "
                f"scheduler's job store, which the workers write to; a "
                f"{type(store).__name__} cannot keep them (it has no {', '.join(missing)}): "
                "use a SQLiteStore or a PostgresStore, or outcomes='backend'"
            )
        self._store = store

    def results(self, task_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        """Outcomes from the result backend (one ``MGET`` on a key-value backend); for
        a named task, the outcome the workers' hooks recorded comes first, and a final
        state read before that record is written waits for it, briefly (see
        :mod:`tickwork.executors._celery_outcomes`). With ``outcomes="store"``, from
        the scheduler's job store instead, whose rows of the outcomes found are then
        deleted (they are the scheduler's to record from here on).

        Raises:
            RuntimeError: ``outcomes="store"`` and no store was attached.
        """
        if self.outcomes == "store":
            store = self._store
            if store is None:
                raise RuntimeError(
                    "CeleryExecutor(outcomes='store') has no store: give it to a "
                    "Scheduler, which attaches its job store"
                )
            found: dict[str, Mapping[str, Any]] = store.queue_outcomes(task_ids)
            if found:
                store.forget_outcomes(list(found))
            return found
        backend = self.app.backend
        # (Celery's Redis backend is one per thread: this one is the collector's.)
        self._backend = backend
        return read_outcomes(
            backend, task_ids, self._outcome, records=self.task is not None, awaited=self._awaited
        )

    @staticmethod
    def _outcome(meta: Mapping[str, Any]) -> Mapping[str, Any] | None:
        status = meta.get("status")
        result = meta.get("result")
        if status == "SUCCESS":
            if isinstance(result, dict) and result.get("tickwork") == 1:
                return result
            done = meta.get("date_done")
            return {"ok": True, "value": result, "finished_at": _iso(done)}
        if status == "FAILURE":
            return {
                "ok": False,
                "error_type": celery_error_type(type(result)),
                "error": str(result),
                "traceback": meta.get("traceback") or "",
                "finished_at": _iso(meta.get("date_done")),
            }
        if status == "REVOKED":
            return {
                "ok": False,
                "expired": True,
                "error_type": "celery.exceptions.TaskRevokedError",
                "error": "the task expired (or was revoked) before a worker started it",
                "finished_at": _iso(meta.get("date_done")),
            }
        return None  # PENDING, RECEIVED, STARTED, RETRY: not ended

    def close(self) -> None:
        """Close the connections of the result backend :meth:`results` read through,
        when that backend was the reading thread's own (Celery makes one per thread
        unless the backend is thread-safe); the app owns the rest. Left to the garbage
        collector, its sockets would be closed late, with a ``ResourceWarning``."""
        self._awaited.clear()
        backend, self._backend = self._backend, None
        if backend is None or getattr(backend, "thread_safe", True):
            return
        client = backend.__dict__.get("client")
        pool = getattr(client, "connection_pool", None)
        if pool is not None:
            pool.disconnect()


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if callable(isoformat) else None


def _task_of_body(func: Callable[..., Any]) -> tuple[str, Any] | None:
    """``(reference, task)`` when importing *func*'s ``"module:qualname"`` gives a
    Celery task rather than *func*: *func* is then the body of that task (its
    ``run``), whose name ``@app.task`` rebound to the task. None otherwise."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return None
    reference = f"{module}:{qualname}"
    try:
        found = resolve_reference(reference)
    except Exception:
        return None  # (the generic check says why)
    if found is func or not isinstance(found, _import_celery().Task):
        return None
    return reference, found


class CeleryExecutor(QueueExecutor):
    """Hands runs to Celery workers (see ``docs/task-queues.md``).

    The workers run ``tickwork.celery.setup(app)`` (it registers the generic
    ``tickwork.run`` task and the guard that drops a second delivery of a run). The
    job's function must be importable on the workers by its reference, and its args and
    kwargs JSON. ``retry``, ``max_instances``, ``timeout`` (Celery's soft time limit;
    the hard one a second later; enforced by the prefork pool, not the threads pool),
    events and ``history()`` behave as for local executors.

    Args:
        app: the ``celery.Celery`` app (broker and result backend).
        task: a task name to send runs to instead of ``"tickwork.run"`` (it gets the
            job's args and kwargs, and no duplicate-delivery guard: make it idempotent);
            use this to keep Celery's own retries (``autoretry_for``): the run's outcome
            is then the task's final state.
        queue: the Celery queue to send to.
        poll_interval: seconds between two reads of the result backend.
        resend_after: seconds after which a run with no outcome yet is sent again, the
            same task (see :class:`~tickwork.executors.QueueExecutor`); None: never.
        retry_policy: kombu's publish retry policy (see :class:`CeleryEnqueuer`).
        outcomes: ``"backend"`` (the default): outcomes come back through the app's
            result backend. ``"store"``: through the scheduler's job store (a
            ``SQLiteStore`` the workers share a host with, or a ``PostgresStore``),
            which the workers write to (``tickwork.celery.setup(app, store=...)``); no
            result backend is needed then.

    Raises:
        ImportError: Celery is not installed (``pip install 'tickwork[celery]'``).
        TypeError: *app* is not a Celery app, or *task*/*queue* not a name; with
            ``outcomes="store"``, when the scheduler is made, its store keeps no
            queued runs' outcomes (a ``MemoryStore``).
        ValueError: *outcomes* is neither ``"backend"`` nor ``"store"``; or it is
            ``"backend"`` and the app has no result backend.

    Example::

        app = Celery("proj", broker="redis://", backend="redis://")
        scheduler = Scheduler(executors={"celery": CeleryExecutor(app)})
        scheduler.add_job("proj.reports:nightly", "cron", hour=3, executor="celery")
    """

    def __init__(
        self,
        app: Any,
        *,
        task: str | None = None,
        queue: str | None = None,
        poll_interval: float = 0.01,
        resend_after: float | None = 30.0,
        retry_policy: Mapping[str, Any] | None = None,
        outcomes: str = "backend",
    ) -> None:
        enqueuer = CeleryEnqueuer(
            app, task=task, queue=queue, retry_policy=retry_policy, outcomes=outcomes
        )
        super().__init__(enqueuer, poll_interval=poll_interval, resend_after=resend_after)
        self.app = app

    def check(
        self,
        func: Callable[..., Any] | None,
        func_ref: str | None,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
    ) -> None:
        """As :meth:`QueueExecutor.check`. A Celery task (the ``@app.task`` object) is
        a job function as any other: its reference names it, and ``tickwork.run``
        calls it. Its body (``task.run``) has no reference of its own (its name gives
        the task), and is refused, naming the task to give instead.

        Raises:
            SerializationError: naming the function or argument.
        """
        if func is not None and func_ref is None:
            found = _task_of_body(func)
            if found is not None:
                reference, task = found
                raise SerializationError(
                    f"job function {reference.replace(':', '.')} is the body of the Celery "
                    f"task {task.name!r} (importing {reference!r} gives the task, not this "
                    f"function): give the task itself, or its reference {reference!r}"
                )
        super().check(func, func_ref, args, kwargs)
