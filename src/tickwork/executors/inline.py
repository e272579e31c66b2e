"""``InlineExecutor``: runs each job synchronously, inside ``submit``, in the caller's thread."""

from __future__ import annotations

import logging
import threading

from .._clock import Clock
from .._context import request_fields, run_request_blocking
from .._errors import SchedulerStateError
from .._model import Outcome, RunRequest, RunResult
from ._base import Executor, ReportCallback

__all__ = ["InlineExecutor"]

logger = logging.getLogger("tickwork")


class InlineExecutor(Executor):
    """Run each job to completion inside :meth:`submit`, in the calling thread.

    Meant for tests and simulations with a fake clock: runs happen in a known order
    and are reported before :meth:`submit` returns, so there is nothing to wait for.
    A coroutine function is run with :func:`asyncio.run` (so it fails, reported as
    ``FAILURE``, when the caller's thread already runs an event loop).

    Guarantees and limits:

    * ``submit`` blocks for as long as the job runs; ``timeout`` is not enforced.
    * Any exception the job raises is reported as ``FAILURE``. ``KeyboardInterrupt``
      and ``SystemExit`` are reported as well and then **re-raised**: here they arise in
      the program's own thread, where they may be a real Ctrl-C or exit request.
      Other ``BaseException`` subclasses (``GeneratorExit``...) are reported, logged,
      and not re-raised.
    * After :meth:`shutdown`, :meth:`submit` raises :class:`~tickwork.SchedulerStateError`
      (until a scheduler starts it again: see :meth:`start`). Nothing is ever queued;
      ``shutdown(wait=True)`` waits only for runs going on inside ``submit`` calls of
      other threads.
    """

    runs_hooks = True

    def __init__(self) -> None:
        self._closed = False
        self._changed = threading.Condition()
        self._active = 0  # runs going on in any thread; guarded by _changed
        self._local = threading.local()  # .depth: runs going on in this thread

    def __repr__(self) -> str:
        return "InlineExecutor()"

    def start(self, report: ReportCallback, clock: Clock) -> None:
        """See :meth:`Executor.start`. Shut down by a scheduler before, the executor
        serves this one afresh.

        Raises:
            SchedulerStateError: a run its last scheduler started still goes on (in
                another thread).
        """
        with self._changed:
            if self._closed:
                if self._active:
                    raise SchedulerStateError(
                        "this inline executor was shut down and a run its last scheduler "
                        "started is still going; a new scheduler can start it only once "
                        "that has ended, or give the new scheduler an executor of its own"
                    )
                self._closed = False
        super().start(report, clock)

    def submit(self, request: RunRequest) -> None:
        """Run *request* now and report it before returning.

        Raises:
            SchedulerStateError: :meth:`shutdown` has been called.
            KeyboardInterrupt, SystemExit: raised by the job (after it was reported).
        """
        with self._changed:
            if self._closed:
                raise SchedulerStateError(
                    f"cannot submit job {request.job_id!r}: the inline executor is shut down"
                )
            self._active += 1
        self._local.depth = getattr(self._local, "depth", 0) + 1
        try:
            self._run(request)
        finally:
            self._local.depth -= 1
            with self._changed:
                self._active -= 1
                self._changed.notify_all()

    def _run(self, request: RunRequest) -> None:
        now = self._clock.now
        started = now()
        try:
            value = run_request_blocking(request, self._run_hooks)
        except Exception as error:
            self._deliver(RunResult(request, Outcome.FAILURE, None, error, started, now()))
        except (KeyboardInterrupt, SystemExit) as error:
            self._deliver(RunResult(request, Outcome.FAILURE, None, error, started, now()))
            raise
        except BaseException as error:
            logger.error(
                "tickwork: job %r raised %s; reported as a failure",
                request.job_id,
                type(error).__name__,
                extra=request_fields(request),
            )
            self._deliver(RunResult(request, Outcome.FAILURE, None, error, started, now()))
        else:
            self._deliver(RunResult(request, Outcome.SUCCESS, value, None, started, now()))

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Refuse further submits; with *wait*, wait for runs inside other threads' submits.

        Args:
            wait: wait (at most *timeout* seconds) for runs going on in other threads
                (runs of the calling thread itself, when called from a job, are not
                waited for).
            timeout: the most seconds to wait, ``None`` for no limit.
        """
        own = getattr(self._local, "depth", 0)
        with self._changed:
            self._closed = True
            if wait:
                self._changed.wait_for(lambda: self._active <= own, timeout)
