"""Turning ``add_job(func, "cron", hour=9)``-style shortcuts into trigger objects.

The spellings follow what APScheduler users write: ``"interval"`` and ``"date"`` with
keyword arguments, ``"cron"`` with an expression or with APScheduler's field keywords.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, tzinfo
from typing import Any, NamedTuple

from ._checks import duration
from ._tz import coerce_timezone, epoch_us, require_aware
from .triggers import (
    AndTrigger,
    CalendarIntervalTrigger,
    CronTrigger,
    DateTrigger,
    IntervalTrigger,
    OrTrigger,
    Trigger,
)
from .triggers.date import run_at_in

__all__ = ["TriggerSpec", "coerce_datetime", "coerce_seconds", "make_trigger"]

_CRON_FIELDS = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")
_INTERVAL_UNITS = ("weeks", "days", "hours", "minutes", "seconds")
_CALENDAR_KEYS = ("years", "months", "weeks", "days", "hour", "minute", "second", "on_missing_day")
_KINDS = ("cron", "interval", "date", "calendar")


class TriggerSpec(NamedTuple):
    """A built trigger, plus what the shortcut said about the job. (A named tuple: one
    is made per ``add_job``, and a frozen dataclass costs several times more.)"""

    trigger: Trigger
    #: The interval's start was filled in from "now": re-adding the same job later
    #: counts as the same trigger when everything else is equal.
    defaulted_start: bool = False
    jitter: timedelta | None = None


def coerce_seconds(value: object, argument: str, *, allow_zero: bool = True) -> timedelta | None:
    """Seconds (int or float) or a timedelta, as a timedelta; None stays None.

    NaN, infinities and durations over :data:`~tickwork._checks.MAX_SECONDS` are refused
    with a ``ValueError`` naming *argument* (``None`` is how an option says "no limit").
    """
    if value is None:
        return None
    return duration(value, argument, positive=not allow_zero)


def coerce_datetime(value: object, argument: str, zone: tzinfo | None = None) -> datetime | None:
    """An aware datetime, or an ISO 8601 string with an offset; None stays None. (A
    naive one's error shows how to attach *zone*, the zone meant.)"""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"{argument}: {value!r} is not an ISO 8601 datetime "
                "(expected e.g. '2024-05-01T09:00:00+02:00')"
            ) from None
        return require_aware(parsed, argument, zone)
    return require_aware(value, argument, zone)


def _take(options: dict[str, Any], name: str, alias: str) -> Any:
    """Pop *name* or its *alias*, whichever is present, refusing both at once."""
    if name in options:
        if alias in options:
            raise TypeError(f"give only one of {name}, {alias}")
        return options.pop(name)
    return options.pop(alias, None)


def make_trigger(
    trigger: Trigger | str | None,
    args: tuple[Any, ...],
    options: Mapping[str, Any],
    *,
    now: datetime,
    zone: tzinfo,
    real_time: bool = True,
) -> TriggerSpec:
    """Build the trigger ``add_job`` was asked for. Errors name the offending argument.

    With *real_time* false (the scheduler's clock is not the system's, e.g. a
    ``FakeClock``), an interval or calendar trigger object built without a start, which
    took the system clock's time, starts from *now* instead.
    """
    rest = dict(options)
    if type(trigger) is not str:  # (a name, the usual case, skips the check on an ABC)
        if isinstance(trigger, Trigger):
            if args or rest:
                extra = ", ".join([*(repr(a) for a in args), *rest])
                raise UnexpectedArguments(
                    f"unexpected arguments with a trigger object: {extra} (a trigger "
                    "object takes no fields: give them to the trigger)",
                    sorted(rest),
                    (),
                )
            if not real_time:
                trigger = _started_at(trigger, now)
            return TriggerSpec(trigger)
        if trigger is None:
            raise TypeError(
                "a trigger is required: a trigger object, or 'cron', 'interval', 'date' or "
                "'calendar' with their arguments"
            )
        if not isinstance(trigger, str):
            raise TypeError(f"trigger must be a Trigger or a name, got {type(trigger).__name__}")
    kind = trigger.lower()
    if kind not in _KINDS:
        hint = ""
        if len(trigger.split()) >= 5 or trigger.startswith("@"):
            hint = f"; for a cron expression write add_job(func, 'cron', {trigger!r})"
        raise ValueError(f"unknown trigger {trigger!r} (expected one of {', '.join(_KINDS)}){hint}")
    jitter = rest.pop("jitter", None)
    if jitter is not None:
        jitter = coerce_seconds(jitter, "jitter")
    tz_value = rest.pop("timezone", None)
    trigger_zone = zone if tz_value is None else coerce_timezone(tz_value)
    start = end = None
    if not rest.keys() <= _INTERVAL_UNIT_SET:  # (the usual interval job names only units)
        start = coerce_datetime(_take(rest, "start_date", "start"), "start_date", trigger_zone)
        end = coerce_datetime(_take(rest, "end_date", "end"), "end_date", trigger_zone)
    if end is not None and kind != "date":
        # Checked here, not by the trigger: an interval or calendar trigger without a
        # start_date starts now, which the trigger's own message would call its start.
        if start is not None and epoch_us(end) < epoch_us(start):
            raise ValueError(f"end_date {end.isoformat()} is before start_date {start.isoformat()}")
        if start is None and epoch_us(end) < epoch_us(now):
            raise ValueError(
                f"end_date {end.isoformat()} is before the current time {now.isoformat()}"
            )
    if kind == "cron":
        spec = _cron(args, rest, trigger_zone, start, end)
    elif kind == "interval":
        spec = _interval(args, rest, trigger_zone, start, end, now)
    elif kind == "date":
        spec = _date(args, rest, trigger_zone, start, end)
    else:
        spec = _calendar(args, rest, trigger_zone, start, end, now)
    return spec if jitter is None else spec._replace(jitter=jitter)


