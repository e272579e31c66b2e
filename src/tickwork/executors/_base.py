"""The executor contract.

An executor runs job functions somewhere (worker threads, an asyncio loop, worker
processes, the calling thread) and reports how each run ended. The scheduler decides
*what* runs and *when*; an executor only runs what it is given, as soon as it can.

Contract, checked by ``tests/executors/test_contract.py`` for every executor:

* :meth:`Executor.start` is called once by each scheduler that uses the executor,
  before its first submit, with the callback that receives results and the clock used
  to stamp them. A built-in executor shut down by one scheduler starts afresh when
  another starts it (:meth:`Executor.start` refuses, with
  :class:`~tickwork.SchedulerStateError`, while runs of its last service still go on).
* :meth:`Executor.submit` never blocks on the job itself. Each submitted request is
  reported exactly once through the callback, as a :class:`~tickwork.RunResult`:
  ``SUCCESS`` with the return value, or ``FAILURE`` with the exception (a timeout is a
  :class:`~tickwork.JobTimeout`). A job's exception never escapes into the executor's
  machinery or kills a worker.
* While the function runs, ``tickwork.current_run()`` returns the request's context.
* After :meth:`Executor.shutdown` has been called, :meth:`submit` raises
  :class:`~tickwork.SchedulerStateError` and nothing new starts. ``shutdown(wait=True,
  timeout=None)`` returns once every started run has been reported; with a timeout it
  returns after at most that long, leaving the rest running (threads cannot be killed)
  or stopping them (processes, asyncio tasks: reported as ``INTERRUPTED``).
  ``wait=False`` returns at once; started runs finish (threads) or are cancelled
  (asyncio tasks, process workers) as each executor documents.
* The callback may be called from any thread; it must not raise (if it does, the
  executor logs the error and carries on).
* :meth:`Executor.take_unstarted` (optional; the default takes nothing): from the call
  on, no submitted run that has not started yet starts; those are returned (and not
  reported), now or at a later call, or reported ``INTERRUPTED`` by :meth:`shutdown`.
* :meth:`Executor.withdraw` (optional; the default takes nothing): the named jobs'
  runs not started yet are returned (not reported), and never start.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from .._clock import Clock
from .._context import RunHook, request_fields
from .._errors import SchedulerStateError
from .._model import RunRequest, RunResult

__all__ = ["BatchExecutor", "Executor", "ReportCallback", "check_ended"]

#: Receives each run's result. Called from any thread.
ReportCallback = Callable[[RunResult], None]

logger = logging.getLogger("tickwork")

#: How long (real seconds) an executor that was shut down waits, when a scheduler
#: starts it again, for the threads of its last service to end (see check_ended).
REOPEN_WAIT = 1.0


def check_ended(kind: str, threads: Iterable[threading.Thread | None]) -> None:
    """Before an executor that was shut down starts afresh: wait (at most
    :data:`REOPEN_WAIT` in all) for *threads*, those of its last service, to end.

    A thread still going (a run its last scheduler started, shut down without waiting)
    would report that run to the new scheduler, which never started it: the executor
    is refused instead. Called without holding a lock those threads take.

    Raises:
        SchedulerStateError: a thread is still alive; the message names the executor
            by *kind* and says what to do.
    """
    deadline = time.monotonic() + REOPEN_WAIT
    current = threading.current_thread()
    for thread in threads:
        if thread is None:
            continue
        if thread is not current:
            thread.join(max(deadline - time.monotonic(), 0.0))
        if thread.is_alive():
            raise SchedulerStateError(
                f"this {kind} executor was shut down and a run its last scheduler "
                "started is still going; a new scheduler can start it only once that has "
                "ended: shut the last one down with wait=True, or give the new scheduler "
                "an executor of its own"
            )


class Executor(ABC):
    """Base class of executors. Subclasses implement :meth:`submit` and :meth:`shutdown`."""

    #: Whether coroutine functions run natively here (else the scheduler picks an
    #: asyncio executor for them).
    runs_coroutines: ClassVar[bool] = False
    #: Whether ``timeout`` is enforced (else it is documented as advisory).
    enforces_timeout: ClassVar[bool] = False
    #: Whether :meth:`add_run_hook` is offered: the job's function runs in this process
    #: (a thread, a task on a loop), where a hook's context (a trace span) is the job's.
    runs_hooks: ClassVar[bool] = False
    _run_hooks: tuple[RunHook, ...] = ()

    def add_run_hook(self, hook: RunHook) -> None:
        """Enter ``hook(request)``, a context manager, around each job function this
        executor runs from now on, in the thread (or asyncio task) that runs it: what was
        made current there (an OpenTelemetry span, a logging context) is current for the
        job. The
        context manager sees the job's exception and cannot swallow it; a hook that
        raises is logged and left out, and never fails the run.

        Raises:
            TypeError: *hook* is not callable, or this executor runs jobs elsewhere
                (another process; see :attr:`runs_hooks`).
        """
        if not callable(hook):
            raise TypeError(f"a run hook must be callable, got {hook!r}")
        if not self.runs_hooks:
            raise TypeError(
                f"{type(self).__name__} does not run hooks (its jobs do not run in this "
                "process, where a hook's context would be theirs)"
            )
        self._run_hooks = (*self._run_hooks, hook)

    def remove_run_hook(self, hook: RunHook) -> None:
        """Stop entering *hook* (:meth:`add_run_hook`).

        Raises:
            LookupError: *hook* was not added.
        """
        if hook not in self._run_hooks:
            raise LookupError(f"run hook {hook!r} was not added")
        hooks = list(self._run_hooks)
        hooks.remove(hook)
        self._run_hooks = tuple(hooks)

    def attach_store(self, store: object) -> None:  # noqa: B027 - deliberately a no-op hook
        """Take the scheduler's job store (called once, when the scheduler is made, for
        each of its executors). The default ignores it; an executor whose runs report
        through the store (``CeleryExecutor(app, outcomes="store")``) keeps it.

        Raises:
            TypeError: this executor needs a kind of store *store* is not; the message
                names both.
        """

    def start(self, report: ReportCallback, clock: Clock) -> None:
        """Attach the result callback and the clock. Called once by each scheduler that
        uses this executor, before its first submit.

        The built-in executors, shut down by one scheduler, start afresh here when
        another uses them (new threads, processes or loop); they raise
        ``SchedulerStateError`` while a run of their last scheduler is still going.
        """
        self._report = report
        self._clock = clock

    @abstractmethod
    def submit(self, request: RunRequest) -> None:
        """Start running *request* as soon as possible; never blocks on the job."""

    def submit_many(self, requests: Iterable[RunRequest]) -> None:
        """Submit several requests; executors may hand them over in one go."""
        for request in requests:
            self.submit(request)

    def check(  # noqa: B027 - deliberately a no-op hook
        self,
        func: Callable[..., Any] | None,
        func_ref: str | None,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
    ) -> None:
        """Raise a clear error now if this executor could never run such a job.

        Called by ``add_job`` so that bad input fails at the call, not later in a
        background thread. The default accepts everything.
        """

    def take_unstarted(self) -> list[RunRequest]:
        """Start none of the runs submitted and not yet started, from now on; return
        them (the scheduler is shutting down: it leaves them in a shared store for
        another process, or reports them ``INTERRUPTED``). Submitting still works, and
        what is submitted afterwards is held too (a later call returns it), until
        :meth:`shutdown`. A returned run is no longer this executor's to report.

        The default takes nothing: an executor that does not override it starts what
        it was given, and its :meth:`shutdown` reports the rest.
        """
        return []

    def withdraw(self, job_ids: Collection[str]) -> list[RunRequest]:
        """Take back the runs of the jobs *job_ids* submitted and not started yet (their
        job was paused or removed): none of them starts; they are returned, and not
        reported. The default takes nothing back (they start when their turn comes)."""
        return []

    @abstractmethod
    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop accepting runs; see the module docstring for *wait* and *timeout*."""

    def _deliver(self, result: RunResult) -> None:
        """Hand *result* to the scheduler's callback, never letting it raise into us."""
        try:
            self._report(result)
        except Exception:  # pragma: no cover - the scheduler's callback does not raise
            logger.exception(
                "tickwork: the result callback failed for %r",
                result.request,
                extra=request_fields(result.request),
            )


