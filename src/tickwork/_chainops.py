"""The engine's operations on chains: checking ``after=``, ``on_failure=`` handlers,
and the scheduler-wide failure hook (``Scheduler.on_failure``).

A mixin of :class:`~tickwork._engine.Engine` (kept apart so the engine module stays
small); it uses the engine's lock, lookups and ``add_job``/``modify_job``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ._chains import check_after, failure_handler
from ._core import REMOVED_BEFORE_START
from ._errors import JobLookupError
from ._events import Event, EventKind
from ._machine import Machine
from ._model import ChainOn, ConflictPolicy
from .triggers import Trigger, UpstreamTrigger

if TYPE_CHECKING:
    from ._model import Job

__all__ = ["ChainOps"]

logger = logging.getLogger("tickwork")

H = TypeVar("H", bound=Callable[[Event], object])

#: The events of a run that failed for good: raised after its retries, or cut off.
_FAILURES = EventKind.JOB_FAILED | EventKind.JOB_INTERRUPTED


class ChainOps(Machine):
    """Chain operations of the engine (see the module docstring)."""

    _batch_ids: set[str]
    _batch_edges: dict[str, tuple[tuple[str, ...], ChainOn]]

    if TYPE_CHECKING:

        def _find(self, job_id: str) -> Job | None: ...

        def _job(self, job_id: str) -> Job: ...

        def add_job(self, /, func: Any, *args: Any, **kwargs: Any) -> Job: ...

        def modify_job(self, /, job_id: str, **changes: Any) -> Job: ...

        def get_jobs(self, tag: str | None = None, *, paused: bool | None = None) -> list[Job]: ...

        def remove_job(
            self, job_id: str, *, cascade: bool = False, detach: bool = False
        ) -> None: ...

        def _require_open(self) -> None: ...

    def remove_all_jobs(self) -> None:
        """Remove every job, broken ones too: in one store write when no job runs after
        another (else one by one, each with those after it). Each is reported
        ``JOB_REMOVED``, and its runs not started yet skipped, as :meth:`remove_job`
        does."""
        jobs = self.get_jobs()
        broken = list(self._store.broken_jobs())  # (stored too, if not loaded)
        events: list[Event] = []
        with self._lock:
            self._require_open()
            if not self._chains.edges():
                ids = [job.id for job in jobs] + broken
                self._store.remove_jobs(ids)  # (an id gone meanwhile is ignored)
                now = self._clock.now()
                for job_id in ids:
                    events.append(Event(kind=EventKind.JOB_REMOVED, at=now, job_id=job_id))
                    withdrawn = self._stop_queued(job_id, REMOVED_BEFORE_START)
                    events += [] if withdrawn is None else withdrawn.events
                    self._core.discard(job_id)
                jobs = []
        self._emit(events)
        for job_id in [job.id for job in jobs] + (broken if jobs else []):
            with contextlib.suppress(JobLookupError):  # (went with an upstream)
                self.remove_job(job_id, cascade=True)

    def on_failure(self, callback: H) -> H:
        """Call ``callback(event)`` whenever a run fails for good (after its retries) or
        is cut off: a scheduler-wide hook for alerts and clean-ups.

        *event* is the :class:`~tickwork.Event` of the failure (``kind`` is
        ``JOB_FAILED`` or ``JOB_INTERRUPTED``; ``job_id``, ``scheduled_at``,
        ``attempt``, ``exception``). It is called in the scheduler's thread (or task),
        so keep it quick; a hook that raises is logged, never fatal. Returns *callback*,
        so it can be used as a decorator (``@scheduler.on_failure``).

        With ``AsyncScheduler`` it may be an ``async def`` function: each call is a
        task on the scheduler's loop. ``Scheduler`` (no loop) refuses one with
        ``TypeError``.
        """
        if not callable(callback):
            raise TypeError(f"on_failure takes a callable, got {callback!r}")
        self.add_listener(callback, _FAILURES)
        return callback

    def _check_after(
        self,
        job_id: str,
        after: tuple[str, ...],
        trigger: Trigger | None = None,
        *,
        on: ChainOn = ChainOn.SUCCESS,
    ) -> None:
        """Refuse upstreams that are no job or that would close a cycle, and (with the
        *trigger* of a job being changed) no upstreams for a job with no trigger of its
        own; and (adding a job) an *on* with no upstream to apply to (lock held)."""
        if not after:
            if on is not ChainOn.SUCCESS:
                raise TypeError(
                    f"job {job_id!r}: on={on.value!r} says which ends of the upstream runs "
                    "start it, and it has none: give after= too (or on_failure= on the "
                    "upstream)"
                )
            if trigger is not None and isinstance(trigger, UpstreamTrigger):
                raise ValueError(
                    f"job {job_id!r} has no trigger of its own: it needs an upstream "
                    "(give it a trigger with reschedule_job first, or remove it)"
                )
            return
        edges = {**self._chains.edges(), **self._batch_edges}
        check_after(
            edges,
            job_id,
            after,
            lambda other: other in self._batch_ids or self._find(other) is not None,
            store=self._store,
            supported=self._chains.chains is not None,
        )

    def _add_failure_handler(self, job_id: str, handler: Any, policy: ConflictPolicy) -> None:
        """``on_failure=``: a job run after *job_id* fails for good (lock held)."""
        existing = failure_handler(job_id, handler, lambda other: self._find(other) is not None)
        if existing is None:
            replace = policy is ConflictPolicy.REPLACE
            self.add_job(handler, id=f"{job_id}.on_failure", after=job_id, on=ChainOn.FAILURE,
                         replace_existing=replace)  # fmt: skip
            return
        other = self._job(existing)
        if other.after and other.on is not ChainOn.FAILURE:
            raise ValueError(
                f"job {job_id!r}: on_failure={existing!r} names a job that runs on "
                f"{other.on.value!r} of {list(other.after)!r}, not on failure"
            )
        if job_id not in other.after:
            self.modify_job(existing, after=(*other.after, job_id), on=ChainOn.FAILURE)
