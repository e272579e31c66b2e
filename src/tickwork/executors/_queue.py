"""Runs handed to a task queue: the :class:`Enqueuer` seam and :class:`QueueExecutor`.

Theory of operation: tickwork decides *when* (claims, leases, policies, history);
the queue decides *where*. :meth:`QueueExecutor.submit_many` turns each claimed run
into a :class:`QueuedTask` (a message, a task id derived from the run, an expiry) and
hands the batch to an :class:`Enqueuer`, which sends it. A collector thread asks the
enqueuer every ``poll_interval`` seconds for the outcomes of the tasks still out and
reports each, once, to the scheduler, which records history, fires events and applies
``retry`` and ``max_instances`` exactly as for a local executor.

The hand-off is exactly-once in effect, not by luck: the task id is a uuid5 of the
run's ``run_id`` (job id, nominal time, attempt), so sending a run again (a takeover
after the scheduler died between the send and the end of the run) sends *the same
task*, and the worker's guard (:func:`tickwork.executors._worker.run_guarded`) runs a
task id once and answers a later delivery with the first outcome. While a run is out
on a worker, the scheduler that sent it keeps its store lease (renewed as for any
running run); a process that takes the lease over re-sends the run, never runs it
itself.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, NamedTuple, Protocol, runtime_checkable

from .._checks import seconds
from .._context import request_fields
from .._errors import JobTimeout, RemoteJobError, SerializationError, WorkerDied
from .._instants import EPOCH
from .._model import Outcome, RunRequest, RunResult, UnkeptReturn
from .._serialize import _args_problem
from ._base import BatchExecutor
from ._worker import message_of, not_json, task_id_of
from .process import _reference_for

__all__ = ["Enqueuer", "QueueExecutor", "QueuedTask"]

logger = logging.getLogger("tickwork")

#: What an error about a function without a reference advises.
BY_REFERENCE = (
    "a task queue's workers import the job's function by its reference, so use a "
    "function defined at the top level of a module they can import (or give its "
    "reference as 'module:function')"
)
#: The most outcomes the collector asks for in one read.
READ_AT_ONCE = 2000
#: Seconds a run whose send failed is sent again (at each look for outcomes) before it
#: is reported ``INTERRUPTED``; less when its misfire grace ends sooner.
UNSENT_FOR = 10.0


class QueuedTask(NamedTuple):
    """One run as a task for a queue."""

    #: Derived from the run (uuid5 of its ``run_id``): the same for every re-send.
    task_id: str
    #: What the worker runs (JSON-able: reference, args, kwargs, job id, nominal time,
    #: attempt, timeout; the event and upstream runs, when the run has them).
    message: dict[str, Any]
    #: When the task must be dropped unstarted (nominal time + misfire grace; None: never).
    expires: datetime | None
    #: The job's ``timeout`` in seconds (the queue's time limit), or None.
    timeout: float | None


@runtime_checkable
class Enqueuer(Protocol):
    """What a task queue adapter implements (the Celery and RQ ones are about a hundred
    lines each). The contract:

    * :meth:`send` sends every task of the batch, with the task's id as the queue's
      task id, its ``expires`` as the queue's expiry (never an ETA or countdown: a run is
      sent when due), and its ``timeout`` as the queue's time limit, to be run by a
      worker that calls ``run_guarded(task_id, message, guard)``. Sending a task id
      again must be harmless (the worker's guard runs an id once). It raises (any
      exception, naming the broker) when the broker cannot take the batch; the
      executor then reports the batch's runs ``INTERRUPTED`` with that error.
    * :meth:`results` returns, for the given task ids, the outcomes of those that have
      ended, keyed by id; ids still queued or running are left out. An outcome is the
      worker's dict (``ok``, ``value`` (or ``unkept``: the type of a value that is
      not JSON) or ``error_type``/``error``/``traceback``, ``started_at``,
      ``finished_at``), or one the adapter makes for a task the queue
      itself ended: expired unstarted (``"expired": True``), its worker lost
      (``error_type`` ``"tickwork.WorkerDied"``). It raises when the result store cannot
      be read (the executor logs it and asks again). Called from one thread.
    * :meth:`close` releases connections; called once, at shutdown.
    * Optionally, ``started(task_ids)`` returns when a worker started each of the given
      tasks still running (aware datetimes, by id; those it does not know left out).
      At shutdown the runs still out are reported ``INTERRUPTED`` with that start
      (``started_at``), or with None when the queue cannot tell.
    """

    def send(self, tasks: Sequence[QueuedTask]) -> None:
        """Send the batch (see the class docstring)."""

    def results(self, task_ids: Sequence[str]) -> Mapping[str, Mapping[str, Any]]:
        """The outcomes of the tasks among *task_ids* that have ended."""
        ...

    def close(self) -> None:
        """Release connections."""


def _instant(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def result_of(request: RunRequest, outcome: Mapping[str, Any], now: datetime) -> RunResult:
    """The :class:`RunResult` of *request* from a worker's (or the queue's) *outcome*."""
    started = _instant(outcome.get("started_at"))
    finished = _instant(outcome.get("finished_at")) or now
    if outcome.get("ok"):
        unkept = outcome.get("unkept")
        value = outcome.get("value") if unkept is None else UnkeptReturn(str(unkept))
        return RunResult(request, Outcome.SUCCESS, value, None, started, finished)
    kind = str(outcome.get("error_type") or "")
    text = str(outcome.get("error") or "")
    where = f"job {request.job_id!r}"
    error: BaseException
    if outcome.get("expired"):
        error = RemoteJobError(f"{where}: {text}", kind)
        return RunResult(request, Outcome.INTERRUPTED, None, error, None, finished)
    if kind == "tickwork.JobTimeout":
        error = JobTimeout(text)
    elif kind == "tickwork.WorkerDied":
        error = WorkerDied(f"the worker running {where} died: {text}")
    else:
        error = RemoteJobError(
            f"{where} raised {kind} on a worker: {text}", kind, str(outcome.get("traceback", ""))
        )
    return RunResult(request, Outcome.FAILURE, None, error, started, finished)


class QueueExecutor(BatchExecutor):
    """Hands runs to a task queue through an :class:`Enqueuer` (see the module docstring).

    :class:`~tickwork.executors.CeleryExecutor` and
    :class:`~tickwork.executors.RQExecutor` are this with their queue's enqueuer; give
    it your own enqueuer for another queue.

    Args:
        enqueuer: the queue adapter.
        poll_interval: seconds between two reads of the outcomes of runs still out.
        resend_after: seconds after which a run whose outcome has not come back is sent
            again (with the same task id; then after twice as long, and so on), in case
            the broker lost it; None: never. A run still queued behind others, or
            running, is not run twice: the worker's guard answers the second delivery
            (which waits for the first to end, holding a worker slot).
    """

    kind: ClassVar[str] = "task queue"
    enforces_timeout: ClassVar[bool] = True
    #: The engine re-sends (never runs locally) a run of this executor that it takes
    #: over from a process that died; the task id makes the re-send the same task.
    resends_on_takeover: ClassVar[bool] = True

    def __init__(
        self,
        enqueuer: Enqueuer,
        *,
        poll_interval: float = 0.01,
        resend_after: float | None = 30.0,
    ) -> None:
        if not isinstance(enqueuer, Enqueuer):
            raise TypeError(
                f"enqueuer must implement tickwork.executors.Enqueuer, got {enqueuer!r}"
            )
        # (As every number of the API: a bool or a str is a TypeError, NaN, inf and
        # <= 0 a ValueError, each naming the argument; None is "never" for resend_after.)
        poll_interval = seconds(poll_interval, "poll_interval", positive=True)
        if resend_after is not None:
            resend_after = seconds(resend_after, "resend_after", positive=True)
        self.resend_after = resend_after
        # Runs whose outcome has not come back: task id -> the task and when to re-send
        # it (time.monotonic(); inf: never) with the wait after that.
        self._resend: dict[str, list[Any]] = {}
        self.enqueuer = enqueuer
        self.poll_interval = float(poll_interval)
        self._lock = threading.Lock()
        self._closed = False
        self._out: dict[str, RunRequest] = {}
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._collector: threading.Thread | None = None
        self._sender: threading.Thread | None = None
        self._sent = 0
        # Runs queued for the sender thread.
        self._pending: deque[RunRequest] = deque()
        self._failing = False
        # Runs whose send failed: task id -> (when to give up, time.monotonic(); the
        # error). A failed send may have reached the broker all the same (a Redis
        # pipeline cut off midway): they stay out, their outcome is looked for, and
        # they are sent again at each look until one send gets through.
        self._unsent: dict[str, tuple[float, BaseException]] = {}

    def attach_store(self, store: object) -> None:
        """Hand the scheduler's store to the enqueuer, when it takes one (an
        ``attach_store(store)`` method: the Celery enqueuer reading outcomes from the
        store).

        Raises:
            TypeError: the enqueuer cannot read outcomes from such a store.
        """
        attach = getattr(self.enqueuer, "attach_store", None)
        if callable(attach):
            attach(store)

    def check(
        self,
        func: Callable[..., Any] | None,
        func_ref: str | None,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
    ) -> None:
        """Refuse at ``add_job`` what a worker could never run: a function without an
        importable reference, arguments that JSON cannot carry unchanged (refused as
        :class:`~tickwork.stores.SQLiteStore` refuses them, whatever the store).

        Raises:
            SerializationError: naming the function or argument.
        """
        request = RunRequest(0, "?", func, func_ref, (), {}, EPOCH)
        reference = _reference_for(request, BY_REFERENCE)
        if reference.startswith("__main__:"):
            raise SerializationError(
                f"job function {reference!r} is defined in the __main__ script, which a "
                "worker cannot import by that name; move it to a module the workers can "
                "import (or give its reference as 'module:function')"
            )
        # The stores' own check, whatever the store: the worker gets the arguments back
        # from JSON, so anything JSON would change (a tuple, an int key, NaN) is refused
        # as a SQLiteStore refuses it, not sent to arrive as a list or a "2".
        problem = _args_problem(args, kwargs, pickle_option=False)
        if problem is not None:
            raise SerializationError(
                f"cannot send the arguments of a job to a task queue, whose workers get "
                f"them as JSON: {problem}"
            )

    def task_for(self, request: RunRequest) -> QueuedTask:
        """The task *request* is sent as.

        Raises:
            SerializationError: its function has no reference, or its arguments, its
                event's payload or an upstream run's return value are not JSON.
        """
        # The job's own reference, when it has one (checked at add_job), saves looking
        # the function up again for every run.
        message = message_of(request, request.func_ref or _reference_for(request, BY_REFERENCE))
        try:
            json.dumps(message)
        except (TypeError, ValueError):
            raise SerializationError(
                f"cannot send job {request.job_id!r} to a task queue: "
                f"{not_json(message)} cannot go as JSON"
            ) from None
        grace = request.misfire_grace
        # (In UTC first: a zone's wall time plus the grace is an hour off at a change.)
        expires = None if grace is None else request.scheduled_at.astimezone(timezone.utc) + grace
        if expires is not None:  # (the worker checks it too: not every queue expires)
            message["expires"] = expires.isoformat()
        task_id = task_id_of(request.job_id, request.scheduled_at, request.attempt)
        return QueuedTask(task_id, message, expires, request.timeout)

    def _enqueue(self, batch: Sequence[RunRequest]) -> None:
        # The sender thread builds and sends the tasks: the engine's thread only queues
        # them (a broker that is slow, or down and retried, never holds it up).
        self._pending.extend(batch)
        self._changed.notify_all()
        if self._sender is None:
            self._sender = threading.Thread(
                target=self._send_loop, name="tickwork-queue-sender", daemon=True
            )
            self._collector = threading.Thread(
                target=self._collect, name="tickwork-queue-collector", daemon=True
            )
            self._sender.start()
            self._collector.start()

    def _send_loop(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._stop.is_set():
                    self._changed.wait()
                if not self._pending:
                    return
                batch = list(self._pending)
                self._pending.clear()
            self._send(batch)
            with self._lock:
                self._changed.notify_all()

    def _send(self, batch: list[RunRequest]) -> None:
        pairs: list[tuple[QueuedTask, RunRequest]] = []
        refused: list[RunResult] = []
        for request in batch:
            try:
                pairs.append((self.task_for(request), request))
            except SerializationError as error:
                refused.append(RunResult(request, Outcome.FAILURE, exception=error))
        tasks = [task for task, _ in pairs]
        with self._lock:
            due = time.monotonic() + (self.resend_after or 0.0)
            for task, request in pairs:
                self._out[task.task_id] = request
                if self.resend_after is not None:
                    self._resend[task.task_id] = [task, due, self.resend_after]
        for result in refused:
            self._deliver(result)
        if not tasks:
            return
        try:
            self.enqueuer.send(tasks)
        except Exception as error:
            if self.resend_after is None:
                logger.error("tickwork: the task queue refused %d run(s): %s", len(tasks), error)
                self._give_up([task.task_id for task in tasks], error)
                return
            logger.error(
                "tickwork: the task queue refused %d run(s): %s; sending them again for up "
                "to %g s (within their misfire grace)",
                len(tasks),
                error,
                UNSENT_FOR,
            )
            clock, now = time.monotonic(), self._clock.now()
            with self._lock:
                for task in tasks:
                    left = UNSENT_FOR
                    if task.expires is not None:
                        left = min(left, (task.expires - now).total_seconds())
                    self._unsent[task.task_id] = (clock + left, error)
            return
        with self._lock:
            self._sent += len(tasks)

    def _collect(self) -> None:
        wait = self.poll_interval
        cursor = 0
        while not self._stop.wait(wait):
            wait = self.poll_interval
            with self._lock:
                ids = list(self._out)
            if not ids:
                continue
            if len(ids) > READ_AT_ONCE:
                # Thousands out (a burst just sent): a slice per read, in turn, so that
                # reading outcomes does not compete with sending for the whole time.
                cursor = cursor % len(ids)
                ids = ids[cursor : cursor + READ_AT_ONCE]
                cursor += READ_AT_ONCE
            found: dict[str, Mapping[str, Any]] = {}
            began = time.monotonic()
            try:
                for start in range(0, len(ids), 1000):
                    found.update(self.enqueuer.results(ids[start : start + 1000]))
            except Exception as error:
                if not self._failing:
                    logger.error("tickwork: cannot read the outcomes of queued runs: %s", error)
                self._failing = True
                self._give_up_unsent()
                continue
            self._failing = False
            # With thousands of runs out, reading them all takes a while: rest at least
            # as long again, so the reads never take more than half of a core from
            # the sends and the scheduler.
            wait = max(self.poll_interval, time.monotonic() - began)
            self._resend_lost(ids, found)
            if not found:
                continue
            now = self._clock.now()
            ended: list[RunResult] = []
            with self._lock:
                for task_id, outcome in found.items():
                    request = self._out.pop(task_id, None)
                    self._resend.pop(task_id, None)
                    self._unsent.pop(task_id, None)  # (it had reached the broker)
                    if request is not None:
                        ended.append(result_of(request, outcome, now))
                self._changed.notify_all()
            for result in ended:
                if result.outcome is not Outcome.SUCCESS and result.exception is not None:
                    fields = request_fields(result.request)
                    logger.debug("tickwork: %s", result.exception, extra=fields)
                self._deliver(result)

    def _resend_lost(self, ids: list[str], found: Mapping[str, Any]) -> None:
        """Send again the runs among *ids* (just read) out longer than ``resend_after``
        (then twice as long, and so on): a message the broker lost (a restart, a
        worker's fetch cut off) is not waited for forever. The same task id: the
        worker's guard runs it once."""
        if self.resend_after is None:
            return
        clock = time.monotonic()
        with self._lock:
            # (Also while a shutdown waits for the runs out: not after it gave up.)
            if self._stop.is_set():
                return
            due = []
            unsent = self._unsent
            for task_id in ids:
                entry = self._resend.get(task_id)
                if entry is None or task_id in found:
                    continue
                if task_id in unsent:
                    due.append(entry)  # (a failed send: again at each look)
                elif entry[1] <= clock:
                    entry[2] *= 2
                    entry[1] = clock + entry[2]
                    due.append(entry)
        if not due:
            return
        try:
            self.enqueuer.send([entry[0] for entry in due])
        except Exception as error:
            logger.error("tickwork: could not send %d run(s) again: %s", len(due), error)
            self._give_up_unsent()
            return
        with self._lock:
            for entry in due:
                if self._unsent.pop(entry[0].task_id, None) is not None:
                    self._sent += 1  # (its first send that got through)
        logger.warning(
            "tickwork: %d run(s) out on the task queue for over %s s with no outcome were "
            "sent again (the same task ids: a worker runs each once)",
            len(due),
            self.resend_after,
        )

    def _give_up_unsent(self) -> None:
        """Report ``INTERRUPTED`` the runs whose sends kept failing past their time
        (``UNSENT_FOR``, or their misfire grace), with the error of their first send."""
        clock = time.monotonic()
        with self._lock:
            late = [(i, error) for i, (until, error) in self._unsent.items() if until <= clock]
        for task_id, error in late:
            self._give_up([task_id], error)

    def _give_up(self, task_ids: list[str], error: BaseException) -> None:
        """Report the runs *task_ids* ``INTERRUPTED`` with *error*: they were not sent."""
        now = self._clock.now()
        with self._lock:
            lost = [self._out.pop(task_id, None) for task_id in task_ids]
            for task_id in task_ids:
                self._resend.pop(task_id, None)
                self._unsent.pop(task_id, None)
            self._changed.notify_all()
        for request in lost:
            if request is not None:
                self._deliver(RunResult(request, Outcome.INTERRUPTED, None, error, None, now))

    def _starts(self, task_ids: list[str]) -> Mapping[str, datetime]:
        """When a worker started each of *task_ids*, for those the queue knows (the
        enqueuer's optional ``started(task_ids)``; see :class:`Enqueuer`)."""
        started = getattr(self.enqueuer, "started", None)
        if not callable(started):
            return {}
        try:
            found = started(task_ids)
        except Exception as error:
            logger.warning("tickwork: cannot read when the runs still out started: %s", error)
            return {}
        return {
            task_id: moment
            for task_id, moment in dict(found).items()
            if isinstance(moment, datetime) and moment.tzinfo is not None
        }

    def sent(self) -> int:
        """How many runs the queue has taken so far (re-sends not counted)."""
        with self._lock:
            return self._sent

    def out(self) -> int:
        """How many runs are out on the queue, their outcomes not yet collected."""
        with self._lock:
            return len(self._out)

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop sending; with *wait*, wait (at most *timeout* seconds) for the outcomes
        of the runs out on workers. Runs whose outcome is not in by then are reported
        ``INTERRUPTED`` (they may still run on their workers: the queue has them)."""
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        with self._lock:
            self._closed = True
            while wait and (self._out or self._pending) and self._collector is not None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._changed.wait(0.1 if left is None else min(left, 0.1))
            unsent = list(self._pending)
            left_out = dict(self._out)
            self._pending.clear()
            self._out.clear()
            self._resend.clear()
            self._unsent.clear()
            self._changed.notify_all()
        self._stop.set()
        with self._lock:
            self._changed.notify_all()
        for thread in (self._sender, self._collector):
            if thread is not None and thread is not threading.current_thread():
                thread.join(5)
        now = self._clock.now() if left_out or unsent else None
        for request in unsent:
            error = RemoteJobError(
                f"job {request.job_id!r} was not sent to the task queue yet when the "
                "scheduler shut down"
            )
            self._deliver(RunResult(request, Outcome.INTERRUPTED, None, error, None, now))
        starts = self._starts(list(left_out)) if left_out else {}
        for task_id, request in left_out.items():
            # Whether a worker took it is not known here (only when, if the queue
            # says): not "never started", nor "cut off" (its worker may finish it).
            error = RemoteJobError(
                f"job {request.job_id!r} was still out on a worker when the scheduler shut "
                "down; its outcome was not collected"
            )
            reason = (
                "the run was still out on a worker when the scheduler shut down; it may "
                "still run or finish there"
            )
            started = starts.get(task_id)
            result = RunResult(request, Outcome.INTERRUPTED, None, error, started, now, reason)
            self._deliver(result)
        try:
            self.enqueuer.close()
        except Exception:
            logger.exception("tickwork: the task queue's enqueuer failed to close")


def utc_now() -> datetime:
    """Now, in UTC (the adapters turn ``expires`` into seconds from now with it)."""
    return datetime.now(timezone.utc)


def seconds_until(moment: datetime | None) -> float | None:
    """Seconds from now until *moment* (at least 0.001), or None."""
    if moment is None:
        return None
    return max((moment - utc_now()) / timedelta(seconds=1), 0.001)
