"""A trigger with no time of its own: the job runs when an event of its name is emitted.

``EventTrigger`` answers :meth:`~EventTrigger.next_after` with ``None`` (it never fires
by the clock); the engine knows it by :func:`event_names` and starts the job when
``scheduler.emit(name, payload)`` is called. Combined with time triggers in an
:class:`~tickwork.triggers.OrTrigger`, the job runs on either.

A filter is kept as data so that the trigger serializes like every other one: either
a *declarative match* (a mapping of payload keys to the values they must have; a
dotted key reaches into nested objects; a list of values means "any of these") or a
*function reference* ``"module:qualname"`` that takes the payload and returns a bool.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from .._checks import duration
from .._errors import JobLookupError
from .._references import function_of, imports_allowed, reference_of, why_no_reference
from .._tz import require_aware
from ._base import Trigger

__all__ = ["EventTrigger", "event_names", "listens_for_events", "resolve_filters"]

_MISSING = object()


def _check_name(name: object, argument: str = "name") -> str:
    if not isinstance(name, str):
        raise TypeError(f"{argument} must be a str, got {type(name).__name__} {name!r}")
    if not name or name != name.strip():
        raise ValueError(
            f"{argument} must be a non-empty event name without surrounding spaces, got {name!r}"
        )
    return name


def _check_json(value: object, where: str) -> None:
    """Refuse a declarative filter value that JSON cannot hold (it must serialize)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{where}[{index}]")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"filter key {key!r} in {where} must be a str")
            _check_json(item, f"{where}.{key}")
        return
    raise TypeError(
        f"filter value at {where} must be JSON data (str, number, bool, None, list, dict), "
        f"got {type(value).__name__} {value!r}"
    )


def _coerce_filter(value: object) -> str | dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        module, sep, qualname = value.partition(":")
        if not sep or not module or not qualname:
            raise ValueError(
                f'filter must be a "module:qualname" function reference, got {value!r}'
            )
        return value
    if isinstance(value, Mapping):
        if not value:
            raise ValueError("filter must not be an empty mapping (it would match everything)")
        match: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                raise TypeError(f"filter keys must be non-empty str, got {key!r}")
            _check_json(item, key)
            match[key] = list(item) if isinstance(item, list) else item
        return match
    if callable(value):
        reference = reference_of(value)
        if reference is None:
            raise TypeError(
                f"filter {value!r} cannot be stored: {why_no_reference(value)}; give a "
                'module-level function or its "module:qualname"'
            )
        return reference
    raise TypeError(
        "filter must be None, a mapping of payload keys to values, a function or its "
        f'"module:qualname" reference, got {type(value).__name__} {value!r}'
    )


def _same(found: object, wanted: object) -> bool:
    """Whether two JSON values are equal as JSON has them: ``true`` and ``false`` are not
    the numbers 1 and 0 (as they are to Python's ``==``), inside lists and objects too."""
    if isinstance(found, bool) or isinstance(wanted, bool):
        return found is wanted
    if isinstance(found, Mapping) and isinstance(wanted, Mapping):
        return found.keys() == wanted.keys() and all(_same(found[k], wanted[k]) for k in found)
    if isinstance(found, list) and isinstance(wanted, list):
        return len(found) == len(wanted) and all(map(_same, found, wanted))
    return found == wanted


def _lookup(payload: object, dotted: str) -> object:
    current = payload
    for part in dotted.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return _MISSING
        current = current[part]
    return current


