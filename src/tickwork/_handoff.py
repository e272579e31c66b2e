"""Runs a process claimed and never started, left to the others that share its store
(at shutdown, or when a pause holds them back): an event run gives its event back, a
chained run its hand-over, another run its lease. And claimed runs let go unstarted,
overdue after a claim that waited long (for another process's write lock)."""

from __future__ import annotations

from datetime import datetime, timedelta

from ._chains import ChainLink
from ._decision import Decision
from ._emit import EventRouter
from ._instants import epoch_us
from ._model import Outcome, RunRequest, RunResult
from ._storelink import StoreLink

__all__ = ["hand_off", "overdue"]

#: A claim that took less than this lets no run pass its grace worth looking for.
_SLOW_CLAIM = timedelta(milliseconds=1)


def hand_off(
    router: EventRouter,
    chains: ChainLink,
    link: StoreLink,
    requests: list[RunRequest],
    now: datetime,
) -> list[bool]:
    """Leave *requests*, runs this process claimed and never started, to the processes
    that share the store (or its next start), due *now*: for each, whether it was left.
    An event run gives its event back, a chained run its hand-over (each runs again with
    what it carries), another run its lease (with its attempt); a run without a lease
    here (``run_job_now``) is not left."""
    every = [(request.job_id, request.scheduled_at, request.attempt, now) for request in requests]
    carried = router.leave_runs(every, now) | chains.leave(every, now)
    runs = [
        (request, run)
        for request, run in zip(requests, every, strict=True)
        if request.event is None and request.upstream is None
    ]
    nouns = ("run not started yet", "runs not started yet")
    kept = link.leave([run for _, run in runs], now, nouns)
    left = {id(request) for (request, _), ok in zip(runs, kept, strict=True) if ok}
    return [
        id(request) in left or (run[0], epoch_us(run[1]), run[2]) in carried
        for request, run in zip(requests, every, strict=True)
    ]


def overdue(batch: Decision, before: datetime, after: datetime) -> list[RunResult]:
    """The runs of *batch* claimed at *before* that are past their misfire grace at
    *after*, when the claim returned: taken off ``runs_to_start``, as their executor
    would have reported them (``MISSED``, not started). Reported in the same step, they
    leave their job's instance free for the fire times that came due meanwhile, which
    the next step plans (an executor reports later: the catch-up run found the job's
    one instance taken, and was skipped)."""
    if after - before < _SLOW_CLAIM:
        return []
    missed: list[RunResult] = []
    kept = []
    for run in batch.runs_to_start:
        request = run[1]
        grace = request.misfire_grace
        if grace is not None and after - request.scheduled_at > grace:
            missed.append(RunResult(request, Outcome.MISSED, finished_at=after))
        else:
            kept.append(run)
    if missed:
        batch.runs_to_start = kept
    return missed
