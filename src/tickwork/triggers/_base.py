"""The trigger contract, the DST policy enums and the registry used for serialization."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar, TypeVar

from .._tz import require_aware

__all__ = ["DstGap", "DstOverlap", "Trigger", "trigger_from_dict"]

_E = TypeVar("_E", bound=Enum)


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

    The one question a trigger answers is :meth:`next_after`. Triggers never read
    the clock: the moment to start from is always an argument. Every trigger
    round-trips through :meth:`to_dict` / :func:`trigger_from_dict` as JSON-safe data.
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
        """Successive fire instants strictly after *moment*, until the trigger ends."""
        current: datetime | None = require_aware(moment, "moment")
        while True:
            current = self.next_after(current)  # type: ignore[arg-type]
            if current is None:
                return
            yield current

    def next_times(self, moment: datetime, count: int) -> list[datetime]:
        """Up to *count* successive fire instants strictly after *moment*."""
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

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; build a new trigger instead")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Trigger):
            return NotImplemented
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(sorted(self.to_dict().items()))))


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
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"invalid {type_name!r} trigger data {dict(data)!r}: {error!r}") from None