class BatchExecutor(Executor):
    """An executor that queues runs under one lock and takes them in batches.

    :meth:`submit_many` is written here once (:meth:`submit` hands it a batch of
    one): it lists the batch, takes ``_lock``, refuses with
    :class:`~tickwork.SchedulerStateError` once ``_closed`` is set (the message names
    the executor by ``kind``), returns on an empty batch, and otherwise calls
    :meth:`_enqueue` with the lock still held. Holding it orders every accepted batch
    before a shutdown's, so a shutdown sees (and reports) every run it accepted.
    Subclasses set ``_lock`` and ``_closed`` in ``__init__`` and set ``_closed`` under
    ``_lock`` when they shut down.
    """

    #: How messages name the executor: "cannot submit runs: the {kind} executor is ...".
    kind: ClassVar[str]
    _lock: threading.Lock
    _closed: bool

    def submit_many(self, requests: Iterable[RunRequest]) -> None:
        """Queue several requests in one go.

        Raises:
            SchedulerStateError: :meth:`~Executor.shutdown` has been called (nothing is
                queued); or what :meth:`_enqueue` raises.
        """
        # A list or tuple is used as it is: _enqueue copies what it keeps.
        batch = requests if isinstance(requests, (list, tuple)) else list(requests)
        with self._lock:
            if self._closed:
                raise SchedulerStateError(
                    f"cannot submit runs: the {self.kind} executor is shut down"
                )
            if batch:
                self._enqueue(batch)

    def submit(self, request: RunRequest) -> None:
        """Queue one request: a batch of one (see :meth:`submit_many`).

        Raises:
            SchedulerStateError: :meth:`~Executor.shutdown` has been called.
        """
        self.submit_many((request,))

    @abstractmethod
    def _enqueue(self, batch: Sequence[RunRequest]) -> None:
        """Queue *batch* (not empty), with ``_lock`` held and the executor open.

        *batch* may be the caller's own list: copy what is kept after returning.
        """
