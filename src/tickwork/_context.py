"""``current_run()``: which scheduled fire the running code belongs to."""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import inspect
import sys
from collections.abc import Callable
from typing import Any

from ._errors import JobLookupError
from ._model import RunContext, RunRequest

__all__ = [
    "being_defined",
    "current_run",
    "resolve_reference",
    "run_request",
    "run_request_blocking",
]

# Holds the request itself; the RunContext is built only when someone asks for it.
_current: contextvars.ContextVar[RunRequest | None] = contextvars.ContextVar(
    "tickwork_current_run", default=None
)


def current_run() -> RunContext:
    """The run the calling code is part of: job id, nominal fire time and attempt.

    Works in jobs run by threads, asyncio and processes. ``(job_id, scheduled_at)``
    is stable across retries, restarts and processes: use it as an idempotency key.

    Raises:
        LookupError: called outside a job run.
    """
    request = _current.get()
    if request is None:
        raise LookupError("tickwork.current_run() was called outside a running job")
    return RunContext(request.job_id, request.scheduled_at, request.attempt)


def resolve_reference(reference: str) -> Callable[..., Any]:
    """Import ``"package.module:qualified.name"`` and return the callable it names.

    Raises:
        JobLookupError: the module or attribute cannot be found (a ``LookupError``).
        TypeError: it names something that is not callable.
    """
    module_name, sep, qualname = reference.partition(":")
    if not sep or not module_name or not qualname:
        raise ValueError(
            f"function reference {reference!r} must look like 'package.module:function'"
        )
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise JobLookupError(
            f"cannot import module {module_name!r} of {reference!r}: {error}"
        ) from None
    for part in qualname.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise JobLookupError(f"{reference!r}: {module_name!r} has no {qualname!r}") from None
    if not callable(target):
        raise TypeError(f"{reference!r} names a {type(target).__name__}, not a callable")
    return target  # type: ignore[no-any-return]


def being_defined(func: Callable[..., Any]) -> bool:
    """Whether *func* is a top-level function of a module that is still being imported,
    its name not bound yet: a decorator such as ``@scheduler.interval(...)`` sees its
    function at that moment. Its ``"module:name"`` reference will resolve once the
    module has finished importing."""
    module_name = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not isinstance(module_name, str) or not isinstance(qualname, str):
        return False
    if "." in qualname or "<" in qualname or not inspect.isfunction(func):
        return False
    module = sys.modules.get(module_name)
    return module is not None and not hasattr(module, qualname)


def run_request(request: RunRequest) -> Any:
    """Call the request's function with ``current_run()`` set; return what it returns."""
    func = request.func if request.func is not None else resolve_reference(request.func_ref or "")
    token = _current.set(request)
    try:
        return func(*request.args, **request.kwargs)
    finally:
        _current.reset(token)


def run_request_blocking(request: RunRequest) -> Any:
    """Like :func:`run_request`, but a coroutine the function returns is run to the end.

    The coroutine runs with :func:`asyncio.run` in the calling thread, with
    ``current_run()`` still set (the new loop copies this context). This is how the
    thread, process and inline executors run coroutine functions.

    Raises:
        RuntimeError: the function returned a coroutine while an event loop is running
            in this thread (the coroutine is closed, so no "never awaited" warning).
        Whatever the function (or its coroutine) raises.
    """
    func = request.func if request.func is not None else resolve_reference(request.func_ref or "")
    token = _current.set(request)
    try:
        result = func(*request.args, **request.kwargs)
        if inspect.iscoroutine(result):
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return asyncio.run(result)
            result.close()
            raise RuntimeError(
                f"job {request.job_id!r} is a coroutine function, but this thread already "
                "runs an event loop; give it to an AsyncioExecutor"
            )
        return result
    finally:
        _current.reset(token)


def enter_run(request: RunRequest) -> contextvars.Token[RunRequest | None]:
    """Set ``current_run()`` for code about to run *request* (asyncio tasks, processes)."""
    return _current.set(request)


def leave_run(token: contextvars.Token[RunRequest | None]) -> None:
    _current.reset(token)
