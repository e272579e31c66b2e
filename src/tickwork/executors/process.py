"""``ProcessExecutor``: runs jobs in worker processes, and can stop them.

Theory of operation: each worker is a ``spawn``-ed process holding one end of a
``Pipe``; it receives one request at a time (the function travels as a
``"module:qualname"`` reference, never as code), imports the function, tells the
parent the job starts (``("started", None, None)``), runs it and sends back
``(kind, payload, traceback_text)``. A run's ``timeout`` is armed when the parent
reads "started", from its own clock: the worker's start-up (interpreter boot, the
``__main__`` module's import), the import of the job's module and the time the
request waited for a free worker never count against it.

A single dispatcher thread in the parent owns all workers: it gives pending requests
to idle workers (starting workers lazily, up to ``max_workers``), waits on every
worker's pipe and process sentinel at once, reads results, notices workers that died,
and kills a worker whose run passed its deadline.
Submitters only append to a deque under a lock and poke the dispatcher through a
wake-up pipe (at most one poke in flight), so ``submit`` never blocks on a worker.

``spawn`` rather than ``fork``: forking a process that runs threads (the scheduler
always does) can copy locks in a held state; Python 3.12 warns about it.
"""

from __future__ import annotations

import contextlib
import ctypes
import inspect
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from multiprocessing.reduction import ForkingPickler
from typing import Any

from .._checks import whole
from .._clock import Clock
from .._context import request_fields, run_request_blocking
from .._errors import JobTimeout, SerializationError, WorkerDied
from .._model import Outcome, RunRequest, RunResult
from .._references import being_defined, resolve_reference
from ._base import BatchExecutor, ReportCallback, check_ended

__all__ = ["ProcessExecutor", "RemoteTraceback"]

logger = logging.getLogger("tickwork")

_spawn = multiprocessing.get_context("spawn")

#: How long a terminated (or asked-to-stop) worker gets before it is killed.
_GRACE = 1.0

_numbers = itertools.count(1)

#: prctl's option that has a child signalled when its parent (thread) dies (Linux).
_PR_SET_PDEATHSIG = 1

#: What a worker sends when the job itself begins, before its result.
_STARTED = bytes(ForkingPickler.dumps(("started", None, None)))


# -- the child side ---------------------------------------------------------------------


def _worker_main(conn: Connection) -> None:
    """Entry point of a worker process: run requests until told to stop or orphaned."""
    # Ctrl-C in a terminal reaches the whole process group; the parent decides what a
    # Ctrl-C means, so a worker ignores it rather than dying mid-run.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _killed_with_parent()
    parent = multiprocessing.parent_process()
    if parent is not None and parent.sentinel is not None:
        threading.Thread(
            target=_die_with, args=(parent.sentinel,), name="tickwork-parent-watch", daemon=True
        ).start()
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the parent went away
            return
        if request is None:
            return
        conn.send_bytes(_run_in_child(conn, request))


def _killed_with_parent() -> None:
    """On Linux, have the kernel kill this worker when the thread that started it (the
    executor's dispatcher, which outlives its workers) ends: a job in a long C call
    holds the GIL, and the watch thread of :func:`_die_with` cannot run until it
    returns. (Elsewhere, or if this fails, that thread is the only watch.)"""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:  # (a libc without prctl: the watch thread still ends the worker)
        logger.debug("tickwork: prctl(PR_SET_PDEATHSIG) is not available", exc_info=True)


def _die_with(sentinel: int) -> None:
    """End the worker the moment its scheduler's process ends, killed included (its
    sentinel, a pipe only the parent holds open, reads as closed). Left running, the
    run it holds would go on, past its timeout (the parent enforced it), while another
    process that took the dead one's claims over runs the same fire again."""
    wait([sentinel])
    os._exit(70)


