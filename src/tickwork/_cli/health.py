"""``check``: a health probe for cron monitors and Kubernetes.

Exit status 0 when every job checked is healthy; 1 with the reasons, one per line,
when one is broken, late beyond its grace, or failed its last N runs (or a job named
with ``--job`` is not in the store); 2 when the command is wrong or the store cannot be
read (as every command).
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone
from typing import Any

from .._checks import seconds
from .._model import Job, Outcome
from .output import Output, Progress, iso
from .stores import reading

__all__ = ["FAILING", "UNHEALTHY", "check_command"]

#: The exit status of an unhealthy store.
UNHEALTHY = 1
#: The outcomes that count as a failed run.
FAILING = frozenset({Outcome.FAILURE, Outcome.INTERRUPTED})
_STYLES = {"broken": "red", "failing": "red", "missing": "red", "late": "yellow"}


def check_command(args: argparse.Namespace, out: Output) -> int:
    """Check the jobs of a store; return 0 (healthy) or 1 (unhealthy)."""
    runs_wanted = args.failures
    if runs_wanted < 1:
        raise ValueError(f"--failures must be 1 or more, got {runs_wanted}")
    default_grace = timedelta(seconds=seconds(args.grace, "--grace"))
    wanted = None if not args.job else list(dict.fromkeys(args.job))
    now = datetime.now(timezone.utc)
    problems: list[dict[str, Any]] = []

    def problem(kind: str, job_id: str, message: str) -> None:
        problems.append({"job_id": job_id, "problem": kind, "message": message})

    with reading(args.db, args.schema) as (store, name):
        broken = store.broken_jobs()
        jobs = store.get_jobs()
        broken |= store.broken_jobs()
        known = {job.id for job in jobs} | set(broken)
        for job_id in wanted or ():
            if job_id not in known:
                problem("missing", job_id, f"job {job_id!r} is not in {name}")
        for job_id in sorted(broken):
            if wanted is None or job_id in wanted:
                problem("broken", job_id, f"job {job_id!r} is broken: {broken[job_id]}")
        checked = [
            job
            for job in jobs
            if job.id not in broken
            and (wanted is None or job.id in wanted)
            and not (args.ignore_paused and job.paused)
        ]
        progress = Progress("checking jobs")
        try:
            for done, job in enumerate(checked):
                progress.update(done, len(checked))
                late = _lateness(job, now, default_grace)
                if late is not None:
                    problem("late", job.id, late)
                runs = store.history(job.id, limit=runs_wanted)
                if len(runs) == runs_wanted and all(run.outcome in FAILING for run in runs):
                    last = runs[0]
                    error = ": ".join(p for p in (last.error_type, last.error_message) if p)
                    error = " ".join(error.split())[:200]
                    noun = "run" if runs_wanted == 1 else f"{runs_wanted} runs"
                    problem(
                        "failing",
                        job.id,
                        f"job {job.id!r} failed its last {noun}"
                        + (f" (last: {error})" if error else ""),
                    )
            progress.update(len(checked), len(checked))
        finally:
            progress.done()
    healthy = not problems
    count = len(checked) + sum(1 for key in broken if wanted is None or key in wanted)
    if out.as_json:
        out.json(
            {
                "store": name,
                "healthy": healthy,
                "checked": count,
                "now": iso(now),
                "problems": problems,
            }
        )
    elif healthy:
        out.line(f"OK: {count} job(s) checked in {name}", "green")
    else:
        for item in problems:
            out.line(f"{item['problem']}: {item['message']}", _STYLES[item["problem"]])
    return 0 if healthy else UNHEALTHY


def _lateness(job: Job, now: datetime, default_grace: timedelta) -> str | None:
    """Why *job* is late (its stored next fire is older than its grace allows), or None.
    A paused job is never late."""
    if job.paused or job.next_fire is None:
        return None
    grace = job.misfire_grace_time if job.misfire_grace_time is not None else default_grace
    overdue = now - job.next_fire
    if overdue <= grace:
        return None
    return (
        f"job {job.id!r} is late: its fire of {job.next_fire.isoformat()} is "
        f"{overdue.total_seconds():.0f} s overdue (grace {grace.total_seconds():g} s); "
        "is a scheduler running?"
    )
