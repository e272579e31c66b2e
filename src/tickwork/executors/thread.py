"""``ThreadExecutor``: runs jobs in a pool of worker threads (the default executor).

Theory of operation: pending requests wait in one :class:`collections.deque`. Workers
take requests with ``popleft`` (atomic in CPython, so the hot path takes no lock) and
only take the lock when the queue is empty and they park. A parked worker blocks on a
lock of its own (its "gate", held while it sleeps), listed in ``_parked`` under the
lock. A submitter appends under the lock and releases as many gates as it has new
requests, the most recently parked first (its thread's memory is the warmest), and
starts new workers, up to ``max_workers``, for the rest. A woken worker goes straight
to the queue: it takes no shared lock on the way (a condition variable would make it
re-take the submitter's lock, often still held, at the cost of a second wake-up).
There is no per-run Future, lock or event: a run costs a ``popleft``, the call and
one result record.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from _thread import LockType, allocate_lock
from collections import deque
from collections.abc import Collection, Sequence
from datetime import datetime
from types import CoroutineType as _Coroutine

from .._checks import whole
from .._clock import Clock
from .._context import CURRENT_REQUEST, request_fields, run_coroutine, run_request_blocking
from .._errors import SchedulerStateError
from .._model import Outcome, RunRequest, RunResult
from ._base import BatchExecutor, ReportCallback, check_ended

__all__ = ["ThreadExecutor"]

logger = logging.getLogger("tickwork")

_worker_numbers = itertools.count(1)
_new = tuple.__new__
_SUCCESS = Outcome.SUCCESS
_MISSED = Outcome.MISSED
_enter, _leave = CURRENT_REQUEST.set, CURRENT_REQUEST.reset


class ThreadExecutor(BatchExecutor):
    """Run each job in one of up to *max_workers* daemon threads (the default executor).

    Workers start lazily, when there is work and no idle worker, and then stay for the
    executor's lifetime. Runs start in submission order.

    A coroutine function is run to completion with :func:`asyncio.run` inside the
    worker thread (a fallback: give such jobs to an
    :class:`~tickwork.executors.AsyncioExecutor` to share one loop).

    Guarantees and limits:

    * ``timeout`` is **not** enforced: a thread cannot be stopped from outside
      (``enforces_timeout`` is false); a run simply takes as long as it takes.
    * A run of a fire time that would start later than its job's
      ``misfire_grace_time`` after it (it waited that long for a free thread) does not
      start: it is reported ``MISSED``.
    * Any exception a job raises is reported as ``FAILURE`` and the worker carries on.
      That includes ``KeyboardInterrupt``, ``SystemExit`` and ``GeneratorExit`` raised
      by the job itself (signals never reach worker threads, so such an exception can
      only come from the job); these are also logged as errors.
    * :meth:`shutdown` stops new submits at once, and nothing queued starts afterwards:
      runs submitted but not yet started are each reported once as ``INTERRUPTED``
      before :meth:`shutdown` returns. ``wait=True`` then waits for the running ones
      (at most *timeout* seconds; those still running keep going in their daemon
      threads and are reported when they end); ``wait=False`` returns at once.
    * Shut down, it serves the next scheduler that starts it afresh (see
      :meth:`start`).

    Args:
        max_workers: the most threads running jobs at once (>= 1).

    Raises:
        TypeError, ValueError: *max_workers* is not an int, or is less than 1.
    """

    kind = "thread"
    runs_hooks = True

    def __init__(self, max_workers: int = 10) -> None:
        whole(max_workers, "max_workers")  # (TypeError for "2" or True; ValueError for 0)
        self._max_workers = max_workers
        self._queue: deque[RunRequest] = deque()
        self._lock = threading.Lock()
        # The gates of parked workers not yet woken, each held (guarded by _lock).
        self._parked: list[LockType] = []
        self._threads: list[threading.Thread] = []
        self._closed = False
        # Set by take_unstarted (the scheduler is shutting down) and by shutdown: no
        # queued run starts any more.
        self._holding = False

    @property
    def max_workers(self) -> int:
        """The most threads running jobs at once."""
        return self._max_workers

    def __repr__(self) -> str:
        return f"ThreadExecutor(max_workers={self._max_workers})"

    def start(self, report: ReportCallback, clock: Clock) -> None:
        """See :meth:`Executor.start`. Shut down by a scheduler before, the executor
        serves this one afresh: an empty queue, new threads (once those of its last
        service have ended: ``SchedulerStateError`` if one still runs a job)."""
        if self._closed:
            # (Not under the lock: a worker on its way out takes it.)
            check_ended(self.kind, list(self._threads))
            with self._lock:
                self._queue = deque()
                self._parked = []
                self._threads = []
                self._closed = self._holding = False
        super().start(report, clock)

    def submit(self, request: RunRequest) -> None:
        """Queue *request*; a worker starts it as soon as one is free.

        Raises:
            SchedulerStateError: :meth:`shutdown` has been called.
        """
        with self._lock:
            if self._closed:
                raise SchedulerStateError(
                    f"cannot submit job {request.job_id!r}: the thread executor is shut down"
                )
            self._queue.append(request)
            self._wake(1)

    def _enqueue(self, batch: Sequence[RunRequest]) -> None:
        # Lock held (see BatchExecutor.submit_many): wake as many workers as needed.
        self._queue.extend(batch)
        self._wake(len(batch))

    def _wake(self, count: int) -> None:
        # Called with the lock held, after *count* requests were appended.
        parked = self._parked
        while parked and count:
            parked.pop().release()  # the last to park: its thread is the warmest
            count -= 1
        if count > 0:
            for _ in range(min(count, self._max_workers - len(self._threads))):
                thread = threading.Thread(
                    target=self._work, name=f"tickwork-worker-{next(_worker_numbers)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()

    def _work(self) -> None:
        queue = self._queue
        popleft = queue.popleft
        lock, parked = self._lock, self._parked
        now = self._clock.now
        report = self._report
        # This worker's gate: held while it is parked, released by whoever wakes it.
        gate = allocate_lock()
        gate.acquire()
        while True:
            try:
                request = popleft()
            except IndexError:
                with lock:
                    if self._closed:
                        return
                    if queue:
                        continue
                    parked.append(gate)
                # Released by _wake (or shutdown) exactly once per append, under the
                # lock: a request queued before the append was seen just above.
                gate.acquire()
                continue
            if self._holding:
                if self._closed:
                    # shutdown() drained the queue but this worker popped first: the run
                    # has not started, so it is reported like the rest of the queue.
                    self._interrupt(request)
                    continue
                # take_unstarted() is taking the queue: the run goes back for it, and
                # this worker parks until shutdown.
                queue.appendleft(request)
                with lock:
                    if self._closed:
                        continue
                    parked.append(gate)
                gate.acquire()
                continue
            started = now()
            grace = request.misfire_grace
            if grace is not None and started - request.scheduled_at > grace:
                self._deliver(_new(RunResult, (request, _MISSED, None, None, None, started)))
                continue
            func = request.func
            if func is None or self._run_hooks:
                self._execute(request, started)
                continue
            # _execute and run_request_blocking, inlined for a plain function (this runs
            # once per run).
            token = _enter(request)
            try:
                kwargs = request.kwargs
                value = func(*request.args, **kwargs) if kwargs else func(*request.args)
                if value is not None and isinstance(value, _Coroutine):
                    value = run_coroutine(request, value)
            except BaseException as error:
                _leave(token)
                result = self._failure(request, error, started)
            else:
                _leave(token)
                # Built as a plain tuple is: RunResult's constructor is a Python function.
                result = _new(RunResult, (request, _SUCCESS, value, None, started, now()))
            try:
                report(result)
            except Exception:  # pragma: no cover - the scheduler's callback does not raise
                logger.exception(
                    "tickwork: the result callback failed for %r",
                    request,
                    extra=request_fields(request),
                )

    def _execute(self, request: RunRequest, started: datetime) -> None:
        """Run *request* (in its hooks, if any), starting at *started*, and report how
        it ended."""
        try:
            value = run_request_blocking(request, self._run_hooks)
        except BaseException as error:
            result = self._failure(request, error, started)
        else:
            result = _new(RunResult, (request, _SUCCESS, value, None, started, self._clock.now()))
        self._deliver(result)

    def _failure(self, request: RunRequest, error: BaseException, started: datetime) -> RunResult:
        """The result of a run that raised *error*. Anything but an ``Exception`` (a job
        raising ``SystemExit``, say) is also logged: the worker carries on."""
        if not isinstance(error, Exception):
            logger.error(
                "tickwork: job %r raised %s; reported as a failure, the worker carries on",
                request.job_id,
                type(error).__name__,
                extra=request_fields(request),
            )
        return RunResult(request, Outcome.FAILURE, None, error, started, self._clock.now())

    def _interrupt(self, request: RunRequest) -> None:
        now = self._clock.now()
        self._deliver(RunResult(request, Outcome.INTERRUPTED, started_at=None, finished_at=now))

    def take_unstarted(self) -> list[RunRequest]:
        """Start no queued run from now on; return those queued (see
        :meth:`Executor.take_unstarted`)."""
        with self._lock:
            self._holding = True
        taken: list[RunRequest] = []
        while True:
            try:
                taken.append(self._queue.popleft())
            except IndexError:
                return taken

    def withdraw(self, job_ids: Collection[str]) -> list[RunRequest]:
        """Take the queued runs of *job_ids* out of the queue and return them (see
        :meth:`Executor.withdraw`)."""
        queue = self._queue
        taken = []
        # (list() copies the deque in one go; a worker may pop one of them meanwhile,
        # and then it has started.)
        for request in [request for request in list(queue) if request.job_id in job_ids]:
            try:
                queue.remove(request)
            except ValueError:
                continue
            taken.append(request)
        return taken

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop accepting runs, report queued ones ``INTERRUPTED``, maybe wait for the rest.

        Args:
            wait: wait for running jobs to end before returning.
            timeout: with *wait*, the most seconds to wait; jobs still running then keep
                running in their daemon threads (and are reported when they end).

        Calling it again is harmless. Called from inside a job, it does not wait for
        that job's own thread.
        """
        with self._lock:
            self._closed = self._holding = True
            for gate in self._parked:
                gate.release()
            self._parked.clear()
            threads = list(self._threads)
        # popleft one at a time: a worker may be popping concurrently, and each request
        # must end up either started by it or reported here, never both.
        interrupted: list[RunRequest] = []
        while True:
            try:
                interrupted.append(self._queue.popleft())
            except IndexError:
                break
        for request in interrupted:
            self._interrupt(request)
        if not wait:
            return
        # Real time on purpose: how long shutdown may block is about the real world, not
        # the scheduler's (possibly fake) clock.
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        current = threading.current_thread()
        for thread in threads:
            if thread is current:
                continue
            if deadline is None:
                thread.join()
            else:
                thread.join(max(deadline - time.monotonic(), 0.0))