def _run_in_child(conn: Connection, request: RunRequest) -> bytes:
    try:
        func = resolve_reference(request.func_ref or "")
    except BaseException as error:  # the job's module failed to import: it never started
        return _pickled_error(request, error)
    # The timeout counts from here: importing the job's module above does not count.
    conn.send_bytes(_STARTED)
    try:
        value = run_request_blocking(request._replace(func=func))
    except BaseException as error:  # the job's own exception, of whatever kind
        return _pickled_error(request, error)
    try:
        return bytes(ForkingPickler.dumps(("ok", value, None)))
    except Exception as error:
        return _pickled_error(
            request,
            SerializationError(
                f"job {request.job_id!r} returned a {type(value).__name__}, which cannot be "
                f"pickled back to the scheduler process: {error}"
            ),
            with_traceback=False,
        )


def _pickled_error(request: RunRequest, error: BaseException, with_traceback: bool = True) -> bytes:
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    try:
        data = bytes(ForkingPickler.dumps(("error", error, text if with_traceback else None)))
        # Some exceptions pickle but cannot be rebuilt (an __init__ with other
        # arguments): find out here, where the traceback can still be sent instead.
        pickle.loads(data)
        return data
    except Exception:
        kind = f"{type(error).__module__}.{type(error).__qualname__}"
        stand_in = RuntimeError(
            f"job {request.job_id!r} raised {kind}: {error} (the exception could not be "
            f"sent back from the worker process)\n\nTraceback in the worker process:\n{text}"
        )
        return bytes(ForkingPickler.dumps(("error", stand_in, None)))


# -- the parent side --------------------------------------------------------------------


class RemoteTraceback(Exception):
    """Set as ``__cause__`` of an exception raised in a worker process: its traceback text."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class _Worker:
    __slots__ = ("conn", "deadline", "number", "process", "request", "started_at")

    def __init__(self, number: int, process: SpawnProcess, conn: Connection) -> None:
        self.number = number
        self.process = process
        self.conn = conn
        self.request: RunRequest | None = None
        self.started_at: datetime | None = None  # set when the worker says the job began
        self.deadline: float | None = None  # time.monotonic() after which the run is killed


#: What an error about a function without a reference advises, for a process executor.
BY_REFERENCE = (
    "a process executor runs functions by reference, so use a function defined at "
    "the top level of an importable module"
)


def _reference_of(func: Callable[..., Any], advice: str = BY_REFERENCE) -> str:
    """``"module:qualname"`` of *func*, if importing that gives *func* back.

    Raises:
        SerializationError: naming the function and why it cannot be referenced,
            ending with *advice*.
    """
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    shown = f"{module}.{qualname}" if module and qualname else repr(func)
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise SerializationError(
            f"job function {func!r} has no module and qualified name to import it by; {advice}"
        )
    if qualname == "<lambda>" or qualname.endswith(".<lambda>"):
        raise SerializationError(f"job function {shown} is a lambda; {advice}")
    if "<locals>" in qualname:
        raise SerializationError(
            f"job function {shown} is defined inside another function (a closure or "
            f"nested function); {advice}"
        )
    bound_to = getattr(func, "__self__", None)
    if inspect.ismethod(func) and not isinstance(bound_to, type):
        raise SerializationError(
            f"job function {shown} is a method bound to a {type(bound_to).__name__} "
            f"instance, which cannot be imported; {advice}"
        )
    if module == "__main__" and not _main_importable():
        raise SerializationError(
            f"job function {shown} is defined in a __main__ that a worker process cannot "
            "import (python -c, a script read from stdin, an interactive session or a "
            f"notebook); {advice}"
        )
    reference = f"{module}:{qualname}"
    if being_defined(func):
        return reference  # decorated at import time: the name is bound just after
    try:
        resolved = resolve_reference(reference)
    except Exception as error:
        raise SerializationError(
            f"job function {shown} cannot be imported as {reference!r} ({error}); {advice}"
        ) from None
    if resolved is not func and resolved != func:
        raise SerializationError(
            f"job function {shown}: importing {reference!r} gives a different object "
            f"({resolved!r}), for example because it was decorated or replaced; {advice}"
        )
    return reference


def _main_importable() -> bool:
    """Whether a spawned worker can import this program's ``__main__``: it runs it again
    from its file (or its module, with ``python -m``), which must exist."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and getattr(spec, "name", None):
        return True  # (python -m package.module)
    path = getattr(main, "__file__", None)
    return isinstance(path, str) and os.path.isfile(path)


