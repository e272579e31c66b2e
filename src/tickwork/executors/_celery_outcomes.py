"""Outcomes of named Celery tasks, recorded by tickwork on the workers.

Theory of operation: a run sent to a task the user names (``CeleryExecutor(app,
task=...)``) carries the run in a ``tickwork`` message header, and is a plain Celery
task: its outcome is Celery's final state in the result backend. That state cannot
always be trusted to be final. With Celery's own retries (``autoretry_for``,
``self.retry()``) the retry message is sent *before* the failed try stores
``RETRY``; when another worker thread (or process) runs the retry at once and stores
``SUCCESS`` first, the late ``RETRY`` overwrites it, and the task reads as "retrying"
forever (Celery's backend checks and sets the state in two steps).

So ``tickwork.celery.setup(app)`` connects the hooks below: when a task carrying the
header ends (``task_success``, ``task_failure``: only final outcomes, never a retry),
the worker writes tickwork's own outcome record beside Celery's (the key of the task's
meta with ``.tickwork`` after it), first write wins. :func:`read_outcomes` (what
:class:`~tickwork.executors.CeleryEnqueuer` reads) prefers that record to the task's
meta, and falls back to the meta for workers without the hooks, and for outcomes no
task code reported (a worker lost, a hard time limit, an expired task).

Celery stores a task's final state *before* it sends ``task_success`` or
``task_failure``, so a read can find the state and not yet the record that follows it
(with the time the task started, which the state lacks). A final state without a
record is therefore waited on for up to ``RECORD_WAIT`` seconds (from when the reader
first saw it) before it is taken as the outcome; an expired (revoked) task, which no
hook records, is taken at once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from .._errors import error_type_name
from ._worker import now_text, succeeded, worker_name

__all__ = [
    "OUTCOME_SUFFIX",
    "RECORD_WAIT",
    "celery_error_type",
    "connect_outcome_hooks",
    "outcome_key",
    "read_outcomes",
    "record_outcome",
]

logger = logging.getLogger("tickwork")

#: Appended to a task's meta key in the result backend: tickwork's outcome record.
OUTCOME_SUFFIX = ".tickwork"
#: Seconds a final state found without tickwork's record waits for the record (the
#: hook writes it just after Celery stores the state; a worker without the hooks, and
#: an end no task code reports, never write one, and cost this much).
RECORD_WAIT = 1.0


def celery_error_type(kind: type[object]) -> str:
    """The ``error_type`` of a Celery task's exception: a lost worker and the time
    limits map to tickwork's ``WorkerDied`` and ``JobTimeout``."""
    if kind.__name__ == "WorkerLostError":
        return "tickwork.WorkerDied"
    if kind.__name__ in ("SoftTimeLimitExceeded", "TimeLimitExceeded"):
        return "tickwork.JobTimeout"
    if isinstance(kind, type) and issubclass(kind, BaseException):
        return error_type_name(kind)  # (tickwork's own as a local run names them)
    return f"{kind.__module__}.{kind.__qualname__}"


def keeps_keys(backend: Any) -> bool:
    """Whether *backend* is a key-value result backend (Redis, memcached, ...), where
    the outcome record can be kept beside the task's meta."""
    return hasattr(backend, "mget") and hasattr(backend, "get_key_for_task")


def outcome_key(backend: Any, task_id: str) -> Any:
    """The key of tickwork's outcome record of *task_id* in *backend*."""
    return backend.get_key_for_task(task_id, key=OUTCOME_SUFFIX)


def record_outcome(backend: Any, task_id: str, outcome: Mapping[str, Any]) -> bool:
    """Keep *outcome* as the record of *task_id*, unless one is there already (the
    first outcome wins: a second delivery that ran the task again changes nothing).
    Returns whether it was written. A backend that does not keep keys is left alone."""
    if not keeps_keys(backend):
        return False
    key = outcome_key(backend, task_id)
    text = json.dumps(outcome)
    client = getattr(backend, "client", None)
    expires = getattr(backend, "expires", None)
    if client is not None and hasattr(client, "set") and hasattr(client, "eval"):
        # Redis: one atomic set-if-absent.
        if isinstance(expires, timedelta):
            expires = expires.total_seconds()
        seconds = max(1, int(expires)) if expires else None
        return bool(client.set(key, text, nx=True, ex=seconds))
    if backend.get(key) is not None:
        return False
    backend.set(key, text)
    return True


