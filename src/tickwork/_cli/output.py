"""What the command line prints, and how: tables that fit the terminal, colours only
on a terminal, JSON for machines, progress on stderr.

* Tables are cut to the terminal's width (``shutil.get_terminal_size``) when standard
  output is a terminal, or to ``$COLUMNS`` when that is set: the widest columns other
  than the key ones are cut first, a cut cell ends with "…" ("..." where the output
  cannot encode it), then those columns are left out one by one; the key columns are
  never cut (when they alone do not fit, the row is wider than the width). Into a pipe,
  rows are printed whole.
* Control characters (C0, DEL, C1) from the store, in an error message or a job id, are
  printed as escapes (``\x1b``), never raw: on a terminal they would move the cursor,
  retitle the window or hide what follows. ``--json`` prints them as they are.
* Colours (failures red, late or missed yellow, successes green) only when the output
  is a terminal and ``NO_COLOR`` is not set (https://no-color.org), never with
  ``--json``.
* ``--json`` prints one JSON document; instants are ISO 8601 with their offset.
* Progress goes to stderr, and only when stderr is a terminal.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any, TextIO

from .._model import Job, Run
from ..triggers import CronTrigger, Trigger

__all__ = ["Output", "Progress", "iso", "job_data", "printable", "run_data", "seconds_of"]

_STYLES = {"red": "31", "yellow": "33", "green": "32", "bold": "1", "dim": "2"}
#: The narrowest a column other than a key one is cut to (or its header, if wider)
#: before it is left out.
_MIN_WIDTH = 8
#: C0 controls, DEL and C1 controls: what a terminal takes as commands, not text.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
#: The same but the newline, which a line of output may hold (a blank line before it).
_CONTROLS_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")
#: The keys of ``CronTrigger.to_dict()`` that its short description shows.
_CRON_ESSENTIALS = frozenset({"type", "expression", "timezone"})


def printable(text: str) -> str:
    """*text* with each control character (C0, DEL, C1) written as ``repr`` writes it
    (``\\x1b``): text from a store cannot then command the terminal it is shown on."""
    return _CONTROLS.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class Output:
    """Where a command prints, and how (see the module's docstring)."""

    def __init__(
        self,
        stream: TextIO,
        *,
        as_json: bool = False,
        colour: bool | None = None,
        width: int | None = None,
    ) -> None:
        self.stream = stream
        self.as_json = as_json
        tty = _is_tty(stream)
        if colour is None:
            colour = tty and not as_json and "NO_COLOR" not in os.environ
            colour = colour and os.environ.get("TERM") != "dumb"
        self.colour = colour
        if width is None:
            if tty:
                width = shutil.get_terminal_size().columns
            else:
                width = _columns_variable()
        self.width = width
        encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            "…".encode(encoding)
            self.ellipsis = "…"
        except (UnicodeEncodeError, LookupError):
            self.ellipsis = "..."

    def line(self, text: str = "", style: str | None = None) -> None:
        """Print *text* (its control characters escaped, newlines kept), in *style*."""
        print(self.paint(_CONTROLS_BUT_NEWLINE.sub(_escape, text), style), file=self.stream)

    def json(self, data: Mapping[str, Any]) -> None:
        """Print *data* as one JSON document."""
        print(json.dumps(data, indent=2, ensure_ascii=False), file=self.stream)

    def paint(self, text: str, style: str | None) -> str:
        """*text* in *style* ("red", "yellow"...) when colours are on."""
        if not self.colour or not style or not text:
            return text
        return f"\x1b[{_STYLES[style]}m{text}\x1b[0m"

    def table(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        right: Sequence[int] = (),
        keep: Sequence[int] = (),
        drop: Sequence[int] = (),
        styles: Sequence[Sequence[str | None]] | None = None,
    ) -> None:
        """Print *rows* under *header* in aligned columns (those in *right* aligned
        right), fitted to the width: the columns not in *keep* are cut, then left out
        one by one, those in *drop* first, then the others from the right; the key
        columns in *keep* are never cut. *styles* gives each cell's colour."""
        count = len(header)
        header = [printable(name) for name in header]
        rows = [[printable(cell) for cell in row] for row in rows]
        widths = [max(len(row[i]) for row in (header, *rows)) for i in range(count)]
        shown = dict(enumerate(widths))
        if self.width is not None:
            order = [*drop, *(i for i in reversed(range(count)) if i not in drop)]
            others = [i for i in order if i not in keep]
            shown = _layout(widths, [len(name) for name in header], self.width, others)
        last = max(shown)
        for index, row in enumerate((header, *rows)):
            cells = []
            for i, width in shown.items():
                cell = row[i]
                if len(cell) > width:
                    cell = cell[: max(width - len(self.ellipsis), 0)] + self.ellipsis
                if i in right:
                    cell = cell.rjust(width)
                elif i != last:  # (the last column needs no padding)
                    cell = cell.ljust(width)
                if index == 0:
                    cell = self.paint(cell, "bold")
                elif styles is not None:
                    cell = self.paint(cell, styles[index - 1][i])
                cells.append(cell)
            print(("  " + "  ".join(cells)).rstrip(), file=self.stream)


def _columns_variable() -> int | None:
    value = os.environ.get("COLUMNS", "")
    try:
        columns = int(value)
    except ValueError:
        return None
    return columns if columns > 0 else None


def _layout(
    widths: Sequence[int], headers: Sequence[int], total: int, drop: Sequence[int]
) -> dict[int, int]:
    """The columns shown and their widths, to fit in *total* characters: the columns of
    *drop* (the ones not key) are cut, the widest first, then left out in that order,
    until the row fits; the others are kept whole, wider than *total* if need be."""
    shown = list(range(len(widths)))
    order = list(drop)
    while True:
        cut = [place for place, i in enumerate(shown) if i in order]
        fitted = _fit([widths[i] for i in shown], [headers[i] for i in shown], total, cut)
        if _span(fitted) <= total or not order:
            return dict(zip(shown, fitted, strict=True))
        shown.remove(order.pop(0))


def _span(widths: Sequence[int]) -> int:
    """How wide a row of columns this wide is (two spaces before each)."""
    return sum(widths) + 2 * len(widths)


def _fit(
    widths: list[int],
    headers: list[int],
    total: int,
    cut: Iterable[int],
) -> list[int]:
    """Column widths that fit in *total* characters, cutting only the columns *cut*, the
    widest first, none below the smaller of its width and its header (or
    :data:`_MIN_WIDTH`)."""
    widths = list(widths)
    floors = [
        min(width, max(header, _MIN_WIDTH)) for width, header in zip(widths, headers, strict=True)
    ]
    allowed = set(cut)
    excess = _span(widths) - total
    while excess > 0:
        candidates = [i for i, width in enumerate(widths) if width > floors[i] and i in allowed]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i])
        others = [widths[i] for i in candidates if i != widest]
        # Cut the widest down to the next widest (or by what is needed), not one by one.
        step = min(excess, widths[widest] - max([floors[widest], *others]) or 1)
        widths[widest] -= step
        excess -= step
    return widths


