"""A job store that keeps jobs in a dict, for one process."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timezone

from .._errors import ConflictingIdError, JobLookupError
from .._model import Job
from ._base import JobStore

__all__ = ["MemoryStore"]

_UTC = timezone.utc
#: Stands in for a missing fire time in sort keys; never compared with a real one,
#: because the key's first element already puts jobs without a fire time last.
_NO_FIRE = datetime.min.replace(tzinfo=_UTC)


def _instant(moment: datetime) -> datetime:
    """*moment* in UTC, so comparisons are by instant.

    Python compares two datetimes of the same zone by wall time, ignoring ``fold``:
    01:30 EDT and 01:30 EST on a fall-back night would compare equal, and 01:10 EST
    (the later instant) would sort before 01:30 EDT.
    """
    return moment.astimezone(_UTC)


def _order(job: Job) -> tuple[bool, datetime, str]:
    fire = job.next_fire
    return (fire is None, _NO_FIRE if fire is None else _instant(fire), job.id)


def _detached(job: Job) -> Job:
    """The record to store: the job without its link to a scheduler."""
    return job if job._engine is None else replace(job, _engine=None)


class MemoryStore(JobStore):
    """Keeps jobs in memory; they are lost when the process ends.

    Safe to share between threads: every call holds one lock, so :meth:`claim_fire`
    is atomic. :meth:`changes` always returns the same token, since no other process
    can see the jobs.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}

    def add_job(self, job: Job, *, replace: bool = False) -> None:
        record = _detached(job)
        with self._lock:
            if not replace and job.id in self._jobs:
                raise ConflictingIdError(f"a job with id {job.id!r} already exists")
            self._jobs[job.id] = record

    def update_job(self, job: Job) -> None:
        record = _detached(job)
        with self._lock:
            if job.id not in self._jobs:
                raise JobLookupError(f"no job with id {job.id!r}")
            self._jobs[job.id] = record

    def remove_job(self, job_id: str) -> None:
        with self._lock:
            try:
                del self._jobs[job_id]
            except KeyError:
                raise JobLookupError(f"no job with id {job_id!r}") from None

    def get_job(self, job_id: str) -> Job:
        with self._lock:
            try:
                return self._jobs[job_id]
            except KeyError:
                raise JobLookupError(f"no job with id {job_id!r}") from None

    def get_jobs(self) -> list[Job]:
        with self._lock:
            jobs = list(self._jobs.values())
        # Records are frozen, so the copy of the list is a snapshot of the store.
        jobs.sort(key=_order)
        return jobs

    def claim_fire(
        self,
        job_id: str,
        expected: datetime | None,
        new_next: datetime | None,
        *,
        now: datetime,
        remaining_runs: int | None = None,
    ) -> bool:
        del now  # nothing here expires: a store in memory has no leases to check
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return False
            stored = job.next_fire
            if stored is None or expected is None:
                if not (stored is None and expected is None):
                    return False
            elif _instant(stored) != _instant(expected):
                return False
            if remaining_runs is None:
                remaining_runs = job.remaining_runs
            self._jobs[job_id] = replace(job, next_fire=new_next, remaining_runs=remaining_runs)
            return True

    def changes(self) -> object:
        """Always ``None``: only this process can change the jobs."""
        return None
