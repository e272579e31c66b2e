"""What the core keeps per job: the job record and the bookkeeping of its runs.

A scheduler may hold hundreds of thousands of jobs, so this record is kept small: slots,
fields made only when a job first needs them (a buffer, retries), and its heap entry
held by the state itself (see :mod:`tickwork._deadlines`). The functions here read one
state and change nothing but the cached job record.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from ._deadlines import Entry
from ._instants import EPOCH as _EPOCH
from ._instants import US as _US
from ._instants import epoch_us
from ._model import Catchup, Job, RunRequest, evolve
from ._planning import jitter_offset, next_job_fire, startable
from .triggers.combining import AndTrigger, OrTrigger
from .triggers.event import listens_for_events

__all__ = [
    "JobState",
    "PendingRetry",
    "fire_entry",
    "idle_and_done",
    "jitter_of",
    "jitter_us",
    "jittered_grace",
    "late_hand_off",
    "listening",
    "may_run_again",
    "snapshot",
]


class PendingRetry(NamedTuple):
    """A pending retry: attempt *attempt* of the fire at *scheduled_at*, due at *due_us*."""

    scheduled_at: datetime
    attempt: int
    due_us: int


@dataclass(slots=True)
class JobState:
    """One job in the core (a :class:`~tickwork._deadlines.Holder` of its heap entries)."""

    # ``next_fire`` moves on every fire; it lives here and is copied into ``job`` only
    # when someone reads the job (copying the frozen record per fire is the dearest
    # part of dispatching).
    job: Job
    next_fire: datetime | None = None
    generation: int = 0
    running: int = 0
    # Runs waiting for a free instance; made only when a job first needs one (most never
    # do, and an empty deque per job would be most of a job's memory).
    buffer: deque[tuple[datetime, int]] | None = None
    # Removed while runs of it were going: kept only for their bookkeeping.
    removed: bool = False
    # Pending retries by their heap key; made only when a job first retries.
    retries: dict[int, PendingRetry] | None = None
    # The live heap entry of its next fire (None: none queued, or popped and not yet
    # committed). Entries are matched by identity.
    entry: Entry | None = None


def snapshot(state: JobState) -> Job:
    """The job record with its current next fire time (copied in only when read)."""
    job = state.job
    if job.next_fire is not state.next_fire:
        job = state.job = evolve(job, next_fire=state.next_fire)
    return job


def busy(state: JobState) -> int:
    """The job's instances in use here, toward ``max_instances``: its runs going and its
    fires with a retry to come (such a fire is not over: a run of the next must not
    overlap its retry, as it may not in another process, whose lease still counts)."""
    retries = state.retries
    return state.running + len(retries) if retries else state.running


def idle_and_done(state: JobState) -> bool:
    """No fire time left (and not paused), and no run going, waiting or to retry.

    (A job started after others, ``after=...``, is never done: its upstreams may start
    it again.)"""
    return (
        state.next_fire is None
        and not state.job.paused
        and not state.job.after
        and not state.running
        and not state.buffer
        and not state.retries
        and not listens_for_events(state.job.trigger)
    )


def may_run_again(job: Job, now: datetime) -> bool:
    """Whether *job* may run again after *now*: it has a fire time, or it runs after
    other jobs or on events and its end has not passed (``_planning.startable``)."""
    return job.next_fire is not None or startable(job, now)


def listening(state: JobState) -> bool:
    """Whether the job waits for events: it is never done for lack of fire times."""
    return listens_for_events(state.job.trigger)


#: The last next fire keyed by :func:`fire_entry` and its µs (read and replaced whole).
_last_key: tuple[datetime | None, int] = (None, 0)


def fire_entry(state: JobState) -> Entry | None:
    """A new heap entry for the job's next fire, due at its planned time (the nominal
    time plus the job's jitter offset), keyed by its current generation; None when it is
    paused or done firing."""
    global _last_key
    job = state.job
    nominal = state.next_fire
    if job.paused or nominal is None:
        return None
    # Jobs read together often share one next fire datetime (a backlog, decoded by a
    # store): its µs are found by identity (the memo holds it, so the id is not reused).
    last = _last_key
    if last[0] is nominal:
        planned = last[1]
    else:
        planned = (nominal - _EPOCH) // _US
        _last_key = (nominal, planned)
    if job.jitter:
        try:
            planned += jitter_of(job, nominal) // _US
        except Exception:  # a broken trigger
            # No jitter: the fire comes due at its nominal time, where planning meets
            # the same error and pauses the job with a report (an index has no one
            # to report to).
            return (planned, state.generation, job.id)
    return (planned, state.generation, job.id)


def jitter_of(job: Job, nominal: datetime) -> timedelta:
    """How long after its fire time *nominal* a run of *job* (which has a jitter) starts:
    before the job's next fire time, and the last fire no later than the job's end or
    its trigger's. Raises what the trigger raises."""
    assert job.jitter is not None
    following = next_job_fire(job.trigger, nominal, job.start, job.end)
    end = job.end
    if following is None:
        bound = _end_of(job.trigger)
        if bound is not None and (end is None or bound < end):
            end = bound
    return jitter_offset(job.id, nominal, job.jitter, following, end)


