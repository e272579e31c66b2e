"""Triggers built from other triggers: the instants all of them share, or any of them has."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from .._errors import TriggerSearchExhausted
from .._instants import EPOCH as _EPOCH
from .._tz import epoch_us, require_aware
from ._base import Trigger, trigger_from_dict
from .event import listens_for_events

__all__ = ["AndTrigger", "OrTrigger"]


def _children(triggers: Iterable[Trigger], owner: str) -> tuple[Trigger, ...]:
    if isinstance(triggers, Trigger) or not isinstance(triggers, Iterable):
        raise TypeError(
            f"{owner} takes a list of triggers, got {type(triggers).__name__} {triggers!r}"
        )
    children = tuple(triggers)
    if not children:
        raise ValueError(f"{owner} needs at least one trigger, got none")
    for index, child in enumerate(children):
        if not isinstance(child, Trigger):
            raise TypeError(
                f"{owner}: triggers[{index}] must be a Trigger, got {type(child).__name__} "
                f"{child!r}"
            )
    return children


class AndTrigger(Trigger):
    """Fires at the instants where every one of *triggers* fires.

    The search asks each trigger for its next fire, then asks the ones that are behind
    for their next fire at or after the latest answer, until all agree. Triggers that
    never meet (``"0 * * * *"`` and ``"30 * * * *"``) would make that search endless,
    so it gives up after *max_iterations* rounds.

    Args:
        triggers: one or more triggers.
        max_iterations: how many rounds :meth:`next_after` may take before giving up.

    Raises:
        ValueError: *triggers* is empty or *max_iterations* is not positive.
        TypeError: an item of *triggers* is not a :class:`Trigger`, or *max_iterations*
            is not an int.

    :meth:`next_after` raises :class:`~tickwork.TriggerSearchExhausted` when the
    triggers did not agree within *max_iterations* rounds. The result is the first
    trigger's datetime for the common instant. :meth:`previous_before` searches the
    same way backwards, with the same limit.
    """

    __slots__ = ("_max_iterations", "_triggers")
    type_name = "and"

    _max_iterations: int
    _triggers: tuple[Trigger, ...]

    def __init__(self, triggers: Iterable[Trigger], *, max_iterations: int = 10_000) -> None:
        children = _children(triggers, "AndTrigger")
        for index, child in enumerate(children):
            if listens_for_events(child):
                raise ValueError(
                    f"AndTrigger: triggers[{index}] {child!r} waits for events, which have "
                    "no time for the other triggers to share; combine it with OrTrigger "
                    "(runs on either), or check the time inside the job"
                )
        if isinstance(max_iterations, bool) or not isinstance(max_iterations, int):
            raise TypeError(
                f"max_iterations must be an int, got {type(max_iterations).__name__} "
                f"{max_iterations!r}"
            )
        if max_iterations < 1:
            raise ValueError(f"max_iterations must be at least 1, got {max_iterations!r}")
        object.__setattr__(self, "_triggers", children)
        object.__setattr__(self, "_max_iterations", max_iterations)

    @property
    def triggers(self) -> tuple[Trigger, ...]:
        """The combined triggers, in the order given."""
        return self._triggers

    @property
    def max_iterations(self) -> int:
        """How many rounds a search may take."""
        return self._max_iterations

    def next_after(self, moment: datetime) -> datetime | None:
        require_aware(moment, "moment")
        found: list[datetime] = []
        for trigger in self._triggers:
            fire = trigger.next_after(moment)
            if fire is None:
                return None
            found.append(fire)
        instants = [epoch_us(fire) for fire in found]
        rounds = 0
        while True:
            latest = max(instants)
            if min(instants) == latest:
                return found[0]
            if rounds == self._max_iterations:
                break
            rounds += 1
            # "Strictly after latest - 1 us" is "at or after latest" in every trigger's terms.
            floor = _EPOCH + timedelta(microseconds=latest - 1)
            for index, instant in enumerate(instants):
                if instant < latest:
                    fire = self._triggers[index].next_after(floor)
                    if fire is None:
                        return None
                    found[index] = fire
                    instants[index] = epoch_us(fire)
        reached = (_EPOCH + timedelta(microseconds=max(instants))).isoformat()
        raise TriggerSearchExhausted(
            f"AndTrigger gave up after {self._max_iterations} rounds looking for an instant "
            f"after {moment.isoformat()} at which all of {list(self._triggers)!r} fire "
            f"(the search had reached {reached}); they may never coincide, or they do so "
            "rarely and max_iterations must be raised"
        )

    def previous_before(self, moment: datetime) -> datetime | None:
        """The latest instant strictly before *moment* at which every trigger fires.

        Raises :class:`~tickwork.TriggerSearchExhausted` as :meth:`next_after` does.
        """
        require_aware(moment, "moment")
        found: list[datetime] = []
        for trigger in self._triggers:
            fire = trigger.previous_before(moment)
            if fire is None:
                return None
            found.append(fire)
        instants = [epoch_us(fire) for fire in found]
        rounds = 0
        while True:
            earliest = min(instants)
            if max(instants) == earliest:
                return found[0]
            if rounds == self._max_iterations:
                break
            rounds += 1
            # "Strictly before earliest + 1 us" is "at or before earliest".
            ceiling = _EPOCH + timedelta(microseconds=earliest + 1)
            for index, instant in enumerate(instants):
                if instant > earliest:
                    fire = self._triggers[index].previous_before(ceiling)
                    if fire is None:
                        return None
                    found[index] = fire
                    instants[index] = epoch_us(fire)
        reached = (_EPOCH + timedelta(microseconds=min(instants))).isoformat()
        raise TriggerSearchExhausted(
            f"AndTrigger gave up after {self._max_iterations} rounds looking for an instant "
            f"before {moment.isoformat()} at which all of {list(self._triggers)!r} fire "
            f"(the search had reached {reached}); they may never coincide, or they do so "
            "rarely and max_iterations must be raised"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "triggers": [trigger.to_dict() for trigger in self._triggers],
            "max_iterations": self._max_iterations,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AndTrigger:
        return cls(
            [trigger_from_dict(child) for child in data["triggers"]],
            max_iterations=data.get("max_iterations", 10_000),
        )

    def __repr__(self) -> str:
        extra = "" if self._max_iterations == 10_000 else f", max_iterations={self._max_iterations}"
        return f"AndTrigger({list(self._triggers)!r}{extra})"


class OrTrigger(Trigger):
    """Fires whenever any of *triggers* fires; an instant several share fires once.

    The result is the datetime of the first trigger (in the order given) that fires at
    the earliest instant. It ends when every trigger has ended.

    Args:
        triggers: one or more triggers.

    Raises:
        ValueError: *triggers* is empty.
        TypeError: an item of *triggers* is not a :class:`Trigger`.
    """

    __slots__ = ("_triggers",)
    type_name = "or"

    _triggers: tuple[Trigger, ...]

    def __init__(self, triggers: Iterable[Trigger]) -> None:
        object.__setattr__(self, "_triggers", _children(triggers, "OrTrigger"))

    @property
    def triggers(self) -> tuple[Trigger, ...]:
        """The combined triggers, in the order given."""
        return self._triggers

    def next_after(self, moment: datetime) -> datetime | None:
        require_aware(moment, "moment")
        best: datetime | None = None
        best_instant = 0
        for trigger in self._triggers:
            fire = trigger.next_after(moment)
            if fire is None:
                continue
            instant = epoch_us(fire)
            if best is None or instant < best_instant:
                best, best_instant = fire, instant
        return best

    def previous_before(self, moment: datetime) -> datetime | None:
        """The latest instant strictly before *moment* at which any trigger fires (the
        datetime of the first trigger, in the order given, that fires then)."""
        require_aware(moment, "moment")
        best: datetime | None = None
        best_instant = 0
        for trigger in self._triggers:
            fire = trigger.previous_before(moment)
            if fire is None:
                continue
            instant = epoch_us(fire)
            if best is None or instant > best_instant:
                best, best_instant = fire, instant
        return best

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name, "triggers": [t.to_dict() for t in self._triggers]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OrTrigger:
        return cls([trigger_from_dict(child) for child in data["triggers"]])

    def __repr__(self) -> str:
        return f"OrTrigger({list(self._triggers)!r})"
