"""The trigger contract, the DST policy enums and the registry used for serialization."""

from __future__ import annotations

import functools
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any, ClassVar, TypeVar

from .._instants import EPOCH, epoch_us
from .._tz import require_aware

__all__ = ["DstGap", "DstOverlap", "Trigger", "stored_datetime", "trigger_from_dict"]

_E = TypeVar("_E", bound=Enum)

#: How far back the generic :meth:`Trigger.previous_before` looks: the first day of
#: the year 1 that every zone can express (``datetime.min`` in UTC is not, west of it).
_EARLIEST_US = epoch_us(datetime(1, 1, 2, tzinfo=timezone.utc))
_SECOND_US = 1_000_000


class DstGap(str, Enum):
    """What a wall-clock time that does not exist (a spring-forward gap) does.

    ``SHIFT``: fire once at the first instant after the gap (03:00 for a 02:30 job on
    the night clocks jump from 02:00 to 03:00), merged with any real slot at that instant.
    ``SKIP``: do not fire for that wall time at all.
    """

    SHIFT = "shift"
    SKIP = "skip"


class DstOverlap(str, Enum):
    """What a wall-clock time that happens twice (a fall-back overlap) does.

    ``FIRST``: fire once, at the earlier of the two instants. ``LAST``: once, at the
    later one. ``BOTH``: at both instants.
    """

    FIRST = "first"
    BOTH = "both"
    LAST = "last"


class _MalformedField(ValueError):
    """A field of trigger data that is not what ``to_dict`` writes there (wrapped by
    :func:`trigger_from_dict` into its "invalid ... trigger data" error)."""


def stored_datetime(value: Any, field: str) -> datetime:
    """*value* read back from ``isoformat()``, as ``to_dict`` stores a datetime.

    Raises:
        ValueError: naming *field*: *value* is not a str or not an ISO 8601 datetime.
    """
    try:
        return datetime.fromisoformat(value)
    except TypeError:
        raise _MalformedField(
            f"{field} must be an ISO 8601 datetime string, got {type(value).__name__} {value!r}"
        ) from None
    except ValueError as error:
        raise _MalformedField(f"{field} {value!r} is not an ISO 8601 datetime ({error})") from None


def coerce_enum(enum_type: type[_E], value: object, argument: str) -> _E:
    """Accept an enum member or its string value; anything else is a ``ValueError``."""
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        choices = ", ".join(repr(member.value) for member in enum_type)
        raise ValueError(f"{argument} must be one of {choices}, got {value!r}") from None


