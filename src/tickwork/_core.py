"""The sans-IO scheduler core.

Theory of operation
-------------------
The core is a due-time index over jobs plus the bookkeeping of their runs. It never
reads the clock, sleeps, starts threads or touches a store: callers hand it ``now``
and get decisions back, and a driver (through the shared ``Engine``) does the I/O.
Its parts: :mod:`~tickwork._deadlines` (the heap of due times), :mod:`~tickwork._jobstate`
(what is kept per job), :mod:`~tickwork._decision` (what comes out),
:mod:`~tickwork._jobtable` (the job states over the heap) and this state machine.

* Every pending job has one heap entry, due at its *planned* time (next nominal fire
  time plus jitter offset, in µs since the epoch); pending retries have their own. Any
  change to the schedule lets an entry go stale; the heap counts and prunes those.
* :meth:`SchedulerCore.pop_due` returns the entries whose time has come, planned (which
  fire times run, how many were missed, the next fire time) but not applied.
* A fire becomes real once the store confirms its claim (a compare-and-set on the job's
  next fire time): :meth:`commit_fire` (:meth:`commit_claimed` for a batch) moves the
  job on and starts, buffers or skips its runs per ``max_instances`` and the overlap
  policy. A claim lost: :meth:`refresh` takes the job as the store has it.
* :meth:`finished` (:meth:`finish_all` for a batch) takes a run's result: frees the
  instance, retries or counts the failure, starts a buffered run. :meth:`taken_over`
  takes a run another process held when it died (retried or interrupted), or left.
* A job with no fire time left is *done*: forgotten, and its id goes into
  ``jobs_to_delete``, once none of its runs is going, waiting or due to retry (a process
  taking a run of it over needs its retry policy).

Next fire times come from the trigger and the last *scheduled* fire, never from when a
run ended, so schedules do not drift however long runs take.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

from ._decision import Decision, FireDue, RetryDue
from ._errors import LeaseExpired
from ._events import EventKind
from ._instants import EPOCH as _EPOCH
from ._instants import US as _US
from ._jobstate import (
    JobState,
    PendingRetry,
    busy,
    idle_and_done,
    jitter_us,
    jittered_grace,
    late_hand_off,
    may_run_again,
    snapshot,
)
from ._jobtable import JobTable
from ._model import (
    Job,
    Outcome,
    Overlap,
    RunEnd,
    RunRequest,
    RunResult,
    evolve,
    request_for,
)
from ._planning import (
    epoch_us,
    missed_count,
    missed_reason,
    plan_due,
    retry_delay,
    trigger_failure,
    within_remaining,
)

# Decision is offered here too: the engine imports it with the core.
__all__ = ["PAUSED_BEFORE_START", "REMOVED_BEFORE_START", "Decision", "SchedulerCore"]

#: Why a run taken back from its executor before it started did not run (its job was
#: paused, or removed, meanwhile): the reason of its ``JOB_SKIPPED`` and history row.
PAUSED_BEFORE_START = "its job was paused before it started"
REMOVED_BEFORE_START = "its job was removed before it started"

_EXECUTED = int(EventKind.JOB_EXECUTED)
_SUCCESS = Outcome.SUCCESS
_FAILURE = Outcome.FAILURE
_new = tuple.__new__  # (see _model.request_for)
_SUBMITTED = int(EventKind.JOB_SUBMITTED)
#: How many runs ``Overlap.BUFFER_ALL`` lets wait per job before skipping.
BUFFER_LIMIT = 1000


class SchedulerCore(JobTable):
    """The due-time index and run bookkeeping. Not thread-safe: the engine locks around it.

    The job table (adding, replacing and forgetting jobs, what is due when) is
    :class:`~tickwork._jobtable.JobTable`'s; the moves of fires and runs are here.
    """

    def pop_due(
        self, now: datetime, into: Decision | None = None, *, limit: int | None = None
    ) -> list[FireDue | RetryDue]:
        """Everything due at *now* (or the first *limit* entries), planned but not applied.

        A job whose trigger raises while its due fire is planned is not returned: it is
        paused here, and the decision to report and store that is added to *into*
        (pass one: without it the report is lost). The other jobs are unaffected.
        """
        now_us = epoch_us(now)
        states = self._states
        due: list[FireDue | RetryDue] = []
        append = due.append
        for entry in self._deadlines.expire(now_us, limit):
            planned_us, key, job_id = entry
            state = states[job_id]  # (a live entry's job is in the table)
            if key < 0:
                retries = state.retries
                assert retries is not None
                retry = retries.pop(key)
                append(RetryDue(job_id, retry.scheduled_at, retry.attempt))
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
                    # The common case, inlined: one fire time due, nothing to miss (and
                    # the record built as a plain tuple: FireDue(...) is a Python call).
                    following = job.trigger.next_after(first)
                    if following is None or (following - _EPOCH) // _US > now_us:
                        fire = (job_id, first, (first,), 0, following, None, None, key)
                        append(_new(FireDue, fire))
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
                    offset_us=None if job.jitter is None else partial(jitter_us, job),
                )
            except Exception as error:  # a custom trigger may raise anything
                self._trigger_failed(state, first, error, now, Decision() if into is None else into)
                continue
            remaining = job.remaining_runs
            if remaining is not None:
                plan = within_remaining(plan, remaining)
                remaining -= len(plan.runs)
            append(FireDue.planned(job_id, first, plan, remaining, key))
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
        ``jobs_to_delete``) only if none of its runs is going or waiting; else when the
        last of them ends.
        """
        decision = Decision() if into is None else into
        job_id, _, _, _, next_fire, _, remaining, generation = fire
        state = self._states.get(job_id)
        if state is None or state.generation != generation:
            return decision
        plan = fire  # (a FireDue carries its plan's fields)
        job = state.job
        state.next_fire = next_fire
        if job.remaining_runs != remaining:
            job = state.job = evolve(job, remaining_runs=remaining)
        if plan.missed:
            # Named after the oldest fire that did not run (never one that runs, whose
            # own history row has the same time).
            oldest = plan.first_missed or fire.nominal
            why = missed_reason(job, plan.runs)
            decision.report_missed(job.id, oldest, plan.missed, why, at=now)
            if self.records:
                count = missed_count(job, plan.missed, plan.runs)
                reason = f"{count} fire time(s) missed: {why}"
                decision.history.append(
                    RunEnd(job.id, oldest, 1, Outcome.MISSED, now, reason=reason, final=False)
                )
        busy_elsewhere = elsewhere and busy(state) + elsewhere >= job.max_instances
        for index, scheduled_at in enumerate(plan.runs):
            if busy_elsewhere and not busy(state):
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
            if idle_and_done(state):
                self._done(state, decision)
        else:
            state.generation = next(self._generations)
            self._index(state)
        return decision

    def commit_claimed(
        self, fires: list[FireDue], answers: Sequence[int | None], now: datetime, into: Decision
    ) -> list[str]:
        """:meth:`commit_fire` for each fire of a claim batch, with the store's answer
        for it (runs in progress elsewhere; None: the claim was lost); returns the ids
        of the jobs whose claims were lost.

        One call for a batch: the common case (one run due, nothing missed, a free
        instance) is applied here without a call per fire.
        """
        lost = []
        states = self._states
        append = into.runs_to_start.append
        submitted = self.wants & _SUBMITTED
        generations, run_ids = self._generations, self._run_ids
        started = 0
        for fire, elsewhere in zip(fires, answers, strict=True):
            if elsewhere is None:
                lost.append(fire[0])
                continue
            job_id, _, runs, missed, next_fire, _, remaining, generation = fire
            state = states.get(job_id)
            if state is None or state.generation != generation:
                continue
            job = state.job
            if (
                missed
                or len(runs) != 1
                or job.remaining_runs != remaining
                or busy(state) + elsewhere >= job.max_instances
            ):
                self.commit_fire(fire, now, into, elsewhere=elsewhere)
                continue
            state.next_fire = next_fire
            scheduled_at = runs[0]
            state.running += 1
            started += 1
            request = request_for(next(run_ids), job, scheduled_at, 1)
            if job.jitter and request.misfire_grace is not None:
                request = jittered_grace(job, request)
            append((job.executor, request))
            if submitted:
                into.report_submitted(job_id, scheduled_at, 1, at=now)
            state.generation = next(generations)
            if next_fire is not None:
                self._index(state)
            # (Else done firing: the run just started, so the state and the job's record
            # stay until it reports.)
        self._in_flight += started
        return lost

    def commit_retry(
        self, retry: RetryDue, now: datetime, into: Decision | None = None
    ) -> Decision:
        """Start a due retry. Retries do not wait for ``max_instances``: they belong to a
        fire that already started."""
        decision = Decision() if into is None else into
        state = self._states.get(retry.job_id)
        if state is not None:
            decision.runs_to_start.append(
                self._request(state, retry.scheduled_at, retry.attempt, of_fire=False)
            )
            if self.wants & _SUBMITTED:
                decision.report_submitted(retry.job_id, retry.scheduled_at, retry.attempt, at=now)
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

    def finish_all(
        self,
        results: list[RunResult],
        now: datetime,
        into: Decision,
        *,
        failed: Callable[[RunResult], None],
        ended: Callable[[RunResult, Decision], None],
        watching: bool,
    ) -> None:
        """:meth:`finished` for each of *results*, in order, into *into*; each at its
        ``finished_at`` (else *now*). *failed* is called with each failed result just
        before it is taken in (to log it); *ended* right after each result is taken in
        (its history row is then the last of *into*), for every result when *watching*,
        else for those that returned something or were started by upstream runs.

        One call for a batch: the common case (a clean run of a job with nothing waiting
        or failing) is taken in here without a call per run.
        """
        self.ended += len(results)
        states = self._states
        history = into.history
        append = history.append
        executed = self.wants & _EXECUTED
        records = self.records
        for result in results:
            request = result.request
            job_id = request.job_id
            state = states.get(job_id)
            if (
                state is None
                or result.outcome is not _SUCCESS
                or state.buffer
                or state.job.consecutive_failures
            ):
                if result.outcome is _FAILURE:
                    failed(result)
                self.finished(result, result.finished_at or now, into)
            else:
                self._in_flight -= 1
                state.running -= 1
                at = result.finished_at or now
                if executed:
                    into.report_executed(result, at=at)
                if records:  # (a RunEnd built as a plain tuple is: one per run)
                    append(_new(RunEnd, (
                        job_id, request.scheduled_at, request.attempt, _SUCCESS, at,
                        result.started_at, None, None, True, None, ())))  # fmt: skip
                if state.next_fire is None and idle_and_done(state):
                    self._done(state, into)
            if watching or result.return_value is not None or request.upstream is not None:
                ended(result, into)

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
        job = None if state is None else snapshot(state)
        # A removed job's record is gone: nothing of it is saved.
        saved = state is not None and not state.removed
        final = True
        reason = None
        if result.outcome is Outcome.SUCCESS:
            if self.wants & _EXECUTED:
                decision.report_executed(result, at=now)
            if job is not None and job.consecutive_failures:
                job = evolve(job, consecutive_failures=0)
                if saved:
                    decision.jobs_to_save.append(job)
        elif result.outcome is Outcome.FAILURE:
            error = result.exception
            started = result.started_at
            lost = self.was_lost(request)  # (the taker retries it)
            if not lost and self._retry(state, request.scheduled_at, request.attempt, error,
                                        now, decision, started=started):  # fmt: skip
                final = False
            else:
                decision.report_failed(request.job_id, request.scheduled_at, request.attempt,
                                       error, at=now, started_at=started)  # fmt: skip
                if state is not None and job is not None and saved and not lost:
                    job = self._count_failure(state, job, error, now, decision)
        elif result.outcome is Outcome.MISSED:
            # It waited in its executor past its job's misfire grace (a backlog, or
            # too few workers), and did not start.
            grace = request.misfire_grace
            if job is not None and job.jitter and job.misfire_grace_time is not None:
                grace = job.misfire_grace_time  # (the request's has the run's jitter added)
            assert grace is not None
            late = now - request.scheduled_at - (request.misfire_grace or grace) + grace
            reason = (
                f"it would have started {late.total_seconds():.3f} s late, later than "
                f"misfire_grace_time={grace}"
            )
            decision.report_missed(request.job_id, request.scheduled_at, 1, reason, at=now)
        else:
            # A run its executor never began (refused; queued at shutdown) was not cut off;
            # one still out on a task queue's worker: its executor says so.
            reason = "cut off before it finished" if result.started_at else "never started"
            decision.report_interrupted(
                request.job_id,
                request.scheduled_at,
                request.attempt,
                result.exception,
                result.reason
                or (f"the run was {reason}" if result.started_at else "the run never started"),
                at=now,
                started_at=result.started_at,
            )
        if self.records:
            decision.history.append(RunEnd(request.job_id, request.scheduled_at, request.attempt,
                                           result.outcome, now, result.started_at,
                                           result.exception, reason, final))  # fmt: skip
        if state is not None:
            assert job is not None
            state.job = job
            if state.buffer:
                if self.closing:
                    self._drop_buffer(state, now, decision)
                else:
                    self._start_waiting(state, now, decision)
            if idle_and_done(state):
                self._done(state, decision)
        return decision

    def _start_waiting(self, state: JobState, now: datetime, decision: Decision) -> None:
        """Start the runs of *state* waiting for a free instance that now have one
        (none while the scheduler is paused)."""
        buffer = state.buffer
        job = state.job
        while buffer and busy(state) < job.max_instances and not self.holding:
            scheduled_at, attempt = buffer.popleft()
            self.waiting -= 1
            run = self._request(state, scheduled_at, attempt, of_fire=False)
            decision.runs_to_start.append(run)
            if self.wants & _SUBMITTED:
                decision.report_submitted(job.id, scheduled_at, attempt, at=now)

    def start_waiting(self, now: datetime, decision: Decision) -> None:
        """Resuming: start the waiting runs that have a free instance."""
        for state in [state for state in self._states.values() if state.buffer]:
            self._start_waiting(state, now, decision)

    def let_go_waiting(self, left: frozenset[tuple[str, int, int]]) -> None:
        """Forget the waiting runs in *left* (job id, scheduled µs, attempt): another
        process takes them (a pause left them in a shared store)."""
        for job_id in {key[0] for key in left}:
            state = self._states.get(job_id)
            if state is None or not state.buffer:
                continue
            self._drop_waiting(state, left.__contains__)
            self.left.add(job_id)

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

        A handed-off run starts now or waits for a free instance (skipped if its job is
        gone here). A cut-off run is decided exactly like a failed run, with a
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
                # Due (it is taken once due): started now, or waiting for a free
                # instance, as a run asked for is; but a fire's first attempt no later
                # than its job's misfire grace. This process is its taker now.
                self.left.discard(job_id)
                late = late_hand_off(state, scheduled_at, attempt, now)
                if late is not None:
                    self.skipped(decision, job_id, scheduled_at, attempt, now, late, missed=True)
                    if idle_and_done(state):
                        self._done(state, decision)
                    return None
                self._start_or_hold(state, scheduled_at, attempt, now, decision,
                                    from_schedule=False)  # fmt: skip
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
            decision.report_interrupted(job_id, scheduled_at, attempt, error, reason, at=now)
        if self.records:
            decision.history.append(RunEnd(job_id, scheduled_at, attempt, Outcome.INTERRUPTED,
                                           now, None, error, reason, final))  # fmt: skip
        if state is not None and idle_and_done(state):
            # Its last fire, cut off and not retried: the job is done.
            self._done(state, decision)
        return f"{error} ({'not retried' if final else 'retrying'})"

    def _retry(
        self,
        state: JobState | None,
        scheduled_at: datetime,
        attempt: int,
        error: BaseException | None,
        now: datetime,
        decision: Decision,
        cause: str | None = None,
        *,
        started: datetime | None = None,
    ) -> str | None:
        """Retry attempt *attempt* of the fire at *scheduled_at*, ended by *error*, if the
        job's retry policy says so: queue the next attempt and report ``JOB_RETRIED``.

        The one retry decision, for runs that failed here and runs cut off elsewhere.
        *cause* says what happened (default: the attempt failed). Returns the event's
        reason, or None when it is not retried (no job, or a removed or paused one; no
        policy; attempts used up; an error the policy does not retry).
        """
        if state is None or state.removed or state.job.paused:
            return None
        policy = state.job.retry
        if policy is None or attempt >= policy.attempts or not policy.retries(error):
            return None
        job_id = state.job.id
        delay = retry_delay(policy, job_id, scheduled_at, attempt)
        self._queue_retry(
            state, scheduled_at, attempt + 1, epoch_us(now) + round(delay * 1_000_000)
        )
        if cause is None:
            cause = f"attempt {attempt} of {policy.attempts} failed"
        reason = f"{cause}; retrying in {delay:.3g} s"
        decision.report_retried(job_id, scheduled_at, attempt, error, reason, at=now,
                                started_at=started)  # fmt: skip
        return reason

    def _queue_retry(
        self, state: JobState, scheduled_at: datetime, attempt: int, due_us: int
    ) -> None:
        key = -next(self._retry_keys)
        if state.retries is None:
            state.retries = {}
        state.retries[key] = PendingRetry(scheduled_at, attempt, due_us)
        self._deadlines.add((due_us, key, state.job.id))

    def _count_failure(
        self,
        state: JobState,
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
        if limit is not None and failures >= limit and not job.paused and may_run_again(job, now):
            note = (
                f"paused after {failures} consecutive failures; last: "
                f"{type(error).__name__}: {error}"
            )
            job = evolve(job, paused=True, pause_note=note)
            state.job = job
            self._renew(state)
            decision.report_paused(job.id, note, at=now)
            decision.paused.add(job.id)
        decision.jobs_to_save.append(job)
        return job

    def _trigger_failed(
        self,
        state: JobState,
        nominal: datetime,
        error: Exception,
        now: datetime,
        decision: Decision,
    ) -> None:
        """The trigger raised while the fire at *nominal* was planned: that fire does not
        run, and the job is paused (it would fail the same way at every step)."""
        failure = trigger_failure(state.job.id, nominal, error)
        note = f"paused: {failure}"
        job = state.job = evolve(snapshot(state), paused=True, pause_note=note)
        self._renew(state)
        decision.jobs_to_save.append(job)
        decision.paused.add(job.id)
        decision.errors_to_log.append((f"{failure}; the job is paused", error, job.id, nominal))
        decision.report_missed(job.id, nominal, 1, note, at=now)
        decision.report_paused(job.id, note, at=now, scheduled_at=nominal, error=error)
        if self.records:
            decision.history.append(RunEnd(job.id, nominal, 1, Outcome.MISSED, now, reason=note))

    def _drop_buffer(
        self,
        state: JobState,
        now: datetime,
        decision: Decision,
        handed_off: frozenset[tuple[str, int, int]] = frozenset(),
    ) -> None:
        """Report every waiting run of *state* as skipped: the scheduler is shutting down
        (but those in *handed_off*: see :meth:`drop_buffers`)."""
        buffer = state.buffer
        while buffer:
            scheduled_at, attempt = buffer.popleft()
            self.waiting -= 1
            if handed_off and (state.job.id, epoch_us(scheduled_at), attempt) in handed_off:
                self.left.add(state.job.id)
                continue
            self.skipped(
                decision,
                state.job.id,
                scheduled_at,
                attempt,
                now,
                "the scheduler shut down before it could start",
            )

    def requeue(self, due: Sequence[FireDue | RetryDue]) -> None:
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

    def _pending(self) -> list[tuple[int, JobState, PendingRetry]]:
        """Every pending retry as (heap key, its job's state, the retry), in due order."""
        found = [
            (key, state, retry)
            for state in self._states.values()
            if state.retries
            for key, retry in state.retries.items()
        ]
        found.sort(key=lambda item: (item[2].due_us, -item[0]))
        return found

    def withdrawn(
        self, request: RunRequest, reason: str, now: datetime, decision: Decision
    ) -> None:
        """A run taken back from its executor before it started (its job was paused or
        removed): reported skipped, with *reason*, and recorded."""
        state = self.let_go(request)
        self.skipped(decision, request.job_id, request.scheduled_at, request.attempt, now, reason)
        if state is not None and idle_and_done(state):
            self._done(state, decision)

    def let_go(self, request: RunRequest) -> JobState | None:
        """Forget a run submitted and never started, now left to another process (see
        ``Machine._hand_off``): nothing is reported or recorded here. Returns its job's
        state, if the job is held."""
        self._in_flight -= 1
        state = self._states.get(request.job_id)
        if state is not None:
            state.running -= 1
        return state

    def waiting_runs(self) -> list[tuple[str, datetime, int]]:
        """Every run waiting for a free instance: (job id, scheduled time, attempt)."""
        return [
            (state.job.id, scheduled_at, attempt)
            for state in self._states.values()
            if state.buffer
            for scheduled_at, attempt in state.buffer
        ]

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
        except those in *handed_off* (job id, scheduled µs, attempt), which the store
        keeps for another process. Retries that runs failing after this schedule stay
        pending: call it again once the executors have stopped."""
        self.closing = True
        decision = Decision() if into is None else into
        for state in self._states.values():
            self._drop_buffer(state, now, decision, handed_off)
        pending = self._pending()
        for key, state, retry in pending:
            assert state.retries is not None
            del state.retries[key]
            job_id = state.job.id
            if (job_id, epoch_us(retry.scheduled_at), retry.attempt) in handed_off:
                self.left.add(job_id)
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
            self._deadlines.went_stale(len(pending))
        return decision

    def _start_or_hold(
        self,
        state: JobState,
        scheduled_at: datetime,
        attempt: int,
        now: datetime,
        decision: Decision,
        *,
        from_schedule: bool,
        elsewhere: int = 0,
    ) -> None:
        job = state.job
        here = busy(state)
        if here + elsewhere < job.max_instances:
            run = self._request(state, scheduled_at, attempt, of_fire=from_schedule)
            decision.runs_to_start.append(run)
            if self.wants & _SUBMITTED:
                decision.report_submitted(job.id, scheduled_at, attempt, at=now)
            return
        if not from_schedule or job.overlap is Overlap.BUFFER_ALL:
            if state.buffer is None:
                state.buffer = deque()
            if len(state.buffer) < BUFFER_LIMIT or not from_schedule:
                state.buffer.append((scheduled_at, attempt))
                self.waiting += 1
                return
            reason = f"{BUFFER_LIMIT} runs are already waiting"
        elif job.overlap is Overlap.BUFFER_ONE and not state.buffer:
            state.buffer = deque([(scheduled_at, attempt)])
            self.waiting += 1
            return
        elif job.overlap is Overlap.BUFFER_ONE:
            reason = "a run is already waiting for the running one (overlap='buffer_one')"
        else:
            there = f" here, {elsewhere} in other processes" if elsewhere else ""
            reason = (f"{here} run(s) still going{there}, max_instances={job.max_instances} "
                      f"(overlap={job.overlap.value!r})")  # fmt: skip
        self.skipped(decision, job.id, scheduled_at, attempt, now, reason)

    def skipped(
        self,
        decision: Decision,
        job_id: str,
        scheduled_at: datetime,
        attempt: int,
        now: datetime,
        reason: str,
        *,
        missed: bool = False,
    ) -> None:
        """Report a run that will not start: a ``JOB_SKIPPED`` (or, *missed*, a
        ``JOB_MISSED``) event and a history row."""
        if missed:
            decision.report_missed(job_id, scheduled_at, 1, reason, at=now)
        else:
            decision.report_skipped(job_id, scheduled_at, attempt, reason, at=now)
        if self.records:
            outcome = Outcome.MISSED if missed else Outcome.SKIPPED
            decision.history.append(
                RunEnd(job_id, scheduled_at, attempt, outcome, now, reason=reason)
            )

    def _request(
        self, state: JobState, scheduled_at: datetime, attempt: int, *, of_fire: bool = True
    ) -> tuple[str, RunRequest]:
        job = state.job
        state.running += 1
        self._in_flight += 1
        request = request_for(next(self._run_ids), job, scheduled_at, attempt, of_fire=of_fire)
        if job.jitter and request.misfire_grace is not None:
            request = jittered_grace(job, request)
        return job.executor, request
