"""The job store contract.

A store keeps jobs (their definition and schedule state) where the scheduler can find
them again: in memory, or in a file shared by several processes. Stores never read
the clock: every call that needs the time takes ``now``.

Contract, checked by ``tests/stores/test_contract.py`` for every store:

* :meth:`JobStore.add_job` stores a new job. If the id exists it raises
  :class:`~tickwork.ConflictingIdError`, unless ``replace=True``, when the new job
  replaces the old one whole. :meth:`JobStore.add_jobs` does the same for several jobs
  at once, all or none.
* :meth:`JobStore.update_job` replaces an existing job's stored record; with
  ``schedule=False`` it keeps the stored next fire time and remaining runs (the fields
  a claim moves, which another process may have moved since this one last looked).
  :meth:`JobStore.remove_job` deletes a job. Both raise :class:`~tickwork.JobLookupError`
  for an unknown id. :meth:`JobStore.get_job` returns the stored record (an equal
  :class:`~tickwork.Job`, without the ``_engine`` link) or raises ``JobLookupError``.
* :meth:`JobStore.get_jobs` returns every job, ordered by next fire time (jobs with
  none last), then id.
* :meth:`JobStore.claim_fire` is the compare-and-set that makes one scheduled fire run
  once: if the job's stored ``next_fire`` equals *expected* it sets it to *new_next*
  (and the other state fields given) and returns True; otherwise it changes nothing and
  returns False (another scheduler claimed that fire, or the job changed). An unknown id
  returns False. :meth:`JobStore.claim_fires` (the one a store implements) claims
  several at once and answers, per claim, None (not claimed) or how many runs of the
  job other processes hold; a store shared between processes also takes, in the same
  transaction, a lease on each run the claim starts (keyed by job id and scheduled
  time), which :meth:`JobStore.record_runs` releases when the run's last attempt ends
  and :meth:`JobStore.maintain` renews.
* :meth:`JobStore.remove_jobs` deletes several jobs, ignoring unknown ids;
  :meth:`JobStore.load_jobs` returns every job in any order (for start-up).
* :meth:`JobStore.record_runs` appends to the run history, which
  :meth:`JobStore.history` reads newest first; retention is bounded by the store.
* :meth:`JobStore.sync` returns the jobs other processes changed since the last call
  (None when nothing changed); a store used by one process only returns None.
* Nothing a caller stored is ever silently dropped: a record that cannot be loaded is
  kept, marked broken with the reason (:meth:`JobStore.broken_jobs`) and logged.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import NamedTuple, TypeVar

from .._errors import JobLookupError
from .._model import Job, Run, RunEnd

__all__ = ["Claim", "JobStore", "Takeover", "Upkeep"]

_S = TypeVar("_S", bound="JobStore")

#: One claim for :meth:`JobStore.claim_fires`: (job id, expected next fire, new next
#: fire, remaining runs or None to keep, the scheduled times of the runs it starts).
Claim = tuple[str, "datetime | None", "datetime | None", "int | None", "tuple[datetime, ...]"]


class Takeover(NamedTuple):
    """A run now held by this process: one whose process died (its lease expired, or,
    with *dead*, it was found dead), or, with *handed_off*, a retry a process left when
    it shut down, now due (*attempt* is then the attempt to run)."""

    job_id: str
    scheduled_at: datetime
    attempt: int
    owner: str
    handed_off: bool = False
    #: True when the holder was found dead (before its lease expired).
    dead: bool = False


class Upkeep(NamedTuple):
    """What :meth:`JobStore.maintain` found.

    ``lost``: (job id, scheduled time) of runs this process held whose lease another
    process took (this one was too slow to renew): they must not be started.
    ``taken``: runs of dead processes this process now holds; the caller decides
    whether each runs again and reports it with :meth:`JobStore.record_runs`.
    ``next_at``: when to call :meth:`JobStore.maintain` again.
    """

    lost: list[tuple[str, datetime]]
    taken: list[Takeover]
    next_at: datetime | None


class JobStore(ABC):
    """Base class of job stores."""

    #: True for stores that keep jobs as data outside the process (a file): jobs need
    #: importable functions and JSON arguments, and other processes may share them.
    persistent: bool = False
    #: Seconds between :meth:`sync` checks for other processes' changes (None: never).
    poll_interval: float | None = None

    def open(self) -> None:  # noqa: B027 - optional hook
        """Prepare the store (open files, create tables). Called by the scheduler's start."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources. Called by the scheduler's shutdown (also one never started).

        Closing twice, or closing a store never opened, is harmless; a closed store opens
        again when next used.
        """

    def __enter__(self: _S) -> _S:
        """Open the store; the ``with`` block's end closes it.

        >>> with SQLiteStore("jobs.db") as store:  # doctest: +SKIP
        ...     Scheduler(store=store).add_job("myapp.jobs:digest", "cron", hour=7)
        """
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @abstractmethod
    def add_job(self, job: Job, *, replace: bool = False) -> None:
        """Store a new job (or replace one with the same id when *replace*)."""

    def add_jobs(self, jobs: Sequence[Job], *, replace: bool = False) -> None:
        """Store several jobs at once: all of them, or (on an error) none."""
        with self.transaction():
            for job in jobs:
                self.add_job(job, replace=replace)

    @abstractmethod
    def update_job(self, job: Job, *, schedule: bool = True) -> None:
        """Replace the stored record of an existing job (keeping the stored next fire
        time and remaining runs when *schedule* is False)."""

    @abstractmethod
    def remove_job(self, job_id: str) -> None:
        """Delete a job."""

    def remove_jobs(self, job_ids: Sequence[str]) -> None:
        """Delete several jobs at once; ids that are not stored are ignored."""
        with self.transaction():
            for job_id in job_ids:
                with contextlib.suppress(JobLookupError):
                    self.remove_job(job_id)

    @abstractmethod
    def get_job(self, job_id: str) -> Job:
        """The stored record of one job."""

    @abstractmethod
    def get_jobs(self) -> list[Job]:
        """Every stored job, by next fire time (None last), then id."""

    def load_jobs(self) -> list[Job]:
        """Every stored job in any order: what a scheduler loads when it starts.
        Stores that can skip sorting (a file store) override it."""
        return self.get_jobs()

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
        claim: Claim = (job_id, expected, new_next, remaining_runs, ())
        return self.claim_fires([claim], now=now)[0] is not None

    @abstractmethod
    def claim_fires(self, claims: Sequence[Claim], *, now: datetime) -> list[int | None]:
        """Several :meth:`claim_fire` calls at once, in one transaction where the store
        has them; one result per claim, in order: None when it was not claimed, else
        how many runs of the job other processes have in progress (always 0 for a store
        of one process). A store shared between processes also leases each run a claim
        starts (the claim's last element)."""

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group the calls made inside into one transaction, where the store has them."""
        yield

    def record_runs(self, runs: Sequence[RunEnd], *, now: datetime) -> None:  # noqa: B027
        """Append to the run history; release the claims of runs whose ``final`` is set."""

    def history(self, job_id: str | None = None, *, limit: int = 100) -> list[Run]:
        """Recorded runs, newest first (of one job, or all), at most *limit*."""
        return []

    def maintain(self, now: datetime, *, take_over: bool = True) -> Upkeep:
        """Renew this process's leases and (if *take_over*) take over expired ones of
        dead processes."""
        return Upkeep([], [], None)

    def hand_off_retries(
        self, retries: Sequence[tuple[str, datetime, int, datetime]], *, now: datetime
    ) -> list[bool]:
        """At shutdown: leave pending retries, each (job id, scheduled time, attempt,
        due time), to the processes that share the store, which run them when due and
        get them as :class:`Takeover` with ``handed_off`` from :meth:`maintain`.

        Returns, for each retry, whether the store kept it. A store that cannot (the
        default: all False), or a retry of a run it holds no claim for (one started by
        ``run_job_now``), leaves it to the scheduler, which reports it skipped.
        """
        return [False] * len(retries)

    def sync(self) -> tuple[list[Job], list[str]] | None:
        """(changed jobs, removed ids) since the last call, or None if nothing changed."""
        return None

    def mark_broken(self, job_id: str, reason: str) -> None:  # noqa: B027
        """Record that a stored job cannot be loaded (its function no longer imports...)."""

    def broken_jobs(self) -> dict[str, str]:
        """Stored jobs that cannot be loaded, with the reason for each."""
        return {}
