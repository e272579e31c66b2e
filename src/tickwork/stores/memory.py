"""A job store that keeps jobs in a dict, for one process."""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections import Counter, deque
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from .._checks import whole
from .._errors import ConflictingIdError, JobLookupError
from .._model import ChainOn, Job, Run, RunEnd, evolve
from .._tz import epoch_us, require_aware
from ._base import (
    ClaimLike,
    JobSchedule,
    JobStore,
    ProcessInfo,
    ProcessListing,
    RunCount,
    StatsListing,
)
from ._chains import ChainRow, ChainStore, chain_rows
from ._history import process_name, run_from_end

__all__ = ["MemoryStore"]

#: How many incomplete hand-overs of chained runs are kept at most.
_PENDING_LIMIT = 10_000


def _order(job: Job) -> tuple[bool, int, str]:
    fire = job.next_fire
    return (fire is None, 0 if fire is None else epoch_us(fire), job.id)


def _same(stored: datetime | None, expected: datetime | None) -> bool:
    if stored is expected:
        return True
    if stored is None or expected is None:
        return False
    return epoch_us(stored) == epoch_us(expected)


class MemoryStore(JobStore, ProcessListing, StatsListing, ChainStore):
    """Keeps jobs in memory; they are lost when the process ends.

    Safe to share between threads: every call holds one lock, so :meth:`claim_fire`
    is atomic. It keeps the newest *history* runs (all jobs together) for
    ``scheduler.history()``. The schedule state that moves on every fire (next fire time,
    remaining runs) is kept beside the job record, so claiming a fire does not copy
    the record.

    It is the reference :class:`~tickwork.stores.JobStore`: the contract suite's model
    test checks other stores against it.

    As a :class:`~tickwork.stores.ProcessListing` it lists the one process it lives
    in (see :meth:`processes`).

    Raises:
        TypeError, ValueError: *history* is not a whole number >= 0.
    """

    def __init__(self, *, history: int = 1000) -> None:
        whole(history, "history", minimum=0, maximum=sys.maxsize)
        self._lock = threading.Lock()
        # The newest runs, as the core reported them; turned into Run records on reading.
        self._history: deque[RunEnd] = deque(maxlen=history)
        self._process = process_name()
        self._jobs: dict[str, Job] = {}
        # Fire state newer than the record in _jobs (written by claims, folded back into
        # the record when it is read), so a claim does not copy the record.
        self._moving: dict[str, tuple[datetime | None, int | None]] = {}
        # Jobs the scheduler could not load (their function does not import): reason.
        self._broken: dict[str, str] = {}
        # Chains: each chained job's (upstreams, on), and the upstream ends waiting for
        # their downstream runs, by (downstream, slot us) then upstream.
        self._edges: dict[str, tuple[tuple[str, ...], ChainOn]] = {}
        self._pending: dict[tuple[str, int], dict[str, ChainRow]] = {}

    def add_job(self, job: Job, *, replace: bool = False) -> None:
        with self._lock:
            if not replace and job.id in self._jobs:
                raise ConflictingIdError(f"a job with id {job.id!r} already exists")
            self._put(job)

    def add_jobs(self, jobs: Sequence[Job], *, replace: bool = False) -> None:
        with self._lock:
            if not replace:
                counts = Counter(job.id for job in jobs)
                taken = sorted(i for i, n in counts.items() if n > 1 or i in self._jobs)
                if taken:
                    raise ConflictingIdError(
                        f"jobs with these ids already exist: {', '.join(map(repr, taken[:10]))}"
                    )
            for job in jobs:
                self._put(job)

    def update_job(self, job: Job, *, schedule: bool = True) -> None:
        with self._lock:
            if job.id not in self._jobs:
                raise JobLookupError(f"no job with id {job.id!r}")
            if not schedule:
                stored = self._record(job.id)
                job = evolve(job, next_fire=stored.next_fire, remaining_runs=stored.remaining_runs)
            self._put(job)

    def _put(self, job: Job) -> None:
        self._jobs[job.id] = job if job._control is None else evolve(job, _control=None)
        if job.after:
            self._edges[job.id] = (job.after, job.on)
        elif self._edges:
            self._edges.pop(job.id, None)
        self._moving.pop(job.id, None)
        if self._broken:
            self._broken.pop(job.id, None)

    def remove_job(self, job_id: str) -> None:
        with self._lock:
            try:
                del self._jobs[job_id]
            except KeyError:
                raise JobLookupError(f"no job with id {job_id!r}") from None
            self._moving.pop(job_id, None)
            self._broken.pop(job_id, None)
            self._edges.pop(job_id, None)

    def remove_jobs(self, job_ids: Sequence[str]) -> None:
        # One lock for the lot: the scheduler removes every job done in a step at once
        # (10,000 one-off jobs that just ran), where a call per job cost more than the run.
        jobs, moving, broken = self._jobs, self._moving, self._broken
        with self._lock:
            for job_id in job_ids:
                if jobs.pop(job_id, None) is not None:
                    moving.pop(job_id, None)
                    if self._edges:
                        self._edges.pop(job_id, None)
                    if broken:
                        broken.pop(job_id, None)

    def get_job(self, job_id: str) -> Job:
        with self._lock:
            try:
                return self._record(job_id)
            except KeyError:
                raise JobLookupError(f"no job with id {job_id!r}") from None

    def _record(self, job_id: str) -> Job:
        job = self._jobs[job_id]
        moved = self._moving.pop(job_id, None)
        if moved is not None:
            job = self._jobs[job_id] = evolve(job, next_fire=moved[0], remaining_runs=moved[1])
        return job

    def get_jobs(self) -> list[Job]:
        with self._lock:
            jobs = [self._record(job_id) for job_id in self._jobs]
        jobs.sort(key=_order)
        return jobs

    def claim_fires(self, claims: Sequence[ClaimLike], *, now: datetime) -> list[int | None]:
        del now  # nothing here expires: a store in memory has no leases to check
        results: list[int | None] = []
        answer = results.append
        moving, jobs = self._moving, self._jobs
        with self._lock:
            for job_id, expected, new_next, remaining_runs, _runs in claims:
                job = jobs.get(job_id)
                if job is None or job.paused:
                    answer(None)
                    continue
                current = moving.get(job_id)
                if current is not None:
                    stored, left = current
                else:
                    stored, left = job.next_fire, job.remaining_runs
                if stored is not expected and not _same(stored, expected):
                    answer(None)
                    continue
                moving[job_id] = (new_next, left if remaining_runs is None else remaining_runs)
                answer(0)
        return results

    def record_runs(self, runs: Sequence[RunEnd], *, now: datetime) -> None:
        """Keep the newest runs (``history`` of them, all jobs together), and the
        hand-overs of chained runs (see :class:`~tickwork.stores._chains.ChainStore`)."""
        with self._lock:
            self._history.extend(runs)
            if self._edges:
                pending = self._pending
                for row in chain_rows(runs, self._edges):
                    key = (row.downstream, epoch_us(row.slot))
                    pending.setdefault(key, {})[row.upstream] = row
                if len(pending) > _PENDING_LIMIT:
                    # Hand-overs that never complete (a fan-in whose other upstream
                    # failed) must not grow without end: the oldest slots go first.
                    for key in sorted(pending, key=lambda key: key[1])[: len(pending) // 10]:
                        del pending[key]

    def chain_edges(self) -> dict[str, tuple[tuple[str, ...], ChainOn]]:
        with self._lock:
            return dict(self._edges)

    def _complete(self, key: tuple[str, int]) -> bool:
        edge = self._edges.get(key[0])
        rows = self._pending.get(key)
        return edge is not None and rows is not None and all(up in rows for up in edge[0])

    def ready_chains(self, *, limit: int = 100) -> list[tuple[str, datetime]]:
        with self._lock:
            ready = [key for key in self._pending if self._complete(key)]
            ready.sort(key=lambda key: key[1])
            return [(key[0], next(iter(self._pending[key].values())).slot) for key in ready[:limit]]

    def claim_chain(
        self, downstream: str, slot: datetime, *, now: datetime
    ) -> list[ChainRow] | None:
        key = (downstream, epoch_us(slot))
        with self._lock:
            if not self._complete(key):
                return None
            rows = self._pending.pop(key)
            upstreams = self._edges[downstream][0]
            return [rows[up] for up in sorted(rows) if up in upstreams]

    def history(self, job_id: str | None = None, *, limit: int = 100) -> list[Run]:
        if not isinstance(limit, int) or limit < 0:
            raise ValueError(f"limit must be a whole number >= 0, got {limit!r}")
        found: list[Run] = []
        with self._lock:
            ends = list(self._history)
        for end in reversed(ends):
            if len(found) >= limit:
                break
            if job_id is None or end.job_id == job_id:
                found.append(run_from_end(end, self._process))
        return found

    def processes(self, *, now: datetime) -> list[ProcessInfo]:
        """The one process this store lives in, which no other can share: id
        ``host:pid``, alive, seen at *now* (it is answering), its start unknown (None),
        and no leases (a store in memory leases nothing: its claims are enough)."""
        require_aware(now, "now")
        return [
            ProcessInfo(
                id=process_name(),
                host=socket.gethostname(),
                pid=os.getpid(),
                started=None,
                last_seen=now,
                alive=True,
                leases=(),
            )
        ]

    def schedules(self) -> list[JobSchedule]:
        """Each job's id, next fire time and paused flag, by id, without copying a job
        (see :class:`~tickwork.stores.StatsListing`)."""
        make = tuple.__new__  # (a NamedTuple's own constructor is slower)
        with self._lock:
            jobs, moving = self._jobs, self._moving
            found = []
            for job_id in sorted(jobs):
                job = jobs[job_id]
                moved = moving.get(job_id)
                fire = job.next_fire if moved is None else moved[0]
                found.append(make(JobSchedule, (job_id, fire, job.paused)))
        return found

    def run_counts(self) -> list[RunCount]:
        """The kept runs counted by job and outcome (see
        :class:`~tickwork.stores.StatsListing`)."""
        with self._lock:
            ends = list(self._history)
        counts: dict[tuple[str, str], list[Any]] = {}
        for end in ends:
            key = (end.job_id, end.outcome.value)
            entry = counts.get(key)
            if entry is None:
                counts[key] = [end.outcome, 1, end.at]
            else:
                entry[1] += 1
                if epoch_us(end.at) > epoch_us(entry[2]):
                    entry[2] = end.at
        return [
            RunCount(job_id, outcome, count, last.astimezone(timezone.utc))
            for (job_id, _), (outcome, count, last) in sorted(counts.items())
        ]

    def mark_broken(self, job_id: str, reason: str) -> None:
        """Note why the stored job cannot be loaded, until it is replaced or removed."""
        with self._lock:
            if job_id in self._jobs:
                self._broken[job_id] = reason

    def broken_jobs(self) -> dict[str, str]:
        with self._lock:
            return {job_id: self._broken[job_id] for job_id in sorted(self._broken)}
