"""The sans-IO scheduler core.

Theory of operation
-------------------
The core is a due-time index over jobs plus the bookkeeping of their runs. It never
reads the clock, sleeps, starts threads or touches a store: callers hand it ``now``
and get decisions back. A driver (``Scheduler``, ``AsyncScheduler``, through the shared
``Engine``) does the I/O those decisions call for.

* Every pending job has one entry in a heap keyed by its *planned* time: its next
  nominal fire time plus its jitter offset, in integer microseconds since the epoch
  (never by comparing datetimes of one zone, which Python does by wall time).
  Pending retries have entries of their own. Every entry is one shape, ``(due µs,
  job id, key)``: a key >= 0 marks a job's next fire (its schedule *generation*), a
  negative key names one pending retry. A fire entry is live while it is the very
  tuple the job's state holds as its entry (any change to the schedule drops it, and
  a job added again under the same id holds a new one); a retry entry while its key
  is one of the job's pending retries. The others are stale and skipped when they
  surface. Stale entries are counted, and when they outnumber the live ones twice
  over (past a small floor) the heap is rebuilt from the live ones, so rescheduling,
  pausing and removing jobs forever does not grow it.
* :meth:`SchedulerCore.pop_due` removes the entries whose time has come and returns
  them as :class:`FireDue` / :class:`RetryDue` items, already planned (which nominal
  fire times run, how many were missed, the next fire time) but not yet applied.
* A scheduled fire becomes real only once the store confirms the claim (a
  compare-and-set on the job's next fire time, so two processes never run the same
  fire). Then :meth:`commit_fire` applies it: it moves the job on, starts runs up to
  ``max_instances``, buffers or skips the rest per the overlap policy, and returns the
  run requests and events. If the claim is lost, :meth:`refresh` takes the job as the
  store now has it.
* :meth:`finished` takes a run's result: it frees the instance, schedules a retry or
  counts the failure (pausing the job after ``max_consecutive_failures``), and starts
  a buffered run if one waits. :meth:`taken_over` takes a run another process was
  running when it died: the same retry decision as a failed run, recorded as
  interrupted.
* A job with no fire time left is *done*: it is forgotten, and its id goes into the
  decision's ``removes`` (its record leaves the store), only once none of its runs is
  going, waiting or due to retry. Until then the record stays: a process that takes
  a run of it over needs its retry policy.

Next fire times always come from the trigger and the last *scheduled* fire, never from
when a run ended, so schedules do not drift however long runs take.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from ._errors import LeaseExpired
from ._events import Event, EventKind
from ._instants import EPOCH as _EPOCH
from ._instants import US as _US
from ._model import Job, Outcome, Overlap, RunEnd, RunRequest, RunResult, evolve
from ._planning import (
    FirePlan,
    epoch_us,
    jitter_offset,
    next_job_fire,
    plan_due,
    retry_delay,
    trigger_failure,
)

__all__ = ["Decision", "FireDue", "RetryDue", "SchedulerCore"]

_EXECUTED = int(EventKind.JOB_EXECUTED)
_SUCCESS = Outcome.SUCCESS
_SUBMITTED = int(EventKind.JOB_SUBMITTED)
#: How many runs ``Overlap.BUFFER_ALL`` lets wait per job before skipping.
BUFFER_LIMIT = 1000
#: Stale heap entries are pruned only past this many (a rebuild of a small heap would
#: cost more than the entries it frees).
PRUNE_FLOOR = 64

#: A heap entry: ``(due µs since the epoch, job id, key)``. ``key >= 0``: the job's next
#: fire (its generation), live while it is the state's ``entry``; ``key < 0``: one
#: pending retry, live while the key is in the state's ``retries``. Plain tuples: they
#: compare fastest, there is one per job, and the state points at its own (a unique
#: number per entry would cost an int object per job).
_Entry = tuple[int, str, int]


class _Retry(NamedTuple):
    """A pending retry: attempt *attempt* of the fire at *scheduled_at*, due at *due_us*."""

    scheduled_at: datetime
    attempt: int
    due_us: int


@dataclass(slots=True)
class _State:
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
    retries: dict[int, _Retry] | None = None
    # The live heap entry of its next fire (None: none queued, or popped and not yet
    # committed). Entries are matched by identity.
    entry: _Entry | None = None


def _executed(result: RunResult, now: datetime) -> Event:
    request = result.request
    return Event(
        kind=EventKind.JOB_EXECUTED,
        at=now,
        job_id=request.job_id,
        scheduled_at=request.scheduled_at,
        attempt=request.attempt,
        return_value=result.return_value,
    )


def _snapshot(state: _State) -> Job:
    """The job record with its current next fire time (copied in only when read)."""
    job = state.job
    if job.next_fire is not state.next_fire:
        job = state.job = evolve(job, next_fire=state.next_fire)
    return job


class FireDue(NamedTuple):
    """A job's fire time has come; apply with :meth:`SchedulerCore.commit_fire` once claimed."""

    job_id: str
    nominal: datetime
    plan: FirePlan
    remaining_runs: int | None
    generation: int