def _end_of(trigger: object) -> datetime | None:
    """The last moment *trigger* can fire, as far as its ends say (None: unbounded):
    its own ``end``; for an OrTrigger the latest of its triggers' (all must end), for an
    AndTrigger the earliest (any ends it)."""
    bound = getattr(trigger, "end", None)
    if isinstance(bound, datetime):
        return bound
    parts = getattr(trigger, "triggers", None)
    if not isinstance(parts, tuple) or not parts:
        return None
    ends = [_end_of(part) for part in parts]
    if isinstance(trigger, OrTrigger):
        return None if None in ends else max(e for e in ends if e is not None)
    if isinstance(trigger, AndTrigger):
        known = [e for e in ends if e is not None]
        return min(known) if known else None
    return None


def jitter_us(job: Job, nominal: datetime) -> int:
    """:func:`jitter_of`, in microseconds."""
    return jitter_of(job, nominal) // _US


def jittered_grace(job: Job, request: RunRequest) -> RunRequest:
    """*request* of a jittered job, its misfire grace counted from the jittered start
    (as planning counts it), so that its executor does not call it late."""
    assert request.misfire_grace is not None
    try:
        offset = jitter_of(job, request.scheduled_at)
    except Exception:  # a broken trigger: its fire came due unjittered
        return request
    return request._replace(misfire_grace=request.misfire_grace + offset)


def late_hand_off(
    state: JobState, scheduled_at: datetime, attempt: int, now: datetime
) -> str | None:
    """Why a run another process handed off (claimed, not started) is not started by its
    taker at *now*, as the job's fire times due now would not be: the first attempt of a
    fire time later than the job's misfire grace (from its jittered start), or older
    than a fire time due now that ``catchup="latest"`` (or ``"none"``) runs instead.
    None: it starts (a retry, a run asked for, one the catch-up would run)."""
    job = state.job
    grace = job.misfire_grace_time
    later = state.next_fire
    at_us = epoch_us(scheduled_at)  # (instants: a fold's two wall times compare equal)
    superseded = (
        job.catchup in (Catchup.LATEST, Catchup.NONE)
        and later is not None
        and at_us < epoch_us(later) <= epoch_us(now)
    )
    if attempt != 1 or not (superseded or (grace is not None and now - scheduled_at > grace)):
        return None
    try:
        fire = next_job_fire(job.trigger, scheduled_at - _US, job.start, job.end)
        if fire is None or epoch_us(fire) != at_us:
            return None  # not a fire time: a run asked for (run_job_now, backfill)
        if grace is not None and job.jitter:
            grace += jitter_of(job, scheduled_at)
    except Exception:  # a broken trigger: the run starts, and planning reports the trigger
        return None
    why = "it was handed off unstarted by another process"
    if grace is not None and now - scheduled_at > grace:
        given = job.misfire_grace_time
        assert given is not None
        late = (now - scheduled_at - grace + given).total_seconds()  # (from its jittered start)
        return (
            f"{why} and would have started {late:.3f} s late, later than misfire_grace_time={given}"
        )
    if superseded:
        assert later is not None
        return (
            f"{why}, and a later fire time is due ({later.isoformat()}): "
            f"catchup={job.catchup.value!r} runs that one"
        )
    return None
