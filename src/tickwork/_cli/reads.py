"""The commands that read: ``next``, ``explain``, ``jobs``, ``history``.

``next`` and ``explain`` take a cron expression (``next "0 9 * * mon-fri"``) or a job
of a store (``next STORE JOB_ID``); the others take a store. None of them changes the
store (see :mod:`.stores`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from .._errors import JobLookupError
from .._model import Job, Outcome, Run
from .._planning import upcoming_fires, within_window
from .._tz import coerce_timezone, timezone_name
from ..stores import JobStore
from ..triggers import CronTrigger, Trigger
from .output import Output, Progress, describe, explain, iso, job_data, run_data
from .stores import is_dsn, reading

__all__ = [
    "NOT_SUCCESS",
    "OUTCOME_STYLES",
    "explain_command",
    "failures",
    "history_command",
    "instant",
    "jobs_command",
    "load_job",
    "next_command",
]

#: Outcomes that ``history --failed`` shows: every run that did not succeed.
NOT_SUCCESS = frozenset({Outcome.FAILURE, Outcome.INTERRUPTED, Outcome.MISSED, Outcome.SKIPPED})
#: How many runs ``history --failed`` searches at most for the failures it shows.
_SEARCH_LIMIT = 100_000
#: The colour of each outcome in tables.
OUTCOME_STYLES = {
    Outcome.SUCCESS: "green",
    Outcome.FAILURE: "red",
    Outcome.INTERRUPTED: "red",
    Outcome.MISSED: "yellow",
    Outcome.SKIPPED: "yellow",
}
#: How late a job's next fire may be before ``jobs`` shows it in yellow.
_LATE = timedelta(seconds=60)


def instant(value: str, option: str) -> datetime:
    """The aware datetime an option gives in ISO 8601."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{option} {value!r} is not an ISO 8601 datetime, e.g. 2024-05-01T09:00:00+02:00"
        ) from None
    if moment.tzinfo is None:
        # The hint is the full form of what was typed, which fromisoformat reads back:
        # appending an offset to a bare date ("2024-03-09+00:00") gives a naive datetime.
        hint = moment.replace(tzinfo=timezone.utc).isoformat()
        raise ValueError(f"{option} must carry an offset, e.g. {hint}")
    return moment


def load_job(store: JobStore, name: str, job_id: str) -> Job:
    """The job *job_id* of *store*, or a clear error naming it and the store."""
    broken = store.broken_jobs().get(job_id)
    if broken is not None:
        raise JobLookupError(f"job {job_id!r} in {name} is broken: {broken}")
    try:
        return store.get_job(job_id)
    except JobLookupError:
        broken = store.broken_jobs().get(job_id)  # (a row this read could not decode)
        if broken is not None:
            raise JobLookupError(f"job {job_id!r} in {name} is broken: {broken}") from None
        raise JobLookupError(f"no job {job_id!r} in {name}") from None


def _target(args: argparse.Namespace) -> tuple[str, str | None]:
    """(expression, None) or (store, job id), from ``next``'s or ``explain``'s words."""
    words: list[str] = args.target
    if len(words) == 1:
        if args.schema is not None:
            raise ValueError("--schema is for a store: give STORE JOB_ID")
        return words[0], None
    if len(words) == 2:
        if args.hash_key is not None:
            raise ValueError("--hash-key is for an expression: a stored job hashes its id")
        return words[0], words[1]
    raise ValueError(
        f"{args.command} takes a cron expression, or a store and a job id; got "
        f"{len(words)} words: {' '.join(map(repr, words))} (quote the expression)"
    )


def _count(value: int, option: str) -> int:
    if value < 1:
        raise ValueError(f"{option} must be 1 or more, got {value}")
    return value


def _previous(trigger: Trigger, before: datetime, count: int, job: Job | None) -> list[datetime]:
    """The *count* fire times of *trigger* before *before*, newest first (of a job: those
    inside its start and end)."""
    method = getattr(trigger, "previous_times", None)
    if method is None:
        raise ValueError(
            f"this version of tickwork cannot list the previous fire times of a "
            f"{type(trigger).__name__} (it has no previous_times)"
        )
    times: list[datetime] = list(method(before, count))
    if job is not None:
        times = [moment for moment in times if within_window(job, moment)]
    return times


def _upcoming(job: Job, after: datetime | None, now: datetime, count: int) -> list[datetime]:
    """A job's next *count* fire times (:func:`~tickwork._planning.upcoming_fires`)."""
    return upcoming_fires(job, count, now, after)


def _print_times(out: Output, times: Sequence[datetime], zone: tzinfo | None) -> None:
    for moment in times:
        shown = moment if zone is None else moment.astimezone(zone)
        out.line(f"  {shown.isoformat()}  ({moment.astimezone(timezone.utc):%H:%M:%S} UTC)")


