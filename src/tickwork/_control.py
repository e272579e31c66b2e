"""Job actions on a store itself: pause, resume, run now and remove a stored job
without the scheduler that runs it (the command line and the dashboard use them).

Theory of operation
-------------------
A scheduler keeps the jobs of a shared store (``SQLiteStore``, ``PostgresStore``) in
memory and learns of other processes' changes through
:meth:`~tickwork.stores.SharedJobStore.sync` (every ``poll_interval``, or at once on a
``NOTIFY``). So a tool changes a job by writing the store through its public API,
exactly as another scheduler process would, and every running scheduler takes the
change in:

* The job is read without importing anything it names (``references_as_text``): the
  tool may not have the job's code, and reading must run none of it. It is written back
  whole, so what the user stored (function reference, arguments, options, trigger,
  remaining runs, failures) comes back as it was: the codec guarantees that a decoded
  job encodes to the same values. A job the store cannot decode (broken, or pickled
  arguments in a store opened without ``pickle=True``) is refused, never rewritten.
* Reading and writing happen in one store transaction. Pausing keeps the stored fire
  state (``update_job(schedule=False)``), so a fire another process claims meanwhile
  is not undone; running now is a compare-and-set on the next fire time (a claim
  that starts no run), retried if a scheduler moved the fire in between.

These functions never read the clock: the caller passes *now*.
"""

from __future__ import annotations

import time
from datetime import datetime

from ._chains import removal_plan
from ._errors import JobLookupError, StoreError, TriggerError
from ._instants import epoch_us, just_after
from ._model import Job, evolve
from ._planning import job_first_fire, job_previous_fire, startable
from ._references import references_as_text
from .stores import JobStore
from .stores._chains import ChainStore

__all__ = ["pause_job", "remove_job", "resume_job", "run_job_now"]

#: How many times run_job_now tries its compare-and-set when schedulers keep moving the
#: job's next fire time under it (each loss means a scheduler just claimed a fire).
_CAS_TRIES = 20


def _aware(now: object) -> datetime:
    if not isinstance(now, datetime):
        raise TypeError(f"now must be an aware datetime, got {type(now).__name__} {now!r}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be an aware datetime (with an offset), got naive {now}")
    return now


def _job_id(job_id: object) -> str:
    if not isinstance(job_id, str):
        raise TypeError(f"job_id must be a str, got {type(job_id).__name__} {job_id!r}")
    return job_id


def _read(store: JobStore, job_id: str) -> Job:
    """The stored job *job_id*, decoded without importing anything.

    Raises:
        JobLookupError: no such job, or its record is broken (a store cannot write back
            what it could not read); the message names the id and the reason.
    """
    broken = store.broken_jobs().get(job_id)
    if broken is not None:
        raise JobLookupError(
            f"job {job_id!r} is stored but broken, so it is left as it is: {broken}"
        )
    with references_as_text():
        return store.get_job(job_id)


def _write(store: JobStore, job: Job, *, schedule: bool) -> None:
    with references_as_text():
        store.update_job(job, schedule=schedule)


def pause_job(store: JobStore, job_id: str, *, now: datetime, note: str | None = None) -> Job:
    """Pause the stored job *job_id* (as ``Scheduler.pause_job`` does); return it.

    The job keeps its stored next fire time and remaining runs; a paused job does not
    fire, and :func:`resume_job` later gives it its first fire time at or after the
    moment it is resumed (fires that pass while it is paused are not caught up). A
    paused job paused again gets the new *note*. Schedulers sharing the store take the
    change in at their next sync (SQLite: within ``poll_interval``; PostgreSQL with
    ``notify``: at once); a run already started finishes.

    Raises:
        JobLookupError: no job *job_id*, or its record is broken.
        TypeError, ValueError: *note* is not a str, *now* is not an aware datetime.
        SerializationError, StoreError: the store cannot write the job.
    """
    _aware(now)
    _job_id(job_id)
    if note is not None and not isinstance(note, str):
        raise TypeError(f"note must be a str or None, got {type(note).__name__} {note!r}")
    with store.transaction():
        job = evolve(_read(store, job_id), paused=True, pause_note=note)
        # The fire state belongs to the claims: keep the stored one.
        _write(store, job, schedule=False)
    return job


