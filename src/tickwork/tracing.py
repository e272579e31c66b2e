"""OpenTelemetry spans for a scheduler's runs (the extra ``tickwork[otel]``).

:func:`instrument` gives each run (each attempt that started) a span named after its
job id, with these attributes:

=============================  ============================================================
``tickwork.job.id``            the job's id
``tickwork.run.id``            the run id (``current_run().run_id``, and the ``run_id`` of
                               tickwork's log records)
``tickwork.run.scheduled_at``  the nominal fire time, ISO 8601 in the run's zone
``tickwork.run.attempt``       the attempt, from 1
``tickwork.run.lateness``      seconds from the nominal fire time to the start
``tickwork.run.outcome``       ``success``, ``failure`` or ``interrupted``
=============================  ============================================================

A run that raised has the exception recorded on its span (an ``exception`` event) and
an ``ERROR`` status.

Two ways, by executor:

* **Current while the job runs** (``ThreadExecutor``, ``InlineExecutor``,
  ``AsyncioExecutor``: executors that offer run hooks, ``Executor.add_run_hook``): the
  span starts as the job's function is called (in the worker thread, or in the job's
  task on the loop) and ends as it returns, and it is the current span meanwhile, so
  spans the job makes itself (an HTTP call, a database query) are its children, in the
  same trace. Its times are the tracer's own (the real clock).
* **From events** (``ProcessExecutor``, executors of your own without run hooks): the
  span is made when the scheduler learns of the run's end, with the start and end
  times the executor reported (``Event.started_at`` and ``Event.at``, from the
  scheduler's clock), so its times are exact but it was never current: the job's own
  spans are not its children.

An executor the scheduler makes later (the ``"asyncio"`` one of a ``Scheduler``, made for
its first coroutine job) gets the hook when its first run ends: that run's span comes
from events, the next ones are current.

Runs that never started (cut off before they began, or taken over from a dead process
that ran them) get no span.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Union

from ._errors import LeaseExpired
from ._events import Event, EventKind
from ._instants import epoch_us
from ._model import RunRequest, run_id

if TYPE_CHECKING:
    from .aio import AsyncScheduler
    from .scheduler import Scheduler

__all__ = ["Tracing", "instrument"]

_AnyScheduler = Union["Scheduler", "AsyncScheduler"]
_ENDS = (
    EventKind.JOB_EXECUTED
    | EventKind.JOB_FAILED
    | EventKind.JOB_RETRIED
    | EventKind.JOB_INTERRUPTED
)
_OUTCOMES = {
    EventKind.JOB_EXECUTED: "success",
    EventKind.JOB_FAILED: "failure",
    EventKind.JOB_RETRIED: "failure",
    EventKind.JOB_INTERRUPTED: "interrupted",
}
#: Runs a hook traced that the scheduler has not reported ended yet; beyond this many
#: (their ends never came: a scheduler torn down without listeners) the oldest go.
_PENDING_MAX = 100_000


def _import_otel() -> Any:
    try:
        from opentelemetry import trace
    except ImportError as error:
        raise ImportError(
            f'tickwork.tracing needs opentelemetry-api ({error}): pip install "tickwork[otel]"'
        ) from error
    return trace


def _version() -> str | None:
    """tickwork's installed version (None from a source tree that is not installed)."""
    from importlib import metadata

    try:
        return metadata.version("tickwork")
    except metadata.PackageNotFoundError:
        return None


def _ns(moment: datetime) -> int:
    return epoch_us(moment) * 1000


def _key(job_id: str, scheduled_at: datetime, attempt: int) -> tuple[str, int, int]:
    return job_id, epoch_us(scheduled_at), attempt


