"""Where the dashboard reads from and acts on: a live scheduler, or a job store.

A :class:`LiveSource` wraps a ``Scheduler`` or ``AsyncScheduler`` of this process: it
reads through the scheduler's own methods (its jobs, history, next fire times) and acts
through them (``pause_job``, ``run_job_now``...), and it keeps the tracebacks of the
runs that fail while the dashboard exists (from ``JOB_FAILED`` / ``JOB_RETRIED``
events; a store keeps only an error's type and message). A :class:`StoreSource` wraps a
job store another process runs: it reads through the store's public API and acts
through ``tickwork._control``, the same writes the command line makes.

This module is a surface: it may read the wall clock (:func:`wall_clock`).
"""

from __future__ import annotations

import threading
import traceback
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Protocol

from .. import AsyncScheduler, Event, EventKind, Job, JobLookupError, Run, Scheduler, _control
from .._instants import epoch_us, just_before
from ..stores import JobStore, ProcessInfo, ProcessListing

__all__ = ["LiveSource", "Source", "StoreSource", "source_for", "us"]

_UTC = timezone.utc
#: Tracebacks a live source keeps (the newest).
TRACEBACKS = 500


def us(moment: datetime) -> int:
    """*moment* (aware) as whole microseconds since the epoch: an instant, zone-free."""
    return epoch_us(moment)


class Clock(Protocol):
    """What the dashboard needs of a clock: ``now()``, an aware datetime."""

    def now(self) -> datetime: ...


class _WallClock:
    def now(self) -> datetime:
        return datetime.now(_UTC)


def wall_clock() -> Clock:
    """The real clock (the dashboard is a surface: it may read it)."""
    return _WallClock()


class Source(Protocol):
    """What the pages read and the actions call."""

    #: Shown in the page header: what the dashboard looks at.
    label: str

    def now(self) -> datetime: ...

    def jobs(self) -> list[Job]: ...

    def job(self, job_id: str) -> Job: ...

    def broken(self) -> dict[str, str]: ...

    def history(self, job_id: str | None, limit: int) -> list[Run]: ...

    def next_fire_times(self, job: Job, count: int) -> list[datetime]: ...

    def traceback(self, run: Run) -> str | None: ...

    def processes(self) -> list[ProcessInfo] | None: ...

    def pause(self, job_id: str, note: str | None) -> None: ...

    def resume(self, job_id: str) -> None: ...

    def run_now(self, job_id: str) -> None: ...

    def remove(self, job_id: str) -> None: ...


def _store_processes(store: JobStore, now: datetime) -> list[ProcessInfo] | None:
    """The store's processes (``processes(now=...)``), or None when the store does not
    list them (``ProcessListing`` is an optional part of the store seam)."""
    if not isinstance(store, ProcessListing) or not callable(getattr(store, "processes", None)):
        return None
    return store.processes(now=now)


