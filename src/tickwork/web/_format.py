"""Small pieces of HTML the pages share: escaping, links, times, durations, badges.

Everything that comes from a job or a run (ids, names, errors, notes, arguments) goes
through :func:`h` on its way into the page, in text and in attributes alike, and into
a URL only through :func:`link` (percent-encoded, then escaped).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from urllib.parse import quote, urlencode

from .. import Outcome

__all__ = ["ago", "badge", "h", "link", "seconds_text", "url", "when"]


def h(value: object) -> str:
    """*value* as text, escaped for HTML text and quoted attributes."""
    return escape(str(value), quote=True)


def url(base: str, path: str, **params: object) -> str:
    """The dashboard URL *path* under the mount prefix *base* (which the server gave
    decoded, so it is percent-encoded again), with *params* as its query
    (percent-encoded; params that are None or "" left out)."""
    query = {key: str(value) for key, value in params.items() if value not in (None, "")}
    found = quote(base, safe="/!$&'()*+,;=:@-._~") + path
    if query:
        found += "?" + urlencode(query)
    return found


def link(base: str, path: str, **params: object) -> str:
    """:func:`url`, escaped for an HTML attribute."""
    return h(url(base, path, **params))


def when(moment: datetime | None) -> str:
    """An aware datetime as ``2024-03-31 03:00:00 +02:00 CEST`` (in its own zone)."""
    if moment is None:
        return "—"
    offset = moment.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}" if offset else ""
    name = moment.tzname() or ""
    zone = f" {name}" if name and not name.startswith(("+", "-", "UTC")) else ""
    if name == "UTC":
        zone = " UTC"
        offset = ""
    # Milliseconds only where there are some (a job every few seconds; a late start).
    clock = f"{moment:%H:%M:%S}" + (
        f".{moment.microsecond // 1000:03d}" if moment.microsecond else ""
    )
    return f"{moment:%Y-%m-%d} {clock} {offset}{zone}".replace("  ", " ").strip()


def seconds_text(seconds: float) -> str:
    """A duration for people: ``840 ms``, ``12.5 s``, ``3 min 20 s``, ``2 h 5 min``."""
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds == 0:
        return "0 s"
    if seconds < 0.001:
        return f"{sign}{seconds * 1_000_000:.0f} µs"
    if seconds < 1:
        return f"{sign}{seconds * 1000:.3g} ms"
    if seconds < 60:
        return f"{sign}{seconds:.3g} s" if seconds < 10 else f"{sign}{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{sign}{minutes} min {rest} s" if rest else f"{sign}{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{sign}{hours} h {minutes} min" if minutes else f"{sign}{hours} h"
    return f"{sign}{hours // 24} d {hours % 24} h"


def ago(moment: datetime | None, now: datetime) -> str:
    """``in 5 min`` or ``3 s ago``: *moment* against *now*."""
    if moment is None:
        return ""
    delta = (moment - now) / timedelta(seconds=1)
    if abs(delta) < 0.5:
        return "now"
    return f"in {seconds_text(delta)}" if delta > 0 else f"{seconds_text(-delta)} ago"


def badge(text: str, kind: str) -> str:
    """A small coloured label; *kind* picks the colour (an outcome, or a state)."""
    return f'<span class="badge {h(kind)}">{h(text)}</span>'


def outcome_badge(outcome: Outcome) -> str:
    return badge(outcome.value, outcome.value)
