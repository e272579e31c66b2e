"""Triggers are immutable values: ``copy.copy`` and ``copy.deepcopy`` give the trigger
itself, and ``pickle`` round-trips every built-in one to an equal trigger that gives the
same fire times (each raised "CronTrigger is immutable; build a new trigger instead")."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tickwork import (
    AndTrigger,
    CalendarIntervalTrigger,
    CronTrigger,
    DateTrigger,
    EventTrigger,
    IntervalTrigger,
    OrTrigger,
    trigger_from_dict,
)
from tickwork.triggers import Trigger

T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)


def _triggers() -> list[Trigger]:
    cron = CronTrigger("30 2 * * *", timezone="America/New_York")
    return [
        cron,
        CronTrigger("H 9 * * mon-fri", timezone="UTC", hash_key="etl"),
        IntervalTrigger(minutes=90, start=T0, timezone="Europe/London"),
        DateTrigger(T0 + timedelta(days=3)),
        CalendarIntervalTrigger(months=1, hour=9, start=T0, timezone="Australia/Lord_Howe"),
        AndTrigger([cron, CronTrigger("* * * * sat,sun", timezone="America/New_York")]),
        OrTrigger([cron, IntervalTrigger(hours=5, start=T0)]),
        EventTrigger("order.paid", debounce=5),
    ]


@pytest.mark.parametrize("trigger", _triggers(), ids=lambda t: type(t).__name__)
def test_a_trigger_copies_as_itself_and_pickles_to_an_equal_one(trigger: Trigger) -> None:
    assert copy.copy(trigger) is trigger
    assert copy.deepcopy({"t": trigger})["t"] is trigger
    again = pickle.loads(pickle.dumps(trigger))
    assert type(again) is type(trigger)
    assert again == trigger
    assert hash(again) == hash(trigger)
    assert again.to_dict() == trigger.to_dict()
    moment = T0
    for _ in range(5):
        expected = trigger.next_after(moment)
        assert again.next_after(moment) == expected
        if expected is None:
            break
        moment = expected
    with pytest.raises(AttributeError, match="immutable"):
        again.anything = 1  # type: ignore[attr-defined]


class _Every(Trigger):
    type_name = "tests-every-minutes"

    def __init__(self, minutes: int, label: str | None = None) -> None:
        self.minutes = minutes
        self.label = "default"
        if label is not None:
            self.label = label  # (a default refined in __init__)

    def next_after(self, moment: datetime) -> datetime | None:
        return moment + timedelta(minutes=self.minutes)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name, "minutes": self.minutes, "label": self.label}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> _Every:
        return cls(data["minutes"], data["label"])


class _Hourly(_Every):
    type_name = "tests-hourly"

    def __init__(self) -> None:
        super().__init__(60)
        self.label = "hourly"  # (a base's value, overridden after super().__init__)


def test_a_trigger_of_your_own_sets_its_attributes_in_init_and_is_a_value_after() -> None:
    # Setting an attribute in __init__ was refused as "immutable"; then only once.
    assert _Every(5).label == "default"
    assert _Every(5, "five").label == "five"
    assert _Hourly().label == "hourly"
    built = _Hourly()
    with pytest.raises(AttributeError, match="immutable"):
        built.label = "x"
    with pytest.raises(AttributeError, match="immutable"):
        built.cache = {}  # type: ignore[attr-defined]
    five = _Every(5, "five")
    assert trigger_from_dict(five.to_dict()) == five
    again = pickle.loads(pickle.dumps(built))
    assert again == built
    assert again.next_after(T0) == T0 + timedelta(hours=1)