class Trigger(ABC):
    """A rule that says when a job fires. Triggers are immutable values.

    The one question a trigger answers is :meth:`next_after`; :meth:`previous_before`
    asks it the other way round. Triggers never read the clock: the moment to start
    from is always an argument. Every trigger round-trips through :meth:`to_dict` /
    :func:`trigger_from_dict` as JSON-safe data.

    A trigger written outside tickwork needs only :meth:`next_after` (plus the
    serialization methods, and a ``type_name`` to be read back from a store); walking
    backwards then works through a generic search over it (see :meth:`previous_before`),
    which it may override with a direct answer. Its ``__init__`` sets its attributes as
    usual; once built, a trigger is a value (setting an attribute raises).
    """

    __slots__ = ()

    #: The ``"type"`` key of this trigger's :meth:`to_dict` form.
    type_name: ClassVar[str]
    _registry: ClassVar[dict[str, type[Trigger]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("type_name")
        if isinstance(name, str):
            Trigger._registry[name] = cls
        init = cls.__dict__.get("__init__")
        if init is not None and not cls.__module__.startswith("tickwork."):
            cls.__init__ = _building(init)  # type: ignore[method-assign]

    @abstractmethod
    def next_after(self, moment: datetime) -> datetime | None:
        """The earliest fire instant strictly later than *moment*, or ``None`` if none is left.

        *moment* must be an aware datetime (a naive one raises ``TypeError``). The result
        is an aware datetime in the trigger's timezone. Compare results by instant
        (convert to UTC): Python compares two datetimes of the same zone by wall time.
        """

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description of this trigger, including a ``"type"`` key."""

    @classmethod
    @abstractmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trigger:
        """Rebuild a trigger from :meth:`to_dict`'s output."""

    def iter_after(self, moment: datetime) -> Iterator[datetime]:
        """Successive fire instants strictly after *moment*, until the trigger ends.

        Raises:
            TypeError: *moment* is naive or not a datetime (at the call, not at the
                first ``next()``).
        """
        return self._walk(self.next_after, require_aware(moment, "moment"))

    def next_times(self, moment: datetime, count: int) -> list[datetime]:
        """Up to *count* successive fire instants strictly after *moment*."""
        if isinstance(count, bool):  # (a bool is not a number: one rule everywhere)
            raise TypeError(f"count must be a non-negative int, got bool {count!r}")
        if not isinstance(count, int) or count < 0:
            raise ValueError(f"count must be a non-negative int, got {count!r}")
        result: list[datetime] = []
        if count == 0:
            return result
        for instant in self.iter_after(moment):
            result.append(instant)
            if len(result) >= count:
                break
        return result

    def previous_before(self, moment: datetime) -> datetime | None:
        """The latest fire instant strictly earlier than *moment*, or ``None`` if there is none.

        The same set of fire instants as :meth:`next_after`, walked the other way: for
        a result ``p``, ``next_after(p - 1 µs)`` is ``p`` and ``next_after(p)`` is at or
        after *moment* (or ``None``). ``None`` when no fire lies before *moment*
        (before a start date, before a one-off time). *moment* must be an aware
        datetime (a naive one raises ``TypeError``); the result is in the trigger's
        timezone, as :meth:`next_after` gives it.

        Every built-in trigger answers directly. This default, for triggers that
        define only :meth:`next_after`, searches with it: it probes further and
        further back from *moment* (1 s, 2 s, 4 s, ... down to the year 1) until a
        fire lies between the probe and *moment*, then bisects to the microsecond.
        That costs about ``2 * log2(distance in µs)`` calls of :meth:`next_after`
        (under 130) and relies on its contract: its answers never move back as the
        moment moves forward. Whatever :meth:`next_after` raises propagates.
        """
        target = epoch_us(require_aware(moment, "moment"))

        def fire_after(micros: int) -> datetime | None:
            return self.next_after(EPOCH + timedelta(microseconds=micros))

        # Gallop back until some fire lies in (probe, moment).
        step = _SECOND_US
        while True:
            probe = max(target - step, _EARLIEST_US)
            found = fire_after(probe)
            if found is not None and epoch_us(found) < target:
                break
            if probe == _EARLIEST_US:
                return None
            step *= 2
        # Bisect: next_after(low) < moment <= next_after(high) (or None).
        low, high = probe, target - 1
        while high - low > 1:
            middle = (low + high) // 2
            fire = fire_after(middle)
            if fire is not None and epoch_us(fire) < target:
                low, found = middle, fire
            else:
                high = middle
        return found

    def iter_before(self, moment: datetime) -> Iterator[datetime]:
        """Successive fire instants strictly before *moment*, newest first, back to the
        first one.

        Raises:
            TypeError: *moment* is naive or not a datetime (at the call, not at the
                first ``next()``).
        """
        return self._walk(self.previous_before, require_aware(moment, "moment"))

    @staticmethod
    def _walk(step: Callable[[datetime], datetime | None], moment: datetime) -> Iterator[datetime]:
        """*step* applied to its own results from *moment* on, until it gives ``None``."""
        current = step(moment)
        while current is not None:
            yield current
            current = step(current)

    def previous_times(self, before: datetime, count: int) -> list[datetime]:
        """Up to *count* fire instants strictly before *before*, newest first.

        Raises:
            ValueError: *count* is not a non-negative int.
            TypeError: *before* is naive or not a datetime.
        """
        if isinstance(count, bool):  # (a bool is not a number: one rule everywhere)
            raise TypeError(f"count must be a non-negative int, got bool {count!r}")
        if not isinstance(count, int) or count < 0:
            raise ValueError(f"count must be a non-negative int, got {count!r}")
        result: list[datetime] = []
        if count == 0:
            require_aware(before, "before")
            return result
        for instant in self.iter_before(require_aware(before, "before")):
            result.append(instant)
            if len(result) >= count:
                break
        return result

    def __setattr__(self, name: str, value: object) -> None:
        # A trigger of your own sets its attributes in its __init__, as usual (see
        # _building); once built, a trigger is a value.
        if id(self) in _open():
            object.__setattr__(self, name, value)
            return
        raise AttributeError(
            f"{type(self).__name__} is immutable: set its attributes in __init__; build a "
            "new trigger instead"
        )

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __copy__(self) -> Trigger:
        return self  # (immutable: a copy is the same value)

    def __deepcopy__(self, memo: dict[int, object]) -> Trigger:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its class and its fields, set back without ``__setattr__``."""
        state: dict[str, object] = {}
        for cls in type(self).__mro__:
            slots = getattr(cls, "__slots__", ())
            for name in (slots,) if isinstance(slots, str) else slots:
                if name.startswith("__") and not name.endswith("__"):
                    name = f"_{cls.__name__.lstrip('_')}{name}"  # (mangled)
                if name not in state and hasattr(self, name):
                    state[name] = getattr(self, name)
        state.update(getattr(self, "__dict__", {}))
        return (_rebuilt, (type(self), state))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Trigger):
            return NotImplemented
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(sorted(self.to_dict().items()))))


_local = threading.local()


def _open() -> dict[int, int]:
    """The triggers whose ``__init__`` runs in this thread (id -> how deep): they may
    set their attributes (a subclass's __init__ calling its base's, each setting some)."""
    ids: dict[int, int] | None = getattr(_local, "ids", None)
    if ids is None:
        ids = _local.ids = {}
    return ids


def _building(init: Callable[..., None]) -> Callable[..., None]:
    """*init*, the ``__init__`` of a trigger class written outside tickwork, with its
    instance open to ``setattr`` while it runs."""

    @functools.wraps(init)
    def __init__(self: Trigger, *args: Any, **kwargs: Any) -> None:
        open_ = _open()
        key = id(self)
        open_[key] = open_.get(key, 0) + 1
        try:
            init(self, *args, **kwargs)
        finally:
            if open_[key] == 1:
                del open_[key]
            else:
                open_[key] -= 1

    return __init__


def _rebuilt(cls: type[Trigger], state: Mapping[str, object]) -> Trigger:
    """A pickled trigger, back (see :meth:`Trigger.__reduce__`)."""
    trigger = object.__new__(cls)
    for name, value in state.items():
        object.__setattr__(trigger, name, value)
    return trigger


def trigger_from_dict(data: Mapping[str, Any]) -> Trigger:
    """Rebuild any trigger from the output of its :meth:`Trigger.to_dict`.

    Raises:
        ValueError: *data* has no known ``"type"`` or its fields are invalid.
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"trigger data must be a mapping, got {type(data).__name__}")
    type_name = data.get("type")
    cls = Trigger._registry.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        known = ", ".join(sorted(Trigger._registry))
        raise ValueError(f"unknown trigger type {type_name!r} (known: {known})")
    try:
        return cls.from_dict(data)
    except (KeyError, TypeError, AttributeError, _MalformedField) as error:
        reason = str(error) if isinstance(error, _MalformedField) else repr(error)
        raise ValueError(f"invalid {type_name!r} trigger data {dict(data)!r}: {reason}") from None