class RetryDue(NamedTuple):
    """A retry's time has come; apply with :meth:`SchedulerCore.commit_retry`."""

    job_id: str
    scheduled_at: datetime
    attempt: int


@dataclass(slots=True)
class Decision:
    """What the driver must do: persist (``stores``, ``removes``, ``ends``), then log
    ``errors``, submit ``requests`` and emit ``events``.

    Each field is a list the core appends to (a batch may collect many decisions); the
    name in parentheses is what the field is to be called:

    * ``stores`` (``jobs_to_save``): job records whose options or counters changed
      (failures counted, paused by the core). The fire state (next fire, remaining
      runs) belongs to the store's claims and is not taken from these.
    * ``removes`` (``jobs_to_delete``): ids of jobs that are done (no fire time left)
      and idle (no run going, waiting or due to retry): their store records go.
    * ``ends`` (``history``): a :class:`~tickwork._model.RunEnd` row for every run or
      scheduled fire that ended (success, failure, interrupted, missed, skipped), when
      :attr:`SchedulerCore.records` is set.
    * ``requests`` (``runs_to_start``): ``(executor alias, RunRequest)`` pairs to submit.
    * ``events`` (``events``): :class:`~tickwork.Event` s for listeners, in order.
    * ``errors`` (``errors_to_log``): ``(message, exception)`` pairs to log at error
      level (a trigger that raised; the job is paused).
    """

    requests: list[tuple[str, RunRequest]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    stores: list[Job] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)
    ends: list[RunEnd] = field(default_factory=list)
    errors: list[tuple[str, BaseException]] = field(default_factory=list)