class Progress:
    """A one-line counter on stderr while a long command works, when stderr is a
    terminal; otherwise nothing."""

    def __init__(self, label: str, *, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.label = label
        self.on = _is_tty(self.stream)
        self._shown_at = 0.0
        self._shown = False

    def update(self, done: int, total: int | None = None) -> None:
        """Show that *done* of *total* are done (at most ten times a second)."""
        if not self.on:
            return
        now = time.monotonic()
        if now - self._shown_at < 0.1 and (total is None or done < total):
            return
        self._shown_at = now
        of = "" if total is None else f"/{total}"
        self.stream.write(f"\r{self.label}: {done}{of}\x1b[K")
        self.stream.flush()
        self._shown = True

    def done(self) -> None:
        """Clear the line."""
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False


# -- JSON shapes ------------------------------------------------------------------------


def iso(moment: datetime | None, zone: tzinfo | None = None) -> str | None:
    """An instant as ISO 8601 with its offset, in *zone* when given (None stays None)."""
    if moment is None:
        return None
    return (moment if zone is None else moment.astimezone(zone)).isoformat()


def seconds_of(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def describe(trigger: Trigger) -> str:
    """A cron trigger as its expression and zone, when that is all there is to it (not
    a keyword-built one, no start, end or DST options); any other trigger as its repr."""
    if isinstance(trigger, CronTrigger):
        data = trigger.to_dict()
        extras = [value for key, value in data.items() if key not in _CRON_ESSENTIALS]
        if not any(extras):
            return f"cron {trigger.expression!r} ({data['timezone']})"
    return " ".join(repr(trigger).split())


def explain(trigger: Trigger) -> str:
    """The trigger in words and its zone, where it can say them (a cron trigger); else
    its short description."""
    if isinstance(trigger, CronTrigger):
        return f"{trigger.explain()} ({trigger.to_dict()['timezone']})"
    data = trigger.to_dict()
    if data.get("type") == "interval":
        units = ("weeks", "days", "hours", "minutes", "seconds")
        parts = [
            f"{data[unit]:g} {unit[:-1] if data[unit] == 1 else unit}"
            for unit in units
            if isinstance(data.get(unit), (int, float)) and data[unit]
        ]
        if parts:
            end = f" until {data['end']}" if data.get("end") else ""
            return f"Every {', '.join(parts)} from {data.get('start')}{end}"
    if data.get("type") == "date":
        return f"Once, at {data.get('run_at')}"
    return describe(trigger)


def job_data(job: Job, zone: tzinfo | None = None) -> dict[str, Any]:
    """A job as JSON data (its arguments left out: they may hold secrets), its next fire
    time in *zone* when given (``--tz``)."""
    return {
        "id": job.id,
        "name": job.name,
        "func_ref": job.func_ref,
        "trigger": job.trigger.to_dict(),
        "description": explain(job.trigger),
        "next_fire": iso(job.next_fire, zone),
        "paused": job.paused,
        "pause_note": job.pause_note,
        "remaining_runs": job.remaining_runs,
        "consecutive_failures": job.consecutive_failures,
        "max_consecutive_failures": job.max_consecutive_failures,
        "misfire_grace_time": seconds_of(job.misfire_grace_time),
        "executor": job.executor,
        "tags": sorted(job.tags),
    }


def run_data(run: Run, zone: tzinfo | None = None) -> dict[str, Any]:
    """A run of the history as JSON data, its times in *zone* when given (``--tz``)."""
    return {
        "job_id": run.job_id,
        "scheduled_at": iso(run.scheduled_at, zone),
        "attempt": run.attempt,
        "outcome": run.outcome.value,
        "started_at": iso(run.started_at, zone),
        "finished_at": iso(run.finished_at, zone),
        "duration_seconds": seconds_of(run.duration),
        "process": run.process,
        "error_type": run.error_type,
        "error_message": run.error_message,
    }