class LiveSource:
    """A scheduler of this process, read and changed through its own methods."""

    def __init__(self, scheduler: Scheduler | AsyncScheduler, clock: Clock | None) -> None:
        # The engine answers the same operations synchronously and is thread-safe; an
        # AsyncScheduler's own methods are coroutines, for its event loop.
        self._engine = scheduler.engine
        self._clock: Clock = clock if clock is not None else scheduler.clock
        self._store = scheduler.store
        self.label = f"{type(scheduler).__name__} ({type(self._store).__name__})"
        self._lock = threading.Lock()
        self._tracebacks: OrderedDict[tuple[str, int, int], str] = OrderedDict()
        self._engine.add_listener(self._on_failure, EventKind.JOB_FAILED | EventKind.JOB_RETRIED)

    def _on_failure(self, event: Event) -> None:
        error = event.exception
        if error is None or event.job_id is None or event.scheduled_at is None:
            return
        # A failure that came back from a task queue's worker: the worker's traceback
        # (the local exception was never raised, and has no frames).
        remote = getattr(error, "remote_traceback", "")
        text = (
            remote
            if isinstance(remote, str) and remote
            else "".join(traceback.format_exception(type(error), error, error.__traceback__))
        )
        key = (event.job_id, us(event.scheduled_at), event.attempt or 1)
        with self._lock:
            self._tracebacks[key] = text
            while len(self._tracebacks) > TRACEBACKS:
                self._tracebacks.popitem(last=False)

    def traceback(self, run: Run) -> str | None:
        with self._lock:
            return self._tracebacks.get((run.job_id, us(run.scheduled_at), run.attempt))

    def now(self) -> datetime:
        return self._clock.now()

    def jobs(self) -> list[Job]:
        # The scheduler's store, which it keeps current at every step: the same jobs as
        # ``get_jobs()`` in the same order, without attaching each to the scheduler
        # (4 times cheaper for 10,000 jobs in memory).
        return self._store.get_jobs()

    def job(self, job_id: str) -> Job:
        job = self._engine.get_job(job_id)
        if job is None:
            raise JobLookupError(f"no job with id {job_id!r}")
        return job

    def broken(self) -> dict[str, str]:
        return self._engine.broken_jobs()

    def history(self, job_id: str | None, limit: int) -> list[Run]:
        return self._engine.history(job_id, limit=limit)

    def next_fire_times(self, job: Job, count: int) -> list[datetime]:
        return self._engine.next_fire_times(job.id, count)

    def processes(self) -> list[ProcessInfo] | None:
        return _store_processes(self._store, self.now())

    def pause(self, job_id: str, note: str | None) -> None:
        self._engine.pause_job(job_id, note=note)

    def resume(self, job_id: str) -> None:
        self._engine.resume_job(job_id)

    def run_now(self, job_id: str) -> None:
        self._engine.run_job_now(job_id)

    def remove(self, job_id: str) -> None:
        self._engine.remove_job(job_id)


class StoreSource:
    """A job store (another process's scheduler runs it), read through its public API."""

    def __init__(self, store: JobStore, clock: Clock | None) -> None:
        self._store = store
        self._clock: Clock = clock if clock is not None else wall_clock()
        self.label = type(store).__name__

    def now(self) -> datetime:
        return self._clock.now()

    def jobs(self) -> list[Job]:
        return self._store.get_jobs()

    def job(self, job_id: str) -> Job:
        return self._store.get_job(job_id)

    def broken(self) -> dict[str, str]:
        return self._store.broken_jobs()

    def history(self, job_id: str | None, limit: int) -> list[Run]:
        return self._store.history(job_id, limit=limit)

    def next_fire_times(self, job: Job, count: int) -> list[datetime]:
        """As ``Scheduler.next_fire_times``: from the stored next fire time or, for a
        paused job, as if resumed now (the first fire time after now)."""
        first = job.next_fire
        if job.paused or first is None:
            after = just_before(self.now())
            if job.start is not None and epoch_us(job.start) > epoch_us(after):
                after = just_before(job.start)
            first = job.trigger.next_after(after)
        times: list[datetime] = []
        while first is not None and len(times) < count:
            if job.end is not None and first > job.end:
                break
            times.append(first)
            first = job.trigger.next_after(first)
        if job.remaining_runs is not None:
            times = times[: job.remaining_runs]
        return times

    def traceback(self, run: Run) -> str | None:
        del run  # a store keeps an error's type and message, not its traceback
        return None

    def processes(self) -> list[ProcessInfo] | None:
        return _store_processes(self._store, self.now())

    def pause(self, job_id: str, note: str | None) -> None:
        _control.pause_job(self._store, job_id, now=self.now(), note=note)

    def resume(self, job_id: str) -> None:
        _control.resume_job(self._store, job_id, now=self.now())

    def run_now(self, job_id: str) -> None:
        _control.run_job_now(self._store, job_id, now=self.now())

    def remove(self, job_id: str) -> None:
        _control.remove_job(self._store, job_id)


def source_for(target: object, clock: Clock | None) -> Source:
    """The source for a dashboard *target*: a scheduler or a job store.

    Raises:
        TypeError: *target* is neither; or *clock* has no ``now()``.
    """
    if clock is not None and not callable(getattr(clock, "now", None)):
        raise TypeError(
            f"clock must have a now() method returning an aware datetime, got {clock!r}"
        )
    if isinstance(target, (Scheduler, AsyncScheduler)):
        return LiveSource(target, clock)
    if isinstance(target, JobStore):
        return StoreSource(target, clock)
    raise TypeError(
        "the dashboard needs a Scheduler, an AsyncScheduler or a job store "
        f"(tickwork.stores.JobStore), got {type(target).__name__}"
    )