def _times_section(
    args: argparse.Namespace,
    trigger: Trigger,
    job: Job | None,
    now: datetime,
    shown: tzinfo | None = None,
) -> tuple[str, list[datetime], dict[str, Any]]:
    """What ``--previous`` or the upcoming times show: a heading, the times, and their
    JSON keys (the times in *shown*, a stored job's ``--tz``, when given)."""
    if args.previous is not None:
        _count(args.previous, "--previous")
        if getattr(args, "after", None) is not None:
            raise ValueError("give --after for the next fire times or --previous, not both")
        before = now if args.before is None else instant(args.before, "--before")
        times = _previous(trigger, before, args.previous, job)
        heading = f"The {len(times)} fire times before {before.isoformat()}, newest first:"
        return heading, times, {"before": iso(before), "previous": [iso(t, shown) for t in times]}
    if args.before is not None:
        raise ValueError("--before goes with --previous N")
    count = _count(getattr(args, "count", 5), "--count")
    after = None if getattr(args, "after", None) is None else instant(args.after, "--after")
    if job is None:
        start = now if after is None else after
        times = trigger.next_times(start, count)
        return "", times, {"after": iso(start), "next": [iso(t) for t in times]}
    times = _upcoming(job, after, now, count)
    heading = "Next fire times" + (" (as if resumed now):" if job.paused and after is None else ":")
    return heading, times, {"after": iso(after), "next": [iso(t, shown) for t in times]}


def next_command(args: argparse.Namespace, out: Output) -> int:
    """``next EXPRESSION`` or ``next STORE JOB_ID``: the next (or previous) fire times."""
    return _times_command(args, out, explaining=False)


def explain_command(args: argparse.Namespace, out: Output) -> int:
    """``explain EXPRESSION`` or ``explain STORE JOB_ID``: the schedule in words."""
    return _times_command(args, out, explaining=True)


def _times_command(args: argparse.Namespace, out: Output, *, explaining: bool) -> int:
    first, job_id = _target(args)
    now = datetime.now(timezone.utc)
    if job_id is None:
        zone = coerce_timezone(args.tz, "--tz") if (args.tz or not explaining) else timezone.utc
        trigger = CronTrigger(first, timezone=zone, hash_key=args.hash_key)
        if trigger.is_hashed and trigger.hash_key is None:
            # (The trigger's own message tells a programmer to pass hash_key=.)
            raise ValueError(
                f"cron expression {first!r} has hashed values (H): give --hash-key KEY, the "
                "text they are hashed from (a job's id gives the times that job has)"
            )
        words = trigger.explain()
        data: dict[str, Any] = {
            "expression": first,
            "timezone": timezone_name(zone),
            "description": words,
        }
        if explaining and args.previous is None:
            if out.as_json:
                out.json(data)
            else:
                out.line(words)
            return 0
        heading, times, extra = _times_section(args, trigger, None, now)
        if out.as_json:
            out.json({**data, **extra})
            return 0
        out.line(f"{words} ({timezone_name(zone)})")
        if heading:
            out.line(heading)
        _print_times(out, times, None)
        return 0
    shown = None if args.tz is None else coerce_timezone(args.tz, "--tz")
    with reading(first, args.schema) as (store, name):
        job = load_job(store, name, job_id)
    data = {"store": name, "job": job_data(job, shown)}
    if explaining and args.previous is None:
        if out.as_json:
            out.json(data)
            return 0
        _job_summary(out, job, shown)
        return 0
    heading, times, extra = _times_section(args, job.trigger, job, now, shown)
    if out.as_json:
        out.json({**data, **extra})
        return 0
    if explaining:
        _job_summary(out, job, shown)
    else:
        out.line(f"Job {job.id!r}: {explain(job.trigger)}")
    out.line(heading)
    _print_times(out, times, shown)
    if not times:
        out.line("  (none)")
    return 0


def _job_summary(out: Output, job: Job, zone: tzinfo | None) -> None:
    words = explain(job.trigger)
    out.line(f"Job {job.id!r}: {words}")
    if describe(job.trigger) != words:
        out.line(f"  trigger:    {describe(job.trigger)}")
    out.line(f"  function:   {job.func_ref or '-'}")
    out.line(f"  next fire:  {_when(job.next_fire, zone)}")
    if job.paused:
        note = f": {_cell(job.pause_note)}" if job.pause_note else ""
        out.line(f"  paused:     yes{note}", "yellow")
    if job.remaining_runs is not None:
        out.line(f"  remaining:  {job.remaining_runs} run(s)")
    if job.consecutive_failures:
        out.line(f"  failures:   {job.consecutive_failures} in a row", "red")


# -- jobs ---------------------------------------------------------------------------------