class SchedulerCore:
    """The due-time index and run bookkeeping. Not thread-safe: the engine locks around it."""

    def __init__(self) -> None:
        self._states: dict[str, _State] = {}
        self._heap: list[_Entry] = []
        # How many heap entries are stale (see the theory of operation).
        self._stale = 0
        # Retry keys, unique for the life of the core.
        self._retry_keys = itertools.count(1)
        self._run_ids = itertools.count(1)
        self._in_flight = 0
        #: Set while the scheduler shuts down: buffered runs are dropped, not started.
        self.closing = False
        #: Event kinds someone listens to; the hot ones are only built when wanted.
        self.wants = 0  # an int: IntFlag arithmetic is slow on the hot path
        #: Whether decisions carry a RunEnd for every run that ends (for the history).
        self.records = False

    # -- the job table ----------------------------------------------------------------

    def __contains__(self, job_id: str) -> bool:
        state = self._states.get(job_id)
        return state is not None and not state.removed

    def get(self, job_id: str) -> Job | None:
        """The job, or None (also for a removed job whose last runs are still going)."""
        state = self._states.get(job_id)
        return None if state is None or state.removed else _snapshot(state)

    def jobs(self) -> list[Job]:
        return [_snapshot(state) for state in self._states.values() if not state.removed]

    def generation(self, job_id: str) -> int | None:
        """The generation of a job's schedule (renewed at every change), or None."""
        state = self._states.get(job_id)
        return None if state is None else state.generation

    def busy(self, job_id: str) -> bool:
        """Whether runs of the job are going, waiting for a slot, or due to retry."""
        state = self._states.get(job_id)
        return state is not None and bool(state.running or state.buffer or state.retries)

    def has_waiting_runs(self, job_id: str) -> bool:
        """Whether runs of the job wait for a free instance (the overlap buffer)."""
        state = self._states.get(job_id)
        return state is not None and bool(state.buffer)

    def running(self, job_id: str) -> int:
        state = self._states.get(job_id)
        return 0 if state is None else state.running

    def in_flight(self) -> int:
        """How many runs have been started and not yet reported."""
        return self._in_flight

    def put(self, job: Job) -> None:
        """Add *job* or replace the job with its id; it is indexed by its ``next_fire``.

        A job stored with no fire time left (its last run was going when it was saved)
        is done: it is forgotten, and its record removed, once a run of it ends here.
        """
        state = self._states.get(job.id)
        if state is None:
            state = self._states[job.id] = _State(job, job.next_fire)
        else:
            # A job re-added while runs of a removed one are going: those runs still count
            # toward max_instances.
            state.job = job
            state.next_fire = job.next_fire
            state.removed = False
        # self._renew(state), inlined: a hot path (rescheduling, loading, syncing).
        state.generation += 1
        if state.entry is not None:
            state.entry = None
            self._went_stale(1)
        self._index(state)

    def refresh(self, job: Job | None, job_id: str) -> None:
        """Take the job as the store has it now (after a lost claim), or forget it."""
        if job is None:
            self.discard(job_id)
        else:
            self.put(job)

    def discard(self, job_id: str) -> Job | None:
        """Forget a job. Its pending retries are dropped; running runs still report (and
        are not retried)."""
        state = self._states.get(job_id)
        if state is None:
            return None
        self._drop_retries(state)
        if state.running:
            # Keep the bookkeeping for the runs in flight, but never fire it again.
            state.job = evolve(state.job, next_fire=None, paused=False)
            state.next_fire = None
            self._renew(state)
            state.buffer = None
            state.removed = True
            return state.job
        self._forget(state)
        return _snapshot(state)

    def put_many(self, jobs: list[Job]) -> None:
        """:meth:`put` for many jobs at once (loading a store): one heapify, not a push
        per job."""
        states = self._states
        entries = []
        for job in jobs:
            if job.id in states:
                self.put(job)
                continue
            state = states[job.id] = _State(job, job.next_fire, 1)
            entry = state.entry = self._entry(state)
            if entry is not None:
                entries.append(entry)
        # (self.put above may have pruned the heap: it is read only now.)
        heap = self._heap
        heap += entries
        heapq.heapify(heap)

    def _index(self, state: _State) -> None:
        """Push the entry of *state*'s next fire, under its current generation."""
        entry = state.entry = self._entry(state)
        if entry is not None:
            heapq.heappush(self._heap, entry)

    def _renew(self, state: _State) -> None:
        """Give *state* a new generation: its queued entry, if any, goes stale."""
        state.generation += 1
        if state.entry is not None:
            state.entry = None
            self._went_stale(1)

    def _forget(self, state: _State) -> None:
        """Drop *state* from the table; its heap entries go stale."""
        del self._states[state.job.id]
        stale = len(state.retries) if state.retries else 0
        if state.entry is not None:
            state.entry = None
            stale += 1
        if stale:
            self._went_stale(stale)

    def _drop_retries(self, state: _State) -> None:
        retries, state.retries = state.retries, None
        if retries:
            self._went_stale(len(retries))

    def _went_stale(self, count: int) -> None:
        """*count* more heap entries are stale; rebuild the heap when they are over twice
        the live ones. (Never called while a caller walks the heap: a rebuild replaces
        the list.)"""
        stale = self._stale = self._stale + count
        if stale > PRUNE_FLOOR and stale > 2 * (len(self._heap) - stale):
            self._prune()

    def _prune(self) -> None:
        states = self._states
        live = []
        for entry in self._heap:
            state = states.get(entry[1])
            if state is None:
                continue
            if entry is state.entry or (state.retries is not None and entry[2] in state.retries):
                live.append(entry)
        heapq.heapify(live)
        self._heap = live
        self._stale = 0

    @staticmethod
    def _entry(state: _State) -> _Entry | None:
        """The heap entry of a job's next fire (None: paused, or done firing)."""
        job = state.job
        nominal = state.next_fire
        if job.paused or nominal is None:
            return None
        planned = (nominal - _EPOCH) // _US
        if job.jitter:
            try:
                following = next_job_fire(job.trigger, nominal, job.start, job.end)
            except Exception:  # a broken trigger
                # No jitter: the fire comes due at its nominal time, where planning meets
                # the same error and pauses the job with a report (an index has no one
                # to report to).
                return (planned, job.id, state.generation)
            planned += jitter_offset(job.id, nominal, job.jitter, following) // _US
        return (planned, job.id, state.generation)

    # -- time -------------------------------------------------------------------------

    def next_due(self) -> datetime | None:
        """When something is next due (a fire, with jitter, or a retry), or None."""
        heap = self._heap
        states = self._states
        while heap:
            entry = heap[0]
            state = states.get(entry[1])
            if state is not None and (
                entry is state.entry or (state.retries is not None and entry[2] in state.retries)
            ):
                return _EPOCH + timedelta(microseconds=entry[0])
            heapq.heappop(heap)
            self._stale -= 1
        return None

    def pop_due(self, now: datetime, into: Decision | None = None) -> list[FireDue | RetryDue]:
        """Everything due at *now*, planned but not applied.

        A job whose trigger raises while its due fire is planned is not returned: it is
        paused here, and the decision to report and store that is added to *into*
        (pass one: without it the report is lost). The other jobs are unaffected.
        """
        now_us = epoch_us(now)
        heap = self._heap
        states = self._states
        due: list[FireDue | RetryDue] = []
        while heap and heap[0][0] <= now_us:
            entry = heapq.heappop(heap)
            planned_us, job_id, key = entry
            state = states.get(job_id)
            if key < 0:
                retry = None
                if state is not None and state.retries is not None:
                    retry = state.retries.pop(key, None)
                if retry is None:
                    self._stale -= 1
                else:
                    due.append(RetryDue(job_id, retry.scheduled_at, retry.attempt))
                continue
            if state is None or entry is not state.entry:
                self._stale -= 1
                continue
            state.entry = None
            job = state.job
            first = state.next_fire
            assert first is not None
            try:
                if (
                    job.misfire_grace_time is None
                    and job.start is None
                    and job.end is None
                    and job.remaining_runs is None
                ):
                    # The common case, inlined: one fire time due, nothing to miss.
                    following = job.trigger.next_after(first)
                    if following is None or (following - _EPOCH) // _US > now_us:
                        plan = FirePlan((first,), 0, following)
                        due.append(FireDue(job_id, first, plan, None, key))
                        continue
                plan = plan_due(
                    job.trigger,
                    first,
                    now,
                    grace=job.misfire_grace_time,
                    catchup=job.catchup,
                    max_catchup=job.max_catchup,
                    start=job.start,
                    end=job.end,
                    now_us=now_us,
                    planned_us=planned_us,
                )
            except Exception as error:  # a custom trigger may raise anything
                # (The popped entry was the live one, so this makes none stale: the heap
                # is not rebuilt under this loop.)
                self._trigger_failed(state, first, error, now, Decision() if into is None else into)
                continue
            remaining = job.remaining_runs
            if remaining is not None:
                plan = _within_remaining(plan, remaining)
                remaining -= len(plan.runs)
            due.append(FireDue(job_id, first, plan, remaining, key))
        return due

    # -- applying decisions -----------------------------------------------------------

    def commit_fire(
        self, fire: FireDue, now: datetime, into: Decision | None = None, *, elsewhere: int = 0
    ) -> Decision:
        """Apply a claimed fire: move the job on and start, buffer or skip its runs.

        *elsewhere* counts the job's runs in progress in other processes (a shared
        store): they count toward ``max_instances`` like runs here, and since a run
        here cannot wait for one there to end, a run they leave no room for is skipped,
        whatever the overlap policy. The decision is added to *into* when given (a
        batch), else returned new. A job left with no fire time is removed (its id in
        ``removes``) only if none of its runs is going or waiting; else when the last
        of them ends.
        """
        decision = Decision() if into is None else into
        state = self._states.get(fire.job_id)
        if state is None or state.generation != fire.generation:
            return decision
        plan = fire.plan
        job = state.job
        state.next_fire = plan.next_fire
        if job.remaining_runs != fire.remaining_runs:
            job = state.job = evolve(job, remaining_runs=fire.remaining_runs)
        if (
            len(plan.runs) == 1
            and not plan.missed
            and state.running + elsewhere < job.max_instances
        ):
            # The common case, inlined: start the one run.
            scheduled_at = plan.runs[0]
            decision.requests.append(self._request(state, scheduled_at, 1))
            if self.wants & _SUBMITTED:
                self._note_submitted(decision, (job, scheduled_at, 1, now))
            state.generation += 1
            if state.next_fire is not None:
                self._index(state)
            # (Else done firing: the run just started, so the state and the job's record
            # stay until it reports.)
            return decision
        if plan.missed:
            # Named after the oldest fire that did not run (never one that runs, whose
            # own history row has the same time).
            oldest = plan.first_missed or fire.nominal
            decision.events.append(
                Event(
                    kind=EventKind.JOB_MISSED,
                    at=now,
                    job_id=job.id,
                    scheduled_at=oldest,
                    missed=plan.missed,
                    reason=_missed_reason(job, plan),
                )
            )
            if self.records:
                reason = f"{plan.missed} fire time(s) missed: {_missed_reason(job, plan)}"
                decision.ends.append(
                    RunEnd(job.id, oldest, 1, Outcome.MISSED, now, reason=reason, final=False)
                )
        busy_elsewhere = elsewhere and state.running + elsewhere >= job.max_instances
        for index, scheduled_at in enumerate(fire.plan.runs):
            if busy_elsewhere and not state.running:
                # Nothing here to wait for: the runs in the way are in other processes.
                self.skipped(
                    decision,
                    job.id,
                    scheduled_at,
                    1,
                    now,
                    f"{elsewhere} run(s) in progress in other processes, "
                    f"max_instances={job.max_instances}",
                )
                continue
            # A caught-up backlog runs in order: only its first run can be skipped for
            # overlap; the rest queue behind it.
            self._start_or_hold(state, scheduled_at, 1, now, decision, from_schedule=not index,
                                elsewhere=elsewhere)  # fmt: skip
        if state.next_fire is None:
            # Done firing; the state (and the record) stay until its runs have ended.
            if self._idle_and_done(state):
                self._done(state, decision)
        else:
            state.generation += 1
            self._index(state)
        return decision

    def commit_retry(
        self, retry: RetryDue, now: datetime, into: Decision | None = None
    ) -> Decision:
        """Start a due retry. Retries do not wait for ``max_instances``: they belong to a
        fire that already started."""
        decision = Decision() if into is None else into
        state = self._states.get(retry.job_id)
        if state is not None:
            decision.requests.append(self._request(state, retry.scheduled_at, retry.attempt))
            self._note_submitted(decision, (state.job, retry.scheduled_at, retry.attempt, now))
        return decision

    def run_now(self, job_id: str, scheduled_at: datetime, now: datetime) -> Decision:
        """An extra run outside the schedule (``run_job_now``, ``backfill``).

        It starts now if the job is under ``max_instances``, else it waits its turn: a
        run the user asked for is never skipped.
        """
        decision = Decision()
        state = self._states.get(job_id)
        if state is not None:
            self._start_or_hold(state, scheduled_at, 1, now, decision, from_schedule=False)
        return decision

    def finished(self, result: RunResult, now: datetime, into: Decision | None = None) -> Decision:
        """Take a run's result: events, retries, failure counting, buffered runs.

        A failed run is retried as its job's retry policy says (not once the job has
        been removed); otherwise its failure is counted, pausing the job after
        ``max_consecutive_failures``. A job done firing is removed once this was its
        last run going.
        """
        decision = Decision() if into is None else into
        request = result.request
        state = self._states.get(request.job_id)
        self._in_flight -= 1
        if state is not None:
            state.running -= 1
            current = state.job
            if result.outcome is _SUCCESS and not current.consecutive_failures and not state.buffer:
                # The common case, inlined: a clean run of a job with nothing waiting.
                if self.wants & _EXECUTED:
                    decision.events.append(_executed(result, now))
                if self.records:
                    decision.ends.append(
                        RunEnd(
                            request.job_id,
                            request.scheduled_at,
                            request.attempt,
                            _SUCCESS,
                            now,
                            result.started_at,
                        )
                    )
                if self._idle_and_done(state):
                    self._done(state, decision)
                return decision
        job = None if state is None else _snapshot(state)
        # A removed job's record is gone: nothing of it is saved.
        saved = state is not None and not state.removed
        final = True
        reason = None
        if result.outcome is Outcome.SUCCESS:
            if self.wants & _EXECUTED:
                decision.events.append(_executed(result, now))
            if job is not None and job.consecutive_failures:
                job = evolve(job, consecutive_failures=0)
                if saved:
                    decision.stores.append(job)
        elif result.outcome is Outcome.FAILURE:
            error = result.exception
            if self._retry(state, request.scheduled_at, request.attempt, error, now, decision):
                final = False
            else:
                decision.events.append(
                    Event(
                        kind=EventKind.JOB_FAILED,
                        at=now,
                        job_id=request.job_id,
                        scheduled_at=request.scheduled_at,
                        attempt=request.attempt,
                        exception=error,
                    )
                )
                if state is not None and job is not None and saved:
                    job = self._count_failure(state, job, error, now, decision)
        else:
            decision.events.append(
                Event(
                    kind=EventKind.JOB_INTERRUPTED,
                    at=now,
                    job_id=request.job_id,
                    scheduled_at=request.scheduled_at,
                    attempt=request.attempt,
                    exception=result.exception,
                    reason="the run was cut off before it finished",
                )
            )
            reason = "cut off before it finished"
        if self.records:
            decision.ends.append(
                RunEnd(
                    request.job_id,
                    request.scheduled_at,
                    request.attempt,
                    result.outcome,
                    now,
                    result.started_at,
                    result.exception,
                    reason,
                    final,
                )
            )
        if state is not None:
            assert job is not None
            state.job = job
            buffer = state.buffer
            while buffer and state.running < job.max_instances:
                if self.closing:
                    self._drop_buffer(state, now, decision)
                    break
                scheduled_at, attempt = buffer.popleft()
                decision.requests.append(self._request(state, scheduled_at, attempt))
                self._note_submitted(decision, (job, scheduled_at, attempt, now))
            if self._idle_and_done(state):
                self._done(state, decision)
        return decision

    def taken_over(
        self,
        job_id: str,
        scheduled_at: datetime,
        attempt: int,
        *,
        owner: str,
        dead: bool,
        handed_off: bool,
        now: datetime,
        into: Decision | None = None,
    ) -> str | None:
        """Take a run that another process held: its process died (or stopped renewing
        its lease) while the run was going, or, with *handed_off*, it left this retry
        (*attempt* is then the attempt to run) when it shut down.

        A handed-off retry is queued to run now (or reported skipped if its job is gone
        here). A cut-off run is decided exactly like a failed run, with a
        :class:`~tickwork.LeaseExpired` as its error: retried by the job's retry policy
        (``JOB_RETRIED``), else reported ``JOB_INTERRUPTED``; its history row is
        ``interrupted``; a job done firing whose run this was is removed once idle. The
        decision is added to *into* when given. Returns the line the caller logs as a
        warning (None: nothing to log).
        """
        decision = Decision() if into is None else into
        state = self._states.get(job_id)
        if state is not None and state.removed:
            state = None  # its runs here still report, but nothing of it runs again
        if handed_off:
            if state is None:
                gone = "its job no longer exists"
                self.skipped(decision, job_id, scheduled_at, attempt, now, gone)
            else:
                self._queue_retry(state, scheduled_at, attempt, epoch_us(now))
            return None
        error = LeaseExpired(
            f"the run of job {job_id!r} scheduled {scheduled_at.isoformat()} "
            f"(attempt {attempt}) was cut off: process {owner} "
            + ("died" if dead else "stopped renewing its lease")
        )
        cause = "its process died" if dead else "its process stopped renewing the lease"
        reason = self._retry(state, scheduled_at, attempt, error, now, decision, cause)
        final = reason is None
        if reason is None:
            reason = cause
            decision.events.append(
                Event(
                    kind=EventKind.JOB_INTERRUPTED,
                    at=now,
                    job_id=job_id,
                    scheduled_at=scheduled_at,
                    attempt=attempt,
                    exception=error,
                    reason=reason,
                )
            )
        if self.records:
            decision.ends.append(
                RunEnd(
                    job_id,
                    scheduled_at,
                    attempt,
                    Outcome.INTERRUPTED,
                    now,
                    None,
                    error,
                    reason,
                    final,
                )
            )
        if state is not None and self._idle_and_done(state):
            # Its last fire, cut off and not retried: the job is done.
            self._done(state, decision)
        return f"{error} ({'not retried' if final else 'retrying'})"

    def _retry(
        self,
        state: _State | None,
        scheduled_at: datetime,
        attempt: int,
        error: BaseException | None,
        now: datetime,
        decision: Decision,
        cause: str | None = None,
    ) -> str | None:
        """Retry attempt *attempt* of the fire at *scheduled_at*, ended by *error*, if the
        job's retry policy says so: queue the next attempt and report ``JOB_RETRIED``.

        The one retry decision, for runs that failed here and runs cut off elsewhere.
        *cause* says what happened (default: the attempt failed). Returns the event's
        reason, or None when it is not retried (no job, or a removed one; no policy;
        attempts used up; an error the policy does not retry).
        """
        if state is None or state.removed:
            return None
        policy = state.job.retry
        if policy is None or attempt >= policy.attempts or not isinstance(error, policy.retry_on):
            return None
        job_id = state.job.id
        delay = retry_delay(policy, job_id, scheduled_at, attempt)
        self._queue_retry(
            state, scheduled_at, attempt + 1, epoch_us(now) + round(delay * 1_000_000)
        )
        if cause is None:
            cause = f"attempt {attempt} of {policy.attempts} failed"
        reason = f"{cause}; retrying in {delay:.3g} s"
        decision.events.append(
            Event(
                kind=EventKind.JOB_RETRIED,
                at=now,
                job_id=job_id,
                scheduled_at=scheduled_at,
                attempt=attempt,
                exception=error,
                reason=reason,
            )
        )
        return reason

    def _queue_retry(
        self, state: _State, scheduled_at: datetime, attempt: int, due_us: int
    ) -> None:
        key = -next(self._retry_keys)
        if state.retries is None:
            state.retries = {}
        state.retries[key] = _Retry(scheduled_at, attempt, due_us)
        heapq.heappush(self._heap, (due_us, state.job.id, key))

    def _count_failure(
        self,
        state: _State,
        job: Job,
        error: BaseException | None,
        now: datetime,
        decision: Decision,
    ) -> Job:
        """A failure not retried: count it, and pause the job after
        ``max_consecutive_failures`` in a row. Returns the job as saved."""
        failures = job.consecutive_failures + 1
        job = evolve(job, consecutive_failures=failures)
        limit = job.max_consecutive_failures
        if limit is not None and failures >= limit and not job.paused and job.next_fire:
            note = (
                f"paused after {failures} consecutive failures; last: "
                f"{type(error).__name__}: {error}"
            )
            job = evolve(job, paused=True, pause_note=note)
            state.job = job
            self._renew(state)
            decision.events.append(
                Event(kind=EventKind.JOB_PAUSED, at=now, job_id=job.id, reason=note)
            )
        decision.stores.append(job)
        return job

    def _trigger_failed(
        self, state: _State, nominal: datetime, error: Exception, now: datetime, decision: Decision
    ) -> None:
        """The trigger raised while the fire at *nominal* was planned: that fire does not
        run, and the job is paused (it would fail the same way at every step)."""
        failure = trigger_failure(state.job.id, nominal, error)
        note = f"paused: {failure}"
        job = state.job = evolve(_snapshot(state), paused=True, pause_note=note)
        self._renew(state)
        decision.stores.append(job)
        decision.errors.append((f"{failure}; the job is paused", error))
        decision.events.append(
            Event(
                kind=EventKind.JOB_MISSED,
                at=now,
                job_id=job.id,
                scheduled_at=nominal,
                missed=1,
                reason=note,
            )
        )
        decision.events.append(
            Event(
                kind=EventKind.JOB_PAUSED,
                at=now,
                job_id=job.id,
                scheduled_at=nominal,
                exception=error,
                reason=note,
            )
        )
        if self.records:
            decision.ends.append(RunEnd(job.id, nominal, 1, Outcome.MISSED, now, reason=note))

    def _drop_buffer(self, state: _State, now: datetime, decision: Decision) -> None:
        """Report every waiting run of *state* as skipped: the scheduler is shutting down."""
        buffer = state.buffer
        while buffer:
            scheduled_at, attempt = buffer.popleft()
            self.skipped(
                decision,
                state.job.id,
                scheduled_at,
                attempt,
                now,
                "the scheduler shut down before it could start",
            )

    def forget_run(self, job_id: str, scheduled_at: datetime) -> int:
        """Drop the waiting runs and pending retries of one fire (its claim was lost to
        another process); return how many were dropped. Running ones cannot be."""
        state = self._states.get(job_id)
        if state is None:
            return 0
        at = epoch_us(scheduled_at)
        dropped = 0
        if state.buffer:
            kept = deque(item for item in state.buffer if epoch_us(item[0]) != at)
            dropped += len(state.buffer) - len(kept)
            state.buffer = kept
        if state.retries:
            retries = state.retries
            gone = [key for key, retry in retries.items() if epoch_us(retry.scheduled_at) == at]
            for key in gone:
                del retries[key]
            dropped += len(gone)
            if gone:
                self._went_stale(len(gone))
        if self._idle_and_done(state):
            # (Not removed from the store: the process that took the claim owns it now.)
            self._forget(state)
        return dropped

    def requeue(self, due: list[FireDue | RetryDue]) -> None:
        """Put back items from :meth:`pop_due` that could not be claimed (the store
        failed): they come due again at once."""
        for item in due:
            state = self._states.get(item.job_id)
            if state is None:
                continue
            if isinstance(item, RetryDue):
                if not state.removed:
                    self._queue_retry(
                        state, item.scheduled_at, item.attempt, epoch_us(item.scheduled_at)
                    )
            elif state.generation == item.generation:
                self._renew(state)
                self._index(state)

    def _pending(self) -> list[tuple[int, _State, _Retry]]:
        """Every pending retry as (heap key, its job's state, the retry), in due order."""
        found = [
            (key, state, retry)
            for state in self._states.values()
            if state.retries
            for key, retry in state.retries.items()
        ]
        found.sort(key=lambda item: (item[2].due_us, -item[0]))
        return found

    def pending_retries(self) -> list[tuple[str, datetime, int, int]]:
        """Every retry waiting for its time, in due order: (job id, scheduled time,
        attempt, due µs)."""
        return [
            (state.job.id, retry.scheduled_at, retry.attempt, retry.due_us)
            for _, state, retry in self._pending()
        ]

    def drop_buffers(
        self,
        now: datetime,
        *,
        handed_off: frozenset[tuple[str, int, int]] = frozenset(),
        into: Decision | None = None,
    ) -> Decision:
        """At shutdown: every waiting run and every pending retry, reported skipped,
        except the retries in *handed_off* (job id, scheduled µs, attempt), which the
        store keeps for another process. Retries that runs failing after this schedule
        stay pending: call it again once the executors have stopped."""
        self.closing = True
        decision = Decision() if into is None else into
        for state in self._states.values():
            self._drop_buffer(state, now, decision)
        pending = self._pending()
        for key, state, retry in pending:
            assert state.retries is not None
            del state.retries[key]
            job_id = state.job.id
            if (job_id, epoch_us(retry.scheduled_at), retry.attempt) in handed_off:
                continue
            self.skipped(
                decision,
                job_id,
                retry.scheduled_at,
                retry.attempt,
                now,
                "the scheduler shut down before this retry was due",
            )
        if pending:
            self._went_stale(len(pending))
        return decision

    def _start_or_hold(
        self,
        state: _State,
        scheduled_at: datetime,
        attempt: int,
        now: datetime,
        decision: Decision,
        *,
        from_schedule: bool,
        elsewhere: int = 0,
    ) -> None:
        job = state.job
        if state.running + elsewhere < job.max_instances:
            decision.requests.append(self._request(state, scheduled_at, attempt))
            self._note_submitted(decision, (job, scheduled_at, attempt, now))
            return
        if not from_schedule or job.overlap is Overlap.BUFFER_ALL:
            if state.buffer is None:
                state.buffer = deque()
            if len(state.buffer) < BUFFER_LIMIT or not from_schedule:
                state.buffer.append((scheduled_at, attempt))
                return
            reason = f"{BUFFER_LIMIT} runs are already waiting"
        elif job.overlap is Overlap.BUFFER_ONE and not state.buffer:
            state.buffer = deque([(scheduled_at, attempt)])
            return
        elif job.overlap is Overlap.BUFFER_ONE:
            reason = "a run is already waiting for the running one (overlap='buffer_one')"
        else:
            reason = (
                f"{state.running} run(s) still going, max_instances={job.max_instances} "
                f"(overlap={job.overlap.value!r})"
            )
        self.skipped(decision, job.id, scheduled_at, attempt, now, reason)

    def skipped(
        self,
        decision: Decision,
        job_id: str,
        scheduled_at: datetime,
        attempt: int,
        now: datetime,
        reason: str,
    ) -> None:
        """Report a run that will not start: a ``JOB_SKIPPED`` event and a history row."""
        decision.events.append(
            Event(
                kind=EventKind.JOB_SKIPPED,
                at=now,
                job_id=job_id,
                scheduled_at=scheduled_at,
                attempt=attempt,
                reason=reason,
            )
        )
        if self.records:
            decision.ends.append(
                RunEnd(job_id, scheduled_at, attempt, Outcome.SKIPPED, now, reason=reason)
            )

    def _request(
        self, state: _State, scheduled_at: datetime, attempt: int
    ) -> tuple[str, RunRequest]:
        job = state.job
        state.running += 1
        self._in_flight += 1
        request = RunRequest(
            next(self._run_ids),
            job.id,
            job.func,
            job.func_ref,
            job.args,
            job.kwargs,
            scheduled_at,
            attempt,
            job.timeout,
        )
        return job.executor, request

    def _note_submitted(self, decision: Decision, run: tuple[Job, datetime, int, datetime]) -> None:
        if self.wants & _SUBMITTED:
            job, scheduled_at, attempt, now = run
            decision.events.append(
                Event(
                    kind=EventKind.JOB_SUBMITTED,
                    at=now,
                    job_id=job.id,
                    scheduled_at=scheduled_at,
                    attempt=attempt,
                )
            )

    @staticmethod
    def _idle_and_done(state: _State) -> bool:
        """No fire time left (and not paused), and no run going, waiting or to retry."""
        job = state.job
        return (
            state.next_fire is None
            and not job.paused
            and not state.running
            and not state.buffer
            and not state.retries
        )

    def _done(self, state: _State, decision: Decision) -> None:
        """Forget an idle job with no fire time left; its record goes from the store too
        (a removed job's went already)."""
        self._forget(state)
        if not state.removed:
            decision.removes.append(state.job.id)


def _within_remaining(plan: FirePlan, remaining: int) -> FirePlan:
    """*plan* cut to the job's *remaining* runs: the newest of them run (as with
    ``max_catchup``), the older ones it cannot run are counted missed, and a job
    with no run left has no next fire."""
    runs = plan.runs
    if len(runs) < remaining:
        return plan
    if len(runs) == remaining:
        return plan._replace(next_fire=None)
    kept = runs[len(runs) - remaining :]
    dropped = runs[: len(runs) - remaining]
    oldest = plan.first_missed
    if oldest is None or epoch_us(dropped[0]) < epoch_us(oldest):
        oldest = dropped[0]
    return FirePlan(kept, plan.missed + len(dropped), None, oldest)


def _missed_reason(job: Job, plan: FirePlan) -> str:
    if not plan.runs:
        if job.misfire_grace_time is not None:
            return f"later than misfire_grace_time={job.misfire_grace_time}"
        return f"catchup={job.catchup.value!r} runs none of a backlog"
    reason = f"catchup={job.catchup.value!r} ran {len(plan.runs)} of the due fire times"
    if job.misfire_grace_time is not None:
        reason += f" within misfire_grace_time={job.misfire_grace_time}"
    return reason
