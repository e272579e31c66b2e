"""The job store contract.

A store keeps jobs (their definition and schedule state) where the scheduler can find
them again: in memory, or in a file shared by several processes. Stores never read
the clock: every call that needs the time takes ``now``.

Contract, checked by ``tests/stores/test_contract.py`` for every store:

* :meth:`JobStore.add_job` stores a new job. If the id exists it raises
  :class:`~tickwork.ConflictingIdError`, unless ``replace=True``, when the new job
  replaces the old one whole.
* :meth:`JobStore.update_job` replaces an existing job's stored record;
  :meth:`JobStore.remove_job` deletes it. Both raise :class:`~tickwork.JobLookupError`
  for an unknown id. :meth:`JobStore.get_job` returns the stored record (an equal
  :class:`~tickwork.Job`, without the ``_engine`` link) or raises ``JobLookupError``.
* :meth:`JobStore.get_jobs` returns every job, ordered by next fire time (jobs with
  none last), then id.
* :meth:`JobStore.claim_fire` is the compare-and-set that makes one scheduled fire run
  once: if the job's stored ``next_fire`` equals *expected* it sets it to *new_next*
  (and the other state fields given) and returns True; otherwise it changes nothing and
  returns False (another scheduler claimed that fire, or the job changed). An unknown id
  returns False.
* :meth:`JobStore.changes` returns a token that differs whenever another process may
  have changed the stored jobs since the last call; a store used by one process only
  may always return the same token.
* Nothing a caller stored is ever silently dropped: a record that cannot be loaded is
  reported, never skipped without a trace.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime

from .._model import Job

__all__ = ["Claim", "JobStore"]

#: One claim for :meth:`JobStore.claim_fires`: (job id, expected next fire, new next
#: fire, remaining runs or None to keep).
Claim = tuple[str, "datetime | None", "datetime | None", "int | None"]


class JobStore(ABC):
    """Base class of job stores."""

    def open(self) -> None:  # noqa: B027 - optional hook
        """Prepare the store (open files, create tables). Called by the scheduler's start."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources. Called by the scheduler's shutdown."""

    @abstractmethod
    def add_job(self, job: Job, *, replace: bool = False) -> None:
        """Store a new job (or replace one with the same id when *replace*)."""

    @abstractmethod
    def update_job(self, job: Job) -> None:
        """Replace the stored record of an existing job."""

    @abstractmethod
    def remove_job(self, job_id: str) -> None:
        """Delete a job."""

    @abstractmethod
    def get_job(self, job_id: str) -> Job:
        """The stored record of one job."""

    @abstractmethod
    def get_jobs(self) -> list[Job]:
        """Every stored job, by next fire time (None last), then id."""

    @abstractmethod
    def claim_fire(
        self,
        job_id: str,
        expected: datetime | None,
        new_next: datetime | None,
        *,
        now: datetime,
        remaining_runs: int | None = None,
    ) -> bool:
        """Atomically move a job's next fire time from *expected* to *new_next*.

        Returns False, changing nothing, when the stored next fire time is not
        *expected* (another scheduler got there first) or the job is gone.
        ``remaining_runs`` is stored with the new fire time when the job has a limit.
        """

    def claim_fires(self, claims: Sequence[Claim], *, now: datetime) -> list[bool]:
        """Several :meth:`claim_fire` calls at once (one transaction where the store
        has them); returns one result per claim, in order."""
        return [
            self.claim_fire(job_id, expected, new_next, now=now, remaining_runs=remaining)
            for job_id, expected, new_next, remaining in claims
        ]

    def changes(self) -> object:
        """A token that changes when another process may have changed the jobs."""
        return None
