"""``current_run()``: which scheduled fire the running code belongs to."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from types import CoroutineType as _Coroutine
from typing import Any

from ._model import RunContext, RunRequest, RunResult, run_id
from ._references import being_defined, function_of, resolve_reference

__all__ = [
    "CURRENT_REQUEST",
    "RunHook",
    "being_defined",
    "current_run",
    "enter_hooks",
    "exit_hooks",
    "log_failure",
    "log_fields",
    "request_fields",
    "resolve_reference",
    "run_coroutine",
    "run_request",
    "run_request_blocking",
]

logger = logging.getLogger("tickwork")

#: A run hook (``Executor.add_run_hook``): called with the request of a run about to
#: start, in the thread that runs it; returns a context manager entered around the
#: job's function (it sees the job's exception, and cannot swallow it).
RunHook = Callable[[RunRequest], contextlib.AbstractContextManager[object]]

# being_defined and resolve_reference live in _references; they stay importable from
# here for code written against this module.

# Holds the request itself; the RunContext is built only when someone asks for it.
_current: contextvars.ContextVar[RunRequest | None] = contextvars.ContextVar(
    "tickwork_current_run", default=None
)
#: The variable behind ``current_run()``: an executor's hot loop may set (and reset)
#: it itself around a plain function (see :func:`run_request_blocking`).
CURRENT_REQUEST = _current


def current_run() -> RunContext:
    """The run the calling code is part of: job id, nominal fire time, attempt, the
    event that started it (``event``, None for a run started by time), and for a
    chained job (``add_job(after=...)``) its upstream runs (``upstream``).

    Works in jobs run by threads, asyncio and processes. ``(job_id, scheduled_at)``
    is stable across retries, restarts and processes: use it as an idempotency key.

    Raises:
        LookupError: called outside a job run.
    """
    request = _current.get()
    if request is None:
        raise LookupError("tickwork.current_run() was called outside a running job")
    return request.context


def log_fields(job_id: str, scheduled_at: datetime, attempt: int | None) -> dict[str, Any]:
    """The ``extra`` fields of a log record about a run (``docs/observability.md``):
    ``job_id``, ``scheduled_at`` (ISO 8601, in the run's zone), ``attempt`` and
    ``run_id`` (None, with the attempt, when the record is about a fire, not one
    attempt of it)."""
    return {
        "job_id": job_id,
        "scheduled_at": scheduled_at.isoformat(),
        "attempt": attempt,
        "run_id": None if attempt is None else run_id(job_id, scheduled_at, attempt),
    }


def request_fields(request: RunRequest) -> dict[str, Any]:
    """:func:`log_fields` of the run *request* asks for."""
    return log_fields(request.job_id, request.scheduled_at, request.attempt)


def log_failure(result: RunResult) -> None:
    """Log a run that failed (as the engine takes it in), with its run's fields."""
    error = result.exception
    request = result.request
    logger.error(
        "tickwork: job %r (scheduled %s, attempt %d) failed: %s",
        request.job_id,
        request.scheduled_at.isoformat(),
        request.attempt,
        f"{type(error).__name__}: {error}",
        exc_info=error if isinstance(error, BaseException) else None,
        extra=request_fields(request),
    )


def run_request(request: RunRequest) -> Any:
    """Call the request's function with ``current_run()`` set; return what it returns."""
    func = request.func if request.func is not None else function_of(request.func_ref or "")
    token = _current.set(request)
    try:
        return func(*request.args, **request.kwargs)
    finally:
        _current.reset(token)


def run_request_blocking(request: RunRequest, hooks: Sequence[RunHook] = ()) -> Any:
    """Like :func:`run_request`, but a coroutine the function returns is run to the end;
    inside the context managers of *hooks* (see :data:`RunHook`), if any.

    The coroutine runs with :func:`asyncio.run` in the calling thread, with
    ``current_run()`` still set (the new loop copies this context). This is how the
    thread, process and inline executors run coroutine functions.

    Raises:
        RuntimeError: the function returned a coroutine while an event loop is running
            in this thread (the coroutine is closed, so no "never awaited" warning).
        Whatever the function (or its coroutine) raises.
    """
    if hooks:
        return _hooked(request, hooks)
    func = request.func if request.func is not None else function_of(request.func_ref or "")
    token = _current.set(request)
    try:
        kwargs = request.kwargs
        # (No ** for the usual empty mapping: it would copy it into a new dict per run.)
        result = func(*request.args, **kwargs) if kwargs else func(*request.args)
        if result is not None and isinstance(result, _Coroutine):
            return run_coroutine(request, result)
        return result
    finally:
        _current.reset(token)


def run_coroutine(request: RunRequest, coroutine: _Coroutine[Any, Any, Any]) -> Any:
    """Run the *coroutine* that *request*'s function returned to the end, with
    :func:`asyncio.run` in the calling thread (``current_run()`` set by the caller).

    Raises:
        RuntimeError: an event loop is running in this thread (the coroutine is closed).
        Whatever the coroutine raises.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    coroutine.close()
    raise RuntimeError(
        f"job {request.job_id!r} is a coroutine function, but this thread already "
        "runs an event loop; give it to an AsyncioExecutor"
    )


def enter_hooks(
    request: RunRequest, hooks: Sequence[RunHook]
) -> list[contextlib.AbstractContextManager[object]]:
    """Enter *hooks* for *request*; return the context managers entered, for
    :func:`exit_hooks`. A hook that fails is logged and left out: it never fails the
    run."""
    entered: list[contextlib.AbstractContextManager[object]] = []
    for hook in hooks:
        try:
            manager = hook(request)
            manager.__enter__()
        except Exception:
            logger.exception("tickwork: run hook %r failed", hook, extra=request_fields(request))
        else:
            entered.append(manager)
    return entered


def exit_hooks(
    request: RunRequest,
    entered: list[contextlib.AbstractContextManager[object]],
    error: BaseException | None,
) -> None:
    """Exit what :func:`enter_hooks` entered, last first, telling each of *error* (the
    job's exception, None when it returned). A hook cannot swallow it; one that fails
    is logged."""
    info = (None, None, None) if error is None else (type(error), error, error.__traceback__)
    for manager in reversed(entered):
        try:
            manager.__exit__(*info)
        except Exception:
            logger.exception("tickwork: run hook %r failed", manager, extra=request_fields(request))


def _hooked(request: RunRequest, hooks: Sequence[RunHook]) -> Any:
    """Run *request* inside its hooks (:func:`enter_hooks`, :func:`exit_hooks`)."""
    entered = enter_hooks(request, hooks)
    try:
        value = run_request_blocking(request)
    except BaseException as error:
        exit_hooks(request, entered, error)
        raise
    exit_hooks(request, entered, None)
    return value


def enter_run(request: RunRequest) -> contextvars.Token[RunRequest | None]:
    """Set ``current_run()`` for code about to run *request* (asyncio tasks, processes)."""
    return _current.set(request)


def leave_run(token: contextvars.Token[RunRequest | None]) -> None:
    _current.reset(token)
