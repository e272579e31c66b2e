"""The fluent API: ``scheduler.every(10).minutes.do(job)``, spelled as in ``schedule``.

Theory of operation: a :class:`JobBuilder` is an immutable record of a chain
(``every(2).hours.at(":30").tag("io")``). Each step checks itself at once and returns a
new builder, so a mistake raises at the step that made it and a half-built chain can be
reused as a template. :meth:`JobBuilder.do` turns the chain into one *ordinary* trigger
plus job options and calls ``add_job``; nothing about a fluent job is special
afterwards. The chain-to-trigger mapping (``docs/fluent.md`` has the reasons):

* ``every(n).seconds/minutes/hours``: ``IntervalTrigger`` (elapsed time), first run n
  units after ``.do()``;
* ``every().minute.at(":SS")``, ``every().hour.at(":MM")``: ``CronTrigger`` cadences
  (``"SS * * * * *"``, ``"MM * * * *"``) on the zone's wall clock;
* ``every(n).minutes/hours.at(...)`` with n > 1: ``IntervalTrigger`` from the set time
  in the current minute or hour plus n units;
* ``every().day.at("HH:MM")``: ``CronTrigger("MM HH * * *")``, anchored;
* ``every(n).days.at(...)`` with n > 1, ``every(n).days``, ``every(n).weeks``:
  ``CalendarIntervalTrigger`` starting at the first run;
* ``every().monday[.at(...)]``: ``CronTrigger("MM HH * * mon")``;
* ``every(a).to(b).<unit>``: ``IntervalTrigger`` of (a+b)/2 units plus a job
  ``jitter`` of (b-a)/2 units, so every gap between runs is within [a, b].

The module-level :func:`every` adds jobs to a lazily created default
:class:`~tickwork.Scheduler`, which starts (in a daemon thread) on the first ``.do()``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from types import MappingProxyType
from typing import Any, TypeVar

from ._checks import MAX_SECONDS
from ._engine import Engine
from ._instants import just_before
from ._model import Job
from ._options import ADD_OPTION_NAMES
from ._tz import coerce_timezone
from .triggers import CalendarIntervalTrigger, CronTrigger, IntervalTrigger, Trigger
from .triggers._walltime import at_wall

__all__ = ["JobBuilder", "repeat"]

F = TypeVar("F", bound=Callable[..., Any])
_UTC = timezone.utc
_NO_OPTIONS: Mapping[str, Any] = MappingProxyType({})

#: The unit words: word -> (unit, singular).
_UNIT_WORDS = {
    "second": ("seconds", True),
    "seconds": ("seconds", False),
    "minute": ("minutes", True),
    "minutes": ("minutes", False),
    "hour": ("hours", True),
    "hours": ("hours", False),
    "day": ("days", True),
    "days": ("days", False),
    "week": ("weeks", True),
    "weeks": ("weeks", False),
}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CRON_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: What ``.at()`` accepts for each kind of schedule: (a pattern that finds the fields
#: whatever their values, the kind of job for messages, the formats for messages).
_AT_FORMATS = {
    "minutes": (
        re.compile(r":([0-9]{2})"),
        "a minutely job",
        "':SS' (the second of each minute)",
    ),
    "hours": (
        re.compile(r"(?:([0-9]{2}))?:([0-9]{2})"),
        "an hourly job",
        "':MM' (the minute of each hour) or 'MM:SS'",
    ),
    "days": (
        re.compile(r"([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?"),
        "a daily job",
        "'HH:MM' or 'HH:MM:SS' (24-hour clock, two digits each)",
    ),
    "weekday": (
        re.compile(r"([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?"),
        "a weekday job",
        "'HH:MM' or 'HH:MM:SS' (24-hour clock, two digits each)",
    ),
}
_UNTIL_TIME = re.compile(r"[0-9]{2}:[0-9]{2}(?::[0-9]{2})?(?:Z|[+-][0-9]{2}:[0-9]{2})?")
_UNTIL_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[ T][0-9]{2}:[0-9]{2}(?::[0-9]{2})?(?:Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
_UNTIL_FORMATS = (
    "a datetime, a timedelta, a time, or a string 'HH:MM', 'HH:MM:SS', 'YYYY-MM-DD', "
    "'YYYY-MM-DD HH:MM' or 'YYYY-MM-DD HH:MM:SS' (an ISO 8601 offset may follow a time)"
)


#: The names :meth:`JobBuilder.options` accepts: every option of ``add_job`` (its table,
#: ``tickwork._options``), except the function's arguments, which ``.do()`` takes.
OPTION_NAMES = ADD_OPTION_NAMES - {"args", "kwargs"}


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number, got {type(value).__name__} {value!r}")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{what} must be a positive number, got {value!r}")
    return value


#: Seconds per unit, and the longest interval (the span of the years 1 to 9999).
_UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86_400, "weeks": 604_800}
_MAX_DAYS = (datetime.max - datetime.min).days


def _check_length(amount: float, unit: str, chain: str, what: str) -> None:
    if amount * _UNIT_SECONDS[unit] > _MAX_DAYS * 86_400:
        raise ValueError(
            f"{chain}: {what} {amount!r} {unit} is too large: at most {_MAX_DAYS} days (the "
            f"span of the years 1 to 9999)"
        )


def _check_spread(low: float, high: float, unit: str, chain: str) -> None:
    """``.to()``'s spread becomes a jitter of half of it, which has the limit of every
    duration option."""
    if (high - low) / 2 * _UNIT_SECONDS[unit] > MAX_SECONDS:
        raise ValueError(
            f"{chain}: the spread from {low!r} to {high!r} {unit} is too large: half of it "
            f"is the jitter of each run, at most {MAX_SECONDS // 86_400} days"
        )


def _cron(second: int, minute: int | str, hour: int | str, weekday: str = "*") -> str:
    """A 5-field expression, or 6 fields (seconds first) when *second* is not 0."""
    fields = f"{minute} {hour} * * {weekday}"
    return f"{second} {fields}" if second else fields


def _interval(unit: str, amount: float, start: datetime, zone: tzinfo) -> IntervalTrigger:
    """``IntervalTrigger`` of *amount* *unit* (a unit word of ``timedelta``)."""
    return IntervalTrigger(
        weeks=amount if unit == "weeks" else 0,
        days=amount if unit == "days" else 0,
        hours=amount if unit == "hours" else 0,
        minutes=amount if unit == "minutes" else 0,
        seconds=amount if unit == "seconds" else 0,
        start=start,
        timezone=zone,
    )


def _calendar(
    unit: str, count: int, clock: tuple[int, int, int], now: datetime, zone: tzinfo
) -> CalendarIntervalTrigger:
    """Every *count* days or weeks at the wall time *clock*, first *count* periods after
    today's (``schedule``'s rule); the trigger starts at that first fire, which makes its
    date the anchor every later fire is counted from."""
    hour, minute, second = clock
    weeks, days = (count, 0) if unit == "weeks" else (0, count)
    probe = CalendarIntervalTrigger(
        weeks=weeks, days=days, hour=hour, minute=minute, second=second, start=now, timezone=zone
    )
    today = now.astimezone(zone).date()
    first = probe.next_after(just_before(now))
    while first is not None and first.astimezone(zone).date() <= today:
        first = probe.next_after(first)  # today's own time: the first run is a period on
    if first is None:  # past the year 9999
        raise ValueError(f"every {count} {unit} from {now.isoformat()} never fires")
    start = first
    if (first.astimezone(zone).date() - today).days != 7 * weeks + days:
        # A whole day skipped (Apia's 2011-12-30) moved the first run to the next date,
        # which would anchor every later run a day late: anchored on today instead,
        # from just after today's run (or now, when today's has passed).
        todays = probe.next_after(just_before(now))
        start = now.astimezone(zone)
        if todays is not None and todays.astimezone(zone).date() == today:
            start = todays + timedelta(microseconds=1)
    return CalendarIntervalTrigger(
        weeks=weeks, days=days, hour=hour, minute=minute, second=second, start=start, timezone=zone
    )


def _wall_time(value: datetime, zone: tzinfo) -> datetime:
    """An aware datetime as is; a naive one read as a wall time in *zone*."""
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value
    return at_wall(value, zone)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class JobBuilder:
    """A job being described link by link: ``every(2).hours.at(":30").do(backup)``.

    Made by ``scheduler.every()``, ``async_scheduler.every()`` or :func:`tickwork.every`;
    not constructed directly. Every link returns a new builder (a builder is never
    changed, so a partial chain can be reused) and checks itself at once: a chain that
    makes no sense raises ``ValueError`` or ``TypeError`` at the link that broke it,
    naming the chain. :meth:`do` adds the job and returns its :class:`~tickwork.Job`.

    Units: ``second``, ``seconds``, ``minute``, ``minutes``, ``hour``, ``hours``,
    ``day``, ``days``, ``week``, ``weeks`` (a singular unit needs an interval of 1), and
    ``monday`` ... ``sunday`` (weekly; the interval must be 1).
    """

    _engine: Engine
    _interval: float
    _chain: str
    _on_added: Callable[[], None] | None = None
    _latest: float | None = None
    _unit: str | None = None
    _unit_word: str | None = None
    _weekday: int | None = None
    _at: tuple[int, int, int] | None = None
    _zone: tzinfo | None = None
    _until: datetime | time | None = None
    _tags: tuple[str, ...] = ()
    _options: Mapping[str, Any] = field(default_factory=lambda: _NO_OPTIONS)

    def __repr__(self) -> str:
        return f"<JobBuilder {self._chain}>"

    # -- units ------------------------------------------------------------------------

    def _with_unit(self, word: str) -> JobBuilder:
        unit, singular = _UNIT_WORDS[word]
        chain = f"{self._chain}.{word}"
        self._refuse_second_unit(chain)
        interval = self._interval
        if singular and interval != 1:
            raise ValueError(
                f"{chain}: .{word} is for an interval of 1; write "
                f"every({interval!r}).{word}s for an interval of {interval!r}"
            )
        if unit in ("days", "weeks") and interval != int(interval):
            raise ValueError(
                f"{chain}: days and weeks are counted in whole numbers, got {interval!r}; "
                + (
                    "use hours for fractions of a day"
                    if unit == "days"
                    else "use days or hours for fractions of a week"
                )
            )
        if unit in ("days", "weeks") and isinstance(interval, float):
            interval = int(interval)
        _check_length(interval, unit, chain, "the interval")
        if self._latest is not None:
            _check_length(self._latest, unit, chain, "the latest interval")
            _check_spread(interval, self._latest, unit, chain)
        return replace(self, _interval=interval, _unit=unit, _unit_word=word, _chain=chain)

    def _refuse_second_unit(self, chain: str) -> None:
        if self._unit is not None:
            raise ValueError(
                f"{chain}: the unit is already .{self._unit_word}; a chain takes one unit"
            )

    def _on_weekday(self, index: int) -> JobBuilder:
        word = _WEEKDAYS[index]
        chain = f"{self._chain}.{word}"
        self._refuse_second_unit(chain)
        if self._interval != 1:
            raise ValueError(
                f"{chain}: a weekday runs once a week, so the interval must be 1, got "
                f"every({self._interval!r}); for every {self._interval!r} weeks on a "
                f"{word.capitalize()} add a CalendarIntervalTrigger(weeks=..., start=<a "
                f"{word.capitalize()}>) with add_job"
            )
        if self._latest is not None:
            raise ValueError(f"{chain}: a random interval (.to()) cannot run on a fixed weekday")
        return replace(
            self, _interval=1, _unit="weeks", _unit_word=word, _weekday=index, _chain=chain
        )

    @property
    def second(self) -> JobBuilder:
        """Every second (interval 1 only)."""
        return self._with_unit("second")

    @property
    def seconds(self) -> JobBuilder:
        """Every *interval* seconds of elapsed time."""
        return self._with_unit("seconds")

    @property
    def minute(self) -> JobBuilder:
        """Every minute (interval 1 only)."""
        return self._with_unit("minute")

    @property
    def minutes(self) -> JobBuilder:
        """Every *interval* minutes of elapsed time."""
        return self._with_unit("minutes")

    @property
    def hour(self) -> JobBuilder:
        """Every hour of elapsed time (interval 1 only)."""
        return self._with_unit("hour")

    @property
    def hours(self) -> JobBuilder:
        """Every *interval* hours of elapsed time."""
        return self._with_unit("hours")

    @property
    def day(self) -> JobBuilder:
        """Every day, at the same wall-clock time (interval 1 only)."""
        return self._with_unit("day")

    @property
    def days(self) -> JobBuilder:
        """Every *interval* days, at the same wall-clock time."""
        return self._with_unit("days")

    @property
    def week(self) -> JobBuilder:
        """Every week, at the same wall-clock time (interval 1 only)."""
        return self._with_unit("week")

    @property
    def weeks(self) -> JobBuilder:
        """Every *interval* weeks, at the same wall-clock time."""
        return self._with_unit("weeks")

    @property
    def monday(self) -> JobBuilder:
        """Every Monday (interval 1 only)."""
        return self._on_weekday(0)

    @property
    def tuesday(self) -> JobBuilder:
        """Every Tuesday (interval 1 only)."""
        return self._on_weekday(1)

    @property
    def wednesday(self) -> JobBuilder:
        """Every Wednesday (interval 1 only)."""
        return self._on_weekday(2)

    @property
    def thursday(self) -> JobBuilder:
        """Every Thursday (interval 1 only)."""
        return self._on_weekday(3)

    @property
    def friday(self) -> JobBuilder:
        """Every Friday (interval 1 only)."""
        return self._on_weekday(4)

    @property
    def saturday(self) -> JobBuilder:
        """Every Saturday (interval 1 only)."""
        return self._on_weekday(5)

    @property
    def sunday(self) -> JobBuilder:
        """Every Sunday (interval 1 only)."""
        return self._on_weekday(6)

    # -- refinements ------------------------------------------------------------------

    def at(self, time_str: str, tz: str | tzinfo | None = None) -> JobBuilder:
        """Run at a set time within each period, on the wall clock of *tz*.

        Formats, as ``schedule`` takes them: for ``.minute(s)`` ``":SS"``; for
        ``.hour(s)`` ``":MM"`` (the minute) or ``"MM:SS"``; for ``.day(s)`` and weekdays
        ``"HH:MM"`` or ``"HH:MM:SS"``. *tz* is an IANA name or a ``tzinfo`` (default:
        the scheduler's timezone).

        Raises:
            ValueError: no unit yet, a unit without a time of day (seconds, weeks), a
                second ``.at()``, ``.to()`` in the chain, or a string that is not one of
                the unit's formats (the message names the string and the formats).
            TypeError: *time_str* is not a string, or *tz* neither a str nor a tzinfo.
            UnknownTimezone: *tz* is not a known zone.
        """
        # (A zone object is shown by its name, which is what the chain's repr shows.)
        tz_text = "" if tz is None else f", tz={str(tz) if isinstance(tz, tzinfo) else tz!r}"
        chain = f"{self._chain}.at({time_str!r}{tz_text})"
        if tz is not None and not isinstance(tz, (str, tzinfo)):
            raise TypeError(
                f"{chain}: tz must be a zone name (str) or a tzinfo, got {type(tz).__name__} {tz!r}"
            )
        if not isinstance(time_str, str):
            raise TypeError(f"{chain}: the time must be a str, got {type(time_str).__name__}")
        if self._unit is None:
            raise ValueError(
                f"{chain}: give the unit before .at(), e.g. every().day.at({time_str!r})"
            )
        if self._at is not None:
            raise ValueError(f"{chain}: .at() was already given; a chain takes one time")
        if self._latest is not None:
            raise ValueError(
                f"{chain}: a random interval (.to()) cannot be combined with a set time"
            )
        kind = "weekday" if self._weekday is not None else self._unit
        if kind == "seconds":
            raise ValueError(
                f"{chain}: .at() sets a time within each minute, hour or day; it does not "
                f"apply to seconds"
            )
        if kind == "weeks":
            raise ValueError(
                f"{chain}: .at() needs a day of the week; write every().monday.at("
                f"{time_str!r}) (or another weekday)"
            )
        clock = self._parse_at(time_str, kind, chain)
        try:
            zone = None if tz is None else coerce_timezone(tz, "tz")
        except (TypeError, LookupError) as error:  # (its class kept, the chain quoted)
            raise type(error)(f"{chain}: {error}") from None
        return replace(self, _at=clock, _zone=zone, _chain=chain)

    @staticmethod
    def _parse_at(text: str, kind: str, chain: str) -> tuple[int, int, int]:
        pattern, job_kind, formats = _AT_FORMATS[kind]
        found = pattern.fullmatch(text)
        if found is None:
            raise ValueError(f"{chain}: {text!r} is not a time for {job_kind}; use {formats}")
        groups: tuple[str | None, ...] = found.groups()
        names: tuple[str, ...]
        if kind == "minutes":
            names, values = ("second",), groups
        elif kind == "hours":
            names = ("minute", "second") if groups[0] is not None else ("minute",)
            values = groups if groups[0] is not None else groups[1:]
        else:
            names = ("hour", "minute", "second")
            values = groups
        clock = {"hour": 0, "minute": 0, "second": 0}
        for name, value in zip(names, values, strict=True):
            if value is None:
                continue
            number = int(value)
            limit = 23 if name == "hour" else 59
            if number > limit:
                raise ValueError(
                    f"{chain}: {name} {value} in {text!r} is out of range (00-{limit}); "
                    f"{job_kind} takes {formats}"
                )
            clock[name] = number
        return clock["hour"], clock["minute"], clock["second"]

    def to(self, latest: float) -> JobBuilder:
        """Run at a random interval between the chain's interval and *latest*.

        ``every(5).to(10).minutes``: each run starts 5 to 10 minutes after the previous
        one. The spread is drawn per run from the job id and the fire time (like
        ``jitter``), so it is the same in every process and restart; see
        ``docs/fluent.md`` for how the gaps are distributed.

        Raises:
            ValueError: *latest* is smaller than the interval, ``.to()`` or
                ``.options(jitter=...)`` was already given, or the chain has ``.at()`` or a
                weekday.
            TypeError: *latest* is not a number.
        """
        chain = f"{self._chain}.to({latest!r})"
        _number(latest, f"{chain}: the latest interval")
        if self._latest is not None:
            raise ValueError(f"{chain}: .to() was already given")
        if "jitter" in self._options:
            raise ValueError(
                f"{chain}: the jitter was already given with .options(jitter=...); .to() sets "
                "it (a random interval is the interval plus a jitter): give one or the other"
            )
        if self._unit is not None:
            _check_length(latest, self._unit, chain, "the latest interval")
        if latest < self._interval:
            raise ValueError(
                f"{chain}: the latest interval {latest!r} is smaller than the interval "
                f"{self._interval!r}"
            )
        if self._unit is not None:
            _check_spread(self._interval, latest, self._unit, chain)
        if self._at is not None:
            raise ValueError(
                f"{chain}: a random interval cannot be combined with a set time (.at())"
            )
        if self._weekday is not None:
            raise ValueError(f"{chain}: a random interval cannot run on a fixed weekday")
        return replace(self, _latest=latest, _chain=chain)

    def until(self, moment: datetime | timedelta | time | str) -> JobBuilder:
        """Stop running after *moment*: it becomes the job's ``end`` (inclusive).

        *moment* is a datetime, a timedelta from now, a time (today), or a string
        ``"HH:MM"``, ``"HH:MM:SS"`` (today), ``"YYYY-MM-DD"``, ``"YYYY-MM-DD HH:MM"`` or
        ``"YYYY-MM-DD HH:MM:SS"`` (an ISO 8601 offset may follow a time). Naive values are wall
        times in the zone of ``.at()``, else the scheduler's timezone.

        Raises:
            ValueError: a string in no accepted format, ``.until()`` already given, or a
                moment that is already past.
            TypeError: *moment* is of another type.
        """
        chain = f"{self._chain}.until({moment!r})"
        if self._until is not None:
            raise ValueError(f"{chain}: .until() was already given")
        if "end" in self._options:
            raise ValueError(f"{chain}: the end was already given with .options(end=...)")
        value: datetime | time
        if isinstance(moment, str):
            value = self._parse_until(moment, chain)
        elif isinstance(moment, datetime):
            value = moment
        elif isinstance(moment, timedelta):
            value = self._engine.clock.now() + moment
        elif isinstance(moment, time):
            value = moment
        else:
            raise TypeError(f"{chain}: expected {_UNTIL_FORMATS}; got {type(moment).__name__}")
        built = replace(self, _until=value, _chain=chain)
        now = self._engine.clock.now()
        built._end(now, self._zone or self._engine.timezone)  # raises when already past
        return built

    @staticmethod
    def _parse_until(text: str, chain: str) -> datetime | time:
        iso = text[:-1] + "+00:00" if text.endswith("Z") else text  # (3.10 takes no Z)
        try:
            if _UNTIL_TIME.fullmatch(text):
                return time.fromisoformat(iso)
            if _UNTIL_DATETIME.fullmatch(text):
                return datetime.fromisoformat(iso)
        except ValueError:
            raise ValueError(f"{chain}: {text!r} is not a valid date or time") from None
        raise ValueError(f"{chain}: {text!r} is not understood; expected {_UNTIL_FORMATS}")

    def _end(self, now: datetime, zone: tzinfo) -> datetime | None:
        """The ``.until()`` moment as an aware datetime; raises when not in the future."""
        value = self._until
        if value is None:
            return None
        if isinstance(value, time):
            day: date = now.astimezone(value.tzinfo or zone).date()
            end = at_wall(datetime.combine(day, value.replace(tzinfo=None)), value.tzinfo or zone)
        else:
            end = _wall_time(value, zone)
        if end <= now:
            raise ValueError(
                f"{self._chain}: cannot run until {end.isoformat()}: that is not in the "
                f"future (now is {now.astimezone(end.tzinfo).isoformat()})"
            )
        return end

    def tag(self, *tags: str) -> JobBuilder:
        """Add labels to the job (``get_jobs(tag)`` selects by them).

        Raises:
            TypeError: a tag is not a string.
            ValueError: a tag is the empty string.
        """
        for tag in tags:
            if not isinstance(tag, str):
                raise TypeError(
                    f"{self._chain}.tag(...): tags must be strings, got "
                    f"{type(tag).__name__} {tag!r}"
                )
        chain = f"{self._chain}.tag({', '.join(map(repr, tags))})"
        if "" in tags:
            raise ValueError(f"{chain}: tags must be non-empty strings, got ''")
        return replace(self, _tags=self._tags + tags, _chain=chain)

    def after(self, *job_ids: str, on: str = "success") -> JobBuilder:
        """Run the job after these jobs, once per slot (``add_job(after=..., on=...)``;
        see ``docs/workflows.md``). With a unit, the job runs on both its schedule and
        after them; without one (``every().after("extract").do(load)``), only after them.

        Raises:
            TypeError: no job id, or one that is not a string.
        """
        if not job_ids or not all(isinstance(job_id, str) for job_id in job_ids):
            raise TypeError(f"{self._chain}.after(...): give one or more job ids, got {job_ids!r}")
        chain = f"{self._chain}.after({', '.join(map(repr, job_ids))}, on={on!r})"
        merged = {**self._options, "after": job_ids, "on": on}
        return replace(self, _options=MappingProxyType(merged), _chain=chain)

    def options(self, **options: Any) -> JobBuilder:
        """Set any ``add_job`` option: ``.options(id="report", retry=3, overlap="skip")``.

        Every keyword-only option of ``add_job`` is accepted (``id``, ``name``,
        ``executor``, ``tags``, ``start``, ``end``, ``misfire_grace_time``, ``catchup``,
        ``coalesce``, ``max_catchup``, ``overlap``, ``max_instances``, ``jitter``,
        ``retry``, ``timeout``, ``max_consecutive_failures``, ``remaining_runs``,
        ``paused``, ``pause_note``, ``conflict``, ``replace_existing``,
        ``run_immediately``, ``first_fire``); the function's arguments go to :meth:`do`.
        A later call overrides an earlier one's values. The values are checked by
        ``add_job`` when :meth:`do` runs.

        Raises:
            TypeError: an unknown option, or ``args``/``kwargs``.
            ValueError: ``end`` / ``jitter`` that ``.until()`` / ``.to()`` already decide
                (as ``.until()`` / ``.to()`` after ``.options(end=...)`` / ``jitter=...``).
        """
        chain = f"{self._chain}.options({', '.join(f'{k}={v!r}' for k, v in options.items())})"
        if "args" in options or "kwargs" in options:
            raise TypeError(f"{chain}: pass the function's arguments to .do(func, *args, **kwargs)")
        unknown = sorted(set(options) - OPTION_NAMES)
        if unknown:
            raise TypeError(
                f"{chain}: unknown option(s) {', '.join(unknown)} (accepted: "
                f"{', '.join(sorted(OPTION_NAMES))})"
            )
        if "end" in options and self._until is not None:
            raise ValueError(f"{chain}: the end was already given with .until()")
        if "jitter" in options and self._latest is not None:
            raise ValueError(f"{chain}: .to() already sets the jitter; give one or the other")
        return replace(self, _options=MappingProxyType({**self._options, **options}), _chain=chain)

    # -- the end of the chain ---------------------------------------------------------

    def do(self, job_func: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Job:
        """Add the job: call ``job_func(*args, **kwargs)`` on the chain's schedule.

        *job_func* is a callable or a ``"module:function"`` reference. Returns the new
        :class:`~tickwork.Job`. With the module-level :func:`tickwork.every`, this also
        starts the default scheduler if it is not running yet.

        Raises:
            ValueError: the chain has no unit, ``.until()`` is now past, or ``add_job``
                refuses an option (the message names it).
            TypeError: *job_func* is neither callable nor a reference.
        """
        # (A count or a .to() with no unit is a schedule cut short, not a job that runs
        # after others only: refused as every(10).do() is.)
        counted = self._interval != 1 or type(self._interval) is not int
        counted = counted or self._latest is not None
        if self._unit is None and self._options.get("after") and not counted:
            job = self._engine.add_job(job_func, args=args, kwargs=kwargs, **self._options)
            if self._on_added is not None:
                self._on_added()
            return job
        if self._unit is None:
            raise ValueError(
                f"{self._chain}.do(...): the chain has no unit; write e.g. "
                f"every({self._interval!r}).minutes.do(job)"
            )
        if not callable(job_func) and not (isinstance(job_func, str) and ":" in job_func):
            raise TypeError(
                f"{self._chain}.do(...): the job must be a callable or a 'module:function' "
                f"reference, got {type(job_func).__name__} {job_func!r}"
            )
        engine = self._engine
        now = engine.clock.now()
        zone = self._zone or engine.timezone
        try:
            trigger, jitter = self._trigger(now, zone)
        except (ValueError, OverflowError) as error:  # a schedule past the year 9999
            raise ValueError(f"{self._chain}.do(...): {error}") from None
        options = dict(self._options)
        if self._tags:
            given = options.get("tags") or ()
            options["tags"] = (*((given,) if isinstance(given, str) else given), *self._tags)
        end = self._end(now, zone)
        if end is not None:
            options["end"] = end
        if jitter is not None:
            options["jitter"] = jitter
        trigger = self._same_phase(trigger, options)
        try:
            job = engine.add_job(job_func, trigger, args=args, kwargs=kwargs, **options)
        except ValueError as error:
            if type(error) is not ValueError or "would never run" not in str(error):
                raise
            raise ValueError(f"{self._chain}.do(...): {error}") from None  # an .until() too early
        if self._on_added is not None:
            self._on_added()
        return job

    def _same_phase(self, trigger: Trigger, options: Mapping[str, Any]) -> Trigger:
        """For ``every(n).minutes/hours.at()`` (n > 1) replacing a job of the same chain:
        the stored job's trigger, so that its stored next run is kept. Such a chain's
        first run is drawn from the moment of ``.do()`` (n units from the set time in
        the current minute or hour), so each start-up would move it, and a service
        restarted more often than n units would never run the job. The same chain is
        the same interval, zone and end, with a start at the same time of the minute or
        hour (the set time)."""
        unit = self._unit
        if (
            self._at is None
            or unit not in ("minutes", "hours")
            or type(trigger) is not IntervalTrigger
            or not options.get("replace_existing")
            or not isinstance(options.get("id"), str)
        ):
            return trigger
        existing = self._engine.get_job(options["id"])
        old = None if existing is None else existing.trigger
        if (
            type(old) is not IntervalTrigger
            or old.interval != trigger.interval
            or old.timezone != trigger.timezone
            or old.end != trigger.end
            or (trigger.start - old.start) % timedelta(**{unit: 1})
        ):
            return trigger
        return old

    def _trigger(self, now: datetime, zone: tzinfo) -> tuple[Trigger, timedelta | None]:
        """The chain's trigger, and the jitter ``.to()`` asks for."""
        unit, count = self._unit, self._interval
        assert unit is not None
        if self._latest is not None:
            # The mean interval, plus a jitter of half the spread: each gap between
            # runs falls in [interval, latest] (see docs/fluent.md).
            low, high = count, self._latest
            mean = (low + high) / 2
            trigger = _interval(unit, mean, now + timedelta(**{unit: low}), zone)
            return trigger, timedelta(**{unit: (high - low) / 2})
        local = now.astimezone(zone)
        if self._weekday is not None:
            if self._at is not None:
                hour, minute, second = self._at
                start = None
            else:  # as schedule: the time of day of the .do() call, a week on if today
                hour, minute, second = local.hour, local.minute, local.second
                start = now.replace(microsecond=0) + timedelta(seconds=1)
            expression = _cron(second, minute, hour, _CRON_DAYS[self._weekday])
            return CronTrigger(expression, timezone=zone, start=start), None
        if unit in ("days", "weeks"):
            if unit == "days" and count == 1 and self._at is not None:
                hour, minute, second = self._at
                return CronTrigger(_cron(second, minute, hour), timezone=zone), None
            clock = self._at or (local.hour, local.minute, local.second)
            return _calendar(unit, int(count), clock, now, zone), None
        if self._at is None:
            interval = _interval(unit, count, now, zone)
            return interval._shifted(interval.interval), None
        _, minute, second = self._at
        if count == 1:
            hour_field = "*"
            minute_field: int | str = minute if unit == "hours" else "*"
            return CronTrigger(_cron(second, minute_field, hour_field), timezone=zone), None
        # every(n).minutes/hours.at(...), n > 1: n units of elapsed time from the set
        # time in the current minute or hour, as schedule counts them.
        # (Moved within the hour in the offset in force now: on Lord Howe's change day,
        # 02:40+11:00 .at(":15") is 02:15+11:00; read as a wall time, 02:15 fell in the
        # gap and gave 02:45+11:00, and every run came at :45.)
        shift = timedelta(minutes=minute - local.minute) if unit == "hours" else timedelta()
        shift += timedelta(seconds=second - local.second, microseconds=-local.microsecond)
        first = local.astimezone(_UTC) + shift + timedelta(**{unit: count})
        return _interval(unit, count, first.astimezone(zone), zone), None


def _builder(
    engine: Engine, interval: float, on_added: Callable[[], None] | None = None
) -> JobBuilder:
    """The start of a chain on *engine* (``Scheduler.every`` and :func:`tickwork.every`)."""
    plain_one = interval == 1 and type(interval) is int  # (True == 1: shown as given)
    chain = "every()" if plain_one else f"every({interval!r})"
    _number(interval, f"{chain}: the interval")
    return JobBuilder(engine, interval, chain, on_added)


def repeat(job: JobBuilder, *args: Any, **kwargs: Any) -> Callable[[F], F]:
    """Decorator: schedule the function with a chain, and return it unchanged.

    ``@tickwork.repeat(tickwork.every().day.at("10:30"))`` adds the job to the default
    scheduler; ``@tickwork.repeat(scheduler.every(5).minutes)`` to *scheduler*. *args*
    and *kwargs* are passed to the function on each run.

    Raises:
        TypeError: *job* is not a chain from ``every()``.
        ValueError: the chain has no unit (raised when decorating).
    """
    if not isinstance(job, JobBuilder):
        raise TypeError(
            f"repeat() takes a chain such as every().day.at('10:30'), got {type(job).__name__}"
        )

    def decorate(func: F) -> F:
        job.do(func, *args, **kwargs)
        return func

    return decorate