def resume_job(store: JobStore, job_id: str, *, now: datetime) -> Job:
    """Resume the paused stored job *job_id* (as ``Scheduler.resume_job`` does).

    Its next fire time becomes its first fire time at or after *now* (fires that
    passed while it was paused are not caught up), its pause note and its count of
    consecutive failures are cleared. A paused job with no fire time left (a one-off
    time that passed while it was paused; a job started by events or upstream runs whose
    ``end`` passed) is removed, as the scheduler removes it; the job returned then has
    ``next_fire`` None.

    A job that is not paused is left as it is and returned: resuming it must not move a
    fire time that a running scheduler may be about to claim.

    Raises:
        JobLookupError: no job *job_id*, or its record is broken.
        TriggerError: the job's trigger raised when asked for its next time.
        SerializationError, StoreError: the store cannot write the job.
    """
    _aware(now)
    _job_id(job_id)
    with store.transaction():
        job = _read(store, job_id)
        if not job.paused:
            return job
        job = evolve(job, paused=False, pause_note=None, consecutive_failures=0)
        job = evolve(job, next_fire=job_first_fire(job, now))
        if job.next_fire is None and not startable(job, now):
            store.remove_job(job_id)
        else:
            # Paused, the job is claimed by no one: its fire state is this call's to set.
            _write(store, job, schedule=True)
    return job


def run_job_now(store: JobStore, job_id: str, *, now: datetime) -> Job:
    """Make the stored job *job_id* due at *now*, so that a running scheduler fires it
    at once; return the job as stored after.

    The job's stored next fire time moves to *now* when it is later (a compare-and-set,
    as a claim makes, so no fire a scheduler claims meanwhile is lost or run twice);
    when it is at or before *now* already the job is due and is left as it is. The run
    is an ordinary scheduled fire: its ``scheduled_at`` is *now*, it counts against
    ``remaining_runs``, it obeys ``max_instances`` and the overlap policy, and after it
    the trigger goes on as before (the next fire is the trigger's first after *now*:
    the one the job had). Unlike ``Scheduler.run_job_now``, nothing runs in this
    process: with no scheduler running on the store, the job runs when one starts,
    late, as the job's ``misfire_grace_time`` and catch-up policy allow.

    Raises:
        JobLookupError: no job *job_id*, or its record is broken.
        ValueError: the job is paused (resume it first: a paused job does not fire), its
            ``start`` is later than *now* (it fires only within ``[start, end]``), or it
            has no runs left (``remaining_runs`` 0: its last run is going).
        StoreError: the store failed, or schedulers kept moving the job (or holding
            it) for 20 tries in a row, about a second.
    """
    _aware(now)
    _job_id(job_id)
    now_us = epoch_us(now)
    for attempt in range(_CAS_TRIES):
        if attempt:
            # A scheduler is claiming this very job (PostgreSQL skips a row another
            # transaction holds): give it a moment to commit.
            time.sleep(min(0.005 * attempt, 0.1))
        with store.transaction():
            job = _read(store, job_id)
            if job.paused:
                raise ValueError(
                    f"job {job_id!r} is paused: resume it first (a paused job does not fire)"
                )
            if job.remaining_runs == 0:
                raise ValueError(
                    f"job {job_id!r} has no runs left (remaining_runs=0): its last run is "
                    "going, and it is removed after it"
                )
            if job.start is not None and epoch_us(job.start) > now_us:
                raise ValueError(
                    f"job {job_id!r} starts at {job.start.isoformat()}: it fires only from "
                    "then (change its start with modify_job first)"
                )
            expected = job.next_fire
            if expected is not None and epoch_us(expected) <= now_us:
                return job  # due already
            # In the zone of the job's fire times, as the run's scheduled_at will be.
            moment = now if expected is None else now.astimezone(expected.tzinfo)
            if expected is not None:
                # The regular fire before the stored one was claimed already; a *now*
                # read before it (a clock behind the schedulers', a slow connect) would
                # put it due again: run twice (or, refused as a run slot taken, lost).
                # The run is due just after it instead: at once all the same.
                try:
                    claimed = job_previous_fire(job, expected)
                except TriggerError:  # (its fires cannot be walked back: as before)
                    claimed = None
                if claimed is not None and epoch_us(claimed) >= now_us:
                    moment = just_after(claimed).astimezone(expected.tzinfo)
            if store.claim_fire(job_id, expected, moment, now=now):
                return evolve(job, next_fire=moment)
    raise StoreError(
        f"could not make job {job_id!r} due now: its next fire time changed under each of "
        f"{_CAS_TRIES} tries"
    )


def remove_job(store: JobStore, job_id: str) -> None:
    """Remove the stored job *job_id* (a broken record of it too); its history stays.

    Schedulers sharing the store take the removal in at their next sync; a run already
    started finishes.

    Raises:
        JobLookupError: no job *job_id*.
        ChainError: other jobs run after it (``after=``): the message names them
            (remove them first, or use ``Scheduler.remove_job`` with ``cascade`` or
            ``detach``).
        StoreError: the store failed.
    """
    _job_id(job_id)
    if isinstance(store, ChainStore) and callable(getattr(store, "chain_edges", None)):
        removal_plan(store.chain_edges(), job_id, cascade=False, detach=False)
    store.remove_job(job_id)
