"""The job table under the scheduler core: every job's state, and its due-time index.

:class:`JobTable` holds one :class:`~tickwork._jobstate.JobState` per job and the
heap of due times over them (:class:`~tickwork._deadlines.Deadlines`): adding,
replacing and forgetting jobs, what each is doing, and when something is next due.
:class:`~tickwork._core.SchedulerCore` builds the state machine of fires and runs on
it (see the theory of operation there). Not thread-safe: the engine locks around it.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from ._deadlines import Deadlines
from ._decision import Decision
from ._instants import EPOCH as _EPOCH
from ._jobstate import JobState, fire_entry, idle_and_done, snapshot
from ._model import Job, RunRequest, evolve
from ._planning import epoch_us

__all__ = ["JobTable"]

#: How many lost claims :meth:`JobTable.note_lost` remembers (the oldest go first).
_LOST_KEPT = 1_000


class JobTable:
    """Every job's state and the due-time index over them (see the module docstring)."""

    def __init__(self) -> None:
        self._states: dict[str, JobState] = {}
        # The due-time index over the states' entries.
        self._deadlines = Deadlines(self._states)
        # Retry keys, and schedule generations (the keys of fire entries: their order
        # is the order of jobs due at one instant), unique for the life of the core.
        self._retry_keys = itertools.count(1)
        self._generations = itertools.count(1)
        self._run_ids = itertools.count(1)
        self._in_flight = 0
        #: Results taken in, ever (:meth:`SchedulerCore.finish_all`): how fast this
        #: process's runs end is measured from it.
        self.ended = 0
        #: Set while the scheduler shuts down: buffered runs are dropped, not started.
        self.closing = False
        #: Set while the scheduler is paused: buffered runs wait, not started.
        self.holding = False
        #: Jobs with runs left in a shared store for other processes (a hand-off): their
        #: records stay for the taker, whose runs' ends remove a job done firing.
        self.left: set[str] = set()
        #: Event kinds someone listens to; the hot ones are only built when wanted.
        self.wants = 0  # an int: IntFlag arithmetic is slow on the hot path
        #: Whether decisions carry a RunEnd for every run that ends (for the history).
        self.records = False
        #: Runs waiting for a free instance (overlap buffers), all jobs together: while
        #: none wait, the end of a clean run needs no prompt follow-up.
        self.waiting = 0
        #: Jobs :meth:`retire` made done, for the chains to detach their dependants.
        self.retired: list[str] = []
        #: Fires whose claim another process took over while runs of them went on here
        #: ((job id, scheduled µs) to the first run id given after): those runs' ends are
        #: not retried nor counted here (the taker recorded them cut off and retries).
        self._lost_runs: dict[tuple[str, int], int] = {}

    # -- the job table ----------------------------------------------------------------

    def __contains__(self, job_id: str) -> bool:
        state = self._states.get(job_id)
        return state is not None and not state.removed

    def note_lost(self, state: JobState, at: int) -> None:
        """The claim on the fire at *at* (µs) of *state*'s job was taken over: the runs
        of it going here are no longer this process's (see :meth:`was_lost`)."""
        if state.running:
            lost = self._lost_runs
            lost[(state.job.id, at)] = next(self._run_ids)  # (runs started later: not lost)
            if len(lost) > _LOST_KEPT:
                del lost[next(iter(lost))]

    def was_lost(self, request: RunRequest) -> bool:
        """Whether *request* ran for a claim another process took over meanwhile (its
        end is not retried nor counted here: the taker recorded it cut off)."""
        if not self._lost_runs:
            return False
        below = self._lost_runs.get((request.job_id, epoch_us(request.scheduled_at)))
        return below is not None and request.run_id < below

    def forget_run(self, job_id: str, scheduled_at: datetime) -> int:
        """Drop the waiting runs and pending retries of one fire (its claim was lost to
        another process); return how many were dropped. Running ones cannot be."""
        state = self._states.get(job_id)
        if state is None:
            return 0
        at = epoch_us(scheduled_at)
        self.note_lost(state, at)
        dropped = 0
        if state.buffer:
            dropped += self._drop_waiting(state, lambda key: key[1] == at)
        if state.retries:
            retries = state.retries
            gone = [key for key, retry in retries.items() if epoch_us(retry.scheduled_at) == at]
            for key in gone:
                del retries[key]
            dropped += len(gone)
            if gone:
                self._deadlines.went_stale(len(gone))
        if idle_and_done(state):
            # (Not removed from the store: the process that took the claim owns it now.)
            self._forget(state)
        return dropped

    def _drop_waiting(self, state: JobState, drop: Callable[[tuple[str, int, int]], bool]) -> int:
        """Drop, unreported, the waiting runs *drop* names (job id, scheduled µs, attempt)."""
        buffer, job_id = state.buffer or deque(), state.job.id
        state.buffer = deque(i for i in buffer if not drop((job_id, epoch_us(i[0]), i[1])))
        self.waiting -= len(buffer) - len(state.buffer)
        return len(buffer) - len(state.buffer)

    def busy_jobs(self) -> set[str]:
        """The jobs with runs submitted and not ended."""
        return {job_id for job_id, state in self._states.items() if state.running}

    def get(self, job_id: str) -> Job | None:
        """The job, or None (also for a removed job whose last runs are still going)."""
        state = self._states.get(job_id)
        return None if state is None or state.removed else snapshot(state)

    def jobs(self) -> list[Job]:
        return [snapshot(state) for state in self._states.values() if not state.removed]

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

    def take_queued(self, job_id: str) -> list[tuple[datetime, int]]:
        """Take the runs of *job_id* waiting for a free instance, then its pending
        retries: (scheduled time, attempt) each. They will not start: the caller reports
        them (its job was paused or removed)."""
        state = self._states.get(job_id)
        if state is None:
            return []
        taken = list(state.buffer or ())
        if state.buffer:
            self.waiting -= len(state.buffer)
            state.buffer = None
        if state.retries:
            taken += [(retry.scheduled_at, retry.attempt) for retry in state.retries.values()]
            self._drop_retries(state)
        return taken

    def running(self, job_id: str) -> int:
        state = self._states.get(job_id)
        return 0 if state is None else state.running

    def in_flight(self) -> int:
        """How many runs have been started and not yet reported."""
        return self._in_flight

    def __len__(self) -> int:
        """How many jobs the core holds (removed ones whose runs still go included)."""
        return len(self._states)

    def evict(self, keep: Callable[[JobState], bool]) -> None:
        """Forget the idle jobs (no run going, waiting or to retry) that *keep* refuses,
        as if never loaded: a store too big to load whole holds them until their turn."""
        idle = [s for s in self._states.values() if not (s.running or s.buffer or s.retries)]
        for state in idle:
            if not keep(state):
                self._forget(state)

    def put(self, job: Job) -> None:
        """Add *job* or replace the job with its id; it is indexed by its ``next_fire``.

        A job stored with no fire time left (its last run was going when it was saved)
        is done: it is forgotten, and its record removed, once a run of it ends here.
        """
        state = self._states.get(job.id)
        if state is None:
            state = self._states[job.id] = JobState(job, job.next_fire)
        else:
            # A job re-added while runs of a removed one are going: those runs still count
            # toward max_instances.
            state.job = job
            state.next_fire = job.next_fire
            state.removed = False
        # self._renew(state), inlined: a hot path (rescheduling, loading, syncing).
        state.generation = next(self._generations)
        if state.entry is not None:
            state.entry = None
            self._deadlines.went_stale(1)
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
            if state.buffer:
                self.waiting -= len(state.buffer)
            state.buffer = None
            state.removed = True
            return state.job
        self._forget(state)
        return snapshot(state)

    def put_many(self, jobs: list[Job]) -> None:
        """:meth:`put` for many jobs at once (loading a store): one heapify, not a push
        per job."""
        states = self._states
        entries = []
        generations = self._generations
        for job in jobs:
            if job.id in states:
                self.put(job)
                continue
            state = states[job.id] = JobState(job, job.next_fire, next(generations))
            entry = state.entry = fire_entry(state)
            if entry is not None:
                entries.append(entry)
        self._deadlines.add_many(entries)

    def _done(self, state: JobState, decision: Decision) -> None:
        """Forget an idle job with no fire time left; its record goes from the store too
        (a removed job's went already)."""
        self._forget(state)
        if not state.removed and state.job.id not in self.left:
            decision.jobs_to_delete.append(state.job.id)

    def retire(self, job_id: str, decision: Decision, *, paused_too: bool = False) -> bool:
        """A job that nothing can start any more (started by events or upstream runs,
        and past its ``end`` or left with no upstream): done, as a job with no fire time
        left is, if it is idle (no run going, waiting or to retry) and not paused (or
        *paused_too*: resuming it would not make it run again). Whether it was; its id is
        then in :attr:`retired` too."""
        state = self._states.get(job_id)
        if state is None or state.next_fire is not None or (state.job.paused and not paused_too):
            return False
        if state.running or state.buffer or state.retries:
            return False  # (retired by a later event or hand-over, once idle)
        self._done(state, decision)
        self.retired.append(job_id)
        return True

    def _index(self, state: JobState) -> None:
        """Push the entry of *state*'s next fire, under its current generation."""
        entry = state.entry = fire_entry(state)
        if entry is not None:
            self._deadlines.add(entry)

    def _renew(self, state: JobState) -> None:
        """Give *state* a new generation: its queued entry, if any, goes stale."""
        state.generation = next(self._generations)
        if state.entry is not None:
            state.entry = None
            self._deadlines.went_stale(1)

    def _forget(self, state: JobState) -> None:
        """Drop *state* from the table; its heap entries go stale."""
        del self._states[state.job.id]
        if state.buffer:
            self.waiting -= len(state.buffer)
            state.buffer = None
        stale = len(state.retries) if state.retries else 0
        if state.entry is not None:
            state.entry = None
            stale += 1
        if stale:
            self._deadlines.went_stale(stale)

    def _drop_retries(self, state: JobState) -> None:
        retries, state.retries = state.retries, None
        if retries:
            self._deadlines.went_stale(len(retries))

    # -- time -------------------------------------------------------------------------

    def next_due(self) -> datetime | None:
        """When something is next due (a fire, with jitter, or a retry), or None."""
        due_us = self._deadlines.next_deadline()
        return None if due_us is None else _EPOCH + timedelta(microseconds=due_us)

    def due(self, now: datetime) -> bool:
        """Whether something is due at *now*."""
        due_us = self._deadlines.next_deadline()
        return due_us is not None and due_us <= epoch_us(now)
