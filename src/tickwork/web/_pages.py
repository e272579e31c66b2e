"""The dashboard's pages, rendered as HTML strings from what a source answers.

Each page function returns a :class:`Page`: its title, the controls that stay put
while the page updates itself (filter forms), and the body that the page's script
fetches again every few seconds (the ``#live`` part). Nothing here does I/O but reading
the source; nothing here knows of WSGI or ASGI.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .. import DateTrigger, IntervalTrigger, Job, Outcome, Run, TickworkError, Trigger
from .._instants import just_before as instants_before
from ..stores import LeaseInfo
from ..triggers.event import listens_for_events
from ._charts import durations_chart, outcomes_chart
from ._format import ago, badge, h, link, outcome_badge, seconds_text, when
from ._source import Source, us

__all__ = [
    "LATE_AFTER",
    "JobsQuery",
    "Page",
    "RunsQuery",
    "View",
    "describe",
    "dst_notes",
    "job_page",
    "jobs_page",
    "processes_page",
    "runs_page",
]

#: A job whose next fire time is this far past is shown late.
LATE_AFTER = timedelta(seconds=1)
#: Runs read for the charts and the jobs page's "last run" column (the chart says so
#: when they do not reach back an hour).
RECENT_RUNS = 10_000
#: Runs of one job read for its page's charts.
JOB_RUNS = 5_000
#: How far back the runs page pages, at most.
RUNS_WINDOW = 10_000


@dataclass(frozen=True)
class View:
    """What every page needs: where it is mounted, what it reads, what it may show."""

    base: str
    source: Source
    now: datetime
    actions: bool
    csrf: str
    show_args: bool


@dataclass(frozen=True)
class Page:
    title: str
    body: str
    controls: str = ""


@dataclass(frozen=True)
class JobsQuery:
    text: str = ""
    state: str = "all"
    page: int = 1
    per_page: int = 100


@dataclass(frozen=True)
class RunsQuery:
    job: str = ""
    outcome: Outcome | None = None
    page: int = 1
    per_page: int = 50


JOB_STATES = ("all", "late", "paused", "broken", "scheduled", "finished")


def describe(trigger: Trigger) -> str:
    """The schedule in words: the trigger's ``explain()`` where it has one, else what
    its data says (an interval, a date), else its repr."""
    explain = getattr(trigger, "explain", None)
    if callable(explain):
        try:
            text = explain()
        except Exception:  # an explanation is a nicety: never fail the page for one
            text = None
        if isinstance(text, str) and text:
            return text
    data = trigger.to_dict()
    kind = data.get("type")
    if kind == "interval":
        parts = [
            f"{data[unit]} {unit[:-1] if data[unit] == 1 else unit}"
            for unit in ("weeks", "days", "hours", "minutes", "seconds")
            if data.get(unit)
        ]
        if parts:
            return "Every " + ", ".join(parts)
    if kind == "date" and data.get("run_date"):
        return f"Once, at {data['run_date']}"
    return repr(trigger)


def _state(job: Job, now: datetime, broken: Mapping[str, str]) -> str:
    if job.id in broken:
        return "broken"
    if job.paused:
        return "paused"
    if job.next_fire is None:
        # One started by events or after other jobs is never done for lack of times.
        return "scheduled" if _waits_for_others(job) else "finished"
    if now - job.next_fire >= LATE_AFTER:
        return "late"
    return "scheduled"


def _state_cell(job: Job, now: datetime, broken: Mapping[str, str]) -> str:
    state = _state(job, now, broken)
    if state == "broken":
        text = badge("broken", "broken") + f' <span class="error">{h(broken[job.id])}</span>'
    elif state == "paused":
        text = badge("paused", "paused")
        if job.pause_note:
            text += f' <span class="note">{h(job.pause_note)}</span>'
    elif state == "late":
        assert job.next_fire is not None
        late = (now - job.next_fire) / timedelta(seconds=1)
        text = badge(f"late {seconds_text(late)}", "late")
    elif state == "finished":
        text = badge("no more fire times", "finished")
    else:
        text = badge("scheduled", "scheduled")
    if job.consecutive_failures:
        text += " " + badge(f"{job.consecutive_failures} failed in a row", "failure")
    return text


def _waits_for_others(job: Job) -> bool:
    """Whether *job* runs on events or after other jobs (so has no time of its own)."""
    return bool(job.after) or listens_for_events(job.trigger)


def _next_cell(job: Job, now: datetime) -> str:
    if job.paused:
        return '<span class="muted">none while paused</span>'
    if job.next_fire is None:
        if listens_for_events(job.trigger):
            return '<span class="muted">on its events</span>'
        if job.after:
            return '<span class="muted">after its upstream jobs</span>'
        return '<span class="muted">none</span>'
    return f'{h(when(job.next_fire))} <span class="muted">{h(ago(job.next_fire, now))}</span>'


def _hidden(view: View, job_id: str, back: str) -> str:
    return (
        f'<input type="hidden" name="csrf" value="{h(view.csrf)}">'
        f'<input type="hidden" name="job_id" value="{h(job_id)}">'
        f'<input type="hidden" name="next" value="{h(back)}">'
    )


def _action(view: View, action: str, job_id: str, label: str, back: str, confirm: str = "") -> str:
    ask = f' data-confirm="{h(confirm)}"' if confirm else ""
    return (
        f'<form class="inline" method="post" action="{link(view.base, "/actions/" + action)}"{ask}>'
        f"{_hidden(view, job_id, back)}"
        f'<button type="submit" class="action {h(action)}" data-action="{h(action)}">'
        f"{h(label)}</button></form>"
    )


def _actions(view: View, job: Job, back: str) -> str:
    if not view.actions:
        return ""
    parts = []
    if job.paused:
        parts.append(_action(view, "resume", job.id, "Resume", back))
    else:
        parts.append(_action(view, "pause", job.id, "Pause", back))
    parts.append(_action(view, "run", job.id, "Run now", back))
    if back == "job":
        parts.append(
            _action(view, "remove", job.id, "Remove", back, confirm=f"Remove job {job.id}?")
        )
    return " ".join(parts)


def _run_cell(run: Run | None, now: datetime) -> str:
    if run is None:
        return '<span class="muted">none recorded</span>'
    moment = run.finished_at or run.scheduled_at
    took = "" if run.duration is None else f", took {seconds_text(run.duration.total_seconds())}"
    return (
        f'{outcome_badge(run.outcome)} <span title="{h(when(moment))}">{h(ago(moment, now))}'
        f"{h(took)}</span>"
    )


def _last_runs(source: Source, jobs: Sequence[Job], recent: Sequence[Run]) -> dict[str, Run]:
    """The newest recorded run of each job: from the recent runs read for the charts,
    then one read per job (of those shown) that had none among them."""
    last: dict[str, Run] = {}
    for run in recent:
        last.setdefault(run.job_id, run)
    if len(recent) >= RECENT_RUNS:
        for job in jobs:
            if job.id not in last:
                found = source.history(job.id, 1)
                if found:
                    last[job.id] = found[0]
    return last


def _cut_short(runs: Sequence[Run], limit: int, now: datetime) -> str:
    """A note for a chart of the last hour when the *limit* newest *runs* read for it do
    not reach back that far (the bars before the oldest are missing, not empty)."""
    if len(runs) < limit or not runs:
        return ""
    oldest = runs[-1].finished_at or runs[-1].scheduled_at
    if now - oldest > timedelta(hours=1):
        return ""
    return f"; the newest {limit:,} runs only, since {oldest.astimezone(now.tzinfo):%H:%M}"


def _pager(view: View, path: str, page: int, more: bool, **params: object) -> str:
    parts = []
    newer, older = ("← newer", "older →") if path == "/runs" else ("← previous", "next →")
    if page > 1:
        href = link(view.base, path, page=page - 1, **params)
        parts.append(f'<a rel="prev" href="{href}">{newer}</a>')
    parts.append(f"<span>page {page}</span>")
    if more:
        parts.append(
            f'<a rel="next" href="{link(view.base, path, page=page + 1, **params)}">{older}</a>'
        )
    return f'<nav class="pager">{" ".join(parts)}</nav>'


# -- jobs -------------------------------------------------------------------------------


def jobs_page(view: View, query: JobsQuery) -> Page:
    source, now = view.source, view.now
    jobs = source.jobs()
    broken = source.broken()
    recent = source.history(None, RECENT_RUNS)
    counts = dict.fromkeys(JOB_STATES, 0)
    states = [_state(job, now, broken) for job in jobs]
    for state in states:
        counts[state] += 1
    loaded = {job.id for job in jobs}
    # A store leaves a job it cannot load out of get_jobs(); one that loads but is
    # marked broken (its function no longer imports here) is among the jobs.
    unloaded = {job_id: reason for job_id, reason in broken.items() if job_id not in loaded}
    counts["broken"] += len(unloaded)
    counts["all"] = len(jobs) + len(unloaded)
    text = query.text.casefold()
    shown = [
        job
        for job, state in zip(jobs, states, strict=True)
        if (query.state in ("all", state)) and (not text or text in job.id.casefold())
    ]
    broken_shown = []
    if query.state in ("all", "broken"):
        broken_shown = [
            (job_id, reason)
            for job_id, reason in unloaded.items()
            if not text or text in job_id.casefold()
        ]
    first = (query.page - 1) * query.per_page
    page_jobs = shown[first : first + query.per_page]
    more = len(shown) > first + query.per_page
    last = _last_runs(source, page_jobs, recent)

    hour = [
        run for run in recent if now - (run.finished_at or run.scheduled_at) <= timedelta(hours=1)
    ]
    by_outcome = dict.fromkeys(Outcome, 0)
    for run in hour:
        by_outcome[run.outcome] += 1
    summary = " ".join(
        f'<a class="count {state}" href="{link(view.base, "/", state=state)}">'
        f"<b>{counts[state]:,}</b> {state}</a>"
        for state in JOB_STATES
    )
    last_hour = " · ".join(f"{count:,} {outcome.value}" for outcome, count in by_outcome.items())
    last_hour += _cut_short(recent, RECENT_RUNS, now)
    rows = []
    for job in page_jobs:
        rows.append(
            f'<tr data-job="{h(job.id)}"><td class="id">'
            f'<a href="{link(view.base, "/job", id=job.id)}">{h(job.id)}</a></td>'
            f"<td>{h(describe(job.trigger))}</td>"
            f"<td>{_next_cell(job, now)}</td>"
            f"<td>{_run_cell(last.get(job.id), now)}</td>"
            f'<td class="state">{_state_cell(job, now, broken)}</td>'
            + (f'<td class="actions">{_actions(view, job, "jobs")}</td>' if view.actions else "")
            + "</tr>"
        )
    if first == 0:  # (they are not paged: they come after the first page's jobs)
        for job_id, reason in broken_shown:
            rows.append(
                f'<tr data-job="{h(job_id)}" class="broken"><td class="id">'
                f'<a href="{link(view.base, "/job", id=job_id)}">{h(job_id)}</a></td>'
                f'<td colspan="3" class="error">{h(reason)}</td>'
                f'<td class="state">{badge("broken", "broken")}</td>'
                + ("<td></td>" if view.actions else "")
                + "</tr>"
            )
    head = "<th>Job</th><th>Schedule</th><th>Next run</th><th>Last run</th><th>State</th>"
    if view.actions:
        head += "<th>Actions</th>"
    shown_count = len(shown) + len(broken_shown)
    span = (
        f"jobs {first + 1:,}-{first + len(page_jobs):,} of {len(shown):,}"
        if page_jobs
        else f"{shown_count:,} jobs match"
    )
    body = (
        f'<section class="summary">{summary}</section>'
        f'<section class="charts"><figure><figcaption>Runs per minute, last hour '
        f'<span class="muted">({h(last_hour)})</span></figcaption>{outcomes_chart(recent, now)}'
        f"</figure><figure><figcaption>Durations of the latest runs</figcaption>"
        f"{durations_chart(recent)}</figure></section>"
        f'<p class="muted">{span}</p>'
        f'<table class="jobs"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        + ("" if rows else '<p class="empty">No jobs here.</p>')
        + _pager(
            view,
            "/",
            query.page,
            more,
            q=query.text,
            state=query.state,
            per_page=query.per_page if query.per_page != JobsQuery.per_page else None,
        )
    )
    options = "".join(
        f'<option value="{state}"{" selected" if state == query.state else ""}>{state}</option>'
        for state in JOB_STATES
    )
    controls = (
        f'<form class="filters" method="get" action="{link(view.base, "/")}">'
        f'<label>Job id contains <input type="search" name="q" value="{h(query.text)}"></label> '
        f'<label>State <select name="state">{options}</select></label> '
        '<button type="submit">Show</button></form>'
    )
    return Page("Jobs", body, controls)


# -- one job ----------------------------------------------------------------------------


def _offset_text(offset: timedelta | None) -> str:
    if offset is None:
        return "?"
    minutes = int(offset / timedelta(minutes=1))
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{rest:02d}"


def dst_notes(times: Sequence[datetime], now: datetime, *, wall: bool = True) -> list[str]:
    """A note for each fire time (empty when there is nothing to say): where its UTC
    offset differs from the previous fire's (for the first, from now's in its zone, or
    for a first fire already past, a late job's, from the instant before it);
    where its wall time happens twice (a fall-back overlap), and which pass it is, for
    any trigger (the note is about the time shown); and, for a trigger of wall-clock
    times (*wall*: cron, calendar; not an interval of elapsed time), where it falls
    just at the end of a spring-forward gap (where a wall time in the gap is shifted)."""
    notes: list[str] = []
    previous: datetime | None = None
    for moment in times:
        zone = moment.tzinfo
        before = previous
        if before is None:
            # (A late job's first fire is past: no change of offset comes between now
            # and it, so it is compared with the instant before it.)
            before = now if now < moment else instants_before(moment)
            before = before.astimezone(zone)
        said: list[str] = []
        old, new = before.utcoffset(), moment.utcoffset()
        if old != new:
            turn = "later" if (new or timedelta()) > (old or timedelta()) else "earlier"
            said.append(
                f"UTC offset {_offset_text(old)} → {_offset_text(new)} "
                f"(clocks {turn}: DST {'starts' if turn == 'later' else 'ends'} before this fire)"
            )
        just_before = instants_before(moment).astimezone(zone)
        if wall and (just_before.utcoffset() or timedelta()) < (new or timedelta()):
            gap = (new or timedelta()) - (just_before.utcoffset() or timedelta())
            naive = moment.replace(tzinfo=None)
            said.append(
                f"first instant after a DST gap: wall times {naive - gap:%H:%M}-{naive:%H:%M} "
                "did not exist; a time in the gap is shifted here"
            )
        other = moment.replace(fold=1 - moment.fold)
        if other.utcoffset() != new:
            which = "first" if moment.fold == 0 else "second"
            said.append(
                f"{moment:%H:%M} happens twice that night (clocks fall back); this is the "
                f"{which} pass"
            )
        notes.append("; ".join(said))
        previous = moment
    return notes


def _options_rows(view: View, job: Job) -> list[tuple[str, str]]:
    rows = [
        ("Name", job.name),
        ("Function", str(job.func_ref or getattr(job.func, "__qualname__", "?"))),
        ("Executor", job.executor),
    ]
    if job.tags:
        rows.append(("Tags", ", ".join(sorted(job.tags))))
    if view.show_args:
        rows.append(("Arguments", repr(tuple(job.args))))
        rows.append(("Keyword arguments", repr(dict(job.kwargs))))
    else:
        rows.append(("Arguments", "hidden (build the dashboard with show_args=True to show them)"))
    grace = job.misfire_grace_time
    rows += [
        ("Misfire grace time", "none" if grace is None else seconds_text(grace.total_seconds())),
        (
            "Catch-up",
            job.catchup.value
            + (f" (up to {job.max_catchup})" if job.catchup.value == "all" else ""),
        ),
        ("Overlap", f"{job.overlap.value}, at most {job.max_instances} at once"),
    ]
    if job.retry is not None:
        rows.append(
            (
                "Retries",
                f"{job.retry.attempts} attempts, first after {seconds_text(job.retry.delay)}",
            )
        )
    if job.timeout is not None:
        rows.append(("Timeout", seconds_text(job.timeout)))
    if job.remaining_runs is not None:
        rows.append(("Runs left", str(job.remaining_runs)))
    if job.start is not None or job.end is not None:
        rows.append(("Window", f"{when(job.start)} to {when(job.end)}"))
    return rows


def _runs_table(view: View, runs: Iterable[Run], *, with_job: bool) -> str:
    rows = []
    for run in runs:
        lateness = ""
        if run.started_at is not None:
            lateness = seconds_text((run.started_at - run.scheduled_at).total_seconds())
        took = "" if run.duration is None else seconds_text(run.duration.total_seconds())
        error = ""
        if run.error_type or run.error_message:
            label = ": ".join(part for part in (run.error_type, run.error_message) if part)
            error = f'<span class="error">{h(label)}</span>'
            trace = view.source.traceback(run)
            if trace:
                error += f"<details><summary>traceback</summary><pre>{h(trace)}</pre></details>"
        job_cell = (
            f'<td class="id"><a href="{link(view.base, "/job", id=run.job_id)}">'
            f"{h(run.job_id)}</a></td>"
            if with_job
            else ""
        )
        rows.append(
            f'<tr class="run {h(run.outcome.value)}">{job_cell}'
            f"<td>{h(when(run.scheduled_at))}</td><td>{h(when(run.started_at))}</td>"
            f"<td>{h(took)}</td><td>{h(lateness)}</td>"
            f"<td>{outcome_badge(run.outcome)}</td><td>{run.attempt}</td>"
            f"<td>{h(run.process)}</td><td>{error}</td></tr>"
        )
    head = "<th>Job</th>" if with_job else ""
    head += (
        "<th>Scheduled</th><th>Started</th><th>Took</th><th>Late by</th><th>Outcome</th>"
        "<th>Attempt</th><th>Process</th><th>Error</th>"
    )
    if not rows:
        return '<p class="empty">No runs recorded.</p>'
    return (
        f'<table class="runs"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _timeline(runs: Sequence[Run]) -> str:
    """The recent runs as a strip of squares, oldest on the left (Airflow's grid, one row)."""
    cells = []
    for run in reversed(runs[:60]):
        took = (
            "" if run.duration is None else f", took {seconds_text(run.duration.total_seconds())}"
        )
        cells.append(
            f'<span class="cell {h(run.outcome.value)}" '
            f'title="{h(when(run.scheduled_at))}: {h(run.outcome.value)}{h(took)}"></span>'
        )
    return f'<div class="timeline">{"".join(cells)}</div>'


def job_page(view: View, job: Job | None, job_id: str, broken_reason: str | None) -> Page:
    source, now = view.source, view.now
    runs = source.history(job_id, JOB_RUNS)
    if job is None:
        body = (
            f'<p>{badge("broken", "broken")} <span class="error">{h(broken_reason)}</span></p>'
            "<p>The store keeps this job but cannot load it; it does not run until it is "
            "replaced or removed.</p>"
            f"<h2>Recent runs</h2>{_timeline(runs)}{_runs_table(view, runs[:50], with_job=False)}"
        )
        return Page(f"Job {job_id}", body)
    try:
        times = source.next_fire_times(job, 10)
    except (TickworkError, ValueError, TypeError, ArithmeticError) as error:
        # A trigger that raises (one of the user's own): say so, keep the rest of the page.
        times, fires_error = [], f"the trigger failed: {error}"
    else:
        fires_error = ""
    notes = dst_notes(times, now, wall=not isinstance(job.trigger, (IntervalTrigger, DateTrigger)))
    fire_rows = "".join(
        f'<tr><td>{h(when(moment))}</td><td class="muted">{h(ago(moment, now))}</td>'
        f'<td class="dst">{h(note)}</td></tr>'
        for moment, note in zip(times, notes, strict=True)
    )
    previous = getattr(job.trigger, "previous_before", None)
    expected = ""
    if callable(previous):
        try:
            last_expected = previous(now)
        except Exception as error:  # a nicety: name the error, keep the page
            expected = f"<p>Last expected run: could not tell ({h(error)})</p>"
        else:
            ran = ""
            if last_expected is not None:
                matched = [run for run in runs if us(run.scheduled_at) == us(last_expected)]
                ran = (
                    f" · {outcome_badge(matched[0].outcome)}"
                    if matched
                    else ' · <span class="muted">no run recorded for it</span>'
                )
            expected = (
                f"<p>Last expected run: <b>{h(when(last_expected))}</b> "
                f'<span class="muted">{h(ago(last_expected, now))}</span>{ran}</p>'
            )
    details = "".join(
        f"<tr><th>{h(name)}</th><td>{h(value)}</td></tr>"
        for name, value in _options_rows(view, job)
    )
    note_form = ""
    if view.actions and not job.paused:
        note_form = (
            f'<form class="inline" method="post" action="{link(view.base, "/actions/pause")}">'
            f"{_hidden(view, job.id, 'job')}"
            '<input type="text" name="note" placeholder="why (optional)" maxlength="500">'
            '<button type="submit" class="action pause" data-action="pause-note">Pause with note'
            "</button></form>"
        )
    actions = _actions(view, job, "job")
    body = (
        f'<p class="schedule"><b>{h(describe(job.trigger))}</b> '
        f'<code class="muted">{h(repr(job.trigger))}</code></p>'
        f"<p>State: {_state_cell(job, now, source.broken())} · next run: "
        f"{_next_cell(job, now)}</p>"
        + expected
        + (f'<p class="actions">{actions} {note_form}</p>' if actions else "")
        + f'<section class="charts"><figure><figcaption>Runs per minute, last hour'
        f'<span class="muted">{h(_cut_short(runs, JOB_RUNS, now))}</span></figcaption>'
        f"{outcomes_chart(runs, now)}</figure><figure><figcaption>Durations</figcaption>"
        f"{durations_chart(runs)}</figure></section>"
        + ("<h2>Next fire times if resumed now</h2>" if job.paused else "<h2>Next fire times</h2>")
        + (
            f'<table class="fires"><thead><tr><th>When</th><th></th><th>DST</th></tr></thead>'
            f"<tbody>{fire_rows}</tbody></table>"
            if fire_rows
            else f'<p class="error">{h(fires_error)}</p>'
            if fires_error
            else '<p class="empty">None: the job has no more fire times.</p>'
        )
        + f"<h2>Recent runs</h2>{_timeline(runs)}{_runs_table(view, runs[:50], with_job=False)}"
        + f'<h2>Definition</h2><table class="details">{details}</table>'
    )
    return Page(f"Job {job.id}", body)


# -- runs -------------------------------------------------------------------------------


def runs_page(view: View, query: RunsQuery) -> Page:
    source = view.source
    first = (query.page - 1) * query.per_page
    wanted = first + query.per_page + 1
    job_id = query.job or None
    if query.outcome is None:
        found = source.history(job_id, min(wanted, RUNS_WINDOW))
    else:
        found = [run for run in source.history(job_id, RUNS_WINDOW) if run.outcome is query.outcome]
    page_runs = found[first : first + query.per_page]
    more = len(found) > first + query.per_page and first + query.per_page < RUNS_WINDOW
    outcome = "" if query.outcome is None else query.outcome.value
    body = (
        f'<section class="charts"><figure><figcaption>Durations of these runs</figcaption>'
        f"{durations_chart(page_runs)}</figure></section>"
        + _runs_table(view, page_runs, with_job=True)
        + _pager(view, "/runs", query.page, more, job=query.job, outcome=outcome)
    )
    options = '<option value="">any</option>' + "".join(
        f'<option value="{o.value}"{" selected" if o is query.outcome else ""}>{o.value}</option>'
        for o in Outcome
    )
    controls = (
        f'<form class="filters" method="get" action="{link(view.base, "/runs")}">'
        f'<label>Job id <input type="search" name="job" value="{h(query.job)}"></label> '
        f'<label>Outcome <select name="outcome">{options}</select></label> '
        '<button type="submit">Show</button></form>'
    )
    return Page("Runs", body, controls)


# -- processes --------------------------------------------------------------------------


def _lease(view: View, lease: LeaseInfo) -> str:
    late = "expired" if lease.expires <= view.now else f"expires {ago(lease.expires, view.now)}"
    return (
        f'<li><a href="{link(view.base, "/job", id=lease.job_id)}">{h(lease.job_id)}</a> '
        f"at {h(when(lease.scheduled_at))}, attempt {lease.attempt} "
        f'<span class="muted">({h(late)})</span></li>'
    )


def processes_page(view: View) -> Page:
    listing = view.source.processes()
    if listing is None:
        body = (
            '<p class="empty">Processes: not available for this store (it does not list '
            "them: <code>tickwork.stores.ProcessListing</code>).</p>"
        )
        return Page("Processes", body)
    if not listing:
        return Page("Processes", '<p class="empty">No scheduler process uses this store.</p>')
    rows = []
    for info in listing:
        if info.alive is None:
            alive = badge("unknown", "skipped")
        else:
            alive = badge("alive", "success") if info.alive else badge("dead", "failure")
        leases = (
            f"{len(info.leases)}<ul>"
            + "".join(_lease(view, lease) for lease in info.leases)
            + "</ul>"
            if info.leases
            else '<span class="muted">none</span>'
        )
        rows.append(
            f'<tr data-process="{h(info.id)}"><td class="id">{h(info.id)}</td>'
            f"<td>{h(info.host or '?')}</td><td>{h(info.pid or '?')}</td>"
            f"<td>{h(when(info.started))}</td>"
            f'<td>{h(when(info.last_seen))} <span class="muted">{h(ago(info.last_seen, view.now))}'
            f"</span></td><td>{alive}</td><td>{leases}</td></tr>"
        )
    body = (
        '<table class="processes"><thead><tr><th>Process</th><th>Host</th><th>PID</th>'
        "<th>Started</th><th>Last heartbeat</th><th>Alive</th><th>Leases held</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return Page("Processes", body)
