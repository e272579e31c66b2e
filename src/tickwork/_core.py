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
  Pending retries have entries of their own. Entries are invalidated lazily: each job
  carries a generation number, bumped whenever its schedule changes.
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
  a buffered run if one waits.

Next fire times always come from the trigger and the last *scheduled* fire, never from
when a run ended, so schedules do not drift however long runs take.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

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

_RETRY = -1  # the generation slot of a retry's heap entry
_EXECUTED = int(EventKind.JOB_EXECUTED)
_SUCCESS = Outcome.SUCCESS
_SUBMITTED = int(EventKind.JOB_SUBMITTED)
#: How many runs ``Overlap.BUFFER_ALL`` lets wait per job before skipping.
BUFFER_LIMIT = 1000


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
    removed: bool = False
    retries: int = 0
    # Done firing (no next fire time left): the store record goes once its runs end.
    done: bool = False


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
    """What the driver must do: submit runs, emit events, persist or delete the job."""

    requests: list[tuple[str, RunRequest]] = field(default_factory=list)  # (executor, run)
    events: list[Event] = field(default_factory=list)
    stores: list[Job] = field(default_factory=list)  # records to update in the store
    removes: list[str] = field(default_factory=list)  # job ids to delete from the store
    ends: list[RunEnd] = field(default_factory=list)  # history rows (when the core records)
    errors: list[tuple[str, BaseException]] = field(default_factory=list)  # (message, error) to log


