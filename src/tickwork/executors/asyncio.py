"""``AsyncioExecutor``: runs jobs as tasks on an asyncio event loop.

Theory of operation: every request becomes one task on the executor's loop, either a
loop it was given (:meth:`AsyncioExecutor.attach_loop`, what the asyncio scheduler
does) or one it runs itself in a daemon thread, started on the first submit. All state
about running tasks lives on the loop's thread, so it needs no lock: submitters hand
requests over with ``call_soon_threadsafe``. Each task has a record that says whether
it was already reported and, if the executor cancelled it, why (timeout or shutdown);
the record makes "reported exactly once" hold whichever way a task ends, even when it
is cancelled before its first step.

Per run the executor adds as little as it can to asyncio's own cost of a task: a batch
of requests becomes its tasks in one callback; a task cancelled before its first step
(which never enters the run's coroutine) is found by one check per batch, on the turn
the batch's tasks first step, not by a done callback per task; and results are
collected during a loop turn and handed over once, at the start of the next (to a
batch callback when one is attached, see :meth:`AsyncioExecutor.attach_loop`).

(This module is ``tickwork.executors.asyncio``; ``import asyncio`` below is absolute,
so it is the standard library's.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import enum
import functools
import inspect
import logging
import threading
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from .._clock import Clock
from .._context import CURRENT_REQUEST, enter_hooks, enter_run, exit_hooks, request_fields
from .._errors import JobTimeout, SchedulerStateError
from .._model import Outcome, RunRequest, RunResult
from .._references import function_of
from ._base import BatchExecutor, ReportCallback, check_ended

__all__ = ["AsyncioExecutor"]

logger = logging.getLogger("tickwork")

#: How long shutdown lets cancelled tasks unwind (they are already reported), and how
#: long a synchronous shutdown waits beyond its timeout for a loop that is blocked.
_GRACE = 1.0


class _Cancel(enum.Enum):
    TIMEOUT = "timeout"
    SHUTDOWN = "shutdown"


class _Record:
    __slots__ = (
        "cancelled_by",
        "in_loop",
        "in_thread",
        "reported",
        "request",
        "started_at",
        "timer",
    )

    def __init__(self, request: RunRequest) -> None:
        self.request = request
        self.started_at: datetime | None = None
        self.reported = False
        self.cancelled_by: _Cancel | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.in_thread = False  # a plain function: its thread cannot be stopped
        self.in_loop = False  # a coroutine that never awaited past its deadline


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


class AsyncioExecutor(BatchExecutor):
    """Run jobs as tasks on an asyncio event loop.

    Coroutine functions run as tasks on the loop; plain functions run in the loop's
    default thread pool via :func:`asyncio.to_thread`. Either way ``current_run()``
    is set for the job (each task has its own context, which ``to_thread`` copies).

    The loop is the one given to the constructor or to :meth:`attach_loop` (the
    asyncio scheduler attaches its own running loop). Without one, the executor
    starts its own loop in a daemon thread on the first submit and stops it at
    :meth:`shutdown`; that is how the thread-based scheduler uses it.

    Guarantees and limits:

    * :meth:`submit` is thread-safe and never blocks.
    * ``timeout`` is enforced by cancelling the task: the run is reported ``FAILURE``
      with a :class:`~tickwork.JobTimeout` (whatever the job then does with the
      cancellation). A plain function in a thread cannot be stopped: its run is
      reported timed out when the function returns, and holds its instance
      (``max_instances``) until then.
    * Any exception a job raises is reported as ``FAILURE``; the loop carries on.
      ``KeyboardInterrupt`` and ``SystemExit`` are reported too, then re-raised when the
      loop is an attached one (it is the program's own loop, where they may be a real
      Ctrl-C or exit request) and only logged on the executor's own loop. A job cancelled
      by someone other than this executor (say the attached loop is being torn down) is
      reported ``INTERRUPTED`` and the cancellation goes on.
    * :meth:`shutdown` stops new submits; requests handed over but not yet started are
      reported ``INTERRUPTED``. ``wait=True`` waits for the running tasks (at most
      *timeout* seconds), then cancels the rest; ``wait=False`` cancels them at once.
      Every cancelled run is reported ``INTERRUPTED`` before it unwinds. Called from
      inside one of its runs (a job that awaits ``scheduler.shutdown()``), it neither
      waits for nor cancels that run, which is reported when it ends.
    * ``shutdown(wait=True)`` cannot block the executor's loop from that loop's own
      thread (a job, or the asyncio scheduler): there, ``await`` :meth:`shutdown_async`
      instead, or use ``wait=False``.
    * Shut down, it serves the next scheduler that starts it afresh (see
      :meth:`start` and :meth:`attach_loop`).

    Args:
        loop: the event loop to run jobs on; ``None`` to run a private one on demand.
    """

    runs_coroutines = True
    runs_hooks = True
    enforces_timeout = True
    kind = "asyncio"

    # The state of one loop's service (see _renew).
    _thread: threading.Thread | None
    _held: list[RunRequest]
    _running: dict[asyncio.Task[None], _Record]
    _done: list[RunResult]
    _report_many: Callable[[list[RunResult]], None] | None
    _spared: set[asyncio.Task[None]]

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        if loop is not None and not isinstance(loop, asyncio.AbstractEventLoop):
            raise TypeError(f"loop must be an asyncio event loop or None, got {loop!r}")
        self._loop = loop
        self._lock = threading.Lock()
        # Whether each job function is a coroutine function: asked once per function, not
        # once per run (on the loop only). Weak keys: an entry never keeps a function alive.
        self._coroutines: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()
        self._renew()

    def __repr__(self) -> str:
        return f"AsyncioExecutor(loop={self._loop!r})"

    def attach_loop(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        report_many: Callable[[list[RunResult]], None] | None = None,
    ) -> None:
        """Run jobs on *loop* (usually the caller's running loop). Call before any submit.

        Args:
            loop: the loop to run jobs on.
            report_many: if given, results are reported through it, a list per loop
                turn (called on the loop; it must not raise and may keep the list),
                instead of one call of the start callback per run. The asyncio
                scheduler passes its engine's batch intake.

        An executor whose loop has closed (an ``asyncio.run`` that ended), or that was
        shut down and whose loop is not running, moves to *loop* and starts afresh
        there: a module-level executor serves one scheduler per ``asyncio.run``.

        Raises:
            SchedulerStateError: the executor uses another loop, still in use (see
                :meth:`check_loop`).
        """
        with self._lock:
            self._check_loop(loop)
            if self._loop is not None and self._loop is not loop:
                self._renew()
            elif self._closed:
                self._reopen()  # shut down on this same loop
            self._loop = loop
            if report_many is not None:
                self._report_many = report_many

    def check_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Raise ``SchedulerStateError`` if :meth:`attach_loop` would refuse *loop*:
        this executor runs on another loop that is running, or that it was given and
        was not shut down on (``AsyncioExecutor(loop=other)``). The asyncio scheduler
        asks at ``start()``."""
        with self._lock:
            self._check_loop(loop)

    def _check_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        # (Lock held.)
        old = self._loop
        if old is None or old is loop or old.is_closed():
            return
        if old.is_running() or not self._closed:
            raise SchedulerStateError(
                f"this asyncio executor runs on another event loop ({old!r}), still in "
                "use; give each loop an AsyncioExecutor of its own (without loop=)"
            )

    def start(self, report: ReportCallback, clock: Clock) -> None:
        """See :meth:`Executor.start`. Shut down by a scheduler before, the executor
        serves this one afresh: on a new loop of its own when its loop was its own
        (once that loop's thread has ended) or has closed, else on the same loop.

        Raises:
            SchedulerStateError: a run its last scheduler started still goes on.
        """
        with self._lock:
            thread = self._thread if self._closed and self._owns_loop else None
        # (Not under the lock: the loop's thread may take it on its way out.)
        check_ended(self.kind, [thread])
        with self._lock:
            if self._closed:
                self._reopen()
        super().start(report, clock)

    def _reopen(self) -> None:
        """Serve a new scheduler after a shutdown (lock held): see :meth:`start`."""
        loop = self._loop
        if loop is not None and not loop.is_closed() and self._running:
            raise SchedulerStateError(
                "this asyncio executor was shut down and a run its last scheduler started "
                "is still going on its loop; a new scheduler can start it only once that "
                "has ended, or give the new scheduler an executor of its own"
            )
        fresh = self._owns_loop or (loop is not None and loop.is_closed())
        self._renew()
        if fresh:
            self._loop = None  # (a loop of its own, made at the first submit)

    def _renew(self) -> None:
        """The state of one loop's service, fresh: made new, or moving to a new loop
        (what belonged to the old one is gone with it: its scheduler shut down, or its
        loop closed; lock held)."""
        self._owns_loop = False
        self._thread = None
        self._closed = False
        self._shutdown_called = False
        # Set by take_unstarted (the scheduler is shutting down): batches reaching the
        # loop wait in _held for it instead of starting (guarded by _lock).
        self._holding = False
        self._held = []
        self._running = {}  # touched on the loop only
        # Results of the current loop turn, handed over at once by _flush (on the loop only).
        self._done = []
        self._report_many = None
        # The runs a shutdown was called from (see _spare_callers): never waited for
        # nor cancelled by it, reported when they end (on the loop only).
        self._spared = set()

    def busy(self, loop: asyncio.AbstractEventLoop | None) -> bool:
        """Whether runs this executor started on *loop* have not all been reported yet
        (on that loop; False for another one). The asyncio scheduler asks before its
        clock jumps (``FakeClock(autojump=True)``)."""
        return loop is not None and self._loop is loop and bool(self._running or self._done)

    # -- submitting ------------------------------------------------------------------

    def _enqueue(self, batch: Sequence[RunRequest]) -> None:
        """Hand *batch* to the loop; raises ``SchedulerStateError`` if the loop is closed."""
        # Lock held (see BatchExecutor.submit_many), which orders every accepted batch
        # before shutdown's own hand-over: a batch accepted here is always seen (and
        # reported) by the loop.
        loop = self._ensure_loop()
        if _running_loop() is loop:
            # Already on the loop (the asyncio scheduler's own step): create the tasks
            # now, so they start on the loop's next turn rather than the one after.
            self._start(batch)
        else:
            try:
                # A copy: the caller may reuse its list.
                loop.call_soon_threadsafe(self._start, list(batch))
            except RuntimeError as error:  # the loop is closed
                raise SchedulerStateError(
                    f"cannot submit runs: the asyncio executor's loop is closed ({error})"
                ) from None

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        # Called with the lock held.
        if self._loop is None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._owns_loop = True
            self._thread = threading.Thread(
                target=self._serve, args=(loop,), name="tickwork-asyncio", daemon=True
            )
            self._thread.start()
        return self._loop

    def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            try:
                # What asyncio.run does on the way out: let whatever is left unwind.
                tasks = asyncio.all_tasks(loop)
                for task in tasks:
                    task.cancel()
                if tasks:
                    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                self._flush()  # results of the last turn, whose flush never ran
                asyncio.set_event_loop(None)
                loop.close()

    # -- on the loop ------------------------------------------------------------------

    def _start(self, batch: Sequence[RunRequest]) -> None:
        if self._holding:
            with self._lock:
                if not self._closed:
                    self._held += batch
                    return
        if self._closed:
            for request in batch:
                self._finish(_Record(request), Outcome.INTERRUPTED)
            return
        loop = asyncio.get_running_loop()
        create = loop.create_task
        running, run = self._running, self._run
        tasks = []
        for request in batch:
            record = _Record(request)
            task = create(run(record))
            running[task] = record
            tasks.append(task)
        # Each task's first step is already queued, so this runs right after them all
        # (call_soon keeps order): one check for the whole batch instead of a done
        # callback per task.
        loop.call_soon(self._check_started, tasks)

    def _check_started(self, tasks: list[asyncio.Task[None]]) -> None:
        # A task cancelled before its first step never entered _run (nothing of a
        # coroutine runs when it is cancelled unstarted): it is done and still listed.
        running = self._running
        for task in tasks:
            if task.done() and task in running:
                self._forget(task)

    def _arm(self, record: _Record, task: asyncio.Task[None]) -> None:
        """Start the run's timeout clock (in the loop), once the job has begun."""
        timeout = record.request.timeout
        if timeout is not None and record.timer is None and not task.done():
            record.timer = task.get_loop().call_later(timeout, self._expire, task)

    async def _run(self, record: _Record) -> None:
        request = record.request
        task = asyncio.current_task()
        assert task is not None
        enter_run(request)  # this task runs in its own copy of the context
        hooks = self._run_hooks
        try:
            grace = request.misfire_grace
            if grace is not None and self._clock.now() - request.scheduled_at > grace:
                self._finish(record, Outcome.MISSED)  # (the loop was held up that long)
                return
            func = request.func
            if func is None:
                func = function_of(request.func_ref or "")
            # Run hooks enter in this task's context: a plain function's worker thread
            # gets a copy of it (asyncio.to_thread), so what they made current is too.
            entered = enter_hooks(request, hooks) if hooks else None
            try:
                if self._is_coroutine_function(func):
                    # Inline rather than in _invoke: one coroutine frame less per run.
                    record.started_at = self._clock.now()
                    if request.timeout is not None:
                        self._arm(record, task)
                    value = await func(*request.args, **request.kwargs)
                else:
                    value = await self._invoke(record, func, task)
            except BaseException as error:
                if entered is not None:
                    exit_hooks(request, entered, error)
                raise
            if entered is not None:
                exit_hooks(request, entered, None)
        except asyncio.CancelledError as error:
            if record.cancelled_by is None:
                self._finish(record, Outcome.INTERRUPTED)
                raise
            self._finish_cancelled(record, error)
        except (KeyboardInterrupt, SystemExit) as error:
            self._finish_cancelled(record, error)
            if not self._owns_loop:
                # Mark the task's exception retrieved once it is set, so asyncio does
                # not log it again when the task is collected.
                task.add_done_callback(_retrieve)
                raise
            logger.error(
                "tickwork: job %r raised %s; reported as a failure, the loop carries on",
                request.job_id,
                type(error).__name__,
                extra=request_fields(request),
            )
        except BaseException as error:
            self._finish_cancelled(record, error)
            if not isinstance(error, Exception):
                logger.error(
                    "tickwork: job %r raised %s; reported as a failure",
                    request.job_id,
                    type(error).__name__,
                    extra=request_fields(request),
                )
        else:
            if (
                record.cancelled_by is None
                and request.timeout is not None
                and self._overran(record)
            ):
                # It held the loop past its deadline (it did not await), so the timer
                # that cancels it could not run: timed out all the same.
                record.cancelled_by = _Cancel.TIMEOUT
                record.in_loop = True
            if record.cancelled_by is None:
                # _finish, inlined: this is every successful run's path.
                record.reported = True
                done = self._done
                done.append(
                    RunResult(
                        request, Outcome.SUCCESS, value, None, record.started_at, self._clock.now()
                    )
                )
                if len(done) == 1:
                    task.get_loop().call_soon(self._flush)
            else:
                # It swallowed the cancellation and returned: it still missed its deadline.
                self._finish_cancelled(record, None)
        finally:
            del self._running[task]
            if record.timer is not None:
                record.timer.cancel()

    def _overran(self, record: _Record) -> bool:
        """Whether a run that returned took longer than its timeout."""
        started, timeout = record.started_at, record.request.timeout
        if started is None or timeout is None:
            return False
        return (self._clock.now() - started).total_seconds() > timeout

    def _is_coroutine_function(self, func: Any) -> bool:
        try:
            return self._coroutines[func]
        except KeyError:
            answer = self._coroutines[func] = inspect.iscoroutinefunction(func)
            return answer
        except TypeError:  # not hashable, or not weakly referenceable
            return inspect.iscoroutinefunction(func)

    async def _invoke(self, record: _Record, func: Any, task: asyncio.Task[None]) -> Any:
        """Run a plain function in the loop's thread pool. Its timeout counts from when
        a thread takes it up, not while it waits for a free one."""
        request = record.request
        loop = task.get_loop()
        target = func

        def begin(*args: Any, **kwargs: Any) -> Any:
            record.started_at = self._clock.now()
            if request.timeout is not None:
                loop.call_soon_threadsafe(self._arm, record, task)
            return target(*args, **kwargs)

        # (asyncio.to_thread, with the thread's future kept: see below)
        call = functools.partial(
            contextvars.copy_context().run, begin, *request.args, **request.kwargs
        )
        future = loop.run_in_executor(None, call)
        try:
            result = await asyncio.shield(future)
        except asyncio.CancelledError:
            if record.cancelled_by is _Cancel.TIMEOUT:
                record.in_thread = True
                # A thread cannot be stopped: the run is over, and reported timed out,
                # when the function returns. Until then it holds its instance
                # (max_instances): a run of the next fire must not pile up beside it.
                with contextlib.suppress(BaseException):
                    await asyncio.shield(future)
            raise
        if inspect.isawaitable(result):  # e.g. an object whose __call__ is async
            result = await result
        return result

    def _finish_cancelled(self, record: _Record, error: BaseException | None) -> None:
        # The outcome of a run this executor cancelled is decided by why it cancelled it.
        if record.cancelled_by is _Cancel.TIMEOUT:
            request = record.request
            how = (
                "; its thread could not be stopped, and ran on to its end"
                if record.in_thread
                else "; it held the event loop (it did not await), and ran on to its end"
                if record.in_loop
                else " and was cancelled"
            )
            timeout = JobTimeout(f"job {request.job_id!r} timed out after {request.timeout} s{how}")
            self._finish(record, Outcome.FAILURE, exception=timeout)
        elif record.cancelled_by is _Cancel.SHUTDOWN:
            self._finish(record, Outcome.INTERRUPTED)
        else:
            self._finish(record, Outcome.FAILURE, exception=error)

    def _finish(
        self,
        record: _Record,
        outcome: Outcome,
        value: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if record.reported:
            return
        record.reported = True
        self._flush()  # what ended before it is reported before it
        self._deliver(
            RunResult(
                record.request, outcome, value, exception, record.started_at, self._clock.now()
            )
        )

    def _flush(self) -> None:
        """Report the results collected since the last flush (on the loop)."""
        done = self._done
        if not done:
            return
        self._done = []
        report_many = self._report_many
        if report_many is not None:
            try:
                report_many(done)
            except Exception:  # pragma: no cover - the scheduler's callback does not raise
                logger.exception("tickwork: the result callback failed for %d run(s)", len(done))
            return
        for result in done:
            self._deliver(result)

    def _forget(self, task: asyncio.Task[None]) -> None:
        # A task cancelled before its first step (see _check_started): _run never
        # began, so report it here.
        record = self._running.pop(task, None)
        if record is not None:
            self._finish(record, Outcome.INTERRUPTED)

    def _expire(self, task: asyncio.Task[None]) -> None:
        record = self._running.get(task)
        if record is not None and record.cancelled_by is None:
            record.cancelled_by = _Cancel.TIMEOUT
            task.cancel()

    def _cancel_all(self) -> list[asyncio.Task[None]]:
        self._spare_callers()
        cancelled = []
        spared = self._spared
        for task, record in list(self._running.items()):
            if record.cancelled_by is not None or task in spared:
                continue  # a timeout is already on its way, or it is shutting us down
            record.cancelled_by = _Cancel.SHUTDOWN
            self._finish(record, Outcome.INTERRUPTED)
            task.cancel()
            cancelled.append(task)
        return cancelled

    def _spare_callers(self) -> None:
        """(On the loop.) Shut down from inside one of this executor's runs (a job
        that awaits ``scheduler.shutdown()``, itself or in a task it started): that
        run is neither waited for (it would wait for itself) nor cancelled (it would
        cancel its own shutdown). It is reported when it ends, as a thread executor
        reports the job that shut it down."""
        caller = asyncio.current_task()
        request = CURRENT_REQUEST.get()  # (a task the run started has its context)
        for task, record in self._running.items():
            if task is caller or (request is not None and record.request is request):
                self._spared.add(task)

    # -- shutting down ----------------------------------------------------------------

    def take_unstarted(self) -> list[RunRequest]:
        """Start no run handed over from now on; return those that reached the loop
        since the last call (see :meth:`Executor.take_unstarted`). Tasks already made
        take their first step on the loop's next turn: they are started."""
        with self._lock:
            self._holding = True
            taken, self._held = self._held, []
        return taken

    def _drop_held(self) -> None:
        # On the loop, shutting down: the runs take_unstarted was not asked for again.
        with self._lock:
            held, self._held = self._held, []
        for request in held:
            self._finish(_Record(request), Outcome.INTERRUPTED)

    async def shutdown_async(self, wait: bool = True, timeout: float | None = None) -> None:
        """Shut down from code running on the executor's loop; see :meth:`shutdown`.

        Must be awaited on the executor's loop. It does not stop a private loop
        (:meth:`shutdown` does that).
        """
        with self._lock:
            self._closed = True
        self._drop_held()
        self._spare_callers()
        others = self._running.keys() - self._spared
        if wait and others:
            await asyncio.wait(others, timeout=timeout)
        cancelled = self._cancel_all()
        self._flush()  # every run that ended is reported before this returns
        if cancelled:
            # Already reported; give them a moment to unwind, for tidiness only.
            await asyncio.wait(cancelled, timeout=_GRACE)
        self._flush()

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop accepting runs; wait for running tasks or cancel them.

        Args:
            wait: wait (at most *timeout* seconds) for running tasks before cancelling
                what is left; if false, cancel them at once and return without waiting.
            timeout: the most seconds to wait, ``None`` for no limit.

        Raises:
            SchedulerStateError: ``wait=True`` was asked from the executor's own loop,
                which cannot block; ``await shutdown_async()`` there instead.
        """
        loop = self._loop
        on_loop = loop is not None and _running_loop() is loop
        if on_loop and wait:
            raise SchedulerStateError(
                "AsyncioExecutor.shutdown(wait=True) would block its own event loop; "
                "use `await executor.shutdown_async()` from the loop"
            )
        with self._lock:
            self._closed = True
            loop = self._loop
            thread = self._thread
            first, self._shutdown_called = not self._shutdown_called, True
        if loop is None or loop.is_closed():
            return
        if on_loop:
            self._abort()
            return
        if not wait:
            with contextlib.suppress(RuntimeError):  # closed meanwhile
                loop.call_soon_threadsafe(self._abort)
            return
        if thread is not None and not first:
            # The first call stops the private loop; anything handed to it now might
            # never run. Its thread ends once everything is reported.
            thread.join(timeout)
            return
        coroutine = self.shutdown_async(wait, timeout)
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        except RuntimeError:  # closed meanwhile
            coroutine.close()
            return
        try:
            future.result(None if timeout is None else timeout + _GRACE)
        except concurrent.futures.TimeoutError:
            logger.warning(
                "tickwork: the asyncio executor's loop did not shut down in time "
                "(a job may be blocking it)"
            )
        except concurrent.futures.CancelledError:  # the loop was torn down under us
            pass
        if self._owns_loop and thread is not None:
            try:
                loop.call_soon_threadsafe(loop.stop)
            except RuntimeError:
                return
            thread.join(_GRACE if timeout is None else max(timeout, _GRACE))

    def _abort(self) -> None:
        # On the loop: cancel (and report) every running task; stop a private loop,
        # whose thread then lets the cancelled tasks unwind before closing it.
        self._drop_held()
        self._cancel_all()
        self._flush()
        if self._owns_loop:
            asyncio.get_running_loop().stop()