def _reference_for(request: RunRequest, advice: str = BY_REFERENCE) -> str:
    """The reference a worker imports *request*'s function by, checked in this process
    (*advice* ends the error's message)."""
    func, reference = request.func, request.func_ref
    if func is None:
        if reference is None:
            raise SerializationError(f"job {request.job_id!r} has neither function nor reference")
        return reference
    try:
        return _reference_of(func, advice)
    except SerializationError:
        # The scheduler's own reference may still name it (say, under another name).
        if reference is not None:
            try:
                resolved = resolve_reference(reference)
            except Exception:
                resolved = None
            if resolved is func or (resolved is not None and resolved == func):
                return reference
        raise


def _positional_names(func: Callable[..., Any] | None) -> list[str]:
    if func is None:
        return []
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [parameter.name for parameter in parameters if parameter.kind in kinds]


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "exit code unknown"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class ProcessExecutor(BatchExecutor):
    """Run each job in one of up to *max_workers* worker processes, with timeouts.

    Workers are started with ``multiprocessing``'s ``spawn`` method, lazily (a worker
    takes ~100 ms to start), and reused. A job's function travels to the worker as a
    ``"module:qualname"`` reference: it must be a top-level function of an importable
    module (a script's ``__main__`` works when the script guards its entry point with
    ``if __name__ == "__main__":``). Arguments and return values travel by pickle.
    Coroutine functions run with :func:`asyncio.run` inside the worker.

    Guarantees and limits:

    * :meth:`check` (called by ``add_job``) raises :class:`~tickwork.SerializationError`
      for lambdas, closures, nested functions, bound methods of instances, anything not
      importable as itself, and arguments that cannot be pickled (naming the argument).
    * ``timeout`` is enforced: at the deadline the worker process is terminated (then
      killed), the run is reported ``FAILURE`` with :class:`~tickwork.JobTimeout`, and a
      replacement worker starts when needed.
    * A worker that dies (``os._exit``, a crash, the OOM killer) has its run reported
      ``FAILURE`` with a ``RuntimeError`` giving the exit code or signal.
    * An exception raised by the job comes back as the same exception, with the worker's
      traceback text as its ``__cause__`` (a :class:`RemoteTraceback`); if it cannot be
      pickled, a ``RuntimeError`` carrying its type, message and traceback comes instead.
      ``KeyboardInterrupt``, ``SystemExit`` and other ``BaseException`` subclasses raised
      by a job are reported as ``FAILURE`` (and logged); the worker carries on. Workers
      ignore SIGINT, so a Ctrl-C is the parent's to handle.
    * A return value that cannot be pickled gives ``FAILURE`` with a
      :class:`~tickwork.SerializationError`.
    * :meth:`shutdown` stops new submits; requests not yet handed to a worker are
      reported ``INTERRUPTED``. ``wait=True`` waits for running jobs (at most *timeout*
      seconds, then terminates their workers and reports them ``INTERRUPTED``);
      ``wait=False`` returns at once while the workers are terminated in the background
      and their runs reported ``INTERRUPTED``.
    * Workers are daemon processes: they end with the scheduler's process, and a job
      cannot itself start ``multiprocessing`` child processes.
    * Shut down, it serves the next scheduler that starts it afresh (see
      :meth:`start`).

    Args:
        max_workers: the most worker processes (>= 1); ``None`` means ``os.cpu_count()``.

    Raises:
        TypeError, ValueError: *max_workers* is not an int (or None), or is less than 1.
    """

    enforces_timeout = True
    kind = "process"

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is None:
            max_workers = os.cpu_count() or 1
        whole(max_workers, "max_workers")  # (TypeError for "2" or True; ValueError for 0)
        self._max_workers = max_workers
        self._lock = threading.Lock()
        self._pending: deque[RunRequest] = deque()  # guarded by _lock
        self._closed = False  # guarded by _lock
        self._holding = False  # guarded by _lock: take_unstarted was called
        self._abort = False  # guarded by _lock: stop running work now
        self._stop_deadline: float | None = None  # guarded by _lock
        self._dispatcher: threading.Thread | None = None
        self._wake_reader: Connection | None = None
        self._wake_writer: Connection | None = None  # guarded by _lock
        self._woken = False  # guarded by _lock: a poke is in the pipe
        self._workers: list[_Worker] = []  # the dispatcher thread's alone

    @property
    def max_workers(self) -> int:
        """The most worker processes."""
        return self._max_workers

    def __repr__(self) -> str:
        return f"ProcessExecutor(max_workers={self._max_workers})"

    def start(self, report: ReportCallback, clock: Clock) -> None:
        """See :meth:`Executor.start`. Shut down by a scheduler before, the executor
        serves this one afresh, with new worker processes (once its last dispatcher
        thread has stopped their workers: ``SchedulerStateError`` if a run still goes
        on there)."""
        if self._closed:
            # (Not under the lock: the dispatcher takes it on its way out.)
            check_ended(self.kind, [self._dispatcher])
            with self._lock:
                self._pending.clear()
                self._closed = self._holding = self._abort = self._woken = False
                self._stop_deadline = None
                self._dispatcher = self._wake_reader = self._wake_writer = None
                self._workers = []
        super().start(report, clock)

    # -- checking and submitting --------------------------------------------------------

    def check(
        self,
        func: Callable[..., Any] | None,
        func_ref: str | None,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
    ) -> None:
        """Refuse a job a worker process could not run.

        Raises:
            SerializationError: the function cannot be imported by reference, or an
                argument cannot be pickled; the message names which.
        """
        if func is not None:
            shown = _reference_of(func)
        elif func_ref is not None:
            shown = func_ref
        else:
            raise SerializationError("a process executor job needs a function or a reference")
        names = _positional_names(func)
        for index, value in enumerate(args):
            label = f"argument {index}"
            if index < len(names):
                label += f" ({names[index]!r})"
            self._check_picklable(value, label, shown)
        for key, value in kwargs.items():
            self._check_picklable(value, f"keyword argument {key!r}", shown)

    @staticmethod
    def _check_picklable(value: Any, label: str, shown: str) -> None:
        try:
            ForkingPickler.dumps(value)
        except Exception as error:
            raise SerializationError(
                f"{label} of job function {shown} (a {type(value).__name__}) cannot be "
                f"pickled for a worker process: {error}"
            ) from None

    def _enqueue(self, batch: Sequence[RunRequest]) -> None:
        # Lock held (see BatchExecutor.submit_many): the dispatcher starts on first use.
        self._pending.extend(batch)
        if self._dispatcher is None:
            self._wake_reader, self._wake_writer = _spawn.Pipe(duplex=False)
            self._dispatcher = threading.Thread(
                target=self._dispatch, name="tickwork-process-dispatcher", daemon=True
            )
            self._dispatcher.start()
        self._poke()

    def _poke(self) -> None:
        # Called with the lock held. One byte in flight at most, so the pipe never fills.
        if not self._woken and self._wake_writer is not None:
            self._woken = True
            self._wake_writer.send_bytes(b"")

    # -- the dispatcher thread ----------------------------------------------------------

    def _dispatch(self) -> None:
        graceful = True
        try:
            graceful = self._serve()
        except BaseException:  # pragma: no cover - a bug here must not go unnoticed
            logger.exception("tickwork: the process executor's dispatcher failed")
            graceful = False
        finally:
            self._close_workers(graceful)
            with self._lock:
                writer, self._wake_writer = self._wake_writer, None
            if writer is not None:
                writer.close()
            if self._wake_reader is not None:
                self._wake_reader.close()

    def _serve(self) -> bool:
        """Run until shut down; say whether the ending is graceful (nothing to kill)."""
        assert self._wake_reader is not None
        wake_reader = self._wake_reader
        while True:
            with self._lock:
                self._woken = False
                while wake_reader.poll():
                    wake_reader.recv_bytes()
                closed, abort, stop_deadline = self._closed, self._abort, self._stop_deadline
            busy = [worker for worker in self._workers if worker.request is not None]
            if abort:
                return False
            if closed:
                if not busy:
                    return True
                if stop_deadline is not None and time.monotonic() >= stop_deadline:
                    return False
            else:
                self._assign()
                busy = [worker for worker in self._workers if worker.request is not None]

            deadlines = [w.deadline for w in busy if w.deadline is not None]
            if closed and stop_deadline is not None:
                deadlines.append(stop_deadline)
            timeout = max(min(deadlines) - time.monotonic(), 0.0) if deadlines else None

            by_conn = {worker.conn: worker for worker in self._workers}
            by_sentinel = {worker.process.sentinel: worker for worker in self._workers}
            ready = wait([wake_reader, *by_conn, *by_sentinel], timeout)
            for item in ready:
                if isinstance(item, Connection) and item in by_conn:
                    self._receive(by_conn[item])
            for item in ready:
                if isinstance(item, int) and item in by_sentinel:
                    worker = by_sentinel[item]
                    if worker in self._workers:
                        self._died(worker)
            now = time.monotonic()
            for worker in list(self._workers):
                if worker.deadline is not None and now >= worker.deadline:
                    self._timed_out(worker)

    def _assign(self) -> None:
        while True:
            with self._lock:
                if not self._pending or self._holding:
                    return
                idle = next((w for w in self._workers if w.request is None), None)
                if idle is None and len(self._workers) >= self._max_workers:
                    return
                request = self._pending.popleft()
            grace = request.misfire_grace
            if grace is not None and self._clock.now() - request.scheduled_at > grace:
                # It waited for a free worker past its job's misfire grace: not started.
                self._finish(request, Outcome.MISSED)
                continue
            if idle is None:
                try:
                    idle = self._start_worker()
                except Exception as error:
                    logger.exception("tickwork: could not start a worker process")
                    self._finish(request, Outcome.FAILURE, exception=error)
                    continue
            self._send(idle, request)

    def withdraw(self, job_ids: Collection[str]) -> list[RunRequest]:
        """Take the waiting runs of *job_ids* back (see :meth:`Executor.withdraw`)."""
        with self._lock:
            taken = [request for request in self._pending if request.job_id in job_ids]
            if taken:
                kept = [request for request in self._pending if request.job_id not in job_ids]
                self._pending.clear()
                self._pending.extend(kept)
        return taken

    def take_unstarted(self) -> list[RunRequest]:
        """Send no waiting run to a worker from now on; return those waiting (see
        :meth:`Executor.take_unstarted`)."""
        with self._lock:
            self._holding = True
            taken = list(self._pending)
            self._pending.clear()
        return taken

    def _start_worker(self) -> _Worker:
        number = next(_numbers)
        parent_end, child_end = _spawn.Pipe()
        process = _spawn.Process(
            target=_worker_main,
            args=(child_end,),
            name=f"tickwork-process-{number}",
            daemon=True,
        )
        try:
            process.start()
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        worker = _Worker(number, process, parent_end)
        self._workers.append(worker)
        return worker

    def _send(self, worker: _Worker, request: RunRequest) -> None:
        try:
            reference = _reference_for(request)
            # Only plain data travels: the function as a reference, kwargs as a dict
            # (a read-only mapping proxy would not pickle).
            message = request._replace(func=None, func_ref=reference, kwargs=dict(request.kwargs))
            data = ForkingPickler.dumps(message)
        except SerializationError as error:
            self._finish(request, Outcome.FAILURE, exception=error)
            return
        except Exception as error:
            problem = SerializationError(
                f"cannot send job {request.job_id!r} to a worker process: {error}"
            )
            self._finish(request, Outcome.FAILURE, exception=problem)
            return
        try:
            worker.conn.send_bytes(data)
        except OSError:
            # The idle worker died: nothing started, so the request waits for another.
            with self._lock:
                self._pending.appendleft(request)
            self._died(worker)
            return
        # started_at and the deadline wait for the worker's "started": a new worker may
        # still be booting, and the job's module may still have to be imported.
        worker.request = request

    def _receive(self, worker: _Worker) -> None:
        while True:
            request, started_at = worker.request, worker.started_at
            message: Any
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                self._died(worker)
                return
            except Exception as error:
                problem = RuntimeError(f"the result could not be unpickled: {error}")
                message = ("error", problem, None)
            if message[0] != "started":
                break
            if request is not None:
                worker.started_at = self._clock.now()
                if request.timeout is not None:
                    worker.deadline = time.monotonic() + request.timeout
            # A quick job's result may be in the pipe already: read it before the
            # dispatcher looks at the deadline just armed.
            if not worker.conn.poll():
                return
        worker.request = worker.started_at = worker.deadline = None
        if request is None:  # pragma: no cover - a worker only answers requests
            return
        kind, payload, text = message
        if kind == "ok":
            self._finish(request, Outcome.SUCCESS, payload, started_at=started_at)
            return
        if text and payload.__cause__ is None:
            payload.__cause__ = RemoteTraceback(text)
        if not isinstance(payload, Exception):
            logger.error(
                "tickwork: job %r raised %s in its worker process; reported as a failure",
                request.job_id,
                type(payload).__name__,
                extra=request_fields(request),
            )
        self._finish(request, Outcome.FAILURE, exception=payload, started_at=started_at)

    def _died(self, worker: _Worker) -> None:
        self._workers.remove(worker)
        worker.process.join(_GRACE)
        code = worker.process.exitcode
        self._stop(worker)  # a no-op unless it hangs on its way out
        if worker.request is not None:
            error = WorkerDied(
                f"the worker process running job {worker.request.job_id!r} died "
                f"({_describe_exit(code)})"
            )
            self._finish(
                worker.request, Outcome.FAILURE, exception=error, started_at=worker.started_at
            )
        else:
            logger.warning("tickwork: an idle worker process died (%s)", _describe_exit(code))

    def _timed_out(self, worker: _Worker) -> None:
        self._workers.remove(worker)
        self._stop(worker)
        request = worker.request
        assert request is not None
        error = JobTimeout(
            f"job {request.job_id!r} timed out after {request.timeout} s; "
            "its worker process was stopped"
        )
        self._finish(request, Outcome.FAILURE, exception=error, started_at=worker.started_at)

    def _close_workers(self, graceful: bool) -> None:
        # Results already in a pipe win over interruption.
        for worker in list(self._workers):
            if worker.request is not None and worker in self._workers:
                try:
                    if worker.conn.poll():
                        self._receive(worker)
                except OSError:
                    pass
        workers, self._workers = self._workers, []
        for worker in workers:
            if worker.request is None and graceful:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
            else:
                worker.process.terminate()
        for worker in workers:
            self._stop(worker, already_asked=True)
            if worker.request is not None:
                self._finish(worker.request, Outcome.INTERRUPTED, started_at=worker.started_at)

    def _stop(self, worker: _Worker, already_asked: bool = False) -> None:
        process = worker.process
        if process.exitcode is None and not already_asked:
            process.terminate()
        process.join(_GRACE)
        if process.exitcode is None:
            process.kill()
            process.join()
        self._dispose(worker)

    @staticmethod
    def _dispose(worker: _Worker) -> None:
        worker.conn.close()
        worker.process.close()

    def _finish(
        self,
        request: RunRequest,
        outcome: Outcome,
        value: Any = None,
        exception: BaseException | None = None,
        started_at: datetime | None = None,
    ) -> None:
        now = self._clock.now()
        self._deliver(RunResult(request, outcome, value, exception, started_at, now))

    # -- shutting down ------------------------------------------------------------------

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop accepting runs; wait for running jobs or stop their workers.

        Args:
            wait: wait for running jobs (at most *timeout* seconds) before stopping
                their workers; if false, stop them at once, in the background.
            timeout: the most seconds to wait, ``None`` for no limit.
        """
        with self._lock:
            self._closed = True
            interrupted = list(self._pending)
            self._pending.clear()
            if not wait:
                self._abort = True
            elif timeout is not None:
                deadline = time.monotonic() + max(timeout, 0.0)
                if self._stop_deadline is None or deadline < self._stop_deadline:
                    self._stop_deadline = deadline
            dispatcher = self._dispatcher
            self._poke()
        for request in interrupted:
            self._finish(request, Outcome.INTERRUPTED)
        if wait and dispatcher is not None and dispatcher is not threading.current_thread():
            dispatcher.join()