class SchedulerCore:
    """The due-time index and run bookkeeping. Not thread-safe: the engine locks around it."""

    def __init__(self) -> None:
        self._states: dict[str, _State] = {}
        # Entries: (planned_us, job_id, generation) for a fire, (planned_us, job_id, -1,
        # scheduled_at, attempt) for a retry. Short tuples: there is one per job.
        self._heap: list[tuple[Any, ...]] = []
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
        """The generation of a job's schedule (bumped at every change), or None."""
        state = self._states.get(job_id)
        return None if state is None else state.generation

    def busy(self, job_id: str) -> bool:
        """Whether runs of the job are going, waiting for a slot, or due to retry."""
        state = self._states.get(job_id)
        return state is not None and bool(state.running or state.buffer or state.retries)

    def running(self, job_id: str) -> int:
        state = self._states.get(job_id)
        return 0 if state is None else state.running

    def in_flight(self) -> int:
        """How many runs have been started and not yet reported."""
        return self._in_flight

    def put(self, job: Job) -> None:
        """Add *job* or replace the job with its id; it is indexed by its ``next_fire``."""
        state = self._states.get(job.id)
        if state is None:
            state = self._states[job.id] = _State(job, job.next_fire)
        else:
            # A job re-added while runs of a removed one are going: those runs still count
            # toward max_instances.
            state.job = job
            state.next_fire = job.next_fire
            state.removed = False
        # A job stored with no fire time left (its last run was going when it was
        # saved) is done: its record goes when a run of it ends here.
        state.done = job.next_fire is None and not job.paused
        state.generation += 1
        self._index(state)

    def refresh(self, job: Job | None, job_id: str) -> None:
        """Take the job as the store has it now (after a lost claim), or forget it."""
        if job is None:
            self.discard(job_id)
        else:
            self.put(job)

    def discard(self, job_id: str) -> Job | None:
        """Forget a job. Its pending retries are dropped; running runs still report."""
        state = self._states.get(job_id)
        if state is None:
            return None
        if state.running:
            # Keep the bookkeeping for the runs in flight, but never fire it again.
            state.job = evolve(state.job, next_fire=None, paused=False)
            state.next_fire = None
            state.generation += 1
            state.buffer = None
            state.retries = 0
            state.removed = True
            return state.job
        del self._states[job_id]
        return _snapshot(state)

    def put_many(self, jobs: list[Job]) -> None:
        """:meth:`put` for many jobs at once (loading a store): one heapify, not a push
        per job."""
        states = self._states
        heap = self._heap
        for job in jobs:
            if job.id in states:
                self.put(job)
                continue
            state = states[job.id] = _State(job, job.next_fire, 1)
            state.done = job.next_fire is None and not job.paused
            entry = self._entry(state)
            if entry is not None:
                heap.append(entry)
        heapq.heapify(heap)

    def _index(self, state: _State) -> None:
        entry = self._entry(state)
        if entry is not None:
            heapq.heappush(self._heap, entry)

    @staticmethod
    def _entry(state: _State) -> tuple[int, str, int] | None:
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
        while heap:
            planned, job_id, generation = heap[0][:3]
            state = self._states.get(job_id)
            if state is not None and (generation == _RETRY or state.generation == generation):
                return _EPOCH + timedelta(microseconds=planned)
            heapq.heappop(heap)
        return None

    def pop_due(self, now: datetime, into: Decision | None = None) -> list[FireDue | RetryDue]:
        """Everything due at *now*, planned but not applied.

        A job whose trigger raises while its due fire is planned is not returned: it is
        paused here, and the decision to report and store that is added to *into*
        (pass one: without it the report is lost). The other jobs are unaffected.
        """
        now_us = epoch_us(now)
        heap = self._heap
        due: list[FireDue | RetryDue] = []
        while heap and heap[0][0] <= now_us:
            entry = heapq.heappop(heap)
            planned_us, job_id, generation = entry[:3]
            state = self._states.get(job_id)
            if state is None:
                continue
            if generation == _RETRY:
                scheduled_at, attempt = entry[3:]
                state.retries -= 1
                due.append(RetryDue(job_id, scheduled_at, attempt))
                continue
            if generation != state.generation:
                continue
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
                        due.append(FireDue(job_id, first, plan, None, generation))
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
                self._trigger_failed(state, first, error, now, Decision() if into is None else into)
                continue
            remaining = job.remaining_runs
            if remaining is not None:
                plan = _within_remaining(plan, remaining)
                remaining -= len(plan.runs)
            due.append(FireDue(job_id, first, plan, remaining, generation))
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
        batch), else returned new.
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
            if state.next_fire is None:
                # Done firing; the state stays until the run reports.
                decision.removes.append(job.id)
                state.done = True
                state.buffer = None
                state.retries = 0
            else:
                self._index(state)
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
            # Done firing; the state stays until its runs (and any waiting) have ended.
            decision.removes.append(job.id)
            state.done = True
            if self._idle_and_done(state):
                del self._states[job.id]
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
        """Take a run's result: events, retries, failure counting, buffered runs."""
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
                    del self._states[current.id]
                    if state.done and not state.removed:
                        decision.removes.append(current.id)
                return decision
        job = None if state is None else _snapshot(state)
        final = True
        if result.outcome is Outcome.SUCCESS:
            if self.wants & _EXECUTED:
                decision.events.append(_executed(result, now))
            if job is not None and job.consecutive_failures:
                job = evolve(job, consecutive_failures=0)
                decision.stores.append(job)
        elif result.outcome is Outcome.FAILURE:
            retries = 0 if state is None else state.retries
            job = self._failed(state, job, result, now, decision)
            final = state is None or state.retries == retries
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
        if self.records:
            outcome = result.outcome
            decision.ends.append(
                RunEnd(
                    request.job_id,
                    request.scheduled_at,
                    request.attempt,
                    outcome,
                    now,
                    result.started_at,
                    result.exception,
                    None if outcome is not Outcome.INTERRUPTED else "cut off before it finished",
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
                del self._states[job.id]
                if state.done and not state.removed:
                    decision.removes.append(job.id)
        return decision

    def _trigger_failed(
        self, state: _State, nominal: datetime, error: Exception, now: datetime, decision: Decision
    ) -> None:
        """The trigger raised while the fire at *nominal* was planned: that fire does not
        run, and the job is paused (it would fail the same way at every step)."""
        failure = trigger_failure(state.job.id, nominal, error)
        note = f"paused: {failure}"
        job = state.job = evolve(_snapshot(state), paused=True, pause_note=note)
        state.generation += 1
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

    def schedule_retry(
        self, job_id: str, scheduled_at: datetime, attempt: int, due_us: int
    ) -> bool:
        """Queue attempt *attempt* of a fire at *due_us* (a run taken over from a dead
        process that its retry policy runs again); False if the job is not here."""
        state = self._states.get(job_id)
        if state is None or state.removed:
            return False
        heapq.heappush(self._heap, (due_us, job_id, _RETRY, scheduled_at, attempt))
        state.retries += 1
        return True

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
        retries = [
            entry
            for entry in self._heap
            if entry[2] == _RETRY and entry[1] == job_id and epoch_us(entry[3]) == at
        ]
        if retries:
            self._heap = [entry for entry in self._heap if entry not in retries]
            heapq.heapify(self._heap)
            state.retries -= len(retries)
            dropped += len(retries)
        if self._idle_and_done(state):
            del self._states[job_id]
        return dropped

    def requeue(self, due: list[FireDue | RetryDue]) -> None:
        """Put back items from :meth:`pop_due` that could not be claimed (the store
        failed): they come due again at once."""
        for item in due:
            state = self._states.get(item.job_id)
            if state is None:
                continue
            if isinstance(item, RetryDue):
                due_us = epoch_us(item.scheduled_at)
                heapq.heappush(
                    self._heap, (due_us, item.job_id, _RETRY, item.scheduled_at, item.attempt)
                )
                state.retries += 1
            elif state.generation == item.generation:
                state.generation += 1
                self._index(state)

    def pending_retries(self) -> list[tuple[str, datetime, int, int]]:
        """Every retry waiting for its time: (job id, scheduled time, attempt, due µs)."""
        return [
            (entry[1], entry[3], entry[4], entry[0]) for entry in self._heap if entry[2] == _RETRY
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
        kept = []
        for entry in self._heap:
            if entry[2] != _RETRY:
                kept.append(entry)
                continue
            _, job_id, _, scheduled_at, attempt = entry
            owner = self._states.get(job_id)
            if owner is not None:
                owner.retries -= 1
            if (job_id, epoch_us(scheduled_at), attempt) in handed_off:
                continue
            self.skipped(
                decision,
                job_id,
                scheduled_at,
                attempt,
                now,
                "the scheduler shut down before this retry was due",
            )
        heapq.heapify(kept)
        self._heap = kept
        return decision

    def _failed(
        self,
        state: _State | None,
        job: Job | None,
        result: RunResult,
        now: datetime,
        decision: Decision,
    ) -> Job | None:
        request = result.request
        error = result.exception
        policy = None if job is None else job.retry
        if (
            state is not None
            and job is not None
            and policy is not None
            and request.attempt < policy.attempts
            and isinstance(error, policy.retry_on)
        ):
            delay = retry_delay(policy, job.id, request.scheduled_at, request.attempt)
            due_us = epoch_us(now) + round(delay * 1_000_000)
            heapq.heappush(
                self._heap,
                (due_us, job.id, _RETRY, request.scheduled_at, request.attempt + 1),
            )
            state.retries += 1
            decision.events.append(
                Event(
                    kind=EventKind.JOB_RETRIED,
                    at=now,
                    job_id=job.id,
                    scheduled_at=request.scheduled_at,
                    attempt=request.attempt,
                    exception=error,
                    reason=f"attempt {request.attempt} of {policy.attempts} failed; "
                    f"retrying in {delay:.3g} s",
                )
            )
            return job
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
        if job is None or state is None:
            return job
        failures = job.consecutive_failures + 1
        job = evolve(job, consecutive_failures=failures)
        limit = job.max_consecutive_failures
        if limit is not None and failures >= limit and not job.paused and job.next_fire:
            note = (
                f"paused after {failures} consecutive failures; last: "
                f"{type(error).__name__}: {error}"
            )
            job = evolve(job, paused=True, pause_note=note)
            state.generation += 1
            decision.events.append(
                Event(kind=EventKind.JOB_PAUSED, at=now, job_id=job.id, reason=note)
            )
        decision.stores.append(job)
        return job

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
        job = state.job
        return (
            state.next_fire is None
            and not job.paused
            and not state.running
            and not state.buffer
            and not state.retries
        )


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
