"""The dashboard's charts, as inline SVG: outcomes per minute, and run durations.

Plain SVG elements with presentation attributes (no ``style`` attribute, which the
dashboard's Content-Security-Policy would block), a ``<title>`` per bar for the
browser's tooltip, and ``data-`` attributes that say what each bar counts (the browser
test reads them).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from html import escape

from .. import Outcome, Run
from ._format import seconds_text
from ._source import us

__all__ = ["COLOURS", "durations_chart", "outcomes_chart"]

#: A colour per outcome (the CSS badges use the same ones).
COLOURS = {
    Outcome.SUCCESS: "#2e7d32",
    Outcome.FAILURE: "#c62828",
    Outcome.MISSED: "#ef6c00",
    Outcome.SKIPPED: "#9e9e9e",
    Outcome.INTERRUPTED: "#6a1b9a",
}
_WIDTH, _HEIGHT = 600, 120


def _when(run: Run) -> datetime:
    """When a run ended (or, for a fire that never ran, when it was due)."""
    return run.finished_at or run.started_at or run.scheduled_at


def outcomes_chart(runs: list[Run], now: datetime, minutes: int = 60) -> str:
    """Stacked bars: how many runs ended in each of the last *minutes* minutes, by
    outcome (the newest minute on the right)."""
    start = us(now) - minutes * 60_000_000
    buckets: list[Counter[Outcome]] = [Counter() for _ in range(minutes)]
    for run in runs:
        # Minutes are closed on the right: a run that ended at *now* is in the last one.
        index = (us(_when(run)) - start - 1) // 60_000_000
        if 0 <= index < minutes:
            buckets[index][run.outcome] += 1
    tallest = max((sum(bucket.values()) for bucket in buckets), default=0)
    total = sum(sum(bucket.values()) for bucket in buckets)
    step = _WIDTH / minutes
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'width="100%" height="{_HEIGHT}" data-chart="outcomes" data-runs="{total}" '
        f'preserveAspectRatio="none" aria-label="runs per minute, last {minutes} minutes">',
        f'<line x1="0" y1="{_HEIGHT}" x2="{_WIDTH}" y2="{_HEIGHT}" stroke="#bbb"/>',
    ]
    for index, bucket in enumerate(buckets):
        y = float(_HEIGHT)
        minute = now - timedelta(minutes=minutes - index)
        for outcome in Outcome:
            count = bucket[outcome]
            if not count:
                continue
            height = _HEIGHT * count / tallest
            y -= height
            label = f"{minute:%H:%M}: {count} {outcome.value}"
            parts.append(
                f'<rect class="bar" data-count="{count}" data-outcome="{outcome.value}" '
                f'x="{index * step + 1:.1f}" y="{y:.1f}" width="{max(step - 2, 1):.1f}" '
                f'height="{height:.1f}" fill="{COLOURS[outcome]}"><title>{escape(label)}</title>'
                "</rect>"
            )
    empty = "" if total else "no runs in this hour"
    return _framed(parts, f"-{minutes} min", f"now · most in a minute: {tallest}", empty)


def durations_chart(runs: list[Run], count: int = 60) -> str:
    """A bar per run that ran (the newest *count*, oldest on the left), as tall as it
    took, coloured by outcome."""
    timed = [run for run in runs if run.duration is not None][:count]
    timed.reverse()
    longest = max((run.duration.total_seconds() for run in timed if run.duration), default=0.0)
    step = _WIDTH / max(count, 1)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'width="100%" height="{_HEIGHT}" data-chart="durations" '
        f'data-runs="{len(timed)}" preserveAspectRatio="none" '
        f'aria-label="durations of the last {len(timed)} runs">',
        f'<line x1="0" y1="{_HEIGHT}" x2="{_WIDTH}" y2="{_HEIGHT}" stroke="#bbb"/>',
    ]
    for index, run in enumerate(timed):
        assert run.duration is not None
        took = run.duration.total_seconds()
        height = max(_HEIGHT * took / longest, 1.0) if longest > 0 else 1.0
        label = (
            f"{run.job_id} at {run.scheduled_at.isoformat()}: {seconds_text(took)} "
            f"({run.outcome.value})"
        )
        parts.append(
            f'<rect class="bar" data-count="1" data-outcome="{run.outcome.value}" '
            f'x="{index * step + 1:.1f}" y="{_HEIGHT - height:.1f}" '
            f'width="{max(step - 2, 1):.1f}" height="{height:.1f}" '
            f'fill="{COLOURS[run.outcome]}"><title>{escape(label)}</title></rect>'
        )
    empty = "" if timed else "no runs recorded yet"
    return _framed(parts, "oldest", f"newest · longest: {seconds_text(longest)}", empty)


def _framed(parts: list[str], left: str, right: str, empty: str) -> str:
    """The SVG (stretched to the width: its text would be too, so the labels are HTML
    under it) and, when there is nothing to draw, a line that says so."""
    parts.append("</svg>")
    if empty:
        parts.append(f'<p class="chart-empty">{escape(empty)}</p>')
    parts.append(f'<div class="axis"><span>{escape(left)}</span><span>{escape(right)}</span></div>')
    return '<div class="chart-box">' + "".join(parts) + "</div>"
