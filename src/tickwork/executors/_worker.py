"""The worker side of a hand-off to a task queue, shared by every queue adapter.

Theory of operation: the scheduler sends each run as a *message* (a JSON-able dict:
the job's function reference, its arguments, the job id, nominal time, attempt and
timeout, and the event and upstream runs that started it, if any, so that
``current_run()`` on the worker is what it would be locally) under a task id derived
from the run (``task_id_of``). A queue's worker calls
:func:`run_guarded` with that id and message; it returns the run's *outcome* (a
JSON-able dict: ``ok``, the return value (or, for a value JSON cannot hold, its type
as ``unkept``) or the exception's type, text and traceback, and when the job started
and ended), which travels back to the scheduler through the queue's result store.

Brokers deliver at least once (a redelivery after a lost connection, a visibility
timeout, a re-send after a scheduler crash), so a :class:`RedisGuard` makes a second
delivery of one run a no-op: the first delivery takes a *lease* on the task id (a Redis
key set only if absent, with an expiry that a thread renews while the job runs); the
outcome then replaces the lease and is kept for a day. A later delivery finds the
outcome and returns it without running anything; one that finds a live lease waits for
that outcome; one that finds the lease expired (its worker died mid-run) takes the run
over and runs it, so a run cut off by a dead worker still ends once. Only the
delivery that runs the job writes its start and outcome to the scheduler's store
(``outcomes="store"``): a later one, answered by the guard, writes nothing (the
scheduler may have collected and deleted the row by then), unless the first one's
write failed.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from .._checks import seconds
from .._context import run_request_blocking
from .._errors import error_type_name
from .._model import EmittedEvent, Outcome, RunRequest, Upstream, run_id
from .._references import resolve_reference

__all__ = [
    "NAMESPACE",
    "UNKEPT",
    "RedisGuard",
    "message_of",
    "not_json",
    "now_text",
    "outcome_of",
    "run_guarded",
    "succeeded",
    "task_id_of",
    "worker_name",
]

logger = logging.getLogger("tickwork")

#: The mark of an outcome the guard records when the delivery that ran the job could
#: not keep it (``run_guarded``'s *on_end* returned False): a later delivery tries.
UNKEPT = "tickwork_unkept"
#: The uuid5 namespace of task ids (fixed: every process derives the same ids).
NAMESPACE = uuid.UUID("6d1c7f38-4a1e-5b8e-9f0a-7ac2a1e0b5d3")


def task_id_of(job_id: str, scheduled_at: datetime, attempt: int) -> str:
    """The task id of one run: uuid5 over its ``run_id`` (``job@fire-time-UTC#attempt``),
    the same in every process, so a re-send of the run is the same task."""
    return str(uuid.uuid5(NAMESPACE, run_id(job_id, scheduled_at, attempt)))


def message_of(request: RunRequest, reference: str) -> dict[str, Any]:
    """The message a worker runs *request* from (*reference*: its function's). The
    run's event and upstream runs go along (when it has them), for ``current_run()``
    on the worker; :func:`not_json` says what part of a message is not JSON."""
    message = {
        "tickwork": 1,
        "job_id": request.job_id,
        "scheduled_at": request.scheduled_at.isoformat(),
        "attempt": request.attempt,
        "ref": reference,
        "args": list(request.args),
        "kwargs": dict(request.kwargs),
        "timeout": request.timeout,
    }
    event = request.event
    if event is not None:
        message["event"] = {
            "id": event.id,
            "name": event.name,
            "payload": event.payload,
            "emitted_at": event.emitted_at.isoformat(),
        }
    if request.upstream:
        message["upstream"] = {
            job_id: {
                "run_id": run.run_id,
                "outcome": run.outcome.value,
                "return_value": run.return_value,
                "error": run.error,
            }
            for job_id, run in request.upstream.items()
        }
    return message


def not_json(message: Mapping[str, Any]) -> str:
    """What part of *message* cannot be sent as JSON, in words ("" if it all can)."""
    parts: list[tuple[str, Any]] = [("its arguments", [message.get("args"), message.get("kwargs")])]
    event = message.get("event")
    if event is not None:
        parts.append((f"the payload of its event {event.get('name')!r}", event.get("payload")))
    for job_id, run in (message.get("upstream") or {}).items():
        parts.append((f"the return value of its upstream job {job_id!r}", run.get("return_value")))
    for name, value in parts:
        try:
            json.dumps(value)
        except (TypeError, ValueError) as error:
            return f"{name} ({error})"
    try:
        json.dumps(message)
    except (TypeError, ValueError) as error:
        return f"its message ({error})"
    return ""


def _event_of(data: Any) -> EmittedEvent | None:
    if not isinstance(data, Mapping):
        return None
    return EmittedEvent(
        id=str(data["id"]),
        name=str(data["name"]),
        payload=data.get("payload"),
        emitted_at=datetime.fromisoformat(str(data["emitted_at"])),
    )


def _upstream_of(data: Any) -> dict[str, Upstream] | None:
    if not isinstance(data, Mapping) or not data:
        return None
    return {
        str(job_id): Upstream(
            job_id=str(job_id),
            run_id=str(run["run_id"]),
            outcome=Outcome(run["outcome"]),
            return_value=run.get("return_value"),
            error=run.get("error"),
        )
        for job_id, run in data.items()
    }


def now_text() -> str:
    """Now, in UTC, as the ISO text outcomes carry (``started_at``, ``finished_at``)."""
    return datetime.now(timezone.utc).isoformat()


def worker_name() -> str:
    """``host:pid`` of the process running a task, read at each call (a pool process
    forked after this module was imported has a pid of its own)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def outcome_of(
    message: Mapping[str, Any], timeout_errors: tuple[type[BaseException], ...] = ()
) -> dict[str, Any]:
    """Run the job of *message* here (``current_run()`` set) and return its outcome.

    Never raises for the job's own errors: an import that fails and the job's
    exception (of any kind) are outcomes with ``ok`` false; a return value that is not
    JSON is a success whose value is not kept (see :func:`succeeded`). An
    exception of *timeout_errors* (the queue's soft time limit) is reported as a
    ``tickwork.JobTimeout``.
    """
    started = now_text()
    job_id = str(message.get("job_id"))
    reference = str(message.get("ref"))
    expires = message.get("expires")
    if isinstance(expires, str) and _past(expires):
        # Past the job's misfire grace: not run, whatever the queue did with its own
        # expiry (a pool that prefetched it, Celery's threads pool, a queue with none).
        return {
            "tickwork": 1,
            "ok": False,
            "expired": True,
            "error": f"the run of job {job_id!r} expired (its misfire_grace_time ran out at "
            f"{expires}) before a worker started it",
            "finished_at": started,
        }
    try:
        func = resolve_reference(reference)
    except BaseException as error:
        return _failed(error, started, f"the worker could not import {reference!r}: ")
    try:
        event = _event_of(message.get("event"))
        upstream = _upstream_of(message.get("upstream"))
    except (KeyError, TypeError, ValueError) as error:
        return _failed(error, started, f"the message of job {job_id!r} is malformed: ")
    request = RunRequest(
        run_id=0,
        job_id=job_id,
        func=func,
        func_ref=reference,
        args=tuple(message.get("args") or ()),
        kwargs=dict(message.get("kwargs") or {}),
        scheduled_at=datetime.fromisoformat(str(message["scheduled_at"])),
        attempt=int(message.get("attempt", 1)),
        timeout=message.get("timeout"),
        event=event,
        upstream=upstream,
    )
    try:
        value = run_request_blocking(request)
    except BaseException as error:
        if timeout_errors and isinstance(error, timeout_errors):
            outcome = _failed(error, started)
            outcome["error_type"] = "tickwork.JobTimeout"
            # (With no timeout of the job's own, it was the queue's limit that ran out:
            # a worker's hard limit, a queue's default.)
            limit = request.timeout
            after = "under the queue's own time limit" if limit is None else f"after {limit} s"
            outcome["error"] = f"job {job_id!r} timed out {after} on a worker"
            return outcome
        return _failed(error, started)
    return succeeded(value, started)


def succeeded(value: Any, started: str | None) -> dict[str, Any]:
    """The outcome of a run that returned *value*: a value JSON cannot hold stays on
    the worker, and only its type goes back (``unkept``), as a local run's history
    keeps only the type of such a value; the run is a success all the same."""
    outcome = {"tickwork": 1, "ok": True, "value": value, "started_at": started,
               "finished_at": now_text(), "worker": worker_name()}  # fmt: skip
    try:
        json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        outcome["value"] = None
        outcome["unkept"] = type(value).__qualname__
    return outcome


def _past(text: str) -> bool:
    """Whether the ISO instant *text* is past (an unreadable one is not)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return False
    return moment.tzinfo is not None and moment < datetime.now(timezone.utc)


def _failed(error: BaseException, started: str, prefix: str = "") -> dict[str, Any]:
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return {
        "tickwork": 1,
        "ok": False,
        "error_type": error_type_name(type(error)),
        "error": f"{prefix}{error}",
        "traceback": text,
        "started_at": started,
        "finished_at": now_text(),
        "worker": worker_name(),
    }


_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


class RedisGuard:
    """Drops a second delivery of one run (see the module docstring), over Redis.

    Args:
        client: a ``redis.Redis`` client (the queue's own connection will do).
        lease: seconds a running job's lease lasts unless renewed (renewed every third
            of it while the job runs); a delivery redelivered after its worker died
            waits at most this long before it runs the job.
        keep: seconds an outcome is kept (later deliveries of the run return it).
        prefix: the keys' prefix.
    """

    def __init__(
        self,
        client: Any,
        *,
        lease: float = 10.0,
        keep: float = 86_400.0,
        prefix: str = "tickwork:run:",
    ) -> None:
        # (Checked here, where the scheduler's side makes its guard too: a bad lease
        # refused by RQExecutor(...) or tickwork.celery.setup(...), not by each run.)
        self.client = client
        self.lease = seconds(lease, "lease", positive=True)
        self.keep = seconds(keep, "keep", positive=True)
        self.prefix = prefix

    def acquire(self, task_id: str) -> tuple[str, dict[str, Any] | None]:
        """Take the run's lease: ``(token, None)``; or, when the run has ended already
        (here or on another worker), ``("", outcome)``. Waits while another live worker
        holds the lease."""
        key = self.prefix + task_id
        token = f"run:{worker_name()}:{uuid.uuid4().hex}"
        lease_ms = int(self.lease * 1000)
        while True:
            if self.client.set(key, token, nx=True, px=lease_ms):
                return token, None
            found = self.client.get(key)
            if found is None:
                continue  # expired just now: try again
            text = found.decode() if isinstance(found, bytes) else str(found)
            if text.startswith("done:"):
                outcome: dict[str, Any] = json.loads(text[5:])
                return "", outcome
            time.sleep(0.05)

    def renew(self, task_id: str, token: str) -> bool:
        """Extend a lease this worker holds; False if it is no longer this worker's."""
        lease_ms = int(self.lease * 1000)
        return bool(self.client.eval(_RENEW, 1, self.prefix + task_id, token, lease_ms))

    def finish(self, task_id: str, outcome: Mapping[str, Any]) -> None:
        """Record the run's outcome in place of its lease."""
        self.client.set(
            self.prefix + task_id, "done:" + json.dumps(outcome), ex=max(1, int(self.keep))
        )

    def outcome(self, task_id: str) -> dict[str, Any] | None:
        """The recorded outcome of a run, if it has ended."""
        found = self.client.get(self.prefix + task_id)
        if found is None:
            return None
        text = found.decode() if isinstance(found, bytes) else str(found)
        return json.loads(text[5:]) if text.startswith("done:") else None


def run_guarded(
    task_id: str,
    message: Mapping[str, Any],
    guard: RedisGuard | None,
    timeout_errors: tuple[type[BaseException], ...] = (),
    *,
    on_start: Callable[[], None] | None = None,
    on_end: Callable[[Mapping[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """Run the message's job once per task id (with *guard*) and return its outcome; a
    second delivery returns the first one's outcome with ``"duplicate": True``.

    *on_start* is called when this delivery runs the job (never for one the guard
    answers), and *on_end* with the outcome of the job it ran, before the guard records
    that outcome; it returns whether it kept the outcome (the write to the scheduler's
    store of ``outcomes="store"``), and must not raise. A delivery the guard answers
    calls *on_end* only when the first one's returned False: the outcome the first
    delivery kept may have been collected (its row deleted) by then, and written
    again it would stay for ever.
    """
    if guard is None:
        if on_start is not None:
            on_start()
        outcome = outcome_of(message, timeout_errors)
        if on_end is not None:
            on_end(outcome)
        return outcome
    token, done = guard.acquire(task_id)
    if done is not None:
        logger.info("tickwork: task %s was delivered again; it ran already: dropped", task_id)
        unkept = bool(done.pop(UNKEPT, False))
        answer = {**done, "duplicate": True}
        if unkept and on_end is not None and on_end(answer):
            guard.finish(task_id, done)  # (kept now: a later delivery leaves it)
        return answer
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(guard.lease / 3):
            try:
                if not guard.renew(task_id, token):
                    logger.error("tickwork: lost the lease of task %s while it ran", task_id)
                    return
            except Exception:
                logger.exception("tickwork: could not renew the lease of task %s", task_id)

    renewer = threading.Thread(target=renew, name="tickwork-lease", daemon=True)
    renewer.start()
    try:
        if on_start is not None:
            on_start()
        outcome = outcome_of(message, timeout_errors)
    finally:
        stop.set()
    kept = True if on_end is None else on_end(outcome)
    guard.finish(task_id, outcome if kept else {**outcome, UNKEPT: True})
    return outcome
