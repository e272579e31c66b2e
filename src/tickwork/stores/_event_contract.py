"""The event log contract: :class:`~tickwork.stores._eventlog.EventLog` of a shared
store, as pytest tests.

Part of ``tickwork.testing.SharedJobStoreContract`` (which subclasses this class): each
test here runs for a shared store that keeps events and is skipped for one that does
not. Two processes are stood for by two store objects on the same data (the ``store``
and ``peer`` fixtures of the shared suite).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from .._model import EmittedEvent
from ._base import SharedJobStore
from ._contract import T0
from ._eventlog import EventLog

__all__ = ["EventLogContract"]


def _log(store: SharedJobStore) -> EventLog:
    if not isinstance(store, EventLog):
        pytest.skip(f"{type(store).__name__} keeps no events (EventLog)")
    return store


def _event(n: int, name: str = "order.created") -> EmittedEvent:
    return EmittedEvent(
        id=f"{n:032x}",
        name=name,
        payload={"n": n, "items": ["a", None, 1.5, True]},
        emitted_at=T0 + timedelta(microseconds=n),
    )


class EventLogContract:
    """The :class:`~tickwork.stores._eventlog.EventLog` tests of
    ``SharedJobStoreContract``."""

    def test_an_event_written_handled_is_not_listed_unhandled(self, store: SharedJobStore) -> None:
        log = _log(store)
        assert log.record_event(_event(1), [("a", _event(1).id)], handled=True, now=T0) == [True]
        assert log.unhandled_events(limit=10) == []

    def test_unhandled_events_come_back_whole_oldest_first(self, store: SharedJobStore) -> None:
        log = _log(store)
        for n in (3, 1, 2):
            assert log.record_event(_event(n), [], handled=False, now=T0) == []
        found = log.unhandled_events(limit=10)
        assert found == [_event(1), _event(2), _event(3)]
        assert [event.emitted_at.utcoffset() for event in found] == [timedelta(0)] * 3
        assert log.unhandled_events(limit=2) == [_event(1), _event(2)]

    def test_a_slot_is_taken_once_among_processes(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        mine, theirs = _log(store), _log(peer)
        event = _event(1)
        mine.record_event(event, [], handled=False, now=T0)
        slots = [("a", event.id), ("b", event.id)]
        assert theirs.claim_event_runs(slots[:1], [event.id], now=T0) == [True]
        assert mine.claim_event_runs(slots, [event.id], now=T0) == [False, True]
        assert mine.unhandled_events(limit=10) == []

    def test_released_slots_make_their_event_unhandled_again(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        mine, theirs = _log(store), _log(peer)
        event = _event(1)
        mine.record_event(event, [("a", event.id)], handled=True, now=T0)
        mine.release_event_runs([("a", event.id)], now=T0)
        assert theirs.unhandled_events(limit=10) == [event]
        assert theirs.claim_event_runs([("a", event.id)], [event.id], now=T0) == [True]

    def test_slots_of_a_live_owner_are_not_orphans(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        mine, theirs = _log(store), _log(peer)
        event = _event(1)
        mine.record_event(event, [("a", event.id)], handled=True, now=T0)
        assert theirs.orphaned_event_runs(now=T0) == []
        mine.finish_event_runs([("a", event.id)], now=T0)
        assert theirs.orphaned_event_runs(now=T0) == []