class Tracing:
    """The spans of one scheduler's runs (see the module docstring): a listener, and a
    run hook on each executor that offers one. Made by :func:`instrument`."""

    def __init__(self, scheduler: _AnyScheduler, tracer: Any) -> None:
        self._scheduler = scheduler
        self._tracer = tracer
        self._trace = _import_otel()
        self._lock = threading.Lock()
        # Runs whose span a hook made: their end event makes none.
        self._hooked: dict[tuple[str, int, int], None] = {}
        self._hooked_executors: list[Any] = []

    def _attributes(self, request_or_event: Any, late: float) -> dict[str, Any]:
        job_id = request_or_event.job_id
        scheduled_at = request_or_event.scheduled_at
        attempt = request_or_event.attempt
        return {
            "tickwork.job.id": job_id,
            "tickwork.run.id": run_id(job_id, scheduled_at, attempt),
            "tickwork.run.scheduled_at": scheduled_at.isoformat(),
            "tickwork.run.attempt": attempt,
            "tickwork.run.lateness": max(0.0, late),
        }

    # -- spans current while the job runs -----------------------------------------------

    @contextlib.contextmanager
    def hook(self, request: RunRequest) -> Iterator[None]:
        """The run hook: a span current around the job's function (for
        ``Executor.add_run_hook``)."""
        late = (self._scheduler.clock.now() - request.scheduled_at).total_seconds()
        key = _key(request.job_id, request.scheduled_at, request.attempt)
        with self._lock:
            if len(self._hooked) >= _PENDING_MAX:
                del self._hooked[next(iter(self._hooked))]
            self._hooked[key] = None
        with self._tracer.start_as_current_span(
            request.job_id,
            attributes=self._attributes(request, late),
            record_exception=True,
            set_status_on_exception=True,
        ) as span:
            try:
                yield
            except BaseException as error:
                span.set_attribute("tickwork.run.outcome", "failure")
                if not isinstance(error, Exception):
                    # OpenTelemetry records an Exception only: a run cancelled at its
                    # timeout (asyncio's CancelledError), a job's SystemExit, would end
                    # with no error on its span.
                    span.record_exception(error)
                    reason = "cancelled (its timeout, or a shutdown)"
                    if not isinstance(error, asyncio.CancelledError):
                        reason = f"{type(error).__name__}: {error}"
                    span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, reason))
                raise
            span.set_attribute("tickwork.run.outcome", "success")

    # -- spans from events --------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        """Take in a run's end: make its span, unless a hook made it (the listener)."""
        job_id, scheduled_at, attempt = event.job_id, event.scheduled_at, event.attempt
        if job_id is None or scheduled_at is None or attempt is None:
            return
        with self._lock:
            if self._hooked.pop(_key(job_id, scheduled_at, attempt), False) is None:
                return  # (a hook made its span)
        self._hook_executors()  # (one made since, for a coroutine job, say)
        started = event.started_at
        if started is None:
            return  # it never started here
        outcome = _OUTCOMES.get(event.kind, "interrupted")
        error = event.exception
        if isinstance(error, LeaseExpired):
            outcome = "interrupted"
        attributes = self._attributes(event, (started - scheduled_at).total_seconds())
        attributes["tickwork.run.outcome"] = outcome
        span = self._tracer.start_span(job_id, start_time=_ns(started), attributes=attributes)
        end = _ns(event.at)
        if error is not None:
            span.record_exception(error, timestamp=end)
            status = self._trace.Status(
                self._trace.StatusCode.ERROR, f"{type(error).__name__}: {error}"
            )
            span.set_status(status)
        span.end(end_time=end)

    def _hook_executors(self) -> None:
        """Add the run hook to each executor of the scheduler that offers run hooks and
        does not have it yet."""
        for executor in self._scheduler.engine.executors.values():
            if executor.runs_hooks and not any(executor is e for e in self._hooked_executors):
                executor.add_run_hook(self.hook)
                self._hooked_executors.append(executor)

    def uninstrument(self) -> None:
        """Stop making spans: remove the listener and the run hooks."""
        self._scheduler.remove_listener(self)
        for executor in self._hooked_executors:
            with contextlib.suppress(LookupError):
                executor.remove_run_hook(self.hook)
        self._hooked_executors = []


def instrument(scheduler: _AnyScheduler, *, tracer_provider: Any = None) -> Tracing:
    """Make an OpenTelemetry span for each run of *scheduler* (a ``Scheduler`` or an
    ``AsyncScheduler``) from now on, with the tracer of *tracer_provider* (default: the
    global one). See the module docstring for the spans and their attributes.

    Raises:
        ImportError: opentelemetry-api is not installed (the extra ``tickwork[otel]``).
        TypeError: *scheduler* is not a scheduler.
    """
    trace = _import_otel()
    from ._driver import DriverBase

    if not isinstance(scheduler, DriverBase):
        raise TypeError(
            f"instrument() takes a Scheduler or an AsyncScheduler, got {type(scheduler).__name__}"
        )
    tracer = trace.get_tracer("tickwork", _version(), tracer_provider=tracer_provider)
    tracing = Tracing(scheduler, tracer)
    tracing._hook_executors()
    scheduler.add_listener(tracing, _ENDS)
    return tracing
