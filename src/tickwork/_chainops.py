"""The engine's operations on chains: checking ``after=``, ``on_failure=`` handlers,
removing jobs others run after (``remove_job``, ``remove_all_jobs``), and the
scheduler-wide failure hook (``Scheduler.on_failure``).

A mixin of :class:`~tickwork._engine.Engine` (kept apart so the engine module stays
small); it uses the engine's lock, lookups and ``add_job``/``modify_job``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ._chains import check_after, dependants, failure_handler, never_together, removal_plan
from ._core import REMOVED_BEFORE_START
from ._errors import JobLookupError
from ._events import Event, EventKind
from ._machine import Machine
from ._model import ChainOn, ConflictPolicy, evolve
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

    _batch: list[tuple[str, Job | None]] | None
    _batch_events: list[Event]
    _batch_writes: tuple[list[Job], list[Job], list[Job]]
    _batch_ids: set[str]
    _batch_edges: dict[str, tuple[tuple[str, ...], ChainOn]]

    if TYPE_CHECKING:

        def _find(self, job_id: str) -> Job | None: ...

        def _job(self, job_id: str, *, fresh: bool = False) -> Job: ...

        def add_job(self, /, func: Any, *args: Any, **kwargs: Any) -> Job: ...

        def modify_job(self, /, job_id: str, **changes: Any) -> Job: ...

        def get_jobs(self, tag: str | None = None, *, paused: bool | None = None) -> list[Job]: ...

        def _require_open(self) -> None: ...

        def _load_early(self) -> None: ...

    def remove_job(self, job_id: str, *, cascade: bool = False, detach: bool = False) -> None:
        """Remove a job. Its runs in progress finish; its runs not started yet (pending
        retries too) are reported skipped.

        A job that others run after (``after=``) is removed only with ``cascade=True``
        (they are removed too, and the jobs after them) or ``detach=True`` (they stay,
        without it as an upstream; one left with neither an upstream nor a trigger of
        its own is removed, and the jobs after it lose it in turn); else ``ChainError``
        names them. All of it or nothing: every job the removal touches is looked up
        before any is changed, and a store with transactions makes the changes in one.
        """
        with self._lock:
            self._require_open()
            edges = self._chains.edges()
            if not dependants(edges, job_id):
                removal_plan(edges, job_id, cascade=cascade, detach=detach)  # (the flags)
                if job_id not in self._core and self._link.partial:
                    # Stored by another process and not seen here yet, or broken: the
                    # store knows it (and raises JobLookupError if it does not).
                    self._store.remove_job(job_id)
                else:
                    self._job(job_id)
                    self._store.remove_job(job_id)
                removed: list[tuple[str, str | None]] = [(job_id, None)]
                changed: list[tuple[Job, str]] = []
            else:
                # (A shared store's jobs are loaded before its transaction, not in it; the
                # graph is read again inside: another process may have changed it.)
                self._load_early()
                if self._link.partial:
                    # Worked out before it too, as the look-ups read the store: one that
                    # finds a job broken marks it so (a write), and a removal refused
                    # then opens no transaction that would roll the mark back (the job
                    # would not be listed broken, though the error says it is).
                    self._removal(job_id, cascade=cascade, detach=detach)
                with self._store.transaction():
                    removed, changed = self._removal(job_id, cascade=cascade, detach=detach)
                    for job, _ in changed:
                        self._store.update_job(job, schedule=False)
                    for other, _ in removed:  # (the job asked for last)
                        self._store.remove_job(other)
            # Written: now this process's own view follows.
            now = self._clock.now()
            events = []
            for job, why in changed:
                self._link.keep(job)
                events.append(Event(kind=EventKind.JOB_MODIFIED, at=now, job_id=job.id,
                                    scheduled_at=job.next_fire, reason=why))  # fmt: skip
            if changed:
                self._router.invalidate()
            for other, reason in removed:
                events.append(
                    Event(kind=EventKind.JOB_REMOVED, at=now, job_id=other, reason=reason)
                )
                # Its runs not started yet (queued, waiting, to retry) do not start.
                withdrawn = self._stop_queued(other, REMOVED_BEFORE_START)
                events += [] if withdrawn is None else withdrawn.events
                self._core.discard(other)
            if len(removed) > 1 or changed:
                self._chains.changed()
        self._emit(events)

    def _removal(
        self, job_id: str, *, cascade: bool, detach: bool
    ) -> tuple[list[tuple[str, str | None]], list[tuple[Job, str]]]:
        """What :meth:`remove_job` writes (lock held): the jobs to remove, the one asked
        for last, each with the reason its event gives; and the jobs that stay, changed,
        each with its reason. Every one is looked up here, before anything is written:
        one that is missing (or, to be changed, cannot be loaded) raises."""

        def loaded(other: str) -> Job:
            job = self._find(other)
            if job is None:
                why = self._store.broken_jobs().get(other, "it is not stored")
                raise JobLookupError(
                    f"job {other!r} runs after {job_id!r} and cannot be loaded ({why}): "
                    f"fix or remove it first, or remove {job_id!r} with cascade=True"
                )
            return job

        def has_trigger(other: str) -> bool:
            return not isinstance(loaded(other).trigger, UpstreamTrigger)

        edges = self._chains.edges()
        gone, kept = removal_plan(
            edges, job_id, cascade=cascade, detach=detach, has_trigger=has_trigger
        )
        for other in gone:
            if self._find(other) is None and not (
                self._link.partial and other in self._store.broken_jobs()
            ):
                raise JobLookupError(f"no job with id {other!r}")
        changed = []
        for other, ups in kept:
            loaded(other)
            job = self._job(other, fresh=True)
            lost = [repr(up) for up in edges[other][0] if up in gone]
            why = (
                f"its upstream {lost[0]} was removed"
                if len(lost) == 1
                else f"its upstreams {', '.join(lost)} were removed"
            )
            changed.append((evolve(job, after=ups), why))
        if cascade:
            why = f"removed with its upstream {job_id!r} (cascade=True)"
        else:
            why = "left with neither an upstream nor a trigger of its own"
        return [(other, None if other == job_id else why) for other in gone], changed

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
        if len(after) > 1:
            found = [(other, self._find(other)) for other in after]
            why = never_together([(up, job.trigger) for up, job in found if job is not None])
            if why is not None:
                raise ValueError(
                    f"job {job_id!r} would never run: a fan-in runs when all its upstreams "
                    f"ran for one slot (fire time), and {why}; give their triggers one "
                    "start (start_date=), or use cron triggers"
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
        others = [up for up in other.after if up != job_id]
        if others:
            # Run after this job too, it would be a fan-in: started only when all of its
            # upstreams fail in the same slot, so never for one failure alone.
            raise ValueError(
                f"job {job_id!r}: on_failure={existing!r} cannot share that job: "
                f"{existing!r} already runs after {others!r}; made to run after "
                f"{job_id!r} too, it would become a fan-in that runs only when all of them "
                "fail in one slot. Give each job its own handler (on_failure=<a function "
                "or 'module:function'>), or use scheduler.on_failure(callback) for all jobs"
            )
        if other.after:
            return  # (already its handler: the job added again, at each start)
        # Changed with the batch the job is added in (undone with it, if it fails):
        # written with it, and reported once it is.
        assert self._batch is not None
        self._check_after(existing, (job_id,), on=ChainOn.FAILURE)
        self._batch.append((existing, other))
        job = evolve(self._job(existing, fresh=True), after=(job_id,), on=ChainOn.FAILURE)
        self._batch_edges[existing] = (job.after, job.on)
        self._batch_writes[2].append(job)
        self._link.keep(job)
        self._router.invalidate()
        self._batch_events.append(Event(kind=EventKind.JOB_MODIFIED, at=self._clock.now(),
                                        job_id=existing, scheduled_at=job.next_fire))  # fmt: skip