def jobs_command(args: argparse.Namespace, out: Output) -> int:
    """``jobs STORE``: every job, soonest first, and the broken ones."""
    zone = None if args.tz is None else coerce_timezone(args.tz, "--tz")
    now = datetime.now(timezone.utc)
    with reading(args.db, args.schema) as (store, name):
        # Marks first: loading a row that decodes clears its stored mark (in the copy),
        # though the scheduler set it because the row's function did not import.
        broken = store.broken_jobs()
        jobs = store.get_jobs()
        broken |= store.broken_jobs()  # and the rows this load could not decode
    jobs = [job for job in jobs if job.id not in broken]
    if out.as_json:
        out.json(
            {
                "store": name,
                "jobs": [job_data(job, zone) for job in jobs],
                "broken": [{"id": key, "reason": broken[key]} for key in sorted(broken)],
            }
        )
        return 0
    rows = [
        [
            _cell(job.id),
            _when(job.next_fire, zone),
            _paused(job),
            describe(job.trigger),
            _cell(job.func_ref or "-"),  # as text: looking imports nothing
        ]
        for job in jobs
    ]
    styles = [
        [
            "red" if job.consecutive_failures else None,
            "yellow" if _late(job, now) else None,
            "yellow" if job.paused else None,
            None,
            None,
        ]
        for job in jobs
    ]
    if rows:
        out.line(f"Jobs in {name} ({len(rows)}), soonest first:")
        out.table(
            ["ID", "NEXT FIRE", "PAUSED", "TRIGGER", "FUNCTION"], rows, keep=(0, 1), styles=styles
        )
    else:
        out.line(f"No jobs in {name}.")
    if broken:
        where = "the database" if is_dsn(args.db) else "the file"
        out.line(f"\nBroken jobs ({len(broken)}), kept in {where} but not run:")
        out.table(
            ["ID", "REASON"],
            [[key, _cell(broken[key])] for key in sorted(broken)],
            keep=(0,),
            styles=[["red", None]] * len(broken),
        )
    else:
        out.line("\nBroken jobs: none.")
    return 0


def _late(job: Job, now: datetime) -> bool:
    return not job.paused and job.next_fire is not None and job.next_fire < now - _LATE


# -- history ------------------------------------------------------------------------------


def history_command(args: argparse.Namespace, out: Output) -> int:
    """``history STORE``: the newest runs, newest first."""
    limit = args.limit
    if limit < 1:
        raise ValueError(f"--limit must be 1 or more, got {limit}")
    zone = None if args.tz is None else coerce_timezone(args.tz, "--tz")
    job_id, failed = args.job, args.failed
    with reading(args.db, args.schema) as (store, name):
        runs = failures(store, job_id, limit) if failed else store.history(job_id, limit=limit)
    if out.as_json:
        out.json({"store": name, "runs": [run_data(run, zone) for run in runs]})
        return 0
    kind = "failed " if failed else ""
    of = "" if job_id is None else f" of job {job_id!r}"
    if not runs:
        out.line(f"No {kind}runs{of} recorded in {name}.")
        return 0
    noun = "run" if len(runs) == 1 else "runs"
    out.line(f"The newest {len(runs)} {kind}{noun}{of} in {name}, newest first:")
    out.table(
        ["SCHEDULED AT", "JOB", "ATTEMPT", "OUTCOME", "DURATION", "PROCESS", "ERROR"],
        [_run_row(run, zone) for run in runs],
        right=(2, 4),
        # The time and the job are kept whole; the others left out when the width is
        # short: the process first, the outcome last.
        keep=(0, 1),
        drop=(5, 4, 2, 6, 3),
        styles=[
            [None, None, None, OUTCOME_STYLES.get(run.outcome), None, None, None] for run in runs
        ],
    )
    return 0


def failures(store: JobStore, job_id: str | None, limit: int) -> list[Run]:
    """The newest *limit* runs that did not succeed, searching ever more of the history
    (successes usually outnumber them) until there are enough or it runs out."""
    progress = Progress("searching the history")
    fetch = limit * 10
    try:
        while True:
            fetch = min(fetch, _SEARCH_LIMIT)
            progress.update(fetch)
            runs = store.history(job_id, limit=fetch)
            found = [run for run in runs if run.outcome in NOT_SUCCESS][:limit]
            if len(found) == limit or len(runs) < fetch or fetch == _SEARCH_LIMIT:
                return found
            fetch *= 10
    finally:
        progress.done()


def _run_row(run: Run, zone: tzinfo | None) -> list[str]:
    duration = run.duration
    error = ": ".join(part for part in (run.error_type, run.error_message) if part)
    return [
        _when(run.scheduled_at, zone),
        _cell(run.job_id),
        str(run.attempt),
        run.outcome.value,
        "-" if duration is None else f"{duration.total_seconds():.3f} s",
        _cell(run.process),
        _cell(error),
    ]


def _when(moment: datetime | None, zone: tzinfo | None) -> str:
    if moment is None:
        return "-"
    return (moment if zone is None else moment.astimezone(zone)).isoformat()


def _paused(job: Job) -> str:
    if not job.paused:
        return "no"
    return "yes" if not job.pause_note else _cell(f"yes: {job.pause_note}")


def _cell(text: str) -> str:
    """*text* on one line (runs of white space, newlines included, become one space);
    whole: the table cuts it to the terminal's width, and into a pipe it stays whole."""
    return " ".join(text.split())
