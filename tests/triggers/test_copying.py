"""Triggers are immutable values: ``copy.copy`` and ``copy.deepcopy`` give the trigger
itself, and ``pickle`` round-trips every built-in one to an equal trigger that gives the
same fire times (each raised "CronTrigger is immutable; build a new trigger instead")."""

from __future__ import annotations

import copy
import pickle
from datetime import datetime, timedelta, timezone

import pytest

from tickwork import (
    AndTrigger,
    CalendarIntervalTrigger,
    CronTrigger,
    DateTrigger,
    EventTrigger,
    IntervalTrigger,
    OrTrigger,
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
