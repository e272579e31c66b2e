"""What the core hands out: due items to claim, and decisions to carry out.

:meth:`SchedulerCore.pop_due <tickwork._core.SchedulerCore.pop_due>` returns
:class:`FireDue` and :class:`RetryDue` items, planned but not applied; every other
operation of the core adds what the driver must do to a :class:`Decision`. The core
decides and fills them in (its ``report_*`` calls word each event the same way
wherever it is decided); the engine and its links only read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from ._events import Event, EventKind
from ._model import Job, RunEnd, RunRequest, RunResult, with_counters
from ._planning import FirePlan

__all__ = ["Decision", "FireDue", "RetryDue"]


class FireDue(NamedTuple):
    """A job's fire time has come, planned; apply with :meth:`SchedulerCore.commit_fire
    <tickwork._core.SchedulerCore.commit_fire>` once claimed.

    *nominal* is the fire time that came due; *runs*, *missed*, *next_fire* and
    *first_missed* are what is to come of it (the fields of a
    :class:`~tickwork._planning.FirePlan`: the fire times that run, how many were
    missed, the next fire time, the oldest missed); *remaining_runs* the job's runs left
    after it (None: no limit), *generation* the schedule it was planned under (a fire of
    an older schedule is not applied).

    One record, not a due item holding a plan: one is made per fire, and a backlog of
    100,000 fires makes that many (the plan is :attr:`plan`, the record itself).
    """

    job_id: str
    nominal: datetime
    runs: tuple[datetime, ...]
    missed: int
    next_fire: datetime | None
    first_missed: datetime | None
    remaining_runs: int | None
    generation: int

    @property
    def plan(self) -> FireDue:
        """The plan (runs, missed, next fire, first missed): the record itself."""
        return self

    @classmethod
    def planned(
        cls, job_id: str, nominal: datetime, plan: FirePlan, remaining: int | None, key: int
    ) -> FireDue:
        """The due item of a fire planned by :func:`~tickwork._planning.plan_due`."""
        return cls(job_id, nominal, *plan, remaining, key)


class RetryDue(NamedTuple):
    """A retry's time has come; apply with :meth:`SchedulerCore.commit_retry
    <tickwork._core.SchedulerCore.commit_retry>`: attempt *attempt* of the fire at
    *scheduled_at*."""

    job_id: str
    scheduled_at: datetime
    attempt: int


@dataclass(slots=True)
class Decision:
    """What the driver must do: persist (``jobs_to_save``, ``jobs_to_delete``,
    ``history``), then log ``errors_to_log``, submit ``runs_to_start`` and emit
    ``events``.

    Each field is a list the core appends to (a batch may collect many decisions):

    * ``runs_to_start``: ``(executor alias, RunRequest)`` pairs to submit.
    * ``events``: :class:`~tickwork.Event` s for listeners, in order.
    * ``jobs_to_save``: job records whose counters changed (failures counted, paused
      by the core). Only those counters are this process's to write: the fire state
      (next fire, remaining runs) belongs to the store's claims, and the rest of the
      record (a pause or resume, new arguments) may have been changed by another
      process since this one read it.
    * ``paused``: ids of the jobs of ``jobs_to_save`` that the core paused (too many
      failures in a row, a trigger that raised): their ``paused`` and ``pause_note``
      are written too.
    * ``jobs_to_delete``: ids of jobs that are done (no fire time left) and idle (no run
      going, waiting or due to retry): their store records go.
    * ``history``: a :class:`~tickwork._model.RunEnd` row for every run or scheduled
      fire that ended (success, failure, interrupted, missed, skipped), when
      :attr:`SchedulerCore.records <tickwork._core.SchedulerCore.records>` is set.
    * ``errors_to_log``: ``(message, exception, job id, fire time)`` to log at error
      level (the job and fire time: the record's run fields; a trigger
      that raised; the job is paused).
    """

    runs_to_start: list[tuple[str, RunRequest]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    jobs_to_save: list[Job] = field(default_factory=list)
    paused: set[str] = field(default_factory=set)
    jobs_to_delete: list[str] = field(default_factory=list)
    history: list[RunEnd] = field(default_factory=list)
    errors_to_log: list[tuple[str, BaseException, str, datetime]] = field(default_factory=list)

    def unwritten(self, jobs: list[Job]) -> list[Job]:
        """*jobs* as read from a store before this decision is written, as it will leave
        them: the counters of ``jobs_to_save`` put on (and a pause of the core's), the
        jobs of ``jobs_to_delete`` left out. A job another process gave a fire time
        since is not done after all: it stays, and leaves ``jobs_to_delete``. (A sync
        in the step that took in runs' ends: the core's copies replaced by the rows
        read, a job paused here for its failures ran on, a job done here was listed on.)
        """
        mine = {job.id: job for job in self.jobs_to_save}
        done = set(self.jobs_to_delete)
        kept = []
        for job in jobs:
            if job.id in mine:
                job = with_counters(job, mine[job.id], job.id in self.paused) or job
            if job.id in done:
                if job.next_fire is None:
                    continue
                self.jobs_to_delete.remove(job.id)
            kept.append(job)
        return kept

    # -- reports: one event each, appended to ``events`` --------------------------------

    def report_submitted(
        self, job_id: str, scheduled_at: datetime, attempt: int, *, at: datetime
    ) -> None:
        """A run was handed to its executor (``JOB_SUBMITTED``)."""
        self.events.append(
            Event(
                kind=EventKind.JOB_SUBMITTED,
                at=at,
                job_id=job_id,
                scheduled_at=scheduled_at,
                attempt=attempt,
            )
        )

    def report_executed(self, result: RunResult, *, at: datetime) -> None:
        """A run returned (``JOB_EXECUTED``, with what it returned)."""
        request = result.request
        self.events.append(
            Event(
                kind=EventKind.JOB_EXECUTED,
                at=at,
                job_id=request.job_id,
                scheduled_at=request.scheduled_at,
                attempt=request.attempt,
                return_value=result.return_value,
                started_at=result.started_at,
            )
        )

    def report_failed(
        self,
        job_id: str,
        scheduled_at: datetime,
        attempt: int,
        error: BaseException | None,
        *,
        at: datetime,
        started_at: datetime | None = None,
    ) -> None:
        """A run failed and is not retried (``JOB_FAILED``)."""
        self.events.append(
            Event(
                kind=EventKind.JOB_FAILED,
                at=at,
                job_id=job_id,
                scheduled_at=scheduled_at,
                attempt=attempt,
                exception=error,
                started_at=started_at,
            )
        )

    def report_retried(
        self,
        job_id: str,
        scheduled_at: datetime,
        attempt: int,
        error: BaseException | None,
        reason: str,
        *,
        at: datetime,
        started_at: datetime | None = None,
    ) -> None:
        """Attempt *attempt* ended by *error* and the next one is queued (``JOB_RETRIED``)."""
        self.events.append(
            Event(
                kind=EventKind.JOB_RETRIED,
                at=at,
                job_id=job_id,
                scheduled_at=scheduled_at,
                attempt=attempt,
                exception=error,
                reason=reason,
                started_at=started_at,
            )
        )

    def report_interrupted(
        self,
        job_id: str,
        scheduled_at: datetime,
        attempt: int,
        error: BaseException | None,
        reason: str,
        *,
        at: datetime,
        started_at: datetime | None = None,
    ) -> None:
        """A run was cut off and is not retried (``JOB_INTERRUPTED``)."""
        self.events.append(
            Event(
                kind=EventKind.JOB_INTERRUPTED,
                at=at,
                job_id=job_id,
                scheduled_at=scheduled_at,
                attempt=attempt,
                exception=error,
                reason=reason,
                started_at=started_at,
            )
        )

    def report_skipped(
        self, job_id: str, scheduled_at: datetime, attempt: int, reason: str, *, at: datetime
    ) -> None:
        """A run will not start (``JOB_SKIPPED``)."""
        self.events.append(
            Event(
                kind=EventKind.JOB_SKIPPED,
                at=at,
                job_id=job_id,
                scheduled_at=scheduled_at,
                attempt=attempt,
                reason=reason,
            )
        )

    def report_missed(
        self, job_id: str, oldest: datetime, count: int, reason: str, *, at: datetime
    ) -> None:
        """*count* fire times passed without a run, the oldest at *oldest* (``JOB_MISSED``)."""
        self.events.append(
            Event(
                kind=EventKind.JOB_MISSED,
                at=at,
                job_id=job_id,
                scheduled_at=oldest,
                missed=count,
                reason=reason,
            )
        )

    def report_paused(
        self,
        job_id: str,
        reason: str,
        *,
        at: datetime,
        scheduled_at: datetime | None = None,
        error: BaseException | None = None,
    ) -> None:
        """The core paused the job (``JOB_PAUSED``): failures in a row, or its trigger
        failed while the fire at *scheduled_at* was planned (*error*)."""
        self.events.append(
            Event(
                kind=EventKind.JOB_PAUSED,
                at=at,
                job_id=job_id,
                scheduled_at=scheduled_at,
                exception=error,
                reason=reason,
            )
        )