class EventTrigger(Trigger):
    """Runs its job when an event called *name* is emitted (``scheduler.emit(name,
    payload)``), not at a time.

    Args:
        name: the event name, such as ``"order.created"``.
        debounce: seconds or a ``timedelta``: wait until events have stopped for that
            long, then run once, with the *last* event (its payload is in
            ``current_run().event``; the others of the burst are dropped).
        throttle: seconds or a ``timedelta``: at most one run per period. The first
            event runs at once; events in the following *throttle* are dropped.
        filter: which events run the job: ``None`` (all), a mapping ``{"key":
            value}`` that the payload must match (every key; a dotted key such as
            ``"customer.country"`` looks into nested objects; a list value means any
            of its items), or a module-level function (stored as its
            ``"module:qualname"``), or that reference as a string, called with the
            payload and returning a bool.

    Raises:
        TypeError: *name* is not a str, a duration is not a number or ``timedelta``, or
            *filter* is of no accepted kind (a lambda, which cannot be stored, is not).
        ValueError: *name* is empty, a duration is not positive, both *debounce* and
            *throttle* are given, or a reference is malformed.

    The trigger has no time of its own: :meth:`next_after` and
    :meth:`previous_before` return None. An :class:`~tickwork.triggers.AndTrigger`
    refuses it (an instant cannot both be a time and an event).
    """

    __slots__ = ("_debounce", "_filter", "_name", "_throttle")
    type_name = "event"

    _name: str
    _debounce: timedelta | None
    _throttle: timedelta | None
    _filter: str | dict[str, Any] | None

    def __init__(
        self,
        name: str,
        *,
        debounce: float | timedelta | None = None,
        throttle: float | timedelta | None = None,
        filter: Callable[[Any], bool] | str | Mapping[str, Any] | None = None,
    ) -> None:
        _check_name(name)
        bounce = None if debounce is None else duration(debounce, "debounce", positive=True)
        limit = None if throttle is None else duration(throttle, "throttle", positive=True)
        if bounce is not None and limit is not None:
            raise ValueError(
                "give debounce or throttle, not both: debounce waits for a burst to end, "
                "throttle runs at its start"
            )
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_debounce", bounce)
        object.__setattr__(self, "_throttle", limit)
        object.__setattr__(self, "_filter", _coerce_filter(filter))

    @property
    def name(self) -> str:
        """The event name this trigger listens for."""
        return self._name

    @property
    def debounce(self) -> timedelta | None:
        """How long events must stop before the job runs, or None."""
        return self._debounce

    @property
    def throttle(self) -> timedelta | None:
        """The shortest time between two runs, or None."""
        return self._throttle

    @property
    def filter(self) -> str | dict[str, Any] | None:
        """The filter as stored: a ``"module:qualname"``, a match mapping, or None."""
        return self._filter

    def matches(self, payload: object) -> bool:
        """Whether an event with *payload* passes the filter.

        A function filter that raises propagates its error (the engine logs it and
        does not run the job).
        """
        match = self._filter
        if match is None:
            return True
        if isinstance(match, str):
            return bool(function_of(match)(payload))
        for key, wanted in match.items():
            found = _lookup(payload, key)
            if found is _MISSING:
                return False
            if isinstance(wanted, list):
                if not any(_same(found, value) for value in wanted):
                    return False
            elif not _same(found, wanted):
                return False
        return True

    def next_after(self, moment: datetime) -> datetime | None:
        """None: an event trigger has no fire time of its own."""
        require_aware(moment, "moment")
        return None

    def previous_before(self, moment: datetime) -> datetime | None:
        """None: an event trigger has no fire time of its own."""
        require_aware(moment, "moment")
        return None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type_name, "name": self._name}
        if self._debounce is not None:
            data["debounce"] = self._debounce.total_seconds()
        if self._throttle is not None:
            data["throttle"] = self._throttle.total_seconds()
        if self._filter is not None:
            data["filter"] = self._filter
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EventTrigger:
        return cls(
            data["name"],
            debounce=data.get("debounce"),
            throttle=data.get("throttle"),
            filter=data.get("filter"),
        )

    def __repr__(self) -> str:
        parts = [repr(self._name)]
        if self._debounce is not None:
            parts.append(f"debounce={self._debounce.total_seconds()!r}")
        if self._throttle is not None:
            parts.append(f"throttle={self._throttle.total_seconds()!r}")
        if self._filter is not None:
            parts.append(f"filter={self._filter!r}")
        return f"EventTrigger({', '.join(parts)})"


def event_triggers(trigger: Trigger) -> list[EventTrigger]:
    """The event triggers in *trigger* (itself, or inside an ``OrTrigger``)."""
    if isinstance(trigger, EventTrigger):
        return [trigger]
    children = getattr(trigger, "triggers", None)
    # (getattr: a custom trigger need not name its type)
    if getattr(type(trigger), "type_name", None) != "or" or not isinstance(children, tuple):
        return []
    found: list[EventTrigger] = []
    for child in children:
        found += event_triggers(child)
    return found


def event_names(trigger: Trigger) -> frozenset[str]:
    """The event names *trigger* listens for (empty for a time-only trigger)."""
    return frozenset(found.name for found in event_triggers(trigger))


#: Whether each trigger class seen is an EventTrigger: asked once per run that ends,
#: where ``isinstance`` against the abstract base class costs a Python-level call.
_EVENT_KINDS: dict[type, bool] = {}


def listens_for_events(trigger: Trigger) -> bool:
    """Whether a job with *trigger* waits for events: it is never done for lack of fire
    times."""
    kind = type(trigger)
    listens = _EVENT_KINDS.get(kind)
    if listens is None:
        listens = _EVENT_KINDS[kind] = issubclass(kind, EventTrigger)
    if listens:
        return True
    return getattr(kind, "type_name", None) == "or" and bool(event_triggers(trigger))


def resolve_filters(trigger: Trigger) -> None:
    """Import the function filters of the event triggers in *trigger* (into the cache
    :meth:`EventTrigger.matches` reads), so that a reference that does not resolve (a
    typo, a module not installed) fails where the job is added or rescheduled, as its
    function's does, not at every event while the job never runs.

    Building a trigger imports nothing (a stored one is rebuilt by every reader, some of
    which must run no code: see ``references_as_text``, inside which this does nothing
    either). A filter in a module still being imported is not looked for: its function
    may be defined below the line that adds the job.

    Raises:
        JobLookupError: a filter's module or function cannot be found; the message
            names the filter and the event.
        TypeError: a filter names something that is not callable.
        Whatever importing the filter's module raises.
    """
    kind = type(trigger)
    if not issubclass(kind, EventTrigger) and getattr(kind, "type_name", None) != "or":
        return  # (most jobs: one class check, nothing else)
    if not imports_allowed():
        return
    for found in event_triggers(trigger):
        reference = found.filter
        if not isinstance(reference, str):
            continue
        module = sys.modules.get(reference.partition(":")[0])
        if getattr(getattr(module, "__spec__", None), "_initializing", False):
            continue
        try:
            function_of(reference)
        except (LookupError, TypeError) as error:
            raised = JobLookupError if isinstance(error, LookupError) else TypeError
            raise raised(
                f"filter={reference!r} of the trigger on event {found.name!r} cannot be "
                f"used: {error}"
            ) from None