class UnexpectedArguments(TypeError):
    """Arguments a trigger shortcut does not take: *names*, beside the *allowed* ones
    (``add_job`` adds what a misspelt job option was meant to be)."""

    def __init__(self, message: str, names: list[str], allowed: tuple[str, ...]) -> None:
        super().__init__(message)
        self.names = names
        self.allowed = allowed


def _refuse_extra(kind: str, rest: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    if rest:
        article = "an" if kind[:1] in "aeiou" else "a"
        names = sorted(rest)
        raise UnexpectedArguments(
            f"unexpected argument(s) for {article} {kind!r} trigger: {', '.join(names)} "
            f"(accepted: {', '.join(allowed)})",
            names,
            allowed,
        )


def _cron(
    args: tuple[Any, ...],
    rest: dict[str, Any],
    zone: tzinfo,
    start: datetime | None,
    end: datetime | None,
) -> TriggerSpec:
    policies = {key: rest.pop(key) for key in ("dst_gap", "dst_overlap") if key in rest}
    fields = {key: rest.pop(key) for key in _CRON_FIELDS if key in rest}
    expression = rest.pop("expression", None)
    # (Without a hash_key, the scheduler gives H items the job's id.)
    hash_key = rest.pop("hash_key", None)
    if args:
        if len(args) > 1 or expression is not None:
            raise TypeError("a 'cron' trigger takes one expression, e.g. '0 9 * * mon-fri'")
        expression = args[0]
    _refuse_extra("cron", rest, ("expression", *_CRON_FIELDS, "timezone", "start_date",
                                 "end_date", "jitter", "dst_gap", "dst_overlap",
                                 "hash_key"))  # fmt: skip
    if expression is not None:
        if fields:
            raise TypeError(
                f"give a cron expression or field keywords, not both ({', '.join(fields)})"
            )
        return TriggerSpec(
            CronTrigger(
                expression, timezone=zone, start=start, end=end, hash_key=hash_key, **policies
            )
        )
    if all(value is None for value in fields.values()):
        # (hour=None is no field: a value from a config file that came through empty
        # would otherwise make a daily job fire every second.)
        given = f" (given only as None: {', '.join(fields)})" if fields else ""
        raise TypeError(
            f"a 'cron' trigger needs an expression or field keywords such as hour=9{given}"
        )
    made = CronTrigger.from_fields(timezone=zone, start=start, end=end, **policies, **fields)
    return TriggerSpec(made if hash_key is None else made.with_hash_key(hash_key))


#: Validated interval triggers by their amounts (with the amounts' types: 1 == 1.0, but
#: the trigger shows which one was given) and zone, with their interval.
_INTERVALS: dict[Any, tuple[IntervalTrigger, timedelta]] = {}
_INTERVAL_UNIT_SET = frozenset(_INTERVAL_UNITS)


def _started_at(trigger: Trigger, now: datetime) -> Trigger:
    """*trigger* with each interval or calendar trigger in it that was built without a
    start counting from *now* instead of the system clock's time when it was built (an
    interval's first fire one interval after *now*, as the shortcut's); the same object
    if it holds none."""
    if isinstance(trigger, IntervalTrigger) and getattr(trigger, "_system_start", False):
        return trigger._shifted(now - trigger._start + trigger.interval)
    if isinstance(trigger, CalendarIntervalTrigger) and getattr(trigger, "_system_start", False):
        return trigger._restarted(now)
    if isinstance(trigger, (AndTrigger, OrTrigger)):
        children = [_started_at(child, now) for child in trigger.triggers]
        if any(new is not old for new, old in zip(children, trigger.triggers, strict=True)):
            if isinstance(trigger, AndTrigger):
                return AndTrigger(children, max_iterations=trigger.max_iterations)
            return OrTrigger(children)
    return trigger


def _interval(
    args: tuple[Any, ...],
    rest: dict[str, Any],
    zone: tzinfo,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> TriggerSpec:
    if args:
        raise TypeError("an 'interval' trigger takes keyword arguments, e.g. minutes=5")
    if rest.keys() <= _INTERVAL_UNIT_SET:  # the usual case: nothing else is left
        units = rest
    else:
        units = {key: rest.pop(key) for key in _INTERVAL_UNITS if key in rest}
        _refuse_extra("interval", rest, (*_INTERVAL_UNITS, "start_date", "end_date",
                                         "timezone", "jitter"))  # fmt: skip
    if start is None:
        # As APScheduler: the first run is one interval from now. The trigger's start is
        # shifted by one interval afterwards, so its own (exact) arithmetic decides it.
        # Programs add many jobs with the same interval: the validated trigger is kept
        # and only moved to the new start.
        # (Only without an end: a kept trigger is not checked again against its end.)
        key: Any = None
        kept = None
        if end is None:
            try:
                key = (*units.items(), *map(type, units.values()), zone)
                kept = _INTERVALS.get(key)
            except TypeError:  # an unhashable amount, which IntervalTrigger refuses
                key = None
        if kept is None:
            made = IntervalTrigger(**units, start=now, end=end, timezone=zone)
            kept = (made, made.interval)
            if key is not None and len(_INTERVALS) < 256:
                _INTERVALS[key] = kept
        template, interval = kept
        return TriggerSpec(template._shifted(now - template._start + interval), True)
    return TriggerSpec(IntervalTrigger(**units, start=start, end=end, timezone=zone))


def _date(
    args: tuple[Any, ...],
    rest: dict[str, Any],
    zone: tzinfo,
    start: datetime | None,
    end: datetime | None,
) -> TriggerSpec:
    run_at = _take(rest, "run_date", "run_at")
    if args:
        if len(args) > 1 or run_at is not None:
            raise TypeError("a 'date' trigger takes one datetime (run_date=...)")
        run_at = args[0]
    _refuse_extra("date", rest, ("run_date", "timezone"))
    if start is not None or end is not None:
        raise TypeError("a 'date' trigger has no start_date or end_date")
    when = coerce_datetime(run_at, "run_date", zone)
    if when is None:
        raise TypeError("a 'date' trigger needs run_date=<aware datetime>")
    run_at_in(when, zone, "run_date")  # (so that an instant out of range names run_date)
    return TriggerSpec(DateTrigger(when, timezone=zone))


def _calendar(
    args: tuple[Any, ...],
    rest: dict[str, Any],
    zone: tzinfo,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> TriggerSpec:
    if args:
        raise TypeError("a 'calendar' trigger takes keyword arguments, e.g. months=1, hour=9")
    policies = {key: rest.pop(key) for key in ("dst_gap", "dst_overlap") if key in rest}
    fields = {key: rest.pop(key) for key in _CALENDAR_KEYS if key in rest}
    _refuse_extra("calendar", rest, (*_CALENDAR_KEYS, "start_date", "end_date", "timezone",
                                     "jitter", "dst_gap", "dst_overlap"))  # fmt: skip
    return TriggerSpec(
        CalendarIntervalTrigger(**fields, **policies, start=start or now, end=end, timezone=zone),
        defaulted_start=start is None,
    )