def _decoded(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    text = value.decode() if isinstance(value, bytes) else str(value)
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def read_outcomes(
    backend: Any,
    task_ids: Sequence[str],
    from_meta: Callable[[Mapping[str, Any]], Mapping[str, Any] | None],
    *,
    records: bool,
    awaited: dict[str, float] | None = None,
) -> dict[str, Mapping[str, Any]]:
    """The outcomes of the ended tasks among *task_ids*: tickwork's record when there
    is one (*records*: look for them), else what *from_meta* makes of the task's meta
    (None: not ended). One ``MGET`` on a key-value backend.

    *awaited* (the caller's, kept from one read to the next): when the task first
    read as ended with no record (``time.monotonic()``), by task id; such a task is
    left out until its record comes or ``RECORD_WAIT`` seconds have passed (see the
    module docstring)."""
    metas: list[Any]
    recorded: list[Any] = [None] * len(task_ids)
    keyed = keeps_keys(backend)
    if keyed:
        keys = [backend.get_key_for_task(task_id) for task_id in task_ids]
        if records:
            keys += [outcome_key(backend, task_id) for task_id in task_ids]
        metas = backend.mget(keys)
        if records:
            recorded = metas[len(task_ids) :]
    else:
        metas = [backend.get_task_meta(task_id) for task_id in task_ids]
    found: dict[str, Mapping[str, Any]] = {}
    waiting = awaited if records and keyed else None
    clock = time.monotonic()
    for task_id, meta, record in zip(task_ids, metas, recorded, strict=False):
        outcome = _decoded(record)
        if outcome is None and meta is not None:
            # (A meta is decoded only when no record stands in for it.)
            ended = from_meta(backend.decode_result(meta) if keyed else meta)
            outcome = None if ended is None else dict(ended)
            if (
                outcome is not None
                and waiting is not None
                and not outcome.get("expired")
                and clock - waiting.setdefault(task_id, clock) < RECORD_WAIT
            ):
                continue  # (the record may be on its way: read again next time)
        if outcome is not None:
            if awaited:
                awaited.pop(task_id, None)
            found[task_id] = outcome
    return found


def _header(task: Any) -> Any:
    request = getattr(task, "request", None)
    if request is None:
        return None
    found = getattr(request, "tickwork", None)
    if found is None:
        found = (getattr(request, "headers", None) or {}).get("tickwork")
    return found


def _sent_by_tickwork(task: Any, request: Any) -> bool:
    """Whether the task *request* is of was sent by a ``CeleryExecutor``: the generic
    ``tickwork.run`` task, or a named one carrying the ``tickwork`` header."""
    if getattr(task, "name", None) == "tickwork.run":
        return True
    found = getattr(request, "tickwork", None)
    return (found or (getattr(request, "headers", None) or {}).get("tickwork")) is not None


def connect_outcome_hooks(
    app: Any,
    on_start: Callable[[str], None] | None = None,
    on_end: Callable[[str, Mapping[str, Any]], object] | None = None,
) -> None:
    """Connect the signal hooks (see the module docstring) for the tasks of *app*.

    *on_start* and *on_end*, when given, are called too, with the task id when a try
    starts and with the task id and outcome when the task ends (the workers' writes to
    the scheduler's store: ``tickwork.celery.setup(app, store=...)``); they must not
    raise. Calling it again for the same app connects nothing more. A hook that fails
    logs the error: it never fails the task.
    """
    from celery import signals

    # The start of each try, by task id and thread: a try ends on the thread that
    # started it, and a retry may start on another before the try it follows ends.
    started: dict[tuple[str, int], str] = {}
    lock = threading.Lock()

    def ours(sender: Any) -> bool:
        return getattr(sender, "app", None) is app and _header(sender) is not None

    def on_prerun(sender: Any = None, task_id: str | None = None, **_: Any) -> None:
        if task_id is not None and ours(sender):
            with lock:
                started[task_id, threading.get_ident()] = now_text()
            if on_start is not None:
                on_start(task_id)

    def record(task: Any, task_id: str, outcome: dict[str, Any]) -> None:
        with lock:
            outcome["started_at"] = started.pop((task_id, threading.get_ident()), None)
        outcome.update({"tickwork": 1, "finished_at": now_text(), "worker": worker_name()})
        try:
            record_outcome(task.backend, task_id, outcome)
        except Exception:
            logger.exception("tickwork: could not record the outcome of task %s", task_id)
        if on_end is not None:
            on_end(task_id, outcome)

    def on_success(sender: Any = None, result: Any = None, **_: Any) -> None:
        if not ours(sender):
            return
        # (A value that is not JSON is a success whose value is not kept, as the
        # generic task reports it: only its type is recorded.)
        record(sender, str(sender.request.id), succeeded(result, None))

    def on_failure(
        sender: Any = None,
        task_id: str | None = None,
        exception: BaseException | None = None,
        einfo: Any = None,
        **_: Any,
    ) -> None:
        if task_id is None or exception is None or not ours(sender):
            return
        text = str(getattr(einfo, "traceback", "") or "") or "".join(
            traceback.format_exception(type(exception), exception, exception.__traceback__)
        )
        outcome = {
            "ok": False,
            "error_type": celery_error_type(type(exception)),
            "error": str(exception),
            "traceback": text,
        }
        record(sender, task_id, outcome)

    def on_postrun(task_id: str | None = None, **_: Any) -> None:
        # A try that ended in a retry (or was rejected) reported nothing: forget it.
        if task_id is not None:
            with lock:
                started.pop((task_id, threading.get_ident()), None)

    def dropped(task_id: str | None, outcome: dict[str, Any]) -> None:
        # A message the worker drops before any task code runs: the result backend has
        # Celery's own mark of it, the store only what is written here.
        if task_id is not None and on_end is not None:
            outcome.update({"tickwork": 1, "finished_at": now_text(), "worker": worker_name()})
            on_end(str(task_id), outcome)

    def on_revoked(
        sender: Any = None, request: Any = None, expired: bool = False, **_: Any
    ) -> None:
        if getattr(sender, "app", None) is not app or not _sent_by_tickwork(sender, request):
            return
        what = "expired" if expired else "was revoked"
        dropped(getattr(request, "id", None), {
            "ok": False,
            "expired": True,
            "error_type": "celery.exceptions.TaskRevokedError",
            "error": f"the task {what} before a worker started it",
        })  # fmt: skip

    def on_unknown(
        sender: Any = None, message: Any = None, name: str | None = None, id: Any = None, **_: Any
    ) -> None:
        headers = getattr(message, "headers", None) or {}
        if getattr(sender, "app", None) is not app or "tickwork" not in headers:
            return
        dropped(id, {
            "ok": False,
            "error_type": "celery.exceptions.NotRegistered",
            "error": f"the worker has no task {name!r} (NotRegistered)",
        })  # fmt: skip

    uid = f"tickwork-outcomes-{id(app)}"
    signals.task_revoked.connect(on_revoked, weak=False, dispatch_uid=uid)
    signals.task_unknown.connect(on_unknown, weak=False, dispatch_uid=uid)
    signals.task_prerun.connect(on_prerun, weak=False, dispatch_uid=uid)
    signals.task_postrun.connect(on_postrun, weak=False, dispatch_uid=uid)
    signals.task_success.connect(on_success, weak=False, dispatch_uid=uid)
    signals.task_failure.connect(on_failure, weak=False, dispatch_uid=uid)
